/*
 * spec.c - the VPXI specification file (docs/spec.md): what a user writes to
 * ask for a VPXI, parsed into a struct vpxi_spec.
 *
 * The file is read once, line by line, with the lexical rules of the vpxid
 * configuration (src/vpxid/config.c); each key is one row of keywords[],
 * which gives its section, whether it may repeat and its setter. Checks that
 * need the whole file (required keys, times, link ends, clear links,
 * duplicate rules, the default link) run when the file has been read.
 *
 * A user fixes a spec faster when told everything that is wrong at once, so
 * no error stops the parse: each is recorded with its line and reading goes
 * on. To keep one mistake from causing a cascade of others, a section whose
 * header is wrong is still read (into a scratch group or link, so its keys
 * are checked) but not kept, and a group with a bad name is kept so that
 * links naming it resolve. Errors are printed sorted by line.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/cert.h"
#include "vpxi/identity.h"
#include "vpxi/spec.h"

enum {
    SEC_PER_MIN = 60,
    SEC_PER_HOUR = 3600,
    SEC_PER_DAY = 86400,
    SEC_PER_WEEK = 7 * 86400,
    RENEW_MARGIN_FACTOR = 3, /* default renew-margin = 3 * renew-period */
    PORTS_BONUS = 10,        /* specificity a rule gains by naming ports */
    SPEC_GROUP = 2,          /* specificity of a link end naming a group */
    SPEC_SITE = 1,           /* ... a site */
    SPEC_STAR = 0,           /* ... * */
    UINT_DIGITS_MAX = 9,     /* digits of a count, port or size (< 2^32) */
    CPU_INT_DIGITS_MAX = 6,  /* digits before the point of cpu = */
    CPU_FRAC_DIGITS_MAX = 3, /* cpu is kept in thousandths of a core */
    DURATION_DIGITS_MAX = 9,
    QUOTE_MAX = 48,  /* octets of a bad value quoted in a message */
    DIAG_LEN = 256,  /* one message, without the FILE:LINE: prefix */
    WHY_LEN = 160,   /* the reason a setter gives */
    HEADER_WORDS = 4 /* [link A B] has 3; one more detects extras */
};

/* The last second of 9999-12-31: dates (vpxi_date_parse) end there, and a
 * now within [0, NOW_MAX] keeps every sum below far from overflow. */
#define NOW_MAX INT64_C(253402300799)

enum section { S_NONE, S_VPXI, S_GROUP, S_LINK, S_SKIP };

static const char *const section_names[] = {
    [S_NONE] = "", [S_VPXI] = "vpxi", [S_GROUP] = "group", [S_LINK] = "link", [S_SKIP] = "",
};

enum kw {
    KW_START,
    KW_END,
    KW_DURATION,
    KW_COMMUNITY,
    KW_RENEW_PERIOD,
    KW_RENEW_MARGIN,
    KW_USER,
    KW_DEFAULT_LINK,
    KW_COUNT,
    KW_SITE,
    KW_IMAGE,
    KW_ROLE,
    KW_CPU,
    KW_MEMORY,
    KW_SECURITY,
    KW_PORTS,
    NKW
};

struct diag {
    int line;
    unsigned seq; /* report order, so that sorting by line is stable */
    char text[DIAG_LEN];
};

struct parser {
    const char *file;
    int64_t now;
    int line;
    struct vpxi_spec *s;
    enum section sec;
    struct vpxi_spec_group *group; /* S_GROUP: in s->groups, or &scratch_group */
    struct vpxi_spec_link *link;   /* S_LINK: in s->links, or &scratch_link */
    struct vpxi_spec_group scratch_group;
    struct vpxi_spec_link scratch_link;
    int key_line[NKW]; /* current section: line where each key was given, or 0 */
    uint32_t key_ok;   /* current section: keys whose value was accepted */
    int vpxi_line;     /* line of [vpxi NAME], 0 while none */
    int vpxi_key[NKW]; /* key_line and key_ok of the [vpxi] section */
    uint32_t vpxi_ok;
    int64_t duration;
    bool groups_full, links_full;
    bool link_bad[VPXI_SPEC_LINKS_MAX]; /* a value of the rule was refused */
    struct diag *diags;                 /* the first VPXI_SPEC_ERRORS_MAX errors */
    size_t ndiags;
    unsigned nerrors; /* all of them */
    bool oom;
};

static void report(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct parser *p, int line, const char *fmt, ...)
{
    struct diag *d;
    va_list ap;

    p->nerrors++;
    if (p->ndiags >= VPXI_SPEC_ERRORS_MAX)
        return;
    if (!p->diags && (p->diags = vpxi_calloc(VPXI_SPEC_ERRORS_MAX, sizeof(*p->diags))) == NULL) {
        p->oom = true;
        return;
    }
    d = &p->diags[p->ndiags];
    d->line = line;
    d->seq = (unsigned)p->ndiags++;
    va_start(ap, fmt);
    vsnprintf(d->text, sizeof(d->text), fmt, ap);
    va_end(ap);
}

/* A value as quoted in a message: long ones are cut, so that one bad line
 * cannot push the other errors out of the caller's buffer. */
static const char *quote(const char *v, char buf[static QUOTE_MAX + 4])
{
    size_t n = strlen(v);

    if (n <= QUOTE_MAX)
        return v;
    memcpy(buf, v, QUOTE_MAX);
    memcpy(buf + QUOTE_MAX, "...", 4);
    return buf;
}

