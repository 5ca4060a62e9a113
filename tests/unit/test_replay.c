/*
 * test_replay.c - the ESP anti-replay window (lib/esp/replay.c).
 *
 * Table-driven like WireGuard's counter.c selftest: T(seq, verdict) checks a
 * 64-bit sequence number and, when it is acceptable, records it as if its
 * ICV had verified. Then the ESN inference of RFC 4303 Appendix A in both
 * cases, across 2^32 and at 2^64 - 1, and differential runs against a naive
 * reference (a plain array of every number seen).
 */
#include "t.h"

#include "esp/replay.h"

enum {
    W = VPXI_ESP_REPLAY_WINDOW,
};

static struct vpxi_replay win;
static unsigned test_num;

static const char *verdict_name(enum vpxi_replay_verdict v)
{
    switch (v) {
    case VPXI_REPLAY_OK: return "OK";
    case VPXI_REPLAY_DUP: return "DUP";
    case VPXI_REPLAY_OLD: return "OLD";
    }
    return "?";
}

static void t_seq(int line, uint64_t seq, enum vpxi_replay_verdict want)
{
    enum vpxi_replay_verdict got = vpxi_replay_check(&win, seq);

    test_num++;
    t_checks++;
    if (got != want) {
        t_failures++;
        fprintf(stderr, "%s:%d: T(%" PRIu64 ") = %s, expected %s (top %" PRIu64 ")\n", __FILE__,
                line, seq, verdict_name(got), verdict_name(want), win.top);
    }
    if (got == VPXI_REPLAY_OK)
        vpxi_replay_update(&win, seq);
}

#define T_INIT()  vpxi_replay_init(&win)
#define T(seq, v) t_seq(__LINE__, (seq), VPXI_REPLAY_##v)

static void test_window_edges(void)
{
    const uint64_t max = UINT64_MAX;

    T_INIT();
    T(0, OLD); /* never sent: the first packet is 1 */
    T(1, OK);
    T(1, DUP);
    T(9, OK);
    T(8, OK);
    T(7, OK);
    T(7, DUP);
    T(W + 1, OK); /* window is now [2, W + 1] */
    T(1, OLD);    /* just left of it */
    T(2, OK);     /* its left edge */
    T(2, DUP);
    T(W, OK);
    T(W, DUP);
    T(W - 1, OK);
    T(W + 17, OK); /* window [18, W + 17] */
    T(9, OLD);
    T(17, OLD);
    T(18, OK);
    T(W + 17, DUP);
    T(4 * W, OK);           /* a jump of several windows */
    T(4 * W - (W - 1), OK); /* left edge */
    T(10, OLD);
    T(4 * W - W, OLD);
    T(4 * W - (W + 1), OLD);
    T(4 * W - (W - 2), OK);
    T(4 * W + 1 - W, DUP); /* the left edge again */
    T(0, OLD);
    T(4 * W + 64, OK); /* exactly one word to the right */
    T(4 * W + 63, OK);
    T(4 * W + 64 - W, OLD);
    T(4 * W + 65 - W, OK);
    /* the top of the 64-bit space */
    T(max - 1, OK);
    T(max, OK);
    T(max, DUP);
    T(max - 1, DUP);
    T(max - 2, OK);
    T(max - W, OLD);
    T(max - W + 1, OK);
    T(max - W + 1, DUP);
    T(0, OLD);
    CHECK_EQ(win.top, max);
}

static void test_window_fill(void)
{
    uint64_t i;

    /* every number of a full window, in order, then again */
    T_INIT();
    for (i = 1; i <= W; i++)
        T(i, OK);
    for (i = 1; i <= W; i++)
        T(i, DUP);
    T(W + 1, OK);
    T(1, OLD);
    T(2, DUP);

    /* descending: each is inside the window set by the first */
    T_INIT();
    for (i = W; i >= 1; i--)
        T(i, OK);
    T(W, DUP);
    T(1, DUP);

    T_INIT();
    for (i = W + 1; i >= 2; i--)
        T(i, OK);
    T(1, OLD);
    T(W + 2, OK);
    T(2, OLD);
    T(3, DUP);

    /* word boundaries: the ring wraps many times without losing a bit */
    T_INIT();
    for (i = 1; i <= 20 * W; i += 63)
        T(i, OK);
    for (i = 20 * W - (W - 1); i <= 20 * W; i++)
        t_seq(__LINE__, i, (i - 1) % 63 == 0 ? VPXI_REPLAY_DUP : VPXI_REPLAY_OK);
    T(20 * W - W, OLD);
    CHECK_EQ(win.top, 20 * W);
}

