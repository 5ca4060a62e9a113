/*
 * daemon.h - the process-wide state of vpxid: configuration, event loop,
 * control socket, overlays, shared caches.
 */
#ifndef VPXID_DAEMON_H
#define VPXID_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "vpxi/keycache.h"

#include "config.h"
#include "control.h"
#include "loop.h"

struct overlay;

struct daemon {
    struct config *cfg;
    struct loop *loop;
    struct control *ctl;
    struct overlay *ov[CFG_OVERLAYS_MAX];
    size_t nov;
    int sigfd;
    bool stopping;
    FILE *keylog;               /* ESP key log (tshark esp_sa lines), or NULL */
    struct vpxi_keycache *keys; /* imported public keys, shared by all overlays */
    int64_t started_ms;
};

/* Writes one esp_sa line to the key log, if enabled. */
void daemon_keylog(struct daemon *d, const char *line);

#endif
