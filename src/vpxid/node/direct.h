/*
 * direct.h - the direct path of clear links.
 *
 * A link whose policy is `clear` has no protection to give. When the peer's
 * locator is a neighbour on the underlay (one layer-2 segment: nodes of one
 * site on their host agent's bridge), carrying its traffic through TUN,
 * ESP framing and UDP only costs CPU. Once the association is up with the
 * clear suite, the node instead routes the peer's overlay addresses (its
 * HIT and overlay IPv4) straight to the peer's link-layer address on the
 * underlay device, with our own overlay addresses as sources, and opens the
 * node firewall for exactly that peer: its overlay addresses from its MAC
 * address in, its overlay addresses out. The association still decides:
 * when it ends (authorization ended, CLOSE, failure, policy change), the
 * routes return to the TUN (or go) and the firewall closes again.
 *
 * The host agent's node firewall (table inet VPXI_FW_TABLE) declares the
 * sets; a node without that table has no firewall to open.
 */
#ifndef VPXID_DIRECT_H
#define VPXID_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

#define VPXI_FW_TABLE    "vpxi"
#define VPXI_FW_SET_IN4  "direct-in4"  /* ipv4_addr . ether_addr: peer overlay IPv4, its MAC */
#define VPXI_FW_SET_IN6  "direct-in6"  /* ipv6_addr . ether_addr: peer HIT, its MAC */
#define VPXI_FW_SET_OUT4 "direct-out4" /* ipv4_addr */
#define VPXI_FW_SET_OUT6 "direct-out6" /* ipv6_addr */
/* address . ether_addr . inet_proto . inet_service, intervals: port classes */
#define VPXI_FW_SET_PORTS4 "direct-ports-in4" /* clear classes of a protected link */
#define VPXI_FW_SET_PORTS6 "direct-ports-in6"
#define VPXI_FW_SET_DENY4  "direct-deny-in4" /* protected classes of a clear link */
#define VPXI_FW_SET_DENY6  "direct-deny-in6"

struct overlay;
struct peer;

/* After an association comes up: if its SA is clear and the peer is
 * on-link, opens the firewall for the peer's direct traffic and, if the
 * overlay's clear-direct allows it, routes ours there too; otherwise (or
 * if that fails, logged) p stays on ESP. */
void direct_up(struct overlay *ov, struct peer *p);
/* "kernel", "esp", or a mix with port classes, for status. */
const char *direct_path_name(const struct peer *p);
/* What the node firewall counted on p's direct path (its set elements
 * carry counters): -ENOENT if p is not on it or there is no firewall. */
struct direct_counters {
    uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};
int direct_counters(const struct peer *p, struct direct_counters *c);
/* Leaves the direct path: the peer's routes go back to the TUN when
 * p->routes says they should exist, and the firewall closes for it. */
void direct_down(struct overlay *ov, struct peer *p);

#endif