/* ESN inference: E(top, seql, expected 64-bit seq, or 0 when rejected). */
static void t_esn(int line, uint64_t top, uint32_t seql, uint64_t want)
{
    struct vpxi_replay w;
    uint64_t got = 1;
    bool ok;

    vpxi_replay_init(&w);
    if (top)
        vpxi_replay_update(&w, top);
    ok = vpxi_replay_esn(&w, seql, &got);
    t_checks++;
    if (ok != (want != 0) || got != want) {
        t_failures++;
        fprintf(stderr,
                "%s:%d: esn(top %#" PRIx64 ", seql %#x) = %s %#" PRIx64 ", expected %#" PRIx64 "\n",
                __FILE__, line, top, seql, ok ? "ok" : "rejected", got, want);
    }
}

#define E(top, seql, want) t_esn(__LINE__, (top), (seql), (want))

static void test_esn(void)
{
    const uint64_t s32 = UINT64_C(1) << 32;

    /* start of the SA: T = 0 lies in case B, with no subspace before 0 */
    E(0, 1, 1);
    E(0, 0, 0);
    E(0, UINT32_MAX, 0);
    E(0, (uint32_t)(s32 - (W - 1)), 0); /* the wrapped left edge */
    E(0, (uint32_t)(s32 - W), s32 - W); /* just below it: far ahead in subspace 0 */
    E(5, 3, 3);
    E(5, 0, 0);

    /* case A: Tl >= W - 1, window [Tl - W + 1, Tl] inside subspace Th */
    E(s32 + 5000, 5000, s32 + 5000);
    E(s32 + 5000, 5000 - (W - 1), s32 + 5000 - (W - 1));
    E(s32 + 5000, 5000 - W, 2 * s32 + 5000 - W); /* below: next subspace */
    E(s32 + 5000, 0, 2 * s32);
    E(s32 + 5000, UINT32_MAX, 2 * s32 - 1); /* above: ahead, same subspace */
    E(W - 1, 0, 0);                         /* Tl = W - 1: bottom is 0 */
    E(s32 + W - 1, 0, s32);
    E(s32 + W - 1, UINT32_MAX, 2 * s32 - 1);
    E(s32 + W, 0, 2 * s32);

    /* case B: Tl < W - 1, the window starts in subspace Th - 1 */
    E(s32 + 100, (uint32_t)(100 - (W - 1)), s32 + 100 - (W - 1));
    E(s32 + 100, UINT32_MAX, s32 - 1);
    E(s32 + 100, 0, s32);
    E(s32 + 100, 50, s32 + 50);
    E(s32 + 100, (uint32_t)(100 - W), 2 * s32 + 100 - W); /* ahead in Th */
    E(s32 + W - 2, UINT32_MAX, s32 - 1);
    E(s32 + W - 2, 0, s32);
    E(s32, UINT32_MAX, s32 - 1);
    E(s32, 1, s32 + 1);

    /* the last subspace: nothing after it */
    E(UINT64_MAX - 10, UINT32_MAX, UINT64_MAX);
    E(UINT64_MAX - 10, 5, 0);
    E(UINT64_MAX - 10, UINT32_MAX - 10 - (W - 1), UINT64_MAX - 10 - (W - 1));
    E(UINT64_MAX - 10, UINT32_MAX - 10 - W, 0);
}

/* Across 2^32 with reordering: case A turns into case B and back. */
static void test_esn_wrap(void)
{
    static const struct {
        uint32_t seql;
        uint64_t seq; /* expected inference */
        enum vpxi_replay_verdict v;
    } steps[] = {
        { 0xfffffff0, 0xfffffff0, VPXI_REPLAY_OK },
        { 2, 0x100000002, VPXI_REPLAY_OK },         /* case A: next subspace */
        { 0xffffffff, 0xffffffff, VPXI_REPLAY_OK }, /* case B: previous subspace */
        { 0xfffffff0, 0xfffffff0, VPXI_REPLAY_DUP },
        { 0, 0x100000000, VPXI_REPLAY_OK }, /* 2^32 is a valid number */
        { 2, 0x100000002, VPXI_REPLAY_DUP },
        { 1, 0x100000001, VPXI_REPLAY_OK },
        { 0xfffff003, 0xfffff003, VPXI_REPLAY_OK }, /* T - W + 1: the left edge */
        { 0xfffff003, 0xfffff003, VPXI_REPLAY_DUP },
        { W - 2, 0x100000000 + W - 2, VPXI_REPLAY_OK }, /* Tl = W - 2: still case B */
        { 0xffffffff, 0xffffffff, VPXI_REPLAY_DUP },
        { W - 1, 0x100000000 + W - 1, VPXI_REPLAY_OK }, /* Tl = W - 1: case A again */
        { 0xffffffff, 0x1ffffffff, VPXI_REPLAY_OK },    /* so this is ahead now */
    };
    size_t i;

    T_INIT();
    vpxi_replay_update(&win, 0xffffff00);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        uint64_t seq = 0;
        CHECK(vpxi_replay_esn(&win, steps[i].seql, &seq));
        CHECK_EQ(seq, steps[i].seq);
        t_seq(__LINE__, seq, steps[i].v);
    }
    CHECK_EQ(win.top, 0x1ffffffff);
}

