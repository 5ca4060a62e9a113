/*
 * format.c - the signed catalogue parser.
 *
 * A catalogue of 100 000 images is some 40 MB of canonical S-expression;
 * as one tree it would take some 350 MB of nodes. So the file is walked
 * with a small canonical scanner that only finds where each element starts
 * and ends, and each element is then parsed on its own by the ordinary
 * S-expression parser (vpxi_sexp_parse_canonical): header elements and
 * certificates into the catalogue's arena, image entries into a scratch
 * arena recycled every IMAGES_PER_ARENA entries. An entry keeps only
 * pointers into the file buffer (canonical atoms are stored as raw octets,
 * so names and digests need no copy).
 *
 * The signed span is the exact bytes of the (catalog ...) element found by
 * the scanner; nothing is ever re-encoded before a signature check.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

enum {
    IMAGES_PER_ARENA = 64,        /* entries parsed before the scratch arena is recycled */
    ADVANCED_NODES_MAX = 1 << 24, /* nodes when converting a non-canonical file */
};

void cat_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (!why || !whylen)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void cat_bytes_str(const struct vpxi_bytes *b, char *out, size_t cap)
{
    size_t n = b->len < cap - 1 ? b->len : cap - 1;

    for (size_t i = 0; i < n; i++)
        out[i] = b->p[i] >= 0x20 && b->p[i] < 0x7f ? (char)b->p[i] : '?';
    out[n] = '\0';
}

/* ---- the canonical scanner ------------------------------------------------- */

struct canon {
    const uint8_t *p;
    size_t len, pos;
};

static bool digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* "decimal ':' octets", with the parser's rules (no leading zero, capped). */
static int canon_simple(struct canon *c, const uint8_t **d, size_t *n)
{
    size_t v = 0, i = c->pos;

    if (i >= c->len)
        return VPXI_ERR_TRUNCATED;
    if (!digit(c->p[i]))
        return VPXI_ERR_BAD_FORMAT;
    if (c->p[i] == '0' && i + 1 < c->len && digit(c->p[i + 1]))
        return VPXI_ERR_LEADING_ZERO;
    for (; i < c->len && digit(c->p[i]); i++)
        if ((v = v * 10 + (size_t)(c->p[i] - '0')) > VPXI_SEXP_ATOM_MAX)
            return VPXI_ERR_TOO_LARGE;
    if (i >= c->len)
        return VPXI_ERR_TRUNCATED;
    if (c->p[i++] != ':')
        return VPXI_ERR_BAD_FORMAT;
    if (v > c->len - i)
        return VPXI_ERR_TRUNCATED;
    *d = c->p + i;
    *n = v;
    c->pos = i + v;
    return 0;
}

/* Skips one element (atom or list). */
static int canon_skip(struct canon *c)
{
    const uint8_t *d;
    size_t depth = 0, n;
    int r;

    do {
        if (c->pos >= c->len)
            return VPXI_ERR_TRUNCATED;
        switch (c->p[c->pos]) {
        case '(':
            if (++depth > VPXI_SEXP_DEPTH_MAX)
                return VPXI_ERR_TOO_DEEP;
            c->pos++;
            break;
        case ')':
            if (depth == 0)
                return VPXI_ERR_BAD_FORMAT;
            depth--;
            c->pos++;
            break;
        case '[':
            c->pos++;
            if ((r = canon_simple(c, &d, &n)) != 0)
                return r;
            if (c->pos >= c->len)
                return VPXI_ERR_TRUNCATED;
            if (c->p[c->pos++] != ']')
                return VPXI_ERR_BAD_FORMAT;
            /* fall through to the atom's octets */
            if ((r = canon_simple(c, &d, &n)) != 0)
                return r;
            break;
        default:
            if ((r = canon_simple(c, &d, &n)) != 0)
                return r;
        }
    } while (depth);
    return 0;
}

