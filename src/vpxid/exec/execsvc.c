/*
 * execsvc.c - the node exec service (docs/protocol.md, port 10512):
 * authenticated process creation. The requester is authenticated by the
 * overlay (its connection comes from its HIT through our TUN); its right to
 * run is an SPKI chain that must reduce, against this node's ACL, to
 * (vpxi VPXI "OUR-HIT" exec). The command runs inside the virtual node (its
 * mount, PID, UTS, network and IPC namespaces) as an unprivileged user and
 * receives its initial security context: the requester's HIT and chain.
 *
 * One child process per connection (at most EXEC_CONNS_MAX at once), so a
 * long command never blocks another request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"

#include "common/authz.h"
#include "common/svc.h"
#include "config.h"
#include "hostagent/vnode.h"
#include "log.h"
#include "roles.h"

enum {
    EXEC_CONNS_MAX = 32,
    EXEC_ARGS_MAX = 256,
    EXEC_ENV_MAX = 64,
    EXEC_OUT_MAX = 16 * 1024 * 1024, /* per stream; more is cut and flagged */
    EXEC_REQ_TIMEOUT_MS = 30000,
};

struct execsvc {
    const struct config *c;
    const struct cfg_overlay *ov;
    char hit_str[VPXI_HIT_STRLEN];
    struct vnode node;
    bool have_node;
};

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

/* Output buffer of one stream. */
struct sink {
    int fd;
    uint8_t *p;
    size_t len, cap;
    bool cut;
};

static void sink_read(struct sink *s)
{
    uint8_t tmp[16384];
    ssize_t n = read(s->fd, tmp, sizeof(tmp));

    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    if (s->len + (size_t)n > EXEC_OUT_MAX) {
        s->cut = true;
        n = (ssize_t)(EXEC_OUT_MAX - s->len);
    }
    if (s->len + (size_t)n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        uint8_t *np;
        while (cap < s->len + (size_t)n)
            cap *= 2;
        if ((np = vpxi_realloc(s->p, cap)) == NULL) {
            s->cut = true;
            return;
        }
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, tmp, (size_t)n);
    s->len += (size_t)n;
}

/* Runs the command; fills out/err and the exit status (or -signal). */
static int run(struct execsvc *x, char **argv, char **envp, const uint8_t *in, size_t inlen,
               unsigned timeout, struct sink *out, struct sink *err, int *status, char *why,
               size_t whylen)
{
    int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
    size_t inoff = 0;
    int64_t deadline = wall_now() + timeout;
    pid_t pid;
    int ws, r = -1;
    bool killed = false;

    if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        goto out;
    }
    if (x->have_node) {
        if (vnode_exec(&x->node, argv, envp, (uid_t)x->c->exec.uid, (gid_t)x->c->exec.gid, pin[0],
                       pout[1], perr[1], &pid, why, whylen) != 0)
            goto out;
    } else {
        if ((pid = fork()) < 0) {
            snprintf(why, whylen, "fork: %s", strerror(errno));
            goto out;
        }
        if (pid == 0) {
            dup2(pin[0], 0);
            dup2(pout[1], 1);
            dup2(perr[1], 2);
            if (geteuid() == 0 &&
                (setgid((gid_t)x->c->exec.gid) != 0 || setuid((uid_t)x->c->exec.uid) != 0))
                _exit(126);
            if (chdir("/tmp") != 0)
                _exit(126);
            execve(argv[0], argv, envp);
            _exit(127);
        }
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    if (inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    } else {
        fcntl(pin[1], F_SETFL, O_NONBLOCK);
    }
    out->fd = pout[0];
    err->fd = perr[0];
    pout[0] = perr[0] = -1;
    while (out->fd >= 0 || err->fd >= 0) {
        struct pollfd pf[3];
        int n = 0, left = (int)(deadline - wall_now());
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        if (out->fd >= 0)
            pf[n++] = (struct pollfd){ .fd = out->fd, .events = POLLIN };
        if (err->fd >= 0)
            pf[n++] = (struct pollfd){ .fd = err->fd, .events = POLLIN };
        if (pin[1] >= 0)
            pf[n++] = (struct pollfd){ .fd = pin[1], .events = POLLOUT };
        if (poll(pf, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (!pf[i].revents)
                continue;
            if (pf[i].fd == pin[1]) {
                ssize_t w = write(pin[1], in + inoff, inlen - inoff);
                if (w > 0)
                    inoff += (size_t)w;
                if (w < 0 || inoff == inlen) {
                    close(pin[1]);
                    pin[1] = -1;
                }
            } else {
                sink_read(pf[i].fd == out->fd ? out : err);
            }
        }
    }
    if (waitpid(pid, &ws, 0) != pid) {
        snprintf(why, whylen, "waitpid: %s", strerror(errno));
        goto out;
    }
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws);
    if (killed)
        snprintf(why, whylen, "killed after the timeout of %u s", timeout);
    r = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    return r;
}

