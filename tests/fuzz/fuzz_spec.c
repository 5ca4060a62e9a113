/*
 * fuzz_spec.c - libFuzzer target for the VPXI specification parser
 * (lib/policy/spec.c). The input is a spec file, parsed with a fixed now.
 * The seed corpus is tests/fuzz/corpus/spec/.
 *
 * Invariants checked (abort on violation):
 *   - the result is 0 with a spec, or BAD_FORMAT / TOO_LARGE / NOMEM with
 *     no spec and a message of whole "fuzz.vpxi:LINE: ..." lines;
 *   - an accepted spec is within every documented bound: start < end, at
 *     most 365 days apart, start at most 30 days before now; names, counts,
 *     sizes and ports in range; users are distinct ORCHIDs; total_nodes is
 *     the sum of the counts;
 *   - group names are distinct and none is also a site name; every link
 *     end is *, a group or a site; a clear rule has both ends at one site;
 *     no two rules have the same ends and ports;
 *   - link resolution is symmetric, never clear between two sites (for any
 *     traffic or the ports of any rule), and agrees with the precedence
 *     order of vpxi_spec_port_rules;
 *   - the flattened port classes (vpxi_spec_port_classes) are disjoint,
 *     sorted, merged, symmetric and agree with link resolution at and just
 *     outside each interval.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/identity.h"
#include "vpxi/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t NOW = 1740787200; /* 2025-03-01_00:00:00 UTC */

#define INVARIANT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_spec: invariant failed at line %d: %s\n", __LINE__, #c);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max || s[0] == '-')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static bool is_site(const struct vpxi_spec *s, const char *name)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (!strcmp(s->groups[i].site, name))
            return true;
    return false;
}

/* The site a link end stands for, "" for *; aborts if it names nothing. */
static const char *end_site(const struct vpxi_spec *s, const char *end)
{
    const struct vpxi_spec_group *g = vpxi_spec_group(s, end);

    if (!strcmp(end, "*"))
        return "";
    if (g)
        return g->site;
    INVARIANT(is_site(s, end));
    return end;
}

