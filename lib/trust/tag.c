/*
 * tag.c - the SPKI tag algebra (RFC 2693 6.3.1; /work/notes/spki.md section 3):
 * grammar check, intersection (AIntersect) and implication.
 *
 * Model. A tag denotes a set of constant S-expressions (atoms and lists
 * without star forms): an atom itself, (*) everything, a set the union of its
 * members, a prefix or range the atoms it admits (display hints included),
 * and a list (h e1..en) every list (h v1..vm), m >= n, with vi in ei.
 * Intersection must denote exactly the common part. Where no star form can
 * express it (a prefix against a range, ranges under different orderings) the
 * result is empty: a denial, never a grant.
 *
 * Normal form. Operands are normalized before intersecting: sets are
 * flattened and deduplicated (a set of one is its member), and anything that
 * denotes nothing by construction (an empty set, a range whose bounds cross,
 * a list with such an element, a set of such members) becomes "empty".
 * Intersecting normal forms gives a normal form, so results need no second
 * pass, and "empty" is reported as VPXI_ERR_TAG_EMPTY rather than returned as
 * a tag that grants nothing. (A range over a discrete ordering can still admit
 * no value, e.g. binary g 1 l 2; it is kept, as the notes' table says.)
 *
 * Sharing. Results reuse the operands' nodes. A node's next pointer belongs
 * to the list it was parsed into, so an existing node is never appended to a
 * new list: a shallow clone (same child chain, next = NULL) is. Results are
 * therefore read-only: appending to a list inside one would corrupt an operand.
 *
 * Bounds. Tags come from untrusted certificates. check() caps nesting at
 * TAG_DEPTH_MAX and sets at TAG_SET_MAX; every recursion below descends into
 * an operand, so the C stack is bounded by about twice the depth cap. A set of
 * n against a set of m still costs n*m steps and may build n*m nodes, so each
 * call is charged for its steps and its memory; over budget it fails with
 * VPXI_ERR_TOO_LARGE, and a result that would nest deeper than the cap fails
 * with VPXI_ERR_TOO_DEEP (denials again, which the header does not list).
 */
#include <stdlib.h>
#include <string.h>

#include "vpxi/sexp.h"
#include "vpxi/tag.h"

