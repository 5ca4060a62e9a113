/*
 * sign.c - building image entries, signing catalogues, checking the
 * catalogue signature.
 *
 * The signature has the form of an SPKI certificate signature,
 *   (signature (hash sha256 |H(body)|) (public-key ...) (SIGALG |sig|)),
 * over the exact canonical bytes of (catalog ...). A signed catalogue is
 * assembled at the byte level (header, then the entries' own canonical
 * bytes) rather than as one tree, so that signing 100 000 entries does not
 * need a tree of millions of nodes; the result is parsed back and verified
 * before it is handed out.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

/* Signature algorithm names, bound to key algorithms (as for certificates). */
static const struct {
    enum vpxi_key_alg key;
    const char *name;
    enum vpxi_sig_scheme scheme;
} sig_algs[] = {
    { VPXI_KEY_ECDSA_P256, "ecdsa-p256-sha256", VPXI_SIG_ECDSA_SHA256 },
    { VPXI_KEY_ED25519, "ed25519", VPXI_SIG_ED25519 },
    { VPXI_KEY_RSA, "rsa-pkcs1-sha256", VPXI_SIG_RSA_PKCS1_SHA256 },
};

static int sig_alg_index(const struct vpxi_key *k)
{
    for (size_t i = 0; i < sizeof(sig_algs) / sizeof(sig_algs[0]); i++)
        if (sig_algs[i].key == vpxi_key_alg(k))
            return (int)i;
    return -1;
}

const char *cat_sig_name(const struct vpxi_key *k)
{
    int i = sig_alg_index(k);

    return i < 0 ? NULL : sig_algs[i].name;
}

/* ---- image entries ------------------------------------------------------------- */

int vpxi_image_check(const struct vpxi_sexp *n, char *why, size_t whylen)
{
    struct image_fields f;

    return cat_image_walk(n, &f, why, whylen);
}

static int add(struct vpxi_sx *sx, struct vpxi_sexp *list, const char *fmt, ...)
{
    struct vpxi_sexp *e;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vpxi_sexp_vbuild(sx, &e, fmt, ap);
    va_end(ap);
    if (r == 0)
        vpxi_sexp_append(list, e);
    return r;
}

static int add_meta(struct vpxi_sx *sx, struct vpxi_sexp *im, const struct vpxi_image_info *in)
{
    const char *keys[] = { "os", "arch", "runtime", "purpose" };
    const char *vals[] = { in->os, in->arch, in->runtime, in->purpose };
    struct vpxi_sexp *meta, *tags;
    bool any = in->ntags > 0;
    int r;

    for (size_t i = 0; i < 4; i++)
        any |= vals[i] != NULL;
    if (!any)
        return 0;
    if ((r = vpxi_sexp_build(sx, &meta, "(meta)")) != 0)
        return r;
    for (size_t i = 0; i < 4; i++)
        if (vals[i] && (r = add(sx, meta, "(%s %s)", keys[i], vals[i])) != 0)
            return r;
    if (in->ntags) {
        if ((r = vpxi_sexp_build(sx, &tags, "(tags)")) != 0)
            return r;
        for (size_t i = 0; i < in->ntags; i++) {
            struct vpxi_sexp *t = vpxi_sexp_atom_str(sx, in->tags[i]);
            if (!t)
                return VPXI_ERR_NOMEM;
            vpxi_sexp_append(tags, t);
        }
        vpxi_sexp_append(meta, tags);
    }
    vpxi_sexp_append(im, meta);
    return 0;
}

static int add_status(struct vpxi_sx *sx, struct vpxi_sexp *im, unsigned flags)
{
    static const char *const names[] = { "approved", "shared", "revoked" };
    struct vpxi_sexp *st;
    int r;

    if ((r = vpxi_sexp_build(sx, &st, "(status)")) != 0)
        return r;
    for (unsigned i = 0; i < 3; i++) {
        struct vpxi_sexp *a;
        if (!(flags & (1u << i)))
            continue;
        if ((a = vpxi_sexp_atom_str(sx, names[i])) == NULL)
            return VPXI_ERR_NOMEM;
        vpxi_sexp_append(st, a);
    }
    vpxi_sexp_append(im, st);
    return 0;
}

int vpxi_image_build(struct vpxi_sx *sx, const struct vpxi_image_info *in, struct vpxi_sexp **out)
{
    struct vpxi_sexp *im;
    char d[VPXI_DATE_LEN + 1];
    int r;

    *out = NULL;
    if (!in->name)
        vpxi_misuse("vpxi_image_build: no name");
    if ((r = vpxi_sexp_build(sx, &im, "(image (name %s))", in->name)) != 0 ||
        (in->version && (r = add(sx, im, "(version %s)", in->version)) != 0) ||
        (r = add(sx, im, "(hash sha256 %b)", in->sha256, (size_t)VPXI_SHA256_LEN)) != 0 ||
        (in->has_sha512 &&
         (r = add(sx, im, "(hash sha512 %b)", in->sha512, (size_t)VPXI_SHA512_LEN)) != 0) ||
        (r = add(sx, im, "(size %u)", in->size)) != 0)
        return r;
    for (size_t i = 0; i < in->nurls; i++)
        if ((r = add(sx, im, "(url %s)", in->urls[i])) != 0)
            return r;
    if (in->producer && (r = add(sx, im, "(producer %s)", in->producer)) != 0)
        return r;
    if (in->produced != VPXI_TIME_MIN) {
        vpxi_date_format(in->produced, d);
        if ((r = add(sx, im, "(produced %s)", d)) != 0)
            return r;
    }
    if ((r = add_meta(sx, im, in)) != 0 || (r = add_status(sx, im, in->flags)) != 0)
        return r;
    if ((r = vpxi_image_check(im, NULL, 0)) != 0)
        return r;
    *out = im;
    return 0;
}