/* Strings of a list (HEAD "a" "b" ...) into a NULL-terminated vector. */
static int strings(struct vpxi_sx *sx, const struct vpxi_sexp *l, char **v, size_t cap, size_t *n)
{
    *n = 0;
    for (const struct vpxi_sexp *e = l ? l->child->next : NULL; e; e = e->next) {
        char *s;
        if (!vpxi_sexp_is_atom(e) || *n + 1 >= cap || memchr(e->data, 0, e->len))
            return VPXI_ERR_BAD_FORMAT;
        if ((s = vpxi_sx_alloc(sx, e->len + 1)) == NULL)
            return VPXI_ERR_NOMEM;
        memcpy(s, e->data, e->len);
        s[e->len] = 0;
        v[(*n)++] = s;
    }
    v[*n] = NULL;
    return 0;
}

static void serve(struct execsvc *x, int fd, const uint8_t hit[16])
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m;
    struct vpxi_sexp *want, *rep, *res;
    struct vpxi_validity valid;
    const struct vpxi_sexp *a;
    char why[320] = "", hs[VPXI_HIT_STRLEN], *argv[EXEC_ARGS_MAX], *envp[EXEC_ENV_MAX + 8];
    struct sink out = { .fd = -1 }, err = { .fd = -1 };
    size_t nargv, nenv = 0;
    unsigned timeout = x->c->exec.timeout;
    int r, status = 0;

    vpxi_hit_to_str(hit, hs);
    if (!sx)
        return;
    if ((r = svc_recv(fd, sx, &m, EXEC_REQ_TIMEOUT_MS)) != 0) {
        log_warn("request from %s dropped: %s", hs, svc_strerror(r));
        goto done;
    }
    if (m.is_reply || strcmp(m.op, "exec") != 0) {
        role_reply_error(fd, m.id, VPXI_ERR_UNSUPPORTED, "this service only runs exec");
        goto done;
    }
    if ((r = vpxi_sexp_build(sx, &want, "(vpxi %s %s exec)", x->ov->name, x->hit_str)) != 0)
        goto done;
    if ((r = authz_request(sx, &m, hit, x->ov->aclfile, want, wall_now(), &valid, why,
                           sizeof(why))) != 0) {
        log_warn("exec refused to %s: %s", hs, why);
        role_reply_error(fd, m.id, r, "%s", why);
        goto done;
    }
    if ((r = strings(sx, vpxi_msg_get(&m, "argv"), argv, EXEC_ARGS_MAX, &nargv)) != 0 ||
        nargv == 0) {
        role_reply_error(fd, m.id, VPXI_ERR_BAD_FORMAT,
                         "(argv PATH ARG...) with a path is required");
        goto done;
    }
    if ((a = vpxi_msg_get(&m, "timeout")) != NULL) {
        uint64_t t;
        if (a->len != 2 || vpxi_sexp_get_u64(a->child->next, &t) != 0 || t == 0 ||
            t > x->c->exec.timeout) {
            role_reply_error(fd, m.id, VPXI_ERR_BAD_FORMAT, "timeout out of range");
            goto done;
        }
        timeout = (unsigned)t;
    }
    /* the initial security context: who asked, and the chain that allowed it */
    {
        char *e;
        const struct vpxi_sexp *seq = vpxi_msg_get(&m, "sequence");
        const uint8_t *cp = NULL;
        size_t clen = 0;
        size_t blen;
        if (seq && vpxi_sexp_canonical(sx, seq, &cp, &clen) != 0)
            goto done;
        blen = vpxi_b64_enclen(clen) + 1;
        envp[nenv++] = "PATH=/bin:/usr/bin:/sbin:/usr/sbin";
        envp[nenv++] = "HOME=/tmp";
        if ((e = vpxi_sx_alloc(sx, 64)) != NULL) {
            snprintf(e, 64, "VPXI_REQUESTER=%s", hs);
            envp[nenv++] = e;
        }
        if ((e = vpxi_sx_alloc(sx, 96)) != NULL) {
            snprintf(e, 96, "VPXI_NAME=%s", x->ov->name);
            envp[nenv++] = e;
        }
        if ((e = vpxi_sx_alloc(sx, 64)) != NULL) {
            snprintf(e, 64, "VPXI_NODE=%s", x->hit_str);
            envp[nenv++] = e;
        }
        if (cp && (e = vpxi_sx_alloc(sx, blen + 16)) != NULL) {
            memcpy(e, "VPXI_CONTEXT=", 13);
            vpxi_b64_encode(e + 13, cp, clen);
            envp[nenv++] = e;
        }
        envp[nenv] = NULL;
    }
    {
        const struct vpxi_sexp *in = vpxi_msg_get(&m, "stdin");
        const uint8_t *ip = NULL;
        size_t il = 0;
        if (in && (in->len != 2 || !vpxi_sexp_is_atom(in->child->next))) {
            role_reply_error(fd, m.id, VPXI_ERR_BAD_FORMAT, "(stdin DATA) takes one atom");
            goto done;
        }
        if (in) {
            ip = in->child->next->data;
            il = in->child->next->len;
        }
        log_info("exec for %s: %s (%zu argument%s)", hs, argv[0], nargv - 1, nargv == 2 ? "" : "s");
        if (run(x, argv, envp, ip, il, timeout, &out, &err, &status, why, sizeof(why)) != 0) {
            log_err("exec for %s failed: %s", hs, why);
            role_reply_error(fd, m.id, VPXI_ERR_INTERNAL, "%s", why);
            goto done;
        }
    }
    if ((r = vpxi_msg_reply_ok(sx, m.id, &rep)) != 0)
        goto done;
    {
        char st[16];
        snprintf(st, sizeof(st), "%d", status);
        if ((r = vpxi_sexp_build(sx, &res, "(exit %s)", st)) != 0)
            goto done;
        vpxi_sexp_append(rep, res);
        if ((r = vpxi_sexp_build(sx, &res, "(stdout %b)", out.p ? (const void *)out.p : "",
                                 out.len)) != 0)
            goto done;
        vpxi_sexp_append(rep, res);
        if ((r = vpxi_sexp_build(sx, &res, "(stderr %b)", err.p ? (const void *)err.p : "",
                                 err.len)) != 0)
            goto done;
        vpxi_sexp_append(rep, res);
        if (out.cut || err.cut || why[0]) {
            if ((r = vpxi_sexp_build(sx, &res, "(note %s)",
                                     why[0] ? why : "output cut at 16 MiB per stream")) != 0)
                goto done;
            vpxi_sexp_append(rep, res);
        }
    }
    if ((r = svc_send(fd, rep)) != 0)
        log_warn("reply to %s: %s", hs, svc_strerror(r));
