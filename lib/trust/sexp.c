/*
 * sexp.c - S-expression model: arena, canonical parser and writer, builders
 * and accessors. The text forms (advanced, transport) are in sexp_text.c.
 *
 * The canonical parser is iterative with an explicit stack, so untrusted
 * input cannot exhaust the C stack whatever the configured depth cap.
 */
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/sexp.h"

#include "trust/sexp_int.h"

const struct vpxi_sexp_limits vpxi_sexp_limits_default = {
    .atom_max = VPXI_SEXP_ATOM_MAX,
    .list_max = VPXI_SEXP_LIST_MAX,
    .depth_max = VPXI_SEXP_DEPTH_MAX,
    .nodes_max = VPXI_SEXP_NODES_MAX,
    .input_max = VPXI_SEXP_INPUT_MAX,
};

/* ---- arena ----------------------------------------------------------- */

enum {
    ARENA_CHUNK_MIN = 16 * 1024,
    ARENA_CHUNK_MAX = 1024 * 1024,
    ARENA_ALIGN = 8,
};

struct chunk {
    struct chunk *next;
    size_t used, cap;
    alignas(16) uint8_t data[];
};

struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *arg;
};

struct vpxi_sx {
    struct chunk *head;
    size_t next_cap;        /* size of the next regular chunk */
    struct deferred *defer; /* run at free, most recent first */
};

struct vpxi_sx *vpxi_sx_new(void)
{
    struct vpxi_sx *sx = vpxi_calloc(1, sizeof(*sx));

    if (sx)
        sx->next_cap = ARENA_CHUNK_MIN;
    return sx;
}

void vpxi_sx_free(struct vpxi_sx *sx)
{
    struct chunk *c, *next;

    if (!sx)
        return;
    for (struct deferred *d = sx->defer; d; d = d->next)
        d->fn(d->arg);
    for (c = sx->head; c; c = next) {
        next = c->next;
        vpxi_free(c);
    }
    vpxi_free(sx);
}

