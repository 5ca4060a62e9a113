/*
 * msgq.c - datapath-to-control message queue.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vpxi/alloc.h"

#include "msgq.h"

int msgq_init(struct msgq *q)
{
    memset(q, 0, sizeof(*q));
    if ((q->slots = vpxi_calloc(MSGQ_SLOTS, sizeof(*q->slots))) == NULL)
        return -1;
    if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        vpxi_free(q->slots);
        return -1;
    }
    pthread_mutex_init(&q->lock, NULL);
    return 0;
}

void msgq_clear(struct msgq *q)
{
    if (!q->slots)
        return;
    close(q->efd);
    pthread_mutex_destroy(&q->lock);
    vpxi_free(q->slots);
    q->slots = NULL;
}

bool msgq_push(struct msgq *q, enum msg_type type, const uint8_t *hit, uint32_t spi,
               const struct sockaddr_storage *src, const void *data, size_t len)
{
    struct msg *m;
    bool wake;

    if (len > sizeof(m->data))
        return false;
    pthread_mutex_lock(&q->lock);
    if (q->count == MSGQ_SLOTS) {
        q->dropped++;
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    m = &q->slots[(q->head + q->count) % MSGQ_SLOTS];
    m->type = type;
    if (hit)
        memcpy(m->hit, hit, 16);
    else
        memset(m->hit, 0, 16);
    m->spi = spi;
    if (src)
        m->src = *src;
    else
        memset(&m->src, 0, sizeof(m->src));
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    wake = q->count++ == 0;
    pthread_mutex_unlock(&q->lock);
    if (wake) {
        uint64_t one = 1;
        (void)!write(q->efd, &one, sizeof(one));
    }
    return true;
}

bool msgq_pop(struct msgq *q, struct msg *m)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == 0) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    *m = q->slots[q->head];
    q->head = (q->head + 1) % MSGQ_SLOTS;
    q->count--;
    pthread_mutex_unlock(&q->lock);
    return true;
}