done:
    vpxi_free(out.p);
    vpxi_free(err.p);
    if (out.fd >= 0)
        close(out.fd);
    if (err.fd >= 0)
        close(err.fd);
    vpxi_sx_free(sx);
}

int execsvc_main(const struct config *c)
{
    struct execsvc x = { .c = c };
    struct vpxi_key *key;
    uint8_t hit[16];
    unsigned active = 0;
    int lfd, r;

    x.ov = config_overlay(c, c->exec.overlay);
    if (!x.ov) {
        log_err("no overlay %s", c->exec.overlay);
        return 1;
    }
    if ((r = vpxi_key_load_private(x.ov->keyfile, &key)) != 0 ||
        (r = vpxi_hit_from_key(key, hit)) != 0) {
        log_err("key %s: %s", x.ov->keyfile, vpxi_strerror(r));
        return 1;
    }
    vpxi_key_put(key);
    vpxi_hit_to_str(hit, x.hit_str);
    if (c->exec.node[0]) {
        if (vnode_load(c->exec.node, &x.node) != 0) {
            log_err("virtual node state %s unreadable", c->exec.node);
            return 1;
        }
        x.have_node = true;
    }
    signal(SIGCHLD, SIG_DFL);
    if ((lfd = svc_listen(x.ov->tun, SVC_PORT_EXEC)) < 0) {
        log_err("listen on %s port %d: %s", x.ov->tun, SVC_PORT_EXEC, strerror(-lfd));
        return 1;
    }
    log_info("exec service on [%s]:%d (%s)", x.hit_str, SVC_PORT_EXEC,
             x.have_node ? "inside the virtual node" : "in the daemon's namespaces");
    for (;;) {
        uint8_t peer[16];
        pid_t pid;
        int fd;

        while (active > 0 && waitpid(-1, NULL, WNOHANG) > 0)
            active--;
        if (active >= EXEC_CONNS_MAX) {
            if (waitpid(-1, NULL, 0) > 0)
                active--;
            continue;
        }
        {
            struct pollfd pf = { .fd = lfd, .events = POLLIN };
            if (poll(&pf, 1, 1000) <= 0)
                continue;
        }
        if ((fd = svc_accept(lfd, peer)) < 0)
            continue;
        if ((pid = fork()) == 0) {
            close(lfd);
            serve(&x, fd, peer);
            close(fd);
            _exit(0);
        }
        if (pid > 0)
            active++;
        close(fd);
    }
}
