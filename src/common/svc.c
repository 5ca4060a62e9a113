/*
 * svc.c - framed S-expression messages over TCP between HITs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/identity.h"

#include "svc.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int svc_listen(const char *ifname, uint16_t port)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    int fd, one = 1, e;

    if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ifname &&
         setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int svc_accept(int lfd, uint8_t hit[16])
{
    struct sockaddr_in6 sa;
    socklen_t len = sizeof(sa);
    int fd, one = 1;

    if ((fd = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC)) < 0)
        return -errno;
    if (sa.sin6_family != AF_INET6 || !vpxi_hit_is_orchid(sa.sin6_addr.s6_addr)) {
        close(fd);
        return -EPERM;
    }
    memcpy(hit, sa.sin6_addr.s6_addr, 16);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int svc_connect(const uint8_t hit[16], uint16_t port, int timeout_ms)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    struct pollfd pf;
    int fd, fl, one = 1, err = 0, r;
    socklen_t elen = sizeof(err);

    memcpy(sa.sin6_addr.s6_addr, hit, 16);
    if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        err = errno;
        goto fail;
    }
    pf.fd = fd;
    pf.events = POLLOUT;
    if ((r = poll(&pf, 1, timeout_ms)) <= 0) {
        err = r == 0 ? ETIMEDOUT : errno;
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err)
        goto fail;
    fcntl(fd, F_SETFL, fl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    close(fd);
    return -(err ? err : EIO);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -(w < 0 ? errno : EIO);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int svc_send(int fd, const struct vpxi_sexp *msg)
{
    size_t len = vpxi_sexp_canonical_len(msg);
    struct vpxi_wr w;
    int r;

    if (len > VPXI_MSG_MAX)
        return -EMSGSIZE;
    vpxi_wr_init_dyn(&w, len + 4);
    vpxi_wr_u32(&w, (uint32_t)len);
    vpxi_sexp_write_canonical(msg, &w);
    r = w.err ? -ENOMEM : write_all(fd, w.p, w.len);
    vpxi_wr_clear(&w);
    return r;
}

/* Reads exactly n bytes before the deadline. */
static int read_full(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    while (n) {
        struct pollfd pf = { fd, POLLIN, 0 };
        int64_t left = deadline - mono_ms();
        ssize_t r;
        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&pf, 1, (int)(left > 600000 ? 600000 : left)) < 0 && errno != EINTR)
            return -errno;
        if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        r = recv(fd, p, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ECONNRESET;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int svc_recv(int fd, struct vpxi_sx *sx, struct vpxi_msg *m, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    uint8_t hdr[4], *buf;
    uint32_t len;
    int r;

    memset(m, 0, sizeof(*m));
    if ((r = read_full(fd, hdr, sizeof(hdr), deadline)) != 0)
        return r;
    len = vpxi_get_be32(hdr);
    if (len == 0 || len > VPXI_MSG_MAX)
        return -EMSGSIZE;
    if ((buf = malloc(len)) == NULL)
        return -ENOMEM;
    if ((r = read_full(fd, buf, len, deadline)) == 0)
        r = vpxi_msg_parse(sx, buf, len, m); /* copies into the arena */
    free(buf);
    return r;
}

int svc_call(const uint8_t hit[16], uint16_t port, struct vpxi_sx *sx, const struct vpxi_sexp *req,
             struct vpxi_msg *reply, int timeout_ms)
{
    const struct vpxi_sexp *idn = vpxi_sexp_find(req, "id");
    char id[VPXI_MSG_ID_MAX + 1] = "";
    int fd, r;

    memset(reply, 0, sizeof(*reply));
    if (idn && idn->len == 2 && vpxi_sexp_get_str(idn->child->next, id, sizeof(id)) != 0)
        return VPXI_ERR_INVALID; /* request id too long to match a reply against */
    if ((fd = svc_connect(hit, port, timeout_ms < 5000 ? timeout_ms : 5000)) < 0)
        return fd;
    if ((r = svc_send(fd, req)) == 0 && (r = svc_recv(fd, sx, reply, timeout_ms)) == 0 &&
        (!reply->is_reply || strcmp(reply->id, id) != 0))
        r = VPXI_ERR_PROTOCOL;
    close(fd);
    return r;
}

const char *svc_strerror(int r)
{
    if (r >= VPXI_ERR_MIN && r < 0)
        return vpxi_strerror(r);
    return strerror(-r);
}

void svc_next_id(char out[static 24])
{
    static atomic_uint_fast64_t next = 1;
    snprintf(out, 24, "%llu", (unsigned long long)atomic_fetch_add(&next, 1));
}
