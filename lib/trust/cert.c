/*
 * cert.c - SPKI certificates: principals, subjects, validity, parsing with
 * the exact signed bytes kept, signature verification, sequences, issuance.
 *
 * Element order inside (cert ...) is enforced as in the SPKI structure
 * draft; a signature is always checked over the certificate's own canonical
 * span, never over a re-encoding.
 */
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

/* Signature algorithm names, bound to key algorithms. */
struct sig_alg {
    enum vpxi_key_alg key;
    const char *name;
    enum vpxi_sig_scheme scheme;
};

static const struct sig_alg sig_algs[] = {
    { VPXI_KEY_ECDSA_P256, "ecdsa-p256-sha256", VPXI_SIG_ECDSA_SHA256 },
    { VPXI_KEY_ED25519, "ed25519", VPXI_SIG_ED25519 },
    { VPXI_KEY_RSA, "rsa-pkcs1-sha256", VPXI_SIG_RSA_PKCS1_SHA256 },
};

static const struct sig_alg *sig_alg_for_key(enum vpxi_key_alg alg)
{
    for (size_t i = 0; i < sizeof(sig_algs) / sizeof(sig_algs[0]); i++)
        if (sig_algs[i].key == alg)
            return &sig_algs[i];
    return NULL;
}

/* The hash in a signature element must be one of these (no SHA-1, no MD5). */
static bool sig_hash_ok(enum vpxi_hash_alg h)
{
    return h == VPXI_HASH_SHA256 || h == VPXI_HASH_SHA384 || h == VPXI_HASH_SHA512;
}

/* ---- principals -------------------------------------------------------------- */

static void put_key(void *k)
{
    vpxi_key_put(k);
}

/* Canonical bytes of n: its span or a fresh encoding. */
static int canon_of(struct vpxi_sx *sx, const struct vpxi_sexp *n, const uint8_t **p, size_t *len)
{
    return vpxi_sexp_canonical(sx, n, p, len);
}

int vpxi_principal_from_key(struct vpxi_sx *sx, struct vpxi_key *k, struct vpxi_principal *out)
{
    struct vpxi_sexp *n;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = vpxi_key_to_sexp(sx, k, &n)) != 0 ||
        (r = canon_of(sx, n, &out->canon, &out->canon_len)) != 0)
        return r;
    if ((r = vpxi_hash(VPXI_HASH_SHA256, out->canon, out->canon_len, out->hash)) != 0)
        return r;
    if ((r = vpxi_sx_defer(sx, put_key, vpxi_key_get(k))) != 0)
        return r;
    out->kind = VPXI_PRINCIPAL_KEY;
    out->key = k;
    out->sx = sx;
    out->hash_alg = VPXI_HASH_SHA256;
    out->hash_len = vpxi_hash_len(VPXI_HASH_SHA256);
    out->node = n;
    return 0;
}

int vpxi_principal_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_principal *out)
{
    const struct vpxi_sexp *alg, *dig;
    int r;

    memset(out, 0, sizeof(*out));
    out->node = n;
    out->sx = sx;
    if (vpxi_sexp_head_is(n, "public-key")) {
        /* structure now, the key itself when a signature needs it */
        if ((r = vpxi_key_sexp_check(n)) != 0)
            return r;
        if ((r = canon_of(sx, n, &out->canon, &out->canon_len)) != 0 ||
            (r = vpxi_hash(VPXI_HASH_SHA256, out->canon, out->canon_len, out->hash)) != 0)
            return r;
        out->kind = VPXI_PRINCIPAL_KEY;
        out->hash_alg = VPXI_HASH_SHA256;
        out->hash_len = vpxi_hash_len(VPXI_HASH_SHA256);
        return 0;
    }
    if (!vpxi_sexp_head_is(n, "hash") || n->len != 3)
        return VPXI_ERR_BAD_FORMAT;
    alg = vpxi_sexp_nth(n, 1);
    dig = vpxi_sexp_nth(n, 2);
    if (!vpxi_sexp_is_atom(alg) || alg->hint || !vpxi_sexp_is_atom(dig) || dig->hint)
        return VPXI_ERR_BAD_FORMAT;
    out->hash_alg = vpxi_hash_from_name(alg->data, alg->len);
    if (out->hash_alg == VPXI_HASH_NONE || out->hash_alg == VPXI_HASH_SHA1)
        return VPXI_ERR_UNSUPPORTED;
    if (dig->len != vpxi_hash_len(out->hash_alg))
        return VPXI_ERR_BAD_FORMAT;
    memcpy(out->hash, dig->data, dig->len);
    out->hash_len = dig->len;
    out->kind = VPXI_PRINCIPAL_HASH;
    return 0;
}

