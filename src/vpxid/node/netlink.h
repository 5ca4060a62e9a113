/*
 * netlink.h - the few rtnetlink and nf_tables operations vpxid needs: its TUN
 * device (link up with an MTU, addresses, routes of peers) and the direct
 * path of clear links (route lookup, neighbour entries, routes on the
 * underlay device, elements of the node firewall's sets).
 */
#ifndef VPXID_NETLINK_H
#define VPXID_NETLINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns 0 or -errno. */
int nl_link_up(const char *ifname, unsigned mtu);
int nl_addr_add(const char *ifname, int family, const void *addr, unsigned prefix);
int nl_route(bool add, const char *ifname, int family, const void *dst, unsigned prefix);
/* The kernel's route to dst (a host address): its output interface, and
 * whether it goes through a gateway. */
int nl_route_get(int family, const void *dst, unsigned *ifindex, bool *via_gateway);
/* The link-layer address of neighbour dst on ifindex, if the kernel has a
 * usable one (-ENOENT otherwise). */
int nl_neigh_get(int family, const void *dst, unsigned ifindex, uint8_t lladdr[6]);
/* Adds (permanent) or deletes the neighbour entry dst -> lladdr on ifindex. */
int nl_neigh(bool add, unsigned ifindex, int family, const void *dst, const uint8_t lladdr[6]);
/* Adds (replacing) or deletes the on-link route dst/prefix on ifindex in
 * routing table table (0: main), with preferred source address prefsrc
 * (may be NULL). */
int nl_route_dev(bool add, unsigned ifindex, int family, const void *dst, unsigned prefix,
                 const void *prefsrc, unsigned table);
/* Adds (-EEXIST if it is there) or deletes the policy rule "ipproto
 * IPPROTO sport|dport LO-HI lookup TABLE" at priority PRIORITY. */
int nl_rule(bool add, int family, unsigned table, unsigned priority, uint8_t ipproto, bool sport,
            uint16_t lo, uint16_t hi);
/* The same, for packets to one host address only ("to ADDR/32|128"). */
int nl_rule_to(bool add, int family, const void *to, unsigned table, unsigned priority,
               uint8_t ipproto, bool sport, uint16_t lo, uint16_t hi);
/* Adds or deletes one element (key of keylen octets, concatenations padded
 * as nf_tables does) of set SET in table inet TABLE. -ENOENT: no such table,
 * set or (deleting) element. */
int nl_nft_elem(bool add, const char *table, const char *set, const void *key, size_t keylen);
/* The same for an interval element [key, key_end] of an interval set. */
int nl_nft_range(bool add, const char *table, const char *set, const void *key, const void *key_end,
                 size_t keylen);
/* The counter of one element of set SET (declared with "counter"):
 * -ENOENT if there is no such element or it has no counter. */
int nl_nft_elem_counter(const char *table, const char *set, const void *key, size_t keylen,
                        uint64_t *packets, uint64_t *bytes);
/* 0 if table inet TABLE exists, -ENOENT if not. */
int nl_nft_table(const char *table);

#endif
