/*
 * spec.h - the VPXI specification file: what a user writes to ask for a
 * VPXI (docs/spec.md has the format, its semantics and an example).
 *
 *   [vpxi NAME]         once: lifetime, community, renewal, extra users,
 *                       default link security
 *   [group NAME]...     at least one: COUNT nodes of an image at one site
 *   [link A B]...       link security between groups or sites (A, B each a
 *                       group name, a site name or *), optionally per port
 *
 * vpxi_spec_parse() checks everything the file alone can tell (names,
 * ranges, times against a given now, link ends, clear links inside one
 * site, duplicate rules) and reports every problem, not just the first, as
 * "FILE:LINE: reason" lines. A spec it returns is complete and consistent:
 * the registrar and the CLI use it without further checks.
 */
#ifndef VPXI_SPEC_H
#define VPXI_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

enum vpxi_spec_limits {
    VPXI_SPEC_NAME_MAX = 31,              /* vpxi, group and site names: [a-z0-9][a-z0-9-]{0,30} */
    VPXI_SPEC_ROLE_MAX = 32,              /* role: [a-z0-9-]{1,32} */
    VPXI_SPEC_IMAGE_MAX = 64,             /* image: [A-Za-z0-9._-]{1,64} */
    VPXI_SPEC_COMMUNITY_MAX = 64,         /* community: [a-z0-9][a-z0-9-]{0,63} */
    VPXI_SPEC_GROUPS_MAX = 64,            /* [group] sections */
    VPXI_SPEC_LINKS_MAX = 256,            /* [link] sections */
    VPXI_SPEC_USERS_MAX = 64,             /* user = HIT lines */
    VPXI_SPEC_PORTS_MAX = 32,             /* entries of one ports = list */
    VPXI_SPEC_COUNT_MAX = 256,            /* nodes in one group */
    VPXI_SPEC_NODES_MAX = 1024,           /* nodes in the whole VPXI */
    VPXI_SPEC_CPU_MILLI_MAX = 256000,     /* cpu = 256 cores */
    VPXI_SPEC_MEMORY_MIN = 16,            /* MiB */
    VPXI_SPEC_MEMORY_MAX = 1048576,       /* MiB (1 TiB) */
    VPXI_SPEC_LIFETIME_MAX = 365 * 86400, /* seconds from start to end */
    VPXI_SPEC_PAST_MAX = 30 * 86400,      /* seconds start may lie before now */
    VPXI_SPEC_RENEW_PERIOD_DEFAULT = 600, /* seconds */
    VPXI_SPEC_RENEW_PERIOD_MIN = 10,      /* seconds */
    VPXI_SPEC_RENEW_PERIOD_MAX = 86400,   /* seconds */
    VPXI_SPEC_RENEW_MARGIN_MAX = 7 * 86400, /* seconds */
    VPXI_SPEC_FILE_MAX = 1 << 20,           /* octets of a spec file */
    VPXI_SPEC_LINE_MAX = 4096,              /* octets of one line, without its line break */
    VPXI_SPEC_ERRORS_MAX = 100,             /* errors reported one by one; the rest are counted */
};

/* Link security, weakest first: on a tie between rules the stronger wins. */
enum vpxi_link_sec {
    VPXI_LINK_CLEAR = 0,     /* no ESP: only between nodes of one site */
    VPXI_LINK_INTEGRITY = 1, /* ESP NULL with HMAC-SHA-256: authenticated, not secret */
    VPXI_LINK_ENCRYPT = 2,   /* ESP AES-GCM */
};

/* "clear", "integrity" or "encrypt" (a static string; "?" if out of range). */
const char *vpxi_link_sec_name(enum vpxi_link_sec s);
/* Inverse of vpxi_link_sec_name; VPXI_ERR_INVALID for any other string. */
int vpxi_link_sec_parse(const char *s, enum vpxi_link_sec *out) VPXI_WUR;

struct vpxi_spec_group {
    char name[VPXI_SPEC_NAME_MAX + 2];
    unsigned count; /* 1..VPXI_SPEC_COUNT_MAX */
    char site[VPXI_SPEC_NAME_MAX + 2];
    char image[VPXI_SPEC_IMAGE_MAX + 1];
    char role[VPXI_SPEC_ROLE_MAX + 1]; /* the group name when not given */
    unsigned cpu_milli;                /* thousandths of a core; 0: unspecified */
    unsigned memory_mb;                /* MiB; 0: unspecified */
    int line;                          /* of the [group] header */
};

/* One entry of a ports = list: proto is IPPROTO_TCP or IPPROTO_UDP. */
struct vpxi_spec_ports {
    uint8_t proto;
    uint16_t lo, hi; /* 1 <= lo <= hi */
};