/* Copies a checked or reported name; overlong ones were already refused. */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- value syntax -------------------------------------------------------- */

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9][a-z0-9-]{0,max-1}: vpxi, group, site and community names. */
static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max || !lower_alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool valid_role(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > VPXI_SPEC_ROLE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool valid_image(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > VPXI_SPEC_IMAGE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z') && s[i] != '.' && s[i] != '_' &&
            s[i] != '-')
            return false;
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n decimal digits at s (no sign, no spaces), within [lo, hi]. */
static bool parse_uint_n(const char *s, size_t n, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v = 0;

    *out = 0;
    if (n == 0 || n > UINT_DIGITS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    return parse_uint_n(s, strlen(s), lo, hi, out);
}

/* N followed by one unit (s, m, h, d, w), as seconds within [lo, hi]. */
static bool parse_duration(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0, unit;
    size_t n = strlen(s), i;

    *out = 0;
    for (i = 0; i < n && is_digit(s[i]); i++)
        if (i < DURATION_DIGITS_MAX)
            v = v * 10 + (s[i] - '0');
    if (i == 0 || i > DURATION_DIGITS_MAX || i + 1 != n)
        return false;
    switch (s[i]) {
    case 's': unit = 1; break;
    case 'm': unit = SEC_PER_MIN; break;
    case 'h': unit = SEC_PER_HOUR; break;
    case 'd': unit = SEC_PER_DAY; break;
    case 'w': unit = SEC_PER_WEEK; break;
    default: return false;
    }
    v *= unit; /* at most 10^9 weeks: no overflow */
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Cores as a decimal with at most three decimals, 0 < x <= 256. */
static bool parse_cpu(const char *s, unsigned *milli)
{
    uint64_t ip = 0, fp = 0;
    size_t i = 0, f = 0;

    *milli = 0;
    for (; is_digit(s[i]); i++)
        if (i < CPU_INT_DIGITS_MAX)
            ip = ip * 10 + (uint64_t)(s[i] - '0');
    if (i == 0 || i > CPU_INT_DIGITS_MAX)
        return false;
    if (s[i] == '.') {
        for (i++; is_digit(s[i]); i++, f++)
            if (f < CPU_FRAC_DIGITS_MAX)
                fp = fp * 10 + (uint64_t)(s[i] - '0');
        if (f == 0 || f > CPU_FRAC_DIGITS_MAX)
            return false;
        for (; f < CPU_FRAC_DIGITS_MAX; f++)
            fp *= 10;
    }
    if (s[i] != '\0')
        return false;
    ip = ip * 1000 + fp;
    if (ip == 0 || ip > VPXI_SPEC_CPU_MILLI_MAX)
        return false;
    *milli = (unsigned)ip;
    return true;
}

const char *vpxi_link_sec_name(enum vpxi_link_sec s)
{
    switch (s) {
    case VPXI_LINK_CLEAR: return "clear";
    case VPXI_LINK_INTEGRITY: return "integrity";
    case VPXI_LINK_ENCRYPT: return "encrypt";
    }
    return "?";
}

int vpxi_link_sec_parse(const char *s, enum vpxi_link_sec *out)
{
    static const enum vpxi_link_sec all[] = { VPXI_LINK_CLEAR, VPXI_LINK_INTEGRITY,
                                              VPXI_LINK_ENCRYPT };

    /* On failure the output is the strongest setting, not the zero value
     * (clear): a caller that ignores the error must not weaken a link. */
    *out = VPXI_LINK_ENCRYPT;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!strcmp(s, vpxi_link_sec_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return VPXI_ERR_INVALID;
}

/* ---- ports --------------------------------------------------------------- */

static int ports_cmp(const void *x, const void *y)
{
    const struct vpxi_spec_ports *a = x, *b = y;

    if (a->proto != b->proto)
        return a->proto < b->proto ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return 0;
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* One entry: tcp/PORT or tcp/LO-HI (likewise udp). s is left as it is, for
 * the message if it is wrong. */
static bool parse_port_entry(const char *s, struct vpxi_spec_ports *out)
{
    const char *num, *dash;
    unsigned lo, hi;

    if (!strncmp(s, "tcp/", 4))
        out->proto = IPPROTO_TCP;
    else if (!strncmp(s, "udp/", 4))
        out->proto = IPPROTO_UDP;
    else
        return false;
    num = s + 4;
    dash = strchr(num, '-');
    if (!parse_uint_n(num, dash ? (size_t)(dash - num) : strlen(num), 1, UINT16_MAX, &lo))
        return false;
    hi = lo;
    if (dash && !parse_uint(dash + 1, lo, UINT16_MAX, &hi))
        return false;
    out->lo = (uint16_t)lo;
    out->hi = (uint16_t)hi;
    return true;
}

/* A comma-separated list, kept sorted and without repeats so that two rules
 * name the same traffic exactly when their lists are equal. */
static int parse_ports(struct parser *p, const char *v, struct vpxi_spec_link *l, char *why,
                       size_t wlen)
{
    struct vpxi_spec_ports tmp[VPXI_SPEC_PORTS_MAX];
    char buf[VPXI_SPEC_LINE_MAX + 1], q[QUOTE_MAX + 4], *item, *next;
    size_t n = 0, k = 0;

    copy(buf, sizeof(buf), v);
    for (item = buf; item; item = next) {
        if ((next = strchr(item, ',')) != NULL)
            *next++ = '\0';
        item = trim(item);
        if (n == VPXI_SPEC_PORTS_MAX) {
            snprintf(why, wlen, "at most %d entries", VPXI_SPEC_PORTS_MAX);
            return -1;
        }
        if (!parse_port_entry(item, &tmp[n++])) {
            snprintf(why, wlen, "'%s': expected tcp/PORT, tcp/PORT-PORT, udp/... (1-65535)",
                     quote(item, q));
            return -1;
        }
    }
    qsort(tmp, n, sizeof(tmp[0]), ports_cmp);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ports_cmp(&tmp[k - 1], &tmp[i]) != 0)
            tmp[k++] = tmp[i];
    if ((l->ports = vpxi_calloc(k, sizeof(*l->ports))) == NULL) {
        p->oom = true;
        snprintf(why, wlen, "out of memory");
        return -1;
    }
    memcpy(l->ports, tmp, k * sizeof(*l->ports));
    l->nports = k;
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static const char time_forms[] =
    "expected YYYY-MM-DD_HH:MM:SS (UTC), now, or +N with a unit s, m, h, d or w";
static const char name_forms[] = "expected [a-z0-9][a-z0-9-]{0,30}";

static int set_time(struct parser *p, const char *v, int64_t *t, char *why, size_t wlen)
{
    if (vpxi_time_parse(v, p->now, t) != 0) {
        snprintf(why, wlen, "%s", time_forms);
        return -1;
    }
    return 0;
}

static int set_start(struct parser *p, const char *v, char *why, size_t wlen)
{
    return set_time(p, v, &p->s->start, why, wlen);
}

static int set_end(struct parser *p, const char *v, char *why, size_t wlen)
{
    return set_time(p, v, &p->s->end, why, wlen);
}

static int set_duration(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!parse_duration(v, 1, VPXI_SPEC_LIFETIME_MAX, &p->duration)) {
        snprintf(why, wlen, "expected N with a unit s, m, h, d or w, from 1s to 365d");
        return -1;
    }
    return 0;
}

static int set_community(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!valid_name(v, VPXI_SPEC_COMMUNITY_MAX)) {
        snprintf(why, wlen, "expected [a-z0-9][a-z0-9-]{0,63}");
        return -1;
    }
    copy(p->s->community, sizeof(p->s->community), v);
    return 0;
}

static int set_renew_period(struct parser *p, const char *v, char *why, size_t wlen)
{
    int64_t t;

    if (!parse_duration(v, VPXI_SPEC_RENEW_PERIOD_MIN, VPXI_SPEC_RENEW_PERIOD_MAX, &t)) {
        snprintf(why, wlen, "expected N with a unit s, m, h or d, from 10s to 1d");
        return -1;
    }
    p->s->renew_period = (unsigned)t;
    return 0;
}

static int set_renew_margin(struct parser *p, const char *v, char *why, size_t wlen)
{
    int64_t t;

    if (!parse_duration(v, 1, VPXI_SPEC_RENEW_MARGIN_MAX, &t)) {
        snprintf(why, wlen, "expected N with a unit s, m, h, d or w, from 1s to 7d");
        return -1;
    }
    p->s->renew_margin = (unsigned)t;
    return 0;
}

static int set_user(struct parser *p, const char *v, char *why, size_t wlen)
{
    struct vpxi_spec *s = p->s;
    uint8_t hit[VPXI_HIT_LEN], (*u)[VPXI_HIT_LEN];

    if (inet_pton(AF_INET6, v, hit) != 1) {
        snprintf(why, wlen, "expected a HIT in IPv6 text form");
        return -1;
    }
    if (!vpxi_hit_is_orchid(hit)) {
        snprintf(why, wlen, "not a HIT (outside the ORCHID prefix 2001:20::/28)");
        return -1;
    }
    for (size_t i = 0; i < s->nusers; i++)
        if (!memcmp(s->users[i], hit, VPXI_HIT_LEN)) {
            snprintf(why, wlen, "this user is already listed");
            return -1;
        }
    if (s->nusers == VPXI_SPEC_USERS_MAX) {
        snprintf(why, wlen, "at most %d users", VPXI_SPEC_USERS_MAX);
        return -1;
    }
    if ((u = vpxi_realloc(s->users, (s->nusers + 1) * sizeof(*u))) == NULL) {
        p->oom = true;
        snprintf(why, wlen, "out of memory");
        return -1;
    }
    s->users = u;
    memcpy(s->users[s->nusers++], hit, VPXI_HIT_LEN);
    return 0;
}

static int set_sec(enum vpxi_link_sec *out, const char *v, char *why, size_t wlen)
{
    if (vpxi_link_sec_parse(v, out) != 0) {
        snprintf(why, wlen, "expected encrypt, integrity or clear");
        return -1;
    }
    return 0;
}

static int set_default_link(struct parser *p, const char *v, char *why, size_t wlen)
{
    return set_sec(&p->s->default_link, v, why, wlen);
}

static int set_count(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!parse_uint(v, 1, VPXI_SPEC_COUNT_MAX, &p->group->count)) {
        snprintf(why, wlen, "expected a number of nodes from 1 to %d", VPXI_SPEC_COUNT_MAX);
        return -1;
    }
    return 0;
}

static int set_site(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!valid_name(v, VPXI_SPEC_NAME_MAX)) {
        snprintf(why, wlen, "%s", name_forms);
        return -1;
    }
    copy(p->group->site, sizeof(p->group->site), v);
    return 0;
}

static int set_image(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!valid_image(v)) {
        snprintf(why, wlen, "expected [A-Za-z0-9._-]{1,64}");
        return -1;
    }
    copy(p->group->image, sizeof(p->group->image), v);
    return 0;
}

