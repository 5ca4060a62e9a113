/*
 * replay.c - ESP anti-replay window (RFC 4303 Appendix A) over a ring of
 * 64-bit words, in the manner of WireGuard's counter.c.
 *
 * Invariant: for every s with T - W < s <= T (W = VPXI_ESP_REPLAY_WINDOW),
 * bit s of the ring is set iff s was accepted. The ring holds W + 64 bits;
 * when T moves right, the words between the old and the new T's word are
 * cleared. Those ring slots last held words at least WORDS words below the
 * new T's word, i.e. entirely left of the new window, so nothing inside the
 * window is lost (see test_replay.c for the edges).
 */
#include <stddef.h>
#include <string.h>

#include "esp/replay.h"

enum {
    RING_BITS = VPXI_REPLAY_WORDS * VPXI_REPLAY_WORD_BITS,
};

_Static_assert(VPXI_ESP_REPLAY_WINDOW % VPXI_REPLAY_WORD_BITS == 0,
               "the window is a whole number of words");
_Static_assert(RING_BITS >= VPXI_ESP_REPLAY_WINDOW + VPXI_REPLAY_WORD_BITS,
               "the ring holds the window plus one spare word");

void vpxi_replay_init(struct vpxi_replay *w)
{
    memset(w, 0, sizeof(*w));
}

bool vpxi_replay_esn(const struct vpxi_replay *w, uint32_t seql, uint64_t *seq)
{
    const uint32_t wsize = VPXI_ESP_REPLAY_WINDOW;
    uint32_t th = (uint32_t)(w->top >> 32), tl = (uint32_t)w->top;
    uint32_t bottom = tl - (wsize - 1); /* Tl - W + 1, mod 2^32 */
    uint32_t seqh;

    *seq = 0;
    if (tl >= wsize - 1) {
        /* Case A: the window [bottom, Tl] lies inside subspace Th. Below
         * bottom means the sender has moved on to subspace Th + 1. */
        if (seql >= bottom)
            seqh = th;
        else if (th == UINT32_MAX)
            return false;
        else
            seqh = th + 1;
    } else {
        /* Case B: the window starts in subspace Th - 1 (at bottom, which
         * wrapped) and ends in Th. At or above bottom is the old subspace. */
        if (seql < bottom)
            seqh = th;
        else if (th == 0)
            return false; /* there is no subspace before the first */
        else
            seqh = th - 1;
    }
    *seq = (uint64_t)seqh << 32 | seql;
    return *seq != 0;
}

static size_t word_of(uint64_t seq)
{
    return (size_t)((seq / VPXI_REPLAY_WORD_BITS) % VPXI_REPLAY_WORDS);
}

static uint64_t bit_of(uint64_t seq)
{
    return UINT64_C(1) << (seq % VPXI_REPLAY_WORD_BITS);
}

enum vpxi_replay_verdict vpxi_replay_check(const struct vpxi_replay *w, uint64_t seq)
{
    if (seq == 0)
        return VPXI_REPLAY_OLD; /* the first packet of an SA carries 1 */
    if (seq > w->top)
        return VPXI_REPLAY_OK;
    if (w->top - seq >= VPXI_ESP_REPLAY_WINDOW)
        return VPXI_REPLAY_OLD;
    if (w->bits[word_of(seq)] & bit_of(seq))
        return VPXI_REPLAY_DUP;
    return VPXI_REPLAY_OK;
}

void vpxi_replay_update(struct vpxi_replay *w, uint64_t seq)
{
    if (seq > w->top) {
        uint64_t cur = w->top / VPXI_REPLAY_WORD_BITS, next = seq / VPXI_REPLAY_WORD_BITS;
        uint64_t n = next - cur, i;

        if (n > VPXI_REPLAY_WORDS)
            n = VPXI_REPLAY_WORDS;
        for (i = 1; i <= n; i++)
            w->bits[(cur + i) % VPXI_REPLAY_WORDS] = 0;
        w->top = seq;
    }
    w->bits[word_of(seq)] |= bit_of(seq);
}