enum tag_limits {
    TAG_DEPTH_MAX = 64,             /* list nesting of a tag, as VPXI_SEXP_DEPTH_MAX */
    TAG_SET_MAX = 4096,             /* members of one set, in operands and results */
    TAG_WORK_MAX = 1 << 25,         /* steps per call: two full sets (2^24) fit */
    TAG_MEM_MAX = 64 * 1024 * 1024, /* octets of arena memory per call */
    TAG_VEC_MIN = 8,                /* first capacity of a member vector */
    TIME_LEN = 8,                   /* HH:MM:SS */
    DATE_LEN = 19,                  /* YYYY-MM-DD_HH:MM:SS */
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- orderings ------------------------------------------------------------ */

struct ord {
    const char *name;
    bool (*valid)(const struct vpxi_sexp *x);
    int (*cmp)(const struct vpxi_sexp *x, const struct vpxi_sexp *y); /* valid x, y */
    bool exact; /* equal values have equal bytes: "ge x le x" admits x alone */
};

static int sign(int c)
{
    return (c > 0) - (c < 0);
}

/* memcmp order; a proper prefix is smaller. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;

    return c ? sign(c) : (an > bn) - (an < bn);
}

static bool valid_any(const struct vpxi_sexp *x)
{
    return true;
}

static int cmp_alpha(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    return bytes_cmp(x->data, x->len, y->data, y->len);
}

/* Unsigned big-endian: leading zero octets do not count. */
static int cmp_binary(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    const uint8_t *a = x->data, *b = y->data;
    size_t an = x->len, bn = y->len;

    while (an && !*a) {
        a++;
        an--;
    }
    while (bn && !*b) {
        b++;
        bn--;
    }
    if (an != bn)
        return an < bn ? -1 : 1;
    return bytes_cmp(a, an, b, bn);
}

/* A decimal -?[0-9]+(\.[0-9]+)? reduced to its significant digits, so that
 * 007 == 7, 1.50 == 1.5 and -0 == 0 compare equal without floating point. */
struct num {
    bool neg;
    const uint8_t *ip, *fp; /* integer digits (no leading 0), fraction (no trailing 0) */
    size_t il, fl;
};

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static size_t span_digits(const uint8_t *p, size_t i, size_t n)
{
    while (i < n && is_digit(p[i]))
        i++;
    return i;
}

static bool num_parse(const struct vpxi_sexp *x, struct num *v)
{
    const uint8_t *p = x->data;
    size_t n = x->len, i = 0, end;

    memset(v, 0, sizeof(*v));
    if (n && p[0] == '-') {
        v->neg = true;
        i++;
    }
    if ((end = span_digits(p, i, n)) == i)
        return false;
    v->ip = p + i;
    v->il = end - i;
    if (end < n) {
        if (p[end] != '.' || (i = span_digits(p, end + 1, n)) == end + 1 || i != n)
            return false;
        v->fp = p + end + 1;
        v->fl = i - end - 1;
    }
    while (v->il && v->ip[0] == '0') {
        v->ip++;
        v->il--;
    }
    while (v->fl && v->fp[v->fl - 1] == '0')
        v->fl--;
    if (!v->il && !v->fl)
        v->neg = false;
    return true;
}

static int num_cmp_abs(const struct num *a, const struct num *b)
{
    size_t i, n = a->fl > b->fl ? a->fl : b->fl;
    int c;

    if (a->il != b->il)
        return a->il < b->il ? -1 : 1;
    if ((c = bytes_cmp(a->ip, a->il, b->ip, b->il)) != 0)
        return c;
    for (i = 0; i < n; i++) {
        uint8_t da = i < a->fl ? a->fp[i] : '0', db = i < b->fl ? b->fp[i] : '0';
        if (da != db)
            return da < db ? -1 : 1;
    }
    return 0;
}

static bool valid_numeric(const struct vpxi_sexp *x)
{
    struct num v;

    return num_parse(x, &v);
}

static int cmp_numeric(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    struct num a, b;

    if (!num_parse(x, &a) || !num_parse(y, &b))
        return cmp_alpha(x, y); /* unreachable: callers validate first */
    if (a.neg != b.neg)
        return a.neg ? -1 : 1;
    return a.neg ? -num_cmp_abs(&a, &b) : num_cmp_abs(&a, &b);
}

/* n decimal digits at p[off] with lo <= value <= hi. */
static bool field(const uint8_t *p, size_t off, size_t n, unsigned lo, unsigned hi, unsigned *v)
{
    size_t i;

    *v = 0;
    for (i = off; i < off + n; i++) {
        if (!is_digit(p[i]))
            return false;
        *v = *v * 10 + (unsigned)(p[i] - '0');
    }
    return *v >= lo && *v <= hi;
}

/* HH:MM:SS at p. */
static bool clock_ok(const uint8_t *p)
{
    unsigned v;

    return p[2] == ':' && p[5] == ':' && field(p, 0, 2, 0, 23, &v) && field(p, 3, 2, 0, 59, &v) &&
           field(p, 6, 2, 0, 59, &v);
}

static bool valid_time(const struct vpxi_sexp *x)
{
    return x->len == TIME_LEN && clock_ok(x->data);
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[m - 1] + (m == 2 && leap);
}

static bool valid_date(const struct vpxi_sexp *x)
{
    const uint8_t *p = x->data;
    unsigned y, m, d;

    if (x->len != DATE_LEN || p[4] != '-' || p[7] != '-' || p[10] != '_')
        return false;
    if (!field(p, 0, 4, 0, 9999, &y) || !field(p, 5, 2, 1, 12, &m) || !field(p, 8, 2, 1, 31, &d))
        return false;
    return d <= days_in_month(y, m) && clock_ok(p + 11);
}

/* The ORD keywords of (* range ORD ...). date and time are validated
 * fixed-width strings, so octet order is time order. */
static const struct ord ords[] = {
    { "alpha", valid_any, cmp_alpha, true },          /* any octets, memcmp order */
    { "numeric", valid_numeric, cmp_numeric, false }, /* exact decimal value */
    { "time", valid_time, cmp_alpha, true },          /* HH:MM:SS */
    { "binary", valid_any, cmp_binary, false },       /* unsigned big-endian */
    { "date", valid_date, cmp_alpha, true },          /* YYYY-MM-DD_HH:MM:SS */
};

/* ---- forms ---------------------------------------------------------------- */

/* The four value forms come first: they index the pair tables below. */
enum form { F_ATOM, F_PREFIX, F_RANGE, F_LIST, F_VALUES, F_STAR = F_VALUES, F_SET, F_BAD };

/* Star-form keywords are unhinted atoms; [h]* heads an ordinary list. */
static bool kw(const struct vpxi_sexp *n, const char *s)
{
    return vpxi_sexp_atom_is(n, s);
}

static enum form form_of(const struct vpxi_sexp *n)
{
    const struct vpxi_sexp *k;

