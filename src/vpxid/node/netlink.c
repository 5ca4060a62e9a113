/*
 * netlink.c - minimal synchronous rtnetlink and nf_tables requests (one
 * socket per call, control thread only: set-up, reload, peer up/down).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/time.h>
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
        struct ndmsg ndm;
        struct nfgenmsg nfg;
        struct fib_rule_hdr frh;
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

/* Sends len bytes at msg on a new netlink socket of protocol proto and waits
 * for the kernel's acknowledgement; a reply of type want (if not 0) is
 * copied to out first. Gives up after a second. */
static int talk_proto(int proto, const void *msg, size_t len, unsigned want, void *out,
                      size_t outlen)
{
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    struct timeval tv = { .tv_sec = 1 };
    char buf[NL_BUF * 4];
    int fd, ret = -EIO;
    ssize_t n;

    if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto)) < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
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
            if (want && h->nlmsg_type == want && h->nlmsg_len <= outlen) {
                memcpy(out, h, h->nlmsg_len);
                want = 0;
            }
        }
    }
    ret = n < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -EIO;
out:
    close(fd);
    return ret;
}

/* Sends r and waits for the kernel's acknowledgement. */
static int talk(struct req *r)
{
    r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->nh.nlmsg_seq = 1;
    return talk_proto(NETLINK_ROUTE, r, r->nh.nlmsg_len, 0, NULL, 0);
}

/* The attribute of type type in the rtattr list after a fixed header. */
static const struct rtattr *find_attr(const struct nlmsghdr *h, size_t hdr, unsigned short type)
{
    const struct rtattr *a =
        (const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr));
    int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdr));

    for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == type)
            return a;
    return NULL;
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
    unsigned idx = if_nametoindex(ifname);

    return idx ? nl_route_dev(add, idx, family, dst, prefix, NULL, 0) : -ENODEV;
}

/* A get request: its one reply of type want into rep (-ENOENT if none). */
struct reply {
    union {
        struct nlmsghdr nh;
        char b[NL_BUF * 2];
    };
};

static int ask(struct req *r, unsigned want, struct reply *rep)
{
    int ret;

    r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    rep->nh.nlmsg_len = 0;
    ret = talk_proto(NETLINK_ROUTE, r, r->nh.nlmsg_len, want, rep, sizeof(*rep));
    return ret != 0 ? ret : rep->nh.nlmsg_len == 0 ? -ENOENT : 0;
}

int nl_route_get(int family, const void *dst, unsigned *ifindex, bool *via_gateway)
{
    struct req r;
    struct reply rep;
    const struct rtattr *a;
    int ret;

    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.nh.nlmsg_type = RTM_GETROUTE;
    r.u.rtm.rtm_family = (unsigned char)family;
    r.u.rtm.rtm_dst_len = family == AF_INET ? 32 : 128;
    add_attr(&r, RTA_DST, dst, family == AF_INET ? 4 : 16);
    if ((ret = ask(&r, RTM_NEWROUTE, &rep)) != 0)
        return ret;
    if ((a = find_attr(&rep.nh, sizeof(struct rtmsg), RTA_OIF)) == NULL ||
        RTA_PAYLOAD(a) != sizeof(unsigned))
        return -ENOENT;
    memcpy(ifindex, RTA_DATA(a), sizeof(unsigned));
    *via_gateway = find_attr(&rep.nh, sizeof(struct rtmsg), RTA_GATEWAY) != NULL;
    return 0;
}

int nl_neigh_get(int family, const void *dst, unsigned ifindex, uint8_t lladdr[6])
{
    struct req r;
    struct reply rep;
    const struct ndmsg *nd;
    const struct rtattr *a;
    int ret;

    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
    r.nh.nlmsg_type = RTM_GETNEIGH;
    r.u.ndm.ndm_family = (unsigned char)family;
    r.u.ndm.ndm_ifindex = (int)ifindex;
    add_attr(&r, NDA_DST, dst, family == AF_INET ? 4 : 16);
    if ((ret = ask(&r, RTM_NEWNEIGH, &rep)) != 0)
        return ret;
    nd = NLMSG_DATA(&rep.nh);
    if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)) ||
        (a = find_attr(&rep.nh, sizeof(struct ndmsg), NDA_LLADDR)) == NULL ||
        RTA_PAYLOAD(a) != ETH_ALEN)
        return -ENOENT;
    memcpy(lladdr, RTA_DATA(a), ETH_ALEN);
    return 0;
}

