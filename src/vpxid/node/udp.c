/*
 * udp.c - UDP socket with GSO/GRO.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "udp.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int udp_open(struct udp *u, const struct cfg_addr *listen)
{
    int one = 1, buf = UDP_SOCKBUF;

    memset(u, 0, sizeof(*u));
    u->family = listen->ss.ss_family;
    if ((u->fd = socket(u->family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP)) < 0)
        return -errno;
    if (setsockopt(u->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        log_warn("SO_REUSEADDR: %s", strerror(errno));
    /* as root, go beyond the rmem/wmem sysctl caps */
    if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
        (void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    if (setsockopt(u->fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
        (void)setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    if (u->family == AF_INET6)
        (void)setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
    if (bind(u->fd, (const struct sockaddr *)&listen->ss, listen->len) < 0) {
        int e = errno;
        close(u->fd);
        u->fd = -1;
        return -e;
    }
    u->gro = setsockopt(u->fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    /* GSO needs no option on the socket; probe support with a zero segment size */
    u->gso = setsockopt(u->fd, IPPROTO_UDP, UDP_SEGMENT, &(int){ 0 }, sizeof(int)) == 0;
    if (!u->gro || !u->gso)
        log_warn("UDP offloads: GSO %s, GRO %s", u->gso ? "on" : "off", u->gro ? "on" : "off");
    return 0;
}

void udp_close(struct udp *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

int udp_send(struct udp *u, const struct cfg_addr *dst, const void *buf, size_t len, size_t seg)
{
    struct iovec iov = { (void *)buf, len };
    char control[CMSG_SPACE(sizeof(uint16_t))];
    struct msghdr m = { 0 };
    ssize_t n;

    m.msg_name = (void *)&dst->ss;
    m.msg_namelen = dst->len;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (seg < len) {
        struct cmsghdr *c;
        if (!u->gso) {
            /* no GSO: one datagram at a time */
            for (size_t off = 0; off < len; off += seg) {
                int r =
                    udp_send(u, dst, (const uint8_t *)buf + off, len - off < seg ? len - off : seg,
                             len - off < seg ? len - off : seg);
                if (r)
                    return r;
            }
            return 0;
        }
        memset(control, 0, sizeof(control));
        m.msg_control = control;
        m.msg_controllen = sizeof(control);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = IPPROTO_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        *(uint16_t *)CMSG_DATA(c) = (uint16_t)seg;
    }
    do {
        n = sendmsg(u->fd, &m, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

ssize_t udp_recv(struct udp *u, void *buf, size_t cap, size_t *seg, struct cfg_addr *src)
{
    struct iovec iov = { buf, cap };
    char control[CMSG_SPACE(sizeof(int)) * 2];
    struct msghdr m = { 0 };
    ssize_t n;

    m.msg_name = &src->ss;
    m.msg_namelen = sizeof(src->ss);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    /* the socket blocks (so that sends wait for buffer space); receives never do */
    do {
        n = recvmsg(u->fd, &m, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    src->len = m.msg_namelen;
    *seg = (size_t)n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
            int s;
            memcpy(&s, CMSG_DATA(c), sizeof(s));
            if (s > 0 && (size_t)s < *seg)
                *seg = (size_t)s;
        }
    return n;
}