static int set_role(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!valid_role(v)) {
        snprintf(why, wlen, "expected [a-z0-9-]{1,32}");
        return -1;
    }
    copy(p->group->role, sizeof(p->group->role), v);
    return 0;
}

static int set_cpu(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!parse_cpu(v, &p->group->cpu_milli)) {
        snprintf(why, wlen, "expected cores, 0 < cpu <= 256, at most 3 decimals");
        return -1;
    }
    return 0;
}

static int set_memory(struct parser *p, const char *v, char *why, size_t wlen)
{
    if (!parse_uint(v, VPXI_SPEC_MEMORY_MIN, VPXI_SPEC_MEMORY_MAX, &p->group->memory_mb)) {
        snprintf(why, wlen, "expected MiB from %d to %d", VPXI_SPEC_MEMORY_MIN,
                 VPXI_SPEC_MEMORY_MAX);
        return -1;
    }
    return 0;
}

static int set_security(struct parser *p, const char *v, char *why, size_t wlen)
{
    return set_sec(&p->link->sec, v, why, wlen);
}

static int set_ports(struct parser *p, const char *v, char *why, size_t wlen)
{
    return parse_ports(p, v, p->link, why, wlen);
}

struct keyword {
    const char *name;
    enum section section;
    bool repeat; /* may be given more than once */
    bool required;
    int (*set)(struct parser *p, const char *v, char *why, size_t wlen);
};