struct vpxi_spec_link {
    char a[VPXI_SPEC_NAME_MAX + 2], b[VPXI_SPEC_NAME_MAX + 2]; /* group, site or "*" */
    enum vpxi_link_sec sec;
    struct vpxi_spec_ports *ports; /* sorted by (proto, lo, hi), no repeats; NULL if none */
    size_t nports;                 /* 0: the rule applies to all traffic */
    int line;                      /* of the [link] header */
};

struct vpxi_spec {
    char name[VPXI_SPEC_NAME_MAX + 2];
    int64_t start, end;                          /* seconds since the epoch, UTC; start < end */
    char community[VPXI_SPEC_COMMUNITY_MAX + 1]; /* "" when not given */
    unsigned renew_period, renew_margin;         /* seconds; renew_margin > renew_period */
    enum vpxi_link_sec default_link;
    uint8_t (*users)[16]; /* extra users' HITs (ORCHIDs), in file order */
    size_t nusers;
    struct vpxi_spec_group *groups; /* in file order; ngroups >= 1 */
    size_t ngroups;
    struct vpxi_spec_link *links; /* in file order */
    size_t nlinks;
    unsigned total_nodes; /* sum of the groups' counts, <= VPXI_SPEC_NODES_MAX */
};

/*
 * Parses a specification file. text need not be NUL-terminated; filename
 * only labels the messages (NULL: "spec"). now (seconds since the epoch)
 * resolves "now" and relative times and bounds start and end.
 *
 * On success returns 0 and *out, which the caller frees with
 * vpxi_spec_free(). On failure *out is NULL and err (if errlen > 0) holds
 * every problem found, one "FILE:LINE: reason\n" per line, sorted by line
 * (line 0: the file as a whole); the result is VPXI_ERR_BAD_FORMAT,
 * VPXI_ERR_TOO_LARGE (a file over VPXI_SPEC_FILE_MAX, not read further) or
 * VPXI_ERR_NOMEM. err is always NUL-terminated, truncated if errlen is too
 * small. A NULL out, a NULL text with len > 0, a NULL err with errlen > 0,
 * or a now outside 1970-01-01 .. 9999-12-31 is a caller bug (vpxi_misuse).
 */
int vpxi_spec_parse(const char *text, size_t len, const char *filename, int64_t now,
                    struct vpxi_spec **out, char *err, size_t errlen) VPXI_WUR;
/* Frees s and everything it owns; NULL is ignored. */
void vpxi_spec_free(struct vpxi_spec *s);

/* The group called name, or NULL. Borrowed: lives as long as s. */
const struct vpxi_spec_group *vpxi_spec_group(const struct vpxi_spec *s, const char *name);

/*
 * Security for traffic between a node of group g1 and a node of group g2
 * (in either order: the answer is symmetric). proto/port select the rules
 * with ports (proto IPPROTO_TCP or IPPROTO_UDP); proto 0 asks for the rule
 * for "any traffic", ignoring rules with ports. The most specific matching
 * rule wins (docs/spec.md 3), on a tie the stronger security, and
 * default_link applies when no rule matches. An unknown group name gets
 * VPXI_LINK_ENCRYPT: never less than the strongest.
 */
enum vpxi_link_sec vpxi_spec_link_sec(const struct vpxi_spec *s, const char *g1, const char *g2,
                                      uint8_t proto, uint16_t port);

/*
 * The rules with ports that can apply between groups g1 and g2, for the
 * per-port data plane, in order of precedence (most specific first, then
 * the stronger security, then file order): for a packet, the first rule
 * whose ports cover it decides, and vpxi_spec_link_sec(s, g1, g2, 0, 0)
 * decides for packets no rule covers. Writes at most cap pointers (borrowed
 * from s) to out and returns how many rules apply, which may exceed cap;
 * VPXI_SPEC_LINKS_MAX is always enough. 0 for unknown groups.
 */
size_t vpxi_spec_port_rules(const struct vpxi_spec *s, const char *g1, const char *g2,
                            const struct vpxi_spec_link **out, size_t cap);

/*
 * The port classes between groups g1 and g2 whose security differs from the
 * pair's (vpxi_spec_link_sec(s, g1, g2, 0, 0)): the rules with ports
 * flattened into disjoint intervals, sorted by (proto, lo), each with the
 * security vpxi_spec_link_sec gives every port in it, adjacent intervals of
 * equal security merged. For the data plane, which cannot evaluate rule
 * precedence per packet. Writes at most cap classes to out and their total
 * number (may exceed cap; 0 for unknown groups) to *n. 0, or VPXI_ERR_NOMEM
 * (then *n is 0 and nothing must be concluded: the classes are unknown).
 */
struct vpxi_spec_port_class {
    uint8_t proto;
    uint16_t lo, hi;
    enum vpxi_link_sec sec;
};
int vpxi_spec_port_classes(const struct vpxi_spec *s, const char *g1, const char *g2,
                           struct vpxi_spec_port_class *out, size_t cap, size_t *n);

#endif