    if (n->type == VPXI_SEXP_ATOM)
        return F_ATOM;
    if (!n->child || n->child->type != VPXI_SEXP_ATOM)
        return F_BAD;
    if (!kw(n->child, "*"))
        return F_LIST;
    if ((k = n->child->next) == NULL)
        return F_STAR;
    if (kw(k, "set"))
        return F_SET;
    if (kw(k, "prefix"))
        return F_PREFIX;
    if (kw(k, "range"))
        return F_RANGE;
    return F_BAD;
}

/* Operands of a star form: what follows "*" and its keyword. */
static const struct vpxi_sexp *args(const struct vpxi_sexp *star)
{
    return star->child->next->next;
}

/* Elements of a simple list after its head. */
static const struct vpxi_sexp *elems(const struct vpxi_sexp *list)
{
    return list->child->next;
}

/* Display hints of two atoms; NULL stands for "no hint". */
static bool hints_equal(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    bool hx = x && x->hint, hy = y && y->hint;

    if (hx != hy)
        return false;
    return !hx || (x->hint_len == y->hint_len &&
                   (!x->hint_len || memcmp(x->hint, y->hint, x->hint_len) == 0));
}

/* s starts with p, hints equal. */
static bool starts_with(const struct vpxi_sexp *s, const struct vpxi_sexp *p)
{
    return hints_equal(s, p) && s->len >= p->len &&
           (!p->len || memcmp(s->data, p->data, p->len) == 0);
}

/* x is admitted by (* prefix p). */
static bool prefix_has(const struct vpxi_sexp *prefix, const struct vpxi_sexp *x)
{
    return x->type == VPXI_SEXP_ATOM && starts_with(x, args(prefix));
}

/* ---- ranges --------------------------------------------------------------- */

struct bound {
    const struct vpxi_sexp *v; /* limit atom, or NULL: unbounded */
    bool incl;                 /* ge/le rather than g/l */
};

struct range {
    const struct ord *ord;
    struct bound lo, hi;
};

/* Reads an optional "strict|incl value" pair at *e and advances past it. */
static int read_bound(const struct vpxi_sexp **e, const char *strict, const char *incl,
                      const struct ord *ord, struct bound *b)
{
    const struct vpxi_sexp *k = *e;

    b->v = NULL;
    b->incl = false;
    if (!k || !(kw(k, strict) || kw(k, incl)))
        return 0;
    b->incl = kw(k, incl);
    b->v = k->next;
    if (!b->v || b->v->type != VPXI_SEXP_ATOM || !ord->valid(b->v))
        return VPXI_ERR_BAD_TAG;
    *e = b->v->next;
    return 0;
}

/* (* range ORD [g|ge LO] [l|le HI]), flat limits as in RFC 2693. */
static int range_parse(const struct vpxi_sexp *n, struct range *rg)
{
    const struct vpxi_sexp *e = args(n);
    size_t i;
    int r = VPXI_ERR_BAD_TAG;

    memset(rg, 0, sizeof(*rg));
    for (i = 0; e && i < ARRAY_SIZE(ords); i++)
        if (kw(e, ords[i].name))
            rg->ord = &ords[i];
    if (!rg->ord)
        goto out;
    e = e->next;
    if ((r = read_bound(&e, "g", "ge", rg->ord, &rg->lo)) != 0 ||
        (r = read_bound(&e, "l", "le", rg->ord, &rg->hi)) != 0)
        goto out;
    /* Anything left is an unknown keyword or a limit out of order. Limits
     * with different hints would admit nothing: reject them as malformed. */
    r = VPXI_ERR_BAD_TAG;
    if (e || (rg->lo.v && rg->hi.v && !hints_equal(rg->lo.v, rg->hi.v)))
        goto out;
    r = 0;
out:
    return r;
}

/* The atom whose hint the range requires (none if it has no limits). */
static const struct vpxi_sexp *range_hinter(const struct range *rg)
{
    return rg->lo.v ? rg->lo.v : rg->hi.v;
}

static bool above(const struct ord *o, const struct bound *b, const struct vpxi_sexp *x)
{
    int c;

    if (!b->v)
        return true;
    c = o->cmp(x, b->v);
    return c > 0 || (c == 0 && b->incl);
}

static bool below(const struct ord *o, const struct bound *b, const struct vpxi_sexp *x)
{
    int c;

    if (!b->v)
        return true;
    c = o->cmp(x, b->v);
    return c < 0 || (c == 0 && b->incl);
}

/* A value that does not parse under the ordering is not in the range. */
static bool range_has(const struct range *rg, const struct vpxi_sexp *x)
{
    return x->type == VPXI_SEXP_ATOM && hints_equal(x, range_hinter(rg)) && rg->ord->valid(x) &&
           above(rg->ord, &rg->lo, x) && below(rg->ord, &rg->hi, x);
}

/* Bounds cross, or meet with either side strict. */
static bool range_empty(const struct range *rg)
{
    int c;

    if (!rg->lo.v || !rg->hi.v)
        return false;
    c = rg->ord->cmp(rg->lo.v, rg->hi.v);
    return c > 0 || (c == 0 && !(rg->lo.incl && rg->hi.incl));
}

/* The tighter of two lower bounds (spelling kept); on equal values the strict
 * one, else the left one. */
static struct bound max_lo(const struct ord *o, struct bound a, struct bound b)
{
    int c;

    if (!a.v || !b.v)
        return a.v ? a : b;
    c = o->cmp(a.v, b.v);
    if (c == 0)
        return a.incl && !b.incl ? b : a;
    return c > 0 ? a : b;
}

static struct bound min_hi(const struct ord *o, struct bound a, struct bound b)
{
    int c;

