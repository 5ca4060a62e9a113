/*
 * msgq.h - a bounded queue from the datapath threads to the control thread,
 * with an eventfd to wake the loop. A full queue drops (and counts) new
 * messages: the datapath never blocks on the control plane.
 */
#ifndef VPXID_MSGQ_H
#define VPXID_MSGQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vpxi/hip.h"

enum msg_type {
    MSG_HIP = 1,  /* a HIP packet (after the UDP marker) */
    MSG_ESP_SEEN, /* first authenticated packet on inbound SA spi, from src */
    MSG_ADDR,     /* authenticated ESP from a new source address */
    MSG_CONNECT,  /* traffic for a peer without SA */
    MSG_REKEY,    /* outbound SA reached its soft limit */
};

enum { MSGQ_SLOTS = 512 };

struct msg {
    enum msg_type type;
    uint8_t hit[16];
    uint32_t spi;
    struct sockaddr_storage src;
    size_t len;
    uint8_t data[VPXI_HIP_PACKET_MAX];
};

struct msgq {
    pthread_mutex_t lock;
    struct msg *slots;
    size_t head, count;
    int efd;
    uint64_t dropped;
};

int msgq_init(struct msgq *q);
void msgq_clear(struct msgq *q);
/* false if the queue is full (the message is dropped). */
bool msgq_push(struct msgq *q, enum msg_type type, const uint8_t *hit, uint32_t spi,
               const struct sockaddr_storage *src, const void *data, size_t len);
/* Copies the oldest message out; false when empty. */
bool msgq_pop(struct msgq *q, struct msg *m);

#endif