int nl_neigh(bool add, unsigned ifindex, int family, const void *dst, const uint8_t lladdr[6])
{
    struct req r;

    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
    r.nh.nlmsg_type = add ? RTM_NEWNEIGH : RTM_DELNEIGH;
    r.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    r.u.ndm.ndm_family = (unsigned char)family;
    r.u.ndm.ndm_ifindex = (int)ifindex;
    r.u.ndm.ndm_state = NUD_PERMANENT;
    add_attr(&r, NDA_DST, dst, family == AF_INET ? 4 : 16);
    if (add)
        add_attr(&r, NDA_LLADDR, lladdr, ETH_ALEN);
    return talk(&r);
}

int nl_route_dev(bool add, unsigned ifindex, int family, const void *dst, unsigned prefix,
                 const void *prefsrc, unsigned table)
{
    struct req r;
    size_t alen = family == AF_INET ? 4 : 16;

    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.nh.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    r.u.rtm.rtm_family = (unsigned char)family;
    r.u.rtm.rtm_dst_len = (unsigned char)prefix;
    r.u.rtm.rtm_table = table && table != RT_TABLE_MAIN ? RT_TABLE_UNSPEC : RT_TABLE_MAIN;
    r.u.rtm.rtm_protocol = RTPROT_STATIC;
    r.u.rtm.rtm_scope = RT_SCOPE_LINK;
    r.u.rtm.rtm_type = RTN_UNICAST;
    add_attr(&r, RTA_DST, dst, alen);
    add_attr(&r, RTA_OIF, &ifindex, sizeof(ifindex));
    if (table && table != RT_TABLE_MAIN)
        add_attr(&r, RTA_TABLE, &table, sizeof(table));
    if (add && prefsrc)
        add_attr(&r, RTA_PREFSRC, prefsrc, alen);
    return talk(&r);
}

int nl_rule(bool add, int family, unsigned table, unsigned priority, uint8_t ipproto, bool sport,
            uint16_t lo, uint16_t hi)
{
    return nl_rule_to(add, family, NULL, table, priority, ipproto, sport, lo, hi);
}

int nl_rule_to(bool add, int family, const void *to, unsigned table, unsigned priority,
               uint8_t ipproto, bool sport, uint16_t lo, uint16_t hi)
{
    struct req r;
    struct fib_rule_port_range range = { .start = lo, .end = hi };

    memset(&r, 0, sizeof(r));
    r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct fib_rule_hdr));
    r.nh.nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
    r.nh.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
    r.u.frh.family = (unsigned char)family;
    r.u.frh.action = FR_ACT_TO_TBL;
    if (to) {
        r.u.frh.dst_len = family == AF_INET ? 32 : 128;
        add_attr(&r, FRA_DST, to, family == AF_INET ? 4 : 16);
    }
    add_attr(&r, FRA_PRIORITY, &priority, sizeof(priority));
    add_attr(&r, FRA_TABLE, &table, sizeof(table));
    add_attr(&r, FRA_IP_PROTO, &ipproto, sizeof(ipproto));
    add_attr(&r, sport ? FRA_SPORT_RANGE : FRA_DPORT_RANGE, &range, sizeof(range));
    return talk(&r);
}

/* nf_tables: one set element added or deleted, in a batch of its own. */
static void put_attr(struct nlmsghdr *h, size_t cap, unsigned short type, const void *data,
                     size_t len)
{
    struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

    if (NLMSG_ALIGN(h->nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(len) > cap)
        return; /* callers size their buffers; never reached */
    a->nla_type = type;
    a->nla_len = (unsigned short)(NLA_HDRLEN + len);
    if (len)
        memcpy((char *)a + NLA_HDRLEN, data, len);
    h->nlmsg_len = (unsigned)(NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len));
}

static struct nlattr *nest_start(struct nlmsghdr *h, size_t cap, unsigned short type)
{
    struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

