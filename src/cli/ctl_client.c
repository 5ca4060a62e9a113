/*
 * ctl_client.c - control socket client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vpxi/buf.h"

#include "ctl_client.h"

const char *ctl_socket_path(const char *opt)
{
    const char *env = getenv("VPXI_SOCKET");

    if (opt && *opt)
        return opt;
    return env && *env ? env : CTL_DEFAULT_SOCKET;
}

int ctl_call(const char *path, int argc, const char *const *argv, char **body, size_t *len,
             char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct vpxi_wr req, resp;
    char *nl, *p;
    ssize_t n;
    int fd, r = -1;

    *body = NULL;
    *len = 0;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long");
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(err, errlen,
                 "cannot reach vpxid at %s: %s (is the daemon running? "
                 "--socket or VPXI_SOCKET select another)",
                 path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    vpxi_wr_init_dyn(&req, 4096);
    vpxi_wr_str(&req, "VPXI-CTL 1");
    for (int i = 0; i < argc; i++) {
        vpxi_wr_u8(&req, ' ');
        vpxi_wr_str(&req, argv[i]);
    }
    vpxi_wr_u8(&req, '\n');
    vpxi_wr_init_dyn(&resp, 64 << 20);
    if (req.err || send(fd, req.p, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
        snprintf(err, errlen, "request too long or send failed");
        goto out;
    }
    for (;;) {
        uint8_t *chunk = vpxi_wr_reserve(&resp, 65536);
        if (!chunk) {
            snprintf(err, errlen, "reply too large");
            goto out;
        }
        n = read(fd, chunk, 65536);
        if (n < 0 && errno == EINTR) {
            resp.len -= 65536;
            continue;
        }
        resp.len -= 65536 - (n > 0 ? (size_t)n : 0);
        if (n <= 0)
            break;
    }
    vpxi_wr_u8(&resp, 0);
    if (resp.err || (nl = strchr((char *)resp.p, '\n')) == NULL ||
        strncmp((char *)resp.p, "VPXI-CTL 1 ", 11) != 0) {
        snprintf(err, errlen, "malformed reply from vpxid");
        goto out;
    }
    *nl = 0;
    p = (char *)resp.p + 11;
    if (!strncmp(p, "OK", 2)) {
        size_t blen = resp.len - 1 - (size_t)(nl + 1 - (char *)resp.p);
        if ((*body = malloc(blen + 1)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(*body, nl + 1, blen);
        (*body)[blen] = 0;
        *len = blen;
        r = 0;
    } else if (!strncmp(p, "ERR ", 4)) {
        snprintf(err, errlen, "%s", p + 4);
        r = 1;
    } else {
        snprintf(err, errlen, "malformed reply from vpxid");
    }
out:
    vpxi_wr_clear(&req);
    vpxi_wr_clear(&resp);
    close(fd);
    return r;
}
