/*
 * test_spec.c - the VPXI specification file (lib/policy/spec.c): the
 * shipped example and a file using every key, link resolution, one bad spec
 * per error class, several errors at once, limits, every truncation of a
 * good file, and allocation failures.
 */
#include <netinet/in.h>
#include <stdarg.h>

#include "t.h"
#include "vpxi/alloc.h"
#include "vpxi/identity.h"
#include "vpxi/spec.h"

static const int64_t NOW = 1740787200; /* 2025-03-01_00:00:00 UTC */

enum { ERRLEN = 8192 };

static int parse_n(const char *text, size_t len, struct vpxi_spec **s, char *err)
{
    return vpxi_spec_parse(text, len, "t.vpxi", NOW, s, err, ERRLEN);
}

static int parse(const char *text, struct vpxi_spec **s, char *err)
{
    return parse_n(text, strlen(text), s, err);
}

/* Line (1-based) of the first occurrence of needle in text, or 0. */
static int line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    int line = 1;

    if (!at)
        return 0;
    for (const char *c = text; c < at; c++)
        line += *c == '\n';
    return line;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static char *read_vector(const char *name, size_t *len)
{
    char *text = t_read_file(t_vector_path(name), len);

    if (!text)
        fprintf(stderr, "cannot read %s\n", t_vector_path(name));
    return text;
}

/* ---- the shipped example ------------------------------------------------ */

static void test_example(void)
{
    size_t len;
    char *text = read_vector("../../examples/medimg.vpxi", &len), err[ERRLEN];
    struct vpxi_spec *s = NULL;
    const struct vpxi_spec_group *g;
    const struct vpxi_spec_link *l;

    CHECK(text != NULL);
    if (!text)
        return;
    CHECK_OK(parse_n(text, len, &s, err));
    CHECK_STR(err, "");
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "%s", err);
        free(text);
        return;
    }
    CHECK_STR(s->name, "medimg");
    CHECK_EQ(s->start, NOW);
    CHECK_EQ(s->end, NOW + 2 * 3600);
    CHECK_STR(s->community, "hipernet");
    CHECK_EQ(s->renew_period, 600);
    CHECK_EQ(s->renew_margin, 1800);
    CHECK_EQ(s->default_link, VPXI_LINK_ENCRYPT);
    CHECK_EQ(s->nusers, 0);
    CHECK_EQ(s->ngroups, 3);
    CHECK_EQ(s->total_nodes, 6);

    g = &s->groups[0];
    CHECK_STR(g->name, "coordinator");
    CHECK_EQ(g->count, 1);
    CHECK_STR(g->site, "site-a");
    CHECK_STR(g->image, "busybox");
    CHECK_STR(g->role, "coordinator");
    CHECK_EQ(g->cpu_milli, 500);
    CHECK_EQ(g->memory_mb, 128);
    CHECK_EQ(g->line, line_of(text, "[group coordinator]"));
    g = &s->groups[1];
    CHECK_STR(g->name, "workers-a");
    CHECK_EQ(g->count, 3);
    CHECK_STR(g->site, "site-a");
    CHECK_STR(g->image, "busybox");
    CHECK_STR(g->role, "worker");
    CHECK_EQ(g->cpu_milli, 0);
    CHECK_EQ(g->memory_mb, 0);
    CHECK_EQ(g->line, line_of(text, "[group workers-a]"));
    g = &s->groups[2];
    CHECK_STR(g->name, "workers-b");
    CHECK_EQ(g->count, 2);
    CHECK_STR(g->site, "site-b");
    CHECK_STR(g->role, "worker");
    CHECK(vpxi_spec_group(s, "workers-b") == g);
    CHECK(vpxi_spec_group(s, "site-a") == NULL);

    CHECK_EQ(s->nlinks, 2);
    l = &s->links[0];
    CHECK_STR(l->a, "workers-a");
    CHECK_STR(l->b, "workers-a");
    CHECK_EQ(l->sec, VPXI_LINK_INTEGRITY);
    CHECK_EQ(l->nports, 1);
    CHECK_EQ(l->ports[0].proto, IPPROTO_TCP);
    CHECK_EQ(l->ports[0].lo, 5000);
    CHECK_EQ(l->ports[0].hi, 5100);
    CHECK_EQ(l->line, line_of(text, "[link workers-a workers-a]"));
    l = &s->links[1];
    CHECK_STR(l->a, "site-a");
    CHECK_STR(l->b, "site-b");
    CHECK_EQ(l->sec, VPXI_LINK_ENCRYPT);
    CHECK_EQ(l->nports, 0);
    CHECK(l->ports == NULL);

    CHECK_EQ(vpxi_spec_link_sec(s, "workers-a", "workers-a", IPPROTO_TCP, 5000),
             VPXI_LINK_INTEGRITY);
    CHECK_EQ(vpxi_spec_link_sec(s, "workers-a", "workers-a", IPPROTO_TCP, 5100),
             VPXI_LINK_INTEGRITY);
    CHECK_EQ(vpxi_spec_link_sec(s, "workers-a", "workers-a", IPPROTO_TCP, 5101), VPXI_LINK_ENCRYPT);
    CHECK_EQ(vpxi_spec_link_sec(s, "workers-a", "workers-a", IPPROTO_UDP, 5000), VPXI_LINK_ENCRYPT);
    CHECK_EQ(vpxi_spec_link_sec(s, "workers-a", "workers-a", 0, 0), VPXI_LINK_ENCRYPT);
    CHECK_EQ(vpxi_spec_link_sec(s, "coordinator", "workers-b", 0, 0), VPXI_LINK_ENCRYPT);
    vpxi_spec_free(s);
    free(text);
}

/* ---- every key ------------------------------------------------------------ */

static struct vpxi_spec *load_full(char **textp)
{
    size_t len;
    char *text = read_vector("spec/full.vpxi", &len), err[ERRLEN];
    struct vpxi_spec *s = NULL;

    *textp = text;
    if (!text)
        return NULL;
    CHECK_OK(parse_n(text, len, &s, err));
    if (!s)
        fprintf(stderr, "%s", err);
    return s;
}

