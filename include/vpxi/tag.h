/*
 * tag.h - the SPKI tag algebra (RFC 2693 section 6.3.1; the SPKI structure
 * draft): intersection and implication of authorization tags.
 *
 * A tag here is the body X of (tag X). Forms:
 *   (*)                                  everything
 *   atom                                 exactly that octet string (hint included)
 *   (head elem...)                       a list; a longer list is more specific:
 *                                        (ftp (host h)) grants (ftp (host h) (dir /p))
 *   (* set t...)                         union of its members
 *   (* prefix s)                         all atoms that start with s
 *   (* range ORD [g|ge LO] [l|le HI])    atoms within bounds under ordering ORD:
 *       alpha    octet-wise lexicographic
 *       numeric  decimal numbers (sign and fraction allowed), compared exactly
 *       binary   unsigned big-endian integers (leading zero octets ignored)
 *       time     HH:MM:SS, compared as time of day
 *       date     YYYY-MM-DD_HH:MM:SS, chronological
 * Display hints are significant: [h]x and x are different atoms.
 *
 * Every function may also refuse (never grant) with VPXI_ERR_TOO_LARGE (a
 * result set beyond 4096 members, or the per-call work cap of 2^25 steps /
 * 64 MiB), VPXI_ERR_TOO_DEEP (a result nested deeper than the input cap) or
 * VPXI_ERR_NOMEM. Results share nodes with their inputs: do not modify them,
 * and keep the inputs' arenas alive as long as the result.
 */
#ifndef VPXI_TAG_H
#define VPXI_TAG_H

#include <stdbool.h>

#include "vpxi/err.h"

struct vpxi_sx;
struct vpxi_sexp;

/* Checks a tag against the grammar: 0 or VPXI_ERR_BAD_TAG. */
int vpxi_tag_check(const struct vpxi_sexp *t) VPXI_WUR;

/*
 * *out = a ∩ b, allocated in sx (it may share structure with a and b).
 * VPXI_ERR_TAG_EMPTY if the intersection is empty, VPXI_ERR_BAD_TAG if either
 * is malformed. Sets in results are flattened and deduplicated; a set of one
 * member is that member.
 */
int vpxi_tag_intersect(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                       struct vpxi_sexp **out) VPXI_WUR;

/* 0 if everything req denotes is granted by grant (grant ∩ req == req),
 * VPXI_ERR_NOT_AUTHORIZED if not, VPXI_ERR_BAD_TAG if malformed. */
int vpxi_tag_implies(const struct vpxi_sexp *grant, const struct vpxi_sexp *req) VPXI_WUR;

/* True for (*). */
bool vpxi_tag_is_star(const struct vpxi_sexp *t);

#endif
