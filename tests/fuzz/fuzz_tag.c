/*
 * fuzz_tag.c - libFuzzer target for the tag algebra (lib/trust/tag.c).
 *
 * Input format: part1 || 0x00 0x00 || part2, split at the first pair of zero
 * octets; each part is one canonical S-expression (a tag body, without the
 * (tag ...) wrapper). Without a separator both tags are the whole input. The
 * seed corpus is tests/fuzz/corpus/tag/.
 *
 * Invariants checked (abort on violation):
 *   - a malformed tag gives VPXI_ERR_BAD_TAG from intersect and implies, in
 *     either position; well-formed tags never do;
 *   - a ∩ b and b ∩ a are both empty or both not;
 *   - a result passes vpxi_tag_check and is implied by both operands (the
 *     brief requires it for constant results; it holds for all of them);
 *   - every tag implies itself, and (*) ∩ a is empty iff a ∩ a is;
 *   - if a implies b and b is not empty, a ∩ b is not empty.
 * Refusals for size (TOO_LARGE, TOO_DEEP) are skipped, not failures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/sexp.h"
#include "vpxi/tag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct vpxi_sexp_limits fuzz_limits = {
    .atom_max = 64,
    .list_max = 64,
    .depth_max = 80, /* above the tag depth cap, so the cap is reachable */
    .nodes_max = 1024,
    .input_max = 8192,
};

#define INVARIANT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_tag: invariant failed at line %d: %s\n", __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Refusals for size, not answers: over the work or memory budget, or a
 * result that would nest deeper than the tag depth cap. */
static bool skip(int r)
{
    return r == VPXI_ERR_TOO_LARGE || r == VPXI_ERR_TOO_DEEP || r == VPXI_ERR_NOMEM;
}

/* Intersection outcome: 0 or VPXI_ERR_TAG_EMPTY for well-formed operands. */
static int meet(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                struct vpxi_sexp **c)
{
    int r = vpxi_tag_intersect(sx, a, b, c);

    INVARIANT(r == 0 || r == VPXI_ERR_TAG_EMPTY || skip(r));
    INVARIANT((r == 0) == (*c != NULL));
    return r;
}

static void one(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                const struct vpxi_sexp *star)
{
    struct vpxi_sexp *ab, *ba, *aa, *sa;
    int r1 = meet(sx, a, b, &ab), r2 = meet(sx, b, a, &ba), ri, ra, rb;

    if (skip(r1) || skip(r2))
        return;
    INVARIANT(r1 == r2);
    if (r1 == 0) {
        INVARIANT(vpxi_tag_check(ab) == 0);
        ra = vpxi_tag_implies(a, ab);
        rb = vpxi_tag_implies(b, ab);
        INVARIANT(ra == 0 || skip(ra));
        INVARIANT(rb == 0 || skip(rb));
    }
    ri = vpxi_tag_implies(a, b);
    INVARIANT(ri == 0 || ri == VPXI_ERR_NOT_AUTHORIZED || skip(ri));
    if (ri == 0 && meet(sx, star, b, &sa) == 0)
        INVARIANT(r1 == 0);
    ra = vpxi_tag_implies(a, a);
    INVARIANT(ra == 0 || skip(ra));
    r1 = meet(sx, a, a, &aa);
    r2 = meet(sx, star, a, &sa);
    if (!skip(r1) && !skip(r2))
        INVARIANT(r1 == r2);
}

/* A malformed operand is reported as such, whatever the other one is. */
static void malformed(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b)
{
    struct vpxi_sexp *c;

    INVARIANT(vpxi_tag_intersect(sx, a, b, &c) == VPXI_ERR_BAD_TAG && c == NULL);
    INVARIANT(vpxi_tag_intersect(sx, b, a, &c) == VPXI_ERR_BAD_TAG && c == NULL);
    INVARIANT(vpxi_tag_implies(a, b) == VPXI_ERR_BAD_TAG);
    INVARIANT(vpxi_tag_implies(b, a) == VPXI_ERR_BAD_TAG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *a = NULL, *b = NULL, *star = NULL;
    size_t split = size, rest = 0;
    int ca, cb;

    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == 0 && data[i + 1] == 0) {
            split = i;
            rest = i + 2;
            break;
        }
    if (!sx)
        return 0;
    if (vpxi_sexp_parse_canonical(sx, data, split, &fuzz_limits, &a, NULL) != 0)
        goto out;
    if (rest == 0)
        b = a;
    else if (vpxi_sexp_parse_canonical(sx, data + rest, size - rest, &fuzz_limits, &b, NULL) != 0)
        goto out;
    if (vpxi_sexp_parse_canonical(sx, (const uint8_t *)"(1:*)", 5, NULL, &star, NULL) != 0)
        goto out;
    ca = vpxi_tag_check(a);
    cb = vpxi_tag_check(b);
    INVARIANT(ca == 0 || ca == VPXI_ERR_BAD_TAG);
    INVARIANT(cb == 0 || cb == VPXI_ERR_BAD_TAG);
    if (ca != 0)
        malformed(sx, a, cb == 0 ? b : a);
    else if (cb != 0)
        malformed(sx, b, a);
    else
        one(sx, a, b, star);
out:
    vpxi_sx_free(sx);
    return 0;
}