    if (!a.v || !b.v)
        return a.v ? a : b;
    c = o->cmp(a.v, b.v);
    if (c == 0)
        return a.incl && !b.incl ? b : a;
    return c < 0 ? a : b;
}

/* q's lower bound is at or above g's: everything q admits from below g does. */
static bool lo_within(const struct ord *o, const struct bound *g, const struct bound *q)
{
    int c;

    if (!g->v)
        return true;
    if (!q->v)
        return false;
    c = o->cmp(q->v, g->v);
    return c > 0 || (c == 0 && (g->incl || !q->incl));
}

static bool hi_within(const struct ord *o, const struct bound *g, const struct bound *q)
{
    int c;

    if (!g->v)
        return true;
    if (!q->v)
        return false;
    c = o->cmp(q->v, g->v);
    return c < 0 || (c == 0 && (g->incl || !q->incl));
}

static bool same_bound(const struct bound *a, const struct bound *b)
{
    return a->v == b->v && a->incl == b->incl;
}

/* A range under an octet-ordered ordering (alpha, time, date) whose limits
 * both start with the prefix string lies inside the prefix: the strings that
 * start with p form one interval in octet order. */
static bool range_in_prefix(const struct range *rg, const struct vpxi_sexp *prefix)
{
    const struct vpxi_sexp *p = args(prefix);

    return rg->ord->cmp == cmp_alpha && rg->lo.v && rg->hi.v && starts_with(rg->lo.v, p) &&
           starts_with(rg->hi.v, p);
}

/* ---- grammar check -------------------------------------------------------- */

static int check_rec(const struct vpxi_sexp *n, unsigned depth)
{
    const struct vpxi_sexp *e;
    struct range rg;
    enum form f;
    size_t k = 0;
    int r;

    if (n->type == VPXI_SEXP_ATOM)
        return 0;
    if (depth >= TAG_DEPTH_MAX)
        return VPXI_ERR_BAD_TAG;
    switch ((f = form_of(n))) {
    case F_STAR: return 0;
    case F_PREFIX:
        e = args(n);
        return e && e->type == VPXI_SEXP_ATOM && !e->next ? 0 : VPXI_ERR_BAD_TAG;
    case F_RANGE: return range_parse(n, &rg);
    case F_SET: e = args(n); break;
    case F_LIST: e = elems(n); break;
    default: return VPXI_ERR_BAD_TAG;
    }
    for (; e; e = e->next) {
        if (f == F_SET && ++k > TAG_SET_MAX)
            return VPXI_ERR_BAD_TAG;
        if ((r = check_rec(e, depth + 1)) != 0)
            return r;
    }
    return 0;
}

/* True if lists nest more than max deep under n (recursion stops there). */
static bool deeper_than(const struct vpxi_sexp *n, unsigned max)
{
    const struct vpxi_sexp *e;

    if (n->type == VPXI_SEXP_ATOM)
        return false;
    if (max == 0)
        return true;
    for (e = n->child; e; e = e->next)
        if (deeper_than(e, max - 1))
            return true;
    return false;
}

/* ---- context, building ---------------------------------------------------- */

struct ctx {
    struct vpxi_sx *sx; /* results; implies() creates its own on first use */
    size_t work, mem;   /* charged against TAG_WORK_MAX, TAG_MEM_MAX */
};

static int spend(struct ctx *c)
{
    return ++c->work > TAG_WORK_MAX ? VPXI_ERR_TOO_LARGE : 0;
}

/* Accounts for n octets, and makes sure the arena exists: implies() creates
 * one only when it has something to build. */
static int charge(struct ctx *c, size_t n)
{
    if (n > TAG_MEM_MAX - c->mem)
        return VPXI_ERR_TOO_LARGE;
    c->mem += n;
    if (!c->sx && (c->sx = vpxi_sx_new()) == NULL)
        return VPXI_ERR_NOMEM;
    return 0;
}

/* Arena memory, or NULL with *r set. */
static void *ctx_alloc(struct ctx *c, size_t n, int *r)
{
    void *p = NULL;

    if ((*r = charge(c, n)) == 0 && (p = vpxi_sx_alloc(c->sx, n)) == NULL)
        *r = VPXI_ERR_NOMEM;
    return p;
}

static int new_list(struct ctx *c, struct vpxi_sexp **l)
{
    int r;

    *l = NULL;
    if ((r = charge(c, sizeof(**l))) != 0)
        return r;
    return (*l = vpxi_sexp_list(c->sx)) != NULL ? 0 : VPXI_ERR_NOMEM;
}

/* Appends a shallow clone of n (n's own next belongs to its old list). */
static int add(struct ctx *c, struct vpxi_sexp *l, const struct vpxi_sexp *n)
{
    struct vpxi_sexp *k;
    int r;

    if ((k = ctx_alloc(c, sizeof(*k), &r)) == NULL)
        return r;
    *k = *n;
    k->next = NULL;
    vpxi_sexp_append(l, k);
    return 0;
}

static int add_kw(struct ctx *c, struct vpxi_sexp *l, const char *s)
{
    struct vpxi_sexp *a;
    int r;

    if ((r = charge(c, sizeof(*a) + strlen(s))) != 0)
        return r;
    if ((a = vpxi_sexp_atom_str(c->sx, s)) == NULL)
        return VPXI_ERR_NOMEM;
    vpxi_sexp_append(l, a);
    return 0;
}

/* A growable array of node pointers in the arena. */
struct vec {
    const struct vpxi_sexp **v;
    size_t n, cap;
};

static int vec_push(struct ctx *c, struct vec *v, const struct vpxi_sexp *n)
{
    const struct vpxi_sexp **nv;
    size_t cap;
    int r;

    if (v->n == v->cap) {
        cap = v->cap ? 2 * v->cap : TAG_VEC_MIN;
        if ((nv = ctx_alloc(c, cap * sizeof(*nv), &r)) == NULL)
            return r;
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof(*nv));
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = n;
    return 0;
}

/* Pushes n, or its members if n is a (normal, hence flat) set. */
static int vec_push_flat(struct ctx *c, struct vec *v, const struct vpxi_sexp *n)
{
    const struct vpxi_sexp *m;
    int r;

    if (form_of(n) != F_SET)
        return vec_push(c, v, n);
    for (m = args(n); m; m = m->next)
        if ((r = vec_push(c, v, m)) != 0)
            return r;
    return 0;
}

/* (head elems... tail...) */
static int list_make(struct ctx *c, const struct vpxi_sexp *head, const struct vec *v,
                     const struct vpxi_sexp *tail, const struct vpxi_sexp **out)
{
    struct vpxi_sexp *l;
    size_t i;
    int r;

    if ((r = new_list(c, &l)) != 0 || (r = add(c, l, head)) != 0)
        return r;
    for (i = 0; i < v->n; i++)
        if ((r = add(c, l, v->v[i])) != 0)
            return r;
    for (; tail; tail = tail->next)
        if ((r = add(c, l, tail)) != 0)
            return r;
    *out = l;
    return 0;
}

static int range_make(struct ctx *c, const struct range *rg, const struct vpxi_sexp **out)
{
    struct vpxi_sexp *l;
    int r;

    if ((r = new_list(c, &l)) != 0 || (r = add_kw(c, l, "*")) != 0 ||
        (r = add_kw(c, l, "range")) != 0 || (r = add_kw(c, l, rg->ord->name)) != 0)
        return r;
    if (rg->lo.v &&
        ((r = add_kw(c, l, rg->lo.incl ? "ge" : "g")) != 0 || (r = add(c, l, rg->lo.v)) != 0))
        return r;
    if (rg->hi.v &&
        ((r = add_kw(c, l, rg->hi.incl ? "le" : "l")) != 0 || (r = add(c, l, rg->hi.v)) != 0))
        return r;
    *out = l;
    return 0;
}

/* ---- set results: deduplicate by canonical bytes ---------------------------- */

struct key {
    const uint8_t *p;
    size_t len, idx;
};

static int key_cmp(const void *x, const void *y)
{
    const struct key *a = x, *b = y;
    int c = bytes_cmp(a->p, a->len, b->p, b->len);

    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

static int canon(struct ctx *c, const struct vpxi_sexp *n, struct key *k)
{
    int r;

    /* charge() also creates implies()'s arena, which a span does not need. */
    if ((r = charge(c, n->span ? 0 : vpxi_sexp_canonical_len(n))) != 0)
        return r;
    return vpxi_sexp_canonical(c->sx, n, &k->p, &k->len);
}

/* Drops later duplicates, keeping first-seen (left operand) order. Sorting
 * keeps this O(n log n): a result set can have thousands of members. */
static int dedup(struct ctx *c, struct vec *v)
{
    struct key *k;
    bool *dup;
    size_t i, n = 0;
    int r;

    if (v->n < 2)
        return 0;
    if ((k = ctx_alloc(c, v->n * sizeof(*k), &r)) == NULL || (dup = ctx_alloc(c, v->n, &r)) == NULL)
        return r;
    memset(dup, 0, v->n);
    for (i = 0; i < v->n; i++) {
        if ((r = canon(c, v->v[i], &k[i])) != 0)
            return r;
        k[i].idx = i;
    }
    qsort(k, v->n, sizeof(*k), key_cmp);
    for (i = 1; i < v->n; i++)
        if (bytes_cmp(k[i - 1].p, k[i - 1].len, k[i].p, k[i].len) == 0)
            dup[k[i].idx] = true;
    for (i = 0; i < v->n; i++)
        if (!dup[i])
            v->v[n++] = v->v[i];
    v->n = n;
    return 0;
}

/* Members (flat, normal) to a set: none is empty, one is itself. orig, if
 * given, is a set with exactly these members before deduplication. */
static int set_finish(struct ctx *c, struct vec *v, const struct vpxi_sexp *orig,
                      const struct vpxi_sexp **out)
{
    struct vpxi_sexp *l;
    size_t i, before = v->n;
    int r;

    if ((r = dedup(c, v)) != 0)
        return r;
    if (v->n == 0)
        return VPXI_ERR_TAG_EMPTY;
    if (v->n == 1) {
        *out = v->v[0];
        return 0;
    }
    if (v->n > TAG_SET_MAX)
        return VPXI_ERR_TOO_LARGE;
    if (orig && v->n == before) {
        *out = orig;
        return 0;
    }
    if ((r = new_list(c, &l)) != 0 || (r = add_kw(c, l, "*")) != 0 ||
        (r = add_kw(c, l, "set")) != 0)
        return r;
    for (i = 0; i < v->n; i++)
        if ((r = add(c, l, v->v[i])) != 0)
            return r;
    *out = l;
    return 0;
}

/* ---- normalization ---------------------------------------------------------- */

static int norm(struct ctx *c, const struct vpxi_sexp *n, const struct vpxi_sexp **out);

/* A list with an empty position denotes nothing. Unchanged lists are shared. */
static int norm_list(struct ctx *c, const struct vpxi_sexp *l, const struct vpxi_sexp **out)
{
    const struct vpxi_sexp *e, *p, *ne;
    struct vec v = { 0 };
    bool same = true;
    int r;

    for (e = elems(l); e; e = e->next) {
        if ((r = norm(c, e, &ne)) != 0)
            return r;
        if (same && ne == e)
            continue;
        if (same) {
            /* first change: copy the unchanged elements before it */
            for (p = elems(l); p != e; p = p->next)
                if ((r = vec_push(c, &v, p)) != 0)
                    return r;
            same = false;
        }
        if ((r = vec_push(c, &v, ne)) != 0)
            return r;
    }
    if (same) {
        *out = l;
        return 0;
    }
    return list_make(c, l->child, &v, NULL, out);
}

static int norm_set(struct ctx *c, const struct vpxi_sexp *s, const struct vpxi_sexp **out)
{
    const struct vpxi_sexp *m, *nm;
    struct vec v = { 0 };
    bool same = true;
    int r;

    for (m = args(s); m; m = m->next) {
        r = norm(c, m, &nm);
        if (r == VPXI_ERR_TAG_EMPTY) {
            same = false;
            continue;
        }
        if (r != 0 || (r = vec_push_flat(c, &v, nm)) != 0)
            return r;
        same = same && nm == m && form_of(nm) != F_SET;
    }
    return set_finish(c, &v, same ? s : NULL, out);
}

static int norm(struct ctx *c, const struct vpxi_sexp *n, const struct vpxi_sexp **out)
{
    struct range rg;
    int r;

    *out = NULL;
    if ((r = spend(c)) != 0)
        return r;
    switch (form_of(n)) {
    case F_ATOM:
    case F_STAR:
    case F_PREFIX: *out = n; return 0;
    case F_RANGE:
        if ((r = range_parse(n, &rg)) != 0)
            return r;
        if (range_empty(&rg))
            return VPXI_ERR_TAG_EMPTY;
        *out = n;
        return 0;
    case F_LIST: return norm_list(c, n, out);
    case F_SET: return norm_set(c, n, out);
    default: return VPXI_ERR_BAD_TAG;
    }
}

/* ---- intersection ----------------------------------------------------------- */

/* Pair functions take normal operands with form(a) <= form(b) and return
 * 0 with *out, VPXI_ERR_TAG_EMPTY, or a failure. */
typedef int isect_fn(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                     const struct vpxi_sexp **out);

static int isect(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                 const struct vpxi_sexp **out);

static int isect_none(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                      const struct vpxi_sexp **out)
{
    return VPXI_ERR_TAG_EMPTY;
}

static int isect_atom_atom(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                           const struct vpxi_sexp **out)
{
    if (!vpxi_sexp_equal(a, b))
        return VPXI_ERR_TAG_EMPTY;
    *out = a;
    return 0;
}

static int isect_atom_prefix(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *p,
                             const struct vpxi_sexp **out)
{
    if (!prefix_has(p, a))
        return VPXI_ERR_TAG_EMPTY;
    *out = a;
    return 0;
}

static int isect_atom_range(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *rn,
                            const struct vpxi_sexp **out)
{
    struct range rg;
    int r;

    if ((r = range_parse(rn, &rg)) != 0)
        return r;
    if (!range_has(&rg, a))
        return VPXI_ERR_TAG_EMPTY;
    *out = a;
    return 0;
}

/* The longer prefix, if the shorter is a prefix of it. (pisces computes the
 * common prefix: a union, not an intersection.) */
static int isect_prefix_prefix(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                               const struct vpxi_sexp **out)
{
    if (starts_with(args(a), args(b)))
        *out = a;
    else if (starts_with(args(b), args(a)))
        *out = b;
    else
        return VPXI_ERR_TAG_EMPTY;
    return 0;
}

/* Not expressible in general (Inferno returns nil too); exact when the range
 * lies inside the prefix. */
static int isect_prefix_range(struct ctx *c, const struct vpxi_sexp *p, const struct vpxi_sexp *rn,
                              const struct vpxi_sexp **out)
{
    struct range rg;
    int r;

    if ((r = range_parse(rn, &rg)) != 0)
        return r;
    if (!range_in_prefix(&rg, p))
        return VPXI_ERR_TAG_EMPTY;
    *out = rn;
    return 0;
}

/* Notes 3.5: larger lower bound, smaller upper bound, strict wins a tie.
 * (Inferno combines the strictness flags from the wrong operand.) */
static int isect_range_range(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                             const struct vpxi_sexp **out)
{
    struct range ra, rb, rc;
    int r;

    if ((r = range_parse(a, &ra)) != 0 || (r = range_parse(b, &rb)) != 0)
        return r;
    if (ra.ord != rb.ord || !hints_equal(range_hinter(&ra), range_hinter(&rb)))
        return VPXI_ERR_TAG_EMPTY;
    rc.ord = ra.ord;
    rc.lo = max_lo(rc.ord, ra.lo, rb.lo);
    rc.hi = min_hi(rc.ord, ra.hi, rb.hi);
    if (range_empty(&rc))
        return VPXI_ERR_TAG_EMPTY;
    if (same_bound(&rc.lo, &ra.lo) && same_bound(&rc.hi, &ra.hi))
        *out = a;
    else if (same_bound(&rc.lo, &rb.lo) && same_bound(&rc.hi, &rb.hi))
        *out = b;
    else
        return range_make(c, &rc, out);
    return 0;
}

/* Equal heads; position-wise over the shorter list, where any empty position
 * empties the whole (libspki silently drops it: wrong); then the longer
 * list's extra tail, which only restricts. */
static int isect_list_list(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                           const struct vpxi_sexp **out)
{
    const struct vpxi_sexp *x, *y, *res;
    struct vec v = { 0 };
    bool same_a = true, same_b = true;
    int r;

    if (!vpxi_sexp_equal(a->child, b->child))
        return VPXI_ERR_TAG_EMPTY;
    for (x = elems(a), y = elems(b); x && y; x = x->next, y = y->next) {
        if ((r = isect(c, x, y, &res)) != 0 || (r = vec_push(c, &v, res)) != 0)
            return r;
        same_a = same_a && res == x;
        same_b = same_b && res == y;
    }
    if (same_a && !y)
        *out = a;
    else if (same_b && !x)
        *out = b;
    else
        return list_make(c, a->child, &v, x ? x : y, out);
    return 0;
}

/* Upper triangle over the value forms; a list meets no atom, prefix or range. */
static isect_fn *const isect_table[F_VALUES][F_VALUES] = {
    [F_ATOM] = { [F_ATOM] = isect_atom_atom,
                 [F_PREFIX] = isect_atom_prefix,
                 [F_RANGE] = isect_atom_range,
                 [F_LIST] = isect_none },
    [F_PREFIX] = { [F_PREFIX] = isect_prefix_prefix,
                   [F_RANGE] = isect_prefix_range,
                   [F_LIST] = isect_none },
    [F_RANGE] = { [F_RANGE] = isect_range_range, [F_LIST] = isect_none },
    [F_LIST] = { [F_LIST] = isect_list_list },
};

/* Distributes over the members of set s, keeping s's member order; the other
 * operand x stays on its side so nested results keep left-operand order. */
static int isect_set(struct ctx *c, const struct vpxi_sexp *s, const struct vpxi_sexp *x,
                     bool s_left, const struct vpxi_sexp **out)
{
    const struct vpxi_sexp *m, *res;
    struct vec v = { 0 };
    int r;

    for (m = args(s); m; m = m->next) {
        r = s_left ? isect(c, m, x, &res) : isect(c, x, m, &res);
        if (r == VPXI_ERR_TAG_EMPTY)
            continue;
        if (r != 0 || (r = vec_push_flat(c, &v, res)) != 0)
            return r;
    }
    return set_finish(c, &v, NULL, out);
}

static int isect(struct ctx *c, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                 const struct vpxi_sexp **out)
{
    enum form fa = form_of(a), fb = form_of(b), ft;
    const struct vpxi_sexp *t;
    isect_fn *fn;
    int r;

    *out = NULL;
    if ((r = spend(c)) != 0)
        return r;
    if (fa == F_BAD || fb == F_BAD)
        return VPXI_ERR_BAD_TAG;
    if (fa == F_STAR || fb == F_STAR) {
        *out = fa == F_STAR ? b : a;
        return 0;
    }
    if (fa == F_SET || fb == F_SET)
        return fa == F_SET ? isect_set(c, a, b, true, out) : isect_set(c, b, a, false, out);
    if (fa > fb) {
        t = a, a = b, b = t;
        ft = fa, fa = fb, fb = ft;
    }
    fn = isect_table[fa][fb];
    return fn ? fn(c, a, b, out) : VPXI_ERR_INTERNAL;
}

/* ---- implication ------------------------------------------------------------ */

/* Pair functions: 0 if grant g admits everything q admits, else
 * VPXI_ERR_NOT_AUTHORIZED (or a failure). q is normal and not empty. */
typedef int implies_fn(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q);

static int implies(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q);

static int yes(bool b)
{
    return b ? 0 : VPXI_ERR_NOT_AUTHORIZED;
}

static int imp_atom_atom(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    return yes(vpxi_sexp_equal(g, q));
}

/* Under an exact ordering, "ge x le x" admits the one atom x. */
static int imp_atom_range(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    struct range rg;
    int r;

    if ((r = range_parse(q, &rg)) != 0)
        return r;
    return yes(rg.ord->exact && rg.lo.v && rg.hi.v && rg.lo.incl && rg.hi.incl &&
               vpxi_sexp_equal(g, rg.lo.v) && vpxi_sexp_equal(g, rg.hi.v));
}

static int imp_prefix_atom(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    return yes(prefix_has(g, q));
}

static int imp_prefix_prefix(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    return yes(starts_with(args(q), args(g)));
}

static int imp_prefix_range(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    struct range rg;
    int r;

    if ((r = range_parse(q, &rg)) != 0)
        return r;
    return yes(range_in_prefix(&rg, g));
}

static int imp_range_atom(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    struct range rg;
    int r;

    if ((r = range_parse(g, &rg)) != 0)
        return r;
    return yes(range_has(&rg, q));
}

static int imp_range_range(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    struct range rg, rq;
    int r;

    if ((r = range_parse(g, &rg)) != 0 || (r = range_parse(q, &rq)) != 0)
        return r;
    return yes(rg.ord == rq.ord && hints_equal(range_hinter(&rg), range_hinter(&rq)) &&
               lo_within(rg.ord, &rg.lo, &rq.lo) && hi_within(rg.ord, &rg.hi, &rq.hi));
}

/* A shorter grant list admits every longer request that matches it. */
static int imp_list_list(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    const struct vpxi_sexp *x, *y;
    int r;

    if (!vpxi_sexp_equal(g->child, q->child) || g->len > q->len)
        return VPXI_ERR_NOT_AUTHORIZED;
    for (x = elems(g), y = elems(q); x; x = x->next, y = y->next)
        if ((r = implies(c, x, y)) != 0)
            return r;
    return 0;
}

/* Missing entries never imply: an atom does not grant a prefix, a range
 * does not grant a prefix, lists and non-lists never meet. */
static implies_fn *const implies_table[F_VALUES][F_VALUES] = {
    [F_ATOM] = { [F_ATOM] = imp_atom_atom, [F_RANGE] = imp_atom_range },
    [F_PREFIX] = { [F_ATOM] = imp_prefix_atom,
                   [F_PREFIX] = imp_prefix_prefix,
                   [F_RANGE] = imp_prefix_range },
    [F_RANGE] = { [F_ATOM] = imp_range_atom, [F_RANGE] = imp_range_range },
    [F_LIST] = { [F_LIST] = imp_list_list },
};

static bool is_constant(const struct vpxi_sexp *n)
{
    const struct vpxi_sexp *e;

    switch (form_of(n)) {
    case F_ATOM: return true;
    case F_LIST:
        for (e = elems(n); e; e = e->next)
            if (!is_constant(e))
                return false;
        return true;
    default: return false;
    }
}

/* Every member of the request set is granted. */
static int implies_all(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    const struct vpxi_sexp *m;
    int r;

    for (m = args(q); m; m = m->next)
        if ((r = implies(c, g, m)) != 0)
            return r;
    return 0;
}

/* Some member of the grant set grants q. That is exact for a constant q; a
 * star-form q may need several members together, so it is also granted when
 * g ∩ q comes out as q itself. */
static int implies_any(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    const struct vpxi_sexp *m, *ng, *res;
    int r;

    for (m = args(g); m; m = m->next)
        if ((r = implies(c, m, q)) != VPXI_ERR_NOT_AUTHORIZED)
            return r;
    if (is_constant(q))
        return VPXI_ERR_NOT_AUTHORIZED;
    if ((r = norm(c, g, &ng)) == 0)
        r = isect(c, ng, q, &res);
    if (r == VPXI_ERR_TAG_EMPTY)
        return VPXI_ERR_NOT_AUTHORIZED;
    return r ? r : yes(vpxi_sexp_equal(res, q));
}

static int implies(struct ctx *c, const struct vpxi_sexp *g, const struct vpxi_sexp *q)
{
    enum form fg = form_of(g), fq = form_of(q);
    implies_fn *fn;
    int r;

    if ((r = spend(c)) != 0)
        return r;
    if (fg == F_BAD || fq == F_BAD)
        return VPXI_ERR_BAD_TAG;
    if (fq == F_SET)
        return implies_all(c, g, q);
    if (fg == F_STAR)
        return 0;
    if (fg == F_SET)
        return implies_any(c, g, q);
    if (fq == F_STAR)
        return VPXI_ERR_NOT_AUTHORIZED;
    fn = implies_table[fg][fq];
    return fn ? fn(c, g, q) : VPXI_ERR_NOT_AUTHORIZED;
}

/* ---- API -------------------------------------------------------------------- */

int vpxi_tag_check(const struct vpxi_sexp *t)
{
    if (!t)
        vpxi_misuse("vpxi_tag_check: NULL tag");
    return check_rec(t, 0);
}

bool vpxi_tag_is_star(const struct vpxi_sexp *t)
{
    return vpxi_sexp_is_list(t) && t->len == 1 && kw(t->child, "*");
}

int vpxi_tag_intersect(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                       struct vpxi_sexp **out)
{
    struct ctx c = { .sx = sx };
    const struct vpxi_sexp *na, *nb, *res;
    struct vpxi_sexp *k = NULL;
    int r = VPXI_ERR_INTERNAL;

    if (!sx || !a || !b || !out)
        vpxi_misuse("vpxi_tag_intersect: NULL argument");
    *out = NULL;
    if ((r = vpxi_tag_check(a)) != 0 || (r = vpxi_tag_check(b)) != 0 ||
        (r = norm(&c, a, &na)) != 0 || (r = norm(&c, b, &nb)) != 0 ||
        (r = isect(&c, na, nb, &res)) != 0)
        goto out;
    /* Distributing over a set puts the set above the other operand's deepest
     * list: the result could nest one level more than either operand. Keep
     * results within the cap, so that they can be intersected again. */
    if (deeper_than(res, TAG_DEPTH_MAX)) {
        r = VPXI_ERR_TOO_DEEP;
        goto out;
    }
    /* A fresh top node: res may be an operand's node whose next is still set. */
    if ((k = ctx_alloc(&c, sizeof(*k), &r)) == NULL)
        goto out;
    *k = *res;
    k->next = NULL;
    *out = k;
    r = 0;
out:
    return r;
}

int vpxi_tag_implies(const struct vpxi_sexp *grant, const struct vpxi_sexp *req)
{
    struct ctx c = { 0 };
    const struct vpxi_sexp *nq;
    int r = VPXI_ERR_INTERNAL;

    if (!grant || !req)
        vpxi_misuse("vpxi_tag_implies: NULL argument");
    if ((r = vpxi_tag_check(grant)) != 0 || (r = vpxi_tag_check(req)) != 0)
        goto out;
    /* Normalizing the request makes set requests flat and drops parts that
     * admit nothing; a request that admits nothing is vacuously granted. */
    r = norm(&c, req, &nq);
    if (r == VPXI_ERR_TAG_EMPTY) {
        r = 0;
        goto out;
    }
    if (r != 0)
        goto out;
    r = implies(&c, grant, nq);
out:
    vpxi_sx_free(c.sx);
    return r;
}