static const struct keyword keywords[NKW] = {
    [KW_START] = { "start", S_VPXI, false, false, set_start },
    [KW_END] = { "end", S_VPXI, false, false, set_end }, /* or duration: checked apart */
    [KW_DURATION] = { "duration", S_VPXI, false, false, set_duration },
    [KW_COMMUNITY] = { "community", S_VPXI, false, false, set_community },
    [KW_RENEW_PERIOD] = { "renew-period", S_VPXI, false, false, set_renew_period },
    [KW_RENEW_MARGIN] = { "renew-margin", S_VPXI, false, false, set_renew_margin },
    [KW_USER] = { "user", S_VPXI, true, false, set_user },
    [KW_DEFAULT_LINK] = { "default-link", S_VPXI, false, false, set_default_link },
    [KW_COUNT] = { "count", S_GROUP, false, true, set_count },
    [KW_SITE] = { "site", S_GROUP, false, true, set_site },
    [KW_IMAGE] = { "image", S_GROUP, false, true, set_image },
    [KW_ROLE] = { "role", S_GROUP, false, false, set_role },
    [KW_CPU] = { "cpu", S_GROUP, false, false, set_cpu },
    [KW_MEMORY] = { "memory", S_GROUP, false, false, set_memory },
    [KW_SECURITY] = { "security", S_LINK, false, true, set_security },
    [KW_PORTS] = { "ports", S_LINK, false, false, set_ports },
};

_Static_assert(NKW <= 32, "key_ok is a 32-bit mask");

/* ---- sections ------------------------------------------------------------ */

/* "[group NAME]" or "[link A B]", for messages. */
static void section_label(const struct parser *p, char *buf, size_t cap)
{
    if (p->sec == S_GROUP)
        snprintf(buf, cap, "[group %s]", p->group->name);
    else
        snprintf(buf, cap, "[link %s %s]", p->link->a, p->link->b);
}

/* Checks at the end of a kept group or link: required keys, defaults. */
static void close_kept(struct parser *p)
{
    int line = p->sec == S_GROUP ? p->group->line : p->link->line;
    char label[2 * VPXI_SPEC_NAME_MAX + 16];

    section_label(p, label, sizeof(label));
    for (size_t k = 0; k < NKW; k++)
        if (keywords[k].section == p->sec && keywords[k].required && !p->key_line[k])
            report(p, line, "%s: %s is required", label, keywords[k].name);
    if (p->sec == S_GROUP && !p->key_line[KW_ROLE])
        copy(p->group->role, sizeof(p->group->role), p->group->name);
    /* A rule whose ports were refused would look like a rule for all
     * traffic: keep it out of the duplicate and clear checks. */
    for (size_t k = 0; p->sec == S_LINK && k < NKW; k++)
        if (p->key_line[k] && !(p->key_ok & (UINT32_C(1) << k)))
            p->link_bad[p->link - p->s->links] = true;
}

static void close_section(struct parser *p)
{
    if ((p->sec == S_GROUP && p->group != &p->scratch_group) ||
        (p->sec == S_LINK && p->link != &p->scratch_link))
        close_kept(p);
    if (p->sec == S_VPXI) {
        memcpy(p->vpxi_key, p->key_line, sizeof(p->vpxi_key));
        p->vpxi_ok = p->key_ok;
    }
    vpxi_free(p->scratch_link.ports);
    memset(&p->scratch_link, 0, sizeof(p->scratch_link));
    memset(&p->scratch_group, 0, sizeof(p->scratch_group));
    memset(p->key_line, 0, sizeof(p->key_line));
    p->key_ok = 0;
    p->sec = S_NONE;
}

static void open_vpxi(struct parser *p, char **w, size_t n)
{
    char q[QUOTE_MAX + 4];

    if (p->vpxi_line) {
        report(p, p->line, "a second [vpxi] section (the first is at line %d)", p->vpxi_line);
        p->sec = S_SKIP;
        return;
    }
    /* Kept even when the name is wrong: its keys are still checked, and
     * "no [vpxi NAME] section" would only repeat the error. */
    p->vpxi_line = p->line;
    p->sec = S_VPXI;
    if (n != 2)
        report(p, p->line, "[vpxi] takes one name: [vpxi NAME]");
    else if (!valid_name(w[1], VPXI_SPEC_NAME_MAX))
        report(p, p->line, "vpxi name '%s': %s", quote(w[1], q), name_forms);
    if (n >= 2)
        copy(p->s->name, sizeof(p->s->name), w[1]);
}

static const struct vpxi_spec_group *find_group(const struct vpxi_spec *s, const char *name)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (!strcmp(s->groups[i].name, name))
            return &s->groups[i];
    return NULL;
}

static void open_group(struct parser *p, char **w, size_t n)
{
    struct vpxi_spec *s = p->s;
    const struct vpxi_spec_group *dup;
    struct vpxi_spec_group *g;
    char q[QUOTE_MAX + 4];

    p->sec = S_GROUP;
    p->group = &p->scratch_group;
    p->group->line = p->line;
    if (n != 2) {
        report(p, p->line, "[group] takes one name: [group NAME]");
        return;
    }
    if ((dup = find_group(s, w[1])) != NULL) {
        report(p, p->line, "[group %s] is defined twice (first at line %d)", quote(w[1], q),
               dup->line);
        return;
    }
    if (s->ngroups == VPXI_SPEC_GROUPS_MAX) {
        if (!p->groups_full)
            report(p, p->line, "more than %d groups", VPXI_SPEC_GROUPS_MAX);
        p->groups_full = true;
        return;
    }
    /* Kept even when the name is wrong, so that links naming it resolve. */
    if (!valid_name(w[1], VPXI_SPEC_NAME_MAX))
        report(p, p->line, "group name '%s': %s", quote(w[1], q), name_forms);
    if ((g = vpxi_realloc(s->groups, (s->ngroups + 1) * sizeof(*g))) == NULL) {
        p->oom = true;
        return;
    }
    s->groups = g;
    p->group = g = &s->groups[s->ngroups++];
    memset(g, 0, sizeof(*g));
    copy(g->name, sizeof(g->name), w[1]);
    g->line = p->line;
}

static bool valid_end(const char *e)
{
    return !strcmp(e, "*") || valid_name(e, VPXI_SPEC_NAME_MAX);
}