/* ---- signing ---------------------------------------------------------------------- */

struct sorted {
    const uint8_t *name;
    size_t name_len;
    size_t off, len, index;
};

struct collect {
    const uint8_t *buf;
    struct sorted *v;
    size_t n, cap;
    struct vpxi_sx *scratch;
    char *why;
    size_t whylen;
};

static int collect_one(void *arg, size_t off, size_t n)
{
    struct collect *c = arg;
    struct vpxi_sexp *root;
    struct image_fields f;
    char why[160];
    int r;

    if (c->n % 64 == 0) {
        vpxi_sx_free(c->scratch);
        if ((c->scratch = vpxi_sx_new()) == NULL)
            return VPXI_ERR_NOMEM;
    }
    if (n > VPXI_CATALOG_ENTRY_MAX)
        return cat_why(c->why, c->whylen, "image %zu: entry too large", c->n + 1),
               VPXI_ERR_TOO_LARGE;
    if ((r = vpxi_sexp_parse_canonical(c->scratch, c->buf + off, n, NULL, &root, NULL)) != 0 ||
        (r = cat_image_walk(root, &f, why, sizeof(why))) != 0)
        return cat_why(c->why, c->whylen, "image %zu: %s", c->n + 1,
                       r == VPXI_ERR_BAD_FORMAT ? why : vpxi_strerror(r)),
               r;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct sorted *nv = vpxi_realloc(c->v, cap * sizeof(*nv));
        if (!nv)
            return VPXI_ERR_NOMEM;
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n].name = c->buf + off + (f.name->data - root->span);
    c->v[c->n].name_len = f.name->len;
    c->v[c->n].off = off;
    c->v[c->n].len = n;
    c->v[c->n].index = c->n;
    c->n++;
    return 0;
}

static int sorted_cmp(const void *a, const void *b)
{
    const struct sorted *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);

    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Writes (catalog and the header elements of the body. */
static int write_header_elems(struct vpxi_sx *sx, const struct vpxi_catalog_draft *d,
                              struct vpxi_wr *w)
{
    char is[VPXI_DATE_LEN + 1], ex[VPXI_DATE_LEN + 1];
    struct vpxi_sexp *h;
    int r;

    vpxi_date_format(d->issued, is);
    vpxi_date_format(d->expires, ex);
    vpxi_wr_str(w, "(7:catalog");
    if (d->label) {
        if ((r = vpxi_sexp_build(sx, &h, "(label %s)", d->label)) != 0)
            return r;
        vpxi_sexp_write_canonical(h, w);
    }
    if ((r = vpxi_sexp_build(sx, &h, "(version %u)", d->version)) != 0)
        return r;
    vpxi_sexp_write_canonical(h, w);
    if ((r = vpxi_sexp_build(sx, &h, "(issued %s)", is)) != 0)
        return r;
    vpxi_sexp_write_canonical(h, w);
    if ((r = vpxi_sexp_build(sx, &h, "(expires %s)", ex)) != 0)
        return r;
    vpxi_sexp_write_canonical(h, w);
    if (d->trust)
        vpxi_sexp_write_canonical(d->trust, w);
    return w->err;
}

/* Signs body with key; writes the signature element into w. */
static int write_signature(struct vpxi_sx *sx, struct vpxi_key *key, const uint8_t *body,
                           size_t body_len, struct vpxi_wr *w)
{
    uint8_t digest[VPXI_SHA256_LEN], *sig;
    struct vpxi_sexp *pub, *s;
    size_t cap = vpxi_key_sig_len(key), siglen = 0;
    int i = sig_alg_index(key), r;

    if (i < 0)
        return VPXI_ERR_UNSUPPORTED;
    if ((sig = vpxi_sx_alloc(sx, cap)) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_hash(VPXI_HASH_SHA256, body, body_len, digest)) != 0 ||
        (r = vpxi_key_sign(key, sig_algs[i].scheme, body, body_len, sig, cap, &siglen)) != 0 ||
        (r = vpxi_key_to_sexp(sx, key, &pub)) != 0 ||
        (r = vpxi_sexp_build(sx, &s, "(signature (hash sha256 %b) %S (%s %b))", digest,
                             sizeof(digest), pub, sig_algs[i].name, sig, siglen)) != 0)
        return r;
    return vpxi_sexp_write_canonical(s, w);
}