/* Does key principal k hash, under alg, to digest? */
static bool key_matches_hash(const struct vpxi_principal *k, enum vpxi_hash_alg alg,
                             const uint8_t *digest, size_t len)
{
    uint8_t h[VPXI_HASH_MAX_LEN];

    if (alg == k->hash_alg)
        return len == k->hash_len && memcmp(k->hash, digest, len) == 0;
    if (!k->canon || vpxi_hash(alg, k->canon, k->canon_len, h) != 0)
        return false;
    return len == vpxi_hash_len(alg) && memcmp(h, digest, len) == 0;
}

bool vpxi_principal_equal(const struct vpxi_principal *a, const struct vpxi_principal *b)
{
    if (!a || !b || !a->kind || !b->kind)
        return false;
    if (a->kind == VPXI_PRINCIPAL_KEY)
        return key_matches_hash(a, b->hash_alg, b->hash, b->hash_len);
    if (b->kind == VPXI_PRINCIPAL_KEY)
        return key_matches_hash(b, a->hash_alg, a->hash, a->hash_len);
    return a->hash_alg == b->hash_alg && a->hash_len == b->hash_len &&
           memcmp(a->hash, b->hash, a->hash_len) == 0;
}

int vpxi_principal_get_key(const struct vpxi_principal *p, struct vpxi_key *const *keys,
                           size_t nkeys, struct vpxi_keycache *cache, struct vpxi_key **out)
{
    struct vpxi_principal kp;
    struct vpxi_sx *tmp;
    struct vpxi_key *k;
    int r;

    *out = NULL;
    if (p->kind == VPXI_PRINCIPAL_KEY) {
        if (!p->key) {
            /* p->hash is the SHA-256 key id of a KEY principal */
            if ((k = cache ? vpxi_keycache_get(cache, p->hash) : NULL) == NULL) {
                if ((r = vpxi_key_from_sexp(p->node, &k)) != 0)
                    return r == VPXI_ERR_NOMEM ? r : VPXI_ERR_BAD_KEY;
                if (cache)
                    vpxi_keycache_put(cache, p->hash, k);
            }
            if ((r = vpxi_sx_defer(p->sx, put_key, k)) != 0)
                return r;
            /* a cache: the principal is logically unchanged */
            ((struct vpxi_principal *)p)->key = k;
        }
        *out = p->key;
        return 0;
    }
    if (!nkeys)
        return VPXI_ERR_UNKNOWN_KEY;
    if ((tmp = vpxi_sx_new()) == NULL)
        return VPXI_ERR_NOMEM;
    for (size_t i = 0; i < nkeys && !*out; i++)
        if (vpxi_principal_from_key(tmp, keys[i], &kp) == 0 && vpxi_principal_equal(&kp, p))
            *out = keys[i];
    vpxi_sx_free(tmp);
    return *out ? 0 : VPXI_ERR_UNKNOWN_KEY;
}

void vpxi_principal_short(const struct vpxi_principal *p, char out[static 17])
{
    vpxi_hex_encode(out, p->hash, 8);
}

/* ---- subjects ------------------------------------------------------------------- */