static void test_full(void)
{
    char *text;
    struct vpxi_spec *s = load_full(&text);
    uint8_t hit[VPXI_HIT_LEN];
    const struct vpxi_spec_group *g;
    const struct vpxi_spec_link *l;

    CHECK(s != NULL);
    if (!s) {
        free(text);
        return;
    }
    CHECK_STR(s->name, "hep-study");
    CHECK_EQ(s->start, NOW + 12 * 3600);
    CHECK_EQ(s->end, NOW + 7 * 86400 + 12 * 3600);
    CHECK_STR(s->community, "hipernet");
    CHECK_EQ(s->renew_period, 300);
    CHECK_EQ(s->renew_margin, 1200);
    CHECK_EQ(s->default_link, VPXI_LINK_INTEGRITY);
    CHECK_EQ(s->nusers, 2);
    CHECK_OK(vpxi_hit_from_str("2001:2a:1111:2222:3333:4444:5555:6666", hit));
    CHECK_MEM(s->users[0], hit, VPXI_HIT_LEN);
    CHECK_OK(vpxi_hit_from_str("2001:25::1", hit));
    CHECK_MEM(s->users[1], hit, VPXI_HIT_LEN);
    CHECK_EQ(s->ngroups, 4);
    CHECK_EQ(s->total_nodes, 27);

    g = vpxi_spec_group(s, "head");
    CHECK(g == &s->groups[0]);
    CHECK_EQ(g->count, 1);
    CHECK_STR(g->site, "lyon");
    CHECK_STR(g->image, "hep-head_v1.2");
    CHECK_STR(g->role, "head"); /* defaults to the group name */
    CHECK_EQ(g->cpu_milli, 2250);
    CHECK_EQ(g->memory_mb, 4096);
    g = vpxi_spec_group(s, "calc-lyon");
    CHECK_EQ(g->count, 16);
    CHECK_STR(g->image, "busybox"); /* quoted */
    CHECK_STR(g->role, "worker");
    CHECK_EQ(g->cpu_milli, 4000);
    CHECK_EQ(g->memory_mb, 16384);
    g = vpxi_spec_group(s, "calc-paris");
    CHECK_EQ(g->cpu_milli, 1);
    CHECK_EQ(g->memory_mb, 0);
    g = vpxi_spec_group(s, "store");
    CHECK_STR(g->site, "paris");
    CHECK_STR(g->image, "minio");
    CHECK_STR(g->role, "storage");
    CHECK_EQ(g->memory_mb, 1048576);
    CHECK_EQ(g->line, line_of(text, "[group store]"));

    CHECK_EQ(s->nlinks, 7);
    CHECK_STR(s->links[0].a, "*");
    CHECK_STR(s->links[0].b, "store");
    CHECK_EQ(s->links[1].sec, VPXI_LINK_CLEAR);
    l = &s->links[4];
    CHECK_STR(l->a, "lyon");
    CHECK_STR(l->b, "paris");
    CHECK_EQ(l->line, line_of(text, "[link lyon paris]"));
    /* sorted, the repeated tcp/22 kept once */
    CHECK_EQ(l->nports, 3);
    if (l->nports == 3) {
        CHECK(l->ports[0].proto == IPPROTO_TCP && l->ports[0].lo == 22 && l->ports[0].hi == 22);
        CHECK(l->ports[1].proto == IPPROTO_TCP && l->ports[1].lo == 8000 && l->ports[1].hi == 8100);
        CHECK(l->ports[2].proto == IPPROTO_UDP && l->ports[2].lo == 53 && l->ports[2].hi == 53);
    }
    CHECK_EQ(s->links[6].sec, VPXI_LINK_ENCRYPT); /* security after ports */
    vpxi_spec_free(s);
    free(text);
}

/* ---- link resolution -------------------------------------------------------- */

struct res {
    const char *g1, *g2;
    uint8_t proto;
    uint16_t port;
    enum vpxi_link_sec want;
};

static void test_link_resolution(void)
{
    static const struct res table[] = {
        /* no rule: default-link */
        { "head", "head", 0, 0, VPXI_LINK_INTEGRITY },
        { "head", "head", IPPROTO_TCP, 22, VPXI_LINK_INTEGRITY },
        /* [link calc-lyon lyon] (3) over nothing */
        { "head", "calc-lyon", 0, 0, VPXI_LINK_CLEAR },
        { "calc-lyon", "calc-lyon", 0, 0, VPXI_LINK_CLEAR },
        /* [link * store] (2) */
        { "store", "store", 0, 0, VPXI_LINK_ENCRYPT },
        { "head", "store", 0, 0, VPXI_LINK_ENCRYPT },
        { "store", "calc-paris", 0, 0, VPXI_LINK_ENCRYPT },
        /* [link store calc-paris] tcp/9000 (14) over [link * store] (2) */
        { "store", "calc-paris", IPPROTO_TCP, 9000, VPXI_LINK_CLEAR },
        { "calc-paris", "store", IPPROTO_TCP, 9000, VPXI_LINK_CLEAR },
        { "store", "calc-paris", IPPROTO_TCP, 9001, VPXI_LINK_ENCRYPT },
        { "store", "calc-paris", IPPROTO_UDP, 9000, VPXI_LINK_ENCRYPT },
        /* tie at 3: [link calc-paris lyon] integrity vs [link paris calc-lyon] encrypt */
        { "calc-paris", "calc-lyon", 0, 0, VPXI_LINK_ENCRYPT },
        { "calc-lyon", "calc-paris", 0, 0, VPXI_LINK_ENCRYPT },
        { "calc-lyon", "calc-paris", IPPROTO_TCP, 53, VPXI_LINK_ENCRYPT },
        /* a port rule (12) beats any rule without ports, even a stronger one */
        { "calc-lyon", "calc-paris", IPPROTO_TCP, 8000, VPXI_LINK_INTEGRITY },
        { "calc-lyon", "calc-paris", IPPROTO_TCP, 8100, VPXI_LINK_INTEGRITY },
        { "calc-lyon", "calc-paris", IPPROTO_TCP, 8101, VPXI_LINK_ENCRYPT },
        { "calc-lyon", "calc-paris", IPPROTO_UDP, 53, VPXI_LINK_INTEGRITY },
        /* head <-> calc-paris: [link calc-paris lyon] (3) */
        { "head", "calc-paris", 0, 0, VPXI_LINK_INTEGRITY },
        /* tcp/22: [link head calc-paris] (14) over [link lyon paris] (12) */
        { "head", "calc-paris", IPPROTO_TCP, 22, VPXI_LINK_ENCRYPT },
        { "calc-paris", "head", IPPROTO_TCP, 22, VPXI_LINK_ENCRYPT },
        { "calc-lyon", "calc-paris", IPPROTO_TCP, 22, VPXI_LINK_INTEGRITY },
        /* port rules are ignored for "any traffic" */
        { "head", "calc-paris", 0, 22, VPXI_LINK_INTEGRITY },
        /* unknown groups: never weaker than encrypt */
        { "head", "nobody", 0, 0, VPXI_LINK_ENCRYPT },
        { "lyon", "lyon", 0, 0, VPXI_LINK_ENCRYPT },
    };
    char *text;
    struct vpxi_spec *s = load_full(&text);

    CHECK(s != NULL);
    for (size_t i = 0; s && i < sizeof(table) / sizeof(table[0]); i++) {
        const struct res *t = &table[i];
        enum vpxi_link_sec got = vpxi_spec_link_sec(s, t->g1, t->g2, t->proto, t->port);
        t_checks++;
        if (got != t->want) {
            t_failures++;
            fprintf(stderr, "%s:%d: %s <-> %s proto %u port %u: got %s, want %s\n", __FILE__,
                    __LINE__, t->g1, t->g2, t->proto, t->port, vpxi_link_sec_name(got),
                    vpxi_link_sec_name(t->want));
        }
    }
    vpxi_spec_free(s);
    free(text);
}

