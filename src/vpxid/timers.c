/*
 * timers.c - a binary min-heap of timers, ordered by expiry.
 *
 * Every timer vpxid arms, and what it does when it fires:
 *  - overlay.hip: the HIP library's next deadline (retransmission of I1, I2,
 *    UPDATE and CLOSE with exponential back-off, R1 and puzzle secret
 *    rotation, closing-state expiry); fires vpxi_hip_timer().
 *  - peer.expire: the instant an association's SPKI authorization ends
 *    (reduced not-after): CLOSE to the peer, ESP SAs deleted, traffic stops.
 *  - peer.rekey: an SA's age or volume reaches the rekey threshold: UPDATE
 *    with new ESP_INFO and a fresh DH.
 *  - peer.retire: old SAs kept after a rekey until traffic arrives on the
 *    new inbound SA (or this grace period ends); then they are deleted.
 *  - overlay.connect: static peers without an association are retried with
 *    back-off (I1).
 *  - daemon.chain: the local certificate chain is re-read when it changes
 *    (renewal delivered to peers by UPDATE, no new base exchange).
 *  - daemon.stats: periodic datapath statistics for the log (debug level).
 */
#include <stdlib.h>

#include "vpxi/alloc.h"

#include "timers_int.h"

static bool before(const struct timer *a, const struct timer *b)
{
    return a->when_ms < b->when_ms;
}

static void place(struct timer_heap *th, size_t i, struct timer *t)
{
    th->h[i] = t;
    t->idx = (long)i;
}

static void sift_up(struct timer_heap *th, size_t i)
{
    struct timer *t = th->h[i];

    while (i > 0 && before(t, th->h[(i - 1) / 2])) {
        place(th, i, th->h[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(th, i, t);
}

static void sift_down(struct timer_heap *th, size_t i)
{
    struct timer *t = th->h[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= th->n)
            break;
        if (c + 1 < th->n && before(th->h[c + 1], th->h[c]))
            c++;
        if (!before(th->h[c], t))
            break;
        place(th, i, th->h[c]);
        i = c;
    }
    place(th, i, t);
}

int timer_heap_insert(struct timer_heap *th, struct timer *t)
{
    if (th->n == th->cap) {
        size_t ncap = th->cap ? th->cap * 2 : 64;
        struct timer **nh = vpxi_realloc(th->h, ncap * sizeof(*nh));
        if (!nh)
            return -1;
        th->h = nh;
        th->cap = ncap;
    }
    th->h[th->n++] = t;
    sift_up(th, th->n - 1);
    return 0;
}

void timer_heap_remove(struct timer_heap *th, struct timer *t)
{
    size_t i = (size_t)t->idx;
    struct timer *last;

    if (t->idx < 0 || i >= th->n || th->h[i] != t)
        return;
    t->idx = -1;
    last = th->h[--th->n];
    if (i == th->n)
        return;
    place(th, i, last);
    if (i > 0 && before(last, th->h[(i - 1) / 2]))
        sift_up(th, i);
    else
        sift_down(th, i);
}

struct timer *timer_heap_top(const struct timer_heap *th)
{
    return th->n ? th->h[0] : NULL;
}

void timer_heap_clear(struct timer_heap *th)
{
    for (size_t i = 0; i < th->n; i++)
        th->h[i]->idx = -1;
    vpxi_free(th->h);
    th->h = NULL;
    th->n = th->cap = 0;
}