/* K and N of k-of-n: decimal text ("2"), or a binary octet (#02#). */
static int threshold_number(const struct vpxi_sexp *n, unsigned *v)
{
    uint64_t x;

    if (!vpxi_sexp_is_atom(n) || n->hint || n->len == 0)
        return VPXI_ERR_BAD_FORMAT;
    if (vpxi_sexp_get_u64(n, &x) == 0) {
        if (x > VPXI_THRESHOLD_MAX)
            return VPXI_ERR_TOO_LARGE;
        *v = (unsigned)x;
        return 0;
    }
    if (n->len == 1 && n->data[0] <= VPXI_THRESHOLD_MAX) {
        *v = n->data[0];
        return 0;
    }
    return VPXI_ERR_BAD_FORMAT;
}

static int subject_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, unsigned depth,
                         struct vpxi_subject *out)
{
    const struct vpxi_sexp *e;
    unsigned i;
    int r;

    memset(out, 0, sizeof(*out));
    out->node = n;
    if (!vpxi_sexp_head_is(n, "k-of-n")) {
        out->kind = VPXI_SUBJECT_PRINCIPAL;
        return vpxi_principal_parse(sx, n, &out->p);
    }
    if (depth >= VPXI_SUBJECT_DEPTH_MAX)
        return VPXI_ERR_TOO_DEEP;
    if (n->len < 3)
        return VPXI_ERR_BAD_FORMAT;
    if ((r = threshold_number(vpxi_sexp_nth(n, 1), &out->k)) != 0 ||
        (r = threshold_number(vpxi_sexp_nth(n, 2), &out->n)) != 0)
        return r;
    if (out->k == 0 || out->k > out->n || out->n != n->len - 3)
        return VPXI_ERR_BAD_FORMAT;
    if ((out->subs = vpxi_sx_alloc(sx, out->n * sizeof(*out->subs))) == NULL)
        return VPXI_ERR_NOMEM;
    for (i = 0, e = vpxi_sexp_nth(n, 3); e; e = e->next, i++)
        if ((r = subject_parse(sx, e, depth + 1, &out->subs[i])) != 0)
            return r;
    out->kind = VPXI_SUBJECT_THRESHOLD;
    return 0;
}

/* ---- validity ------------------------------------------------------------------- */

static int date_of(const struct vpxi_sexp *n, int64_t *t)
{
    const struct vpxi_sexp *d = vpxi_sexp_nth(n, 1);

    if (n->len != 2 || !vpxi_sexp_is_atom(d) || d->hint)
        return VPXI_ERR_BAD_FORMAT;
    return vpxi_date_parse(d->data, d->len, t);
}

/* (valid (not-before D)? (not-after D)?); online tests are not supported and
 * fail closed. */
static int valid_parse(const struct vpxi_sexp *n, struct vpxi_validity *v)
{
    const struct vpxi_sexp *e;
    int stage = 0, r;

    v->not_before = VPXI_TIME_MIN;
    v->not_after = VPXI_TIME_MAX;
    if (!n)
        return 0;
    for (e = n->child->next; e; e = e->next) {
        if (vpxi_sexp_head_is(e, "not-before")) {
            if (stage >= 1)
                return stage == 1 ? VPXI_ERR_DUPLICATE : VPXI_ERR_ORDER;
            stage = 1;
            if ((r = date_of(e, &v->not_before)) != 0)
                return r;
        } else if (vpxi_sexp_head_is(e, "not-after")) {
            if (stage >= 2)
                return VPXI_ERR_DUPLICATE;
            stage = 2;
            if ((r = date_of(e, &v->not_after)) != 0)
                return r;
        } else if (vpxi_sexp_head_is(e, "online")) {
            return VPXI_ERR_UNSUPPORTED;
        } else {
            return VPXI_ERR_BAD_FORMAT;
        }
    }
    if (v->not_before > v->not_after)
        return VPXI_ERR_VALIDITY_EMPTY;
    return 0;
}

/* ---- certificates --------------------------------------------------------------- */

/* The elements of (cert ...) in their required order. */
enum cert_elem {
    CE_VERSION,
    CE_DISPLAY,
    CE_ISSUER,
    CE_ISSUER_INFO,
    CE_SUBJECT,
    CE_SUBJECT_INFO,
    CE_PROPAGATE,
    CE_TAG,
    CE_VALID,
    CE_COMMENT,
    CE_COUNT
};