static void open_link(struct parser *p, char **w, size_t n)
{
    struct vpxi_spec *s = p->s;
    struct vpxi_spec_link *l;
    char q[QUOTE_MAX + 4];
    bool ok = true;

    p->sec = S_LINK;
    p->link = &p->scratch_link;
    p->link->line = p->line;
    if (n != 3) {
        report(p, p->line, "[link] takes two ends: [link A B] (each a group, a site or *)");
        return;
    }
    for (size_t i = 1; i < 3; i++)
        if (!valid_end(w[i]) && (i == 1 || strcmp(w[1], w[2]))) {
            report(p, p->line, "link end '%s': expected a group name, a site name or *",
                   quote(w[i], q));
            ok = false;
        }
    if (!ok)
        return;
    if (s->nlinks == VPXI_SPEC_LINKS_MAX) {
        if (!p->links_full)
            report(p, p->line, "more than %d link rules", VPXI_SPEC_LINKS_MAX);
        p->links_full = true;
        return;
    }
    if ((l = vpxi_realloc(s->links, (s->nlinks + 1) * sizeof(*l))) == NULL) {
        p->oom = true;
        return;
    }
    s->links = l;
    p->link = l = &s->links[s->nlinks++];
    memset(l, 0, sizeof(*l));
    copy(l->a, sizeof(l->a), w[1]);
    copy(l->b, sizeof(l->b), w[2]);
    l->sec = VPXI_LINK_ENCRYPT; /* until security = is read; required */
    l->line = p->line;
}

static void open_section(struct parser *p, char *line)
{
    char *end = strchr(line, ']'), *words[HEADER_WORDS], *save = NULL, *tok, q[QUOTE_MAX + 4];
    size_t n = 0;

    close_section(p);
    if (!end || *trim(end + 1)) {
        report(p, p->line, "malformed section header '%s'", quote(line, q));
        p->sec = S_SKIP;
        return;
    }
    *end = '\0';
    for (tok = strtok_r(line + 1, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
        if (n < HEADER_WORDS)
            words[n++] = tok;
    if (n > 0 && !strcmp(words[0], "vpxi"))
        open_vpxi(p, words, n);
    else if (n > 0 && !strcmp(words[0], "group"))
        open_group(p, words, n);
    else if (n > 0 && !strcmp(words[0], "link"))
        open_link(p, words, n);
    else {
        report(p, p->line,
               "unknown section [%s] (expected [vpxi NAME], [group NAME] or [link A B])",
               n ? quote(words[0], q) : "");
        p->sec = S_SKIP;
    }
}

/* ---- lines --------------------------------------------------------------- */

/* A value may be written in double quotes (no escapes: nothing inside can
 * need one, since no value may contain a quote). */
static bool unquote(char **v)
{
    size_t n = strlen(*v);

    if ((*v)[0] != '"')
        return true;
    if (n < 2 || (*v)[n - 1] != '"' || memchr(*v + 1, '"', n - 2))
        return false;
    (*v)[n - 1] = '\0';
    (*v)++;
    return true;
}

/* The keyword called key in section sec (any section if sec is S_NONE). */
static const struct keyword *find_key(const char *key, enum section sec, size_t *idx)
{
    for (size_t i = 0; i < NKW; i++)
        if (!strcmp(keywords[i].name, key) && (sec == S_NONE || keywords[i].section == sec)) {
            *idx = i;
            return &keywords[i];
        }
    return NULL;
}

static void parse_key(struct parser *p, char *line)
{
    char *eq = strchr(line, '='), *key, *val, why[WHY_LEN], q[QUOTE_MAX + 4], q2[QUOTE_MAX + 4];
    const struct keyword *k;
    size_t i;

    if (!eq) {
        report(p, p->line, "expected 'key = value', got '%s'", quote(line, q));
        return;
    }
    *eq = '\0';
    key = trim(line);
    val = trim(eq + 1);
    if (!*key) {
        report(p, p->line, "expected 'key = value', got '= %s'", quote(val, q));
        return;
    }
    if (p->sec == S_SKIP)
        return; /* the section's header was reported */
    if (p->sec == S_NONE) {
        report(p, p->line, "%s: outside a section (a spec starts with [vpxi NAME])", quote(key, q));
        return;
    }
    if ((k = find_key(key, p->sec, &i)) == NULL) {
        if (find_key(key, S_NONE, &i))
            report(p, p->line, "%s: not valid in a [%s] section", key, section_names[p->sec]);
        else
            report(p, p->line, "unknown key '%s'", quote(key, q));
        return;
    }
    if (p->key_line[i] && !k->repeat) {
        report(p, p->line, "%s: given twice in this section (first at line %d)", key,
               p->key_line[i]);
        return;
    }
    p->key_line[i] = p->line;
    if (!unquote(&val)) {
        report(p, p->line, "%s '%s': unbalanced double quote", key, quote(val, q));
        return;
    }
    if (k->set(p, val, why, sizeof(why)) != 0) {
        report(p, p->line, "%s '%s': %s", key, quote(val, q2), why);
        return;
    }
    p->key_ok |= UINT32_C(1) << i;
}

/* '#' outside double quotes starts a comment. */
static void strip_comment(char *s)
{
    bool quoted = false;

    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (*s == '#' && !quoted) {
            *s = '\0';
            return;
        }
    }
}

static void parse_line(struct parser *p, char *line)
{
    strip_comment(line);
    line = trim(line);
    if (!*line || *line == ';')
        return;
    if (*line == '[')
        open_section(p, line);
    else
        parse_key(p, line);
}

/* A line that cannot be read may have been a section header: skip what
 * follows rather than blame its keys on the section before. */
static void unreadable(struct parser *p, const char *line, size_t n)
{
    size_t i = 0;

    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < n && line[i] == '[') {
        close_section(p);
        p->sec = S_SKIP;
    }
}

/* NUL and control characters other than tab have no place in a spec. */
static bool check_chars(struct parser *p, const char *line, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\0') {
            report(p, p->line, "NUL byte in column %zu", i + 1);
            return false;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            report(p, p->line, "control character 0x%02x in column %zu", c, i + 1);
            return false;
        }
    }
    return true;
}