static void test_port_rules(void)
{
    char *text;
    struct vpxi_spec *s = load_full(&text);
    const struct vpxi_spec_link *out[VPXI_SPEC_LINKS_MAX];

    CHECK(s != NULL);
    if (!s) {
        free(text);
        return;
    }
    /* head <-> calc-paris: [link head calc-paris] (14) first, then [link lyon paris] (12) */
    CHECK_EQ(vpxi_spec_port_rules(s, "head", "calc-paris", out, VPXI_SPEC_LINKS_MAX), 2);
    CHECK(out[0] == &s->links[6]);
    CHECK(out[1] == &s->links[4]);
    CHECK_EQ(vpxi_spec_port_rules(s, "calc-paris", "head", out, VPXI_SPEC_LINKS_MAX), 2);
    CHECK(out[0] == &s->links[6]);
    /* cap: the count is still the total */
    out[0] = out[1] = NULL;
    CHECK_EQ(vpxi_spec_port_rules(s, "head", "calc-paris", out, 1), 2);
    CHECK(out[0] == &s->links[6] && out[1] == NULL);
    CHECK_EQ(vpxi_spec_port_rules(s, "head", "calc-paris", NULL, 0), 2);
    CHECK_EQ(vpxi_spec_port_rules(s, "store", "calc-paris", out, VPXI_SPEC_LINKS_MAX), 1);
    CHECK(out[0] == &s->links[5]);
    CHECK_EQ(vpxi_spec_port_rules(s, "head", "head", out, VPXI_SPEC_LINKS_MAX), 0);
    CHECK_EQ(vpxi_spec_port_rules(s, "calc-lyon", "store", out, VPXI_SPEC_LINKS_MAX), 1);
    CHECK(out[0] == &s->links[4]);
    CHECK_EQ(vpxi_spec_port_rules(s, "head", "nobody", out, VPXI_SPEC_LINKS_MAX), 0);
    vpxi_spec_free(s);
    free(text);
}

/* The flattened classes agree with vpxi_spec_link_sec on every port of
 * both protocols, for every pair of groups; intervals are disjoint, sorted,
 * merged, and never carry the pair's own security. */