static const char *const cert_elem_names[CE_COUNT] = {
    "version",      "display",   "issuer", "issuer-info", "subject",
    "subject-info", "propagate", "tag",    "valid",       "comment",
};

static int cert_elem_of(const struct vpxi_sexp *e)
{
    for (int i = 0; i < CE_COUNT; i++)
        if (vpxi_sexp_head_is(e, cert_elem_names[i]))
            return i;
    return -1;
}

/* Splits the elements of a (cert ...) or (entry ...) list into slots,
 * checking order, duplicates and known names. */
static int split_elems(const struct vpxi_sexp *n, const struct vpxi_sexp *slots[CE_COUNT])
{
    const struct vpxi_sexp *e;
    int last = -1, i;

    memset(slots, 0, CE_COUNT * sizeof(*slots));
    for (e = n->child->next; e; e = e->next) {
        if ((i = cert_elem_of(e)) < 0)
            return VPXI_ERR_BAD_FORMAT;
        if (i == last)
            return VPXI_ERR_DUPLICATE;
        if (i < last)
            return VPXI_ERR_ORDER;
        slots[i] = e;
        last = i;
    }
    return 0;
}

static int version_ok(const struct vpxi_sexp *v)
{
    const struct vpxi_sexp *a = vpxi_sexp_nth(v, 1);

    if (!v)
        return 0;
    if (v->len != 2 || !vpxi_sexp_is_atom(a) || a->hint)
        return VPXI_ERR_BAD_FORMAT;
    /* version 0 only: binary zero or "0" */
    if ((a->len == 1 && (a->data[0] == 0 || a->data[0] == '0')))
        return 0;
    return VPXI_ERR_UNSUPPORTED;
}

static int tag_of(const struct vpxi_sexp *t, const struct vpxi_sexp **body)
{
    int r;

    *body = NULL;
    if (!t || t->len != 2)
        return VPXI_ERR_BAD_FORMAT;
    if ((r = vpxi_tag_check(t->child->next)) != 0)
        return r;
    *body = t->child->next;
    return 0;
}

static int comment_of(const struct vpxi_sexp *c, const struct vpxi_sexp **out)
{
    *out = NULL;
    if (!c)
        return 0;
    if (c->len != 2 || !vpxi_sexp_is_atom(c->child->next))
        return VPXI_ERR_BAD_FORMAT;
    *out = c->child->next;
    return 0;
}

int vpxi_cert_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_cert **out)
{
    const struct vpxi_sexp *s[CE_COUNT];
    struct vpxi_cert *c;
    int r;

    *out = NULL;
    if (!vpxi_sexp_head_is(n, "cert"))
        return VPXI_ERR_BAD_FORMAT;
    if (!n->span)
        vpxi_misuse("vpxi_cert_parse: node without canonical span");
    if ((r = split_elems(n, s)) != 0)
        return r;
    if (!s[CE_ISSUER] || !s[CE_SUBJECT] || !s[CE_TAG])
        return VPXI_ERR_BAD_FORMAT;
    if (s[CE_ISSUER]->len != 2 || s[CE_SUBJECT]->len != 2 ||
        (s[CE_PROPAGATE] && s[CE_PROPAGATE]->len != 1))
        return VPXI_ERR_BAD_FORMAT;
    if ((c = vpxi_sx_alloc(sx, sizeof(*c))) == NULL)
        return VPXI_ERR_NOMEM;
    memset(c, 0, sizeof(*c));
    c->node = n;
    c->tbs = n->span;
    c->tbs_len = n->span_len;
    c->sig_status = VPXI_CERT_UNCHECKED;
    c->propagate = s[CE_PROPAGATE] != NULL;
    if ((r = version_ok(s[CE_VERSION])) != 0 ||
        (r = vpxi_principal_parse(sx, s[CE_ISSUER]->child->next, &c->issuer)) != 0 ||
        (r = subject_parse(sx, s[CE_SUBJECT]->child->next, 0, &c->subject)) != 0 ||
        (r = tag_of(s[CE_TAG], &c->tag)) != 0 || (r = valid_parse(s[CE_VALID], &c->valid)) != 0 ||
        (r = comment_of(s[CE_COMMENT], &c->comment)) != 0)
        return r;
    *out = c;
    return 0;
}

