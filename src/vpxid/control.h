/*
 * control.h - the versioned Unix control socket of vpxid.
 *
 * Protocol (version 1), one request per connection:
 *   client: "VPXI-CTL 1 COMMAND [ARG...]\n"
 *   daemon: "VPXI-CTL 1 OK\n" followed by a JSON document, or
 *           "VPXI-CTL 1 ERR NAME message\n"
 * then the daemon closes the connection. Requests are at most
 * CTL_REQUEST_MAX bytes; a client that sends nothing for CTL_TIMEOUT_MS is
 * dropped. Replies are written without blocking the control thread.
 */
#ifndef VPXID_CONTROL_H
#define VPXID_CONTROL_H

#include <stddef.h>

#include "vpxi/buf.h"

#include <sys/epoll.h>

#include "loop.h"

#define CTL_MAGIC "VPXI-CTL"
enum {
    CTL_VERSION = 1,
    CTL_REQUEST_MAX = 4096,
    CTL_ARGS_MAX = 16,
    CTL_TIMEOUT_MS = 5000,
    CTL_CONNS_MAX = 32,
};

/* A command handler writes its JSON reply into out and returns 0, or
 * returns a VPXI_ERR_* with a message in err. */
struct ctl_cmd {
    const char *name;
    int (*fn)(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err, size_t errlen);
    const char *help;
};

struct control;

struct control *control_open(struct loop *l, const char *path, const struct ctl_cmd *cmds,
                             size_t ncmds, void *ctx);
void control_close(struct control *c);

#endif
