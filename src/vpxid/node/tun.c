/*
 * tun.c - TUN device with virtio_net_hdr offloads.
 *
 * With IFF_VNET_HDR and TUNSETOFFLOAD(CSUM | TSO4 | TSO6) the kernel hands
 * us TCP segments up to 64 KB with partial checksums, describing them in a
 * 10-byte struct virtio_net_hdr; node/offload.c cuts them into MTU-sized
 * packets. Without offloads (an old kernel) everything still works one
 * packet per read.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../log.h"
#include "tun.h"

static int open_queue(const char *name, char *actual)
{
    struct ifreq ifr;
    int fd, hdrlen = TUN_VNET_HDR_LEN;

    if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    snprintf(actual, IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

int tun_open(struct tun *t, const char *name, unsigned nqueues)
{
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    char actual[IFNAMSIZ];

    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < TUN_QUEUES_MAX; i++)
        t->fd[i] = -1;
    if (nqueues == 0 || nqueues > TUN_QUEUES_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < nqueues; i++) {
        int fd = open_queue(i ? t->name : name, actual);
        if (fd < 0) {
            tun_close(t);
            return fd;
        }
        t->fd[i] = fd;
        t->nqueues++;
        snprintf(t->name, sizeof(t->name), "%s", actual);
    }
    /* offloads are per device; set through the first queue */
    if (ioctl(t->fd[0], TUNSETOFFLOAD, off) == 0)
        t->offload = true;
    else
        log_warn("%s: TUN offloads unavailable (%s): one packet per read", t->name,
                 strerror(errno));
    return 0;
}

void tun_close(struct tun *t)
{
    for (unsigned i = 0; i < TUN_QUEUES_MAX; i++)
        if (t->fd[i] >= 0) {
            close(t->fd[i]);
            t->fd[i] = -1;
        }
    t->nqueues = 0;
}