/* (signature (hash ALG |H|) PRINCIPAL (SIGALG |sig|)) over c->tbs. */
static int verify_signature(struct vpxi_cert *c, struct vpxi_key *const *keys, size_t nkeys,
                            struct vpxi_keycache *cache)
{
    const struct vpxi_sexp *sig = c->signature, *h, *halg, *hval, *sv, *svalg, *svbytes;
    struct vpxi_principal signer;
    const struct sig_alg *sa;
    struct vpxi_key *key;
    struct vpxi_sx *tmp = NULL;
    uint8_t digest[VPXI_HASH_MAX_LEN];
    enum vpxi_hash_alg alg;
    int r = VPXI_ERR_BAD_FORMAT;

    if (!sig)
        return VPXI_ERR_NO_SIGNATURE;
    if (sig->len != 4)
        return VPXI_ERR_BAD_FORMAT;
    h = vpxi_sexp_nth(sig, 1);
    sv = vpxi_sexp_nth(sig, 3);
    if (!vpxi_sexp_head_is(h, "hash") || h->len != 3 || !vpxi_sexp_is_list(sv) || sv->len != 2)
        return VPXI_ERR_BAD_FORMAT;
    halg = vpxi_sexp_nth(h, 1);
    hval = vpxi_sexp_nth(h, 2);
    svalg = sv->child;
    svbytes = svalg->next;
    if (!vpxi_sexp_is_atom(halg) || !vpxi_sexp_is_atom(hval) || !vpxi_sexp_is_atom(svalg) ||
        !vpxi_sexp_is_atom(svbytes))
        return VPXI_ERR_BAD_FORMAT;
    alg = vpxi_hash_from_name(halg->data, halg->len);
    if (!sig_hash_ok(alg))
        return VPXI_ERR_UNSUPPORTED;
    /* HASH: the digest names exactly the bytes we hold */
    if ((r = vpxi_hash(alg, c->tbs, c->tbs_len, digest)) != 0)
        return r;
    if (hval->len != vpxi_hash_len(alg) || memcmp(digest, hval->data, hval->len) != 0)
        return VPXI_ERR_BAD_SIG;
    /* SIGNER: must be the issuer */
    if ((tmp = vpxi_sx_new()) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_principal_parse(tmp, vpxi_sexp_nth(sig, 2), &signer)) != 0)
        goto out;
    if (!vpxi_principal_equal(&signer, &c->issuer)) {
        r = VPXI_ERR_BAD_SIG;
        goto out;
    }
    if ((r = vpxi_principal_get_key(&c->issuer, keys, nkeys, cache, &key)) != 0 &&
        (r != VPXI_ERR_UNKNOWN_KEY ||
         (r = vpxi_principal_get_key(&signer, keys, nkeys, cache, &key)) != 0))
        goto out;
    if ((sa = sig_alg_for_key(vpxi_key_alg(key))) == NULL) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if (!vpxi_sexp_atom_is(svalg, sa->name)) {
        r = VPXI_ERR_BAD_SIG;
        goto out;
    }
    /* SIG: over the exact canonical certificate bytes; the digest computed
     * above is reused when it is the scheme's own (SHA-256) */
    if (sa->scheme != VPXI_SIG_ED25519 && alg == VPXI_HASH_SHA256)
        r = vpxi_key_verify_digest(key, sa->scheme, digest, hval->len, svbytes->data, svbytes->len);
    else
        r = vpxi_key_verify(key, sa->scheme, c->tbs, c->tbs_len, svbytes->data, svbytes->len);
out:
    vpxi_sx_free(tmp);
    return r;
}

int vpxi_cert_verify(struct vpxi_cert *c, struct vpxi_key *const *keys, size_t nkeys,
                     struct vpxi_keycache *cache)
{
    if (c->sig_status == VPXI_CERT_UNCHECKED)
        c->sig_status = verify_signature(c, keys, nkeys, cache);
    return c->sig_status;
}

/* ---- sequences ------------------------------------------------------------------ */

