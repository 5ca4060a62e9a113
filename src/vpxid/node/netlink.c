/*
 * netlink.c - minimal synchronous rtnetlink requests (one socket per call,
 * set-up and reload paths only).
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink.h"

enum { NL_BUF = 512 };

struct req {
    struct nlmsghdr nh;
    union {
        struct ifinfomsg ifi;
        struct ifaddrmsg ifa;
        struct rtmsg rtm;
    } u;
    char attrs[NL_BUF];
};

static void add_attr(struct req *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *rta = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends r and waits for the kernel's acknowledgement. */
static int talk(struct req *r)
{
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    char buf[NL_BUF * 2];
    int fd, ret = -EIO;
    ssize_t n;

    if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
        return -errno;
    r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->nh.nlmsg_seq = 1;
    if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        ret = -errno;
        goto out;
    }
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                ret = e->error; /* 0 or -errno */
                goto out;
            }
        }
    }
    if (n < 0)
        ret = -errno;
out:
    close(fd);
    return ret;
}

int nl_link_up(const char *ifname, unsigned mtu)
{
    struct req r;
    unsigned idx = if_nametoindex(ifname);

    if (!idx)
        return -ENODEV;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r.nh.nlmsg_type = RTM_NEWLINK;
    r.u.ifi.ifi_family = AF_UNSPEC;
    r.u.ifi.ifi_index = (int)idx;
    r.u.ifi.ifi_flags = IFF_UP;
    r.u.ifi.ifi_change = IFF_UP;
    add_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
    return talk(&r);
}

int nl_addr_add(const char *ifname, int family, const void *addr, unsigned prefix)
{
    struct req r;
    unsigned idx = if_nametoindex(ifname);
    size_t alen = family == AF_INET ? 4 : 16;

    if (!idx)
        return -ENODEV;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.nh.nlmsg_type = RTM_NEWADDR;
    r.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    r.u.ifa.ifa_family = (unsigned char)family;
    r.u.ifa.ifa_prefixlen = (unsigned char)prefix;
    r.u.ifa.ifa_index = idx;
    r.u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    if (family == AF_INET6)
        r.u.ifa.ifa_flags = IFA_F_NODAD; /* usable at once: no duplicate detection delay */
    add_attr(&r, IFA_LOCAL, addr, alen);
    add_attr(&r, IFA_ADDRESS, addr, alen);
    if (family == AF_INET6) {
        uint32_t flags = IFA_F_NODAD;
        add_attr(&r, IFA_FLAGS, &flags, sizeof(flags));
    }
    return talk(&r);
}

int nl_route(bool add, const char *ifname, int family, const void *dst, unsigned prefix)
{
    struct req r;
    unsigned idx = if_nametoindex(ifname);
    size_t alen = family == AF_INET ? 4 : 16;

    if (!idx)
        return -ENODEV;
    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.nh.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    r.u.rtm.rtm_family = (unsigned char)family;
    r.u.rtm.rtm_dst_len = (unsigned char)prefix;
    r.u.rtm.rtm_table = RT_TABLE_MAIN;
    r.u.rtm.rtm_protocol = RTPROT_STATIC;
    r.u.rtm.rtm_scope = RT_SCOPE_LINK;
    r.u.rtm.rtm_type = RTN_UNICAST;
    add_attr(&r, RTA_DST, dst, alen);
    add_attr(&r, RTA_OIF, &idx, sizeof(idx));
    return talk(&r);
}