/* The head atom of the list at pos ("" for an atom or an empty list). */
static void canon_peek_head(const struct canon *c, const uint8_t **h, size_t *hn)
{
    struct canon t = *c;

    *h = (const uint8_t *)"";
    *hn = 0;
    if (t.pos >= t.len || t.p[t.pos] != '(')
        return;
    t.pos++;
    if (canon_simple(&t, h, hn) != 0) {
        *h = (const uint8_t *)"";
        *hn = 0;
    }
}

static bool head_eq(const uint8_t *h, size_t hn, const char *s)
{
    return hn == strlen(s) && memcmp(h, s, hn) == 0;
}

/* Opens a list whose head is name: consumes "(" and the head atom. */
static int canon_open(struct canon *c, const char *name)
{
    const uint8_t *h;
    size_t hn;
    int r;

    if (c->pos >= c->len)
        return VPXI_ERR_TRUNCATED;
    if (c->p[c->pos] != '(')
        return VPXI_ERR_BAD_FORMAT;
    c->pos++;
    if ((r = canon_simple(c, &h, &hn)) != 0)
        return r;
    return head_eq(h, hn, name) ? 0 : VPXI_ERR_BAD_FORMAT;
}

/* ---- parsing state ------------------------------------------------------------- */

struct cparse {
    struct vpxi_catalog *cat;
    struct vpxi_catalog_error *err;
    struct vpxi_sx *scratch;
    size_t scratch_uses;
    size_t images_cap;
    struct vpxi_cert *last_cert; /* a certificate still waiting for its signature */
};