static void check_errors(int r, const char *err, const struct vpxi_spec *s)
{
    INVARIANT(r == VPXI_ERR_BAD_FORMAT || r == VPXI_ERR_TOO_LARGE || r == VPXI_ERR_NOMEM);
    INVARIANT(s == NULL);
    INVARIANT(!strncmp(err, "fuzz.vpxi:", 10));
    for (const char *line = err; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = strlen(line);
        /* the last line may be cut short by the buffer size */
        INVARIANT(!strncmp(line, "fuzz.vpxi:", n < 10 ? n : 10));
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void check_header(const struct vpxi_spec *s)
{
    INVARIANT(name_ok(s->name, VPXI_SPEC_NAME_MAX));
    INVARIANT(s->start < s->end);
    INVARIANT(s->end - s->start <= VPXI_SPEC_LIFETIME_MAX);
    INVARIANT(s->start >= NOW - VPXI_SPEC_PAST_MAX);
    INVARIANT(s->community[0] == '\0' || name_ok(s->community, VPXI_SPEC_COMMUNITY_MAX));
    INVARIANT(s->renew_period >= VPXI_SPEC_RENEW_PERIOD_MIN);
    INVARIANT(s->renew_period <= VPXI_SPEC_RENEW_PERIOD_MAX);
    INVARIANT(s->renew_margin > s->renew_period);
    INVARIANT(s->default_link <= VPXI_LINK_ENCRYPT);
    INVARIANT(s->nusers <= VPXI_SPEC_USERS_MAX);
    INVARIANT((s->nusers == 0) == (s->users == NULL));
    for (size_t i = 0; i < s->nusers; i++) {
        INVARIANT(vpxi_hit_is_orchid(s->users[i]));
        for (size_t j = 0; j < i; j++)
            INVARIANT(memcmp(s->users[i], s->users[j], VPXI_HIT_LEN) != 0);
    }
}

static void check_groups(const struct vpxi_spec *s)
{
    unsigned total = 0;

    INVARIANT(s->ngroups >= 1 && s->ngroups <= VPXI_SPEC_GROUPS_MAX);
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct vpxi_spec_group *g = &s->groups[i];
        INVARIANT(name_ok(g->name, VPXI_SPEC_NAME_MAX));
        INVARIANT(name_ok(g->site, VPXI_SPEC_NAME_MAX));
        INVARIANT(g->count >= 1 && g->count <= VPXI_SPEC_COUNT_MAX);
        INVARIANT(g->image[0] != '\0' && strlen(g->image) <= VPXI_SPEC_IMAGE_MAX);
        INVARIANT(g->role[0] != '\0' && strlen(g->role) <= VPXI_SPEC_ROLE_MAX);
        INVARIANT(g->cpu_milli <= VPXI_SPEC_CPU_MILLI_MAX);
        INVARIANT(g->memory_mb == 0 ||
                  (g->memory_mb >= VPXI_SPEC_MEMORY_MIN && g->memory_mb <= VPXI_SPEC_MEMORY_MAX));
        INVARIANT(vpxi_spec_group(s, g->name) == g);
        INVARIANT(!is_site(s, g->name));
        total += g->count;
    }
    INVARIANT(total == s->total_nodes);
    INVARIANT(total <= VPXI_SPEC_NODES_MAX);
}

static bool same_ports(const struct vpxi_spec_link *x, const struct vpxi_spec_link *y)
{
    if (x->nports != y->nports)
        return false;
    for (size_t i = 0; i < x->nports; i++)
        if (x->ports[i].proto != y->ports[i].proto || x->ports[i].lo != y->ports[i].lo ||
            x->ports[i].hi != y->ports[i].hi)
            return false;
    return true;
}

static void check_links(const struct vpxi_spec *s)
{
    INVARIANT(s->nlinks <= VPXI_SPEC_LINKS_MAX);
    for (size_t i = 0; i < s->nlinks; i++) {
        const struct vpxi_spec_link *l = &s->links[i];
        const char *sa = end_site(s, l->a), *sb = end_site(s, l->b);
        INVARIANT(l->sec <= VPXI_LINK_ENCRYPT);
        if (l->sec == VPXI_LINK_CLEAR)
            INVARIANT(*sa && *sb && !strcmp(sa, sb));
        INVARIANT(l->nports <= VPXI_SPEC_PORTS_MAX);
        INVARIANT((l->nports == 0) == (l->ports == NULL));
        for (size_t k = 0; k < l->nports; k++) {
            const struct vpxi_spec_ports *p = &l->ports[k];
            INVARIANT(p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP);
            INVARIANT(p->lo >= 1 && p->lo <= p->hi);
            if (k > 0) /* sorted, no repeats */
                INVARIANT(l->ports[k - 1].proto < p->proto ||
                          (l->ports[k - 1].proto == p->proto &&
                           (l->ports[k - 1].lo < p->lo ||
                            (l->ports[k - 1].lo == p->lo && l->ports[k - 1].hi < p->hi))));
        }
        for (size_t j = 0; j < i; j++) {
            const struct vpxi_spec_link *m = &s->links[j];
            bool ends = (!strcmp(l->a, m->a) && !strcmp(l->b, m->b)) ||
                        (!strcmp(l->a, m->b) && !strcmp(l->b, m->a));
            INVARIANT(!ends || !same_ports(l, m));
        }
    }
}

static bool rule_covers(const struct vpxi_spec_link *l, uint8_t proto, uint16_t port)
{
    for (size_t k = 0; k < l->nports; k++)
        if (l->ports[k].proto == proto && l->ports[k].lo <= port && port <= l->ports[k].hi)
            return true;
    return false;
}

/* Security for one kind of traffic between a and b, checked both ways. */
static void check_traffic(const struct vpxi_spec *s, const struct vpxi_spec_group *a,
                          const struct vpxi_spec_group *b,
                          const struct vpxi_spec_link *const *rules, size_t nrules, uint8_t proto,
                          uint16_t port)
{
    enum vpxi_link_sec ab = vpxi_spec_link_sec(s, a->name, b->name, proto, port);
    enum vpxi_link_sec ba = vpxi_spec_link_sec(s, b->name, a->name, proto, port);
    enum vpxi_link_sec want = vpxi_spec_link_sec(s, a->name, b->name, 0, 0);

    INVARIANT(ab == ba);
    if (strcmp(a->site, b->site))
        INVARIANT(ab != VPXI_LINK_CLEAR);
    /* the first port rule covering the traffic decides, else the rule for
     * any traffic */
    for (size_t i = 0; proto && i < nrules; i++)
        if (rule_covers(rules[i], proto, port)) {
            want = rules[i]->sec;
            break;
        }
    INVARIANT(ab == want);
}

static void check_pair(const struct vpxi_spec *s, const struct vpxi_spec_group *a,
                       const struct vpxi_spec_group *b)
{
    const struct vpxi_spec_link *rules[VPXI_SPEC_LINKS_MAX], *rev[VPXI_SPEC_LINKS_MAX];
    size_t n = vpxi_spec_port_rules(s, a->name, b->name, rules, VPXI_SPEC_LINKS_MAX);

    INVARIANT(n <= s->nlinks);
    INVARIANT(vpxi_spec_port_rules(s, b->name, a->name, rev, VPXI_SPEC_LINKS_MAX) == n);
    INVARIANT(n == 0 || memcmp(rules, rev, n * sizeof(rules[0])) == 0);
    check_traffic(s, a, b, rules, n, 0, 0);
    for (size_t i = 0; i < n; i++) {
        INVARIANT(rules[i]->nports > 0);
        for (size_t k = 0; k < rules[i]->nports; k++) {
            const struct vpxi_spec_ports *p = &rules[i]->ports[k];
            check_traffic(s, a, b, rules, n, p->proto, p->lo);
            check_traffic(s, a, b, rules, n, p->proto, p->hi);
            if (p->hi < UINT16_MAX)
                check_traffic(s, a, b, rules, n, p->proto, (uint16_t)(p->hi + 1));
        }
    }
}

/* The flattened port classes: disjoint, sorted, merged, never the pair's
 * own security, the same both ways, and equal to link resolution at each
 * interval's ends and just outside them. */
static void check_classes(const struct vpxi_spec *s, const struct vpxi_spec_group *a,
                          const struct vpxi_spec_group *b)
{
    static struct vpxi_spec_port_class pc[512], rc[512];
    enum vpxi_link_sec def = vpxi_spec_link_sec(s, a->name, b->name, 0, 0);
    size_t n, m;

    if (vpxi_spec_port_classes(s, a->name, b->name, pc, 512, &n) != 0 ||
        vpxi_spec_port_classes(s, b->name, a->name, rc, 512, &m) != 0)
        return; /* out of memory */
    INVARIANT(n == m);
    if (n > 512)
        n = 512;
    INVARIANT(n == 0 || memcmp(pc, rc, n * sizeof(pc[0])) == 0);
    for (size_t i = 0; i < n; i++) {
        const struct vpxi_spec_port_class *c = &pc[i];
        INVARIANT(c->proto == IPPROTO_TCP || c->proto == IPPROTO_UDP);
        INVARIANT(c->lo >= 1 && c->lo <= c->hi && c->sec != def);
        INVARIANT(vpxi_spec_link_sec(s, a->name, b->name, c->proto, c->lo) == c->sec);
        INVARIANT(vpxi_spec_link_sec(s, a->name, b->name, c->proto, c->hi) == c->sec);
        if (i > 0 && pc[i - 1].proto == c->proto) {
            INVARIANT(pc[i - 1].hi < c->lo);
            INVARIANT(pc[i - 1].hi + 1 < c->lo || pc[i - 1].sec != c->sec);
        } else if (i > 0) {
            INVARIANT(pc[i - 1].proto < c->proto);
        }
        if (c->lo > 1 && (i == 0 || pc[i - 1].proto != c->proto || pc[i - 1].hi + 1 < c->lo))
            INVARIANT(vpxi_spec_link_sec(s, a->name, b->name, c->proto, (uint16_t)(c->lo - 1)) ==
                      def);
        if (c->hi < UINT16_MAX &&
            (i + 1 == n || pc[i + 1].proto != c->proto || c->hi + 1 < pc[i + 1].lo))
            INVARIANT(vpxi_spec_link_sec(s, a->name, b->name, c->proto, (uint16_t)(c->hi + 1)) ==
                      def);
    }
}

static void check_resolution(const struct vpxi_spec *s)
{
    /* bounded work per input: the first groups are enough to exercise it */
    size_t ng = s->ngroups < 16 ? s->ngroups : 16;

    for (size_t i = 0; i < ng; i++)
        for (size_t j = i; j < ng; j++) {
            check_pair(s, &s->groups[i], &s->groups[j]);
            check_classes(s, &s->groups[i], &s->groups[j]);
        }
    INVARIANT(vpxi_spec_link_sec(s, s->groups[0].name, "no such group!", 0, 0) ==
              VPXI_LINK_ENCRYPT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_spec *s = (struct vpxi_spec *)&s; /* must be replaced */
    char err[2048];
    int r = vpxi_spec_parse((const char *)data, size, "fuzz.vpxi", NOW, &s, err, sizeof(err));

    if (r != 0) {
        check_errors(r, err, s);
        return 0;
    }
    INVARIANT(s != NULL && err[0] == '\0');
    check_header(s);
    check_groups(s);
    check_links(s);
    check_resolution(s);
    vpxi_spec_free(s);
    return 0;
}