void *vpxi_sx_alloc(struct vpxi_sx *sx, size_t n)
{
    struct chunk *c;
    size_t cap;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    c = sx->head;
    if (c && c->cap - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    if (n > sx->next_cap / 4) {
        /* A big block gets a chunk of its own, behind the current one, so
         * the current chunk's free space is not abandoned. */
        if ((c = vpxi_malloc(sizeof(*c) + n)) == NULL)
            return NULL;
        c->cap = c->used = n;
        if (sx->head) {
            c->next = sx->head->next;
            sx->head->next = c;
        } else {
            c->next = NULL;
            sx->head = c;
        }
        return c->data;
    }
    cap = sx->next_cap;
    if (sx->next_cap < ARENA_CHUNK_MAX)
        sx->next_cap *= 2;
    if ((c = vpxi_malloc(sizeof(*c) + cap)) == NULL)
        return NULL;
    c->cap = cap;
    c->used = n;
    c->next = sx->head;
    sx->head = c;
    return c->data;
}

int vpxi_sx_defer(struct vpxi_sx *sx, void (*fn)(void *), void *arg)
{
    struct deferred *d = vpxi_sx_alloc(sx, sizeof(*d));

    if (!d) {
        fn(arg);
        return VPXI_ERR_NOMEM;
    }
    d->fn = fn;
    d->arg = arg;
    d->next = sx->defer;
    sx->defer = d;
    return 0;
}

uint8_t *vpxi_sx_dup(struct vpxi_sx *sx, const void *p, size_t n)
{
    uint8_t *d = vpxi_sx_alloc(sx, n);

    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* ---- nodes ------------------------------------------------------------ */

struct vpxi_sexp *sexp_node(struct vpxi_sx *sx, enum vpxi_sexp_type type)
{
    struct vpxi_sexp *n = vpxi_sx_alloc(sx, sizeof(*n));

    if (n) {
        memset(n, 0, sizeof(*n));
        n->type = type;
    }
    return n;
}

struct vpxi_sexp *vpxi_sexp_atom(struct vpxi_sx *sx, const void *p, size_t len)
{
    struct vpxi_sexp *n;

    if (len > UINT32_MAX)
        return NULL;
    if ((n = sexp_node(sx, VPXI_SEXP_ATOM)) == NULL)
        return NULL;
    if ((n->data = vpxi_sx_dup(sx, p, len)) == NULL)
        return NULL;
    n->len = (uint32_t)len;
    return n;
}

struct vpxi_sexp *vpxi_sexp_atom_str(struct vpxi_sx *sx, const char *s)
{
    return vpxi_sexp_atom(sx, s, strlen(s));
}

struct vpxi_sexp *vpxi_sexp_atom_u64(struct vpxi_sx *sx, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);

    return vpxi_sexp_atom(sx, buf, (size_t)n);
}

struct vpxi_sexp *vpxi_sexp_list(struct vpxi_sx *sx)
{
    return sexp_node(sx, VPXI_SEXP_LIST);
}

void vpxi_sexp_append(struct vpxi_sexp *list, struct vpxi_sexp *item)
{
    if (!list || list->type != VPXI_SEXP_LIST || !item || item->next)
        vpxi_misuse("vpxi_sexp_append");
    if (list->last)
        list->last->next = item;
    else
        list->child = item;
    list->last = item;
    list->len++;
}

struct vpxi_sexp *vpxi_sexp_copy(struct vpxi_sx *sx, const struct vpxi_sexp *n)
{
    struct vpxi_sexp *c, *e, *ce;

    if (n->type == VPXI_SEXP_ATOM) {
        if ((c = vpxi_sexp_atom(sx, n->data, n->len)) == NULL)
            return NULL;
        if (n->hint) {
            if ((c->hint = vpxi_sx_dup(sx, n->hint, n->hint_len)) == NULL)
                return NULL;
            c->hint_len = n->hint_len;
        }
        return c;
    }
    if ((c = vpxi_sexp_list(sx)) == NULL)
        return NULL;
    for (e = n->child; e; e = e->next) {
        if ((ce = vpxi_sexp_copy(sx, e)) == NULL)
            return NULL;
        vpxi_sexp_append(c, ce);
    }
    return c;
}

/* ---- canonical parser -------------------------------------------------- */

struct cparse {
    const uint8_t *p;
    size_t len, pos, nodes;
    const struct vpxi_sexp_limits *lim;
    struct vpxi_sx *sx;
};

/* Parses "decimal ':' octets" at the cursor. */
static int simple_string(struct cparse *c, const uint8_t **data, uint32_t *dlen)
{
    size_t v = 0, start = c->pos;

    if (c->pos >= c->len)
        return VPXI_ERR_TRUNCATED;
    if (c->p[c->pos] < '0' || c->p[c->pos] > '9')
        return VPXI_ERR_BAD_FORMAT;
    if (c->p[c->pos] == '0' && c->pos + 1 < c->len && c->p[c->pos + 1] >= '0' &&
        c->p[c->pos + 1] <= '9')
        return VPXI_ERR_LEADING_ZERO;
    while (c->pos < c->len && c->p[c->pos] >= '0' && c->p[c->pos] <= '9') {
        v = v * 10 + (size_t)(c->p[c->pos] - '0');
        if (v > c->lim->atom_max) {
            c->pos = start;
            return VPXI_ERR_TOO_LARGE;
        }
        c->pos++;
    }
    if (c->pos >= c->len)
        return VPXI_ERR_TRUNCATED;
    if (c->p[c->pos] != ':')
        return VPXI_ERR_BAD_FORMAT;
    c->pos++;
    if (v > c->len - c->pos)
        return VPXI_ERR_TRUNCATED;
    *data = c->p + c->pos;
    *dlen = (uint32_t)v;
    c->pos += v;
    return 0;
}

static int atom(struct cparse *c, struct vpxi_sexp **out)
{
    struct vpxi_sexp *n;
    size_t start = c->pos;
    int r;

    if ((n = sexp_node(c->sx, VPXI_SEXP_ATOM)) == NULL)
        return VPXI_ERR_NOMEM;
    if (c->p[c->pos] == '[') {
        c->pos++;
        if ((r = simple_string(c, &n->hint, &n->hint_len)) != 0)
            return r;
        if (c->pos >= c->len)
            return VPXI_ERR_TRUNCATED;
        if (c->p[c->pos] != ']')
            return VPXI_ERR_BAD_FORMAT;
        c->pos++;
    }
    if ((r = simple_string(c, &n->data, &n->len)) != 0)
        return r;
    n->span = c->p + start;
    n->span_len = c->pos - start;
    *out = n;
    return 0;
}

static int add_child(struct cparse *c, struct vpxi_sexp *parent, struct vpxi_sexp *n)
{
    if (++c->nodes > c->lim->nodes_max)
        return VPXI_ERR_TOO_LARGE;
    if (parent) {
        if (parent->len >= c->lim->list_max)
            return VPXI_ERR_TOO_LARGE;
        vpxi_sexp_append(parent, n);
    }
    return 0;
}

static int cparse_run(struct cparse *c, struct vpxi_sexp **out)
{
    struct vpxi_sexp **stack, *n, *root = NULL;
    size_t depth = 0;
    int r;

    if ((stack = vpxi_sx_alloc(c->sx, (c->lim->depth_max + 1) * sizeof(*stack))) == NULL)
        return VPXI_ERR_NOMEM;
    for (;;) {
        if (root && depth == 0)
            return c->pos == c->len ? (*out = root, 0) : VPXI_ERR_TRAILING_DATA;
        if (c->pos >= c->len)
            return VPXI_ERR_TRUNCATED;
        switch (c->p[c->pos]) {
        case '(':
            if (depth >= c->lim->depth_max)
                return VPXI_ERR_TOO_DEEP;
            if ((n = sexp_node(c->sx, VPXI_SEXP_LIST)) == NULL)
                return VPXI_ERR_NOMEM;
            n->span = c->p + c->pos;
            if ((r = add_child(c, depth ? stack[depth - 1] : NULL, n)) != 0)
                return r;
            if (!depth)
                root = n;
            stack[depth++] = n;
            c->pos++;
            break;
        case ')':
            if (depth == 0)
                return VPXI_ERR_BAD_FORMAT;
            n = stack[--depth];
            c->pos++;
            n->span_len = (size_t)(c->p + c->pos - n->span);
            break;
        default:
            if ((r = atom(c, &n)) != 0)
                return r;
            if ((r = add_child(c, depth ? stack[depth - 1] : NULL, n)) != 0)
                return r;
            if (!depth)
                root = n;
            break;
        }
    }
}

int vpxi_sexp_parse_canonical(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                              const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                              struct vpxi_sexp_error *err)
{
    struct cparse c = { 0 };
    int r;

    *out = NULL;
    if (err)
        err->code = err->offset = 0;
    c.lim = lim ? lim : &vpxi_sexp_limits_default;
    c.sx = sx;
    if (len > c.lim->input_max) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    if ((c.p = vpxi_sx_dup(sx, p, len)) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    c.len = len;
    r = cparse_run(&c, out);
out:
    if (r) {
        *out = NULL;
        if (err) {
            err->code = r;
            err->offset = c.pos;
        }
    }
    return r;
}

/* ---- canonical writer -------------------------------------------------- */

static int put_simple(struct vpxi_wr *w, const uint8_t *p, size_t n)
{
    vpxi_wr_printf(w, "%zu:", n);
    return vpxi_wr_bytes(w, p, n);
}

int vpxi_sexp_write_canonical(const struct vpxi_sexp *n, struct vpxi_wr *w)
{
    const struct vpxi_sexp *e;

    if (n->type == VPXI_SEXP_ATOM) {
        if (n->hint) {
            vpxi_wr_u8(w, '[');
            put_simple(w, n->hint, n->hint_len);
            vpxi_wr_u8(w, ']');
        }
        return put_simple(w, n->data, n->len);
    }
    vpxi_wr_u8(w, '(');
    for (e = n->child; e; e = e->next)
        if (vpxi_sexp_write_canonical(e, w) != 0)
            return w->err;
    return vpxi_wr_u8(w, ')');
}

static size_t decimal_len(size_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

size_t vpxi_sexp_canonical_len(const struct vpxi_sexp *n)
{
    const struct vpxi_sexp *e;
    size_t t;

    if (n->type == VPXI_SEXP_ATOM) {
        t = decimal_len(n->len) + 1 + n->len;
        if (n->hint)
            t += 2 + decimal_len(n->hint_len) + 1 + n->hint_len;
        return t;
    }
    t = 2;
    for (e = n->child; e; e = e->next)
        t += vpxi_sexp_canonical_len(e);
    return t;
}

int vpxi_sexp_canonical(struct vpxi_sx *sx, const struct vpxi_sexp *n, const uint8_t **p,
                        size_t *len)
{
    struct vpxi_wr w;
    uint8_t *buf;
    size_t need;

    *p = NULL;
    *len = 0;
    if (n->span) {
        *p = n->span;
        *len = n->span_len;
        return 0;
    }
    need = vpxi_sexp_canonical_len(n);
    if ((buf = vpxi_sx_alloc(sx, need)) == NULL)
        return VPXI_ERR_NOMEM;
    vpxi_wr_init(&w, buf, need);
    if (vpxi_sexp_write_canonical(n, &w) != 0 || w.len != need)
        return VPXI_ERR_INTERNAL;
    *p = buf;
    *len = need;
    return 0;
}

/* ---- accessors --------------------------------------------------------- */

bool vpxi_sexp_atom_is(const struct vpxi_sexp *n, const char *s)
{
    size_t l = strlen(s);

    return n && n->type == VPXI_SEXP_ATOM && !n->hint && n->len == l && memcmp(n->data, s, l) == 0;
}

struct vpxi_sexp *vpxi_sexp_nth(const struct vpxi_sexp *list, size_t i)
{
    struct vpxi_sexp *e;

    if (!vpxi_sexp_is_list(list))
        return NULL;
    for (e = list->child; e && i; e = e->next)
        i--;
    return e;
}

bool vpxi_sexp_head_is(const struct vpxi_sexp *n, const char *s)
{
    return vpxi_sexp_is_list(n) && vpxi_sexp_atom_is(n->child, s);
}

struct vpxi_sexp *vpxi_sexp_find(const struct vpxi_sexp *list, const char *s)
{
    struct vpxi_sexp *e;

    if (!vpxi_sexp_is_list(list))
        return NULL;
    for (e = list->child; e; e = e->next)
        if (vpxi_sexp_head_is(e, s))
            return e;
    return NULL;
}

bool vpxi_sexp_equal(const struct vpxi_sexp *a, const struct vpxi_sexp *b)
{
    const struct vpxi_sexp *x, *y;

    if (a->type != b->type || a->len != b->len)
        return false;
    if (a->type == VPXI_SEXP_ATOM) {
        if (!a->hint != !b->hint)
            return false;
        if (a->hint && (a->hint_len != b->hint_len || memcmp(a->hint, b->hint, a->hint_len)))
            return false;
        return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
    }
    for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
        if (!vpxi_sexp_equal(x, y))
            return false;
    return !x && !y;
}

int vpxi_sexp_get_u64(const struct vpxi_sexp *n, uint64_t *v)
{
    uint64_t x = 0;
    uint32_t i;

    *v = 0;
    if (!vpxi_sexp_is_atom(n) || n->len == 0 || n->len > 20)
        return VPXI_ERR_BAD_FORMAT;
    if (n->data[0] == '0' && n->len > 1)
        return VPXI_ERR_LEADING_ZERO;
    for (i = 0; i < n->len; i++) {
        unsigned d = (unsigned)n->data[i] - '0';
        if (d > 9)
            return VPXI_ERR_BAD_FORMAT;
        if (x > (UINT64_MAX - d) / 10)
            return VPXI_ERR_TOO_LARGE;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int vpxi_sexp_get_str(const struct vpxi_sexp *n, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    if (!vpxi_sexp_is_atom(n))
        return VPXI_ERR_BAD_FORMAT;
    if (memchr(n->data, 0, n->len))
        return VPXI_ERR_BAD_FORMAT;
    if ((size_t)n->len >= cap)
        return VPXI_ERR_TOO_LARGE;
    memcpy(buf, n->data, n->len);
    buf[n->len] = '\0';
    return 0;
}