static void test_port_classes(void)
{
    static const uint8_t protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
    struct vpxi_spec_port_class pc[64];
    char *text;
    struct vpxi_spec *s = load_full(&text);
    size_t n, total = 0, bad = 0;

    CHECK(s != NULL);
    if (!s) {
        free(text);
        return;
    }
    for (size_t i = 0; i < s->ngroups; i++)
        for (size_t j = 0; j < s->ngroups; j++) {
            const char *g1 = s->groups[i].name, *g2 = s->groups[j].name;
            enum vpxi_link_sec def = vpxi_spec_link_sec(s, g1, g2, 0, 0);
            CHECK_OK(vpxi_spec_port_classes(s, g1, g2, pc, 64, &n));
            CHECK(n <= 64);
            total += n;
            for (size_t k = 0; k < n && k < 64; k++) {
                bad += pc[k].sec == def || pc[k].lo > pc[k].hi;
                if (k > 0 && pc[k - 1].proto == pc[k].proto)
                    bad += pc[k - 1].hi >= pc[k].lo ||
                           (pc[k - 1].hi + 1 == pc[k].lo && pc[k - 1].sec == pc[k].sec);
            }
            for (size_t pi = 0; pi < 2; pi++)
                for (uint32_t port = 1; port <= 65535; port++) {
                    enum vpxi_link_sec want = def;
                    for (size_t k = 0; k < n && k < 64; k++)
                        if (pc[k].proto == protos[pi] && pc[k].lo <= port && port <= pc[k].hi)
                            want = pc[k].sec;
                    bad += vpxi_spec_link_sec(s, g1, g2, protos[pi], (uint16_t)port) != want;
                }
        }
    CHECK_EQ(bad, 0);
    CHECK(total > 0);
    /* head <-> calc-paris: tcp/22 encrypt over integrity (docs example) */
    CHECK_OK(vpxi_spec_port_classes(s, "head", "calc-paris", pc, 64, &n));
    CHECK(n >= 1);
    /* unknown group: none; cap 0 still counts */
    CHECK_OK(vpxi_spec_port_classes(s, "head", "nobody", pc, 64, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(vpxi_spec_port_classes(s, "head", "calc-paris", NULL, 0, &n));
    CHECK(n >= 1);
    vpxi_spec_free(s);
    free(text);
}

static void test_link_sec_names(void)
{
    enum vpxi_link_sec v;

    CHECK_STR(vpxi_link_sec_name(VPXI_LINK_CLEAR), "clear");
    CHECK_STR(vpxi_link_sec_name(VPXI_LINK_INTEGRITY), "integrity");
    CHECK_STR(vpxi_link_sec_name(VPXI_LINK_ENCRYPT), "encrypt");
    CHECK_STR(vpxi_link_sec_name((enum vpxi_link_sec)7), "?");
    CHECK_OK(vpxi_link_sec_parse("clear", &v));
    CHECK_EQ(v, VPXI_LINK_CLEAR);
    CHECK_OK(vpxi_link_sec_parse("integrity", &v));
    CHECK_EQ(v, VPXI_LINK_INTEGRITY);
    CHECK_OK(vpxi_link_sec_parse("encrypt", &v));
    CHECK_EQ(v, VPXI_LINK_ENCRYPT);
    v = VPXI_LINK_CLEAR;
    CHECK_ERR(vpxi_link_sec_parse("Encrypt", &v), VPXI_ERR_INVALID);
    CHECK_EQ(v, VPXI_LINK_ENCRYPT); /* a failed parse never leaves clear */
    CHECK_ERR(vpxi_link_sec_parse("", &v), VPXI_ERR_INVALID);
}

/* ---- good and bad specs ----------------------------------------------------- */

/* A minimal valid spec: [vpxi t] (lines 1-2) and [group g] at site s (3-6). */
#define V            "[vpxi t]\nduration = 1h\n"
#define G            "[group g]\ncount = 1\nsite = s\nimage = i\n"
#define H            "[group h]\ncount = 1\nsite = r\nimage = i\n" /* another site */
#define L(a, b, sec) "[link " a " " b "]\nsecurity = " sec "\n"

static void test_good(void)
{
    static const char *const good[] = {
        V G,
        "[vpxi a234567890123456789012345678901]\nduration = 1h\n" G, /* 31 characters */
        "# comment\n\n; old-style comment\n  [ vpxi   t ]  # trailing\n\tduration=1h\t\n" G,
        "[vpxi t]\r\nduration = 1h\r\n" G,
        "[vpxi t]\nduration = \"1h\"\ncommunity = \"hipernet\" # a \"comment\"\n" G,
        "[vpxi t]\nstart = -29d\nduration = 1h\n" G,
        "[vpxi t]\nstart = 2025-02-01_00:00:00\nend = 2025-03-01_00:00:01\n" G,
        "[vpxi t]\nduration = 365d\n" G,
        "[vpxi t]\nend = +365d\n" G,
        "[vpxi t]\nstart = +1d\nend = 2026-03-02_00:00:00\n" G, /* 365 days after start */
        "[vpxi t]\nduration = 52w\nrenew-period = 10s\nrenew-margin = 11s\n" G,
        "[vpxi t]\nduration = 1h\nrenew-period = 1d\nrenew-margin = 7d\n" G,
        V "[group g]\ncount = 256\nsite = s\nimage = A.b_c-9\nrole = r-0\ncpu = 256\nmemory = "
          "16\n",
        V "[group g]\ncount = 1\nsite = s\nimage = i\ncpu = 0.1\nmemory = 1048576\n",
        V G L("s", "s", "clear"),
        V G L("g", "g", "clear") L("g", "s", "clear"),
        V G L("*", "*", "integrity") L("*", "g", "encrypt")
            L("s", "*", "integrity\nports = udp/1-65535"),
        V G L("g", "g", "encrypt\nports = tcp/80") L("g", "g", "encrypt\nports = tcp/81"),
        "[vpxi t]\nduration = 1h\ndefault-link = clear\n" G "[group g2]\ncount = 1\nsite = s\n"
        "image = i\n",
        "[vpxi t]\nduration = 1h\ndefault-link = clear\n" G H L("r", "s", "encrypt"),
        "[vpxi t]\nduration = 1h\nuser = 2001:2f:ffff::1\nuser = 2001:20::1\n" G,
        /* link rules and groups in any order */
        V L("g", "s", "encrypt") G,
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct vpxi_spec *s = NULL;
        char err[ERRLEN];
        int r = parse(good[i], &s, err);
        CHECK_OK(r);
        if (r != 0)
            fprintf(stderr, "good[%zu]:\n%s", i, err);
        vpxi_spec_free(s);
    }
}

struct bad {
    const char *text;
    int line;
    const char *why;
};

static const struct bad bad[] = {
    /* lexical */
    { V "just words\n" G, 3, "expected 'key = value', got 'just words'" },
    { V "= 5\n" G, 3, "expected 'key = value'" },
    { V "image\x01 = i\n" G, 3, "control character 0x01 in column 6" },
    { V "image = i\x7f\n" G, 3, "control character 0x7f" },
    { V "community = \"hipernet\n" G, 3, "community '\"hipernet': unbalanced double quote" },
    { V "community = \"hiper\"net\"\n" G, 3, "unbalanced double quote" },
    { V "[group g\n" G, 3, "malformed section header '[group g'" },
    { V "[group g] x\n" G, 3, "malformed section header" },
    { V "community = \"hiper#net\"\n" G, 3, "community 'hiper#net': expected" },
    /* an unreadable header skips its section: no "security: not valid in [group]" */
    { V G "  [link\x01 g g]\nsecurity = clear\n", 7, "control character 0x01 in column 8" },
    /* sections */
    { "duration = 1h\n" V G, 1, "duration: outside a section" },
    { V "[site x]\n" G, 3, "unknown section [site]" },
    { V "[]\n" G, 3, "unknown section []" },
    { G, 0, "no [vpxi NAME] section" },
    { V, 0, "no [group NAME] section" },
    { V "[vpxi u]\nend = +1h\n" G, 3, "a second [vpxi] section (the first is at line 1)" },
    { "[vpxi]\nduration = 1h\n" G, 1, "[vpxi] takes one name" },
    { "[vpxi t u]\nduration = 1h\n" G, 1, "[vpxi] takes one name" },
    { "[vpxi T]\nduration = 1h\n" G, 1, "vpxi name 'T'" },
    { "[vpxi -t]\nduration = 1h\n" G, 1, "vpxi name '-t'" },
    { "[vpxi t_1]\nduration = 1h\n" G, 1, "vpxi name 't_1'" },
    { "[vpxi a2345678901234567890123456789012]\nduration = 1h\n" G, 1, "vpxi name" },
    /* keys */
    { V "colour = blue\n" G, 3, "unknown key 'colour'" },
    { V "count = 1\n" G, 3, "count: not valid in a [vpxi] section" },
    { V "duration = 2h\n" G, 3, "duration: given twice in this section (first at line 2)" },
    { V G "site = t\n", 7, "site: given twice" },
    { V G L("g", "g", "clear\nsecurity = clear"), 9, "security: given twice" },
    /* times */
    { "[vpxi t]\n" G, 1, "[vpxi t]: end or duration is required" },
    { V "end = +2h\n" G, 3, "end and duration: give one, not both" },
    { "[vpxi t]\nstart = tomorrow\nduration = 1h\n" G, 2, "start 'tomorrow': expected" },
    { "[vpxi t]\nend = 2025-02-30_00:00:00\n" G, 2, "end '2025-02-30_00:00:00': expected" },
    { "[vpxi t]\nend = +1y\n" G, 2, "end '+1y'" },
    { "[vpxi t]\nstart = -31d\nduration = 1h\n" G, 2,
      "start '2025-01-29_00:00:00' is more than 30 days in the past" },
    { "[vpxi t]\nstart = 2024-01-01_00:00:00\nend = 2024-01-01_01:00:00\n" G, 2,
      "30 days in the past" },
    { "[vpxi t]\nstart = +1h\nend = +1h\n" G, 3,
      "end '2025-03-01_01:00:00' is not after start '2025-03-01_01:00:00'" },
    { "[vpxi t]\nend = now\n" G, 2, "is not after start" },
    { "[vpxi t]\nend = -1h\n" G, 2, "is not after start" },
    { "[vpxi t]\nend = +365d\nstart = -1s\n" G, 2, "is more than 365 days after start" },
    { "[vpxi t]\nend = 2026-03-01_00:00:01\n" G, 2, "is more than 365 days after start" },
    { "[vpxi t]\nduration = 366d\n" G, 2, "duration '366d': expected" },
    { "[vpxi t]\nduration = 0h\n" G, 2, "duration '0h'" },
    { "[vpxi t]\nduration = 10\n" G, 2, "duration '10'" },
    { "[vpxi t]\nduration = 1 h\n" G, 2, "duration '1 h'" },
    { "[vpxi t]\nduration = -1h\n" G, 2, "duration '-1h'" },
    { "[vpxi t]\nduration = 1x\n" G, 2, "duration '1x'" },
    { "[vpxi t]\nduration = 99999999999w\n" G, 2, "duration" },
    /* the other [vpxi] keys */
    { V "community = Hipernet\n" G, 3, "community 'Hipernet': expected" },
    { V "renew-period = 9s\n" G, 3, "renew-period '9s'" },
    { V "renew-period = 2d\n" G, 3, "renew-period '2d'" },
    { V "renew-margin = 8d\n" G, 3, "renew-margin '8d'" },
    { V "renew-margin = 10m\n" G, 3,
      "renew-margin '600s' is not more than renew-period (600s): certificates would expire" },
    { V "user = 2001:db8::1\n" G, 3, "user '2001:db8::1': not a HIT" },
    { V "user = not-a-hit\n" G, 3, "user 'not-a-hit': expected a HIT in IPv6 text form" },
    { V "user = 2001:20::1\nuser = 2001:20:0::1\n" G, 4, "already listed" },
    { V "default-link = none\n" G, 3, "default-link 'none': expected encrypt, integrity or clear" },
    { V "default-link = clear\n" G H, 3,
      "default-link 'clear': clear links only inside one site, but it would apply between g (at "
      "s) and h (at r)" },
    { V "default-link = clear\n" G H L("g", "h", "encrypt\nports = tcp/1"), 3, "default-link" },
    /* groups */
    { V "[group g]\ncount = 0\nsite = s\nimage = i\n", 4, "count '0': expected" },
    { V "[group g]\ncount = 257\nsite = s\nimage = i\n", 4, "count '257'" },
    { V "[group g]\ncount = 1x\nsite = s\nimage = i\n", 4, "count '1x'" },
    { V "[group g]\ncount = +1\nsite = s\nimage = i\n", 4, "count '+1'" },
    { V "[group g]\nsite = s\nimage = i\n", 3, "[group g]: count is required" },
    { V "[group g]\ncount = 1\nimage = i\n", 3, "[group g]: site is required" },
    { V "[group g]\ncount = 1\nsite = s\n", 3, "[group g]: image is required" },
    { V "[group g]\ncount = 1\nsite = S\nimage = i\n", 5, "site 'S'" },
    { V "[group g]\ncount = 1\nsite = s\nimage = a b\n", 6, "image 'a b'" },
    { V "[group g]\ncount = 1\nsite = s\nimage =\n", 6, "image '': expected" },
    { V "[group g]\ncount = 1\nsite = s\nimage = i/j\n", 6, "image 'i/j'" },
    { V G "role = Worker\n", 7, "role 'Worker'" },
    { V G "role = a23456789012345678901234567890123\n", 7, "role" },
    { V G "cpu = 0\n", 7, "cpu '0'" },
    { V G "cpu = 0.0001\n", 7, "cpu '0.0001'" },
    { V G "cpu = 256.001\n", 7, "cpu '256.001'" },
    { V G "cpu = .5\n", 7, "cpu '.5'" },
    { V G "cpu = 1.\n", 7, "cpu '1.'" },
    { V G "cpu = 1e3\n", 7, "cpu '1e3'" },
    { V G "memory = 15\n", 7, "memory '15': expected MiB from 16 to 1048576" },
    { V G "memory = 1048577\n", 7, "memory '1048577'" },
    { V G "[group g]\ncount = 1\nsite = s\nimage = i\n", 7,
      "[group g] is defined twice (first at line 3)" },
    { V "[group G]\ncount = 1\nsite = s\nimage = i\n", 3, "group name 'G'" },
    { V "[group g h]\ncount = 1\nsite = s\nimage = i\n" G, 3, "[group] takes one name" },
    { V G "[group s]\ncount = 1\nsite = r\nimage = i\n", 7,
      "group 's' has the name of a site (of group 'g')" },
    { V "[group g]\ncount = 1\nsite = g\nimage = i\n", 3, "group 'g' has the name of a site" },
    /* links */
    { V G L("g", "nowhere", "encrypt"), 7,
      "[link g nowhere]: 'nowhere' is neither a group nor a site" },
    { V G L("x", "x", "encrypt"), 7, "[link x x]: 'x' is neither" },
    { V G "[link g]\nsecurity = encrypt\n", 7, "[link] takes two ends" },
    { V G "[link g g g]\nsecurity = encrypt\n", 7, "[link] takes two ends" },
    { V G L("g", "G", "encrypt"), 7, "link end 'G': expected a group name, a site name or *" },
    { V G "[link g g]\n", 7, "[link g g]: security is required" },
    { V G "[link g g]\nports = tcp/1\n", 7, "security is required" },
    { V G L("g", "g", "none"), 8, "security 'none': expected encrypt, integrity or clear" },
    { V G L("g", "g", "encrypt\nports = tcp/0"), 9, "ports 'tcp/0': 'tcp/0': expected" },
    { V G L("g", "g", "encrypt\nports = tcp/65536"), 9, "'tcp/65536': expected" },
    { V G L("g", "g", "encrypt\nports = sctp/80"), 9, "'sctp/80': expected" },
    { V G L("g", "g", "encrypt\nports = TCP/80"), 9, "'TCP/80'" },
    { V G L("g", "g", "encrypt\nports = tcp/90-80"), 9, "'tcp/90-80'" },
    { V G L("g", "g", "encrypt\nports = tcp/80-"), 9, "'tcp/80-'" },
    { V G L("g", "g", "encrypt\nports = tcp/80,"), 9, "'': expected" },
    { V G L("g", "g", "encrypt\nports = tcp 80"), 9, "'tcp 80'" },
    { V G L("g", "g", "encrypt\nports ="), 9, "ports '': '': expected" },
    { V G L("g", "g",
            "encrypt\nports = tcp/1,tcp/2,tcp/3,tcp/4,tcp/5,tcp/6,tcp/7,tcp/8,tcp/9,tcp/10,tcp/"
            "11,tcp/12,tcp/13,tcp/14,tcp/15,tcp/16,tcp/17,tcp/18,tcp/19,tcp/20,tcp/21,tcp/22,"
            "tcp/23,tcp/24,tcp/25,tcp/26,tcp/27,tcp/28,tcp/29,tcp/30,tcp/31,tcp/32,tcp/33"),
      9, "at most 32 entries" },
    { V G L("*", "g", "clear"), 7,
      "[link * g]: security 'clear': clear links only inside one site, and * stands for any site" },
    { V G H L("g", "h", "clear"), 11,
      "[link g h]: security 'clear': clear links only inside one site (g is at s, h at r)" },
    { V G H L("s", "r", "clear\nports = tcp/5000"), 11, "clear links only inside one site" },
    { V G H L("g", "r", "integrity") L("r", "g", "encrypt"), 13,
      "[link r g]: duplicate rule (same ends and ports as line 11)" },
    { V G L("g", "g", "integrity\nports = tcp/80, udp/53")
          L("g", "g", "encrypt\nports = udp/53,tcp/80,tcp/80"),
      10, "duplicate rule (same ends and ports as line 7)" },
    { V G L("*", "*", "integrity") L("*", "*", "encrypt"), 9, "duplicate rule" },
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct bad *b = &bad[i];
        struct vpxi_spec *s = (struct vpxi_spec *)1;
        char err[ERRLEN], prefix[32];
        int r = parse(b->text, &s, err);
        bool ok;

        snprintf(prefix, sizeof(prefix), "t.vpxi:%d: ", b->line);
        ok = r == VPXI_ERR_BAD_FORMAT && s == NULL && !strncmp(err, prefix, strlen(prefix)) &&
             strstr(err, b->why) != NULL && count_lines(err) == 1;
        t_checks++;
        if (!ok) {
            t_failures++;
            fprintf(stderr, "bad[%zu]: r=%d, want line %d and \"%s\", got:\n%s", i, r, b->line,
                    b->why, err);
        }
        if (r == 0)
            vpxi_spec_free(s);
    }
}

/* All errors of a file are reported, sorted by line. */
static void test_several(void)
{
    static const struct {
        int line;
        const char *why;
    } want[] = {
        { 3, "vpxi name 'Bad_Name'" },
        { 6, "end and duration: give one, not both" },
        { 7, "renew-period '1s'" },
        { 8, "unknown key 'colour'" },
        { 11, "count '0'" },
        { 14, "cpu '-1'" },
        { 16, "[group g1] is defined twice (first at line 10)" },
        { 21, "[group g2]: count is required" },
        { 21, "[group g2]: image is required" },
        { 23, "memory '8'" },
        { 25, "'nowhere' is neither a group nor a site" },
        { 28, "clear links only inside one site (g1 is at site-a, g2 at site-b)" },
        { 31, "duplicate rule (same ends and ports as line 28)" },
        { 36, "ports 'sctp/9'" },
    };
    enum { NWANT = sizeof(want) / sizeof(want[0]) };
    size_t len;
    char *text = read_vector("spec/several.vpxi", &len), err[ERRLEN], *line;
    struct vpxi_spec *s = NULL;
    size_t i = 0;

    CHECK(text != NULL);
    if (!text)
        return;
    CHECK_ERR(vpxi_spec_parse(text, len, "several.vpxi", NOW, &s, err, sizeof(err)),
              VPXI_ERR_BAD_FORMAT);
    CHECK(s == NULL);
    CHECK_EQ(count_lines(err), NWANT);
    line = err;
    for (i = 0; i < NWANT && *line; i++) {
        char prefix[32], *nl = strchr(line, '\n');
        snprintf(prefix, sizeof(prefix), "several.vpxi:%d: ", want[i].line);
        *nl = '\0';
        CHECK(!strncmp(line, prefix, strlen(prefix)));
        CHECK(strstr(line, want[i].why) != NULL);
        if (strncmp(line, prefix, strlen(prefix)) || !strstr(line, want[i].why))
            fprintf(stderr, "  want %s%s\n  got  %s\n", prefix, want[i].why, line);
        line = nl + 1;
    }
    CHECK_EQ(i, NWANT);
    free(text);
}

static void test_nul_byte(void)
{
    size_t len;
    char *text = read_vector("spec/nul.vpxi", &len), err[ERRLEN];
    struct vpxi_spec *s = NULL;

    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(memchr(text, 0, len) != NULL);
    CHECK_ERR(parse_n(text, len, &s, err), VPXI_ERR_BAD_FORMAT);
    /* the line is refused as a whole, so image is also missing */
    CHECK_STR(err, "t.vpxi:3: [group g]: image is required\n"
                   "t.vpxi:6: NUL byte in column 11\n");
    free(text);
}

/* A spec that differs from the example only in its line ends. */
static void test_crlf(void)
{
    size_t len, n = 0;
    char *text = read_vector("../../examples/medimg.vpxi", &len), *crlf, err[ERRLEN];
    struct vpxi_spec *a = NULL, *b = NULL;

    if (!text || (crlf = malloc(2 * len)) == NULL) {
        CHECK(0);
        free(text);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n')
            crlf[n++] = '\r';
        crlf[n++] = text[i];
    }
    CHECK_OK(parse_n(text, len, &a, err));
    CHECK_OK(parse_n(crlf, n, &b, err));
    if (a && b) {
        CHECK_EQ(a->ngroups, b->ngroups);
        CHECK_EQ(a->nlinks, b->nlinks);
        CHECK_MEM(a->groups, b->groups, a->ngroups * sizeof(*a->groups));
        CHECK_STR(a->links[1].b, b->links[1].b);
    }
    vpxi_spec_free(a);
    vpxi_spec_free(b);
    free(crlf);
    free(text);
}

/* ---- limits --------------------------------------------------------------- */

/* Appends to a growing string (test helper: aborts on failure). */
static void cat(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cat(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (*buf = realloc(*buf, *len + (size_t)n + 1)) == NULL)
        abort();
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

/* ngroups groups of count nodes each, then nlinks distinct link rules. */
static char *build(unsigned ngroups, unsigned count, unsigned nlinks, size_t *len)
{
    char *buf = NULL;

    *len = 0;
    cat(&buf, len, V);
    for (unsigned i = 0; i < ngroups; i++)
        cat(&buf, len, "[group g%u]\ncount = %u\nsite = s\nimage = i\n", i, count);
    for (unsigned i = 0; i < nlinks; i++)
        cat(&buf, len, "[link g0 g0]\nsecurity = encrypt\nports = tcp/%u\n", i + 1);
    return buf;
}

static int parse_built(unsigned ngroups, unsigned count, unsigned nlinks, char *err)
{
    size_t len;
    char *text = build(ngroups, count, nlinks, &len);
    struct vpxi_spec *s = NULL;
    int r = parse_n(text, len, &s, err);

    if (r == 0) {
        CHECK_EQ(s->ngroups, ngroups);
        CHECK_EQ(s->nlinks, nlinks);
        CHECK_EQ(s->total_nodes, ngroups * count);
    }
    vpxi_spec_free(s);
    free(text);
    return r;
}

static void test_limits(void)
{
    char err[ERRLEN], line[VPXI_SPEC_LINE_MAX + 256];
    struct vpxi_spec *s = NULL;
    size_t len;
    char *text;

    CHECK_OK(parse_built(VPXI_SPEC_GROUPS_MAX, 1, VPXI_SPEC_LINKS_MAX, err));
    CHECK_ERR(parse_built(VPXI_SPEC_GROUPS_MAX + 1, 1, 0, err), VPXI_ERR_BAD_FORMAT);
    CHECK(strstr(err, "more than 64 groups") != NULL && count_lines(err) == 1);
    CHECK_EQ(strncmp(err, "t.vpxi:259: ", 12), 0); /* 2 + 64 * 4 + 1 */
    CHECK_ERR(parse_built(1, 1, VPXI_SPEC_LINKS_MAX + 2, err), VPXI_ERR_BAD_FORMAT);
    CHECK(strstr(err, "more than 256 link rules") != NULL && count_lines(err) == 1);
    CHECK_OK(parse_built(4, 256, 0, err));
    CHECK_ERR(parse_built(5, 256, 0, err), VPXI_ERR_BAD_FORMAT);
    CHECK_STR(err, "t.vpxi:19: [group g4] brings the VPXI to 1280 nodes: at most 1024\n");
    CHECK_OK(parse_built(1, 1, 0, err));

    /* users */
    for (unsigned n = VPXI_SPEC_USERS_MAX; n <= VPXI_SPEC_USERS_MAX + 1; n++) {
        text = NULL;
        len = 0;
        cat(&text, &len, V);
        for (unsigned i = 1; i <= n; i++)
            cat(&text, &len, "user = 2001:20::%x\n", i);
        cat(&text, &len, G);
        if (n == VPXI_SPEC_USERS_MAX) {
            CHECK_OK(parse_n(text, len, &s, err));
            CHECK(s && s->nusers == VPXI_SPEC_USERS_MAX);
            vpxi_spec_free(s);
            s = NULL;
        } else {
            CHECK_ERR(parse_n(text, len, &s, err), VPXI_ERR_BAD_FORMAT);
            CHECK_STR(err, "t.vpxi:67: user '2001:20::41': at most 64 users\n");
        }
        free(text);
    }

    /* a line of exactly VPXI_SPEC_LINE_MAX octets is read (and its value,
     * quoted shortened, refused); one more is not read */
    for (int extra = 0; extra < 2; extra++) {
        size_t n = strlen(V G "role = ");
        memcpy(line, V G "role = ", n);
        memset(line + n, 'A', VPXI_SPEC_LINE_MAX - 7 + extra);
        strcpy(line + n + VPXI_SPEC_LINE_MAX - 7 + extra, "\n");
        CHECK_ERR(parse(line, &s, err), VPXI_ERR_BAD_FORMAT);
        CHECK_EQ(count_lines(err), 1);
        if (extra)
            CHECK_STR(err, "t.vpxi:7: line longer than 4096 octets\n");
        else
            CHECK(strstr(err, "t.vpxi:7: role 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                              "...': expected") == err);
    }
    /* an overlong header skips its section rather than blame its keys on [group g] */
    snprintf(line, sizeof(line), V G "[link %*s\nsecurity = clear\n", VPXI_SPEC_LINE_MAX, "]");
    CHECK_ERR(parse(line, &s, err), VPXI_ERR_BAD_FORMAT);
    CHECK_STR(err, "t.vpxi:7: line longer than 4096 octets\n");

    /* the file size cap: a good spec padded with comment lines */
    len = VPXI_SPEC_FILE_MAX + 1;
    if ((text = malloc(len)) != NULL) {
        memset(text, '#', len);
        for (size_t i = 99; i < len; i += 100)
            text[i] = '\n';
        memcpy(text, V G, strlen(V G));
        CHECK_ERR(parse_n(text, len, &s, err), VPXI_ERR_TOO_LARGE);
        CHECK_STR(err, "t.vpxi:0: larger than 1048576 octets\n");
        CHECK_OK(parse_n(text, len - 1, &s, err));
        vpxi_spec_free(s);
        s = NULL;
        free(text);
    }
}

/* Many errors: the first VPXI_SPEC_ERRORS_MAX are listed, the rest counted;
 * a short buffer is cut but terminated. */
static void test_many_errors(void)
{
    char *text = NULL, err[64 * 1024], small[40];
    size_t len = 0;
    struct vpxi_spec *s = NULL;

    cat(&text, &len, V G);
    for (int i = 0; i < 150; i++)
        cat(&text, &len, "bogus%d = 1\n", i);
    CHECK_ERR(parse_n(text, len, &s, err), VPXI_ERR_BAD_FORMAT);
    CHECK_EQ(count_lines(err), VPXI_SPEC_ERRORS_MAX + 1);
    CHECK(strstr(err, "t.vpxi:7: unknown key 'bogus0'\n") == err);
    CHECK(strstr(err, "t.vpxi:0: 50 more errors not shown\n") != NULL);
    CHECK_ERR(vpxi_spec_parse(text, len, "t.vpxi", NOW, &s, small, sizeof(small)),
              VPXI_ERR_BAD_FORMAT);
    CHECK_EQ(strlen(small), sizeof(small) - 1);
    CHECK_ERR(vpxi_spec_parse(text, len, NULL, NOW, &s, NULL, 0), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_spec_parse(NULL, 0, NULL, NOW, &s, err, sizeof(err)), VPXI_ERR_BAD_FORMAT);
    CHECK_STR(err, "spec:0: no [vpxi NAME] section\n"
                   "spec:0: no [group NAME] section: a VPXI needs at least one group\n");
    free(text);
}

/* ---- robustness ----------------------------------------------------------- */

/* Every prefix of a good file, each in a buffer of exactly its length (so
 * that a sanitizer sees any read past the end): parses or fails cleanly. */
static void truncations(const char *name)
{
    size_t len, ok = 0;
    char *text = read_vector(name, &len), err[ERRLEN];

    CHECK(text != NULL);
    for (size_t n = 0; text && n <= len; n++) {
        char *p = malloc(n ? n : 1);
        struct vpxi_spec *s = NULL;
        int r;
        if (!p)
            abort();
        memcpy(p, text, n);
        r = parse_n(p, n, &s, err);
        CHECK(r == 0 || r == VPXI_ERR_BAD_FORMAT);
        CHECK((r == 0) == (s != NULL));
        CHECK(r == 0 || (err[0] && err[strlen(err) - 1] == '\n'));
        ok += r == 0;
        vpxi_spec_free(s);
        free(p);
    }
    CHECK(ok >= 1); /* at least the whole file */
    free(text);
}

static void test_truncations(void)
{
    truncations("../../examples/medimg.vpxi");
    truncations("spec/full.vpxi");
}

/* The Nth allocation fails, for every N: NOMEM and nothing leaks (run under
 * ASan to check the leaks), until the parse gets what it needs. */
static void alloc_failures(const char *text, int want)
{
    char err[ERRLEN];
    int r = VPXI_ERR_NOMEM;
    long n;

    for (n = 0; n < 10000 && r == VPXI_ERR_NOMEM; n++) {
        struct vpxi_spec *s = NULL;
        vpxi_alloc_fail_after(n);
        r = parse(text, &s, err);
        vpxi_alloc_fail_after(-1);
        CHECK(r == want || r == VPXI_ERR_NOMEM);
        CHECK((r == 0) == (s != NULL));
        if (r == VPXI_ERR_NOMEM)
            CHECK_STR(err, "t.vpxi:0: out of memory\n");
        vpxi_spec_free(s);
    }
    CHECK_EQ(r, want);
    CHECK(n > 1);
}

static void test_alloc_failures(void)
{
    alloc_failures(V "user = 2001:20::1\nuser = 2001:20::2\n" G H L(
                       "g", "h", "integrity\nports = tcp/1, udp/2") L("*", "*", "encrypt"),
                   0);
    alloc_failures(V G "bogus = 1\n" L("g", "g", "encrypt\nports = tcp/1"), VPXI_ERR_BAD_FORMAT);
}

int main(void)
{
    RUN(test_example);
    RUN(test_full);
    RUN(test_link_resolution);
    RUN(test_port_rules);
    RUN(test_port_classes);
    RUN(test_link_sec_names);
    RUN(test_good);
    RUN(test_bad);
    RUN(test_several);
    RUN(test_nul_byte);
    RUN(test_crlf);
    RUN(test_limits);
    RUN(test_many_errors);
    RUN(test_truncations);
    RUN(test_alloc_failures);
    T_DONE();
}