static int fail(struct cparse *cp, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct cparse *cp, int code, size_t offset, const char *fmt, ...)
{
    va_list ap;

    if (cp->err) {
        cp->err->code = code;
        cp->err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(cp->err->why, sizeof(cp->err->why), fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Parses the element at [off, off + n) of the file into the catalogue arena. */
static int parse_elem(struct cparse *cp, size_t off, size_t n, struct vpxi_sexp **out)
{
    struct vpxi_sexp_error e;
    int r;

    r = vpxi_sexp_parse_canonical(cp->cat->sx, cp->cat->buf + off, n, NULL, out, &e);
    if (r)
        return fail(cp, r, off + e.offset, "%s", vpxi_strerror(r));
    return 0;
}

/* ---- entries ---------------------------------------------------------------- */

/* Maps an atom of a tree parsed from [base...] back into the file buffer. */
static struct vpxi_bytes map_atom(const struct vpxi_sexp *root, const uint8_t *file_at,
                                  const struct vpxi_sexp *a)
{
    struct vpxi_bytes b = { NULL, 0 };

    if (a) {
        b.p = file_at + (a->data - root->span);
        b.len = a->len;
    }
    return b;
}

static int image_add(struct cparse *cp, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_sexp *root;
    struct vpxi_sexp_error e;
    struct image_fields f;
    struct vpxi_image *im;
    const uint8_t *at = cat->buf + off;
    char why[160];
    int r;

    if (cat->nimages >= VPXI_CATALOG_IMAGES_MAX)
        return fail(cp, VPXI_ERR_TOO_LARGE, off, "more than %d images", VPXI_CATALOG_IMAGES_MAX);
    if (n > VPXI_CATALOG_ENTRY_MAX)
        return fail(cp, VPXI_ERR_TOO_LARGE, off, "image %zu: entry of %zu octets (at most %d)",
                    cat->nimages + 1, n, VPXI_CATALOG_ENTRY_MAX);
    if (cp->scratch_uses++ % IMAGES_PER_ARENA == 0) {
        vpxi_sx_free(cp->scratch);
        if ((cp->scratch = vpxi_sx_new()) == NULL)
            return fail(cp, VPXI_ERR_NOMEM, off, "out of memory");
    }
    if ((r = vpxi_sexp_parse_canonical(cp->scratch, at, n, NULL, &root, &e)) != 0)
        return fail(cp, r, off + e.offset, "image %zu: %s", cat->nimages + 1, vpxi_strerror(r));
    if ((r = cat_image_walk(root, &f, why, sizeof(why))) != 0) {
        char name[VPXI_CATALOG_NAME_MAX + 1] = "?";
        if (f.name) {
            struct vpxi_bytes b = map_atom(root, at, f.name);
            cat_bytes_str(&b, name, sizeof(name));
        }
        return fail(cp, r, off, "image %zu (%s): %s", cat->nimages + 1, name, why);
    }
    if (cat->nimages == cp->images_cap) {
        size_t cap = cp->images_cap ? 2 * cp->images_cap : 64;
        struct vpxi_image *ni = vpxi_realloc(cat->images, cap * sizeof(*ni));
        if (!ni)
            return fail(cp, VPXI_ERR_NOMEM, off, "out of memory");
        cat->images = ni;
        cp->images_cap = cap;
    }
    im = &cat->images[cat->nimages];
    im->name = map_atom(root, at, f.name);
    im->version = map_atom(root, at, f.version);
    im->sha256 = map_atom(root, at, f.sha256).p;
    im->sha512 = f.sha512 ? map_atom(root, at, f.sha512).p : NULL;
    im->size = f.size;
    im->flags = f.flags;
    im->index = cat->nimages++;
    im->span.p = at;
    im->span.len = n;
    return 0;
}

static int name_cmp(const struct vpxi_bytes *a, const struct vpxi_bytes *b)
{
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);

    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int image_cmp(const void *a, const void *b)
{
    const struct vpxi_image *x = a, *y = b;
    int c = name_cmp(&x->name, &y->name);

    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the entries by name (signed catalogues come sorted: then this is
 * one pass) and refuses a name that appears twice. */
static int images_sort(struct cparse *cp)
{
    struct vpxi_catalog *cat = cp->cat;
    bool sorted = true;
    char name[VPXI_CATALOG_NAME_MAX + 1];

    for (size_t i = 1; i < cat->nimages && sorted; i++)
        sorted = name_cmp(&cat->images[i - 1].name, &cat->images[i].name) < 0;
    if (!sorted)
        qsort(cat->images, cat->nimages, sizeof(*cat->images), image_cmp);
    for (size_t i = 1; i < cat->nimages; i++) {
        const struct vpxi_image *a = &cat->images[i - 1], *b = &cat->images[i];
        if (name_cmp(&a->name, &b->name) != 0)
            continue;
        cat_bytes_str(&b->name, name, sizeof(name));
        return fail(cp, VPXI_ERR_DUPLICATE, (size_t)(b->span.p - cat->buf),
                    "image %zu repeats the name %s of image %zu%s", b->index + 1, name,
                    a->index + 1,
                    memcmp(a->sha256, b->sha256, VPXI_SHA256_LEN) ? " with another digest" : "");
    }
    return 0;
}

/* ---- header --------------------------------------------------------------------- */

enum header_elem { HE_LABEL, HE_VERSION, HE_ISSUED, HE_EXPIRES, HE_TRUST, HE_COUNT };

static const char *const header_names[HE_COUNT] = {
    "label", "version", "issued", "expires", "trust",
};

static int header_trust(struct cparse *cp, const struct vpxi_sexp *t, size_t off)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_acl *acl;
    const struct vpxi_sexp *e = t->child->next;
    int r;

    if (!vpxi_sexp_head_is(e, "acl"))
        return fail(cp, VPXI_ERR_BAD_FORMAT, off, "(trust ...) must start with (acl ...)");
    if ((r = vpxi_acl_parse(cat->sx, e, &acl)) != 0)
        return fail(cp, r, off, "(trust (acl ...)): %s", vpxi_strerror(r));
    cat->trust = acl;
    for (e = e->next; e; e = e->next) {
        const struct vpxi_sexp *v = cat_pair_value(e);
        if (!vpxi_sexp_head_is(e, "source") || !v)
            return fail(cp, VPXI_ERR_BAD_FORMAT, off, "(trust ...): expected (source URL)");
        if (cat->nsources >= VPXI_CATALOG_SOURCES_MAX)
            return fail(cp, VPXI_ERR_TOO_LARGE, off, "(trust ...): more than %d sources",
                        VPXI_CATALOG_SOURCES_MAX);
        if (!cat_url_ok(v->data, v->len))
            return fail(cp, VPXI_ERR_BAD_FORMAT, off, "(trust ...): bad source URL");
        cat->sources[cat->nsources].p = v->data;
        cat->sources[cat->nsources++].len = v->len;
    }
    return 0;
}

static int header_elem(struct cparse *cp, int k, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_sexp *e;
    const struct vpxi_sexp *v;
    int64_t *t;
    int r;

    if (n > VPXI_CATALOG_HEADER_MAX)
        return fail(cp, VPXI_ERR_TOO_LARGE, off, "(%s ...) of %zu octets", header_names[k], n);
    if ((r = parse_elem(cp, off, n, &e)) != 0)
        return r;
    v = cat_pair_value(e);
    switch (k) {
    case HE_LABEL:
        if (!v || !cat_text_ok(v->data, v->len, VPXI_CATALOG_TEXT_MAX))
            return fail(cp, VPXI_ERR_BAD_FORMAT, off, "bad (label TEXT)");
        cat->label.p = v->data;
        cat->label.len = v->len;
        return 0;
    case HE_VERSION:
        if (!v || vpxi_sexp_get_u64(v, &cat->version) != 0 || cat->version == 0)
            return fail(cp, VPXI_ERR_BAD_FORMAT, off, "bad (version N): a decimal number >= 1");
        return 0;
    case HE_ISSUED:
    case HE_EXPIRES:
        t = k == HE_ISSUED ? &cat->issued : &cat->expires;
        if (!v || vpxi_date_parse(v->data, v->len, t) != 0)
            return fail(cp, VPXI_ERR_BAD_FORMAT, off, "bad (%s YYYY-MM-DD_HH:MM:SS)",
                        header_names[k]);
        return 0;
    case HE_TRUST: return header_trust(cp, e, off);
    default: return VPXI_ERR_INTERNAL;
    }
}

/* The (catalog ...) element at [off, off + n). */
static int parse_body(struct cparse *cp, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct canon c = { cat->buf, off + n, off };
    int last = -1, r;
    unsigned have = 0;
    bool images = false;

    cat->body = cat->buf + off;
    cat->body_len = n;
    if ((r = canon_open(&c, "catalog")) != 0)
        return fail(cp, r, c.pos, "expected (catalog ...)");
    while (c.pos < c.len && c.p[c.pos] != ')') {
        const uint8_t *h;
        size_t hn, start = c.pos;
        int k = -1;

        canon_peek_head(&c, &h, &hn);
        if ((r = canon_skip(&c)) != 0)
            return fail(cp, r, c.pos, "%s", vpxi_strerror(r));
        if (head_eq(h, hn, "image")) {
            images = true;
            if ((r = image_add(cp, start, c.pos - start)) != 0)
                return r;
            continue;
        }
        for (int i = 0; i < HE_COUNT; i++)
            if (head_eq(h, hn, header_names[i]))
                k = i;
        if (k < 0)
            return fail(cp, VPXI_ERR_BAD_FORMAT, start, "unknown element in (catalog ...)");
        if (images || k <= last)
            return fail(cp, k == last ? VPXI_ERR_DUPLICATE : VPXI_ERR_ORDER, start, "(%s ...) %s",
                        header_names[k],
                        k == last ? "repeated"
                                  : "out of order (label, version, issued, "
                                    "expires, trust, then the images)");
        last = k;
        have |= 1u << k;
        if ((r = header_elem(cp, k, start, c.pos - start)) != 0)
            return r;
    }
    if (c.pos >= c.len)
        return fail(cp, VPXI_ERR_TRUNCATED, c.pos, "(catalog ...) not closed");
    if (!(have & (1u << HE_VERSION)) || !(have & (1u << HE_ISSUED)) || !(have & (1u << HE_EXPIRES)))
        return fail(cp, VPXI_ERR_BAD_FORMAT, off,
                    "a catalogue needs (version), (issued) and "
                    "(expires)");
    if (cat->issued > cat->expires)
        return fail(cp, VPXI_ERR_VALIDITY_EMPTY, off, "issued after it expires");
    return images_sort(cp);
}

/* ---- the sequence around it ---------------------------------------------------------- */

static int seq_cert(struct cparse *cp, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_sexp *e;
    struct vpxi_cert *cert;
    int r;

    if (cat->nchain >= VPXI_CATALOG_CHAIN_MAX)
        return fail(cp, VPXI_ERR_TOO_LARGE, off, "more than %d delegation certificates",
                    VPXI_CATALOG_CHAIN_MAX);
    if ((r = parse_elem(cp, off, n, &e)) != 0)
        return r;
    if ((r = vpxi_cert_parse(cat->sx, e, &cert)) != 0)
        return fail(cp, r, off, "delegation certificate %zu: %s", cat->nchain + 1,
                    vpxi_strerror(r));
    cat->chain[cat->nchain++] = cert;
    cp->last_cert = cert;
    return 0;
}

static int seq_key(struct cparse *cp, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_principal kp;
    struct vpxi_sexp *e;
    struct vpxi_key *k;
    int r;

    if (cat->nkeys >= VPXI_CATALOG_CHAIN_MAX)
        return fail(cp, VPXI_ERR_TOO_LARGE, off, "more than %d keys", VPXI_CATALOG_CHAIN_MAX);
    if ((r = parse_elem(cp, off, n, &e)) != 0)
        return r;
    if ((r = vpxi_principal_parse(cat->sx, e, &kp)) != 0 ||
        (r = vpxi_principal_get_key(&kp, NULL, 0, NULL, &k)) != 0)
        return fail(cp, r, off, "public key: %s", vpxi_strerror(r));
    cat->keys[cat->nkeys++] = k;
    return 0;
}

/* The catalogue's own signature: its signer must be a public key. */
static int seq_signature(struct cparse *cp, size_t off, size_t n)
{
    struct vpxi_catalog *cat = cp->cat;
    struct vpxi_sexp *e;
    const struct vpxi_sexp *h, *sv;
    int r;

    if ((r = parse_elem(cp, off, n, &e)) != 0)
        return r;
    h = vpxi_sexp_nth(e, 1);
    sv = vpxi_sexp_nth(e, 3);
    if (e->len != 4 || !vpxi_sexp_head_is(h, "hash") || h->len != 3 ||
        !vpxi_sexp_atom_is(vpxi_sexp_nth(h, 1), "sha256") || !cat_plain(vpxi_sexp_nth(h, 2)) ||
        !vpxi_sexp_is_list(sv) || sv->len != 2 || !cat_plain(sv->child) ||
        !cat_plain(sv->child->next))
        return fail(cp, VPXI_ERR_BAD_FORMAT, off,
                    "malformed (signature (hash sha256 |H|) (public-key ..) (ALG |sig|))");
    if (!vpxi_sexp_head_is(vpxi_sexp_nth(e, 2), "public-key"))
        return fail(cp, VPXI_ERR_BAD_FORMAT, off,
                    "the signature must name its signer's "
                    "(public-key ...)");
    if ((r = vpxi_principal_parse(cat->sx, vpxi_sexp_nth(e, 2), &cat->signer)) != 0)
        return fail(cp, r, off, "signer key: %s", vpxi_strerror(r));
    cat->signature = e;
    return 0;
}

static int parse_sequence(struct cparse *cp)
{
    struct vpxi_catalog *cat = cp->cat;
    struct canon c = { cat->buf, cat->len, 0 };
    bool after_body = false;
    int r;

    if ((r = canon_open(&c, "sequence")) != 0)
        return fail(cp, r, c.pos, "expected (sequence ... (catalog ...) (signature ...))");
    while (c.pos < c.len && c.p[c.pos] != ')') {
        const uint8_t *h;
        size_t hn, start = c.pos;
        struct vpxi_cert *pending = cp->last_cert;

        canon_peek_head(&c, &h, &hn);
        if ((r = canon_skip(&c)) != 0)
            return fail(cp, r, c.pos, "%s", vpxi_strerror(r));
        cp->last_cert = NULL;
        if (cat->signature)
            return fail(cp, VPXI_ERR_TRAILING_DATA, start, "element after the signature");
        if (head_eq(h, hn, "signature") && after_body) {
            r = seq_signature(cp, start, c.pos - start);
        } else if (head_eq(h, hn, "signature") && pending && !pending->signature) {
            struct vpxi_sexp *e;
            if ((r = parse_elem(cp, start, c.pos - start, &e)) == 0)
                pending->signature = e;
        } else if (after_body) {
            r = fail(cp, VPXI_ERR_BAD_FORMAT, start,
                     "(catalog ...) must be followed by its "
                     "(signature ...)");
        } else if (head_eq(h, hn, "cert")) {
            r = seq_cert(cp, start, c.pos - start);
        } else if (head_eq(h, hn, "public-key")) {
            r = seq_key(cp, start, c.pos - start);
        } else if (head_eq(h, hn, "catalog")) {
            after_body = true;
            r = parse_body(cp, start, c.pos - start);
        } else {
            r = fail(cp, VPXI_ERR_BAD_FORMAT, start, "unexpected element in the sequence");
        }
        if (r)
            return r;
    }
    if (c.pos >= c.len)
        return fail(cp, VPXI_ERR_TRUNCATED, c.pos, "(sequence ...) not closed");
    if (c.pos + 1 != c.len)
        return fail(cp, VPXI_ERR_TRAILING_DATA, c.pos + 1, "octets after the sequence");
    if (!after_body)
        return fail(cp, VPXI_ERR_BAD_FORMAT, 0, "no (catalog ...)");
    if (!cat->signature)
        return fail(cp, VPXI_ERR_NO_SIGNATURE, c.pos, "the catalogue is not signed");
    return 0;
}

/* ---- entry point ------------------------------------------------------------------- */

int cat_each_elem(const uint8_t *p, size_t len, int (*fn)(void *arg, size_t off, size_t n),
                  void *arg)
{
    struct canon c = { p, len, 0 };
    int r;

    while (c.pos < c.len) {
        size_t start = c.pos;
        if ((r = canon_skip(&c)) != 0 || (r = fn(arg, start, c.pos - start)) != 0)
            return r;
    }
    return 0;
}

static bool is_canonical(const uint8_t *p, size_t len)
{
    return len >= 2 && p[0] == '(' && digit(p[1]);
}

/* Converts advanced or transport input to canonical bytes in w. */
static int to_canonical(const uint8_t *p, size_t len, size_t max, struct vpxi_wr *w,
                        struct vpxi_catalog_error *err)
{
    struct vpxi_sexp_limits lim = vpxi_sexp_limits_default;
    struct vpxi_sexp_error e;
    struct vpxi_sexp *n;
    struct vpxi_sx *sx = vpxi_sx_new();
    int r;

    if (!sx)
        return VPXI_ERR_NOMEM;
    lim.input_max = max;
    lim.list_max = VPXI_CATALOG_IMAGES_MAX + 16;
    lim.nodes_max = ADVANCED_NODES_MAX;
    if ((r = vpxi_sexp_read(sx, p, len, &lim, &n, &e)) != 0) {
        if (err) {
            err->code = r;
            err->offset = e.offset;
            cat_why(err->why, sizeof(err->why), "%s", vpxi_strerror(r));
        }
        goto out;
    }
    vpxi_wr_init_dyn(w, max);
    r = vpxi_sexp_write_canonical(n, w);
out:
    vpxi_sx_free(sx);
    return r;
}

static int parse_run(struct cparse *cp, const uint8_t *p, size_t len)
{
    struct vpxi_catalog *cat = cp->cat;
    int r;

    if ((cat->sx = vpxi_sx_new()) == NULL || (cat->buf = vpxi_sx_dup(cat->sx, p, len)) == NULL ||
        (cat->chain = vpxi_sx_alloc(cat->sx, VPXI_CATALOG_CHAIN_MAX * sizeof(*cat->chain))) ==
            NULL ||
        (cat->keys = vpxi_sx_alloc(cat->sx, VPXI_CATALOG_CHAIN_MAX * sizeof(*cat->keys))) == NULL)
        return fail(cp, VPXI_ERR_NOMEM, 0, "out of memory");
    cat->len = len;
    cat->sig_status = VPXI_CERT_UNCHECKED;
    if ((r = vpxi_hash(VPXI_HASH_SHA256, cat->buf, cat->len, cat->file_digest)) != 0)
        return fail(cp, r, 0, "hash: %s", vpxi_strerror(r));
    if ((r = parse_sequence(cp)) != 0)
        return r;
    if ((r = vpxi_hash(VPXI_HASH_SHA256, cat->body, cat->body_len, cat->body_digest)) != 0)
        return fail(cp, r, 0, "hash: %s", vpxi_strerror(r));
    /* the entries array now lives as long as the arena */
    if (cat->images && (r = vpxi_sx_defer(cat->sx, vpxi_free, cat->images)) != 0) {
        cat->images = NULL;
        return fail(cp, r, 0, "out of memory");
    }
    return 0;
}

int vpxi_catalog_parse(const uint8_t *p, size_t len, size_t max, struct vpxi_catalog **out,
                       struct vpxi_catalog_error *err)
{
    struct cparse cp = { 0 };
    struct vpxi_wr w = { 0 };
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    cp.err = err;
    if (!max)
        max = VPXI_CATALOG_FILE_DEFAULT;
    if (len > max)
        return fail(&cp, VPXI_ERR_TOO_LARGE, max, "catalogue of %zu octets (at most %zu)", len,
                    max);
    if (!is_canonical(p, len)) {
        if ((r = to_canonical(p, len, max, &w, err)) != 0)
            goto out;
        p = w.p;
        len = w.len;
    }
    if ((cp.cat = vpxi_calloc(1, sizeof(*cp.cat))) == NULL) {
        r = fail(&cp, VPXI_ERR_NOMEM, 0, "out of memory");
        goto out;
    }
    if ((r = parse_run(&cp, p, len)) != 0)
        goto out;
    *out = cp.cat;
    cp.cat = NULL;
    r = 0;
out:
    if (cp.cat) {
        vpxi_free(cp.cat->images);
        vpxi_sx_free(cp.cat->sx);
        vpxi_free(cp.cat);
    }
    vpxi_sx_free(cp.scratch);
    vpxi_wr_clear(&w);
    return r;
}

void vpxi_catalog_free(struct vpxi_catalog *c)
{
    if (!c)
        return;
    vpxi_sx_free(c->sx);
    vpxi_free(c);
}

const struct vpxi_image *vpxi_catalog_find(const struct vpxi_catalog *c, const char *name)
{
    struct vpxi_bytes key = { (const uint8_t *)name, strlen(name) };
    size_t lo = 0, hi = c->nimages;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int k = name_cmp(&c->images[mid].name, &key);
        if (k == 0)
            return &c->images[mid];
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int vpxi_image_details(const struct vpxi_image *im, struct vpxi_image_meta *out)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *root;
    struct image_fields f;
    int r;

    memset(out, 0, sizeof(*out));
    out->produced = VPXI_TIME_MIN;
    if (!sx)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_sexp_parse_canonical(sx, im->span.p, im->span.len, NULL, &root, NULL)) != 0 ||
        (r = cat_image_walk(root, &f, NULL, 0)) != 0)
        goto out;
    out->producer = map_atom(root, im->span.p, f.producer);
    out->os = map_atom(root, im->span.p, f.os);
    out->arch = map_atom(root, im->span.p, f.arch);
    out->runtime = map_atom(root, im->span.p, f.runtime);
    out->purpose = map_atom(root, im->span.p, f.purpose);
    out->produced = f.produced;
    for (size_t i = 0; i < f.nurls; i++)
        out->urls[i] = map_atom(root, im->span.p, f.urls[i]);
    out->nurls = f.nurls;
    for (size_t i = 0; i < f.ntags; i++)
        out->tags[i] = map_atom(root, im->span.p, f.tags[i]);
    out->ntags = f.ntags;
out:
    vpxi_sx_free(sx);
    return r;
}

void vpxi_image_hex(const struct vpxi_image *im, char out[static 2 * VPXI_SHA256_LEN + 1])
{
    vpxi_hex_encode(out, im->sha256, VPXI_SHA256_LEN);
}
