/*
 * commands.c - the control socket commands of vpxid (protocol version 1).
 *
 *   status [OVERLAY]              JSON status (vpxi status)
 *   reload                        like SIGHUP
 *   peer OVERLAY PEER ACTION      connect | close | rekey | renew
 *   stop                          like SIGTERM
 *   version
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/err.h"

#include "daemon.h"
#include "log.h"
#include "node/overlay.h"

static int cmd_status(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err,
                      size_t errlen)
{
    struct daemon *d = ctx;
    bool first = true;

    if (argc > 2) {
        snprintf(err, errlen, "usage: status [OVERLAY]");
        return VPXI_ERR_INVALID;
    }
    if (argc == 2 && !overlay_find(d, argv[1])) {
        snprintf(err, errlen, "no overlay '%s'", argv[1]);
        return VPXI_ERR_NOT_FOUND;
    }
    vpxi_wr_printf(out, "{\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%" PRId64 ",\"overlays\":[",
                   VPXI_VERSION, (int)getpid(), (now_ms() - d->started_ms) / 1000);
    for (size_t i = 0; i < d->nov; i++) {
        if (argc == 2 && strcmp(overlay_name(d->ov[i]), argv[1]))
            continue;
        if (!first)
            vpxi_wr_u8(out, ',');
        first = false;
        overlay_status_json(d->ov[i], out);
    }
    return vpxi_wr_str(out, "]}");
}

static int cmd_reload(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err,
                      size_t errlen)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    (void)err;
    (void)errlen;
    /* the same path as SIGHUP, handled by the loop once this reply is out */
    raise(SIGHUP);
    return vpxi_wr_str(out, "{\"reload\":\"requested\"}");
}

static int cmd_stop(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err, size_t errlen)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    (void)err;
    (void)errlen;
    raise(SIGTERM);
    return vpxi_wr_str(out, "{\"stop\":\"requested\"}");
}

static int cmd_peer(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err, size_t errlen)
{
    struct daemon *d = ctx;
    struct overlay *o;
    int r;

    if (argc != 4) {
        snprintf(err, errlen, "usage: peer OVERLAY PEER connect|close|rekey|renew");
        return VPXI_ERR_INVALID;
    }
    if ((o = overlay_find(d, argv[1])) == NULL) {
        snprintf(err, errlen, "no overlay '%s'", argv[1]);
        return VPXI_ERR_NOT_FOUND;
    }
    if ((r = overlay_peer_cmd(o, argv[3], argv[2], err, errlen)) != 0)
        return r;
    return vpxi_wr_printf(out, "{\"peer\":\"%s\",\"action\":\"%s\",\"result\":\"ok\"}", argv[2],
                          argv[3]);
}

static int cmd_version(void *ctx, int argc, char **argv, struct vpxi_wr *out, char *err,
                       size_t errlen)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    (void)err;
    (void)errlen;
    return vpxi_wr_printf(out, "{\"version\":\"%s\",\"protocol\":1}", VPXI_VERSION);
}

const struct ctl_cmd daemon_commands[] = {
    { "status", cmd_status, "status [OVERLAY]" },
    { "reload", cmd_reload, "reload the configuration" },
    { "peer", cmd_peer, "peer OVERLAY PEER connect|close|rekey|renew" },
    { "stop", cmd_stop, "close every association and exit" },
    { "version", cmd_version, "version" },
};
const size_t daemon_ncommands = sizeof(daemon_commands) / sizeof(daemon_commands[0]);