static int grow(struct vpxi_sx *sx, void **arr, size_t n, size_t elem)
{
    void *na;

    /* capacity doubles at powers of two; arena memory is never freed early */
    if (n && (n & (n - 1)) != 0)
        return 0;
    if ((na = vpxi_sx_alloc(sx, (n ? 2 * n : 4) * elem)) == NULL)
        return VPXI_ERR_NOMEM;
    if (n)
        memcpy(na, *arr, n * elem);
    *arr = na;
    return 0;
}

static int seq_add_cert(struct vpxi_sx *sx, struct vpxi_seq *s, struct vpxi_cert *c)
{
    int r;

    if (s->ncerts >= VPXI_SEQ_ITEMS_MAX)
        return VPXI_ERR_TOO_LARGE;
    if ((r = grow(sx, (void **)&s->certs, s->ncerts, sizeof(*s->certs))) != 0)
        return r;
    s->certs[s->ncerts++] = c;
    return 0;
}

static int seq_add_key(struct vpxi_sx *sx, struct vpxi_seq *s, struct vpxi_key *k)
{
    int r;

    if (s->nkeys >= VPXI_SEQ_ITEMS_MAX)
        return VPXI_ERR_TOO_LARGE;
    if ((r = grow(sx, (void **)&s->keys, s->nkeys, sizeof(*s->keys))) != 0)
        return r;
    s->keys[s->nkeys++] = k;
    return 0;
}

int vpxi_seq_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_seq **out)
{
    const struct vpxi_sexp *e;
    struct vpxi_seq *s;
    struct vpxi_cert *c, *prev_cert = NULL;
    struct vpxi_principal kp;
    int r;

    *out = NULL;
    if ((s = vpxi_sx_alloc(sx, sizeof(*s))) == NULL)
        return VPXI_ERR_NOMEM;
    memset(s, 0, sizeof(*s));
    if (vpxi_sexp_head_is(n, "cert")) {
        if ((r = vpxi_cert_parse(sx, n, &c)) != 0 || (r = seq_add_cert(sx, s, c)) != 0)
            return r;
        *out = s;
        return 0;
    }
    if (!vpxi_sexp_head_is(n, "sequence"))
        return VPXI_ERR_BAD_FORMAT;
    if (n->len - 1 > VPXI_SEQ_ITEMS_MAX)
        return VPXI_ERR_TOO_LARGE;
    for (e = n->child->next; e; e = e->next) {
        if (vpxi_sexp_head_is(e, "cert")) {
            if ((r = vpxi_cert_parse(sx, e, &c)) != 0 || (r = seq_add_cert(sx, s, c)) != 0)
                return r;
            prev_cert = c;
            continue;
        }
        if (vpxi_sexp_head_is(e, "signature")) {
            /* a signature applies to the object right before it */
            if (!prev_cert || prev_cert->signature)
                return VPXI_ERR_BAD_FORMAT;
            prev_cert->signature = e;
        } else if (vpxi_sexp_head_is(e, "public-key")) {
            struct vpxi_key *k;
            if ((r = vpxi_principal_parse(sx, e, &kp)) != 0 ||
                (r = vpxi_principal_get_key(&kp, NULL, 0, NULL, &k)) != 0 ||
                (r = seq_add_key(sx, s, k)) != 0)
                return r;
        } else {
            return VPXI_ERR_BAD_FORMAT;
        }
        prev_cert = NULL;
    }
    *out = s;
    return 0;
}

int vpxi_seq_merge(struct vpxi_sx *sx, struct vpxi_seq *seq, const struct vpxi_seq *more)
{
    int r;

    for (size_t i = 0; i < more->ncerts; i++)
        if ((r = seq_add_cert(sx, seq, more->certs[i])) != 0)
            return r;
    for (size_t i = 0; i < more->nkeys; i++)
        if ((r = seq_add_key(sx, seq, more->keys[i])) != 0)
            return r;
    return 0;
}

/* ---- issuing -------------------------------------------------------------------- */

static int principal_expr(struct vpxi_sx *sx, struct vpxi_key *k, bool as_hash,
                          struct vpxi_sexp **out)
{
    uint8_t id[VPXI_KEY_ID_LEN];
    int r;

