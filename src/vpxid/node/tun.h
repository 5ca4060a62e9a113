/*
 * tun.h - the overlay's TUN device: IFF_VNET_HDR with TSO/checksum offloads
 * (reads deliver up to 64 KB TCP super-packets behind a virtio_net_hdr;
 * writes may carry coalesced super-packets), one file descriptor per queue
 * (IFF_MULTI_QUEUE) so that each datapath thread has its own.
 */
#ifndef VPXID_TUN_H
#define VPXID_TUN_H

#include <stdbool.h>
#include <stddef.h>

enum tun_limits {
    TUN_QUEUES_MAX = 8,
    TUN_VNET_HDR_LEN = 10, /* sizeof(struct virtio_net_hdr) */
    TUN_READ_MAX = 65536 + TUN_VNET_HDR_LEN,
};

struct tun {
    char name[16];
    int fd[TUN_QUEUES_MAX];
    unsigned nqueues;
    bool offload; /* TSO/CSUM offloads are on */
};

/* Creates (or attaches to) the device with n queues. 0 or -errno. */
int tun_open(struct tun *t, const char *name, unsigned nqueues);
void tun_close(struct tun *t);

#endif
