/*
 * netlink.h - the few rtnetlink operations vpxid needs to set up its TUN
 * device: bring a link up with an MTU, add addresses, add and remove routes.
 */
#ifndef VPXID_NETLINK_H
#define VPXID_NETLINK_H

#include <netinet/in.h>
#include <stdbool.h>

/* Each returns 0 or -errno. */
int nl_link_up(const char *ifname, unsigned mtu);
int nl_addr_add(const char *ifname, int family, const void *addr, unsigned prefix);
int nl_route(bool add, const char *ifname, int family, const void *dst, unsigned prefix);

#endif