    if (!as_hash)
        return vpxi_key_to_sexp(sx, k, out);
    if ((r = vpxi_key_id(k, id)) != 0)
        return r;
    return vpxi_sexp_build(sx, out, "(hash sha256 %b)", id, sizeof(id));
}

static int valid_expr(struct vpxi_sx *sx, const struct vpxi_validity *v, struct vpxi_sexp **out)
{
    char nb[VPXI_DATE_LEN + 1], na[VPXI_DATE_LEN + 1];
    struct vpxi_sexp *l, *e;
    int r;

    *out = NULL;
    if (v->not_before == VPXI_TIME_MIN && v->not_after == VPXI_TIME_MAX)
        return 0;
    if (v->not_before > v->not_after)
        return VPXI_ERR_VALIDITY_EMPTY;
    if ((r = vpxi_sexp_build(sx, &l, "(valid)")) != 0)
        return r;
    if (v->not_before != VPXI_TIME_MIN) {
        vpxi_date_format(v->not_before, nb);
        if ((r = vpxi_sexp_build(sx, &e, "(not-before %s)", nb)) != 0)
            return r;
        vpxi_sexp_append(l, e);
    }
    if (v->not_after != VPXI_TIME_MAX) {
        vpxi_date_format(v->not_after, na);
        if ((r = vpxi_sexp_build(sx, &e, "(not-after %s)", na)) != 0)
            return r;
        vpxi_sexp_append(l, e);
    }
    *out = l;
    return 0;
}

int vpxi_cert_issue(struct vpxi_sx *sx, const struct vpxi_cert_params *p, struct vpxi_sexp **out)
{
    struct vpxi_sexp *iss, *subj = NULL, *valid, *cert, *issuer_key = NULL, *sigexpr, *e;
    const struct sig_alg *sa;
    const uint8_t *tbs;
    uint8_t digest[32], *sig = NULL;
    size_t tbs_len, siglen = 0, sigcap;
    int r;

    *out = NULL;
    if (!p->issuer || !p->tag || (!p->subject_key == !p->subject))
        vpxi_misuse("vpxi_cert_issue: issuer, tag and exactly one subject are required");
    if (!vpxi_key_is_private(p->issuer))
        return VPXI_ERR_INVALID;
    if ((sa = sig_alg_for_key(vpxi_key_alg(p->issuer))) == NULL)
        return VPXI_ERR_UNSUPPORTED;
    if ((r = vpxi_tag_check(p->tag)) != 0)
        return r;
    if (p->subject) {
        /* never sign a subject no reader would accept */
        struct vpxi_sx *tmp = vpxi_sx_new();
        struct vpxi_subject chk;
        const uint8_t *c;
        size_t clen;
        struct vpxi_sexp *n;
        if (!tmp)
            return VPXI_ERR_NOMEM;
        r = vpxi_sexp_canonical(tmp, p->subject, &c, &clen);
        if (r == 0)
            r = vpxi_sexp_parse_canonical(tmp, c, clen, NULL, &n, NULL);
        if (r == 0)
            r = subject_parse(tmp, n, 0, &chk);
        vpxi_sx_free(tmp);
        if (r)
            return r;
    }
    if ((r = principal_expr(sx, p->issuer, p->issuer_as_hash, &iss)) != 0 ||
        (r = valid_expr(sx, &p->valid, &valid)) != 0)
        return r;
    if (p->subject_key)
        r = principal_expr(sx, p->subject_key, p->subject_as_hash, &subj);
    else
        subj = vpxi_sexp_copy(sx, p->subject);
    if (r || !subj)
        return r ? r : VPXI_ERR_NOMEM;
    if ((r = vpxi_sexp_build(sx, &cert, "(cert (issuer %S) (subject %S))", iss, subj)) != 0)
        return r;
    if (p->propagate) {
        if ((r = vpxi_sexp_build(sx, &e, "(propagate)")) != 0)
            return r;
        vpxi_sexp_append(cert, e);
    }
    if ((r = vpxi_sexp_build(sx, &e, "(tag %S)", p->tag)) != 0)
        return r;
    vpxi_sexp_append(cert, e);
    if (valid)
        vpxi_sexp_append(cert, valid);
    if (p->comment) {
        if ((r = vpxi_sexp_build(sx, &e, "(comment %s)", p->comment)) != 0)
            return r;
        vpxi_sexp_append(cert, e);
    }
    /* SIG over the canonical certificate */
    if ((r = vpxi_sexp_canonical(sx, cert, &tbs, &tbs_len)) != 0 ||
        (r = vpxi_hash(VPXI_HASH_SHA256, tbs, tbs_len, digest)) != 0)
        return r;
    sigcap = vpxi_key_sig_len(p->issuer);
    if ((sig = vpxi_sx_alloc(sx, sigcap)) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_key_sign(p->issuer, sa->scheme, tbs, tbs_len, sig, sigcap, &siglen)) != 0)
        return r;
    if ((r = principal_expr(sx, p->issuer, p->issuer_as_hash, &e)) != 0 ||
        (r = vpxi_sexp_build(sx, &sigexpr, "(signature (hash sha256 %b) %S (%s %b))", digest,
                             sizeof(digest), e, sa->name, sig, siglen)) != 0)
        return r;
    if (p->issuer_as_hash && (r = vpxi_key_to_sexp(sx, p->issuer, &issuer_key)) != 0)
        return r;
    return vpxi_sexp_build(sx, out, "(sequence %S %S %S)", issuer_key, cert, sigexpr);
}

