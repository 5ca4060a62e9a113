/*
 * direct.c - the direct path of clear links (see direct.h).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "common/svc.h"
#include "direct.h"
#include "netlink.h"
#include "node.h"

struct fw_elem {
    const char *set;
    const void *key;
    size_t len;
    bool in; /* a set of the input chain (what the peer sends us) */
};

/* The firewall's elements for p: concatenations are padded to 32-bit
 * words, as nf_tables stores them (IPv4 4 + MAC 6 -> 4 + 8; HIT 16 + MAC
 * 6 -> 16 + 8). in4 and in6 hold the keys built. */
static size_t fw_elems(const struct peer *p, const uint8_t mac[6], uint8_t in4[12], uint8_t in6[24],
                       struct fw_elem el[4])
{
    size_t n = 0;

    memset(in4, 0, 12);
    memset(in6, 0, 24);
    memcpy(in6, p->hit, 16);
    memcpy(in6 + 16, mac, 6);
    el[n++] = (struct fw_elem){ VPXI_FW_SET_IN6, in6, 24, true };
    el[n++] = (struct fw_elem){ VPXI_FW_SET_OUT6, p->hit, 16, false };
    if (p->ipv4.s_addr) {
        memcpy(in4, &p->ipv4, 4);
        memcpy(in4 + 4, mac, 6);
        el[n++] = (struct fw_elem){ VPXI_FW_SET_IN4, in4, 12, true };
        el[n++] = (struct fw_elem){ VPXI_FW_SET_OUT4, &p->ipv4, 4, false };
    }
    return n;
}

static int firewall(bool add, const struct peer *p, const uint8_t mac[6])
{
    uint8_t in4[12], in6[24];
    struct fw_elem el[4];
    size_t n = fw_elems(p, mac, in4, in6, el);
    int r, first = 0;

    for (size_t i = 0; i < n; i++) {
        r = nl_nft_elem(add, VPXI_FW_TABLE, el[i].set, el[i].key, el[i].len);
        if (r != 0 && add)
            return r;
        if (r != 0 && r != -ENOENT && !first)
            first = r;
    }
    return first;
}

int direct_counters(const struct peer *p, struct direct_counters *c)
{
    uint8_t in4[12], in6[24];
    struct fw_elem el[4];
    size_t n;
    int found = 0;

    memset(c, 0, sizeof(*c));
    if (!p->direct_fw)
        return -ENOENT;
    n = fw_elems(p, p->direct_mac, in4, in6, el);
    for (size_t i = 0; i < n; i++) {
        uint64_t pk, by;
        if (nl_nft_elem_counter(VPXI_FW_TABLE, el[i].set, el[i].key, el[i].len, &pk, &by) != 0)
            continue;
        found++;
        if (el[i].in) {
            c->rx_packets += pk;
            c->rx_bytes += by;
        } else {
            c->tx_packets += pk;
            c->tx_bytes += by;
        }
    }
    return found ? 0 : -ENOENT;
}

/* The peer's routes and neighbour entries on the underlay device. */
static int routes(bool add, struct overlay *ov, const struct peer *p, unsigned ifx,
                  const uint8_t mac[6])
{
    int r, first = 0;

    if ((r = nl_neigh(add, ifx, AF_INET6, p->hit, mac)) != 0 && add)
        return r;
    first = first ? first : r;
    if ((r = nl_route_dev(add, ifx, AF_INET6, p->hit, 128, ov->hit, 0)) != 0 && add)
        return r;
    first = first ? first : r;
    if (p->ipv4.s_addr) {
        if ((r = nl_neigh(add, ifx, AF_INET, &p->ipv4, mac)) != 0 && add)
            return r;
        first = first ? first : r;
        if ((r = nl_route_dev(add, ifx, AF_INET, &p->ipv4, 32, ov->ipv4.s_addr ? &ov->ipv4 : NULL,
                              0)) != 0 &&
            add)
            return r;
        first = first ? first : r;
    }
    return first;
}

/* The peer's routes through the TUN again (as peer_routes installs them). */
static void tun_routes(struct overlay *ov, const struct peer *p)
{
    int r;

    if ((r = nl_route(true, ov->tun.name, AF_INET6, p->hit, 128)) != 0)
        log_warn("%s: route to %s: %s", ov->name, p->name, strerror(-r));
    if (p->ipv4.s_addr && (r = nl_route(true, ov->tun.name, AF_INET, &p->ipv4, 32)) != 0)
        log_warn("%s: IPv4 route to %s: %s", ov->name, p->name, strerror(-r));
}

/*
 * vpxi's own services (registrar, host agent, exec: TCP ports
 * SVC_PORT_REGISTRAR..SVC_PORT_EXEC) take the requester's HIT from a
 * connection that came through the TUN (common/svc.h): their traffic with a
 * direct peer keeps going through the TUN. Policy rules send TCP from or to
 * those ports to table SVC_TABLE, which holds a TUN route for each direct
 * peer; for any other peer the lookup falls through to the main table. The
 * rules exist while some peer of this daemon is on the direct path.
 */
enum { SVC_TABLE = 10500, SVC_RULE_PRIORITY = 10500 };
static unsigned svc_users;

