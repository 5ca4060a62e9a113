/*
 * control.c - control socket transport: accept, read one request line,
 * dispatch through the command table, write the reply, close.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vpxi/alloc.h"

#include "control.h"
#include "log.h"

struct conn {
    int fd;
    char req[CTL_REQUEST_MAX];
    size_t reqlen;
    struct vpxi_wr reply;
    size_t sent;
    bool replying;
    struct timer timeout;
    struct control *c;
};

struct control {
    struct loop *loop;
    int fd;
    char path[108];
    const struct ctl_cmd *cmds;
    size_t ncmds;
    void *ctx;
    struct conn *conns[CTL_CONNS_MAX];
};

static void conn_close(struct conn *k)
{
    struct control *c = k->c;

    for (size_t i = 0; i < CTL_CONNS_MAX; i++)
        if (c->conns[i] == k)
            c->conns[i] = NULL;
    timer_cancel(c->loop, &k->timeout);
    loop_del_fd(c->loop, k->fd);
    close(k->fd);
    vpxi_wr_clear(&k->reply);
    vpxi_free(k);
}

static void on_timeout(struct loop *l, void *arg)
{
    (void)l;
    conn_close(arg);
}

static void flush_reply(struct conn *k)
{
    while (k->sent < k->reply.len) {
        ssize_t n = send(k->fd, k->reply.p + k->sent, k->reply.len - k->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            loop_mod_fd(k->c->loop, k->fd, EPOLLOUT);
            return;
        }
        if (n <= 0)
            break;
        k->sent += (size_t)n;
    }
    conn_close(k);
}

static void dispatch(struct conn *k)
{
    struct control *c = k->c;
    char *argv[CTL_ARGS_MAX + 3], *save = NULL, *tok, err[256] = "";
    int argc = 0, r;
    struct vpxi_wr body;

    k->replying = true;
    vpxi_wr_init_dyn(&k->reply, 64 << 20);
    for (tok = strtok_r(k->req, " \t", &save); tok && argc < CTL_ARGS_MAX + 3;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    if (argc < 3 || strcmp(argv[0], CTL_MAGIC) != 0) {
        vpxi_wr_printf(&k->reply, "%s %d ERR VPXI_ERR_PROTOCOL not a control request\n", CTL_MAGIC,
                       CTL_VERSION);
        goto send;
    }
    if (strcmp(argv[1], "1") != 0) {
        vpxi_wr_printf(&k->reply, "%s %d ERR VPXI_ERR_UNSUPPORTED protocol version %s\n", CTL_MAGIC,
                       CTL_VERSION, argv[1]);
        goto send;
    }
    for (size_t i = 0; i < c->ncmds; i++) {
        if (strcmp(c->cmds[i].name, argv[2]))
            continue;
        vpxi_wr_init_dyn(&body, 64 << 20);
        r = c->cmds[i].fn(c->ctx, argc - 2, argv + 2, &body, err, sizeof(err));
        if (r == 0 && body.err)
            r = body.err, snprintf(err, sizeof(err), "reply too large");
        if (r == 0) {
            vpxi_wr_printf(&k->reply, "%s %d OK\n", CTL_MAGIC, CTL_VERSION);
            vpxi_wr_bytes(&k->reply, body.p, body.len);
            vpxi_wr_u8(&k->reply, '\n');
        } else {
            vpxi_wr_printf(&k->reply, "%s %d ERR %s %s\n", CTL_MAGIC, CTL_VERSION, vpxi_errname(r),
                           err[0] ? err : vpxi_strerror(r));
        }
        vpxi_wr_clear(&body);
        goto send;
    }
    vpxi_wr_printf(&k->reply, "%s %d ERR VPXI_ERR_NOT_FOUND unknown command '%s'\n", CTL_MAGIC,
                   CTL_VERSION, argv[2]);
send:
    flush_reply(k);
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct conn *k = arg;
    ssize_t n;

    (void)l;
    (void)fd;
    if (k->replying) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            flush_reply(k);
        return;
    }
    n = recv(k->fd, k->req + k->reqlen, sizeof(k->req) - 1 - k->reqlen, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        conn_close(k);
        return;
    }
    k->reqlen += (size_t)n;
    k->req[k->reqlen] = 0;
    if (strchr(k->req, '\n')) {
        *strchr(k->req, '\n') = 0;
        dispatch(k);
        return;
    }
    if (k->reqlen >= sizeof(k->req) - 1) {
        log_warn("control: request longer than %d bytes, dropped", CTL_REQUEST_MAX);
        conn_close(k);
    }
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct control *c = arg;
    struct conn *k;
    size_t slot;
    int cfd;

    (void)events;
    if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
        return;
    for (slot = 0; slot < CTL_CONNS_MAX && c->conns[slot]; slot++)
        ;
    if (slot == CTL_CONNS_MAX || (k = vpxi_calloc(1, sizeof(*k))) == NULL) {
        log_warn("control: too many clients, connection refused");
        close(cfd);
        return;
    }
    k->fd = cfd;
    k->c = c;
    c->conns[slot] = k;
    timer_init(&k->timeout, "control.client", on_timeout, k);
    timer_arm_in(l, &k->timeout, CTL_TIMEOUT_MS);
    if (loop_add_fd(l, cfd, EPOLLIN, on_conn, k) != 0)
        conn_close(k);
}

struct control *control_open(struct loop *l, const char *path, const struct ctl_cmd *cmds,
                             size_t ncmds, void *ctx)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct control *c;
    mode_t old;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_err("control socket path too long: %s", path);
        return NULL;
    }
    if ((c = vpxi_calloc(1, sizeof(*c))) == NULL)
        return NULL;
    c->loop = l;
    c->cmds = cmds;
    c->ncmds = ncmds;
    c->ctx = ctx;
    snprintf(c->path, sizeof(c->path), "%s", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        goto fail;
    /* a stale socket from a crashed daemon: replace it, but never a live one */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        log_err("control socket %s is in use by a running daemon", path);
        goto fail;
    }
    close(c->fd);
    unlink(path);
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        goto fail;
    old = umask(0117); /* 0660: root and the daemon's group */
    if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        umask(old);
        log_err("control socket %s: %s", path, strerror(errno));
        goto fail;
    }
    umask(old);
    if (listen(c->fd, 16) < 0 || loop_add_fd(l, c->fd, EPOLLIN, on_accept, c) != 0)
        goto fail;
    return c;
fail:
    if (c->fd >= 0)
        close(c->fd);
    vpxi_free(c);
    return NULL;
}

void control_close(struct control *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CTL_CONNS_MAX; i++)
        if (c->conns[i])
            conn_close(c->conns[i]);
    loop_del_fd(c->loop, c->fd);
    close(c->fd);
    unlink(c->path);
    vpxi_free(c);
}