static void parse_text(struct parser *p, const char *text, size_t len)
{
    char buf[VPXI_SPEC_LINE_MAX + 1];
    size_t off = 0;

    while (off < len) {
        const char *line = text + off, *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;

        off += n + (nl != NULL);
        p->line++;
        if (n > 0 && line[n - 1] == '\r')
            n--; /* CRLF line ends */
        if (n > VPXI_SPEC_LINE_MAX) {
            report(p, p->line, "line longer than %d octets", VPXI_SPEC_LINE_MAX);
            unreadable(p, line, n);
            continue;
        }
        if (!check_chars(p, line, n)) {
            unreadable(p, line, n);
            continue;
        }
        memcpy(buf, line, n);
        buf[n] = '\0';
        parse_line(p, buf);
    }
    close_section(p);
}

/* ---- link resolution ------------------------------------------------------ */

/* Specificity with which a link end matches group g, or -1. */
static int end_spec(const char *end, const struct vpxi_spec_group *g)
{
    if (!strcmp(end, "*"))
        return SPEC_STAR;
    if (!strcmp(end, g->name))
        return SPEC_GROUP;
    if (!strcmp(end, g->site))
        return SPEC_SITE;
    return -1;
}

/* Specificity of rule l for the unordered pair (g1, g2), or -1. */
static int rule_spec(const struct vpxi_spec_link *l, const struct vpxi_spec_group *g1,
                     const struct vpxi_spec_group *g2)
{
    int a1 = end_spec(l->a, g1), b2 = end_spec(l->b, g2);
    int a2 = end_spec(l->a, g2), b1 = end_spec(l->b, g1), best = -1;

    if (a1 >= 0 && b2 >= 0)
        best = a1 + b2;
    if (a2 >= 0 && b1 >= 0 && a2 + b1 > best)
        best = a2 + b1;
    if (best >= 0 && l->nports)
        best += PORTS_BONUS;
    return best;
}

static bool covers(const struct vpxi_spec_link *l, uint8_t proto, uint16_t port)
{
    for (size_t i = 0; i < l->nports; i++)
        if (l->ports[i].proto == proto && l->ports[i].lo <= port && port <= l->ports[i].hi)
            return true;
    return false;
}

/* Precedence: the more specific rule; on a tie, the stronger security. */
static bool precedes(const struct vpxi_spec_link *l, int spec, const struct vpxi_spec_link *than,
                     int than_spec)
{
    return spec > than_spec || (spec == than_spec && l->sec > than->sec);
}

/* The rule that decides for (g1, g2) and this traffic (proto 0: any), or NULL. */
static const struct vpxi_spec_link *best_rule(const struct vpxi_spec *s,
                                              const struct vpxi_spec_group *g1,
                                              const struct vpxi_spec_group *g2, uint8_t proto,
                                              uint16_t port)
{
    const struct vpxi_spec_link *best = NULL;
    int best_spec = -1;

    for (size_t i = 0; i < s->nlinks; i++) {
        const struct vpxi_spec_link *l = &s->links[i];
        int sp;
        if (l->nports && (proto == 0 || !covers(l, proto, port)))
            continue;
        if ((sp = rule_spec(l, g1, g2)) >= 0 && (!best || precedes(l, sp, best, best_spec))) {
            best = l;
            best_spec = sp;
        }
    }
    return best;
}

const struct vpxi_spec_group *vpxi_spec_group(const struct vpxi_spec *s, const char *name)
{
    if (!s || !name)
        vpxi_misuse("vpxi_spec_group: NULL argument");
    return find_group(s, name);
}

enum vpxi_link_sec vpxi_spec_link_sec(const struct vpxi_spec *s, const char *g1, const char *g2,
                                      uint8_t proto, uint16_t port)
{
    const struct vpxi_spec_group *a = vpxi_spec_group(s, g1), *b = vpxi_spec_group(s, g2);
    const struct vpxi_spec_link *l;

    if (!a || !b)
        return VPXI_LINK_ENCRYPT;
    l = best_rule(s, a, b, proto, port);
    return l ? l->sec : s->default_link;
}

size_t vpxi_spec_port_rules(const struct vpxi_spec *s, const char *g1, const char *g2,
                            const struct vpxi_spec_link **out, size_t cap)
{
    const struct vpxi_spec_group *a = vpxi_spec_group(s, g1), *b = vpxi_spec_group(s, g2);
    const struct vpxi_spec_link *all[VPXI_SPEC_LINKS_MAX];
    int spec[VPXI_SPEC_LINKS_MAX];
    size_t n = 0;

    if (cap && !out)
        vpxi_misuse("vpxi_spec_port_rules: NULL out");
    if (!a || !b)
        return 0;
    /* Insertion sort, stable, so that equal rules keep file order. */
    for (size_t i = 0; i < s->nlinks && n < VPXI_SPEC_LINKS_MAX; i++) {
        const struct vpxi_spec_link *l = &s->links[i];
        int sp = l->nports ? rule_spec(l, a, b) : -1;
        size_t j = n;
        if (sp < 0)
            continue;
        for (; j > 0 && precedes(l, sp, all[j - 1], spec[j - 1]); j--) {
            all[j] = all[j - 1];
            spec[j] = spec[j - 1];
        }
        all[j] = l;
        spec[j] = sp;
        n++;
    }
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = all[i];
    return n;
}

/* ---- whole-file checks ---------------------------------------------------- */

/* Whether a [vpxi] key was given and its value accepted. */
static bool vpxi_ok(const struct parser *p, enum kw k)
{
    return (p->vpxi_ok & (UINT32_C(1) << k)) != 0;
}

/* Values that were refused are not compared: that would only repeat the
 * error. */