/* xorshift64*: deterministic pseudo-random numbers */
static uint64_t rng_state = 0x9e3779b97f4a7c15;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1d;
}

/* The naive reference: every number ever accepted, and the top. */
enum { REF_MAX = 1 << 24 };

static enum vpxi_replay_verdict ref_check(const uint8_t *seen, uint64_t top, uint64_t seq)
{
    if (seq == 0)
        return VPXI_REPLAY_OLD;
    if (seq > top)
        return VPXI_REPLAY_OK;
    if (top - seq >= W)
        return VPXI_REPLAY_OLD;
    return seen[seq] ? VPXI_REPLAY_DUP : VPXI_REPLAY_OK;
}

static void test_differential(void)
{
    uint8_t *seen = calloc(REF_MAX + 1, 1);
    uint64_t top = 0, next = 1, mism = 0;
    unsigned n = 0;

    CHECK(seen != NULL);
    if (!seen)
        return;
    T_INIT();
    while (next < REF_MAX - 2 * W) {
        uint64_t r = rnd(), seq;
        enum vpxi_replay_verdict a, b;

        /* mostly in order; some reordering and duplicates, the left edge,
         * and now and then a jump of up to two windows */
        switch (r % 64) {
        case 0: seq = next > W ? next - W + r % 8 : next; break;
        case 1:
        case 2:
        case 3: seq = next - 1 - (r >> 8) % (2 * W); break; /* wraps if next is small */
        case 4: seq = next + (r >> 8) % (2 * W); break;
        default: seq = next + (r >> 8) % 4; break;
        }
        if (seq == 0 || seq > REF_MAX)
            seq = next;
        a = vpxi_replay_check(&win, seq);
        b = ref_check(seen, top, seq);
        if (a != b)
            mism++;
        if (b == VPXI_REPLAY_OK) {
            vpxi_replay_update(&win, seq);
            seen[seq] = 1;
            if (seq > top)
                top = seq;
        }
        if (seq >= next)
            next = seq + 1;
        n++;
    }
    CHECK_EQ(mism, 0);
    CHECK_EQ(win.top, top);
    CHECK(n > 100000);
    free(seen);
}

/* Every number within [T - W + 1, T + 2^32 - W] is inferred from its low half. */
static void test_esn_property(void)
{
    unsigned i, bad = 0;

    for (i = 0; i < 200000; i++) {
        struct vpxi_replay w;
        uint64_t top = rnd() >> (rnd() % 64), s, got = 0;
        int64_t d;

        if (i % 4 == 0)
            top = (rnd() % 8) << 32 | (uint32_t)(rnd() % (2 * W)); /* near a boundary */
        d = (int64_t)(rnd() % ((UINT64_C(1) << 32) - 1)) - (W - 1);
        vpxi_replay_init(&w);
        if (top)
            vpxi_replay_update(&w, top);
        s = top + (uint64_t)d;
        if ((d < 0 && (uint64_t)-d > top) || (d > 0 && s < top) || s == 0)
            continue; /* outside the 64-bit space */
        if (!vpxi_replay_esn(&w, (uint32_t)s, &got) || got != s)
            bad++;
    }
    CHECK_EQ(bad, 0);
}

int main(void)
{
    RUN(test_window_edges);
    RUN(test_window_fill);
    RUN(test_esn);
    RUN(test_esn_wrap);
    RUN(test_differential);
    RUN(test_esn_property);
    fprintf(stderr, "%u table entries\n", test_num);
    T_DONE();
}
