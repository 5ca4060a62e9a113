/*
 * udp.h - the overlay's UDP socket (HIP and ESP on one port, RFC 5770 /
 * 9028 framing), with segmentation offload both ways: one sendmsg() carries
 * up to UDP_GSO_MAX equal-sized datagrams (UDP_SEGMENT), one recvmsg()
 * returns datagrams of one flow coalesced by the kernel (UDP_GRO).
 */
#ifndef VPXID_UDP_H
#define VPXID_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../config.h"

enum udp_limits {
    UDP_GSO_MAX = 64,        /* datagrams per sendmsg (kernel UDP_MAX_SEGMENTS) */
    UDP_BATCH_BYTES = 65000, /* bytes per GSO send (IPv4 limit 65507) or GRO receive */
    UDP_SOCKBUF = 8 << 20,   /* socket buffers */
};

struct udp {
    int fd;
    int family;
    bool gso, gro; /* offloads the kernel accepted */
};

int udp_open(struct udp *u, const struct cfg_addr *listen);
void udp_close(struct udp *u);
/* Sends len bytes as datagrams of seg bytes each (the last may be shorter).
 * seg == len sends one datagram. Returns 0 or -errno. */
int udp_send(struct udp *u, const struct cfg_addr *dst, const void *buf, size_t len, size_t seg);
/* Receives one batch; *seg is the datagram size (== *len for a single one).
 * Returns bytes or -errno. */
ssize_t udp_recv(struct udp *u, void *buf, size_t cap, size_t *seg, struct cfg_addr *src);

#endif