static void check_times(struct parser *p)
{
    struct vpxi_spec *s = p->s;
    const int *at = p->vpxi_key;
    bool start_ok = !at[KW_START] || vpxi_ok(p, KW_START);
    bool end_ok = vpxi_ok(p, KW_END) || vpxi_ok(p, KW_DURATION);
    char d1[VPXI_DATE_LEN + 1], d2[VPXI_DATE_LEN + 1];
    int end_line = at[KW_END] ? at[KW_END] : at[KW_DURATION];

    if (at[KW_END] && at[KW_DURATION]) {
        report(p, at[KW_END] > at[KW_DURATION] ? at[KW_END] : at[KW_DURATION],
               "end and duration: give one, not both");
        return;
    }
    if (!at[KW_END] && !at[KW_DURATION]) {
        report(p, p->vpxi_line, "[vpxi %s]: end or duration is required", s->name);
        return;
    }
    if (!start_ok)
        return;
    vpxi_date_format(s->start, d1);
    if (s->start < p->now - VPXI_SPEC_PAST_MAX)
        report(p, at[KW_START], "start '%s' is more than 30 days in the past", d1);
    if (!end_ok)
        return;
    if (at[KW_DURATION])
        s->end = s->start + p->duration;
    vpxi_date_format(s->end, d2);
    if (s->end <= s->start)
        report(p, end_line, "end '%s' is not after start '%s'", d2, d1);
    else if (s->end - s->start > VPXI_SPEC_LIFETIME_MAX)
        report(p, end_line, "end '%s' is more than 365 days after start '%s'", d2, d1);
}

static void check_vpxi(struct parser *p)
{
    struct vpxi_spec *s = p->s;
    const int *at = p->vpxi_key;

    if (!p->vpxi_line) {
        report(p, 0, "no [vpxi NAME] section");
        return;
    }
    check_times(p);
    if (!at[KW_RENEW_MARGIN])
        s->renew_margin = RENEW_MARGIN_FACTOR * s->renew_period;
    else if (vpxi_ok(p, KW_RENEW_MARGIN) && (!at[KW_RENEW_PERIOD] || vpxi_ok(p, KW_RENEW_PERIOD)) &&
             s->renew_margin <= s->renew_period)
        report(p, at[KW_RENEW_MARGIN],
               "renew-margin '%us' is not more than renew-period (%us): certificates would "
               "expire before they are renewed",
               s->renew_margin, s->renew_period);
}

static void check_groups(struct parser *p)
{
    struct vpxi_spec *s = p->s;
    unsigned total = 0;
    bool over = false;

    if (s->ngroups == 0)
        report(p, 0, "no [group NAME] section: a VPXI needs at least one group");
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct vpxi_spec_group *g = &s->groups[i];
        for (size_t j = 0; j < s->ngroups; j++)
            if (!strcmp(g->name, s->groups[j].site)) {
                report(p, g->line,
                       "group '%s' has the name of a site (of group '%s'): group and site names "
                       "must differ",
                       g->name, s->groups[j].name);
                break;
            }
        total += g->count;
        if (total > VPXI_SPEC_NODES_MAX && !over) {
            report(p, g->line, "[group %s] brings the VPXI to %u nodes: at most %d", g->name, total,
                   VPXI_SPEC_NODES_MAX);
            over = true;
        }
    }
    s->total_nodes = total;
}

/* The site a link end stands for: "" for *, NULL if it names nothing. */
static const char *end_site(const struct vpxi_spec *s, const char *end)
{
    const struct vpxi_spec_group *g;

    if (!strcmp(end, "*"))
        return "";
    if ((g = find_group(s, end)) != NULL)
        return g->site;
    for (size_t i = 0; i < s->ngroups; i++)
        if (!strcmp(s->groups[i].site, end))
            return s->groups[i].site;
    return NULL;
}

static bool same_rule(const struct vpxi_spec_link *x, const struct vpxi_spec_link *y)
{
    bool ends = (!strcmp(x->a, y->a) && !strcmp(x->b, y->b)) ||
                (!strcmp(x->a, y->b) && !strcmp(x->b, y->a));

    if (!ends || x->nports != y->nports)
        return false;
    /* field by field: memcmp would compare the padding after proto */
    for (size_t i = 0; i < x->nports; i++)
        if (ports_cmp(&x->ports[i], &y->ports[i]) != 0)
            return false;
    return true;
}

static void check_link(struct parser *p, size_t i)
{
    const struct vpxi_spec *s = p->s;
    const struct vpxi_spec_link *l = &s->links[i];
    const char *sa = end_site(s, l->a), *sb = end_site(s, l->b);

    if (!sa)
        report(p, l->line, "[link %s %s]: '%s' is neither a group nor a site", l->a, l->b, l->a);
    if (!sb && strcmp(l->a, l->b))
        report(p, l->line, "[link %s %s]: '%s' is neither a group nor a site", l->a, l->b, l->b);
    if (p->link_bad[i])
        return;
    if (sa && sb && l->sec == VPXI_LINK_CLEAR) {
        if (!*sa || !*sb)
            report(p, l->line,
                   "[link %s %s]: security 'clear': clear links only inside one site, and * "
                   "stands for any site",
                   l->a, l->b);
        else if (strcmp(sa, sb))
            report(p, l->line,
                   "[link %s %s]: security 'clear': clear links only inside one site (%s is at "
                   "%s, %s at %s)",
                   l->a, l->b, l->a, sa, l->b, sb);
    }
    for (size_t j = 0; j < i; j++)
        if (!p->link_bad[j] && same_rule(l, &s->links[j])) {
            report(p, l->line, "[link %s %s]: duplicate rule (same ends and ports as line %d)",
                   l->a, l->b, s->links[j].line);
            break;
        }
}

/* default-link = clear is the rule for every pair no rule covers: refused
 * if one of those pairs spans two sites. */
static void check_default_link(struct parser *p)
{
    const struct vpxi_spec *s = p->s;

    if (s->default_link != VPXI_LINK_CLEAR)
        return;
    for (size_t i = 0; i < s->ngroups; i++)
        for (size_t j = i + 1; j < s->ngroups; j++) {
            const struct vpxi_spec_group *a = &s->groups[i], *b = &s->groups[j];
            if (strcmp(a->site, b->site) && !best_rule(s, a, b, 0, 0)) {
                report(p, p->vpxi_key[KW_DEFAULT_LINK],
                       "default-link 'clear': clear links only inside one site, but it would "
                       "apply between %s (at %s) and %s (at %s)",
                       a->name, a->site, b->name, b->site);
                return;
            }
        }
}

