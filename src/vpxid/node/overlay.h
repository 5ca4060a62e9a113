/*
 * overlay.h - one VPXI overlay in the node role: its identity, TUN, UDP
 * socket, HIP host, peers and datapath threads.
 */
#ifndef VPXID_OVERLAY_H
#define VPXID_OVERLAY_H

#include <stddef.h>

#include "vpxi/buf.h"

#include "../config.h"
#include "../control.h"
#include "../daemon.h"

struct overlay;

/* Privileged set-up: keys, policy files, TUN, addresses, routes, socket. */
struct overlay *overlay_new(struct daemon *d, const struct cfg_overlay *cfg, char *err,
                            size_t errlen);
/* After the privilege drop: threads, timers, connections to static peers. */
int overlay_start(struct overlay *o);
/* Sends CLOSE to every peer (SIGTERM). */
void overlay_shutdown(struct overlay *o);
void overlay_free(struct overlay *o);

const char *overlay_name(const struct overlay *o);
struct overlay *overlay_find(struct daemon *d, const char *name);

/* Reload in two phases: check everything (files parse, no restart-only key
 * changed), then apply; never half. */
int overlay_reload_check(struct overlay *o, const struct cfg_overlay *c, char *err, size_t errlen);
void overlay_reload(struct overlay *o, const struct cfg_overlay *c);

int overlay_status_json(struct overlay *o, struct vpxi_wr *w);
/* connect | close | rekey | renew a peer (by name or HIT). */
int overlay_peer_cmd(struct overlay *o, const char *cmd, const char *peer, char *err,
                     size_t errlen);

extern const struct ctl_cmd daemon_commands[];
extern const size_t daemon_ncommands;

#endif