static int svc_rules(bool add)
{
    static const int fam[2] = { AF_INET6, AF_INET };
    int r, first = 0;

    for (int f = 0; f < 2; f++)
        for (int sport = 0; sport < 2; sport++) {
            r = nl_rule(add, fam[f], SVC_TABLE, SVC_RULE_PRIORITY, IPPROTO_TCP, sport,
                        SVC_PORT_REGISTRAR, SVC_PORT_EXEC);
            if (r == -EEXIST)
                r = 0;
            if (r != 0 && add)
                return r;
            first = first ? first : r;
        }
    return first;
}

static int svc_routes(bool add, struct overlay *ov, const struct peer *p)
{
    unsigned tun = if_nametoindex(ov->tun.name);
    int r;

    if (!tun)
        return -ENODEV;
    if (add && svc_users == 0 && (r = svc_rules(true)) != 0) {
        (void)svc_rules(false);
        return r;
    }
    r = nl_route_dev(add, tun, AF_INET6, p->hit, 128, NULL, SVC_TABLE);
    if (r == 0 && p->ipv4.s_addr)
        r = nl_route_dev(add, tun, AF_INET, &p->ipv4, 32, NULL, SVC_TABLE);
    if (add && r != 0) {
        (void)nl_route_dev(false, tun, AF_INET6, p->hit, 128, NULL, SVC_TABLE);
        if (svc_users == 0)
            (void)svc_rules(false);
        return r;
    }
    if (add) {
        svc_users++;
    } else if (svc_users > 0 && --svc_users == 0) {
        (void)svc_rules(false);
    }
    return 0;
}

void direct_up(struct overlay *ov, struct peer *p)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->addr.ss;
    char ifname[IF_NAMESIZE] = "?";
    uint8_t mac[6];
    unsigned ifx;
    bool gateway;
    int r;

    if (p->direct || !p->out || p->out->suite != VPXI_ESP_CLEAR || p->addr.ss.ss_family != AF_INET)
        return;
    if ((r = nl_route_get(AF_INET, &sin->sin_addr, &ifx, &gateway)) != 0 || gateway ||
        ifx == if_nametoindex(ov->tun.name)) {
        log_info("%s: clear link to %s stays in ESP: its locator is not on-link", ov->name,
                 p->name);
        return;
    }
    if ((r = nl_neigh_get(AF_INET, &sin->sin_addr, ifx, mac)) != 0) {
        log_info("%s: clear link to %s stays in ESP: no link-layer address for its locator (%s)",
                 ov->name, p->name, strerror(-r));
        return;
    }
    if (!if_indextoname(ifx, ifname))
        snprintf(ifname, sizeof(ifname), "#%u", ifx);
    /* the firewall opens whatever clear-direct says here: the peer may send
     * directly even if we do not */
    r = nl_nft_table(VPXI_FW_TABLE);
    if (r == 0 && (r = firewall(true, p, mac)) == 0)
        p->direct_fw = true;
    else if (r == -ENOENT)
        r = 0; /* no node firewall: nothing to open */
    if (r != 0) {
        (void)firewall(false, p, mac);
        log_warn("%s: clear link to %s stays in ESP: node firewall: %s", ov->name, p->name,
                 strerror(-r));
        return;
    }
    p->direct = true;
    p->direct_if = ifx;
    memcpy(p->direct_mac, mac, 6);
    if (!ov->cfg.clear_direct) {
        log_info("%s: clear link to %s: accepting its direct traffic on %s; ours stays in ESP "
                 "(clear-direct = no)",
                 ov->name, p->name, ifname);
        return;
    }
    if ((r = svc_routes(true, ov, p)) != 0) {
        log_warn("%s: clear link to %s stays in ESP: service routes: %s", ov->name, p->name,
                 strerror(-r));
        return;
    }
    if ((r = routes(true, ov, p, ifx, mac)) != 0) {
        (void)svc_routes(false, ov, p);
        if (p->routes)
            tun_routes(ov, p);
        else
            (void)routes(false, ov, p, ifx, mac);
        log_warn("%s: clear link to %s stays in ESP: routes on %s: %s", ov->name, p->name, ifname,
                 strerror(-r));
        return;
    }
    p->direct_routes = true;
    log_info("%s: clear link to %s: direct path on %s to %02x:%02x:%02x:%02x:%02x:%02x", ov->name,
             p->name, ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

void direct_down(struct overlay *ov, struct peer *p)
{
    int r = 0;

    if (!p->direct)
        return;
    if (p->direct_routes && p->routes) {
        tun_routes(ov, p); /* replaces the direct routes */
        (void)nl_neigh(false, p->direct_if, AF_INET6, p->hit, p->direct_mac);
        if (p->ipv4.s_addr)
            (void)nl_neigh(false, p->direct_if, AF_INET, &p->ipv4, p->direct_mac);
    } else if (p->direct_routes && (r = routes(false, ov, p, p->direct_if, p->direct_mac)) != 0 &&
               r != -ESRCH && r != -ENOENT && r != -ENODEV) {
        log_warn("%s: removing the direct routes to %s: %s", ov->name, p->name, strerror(-r));
    }
    if (p->direct_fw && (r = firewall(false, p, p->direct_mac)) != 0)
        log_warn("%s: closing the firewall for %s: %s", ov->name, p->name, strerror(-r));
    if (p->direct_routes)
        (void)svc_routes(false, ov, p);
    p->direct = p->direct_routes = p->direct_fw = false;
    log_info("%s: direct path to %s closed", ov->name, p->name);
}