static int check_result(const struct vpxi_wr *out, char *why, size_t whylen)
{
    struct vpxi_catalog_error e;
    struct vpxi_catalog *c;
    int r;

    if ((r = vpxi_catalog_parse(out->p, out->len, out->len, &c, &e)) != 0) {
        cat_why(why, whylen, "%s", e.why);
        return r;
    }
    if ((r = vpxi_catalog_verify(c)) != 0)
        cat_why(why, whylen, "the new signature does not verify: %s", vpxi_strerror(r));
    vpxi_catalog_free(c);
    return r;
}

int vpxi_catalog_sign(const struct vpxi_catalog_draft *d, struct vpxi_key *key, struct vpxi_wr *out,
                      char *why, size_t whylen)
{
    struct collect col = { 0 };
    struct vpxi_sx *sx = NULL;
    size_t body_start;
    int r = VPXI_ERR_INTERNAL;

    cat_why(why, whylen, "%s", "");
    if (!vpxi_key_is_private(key))
        return cat_why(why, whylen, "the signing key is not a private key"), VPXI_ERR_INVALID;
    if (!d->version || d->issued > d->expires)
        return cat_why(why, whylen, "version must be >= 1 and issued <= expires"), VPXI_ERR_INVALID;
    if ((sx = vpxi_sx_new()) == NULL)
        return VPXI_ERR_NOMEM;
    col.buf = d->images;
    col.why = why;
    col.whylen = whylen;
    if (d->images_len && (r = cat_each_elem(d->images, d->images_len, collect_one, &col)) != 0)
        goto out;
    if (col.n > 1)
        qsort(col.v, col.n, sizeof(*col.v), sorted_cmp);
    for (size_t i = 1; i < col.n; i++) {
        if (col.v[i].name_len == col.v[i - 1].name_len &&
            memcmp(col.v[i].name, col.v[i - 1].name, col.v[i].name_len) == 0) {
            cat_why(why, whylen, "images %zu and %zu have the same name %.*s",
                    col.v[i - 1].index + 1, col.v[i].index + 1, (int)col.v[i].name_len,
                    (const char *)col.v[i].name);
            r = VPXI_ERR_DUPLICATE;
            goto out;
        }
    }
    vpxi_wr_str(out, "(8:sequence");
    if (d->chain_len)
        vpxi_wr_bytes(out, d->chain, d->chain_len);
    body_start = out->len;
    if ((r = write_header_elems(sx, d, out)) != 0)
        goto out;
    for (size_t i = 0; i < col.n; i++)
        vpxi_wr_bytes(out, d->images + col.v[i].off, col.v[i].len);
    vpxi_wr_u8(out, ')');
    if ((r = out->err) != 0 ||
        (r = write_signature(sx, key, out->p + body_start, out->len - body_start, out)) != 0 ||
        (r = vpxi_wr_u8(out, ')')) != 0)
        goto out;
    r = check_result(out, why, whylen);
out:
    if (r && why && !why[0])
        cat_why(why, whylen, "%s", vpxi_strerror(r));
    vpxi_free(col.v);
    vpxi_sx_free(col.scratch);
    vpxi_sx_free(sx);
    return r;
}

/* ---- checking ---------------------------------------------------------------------- */

static int verify_run(struct vpxi_catalog *c)
{
    const struct vpxi_sexp *h = vpxi_sexp_nth(c->signature, 1);
    const struct vpxi_sexp *hv = vpxi_sexp_nth(h, 2);
    const struct vpxi_sexp *sv = vpxi_sexp_nth(c->signature, 3);
    struct vpxi_key *key;
    int i, r;

    /* HASH: the signature names exactly the bytes we hold */
    if (hv->len != VPXI_SHA256_LEN || memcmp(hv->data, c->body_digest, VPXI_SHA256_LEN) != 0)
        return VPXI_ERR_BAD_SIG;
    if ((r = vpxi_principal_get_key(&c->signer, NULL, 0, NULL, &key)) != 0)
        return r;
    if ((i = sig_alg_index(key)) < 0)
        return VPXI_ERR_UNSUPPORTED;
    if (!vpxi_sexp_atom_is(sv->child, sig_algs[i].name))
        return VPXI_ERR_BAD_SIG;
    /* SIG: over the exact body; the SHA-256 computed at parse time is reused */
    if (sig_algs[i].scheme != VPXI_SIG_ED25519)
        return vpxi_key_verify_digest(key, sig_algs[i].scheme, c->body_digest, VPXI_SHA256_LEN,
                                      sv->child->next->data, sv->child->next->len);
    return vpxi_key_verify(key, sig_algs[i].scheme, c->body, c->body_len, sv->child->next->data,
                           sv->child->next->len);
}

int vpxi_catalog_verify(struct vpxi_catalog *c)
{
    if (c->sig_status == VPXI_CERT_UNCHECKED)
        c->sig_status = verify_run(c);
    return c->sig_status;
}
