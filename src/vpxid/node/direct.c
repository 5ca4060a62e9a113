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

/* The peer's elements of the firewall's address sets: the direct-out sets
 * always, the direct-in sets (all its traffic accepted) if in. */
static int firewall(bool add, const struct peer *p, const uint8_t mac[6], bool in)
{
    uint8_t in4[12], in6[24];
    struct fw_elem el[4];
    size_t n = fw_elems(p, mac, in4, in6, el);
    int r, first = 0;

    for (size_t i = 0; i < n; i++) {
        if (el[i].in && !in)
            continue;
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

/* The peer's routes (in table, 0: main) and neighbour entries on the
 * underlay device. */
static int routes(bool add, struct overlay *ov, const struct peer *p, unsigned ifx,
                  const uint8_t mac[6], unsigned table)
{
    int r, first = 0;

    if ((r = nl_neigh(add, ifx, AF_INET6, p->hit, mac)) != 0 && add)
        return r;
    first = first ? first : r;
    if ((r = nl_route_dev(add, ifx, AF_INET6, p->hit, 128, ov->hit, table)) != 0 && add)
        return r;
    first = first ? first : r;
    if (p->ipv4.s_addr) {
        if ((r = nl_neigh(add, ifx, AF_INET, &p->ipv4, mac)) != 0 && add)
            return r;
        first = first ? first : r;
        if ((r = nl_route_dev(add, ifx, AF_INET, &p->ipv4, 32, ov->ipv4.s_addr ? &ov->ipv4 : NULL,
                              table)) != 0 &&
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

/*
 * Port classes (port-link in [peer], from the specification's rules with
 * ports). The association carries the strongest class; the clear classes
 * take the direct path:
 *
 *  MODE_ALL: every class clear. Main-table routes on the underlay device,
 *      (address, MAC) in the firewall's direct-in sets.
 *  MODE_EXCEPT: the link is clear, some port classes are not. As MODE_ALL,
 *      plus, for each protected class, a policy rule per direction and
 *      family ("to PEER ipproto P dport|sport LO-HI") to SVC_TABLE, where
 *      the peer's TUN route is, and (address, MAC, P, LO-HI) in the
 *      direct-deny sets so that such traffic is not accepted directly.
 *  MODE_ONLY: the link is protected, some port classes are clear. Routes
 *      stay on the TUN; the peer's direct routes go to DIRECT_TABLE, policy
 *      rules send the clear classes there, and (address, MAC, P, LO-HI) in
 *      the direct-ports sets lets exactly those in.
 *
 * dport rules come before sport rules (a packet between two classed ports
 * follows its destination port's class).
 */
enum { MODE_NONE, MODE_ALL, MODE_EXCEPT, MODE_ONLY };
enum { DIRECT_TABLE = 10501, PORT_RULE_PRIORITY = 10501 };

static bool link_clear(const struct peer *p)
{
    return !strcmp(p->link, "clear");
}

/* Whether class i goes through rules in mode m. */
static bool ruled(const struct peer *p, size_t i, int m)
{
    return m == MODE_EXCEPT ? p->portlinks[i].sec != CFG_SEC_CLEAR
                            : p->portlinks[i].sec == CFG_SEC_CLEAR;
}

static int port_rules(bool add, const struct peer *p, int m)
{
    unsigned table = m == MODE_EXCEPT ? SVC_TABLE : DIRECT_TABLE;
    int r, first = 0;

    for (size_t i = 0; i < p->nportlinks; i++) {
        const struct cfg_portlink *pl = &p->portlinks[i];
        if (!ruled(p, i, m))
            continue;
        for (int sport = 0; sport < 2; sport++) {
            unsigned prio = PORT_RULE_PRIORITY + (unsigned)sport;
            r = nl_rule_to(add, AF_INET6, p->hit, table, prio, pl->proto, sport, pl->lo, pl->hi);
            if (r == 0 && p->ipv4.s_addr)
                r = nl_rule_to(add, AF_INET, &p->ipv4, table, prio, pl->proto, sport, pl->lo,
                               pl->hi);
            if (r == -EEXIST)
                r = 0;
            if (r != 0 && add)
                return r;
            first = first ? first : r;
        }
    }
    return first;
}

/* (address . MAC . proto . port) keys, padded as nf_tables stores them. */
static size_t port_key(uint8_t *k, const void *addr, size_t alen, const uint8_t mac[6],
                       uint8_t proto, uint16_t port)
{
    memset(k, 0, alen + 16);
    memcpy(k, addr, alen);
    memcpy(k + alen, mac, 6);
    k[alen + 8] = proto;
    k[alen + 12] = (uint8_t)(port >> 8);
    k[alen + 13] = (uint8_t)port;
    return alen + 16;
}

static int port_firewall(bool add, const struct peer *p, const uint8_t mac[6], int m)
{
    const char *set6 = m == MODE_EXCEPT ? VPXI_FW_SET_DENY6 : VPXI_FW_SET_PORTS6;
    const char *set4 = m == MODE_EXCEPT ? VPXI_FW_SET_DENY4 : VPXI_FW_SET_PORTS4;
    uint8_t k[32], e[32];
    int r, first = 0;

    for (size_t i = 0; i < p->nportlinks; i++) {
        const struct cfg_portlink *pl = &p->portlinks[i];
        size_t n;
        if (!ruled(p, i, m))
            continue;
        n = port_key(k, p->hit, 16, mac, pl->proto, pl->lo);
        port_key(e, p->hit, 16, mac, pl->proto, pl->hi);
        r = nl_nft_range(add, VPXI_FW_TABLE, set6, k, e, n);
        if (r == 0 && p->ipv4.s_addr) {
            n = port_key(k, &p->ipv4, 4, mac, pl->proto, pl->lo);
            port_key(e, &p->ipv4, 4, mac, pl->proto, pl->hi);
            r = nl_nft_range(add, VPXI_FW_TABLE, set4, k, e, n);
        }
        if (r != 0 && add)
            return r;
        if (r != 0 && r != -ENOENT && !first)
            first = r;
    }
    return first;
}

static int mode_of(const struct peer *p)
{
    bool any_clear = link_clear(p), any_protected = !link_clear(p);

    for (size_t i = 0; i < p->nportlinks; i++) {
        any_clear |= p->portlinks[i].sec == CFG_SEC_CLEAR;
        any_protected |= p->portlinks[i].sec != CFG_SEC_CLEAR;
    }
    if (!any_clear)
        return MODE_NONE;
    if (!any_protected)
        return MODE_ALL;
    return link_clear(p) ? MODE_EXCEPT : MODE_ONLY;
}

/* Undoes direct_up's routing for mode m (each step tolerates "not there"). */
static void unroute(struct overlay *ov, struct peer *p, int m)
{
    int r;

    if (m == MODE_ONLY) {
        (void)port_rules(false, p, m);
        (void)routes(false, ov, p, p->direct_if, p->direct_mac, DIRECT_TABLE);
    } else {
        if (m == MODE_EXCEPT)
            (void)port_rules(false, p, m);
        if (p->routes) {
            tun_routes(ov, p); /* replaces the direct routes */
            (void)nl_neigh(false, p->direct_if, AF_INET6, p->hit, p->direct_mac);
            if (p->ipv4.s_addr)
                (void)nl_neigh(false, p->direct_if, AF_INET, &p->ipv4, p->direct_mac);
        } else if ((r = routes(false, ov, p, p->direct_if, p->direct_mac, 0)) != 0 && r != -ESRCH &&
                   r != -ENOENT && r != -ENODEV) {
            log_warn("%s: removing the direct routes to %s: %s", ov->name, p->name, strerror(-r));
        }
    }
    (void)svc_routes(false, ov, p);
}

/* Closes the firewall that direct_up opened for mode m. */
static void unfirewall(struct overlay *ov, struct peer *p, int m)
{
    int r;

    if ((r = firewall(false, p, p->direct_mac, m != MODE_ONLY)) != 0)
        log_warn("%s: closing the firewall for %s: %s", ov->name, p->name, strerror(-r));
    if (m != MODE_ALL && (r = port_firewall(false, p, p->direct_mac, m)) != 0)
        log_warn("%s: closing the firewall's port classes for %s: %s", ov->name, p->name,
                 strerror(-r));
}

void direct_up(struct overlay *ov, struct peer *p)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->addr.ss;
    char ifname[IF_NAMESIZE] = "?";
    int m = mode_of(p);
    uint8_t mac[6];
    unsigned ifx;
    bool gateway;
    int r;

    if (p->direct || m == MODE_NONE || !p->out || p->addr.ss.ss_family != AF_INET)
        return;
    if ((r = nl_route_get(AF_INET, &sin->sin_addr, &ifx, &gateway)) != 0 || gateway ||
        ifx == if_nametoindex(ov->tun.name)) {
        log_info("%s: clear traffic to %s stays in ESP: its locator is not on-link", ov->name,
                 p->name);
        return;
    }
    if ((r = nl_neigh_get(AF_INET, &sin->sin_addr, ifx, mac)) != 0) {
        log_info("%s: clear traffic to %s stays in ESP: no link-layer address for its locator "
                 "(%s)",
                 ov->name, p->name, strerror(-r));
        return;
    }
    if (!if_indextoname(ifx, ifname))
        snprintf(ifname, sizeof(ifname), "#%u", ifx);
    p->direct_if = ifx;
    memcpy(p->direct_mac, mac, 6);
    p->direct_mode = (uint8_t)m;
    /* the firewall opens whatever clear-direct says here: the peer may send
     * directly even if we do not */
    r = nl_nft_table(VPXI_FW_TABLE);
    if (r == 0) {
        p->direct_fw = true;
        r = firewall(true, p, mac, m != MODE_ONLY);
        if (r == 0 && m != MODE_ALL)
            r = port_firewall(true, p, mac, m);
    } else if (r == -ENOENT) {
        r = 0; /* no node firewall: nothing to open */
    }
    if (r != 0) {
        unfirewall(ov, p, m);
        p->direct_fw = false;
        log_warn("%s: clear traffic to %s stays in ESP: node firewall: %s", ov->name, p->name,
                 strerror(-r));
        return;
    }
    p->direct = true;
    if (!ov->cfg.clear_direct) {
        log_info("%s: %s: accepting its direct traffic on %s; ours stays in ESP "
                 "(clear-direct = no)",
                 ov->name, p->name, ifname);
        return;
    }
    if ((r = svc_routes(true, ov, p)) == 0) {
        r = routes(true, ov, p, ifx, mac, m == MODE_ONLY ? DIRECT_TABLE : 0);
        if (r == 0 && m != MODE_ALL)
            r = port_rules(true, p, m);
        if (r != 0)
            unroute(ov, p, m);
    }
    if (r != 0) {
        log_warn("%s: clear traffic to %s stays in ESP: routes on %s: %s", ov->name, p->name,
                 ifname, strerror(-r));
        return;
    }
    p->direct_routes = true;
    log_info("%s: %s to %s: direct path on %s to %02x:%02x:%02x:%02x:%02x:%02x", ov->name,
             m == MODE_ALL      ? "clear link"
             : m == MODE_EXCEPT ? "clear link (except its protected port classes)"
                                : "clear port classes",
             p->name, ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

void direct_down(struct overlay *ov, struct peer *p)
{
    if (!p->direct)
        return;
    if (p->direct_routes)
        unroute(ov, p, p->direct_mode);
    if (p->direct_fw)
        unfirewall(ov, p, p->direct_mode);
    p->direct = p->direct_routes = p->direct_fw = false;
    log_info("%s: direct path to %s closed", ov->name, p->name);
}

const char *direct_path_name(const struct peer *p)
{
    if (!p->direct_routes)
        return "esp";
    return p->direct_mode == MODE_ALL      ? "kernel"
           : p->direct_mode == MODE_EXCEPT ? "kernel, protected ports esp"
                                           : "esp, clear ports kernel";
}