static void validate(struct parser *p)
{
    check_vpxi(p);
    check_groups(p);
    for (size_t i = 0; i < p->s->nlinks; i++)
        check_link(p, i);
    check_default_link(p);
}

/* ---- the result ------------------------------------------------------------ */

static int diag_cmp(const void *x, const void *y)
{
    const struct diag *a = x, *b = y;

    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void put(char *err, size_t errlen, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *err, size_t errlen, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= errlen)
        return;
    va_start(ap, fmt);
    n = vsnprintf(err + *off, errlen - *off, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off = (size_t)n < errlen - *off ? *off + (size_t)n : errlen;
}

static void write_errors(struct parser *p, char *err, size_t errlen)
{
    size_t off = 0;

    if (errlen == 0)
        return;
    err[0] = '\0';
    if (p->oom) {
        put(err, errlen, &off, "%s:0: out of memory\n", p->file);
        return;
    }
    qsort(p->diags, p->ndiags, sizeof(*p->diags), diag_cmp);
    for (size_t i = 0; i < p->ndiags; i++)
        put(err, errlen, &off, "%s:%d: %s\n", p->file, p->diags[i].line, p->diags[i].text);
    if (p->nerrors > p->ndiags)
        put(err, errlen, &off, "%s:0: %u more errors not shown\n", p->file,
            p->nerrors - (unsigned)p->ndiags);
}

void vpxi_spec_free(struct vpxi_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nlinks; i++)
        vpxi_free(s->links[i].ports);
    vpxi_free(s->links);
    vpxi_free(s->groups);
    vpxi_free(s->users);
    vpxi_free(s);
}

int vpxi_spec_parse(const char *text, size_t len, const char *filename, int64_t now,
                    struct vpxi_spec **out, char *err, size_t errlen)
{
    struct parser p = { 0 };
    int r = VPXI_ERR_INTERNAL;

    if (!out || (!text && len) || (!err && errlen))
        vpxi_misuse("vpxi_spec_parse: NULL argument");
    if (now < 0 || now > NOW_MAX)
        vpxi_misuse("vpxi_spec_parse: now out of range");
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    p.file = filename ? filename : "spec";
    p.now = now;
    if (len > VPXI_SPEC_FILE_MAX) {
        if (errlen)
            snprintf(err, errlen, "%s:0: larger than %d octets\n", p.file, VPXI_SPEC_FILE_MAX);
        return VPXI_ERR_TOO_LARGE;
    }
    if ((p.s = vpxi_calloc(1, sizeof(*p.s))) == NULL) {
        p.oom = true;
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    p.s->start = now;
    p.s->renew_period = VPXI_SPEC_RENEW_PERIOD_DEFAULT;
    p.s->default_link = VPXI_LINK_ENCRYPT;
    parse_text(&p, text, len);
    validate(&p);
    if (p.oom) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if (p.nerrors) {
        r = VPXI_ERR_BAD_FORMAT;
        goto out;
    }
    *out = p.s;
    p.s = NULL;
    r = 0;
out:
    if (r != 0)
        write_errors(&p, err, errlen);
    vpxi_free(p.scratch_link.ports);
    vpxi_free(p.diags);
    vpxi_spec_free(p.s);
    return r;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

int vpxi_spec_port_classes(const struct vpxi_spec *s, const char *g1, const char *g2,
                           struct vpxi_spec_port_class *out, size_t cap, size_t *count)
{
    static const uint8_t protos[2] = { IPPROTO_TCP, IPPROTO_UDP };
    const struct vpxi_spec_group *a = vpxi_spec_group(s, g1), *b = vpxi_spec_group(s, g2);
    enum vpxi_link_sec def;
    size_t n = 0;

    if ((cap && !out) || !count)
        vpxi_misuse("vpxi_spec_port_classes: NULL out or count");
    *count = 0;
    if (!a || !b)
        return 0;
    def = vpxi_spec_link_sec(s, g1, g2, 0, 0);
    for (size_t pi = 0; pi < 2; pi++) {
        /* the answer can change only where a rule's ports begin or end */
        uint32_t cuts[VPXI_SPEC_PORTS_MAX * 2 * 8 + 2], *c = cuts, *heap = NULL;
        size_t nc = 0, u = 0, need = 2;
        uint32_t lo = 0;
        enum vpxi_link_sec cur = def;

        for (size_t i = 0; i < s->nlinks; i++)
            if (s->links[i].nports && rule_spec(&s->links[i], a, b) >= 0)
                need += 2 * s->links[i].nports;
        if (need > sizeof(cuts) / sizeof(cuts[0])) {
            if ((heap = vpxi_calloc(need, sizeof(*heap))) == NULL)
                return VPXI_ERR_NOMEM;
            c = heap;
        }
        for (size_t i = 0; i < s->nlinks; i++) {
            const struct vpxi_spec_link *l = &s->links[i];
            if (!l->nports || rule_spec(l, a, b) < 0)
                continue;
            for (size_t j = 0; j < l->nports; j++)
                if (l->ports[j].proto == protos[pi]) {
                    c[nc++] = l->ports[j].lo;
                    c[nc++] = (uint32_t)l->ports[j].hi + 1;
                }
        }
        if (nc) {
            qsort(c, nc, sizeof(*c), cmp_u32);
            for (size_t i = 0; i < nc; i++)
                if (u == 0 || c[u - 1] != c[i])
                    c[u++] = c[i];
            c[u++] = 65536; /* closes the last interval */
        }
        for (size_t i = 0; i < u; i++) {
            enum vpxi_link_sec sec =
                c[i] <= 65535 ? vpxi_spec_link_sec(s, g1, g2, protos[pi], (uint16_t)c[i]) : def;
            if (i > 0 && sec == cur)
                continue;
            if (i > 0 && cur != def) { /* [lo, c[i] - 1] has cur */
                if (n < cap)
                    out[n] = (struct vpxi_spec_port_class){ protos[pi], (uint16_t)lo,
                                                            (uint16_t)(c[i] - 1), cur };
                n++;
            }
            lo = c[i];
            cur = sec;
        }
        vpxi_free(heap);
    }
    *count = n;
    return 0;
}