/* ---- ACLs ----------------------------------------------------------------------- */

/* (entry (subject S) (propagate)? (tag T) (valid ..)? (comment ..)?) */
static int acl_entry_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n,
                           struct vpxi_acl_entry *out)
{
    const struct vpxi_sexp *s[CE_COUNT];
    int r;

    memset(out, 0, sizeof(*out));
    if (!vpxi_sexp_head_is(n, "entry"))
        return VPXI_ERR_BAD_FORMAT;
    if ((r = split_elems(n, s)) != 0)
        return r;
    if (s[CE_VERSION] || s[CE_DISPLAY] || s[CE_ISSUER] || s[CE_ISSUER_INFO] || s[CE_SUBJECT_INFO] ||
        !s[CE_SUBJECT] || !s[CE_TAG] || s[CE_SUBJECT]->len != 2 ||
        (s[CE_PROPAGATE] && s[CE_PROPAGATE]->len != 1))
        return VPXI_ERR_BAD_FORMAT;
    out->propagate = s[CE_PROPAGATE] != NULL;
    if ((r = subject_parse(sx, s[CE_SUBJECT]->child->next, 0, &out->subject)) != 0 ||
        (r = tag_of(s[CE_TAG], &out->tag)) != 0 ||
        (r = valid_parse(s[CE_VALID], &out->valid)) != 0 ||
        (r = comment_of(s[CE_COMMENT], &out->comment)) != 0)
        return r;
    return 0;
}

int vpxi_acl_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_acl **out)
{
    const struct vpxi_sexp *e;
    struct vpxi_acl *acl;
    size_t i = 0;
    int r;

    *out = NULL;
    if (!vpxi_sexp_head_is(n, "acl"))
        return VPXI_ERR_BAD_FORMAT;
    if (n->len - 1 > VPXI_SEQ_ITEMS_MAX)
        return VPXI_ERR_TOO_LARGE;
    if ((acl = vpxi_sx_alloc(sx, sizeof(*acl))) == NULL ||
        (acl->entries = vpxi_sx_alloc(sx, (n->len - 1) * sizeof(*acl->entries))) == NULL)
        return VPXI_ERR_NOMEM;
    e = n->child->next;
    if (e && vpxi_sexp_head_is(e, "version")) {
        if ((r = version_ok(e)) != 0)
            return r;
        e = e->next;
    }
    for (; e; e = e->next)
        if ((r = acl_entry_parse(sx, e, &acl->entries[i++])) != 0)
            return r;
    acl->n = i;
    *out = acl;
    return 0;
}
