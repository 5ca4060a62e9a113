/*
 * replay.h - the ESP anti-replay window with 64-bit sequence numbers
 * (RFC 4303 section 3.4.3 and Appendix A). Internal to lib/esp.
 *
 * The window accepts the VPXI_ESP_REPLAY_WINDOW sequence numbers ending at
 * the highest authenticated one (T) and anything above T. Its bitmap is a
 * ring of 64-bit words with one spare word, as WireGuard's counter.c: moving
 * the right edge clears whole words and never touches a bit still inside the
 * window, so no bit shifting is needed.
 *
 * Use: vpxi_replay_esn() to rebuild the 64-bit number from the 32 bits on the
 * wire, vpxi_replay_check() before the ICV (no state change), and
 * vpxi_replay_update() only after the packet has been authenticated.
 */
#ifndef VPXI_ESP_REPLAY_H
#define VPXI_ESP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "vpxi/esp.h"

enum vpxi_replay_limits {
    VPXI_REPLAY_WORD_BITS = 64,
    /* one spare word so that the ring always holds the whole window */
    VPXI_REPLAY_WORDS = VPXI_ESP_REPLAY_WINDOW / VPXI_REPLAY_WORD_BITS + 1,
};

struct vpxi_replay {
    uint64_t top;                     /* T: highest authenticated seq, 0 = none yet */
    uint64_t bits[VPXI_REPLAY_WORDS]; /* bit seq % 64 of word (seq / 64) % WORDS */
};

enum vpxi_replay_verdict {
    VPXI_REPLAY_OK = 0, /* new: may be accepted once authenticated */
    VPXI_REPLAY_DUP,    /* inside the window and already seen */
    VPXI_REPLAY_OLD,    /* left of the window, or a number that cannot exist (0) */
};

void vpxi_replay_init(struct vpxi_replay *w);

/*
 * The 64-bit sequence number of a packet carrying the low 32 bits seql,
 * inferred from T as in RFC 4303 Appendix A (case A: the window lies inside
 * one 2^32 subspace; case B: it spans two). False when the inferred high
 * half would fall before the first subspace or after the last: such a
 * packet is old (or forged) and is dropped before any cryptography.
 */
bool vpxi_replay_esn(const struct vpxi_replay *w, uint32_t seql, uint64_t *seq);

/* Verdict for a 64-bit sequence number; changes nothing. */
enum vpxi_replay_verdict vpxi_replay_check(const struct vpxi_replay *w, uint64_t seq);

/* Records an authenticated packet. Precondition: vpxi_replay_check() said OK. */
void vpxi_replay_update(struct vpxi_replay *w, uint64_t seq);

#endif