    put_attr(h, cap, (unsigned short)(type | NLA_F_NESTED), NULL, 0);
    return a;
}

static void nest_end(struct nlmsghdr *h, struct nlattr *a)
{
    a->nla_len = (unsigned short)((char *)h + h->nlmsg_len - (char *)a);
}

static struct nlmsghdr *batch_msg(char *at, unsigned type, unsigned flags, unsigned char family,
                                  unsigned short res_id)
{
    struct nlmsghdr *h = (struct nlmsghdr *)at;
    struct nfgenmsg *g = NLMSG_DATA(h);

    h->nlmsg_len = NLMSG_LENGTH(sizeof(*g));
    h->nlmsg_type = (unsigned short)type;
    h->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
    h->nlmsg_seq = 1;
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = htons(res_id);
    return h;
}

int nl_nft_elem(bool add, const char *table, const char *set, const void *key, size_t keylen)
{
    return nl_nft_range(add, table, set, key, NULL, keylen);
}

int nl_nft_range(bool add, const char *table, const char *set, const void *key, const void *key_end,
                 size_t keylen)
{
    union {
        struct nlmsghdr nh;
        char b[NL_BUF];
    } m;
    struct nlmsghdr *begin, *op, *end;
    struct nlattr *list, *elem, *k;
    size_t used;

    if (keylen > 64 || strlen(table) > 64 || strlen(set) > 64)
        return -EINVAL;
    memset(&m, 0, sizeof(m));
    begin = batch_msg(m.b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    used = NLMSG_ALIGN(begin->nlmsg_len);
    op = batch_msg(m.b + used,
                   (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM),
                   NLM_F_ACK | (add ? NLM_F_CREATE : 0), NFPROTO_INET, 0);
    put_attr(op, sizeof(m) - used, NFTA_SET_ELEM_LIST_TABLE, table, strlen(table) + 1);
    put_attr(op, sizeof(m) - used, NFTA_SET_ELEM_LIST_SET, set, strlen(set) + 1);
    list = nest_start(op, sizeof(m) - used, NFTA_SET_ELEM_LIST_ELEMENTS);
    elem = nest_start(op, sizeof(m) - used, NFTA_LIST_ELEM);
    k = nest_start(op, sizeof(m) - used, NFTA_SET_ELEM_KEY);
    put_attr(op, sizeof(m) - used, NFTA_DATA_VALUE, key, keylen);
    nest_end(op, k);
    if (key_end) {
        k = nest_start(op, sizeof(m) - used, NFTA_SET_ELEM_KEY_END);
        put_attr(op, sizeof(m) - used, NFTA_DATA_VALUE, key_end, keylen);
        nest_end(op, k);
    }
    nest_end(op, elem);
    nest_end(op, list);
    used += NLMSG_ALIGN(op->nlmsg_len);
    end = batch_msg(m.b + used, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    used += NLMSG_ALIGN(end->nlmsg_len);
    return talk_proto(NETLINK_NETFILTER, m.b, used, 0, NULL, 0);
}

int nl_nft_table(const char *table)
{
    union {
        struct nlmsghdr nh;
        char b[NL_BUF];
    } m;
    struct nlmsghdr *h;

    if (strlen(table) > 64)
        return -EINVAL;
    memset(&m, 0, sizeof(m));
    h = batch_msg(m.b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_ACK, NFPROTO_INET, 0);
    put_attr(h, sizeof(m), NFTA_TABLE_NAME, table, strlen(table) + 1);
    return talk_proto(NETLINK_NETFILTER, m.b, h->nlmsg_len, 0, NULL, 0);
}

/* The first attribute of type type in an attribute list (kernel replies). */
static const struct nlattr *nla_find(const void *data, size_t len, unsigned short type)
{
    const char *p = data;

    while (len >= NLA_HDRLEN) {
        const struct nlattr *a = (const struct nlattr *)p;
        size_t al = a->nla_len, step = NLA_ALIGN(al);
        if (al < NLA_HDRLEN || al > len)
            return NULL;
        if ((a->nla_type & NLA_TYPE_MASK) == type)
            return a;
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return NULL;
}

#define NLA_DATA(a) ((const char *)(a) + NLA_HDRLEN)
#define NLA_LEN(a)  ((size_t)(a)->nla_len - NLA_HDRLEN)

static uint64_t be64_at(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* A "counter" expression's figures; 0 if e is one. */
static int counter_of(const struct nlattr *e, uint64_t *packets, uint64_t *bytes)
{
    const struct nlattr *n = nla_find(NLA_DATA(e), NLA_LEN(e), NFTA_EXPR_NAME);
    const struct nlattr *d = nla_find(NLA_DATA(e), NLA_LEN(e), NFTA_EXPR_DATA);
    const struct nlattr *pk, *by;

    if (!n || !d || NLA_LEN(n) < 8 || memcmp(NLA_DATA(n), "counter", 8) != 0)
        return -ENOENT;
    pk = nla_find(NLA_DATA(d), NLA_LEN(d), NFTA_COUNTER_PACKETS);
    by = nla_find(NLA_DATA(d), NLA_LEN(d), NFTA_COUNTER_BYTES);
    if (!pk || !by || NLA_LEN(pk) != 8 || NLA_LEN(by) != 8)
        return -ENOENT;
    *packets = be64_at(NLA_DATA(pk));
    *bytes = be64_at(NLA_DATA(by));
    return 0;
}

int nl_nft_elem_counter(const char *table, const char *set, const void *key, size_t keylen,
                        uint64_t *packets, uint64_t *bytes)
{
    union {
        struct nlmsghdr nh;
        char b[NL_BUF];
    } m;
    union {
        struct nlmsghdr nh;
        char b[NL_BUF * 2];
    } rep;
    struct nlmsghdr *h;
    struct nlattr *list, *elem, *k;
    const struct nlattr *l, *el, *x;
    const char *body;
    size_t blen;
    int r;

    if (keylen > 64 || strlen(table) > 64 || strlen(set) > 64)
        return -EINVAL;
    memset(&m, 0, sizeof(m));
    h = batch_msg(m.b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_ACK, NFPROTO_INET,
                  0);
    put_attr(h, sizeof(m), NFTA_SET_ELEM_LIST_TABLE, table, strlen(table) + 1);
    put_attr(h, sizeof(m), NFTA_SET_ELEM_LIST_SET, set, strlen(set) + 1);
    list = nest_start(h, sizeof(m), NFTA_SET_ELEM_LIST_ELEMENTS);
    elem = nest_start(h, sizeof(m), NFTA_LIST_ELEM);
    k = nest_start(h, sizeof(m), NFTA_SET_ELEM_KEY);
    put_attr(h, sizeof(m), NFTA_DATA_VALUE, key, keylen);
    nest_end(h, k);
    nest_end(h, elem);
    nest_end(h, list);
    rep.nh.nlmsg_len = 0;
    r = talk_proto(NETLINK_NETFILTER, m.b, h->nlmsg_len,
                   (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM, &rep, sizeof(rep));
    if (r != 0)
        return r;
    if (rep.nh.nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
        return -ENOENT;
    body = (const char *)NLMSG_DATA(&rep.nh) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    blen = rep.nh.nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    if ((l = nla_find(body, blen, NFTA_SET_ELEM_LIST_ELEMENTS)) == NULL ||
        (el = nla_find(NLA_DATA(l), NLA_LEN(l), NFTA_LIST_ELEM)) == NULL)
        return -ENOENT;
    if ((x = nla_find(NLA_DATA(el), NLA_LEN(el), NFTA_SET_ELEM_EXPR)) != NULL)
        return counter_of(x, packets, bytes);
    if ((x = nla_find(NLA_DATA(el), NLA_LEN(el), NFTA_SET_ELEM_EXPRESSIONS)) != NULL) {
        const char *p = NLA_DATA(x);
        size_t left = NLA_LEN(x);
        while (left >= NLA_HDRLEN) {
            const struct nlattr *e = (const struct nlattr *)p;
            size_t step = (size_t)NLA_ALIGN(e->nla_len);
            if (e->nla_len < NLA_HDRLEN || e->nla_len > left)
                break;
            if (counter_of(e, packets, bytes) == 0)
                return 0;
            if (step >= left)
                break;
            left -= step;
            p += step;
        }
    }
    return -ENOENT;
}
