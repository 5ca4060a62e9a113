/*
 * policy.c - endorsement statements and the decision "may image NAME start
 * a node now?", made by the SPKI 5-tuple reduction.
 *
 * Every signed catalogue contributes certificates to a pool:
 *   - its delegation certificates (real SPKI certificates with their own
 *     signatures, checked by the reduction);
 *   - one statement per entry of its (trust (acl ...)) element (export
 *     chaining): <signer, entry subject, entry propagate, entry tag,
 *     entry validity ∩ (not-after EXPIRES)>;
 *   - for the image being decided, one statement per approved, unrevoked
 *     entry: <signer, (hash sha256 |digest|), -, (endorse NAME),
 *     (not-after EXPIRES)>.
 * Statements are built as (cert ...) expressions and parsed by
 * vpxi_cert_parse like any certificate. They carry no signature of their
 * own: the catalogue signature covers them and was checked when the
 * catalogue was loaded, so their sig_status is set to 0 (the verification
 * cache of struct vpxi_cert) rather than left for vpxi_cert_verify.
 *
 * The provider's ACL (trust configuration) is reduced against this pool
 * with the image digest as the final subject and (endorse NAME) as the
 * requested tag. Scope (tag intersection), delegation (propagate), expiry
 * (validity at now) and thresholds (k-of-n subjects: k endorsers must reach
 * the same digest) are the reduction's ordinary rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

#include "catalog/catalog_int.h"

/* ---- statements ----------------------------------------------------------------- */

int cat_endorse_tag(struct vpxi_sx *sx, const uint8_t *name, size_t len, struct vpxi_sexp **out)
{
    return vpxi_sexp_build(sx, out, "(endorse %b)", name, len);
}

static int valid_expr(struct vpxi_sx *sx, const struct vpxi_validity *v, struct vpxi_sexp **out)
{
    char d[VPXI_DATE_LEN + 1];
    struct vpxi_sexp *e;
    int r;

    if ((r = vpxi_sexp_build(sx, out, "(valid)")) != 0)
        return r;
    if (v->not_before != VPXI_TIME_MIN) {
        vpxi_date_format(v->not_before, d);
        if ((r = vpxi_sexp_build(sx, &e, "(not-before %s)", d)) != 0)
            return r;
        vpxi_sexp_append(*out, e);
    }
    vpxi_date_format(v->not_after, d);
    if ((r = vpxi_sexp_build(sx, &e, "(not-after %s)", d)) != 0)
        return r;
    vpxi_sexp_append(*out, e);
    return 0;
}

/* <signer of c, subject, propagate, tag, v ∩ (not-after c->expires)> */
static int statement(struct vpxi_sx *sx, const struct vpxi_catalog *c,
                     const struct vpxi_sexp *subject, bool propagate, const struct vpxi_sexp *tag,
                     const struct vpxi_validity *v, struct vpxi_cert **out)
{
    struct vpxi_validity sv = *v;
    struct vpxi_sexp *cert, *e, *back;
    const uint8_t *canon;
    size_t len;
    int r;

    *out = NULL;
    /* only what the catalogue signature covers becomes a statement */
    if (c->sig_status != 0)
        return c->sig_status == VPXI_CERT_UNCHECKED ? VPXI_ERR_INTERNAL : c->sig_status;
    if (sv.not_after > c->expires)
        sv.not_after = c->expires;
    if (sv.not_before > sv.not_after)
        return VPXI_ERR_VALIDITY_EMPTY;
    if ((r = vpxi_sexp_build(sx, &cert, "(cert (issuer %S) (subject %S))", c->signer.node,
                             subject)) != 0)
        return r;
    if (propagate) {
        if ((r = vpxi_sexp_build(sx, &e, "(propagate)")) != 0)
            return r;
        vpxi_sexp_append(cert, e);
    }
    if ((r = vpxi_sexp_build(sx, &e, "(tag %S)", tag)) != 0)
        return r;
    vpxi_sexp_append(cert, e);
    if ((r = valid_expr(sx, &sv, &e)) != 0)
        return r;
    vpxi_sexp_append(cert, e);
    /* parse it back from canonical bytes, as every certificate is */
    if ((r = vpxi_sexp_canonical(sx, cert, &canon, &len)) != 0 ||
        (r = vpxi_sexp_parse_canonical(sx, canon, len, NULL, &back, NULL)) != 0 ||
        (r = vpxi_cert_parse(sx, back, out)) != 0)
        return r;
    (*out)->sig_status = 0; /* covered by the catalogue signature */
    return 0;
}

int cat_trust_statements(struct held_catalog *h)
{
    const struct vpxi_catalog *c = h->cat;
    int r;

    h->trust_stmts = NULL;
    h->ntrust_stmts = 0;
    if (!c->trust || !c->trust->n)
        return 0;
    if ((h->trust_stmts = vpxi_sx_alloc(c->sx, c->trust->n * sizeof(*h->trust_stmts))) == NULL)
        return VPXI_ERR_NOMEM;
    for (size_t i = 0; i < c->trust->n; i++) {
        const struct vpxi_acl_entry *e = &c->trust->entries[i];
        struct vpxi_cert *s;
        /* an entry already expired when the catalogue was issued says nothing */
        r = statement(c->sx, c, e->subject.node, e->propagate, e->tag, &e->valid, &s);
        if (r == VPXI_ERR_VALIDITY_EMPTY)
            continue;
        if (r)
            return r;
        h->trust_stmts[h->ntrust_stmts++] = s;
    }
    return 0;
}

int cat_image_statement(struct vpxi_sx *sx, const struct vpxi_catalog *c,
                        const struct vpxi_image *im, struct vpxi_cert **out)
{
    struct vpxi_validity v = { VPXI_TIME_MIN, VPXI_TIME_MAX };
    struct vpxi_sexp *subj, *tag;
    int r;

    if ((r = vpxi_sexp_build(sx, &subj, "(hash sha256 %b)", im->sha256, (size_t)VPXI_SHA256_LEN)) !=
            0 ||
        (r = cat_endorse_tag(sx, im->name.p, im->name.len, &tag)) != 0)
        return r;
    return statement(sx, c, subj, false, tag, &v, out);
}

/* ---- pools ------------------------------------------------------------------------- */

static void key_short(const struct vpxi_catalog *c, char out[17])
{
    vpxi_principal_short(&c->signer, out);
}

static int pool_add(struct vpxi_sx *sx, struct pool *pl, struct vpxi_cert *c, const char *what)
{
    char *s;

    if (pl->n >= VPXI_SEQ_ITEMS_MAX)
        return VPXI_ERR_LIMIT;
    if ((s = (char *)vpxi_sx_dup(sx, what, strlen(what) + 1)) == NULL)
        return VPXI_ERR_NOMEM;
    pl->certs[pl->n] = c;
    pl->what[pl->n++] = s;
    return 0;
}

/* Does cert c bear on want? (A link that does not grant want can never be
 * on an accepting path: the reduction checks want against every link.) */
static bool relevant(const struct vpxi_cert *c, const struct vpxi_sexp *want)
{
    return !want || vpxi_tag_implies(c->tag, want) == 0;
}

static int pool_fill_pass(struct vpxi_sx *sx, struct pool *pl, struct held_catalog *const *held,
                          size_t nheld, const struct vpxi_sexp *want)
{
    int r;

    pl->n = pl->nkeys = 0;
    for (size_t h = 0; h < nheld; h++) {
        const struct vpxi_catalog *c = held[h]->cat;
        char id[17];

        key_short(c, id);
        for (size_t i = 0; i < c->nchain; i++) {
            char what[96];
            if (!relevant(c->chain[i], want))
                continue;
            snprintf(what, sizeof(what),
                     "delegation certificate %zu carried by the catalogue of %s", i + 1, id);
            if ((r = pool_add(sx, pl, c->chain[i], what)) != 0)
                return r;
        }
        for (size_t i = 0; i < held[h]->ntrust_stmts; i++) {
            char what[96];
            if (!relevant(held[h]->trust_stmts[i], want))
                continue;
            snprintf(what, sizeof(what), "trust entry %zu exported by %s", i + 1, id);
            if ((r = pool_add(sx, pl, held[h]->trust_stmts[i], what)) != 0)
                return r;
        }
        for (size_t i = 0; i < c->nkeys && pl->nkeys < VPXI_SEQ_ITEMS_MAX; i++)
            pl->keys[pl->nkeys++] = c->keys[i];
    }
    return 0;
}

int cat_pool_fill(struct vpxi_sx *sx, struct pool *pl, struct held_catalog *const *held,
                  size_t nheld, const struct vpxi_sexp *want)
{
    /* Everything first, so that a refusal can name the link at fault (a
     * delegation that does not cover the name); only the relevant links if
     * that is too many. Room is left for the image statements. */
    int r = pool_fill_pass(sx, pl, held, nheld, NULL);

    if (r == 0 && pl->n + nheld <= VPXI_SEQ_ITEMS_MAX)
        return 0;
    if (r != 0 && r != VPXI_ERR_LIMIT)
        return r;
    if ((r = pool_fill_pass(sx, pl, held, nheld, want)) != 0)
        return r;
    return pl->n + nheld <= VPXI_SEQ_ITEMS_MAX ? 0 : VPXI_ERR_LIMIT;
}

/* Rewrites "certificate N" in a reduction message as "certificate N (what)",
 * and "ACL entry" as "trust entry" (the ACL is the trust configuration's). */
static void explain(const char *in, const struct pool *pl, char *out, size_t cap)
{
    static const char word[] = "certificate ", acl[] = "ACL entry";
    size_t o = 0;

    while (*in && o + 1 < cap) {
        if (strncmp(in, acl, sizeof(acl) - 1) == 0 && o + 12 < cap) {
            memcpy(out + o, "trust entry", 11);
            o += 11;
            in += sizeof(acl) - 1;
            continue;
        }
        if (strncmp(in, word, sizeof(word) - 1) == 0 && in[sizeof(word) - 1] >= '1' &&
            in[sizeof(word) - 1] <= '9') {
            char *end;
            unsigned long k = strtoul(in + sizeof(word) - 1, &end, 10);
            int n = snprintf(out + o, cap - o, "%.*s", (int)(end - in), in);
            if (n > 0)
                o += (size_t)n < cap - o ? (size_t)n : cap - o - 1;
            if (k >= 1 && k <= pl->n && o + 1 < cap) {
                n = snprintf(out + o, cap - o, " (%s)", pl->what[k - 1]);
                if (n > 0)
                    o += (size_t)n < cap - o ? (size_t)n : cap - o - 1;
            }
            in = end;
            continue;
        }
        out[o++] = *in++;
    }
    out[o] = '\0';
}

/* ---- trust of a signer (import) ------------------------------------------------ */

/* Appends the principals of a subject (the members of a k-of-n, recursively). */
static int flat_subjects(const struct vpxi_subject *s, struct vpxi_subject *out, size_t *n,
                         size_t cap)
{
    if (s->kind == VPXI_SUBJECT_PRINCIPAL) {
        if (*n >= cap)
            return VPXI_ERR_LIMIT;
        out[(*n)++] = *s;
        return 0;
    }
    for (unsigned i = 0; i < s->n; i++) {
        int r = flat_subjects(&s->subs[i], out, n, cap);
        if (r)
            return r;
    }
    return 0;
}

/* The ACL and pool with every k-of-n subject replaced by its members: who
 * is trusted at all, thresholds aside. */
static int flatten(struct vpxi_sx *sx, const struct vpxi_acl *acl, const struct pool *in,
                   struct vpxi_acl *facl, struct pool *out)
{
    struct vpxi_subject subs[VPXI_SEQ_ITEMS_MAX];
    size_t n;
    int r;

    facl->n = 0;
    if ((facl->entries = vpxi_sx_alloc(sx, VPXI_SEQ_ITEMS_MAX * sizeof(*facl->entries))) == NULL)
        return VPXI_ERR_NOMEM;
    for (size_t i = 0; i < acl->n; i++) {
        n = 0;
        if ((r = flat_subjects(&acl->entries[i].subject, subs, &n, VPXI_SEQ_ITEMS_MAX)) != 0)
            return r;
        for (size_t j = 0; j < n; j++) {
            if (facl->n >= VPXI_SEQ_ITEMS_MAX)
                return VPXI_ERR_LIMIT;
            facl->entries[facl->n] = acl->entries[i];
            facl->entries[facl->n++].subject = subs[j];
        }
    }
    *out = *in;
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct vpxi_cert *c = in->certs[i];
        if (c->subject.kind == VPXI_SUBJECT_PRINCIPAL) {
            if (out->n >= VPXI_SEQ_ITEMS_MAX)
                return VPXI_ERR_LIMIT;
            out->what[out->n] = in->what[i];
            out->certs[out->n++] = c;
            continue;
        }
        /* check the original once; the copies share its result */
        if (vpxi_cert_verify(c, in->keys, in->nkeys, NULL) != 0) {
            /* the copies carry the failure; the reduction reports it */
        }
        n = 0;
        if ((r = flat_subjects(&c->subject, subs, &n, VPXI_SEQ_ITEMS_MAX)) != 0)
            return r;
        for (size_t j = 0; j < n; j++) {
            struct vpxi_cert *copy = vpxi_sx_alloc(sx, sizeof(*copy));
            if (!copy)
                return VPXI_ERR_NOMEM;
            if (out->n >= VPXI_SEQ_ITEMS_MAX)
                return VPXI_ERR_LIMIT;
            *copy = *c;
            copy->subject = subs[j];
            out->what[out->n] = in->what[i];
            out->certs[out->n++] = copy;
        }
    }
    return 0;
}

static int signer_reduce(struct vpxi_sx *sx, const struct vpxi_acl *acl,
                         struct held_catalog *const *held, size_t nheld,
                         const struct vpxi_catalog *c, const struct vpxi_sexp *want, int64_t now,
                         const struct vpxi_sexp **scope, char *why, size_t whylen)
{
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    struct pool *pl, *fpl;
    struct vpxi_acl facl;
    char id[17];
    int r;

    if ((pl = vpxi_sx_alloc(sx, sizeof(*pl))) == NULL ||
        (fpl = vpxi_sx_alloc(sx, sizeof(*fpl))) == NULL)
        return VPXI_ERR_NOMEM;
    key_short(c, id);
    if ((r = cat_pool_fill(sx, pl, held, nheld, want)) != 0 ||
        (r = flatten(sx, acl, pl, &facl, fpl)) != 0)
        return cat_why(why, whylen, "trust of %s: %s", id, vpxi_strerror(r)), r;
    if (facl.n == 0)
        return cat_why(why, whylen, "the trust configuration trusts no endorser"),
               VPXI_ERR_NOT_AUTHORIZED;
    req.acl = &facl;
    req.certs = fpl->certs;
    req.ncerts = fpl->n;
    req.keys = fpl->keys;
    req.nkeys = fpl->nkeys;
    req.subject = &c->signer;
    req.want = want;
    req.now = now;
    if ((r = vpxi_reduce(sx, &req, &res)) != 0) {
        char ex[256];
        explain(res.why, fpl, ex, sizeof(ex));
        /* who is trusted at all: unless a link that names this signer is at
         * fault (an expired delegation to it, say), the search's diagnosis
         * concerns unrelated certificates */
        if (!want && (res.bad_cert < 0 || (size_t)res.bad_cert >= fpl->n ||
                      fpl->certs[res.bad_cert]->subject.kind != VPXI_SUBJECT_PRINCIPAL ||
                      !vpxi_principal_equal(&fpl->certs[res.bad_cert]->subject.p, &c->signer)))
            return cat_why(why, whylen, "no trust entry, delegation or trust export leads to it"),
                   VPXI_ERR_NOT_AUTHORIZED;
        return cat_why(why, whylen, "%s", ex), r;
    }
    if (scope)
        *scope = res.tuple.tag;
    return 0;
}

int cat_signer_trusted(struct vpxi_sx *sx, const struct vpxi_acl *acl,
                       struct held_catalog *const *held, size_t nheld, const struct vpxi_catalog *c,
                       int64_t now, const struct vpxi_sexp **scope, char *why, size_t whylen)
{
    return signer_reduce(sx, acl, held, nheld, c, NULL, now, scope, why, whylen);
}

int cat_signer_may_endorse(struct vpxi_sx *sx, const struct vpxi_acl *acl,
                           struct held_catalog *const *held, size_t nheld,
                           const struct vpxi_catalog *c, const struct vpxi_sexp *scope,
                           const struct vpxi_image *im, int64_t now, char *why, size_t whylen)
{
    struct vpxi_sexp *want;
    char sc[120];
    struct vpxi_wr w;
    int r;

    if ((r = cat_endorse_tag(sx, im->name.p, im->name.len, &want)) != 0)
        return r;
    /* the path found for the signer usually decides at once */
    if (scope && vpxi_tag_implies(scope, want) == 0)
        return 0;
    if (signer_reduce(sx, acl, held, nheld, c, want, now, NULL, NULL, 0) == 0)
        return 0;
    vpxi_wr_init(&w, sc, sizeof(sc) - 1);
    if (scope)
        vpxi_sexp_write_compact(scope, &w);
    sc[w.err ? 0 : w.len] = '\0';
    return cat_why(why, whylen, "outside the endorser's delegated scope %s", scope ? sc : "?"),
           VPXI_ERR_NOT_AUTHORIZED;
}

/* ---- the decision ------------------------------------------------------------------ */

/* What the catalogues say about one name. */
struct candidates {
    struct vpxi_cert *stmt[VPXI_SEQ_ITEMS_MAX];
    const struct vpxi_image *im[VPXI_SEQ_ITEMS_MAX];
    const struct vpxi_catalog *cat[VPXI_SEQ_ITEMS_MAX];
    size_t n;
    size_t listed;    /* catalogues listing the name at all */
    size_t withdrawn; /* of which revoked or not approved */
    char withdrawn_by[64];
    size_t expired; /* endorsements whose catalogue has expired */
    char expired_by[96];
};

static int collect(struct vpxi_sx *sx, struct vpxi_provider *p, const char *name, int64_t now,
                   struct candidates *cd)
{
    int r;

    memset(cd, 0, sizeof(*cd));
    for (size_t h = 0; h < p->nheld; h++) {
        const struct vpxi_catalog *c = p->held[h]->cat;
        const struct vpxi_image *im = vpxi_catalog_find(c, name);
        if (!im)
            continue;
        cd->listed++;
        if (!(im->flags & VPXI_IMAGE_APPROVED) || (im->flags & VPXI_IMAGE_REVOKED)) {
            if (cd->withdrawn++ == 0) {
                char id[17];
                key_short(c, id);
                snprintf(cd->withdrawn_by, sizeof(cd->withdrawn_by), "%s by %s",
                         im->flags & VPXI_IMAGE_REVOKED ? "revoked" : "not approved", id);
            }
            continue;
        }
        if (now > c->expires && cd->expired++ == 0) {
            char id[17], d[VPXI_DATE_LEN + 1];
            key_short(c, id);
            vpxi_date_format(c->expires, d);
            snprintf(cd->expired_by, sizeof(cd->expired_by), "the catalogue of %s expired at %s",
                     id, d);
        }
        if (cd->n >= VPXI_SEQ_ITEMS_MAX)
            return VPXI_ERR_LIMIT;
        if ((r = cat_image_statement(sx, c, im, &cd->stmt[cd->n])) != 0)
            return r;
        cd->cat[cd->n] = c;
        cd->im[cd->n++] = im;
    }
    return 0;
}

/* Entries for the same SHA-256 must agree on size and SHA-512. */
static int consistent(const struct candidates *cd, const uint8_t *d, struct vpxi_decision *dec)
{
    bool first = true;

    for (size_t i = 0; i < cd->n; i++) {
        const struct vpxi_image *im = cd->im[i];
        if (memcmp(im->sha256, d, VPXI_SHA256_LEN) != 0)
            continue;
        dec->endorsements++;
        if (first) {
            dec->size = im->size;
            first = false;
        } else if (im->size != dec->size) {
            return cat_why(dec->why, sizeof(dec->why),
                           "endorsers list the same SHA-256 with different sizes"),
                   VPXI_ERR_HASH_MISMATCH;
        }
        if (!im->sha512)
            continue;
        if (dec->has_sha512 && memcmp(dec->sha512, im->sha512, VPXI_SHA512_LEN) != 0)
            return cat_why(dec->why, sizeof(dec->why),
                           "endorsers list the same SHA-256 with different SHA-512"),
                   VPXI_ERR_HASH_MISMATCH;
        memcpy(dec->sha512, im->sha512, VPXI_SHA512_LEN);
        dec->has_sha512 = true;
    }
    return 0;
}

static int reduce_digest(struct vpxi_sx *sx, struct vpxi_provider *p, struct pool *pl,
                         const uint8_t *d, const struct vpxi_sexp *want, int64_t now,
                         struct vpxi_reduce_result *res)
{
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_principal subj;
    struct vpxi_sexp *sn, *back;
    const uint8_t *canon;
    size_t len;
    int r;

    if ((r = vpxi_sexp_build(sx, &sn, "(hash sha256 %b)", d, (size_t)VPXI_SHA256_LEN)) != 0 ||
        (r = vpxi_sexp_canonical(sx, sn, &canon, &len)) != 0 ||
        (r = vpxi_sexp_parse_canonical(sx, canon, len, NULL, &back, NULL)) != 0 ||
        (r = vpxi_principal_parse(sx, back, &subj)) != 0)
        return r;
    req.acl = p->trust->acl;
    req.certs = pl->certs;
    req.ncerts = pl->n;
    req.keys = pl->keys;
    req.nkeys = pl->nkeys;
    req.subject = &subj;
    req.want = want;
    req.now = now;
    return vpxi_reduce(sx, &req, res);
}

static int decide_run(struct vpxi_sx *sx, struct vpxi_provider *p, const char *name, int64_t now,
                      struct vpxi_decision *d)
{
    struct candidates *cd;
    struct pool *pl;
    struct vpxi_sexp *want;
    struct vpxi_reduce_result res, best_res;
    const uint8_t *ok = NULL;
    size_t best_n = 0;
    int r, best = VPXI_ERR_NOT_AUTHORIZED;
    char hex[2 * VPXI_SHA256_LEN + 1];

    memset(&best_res, 0, sizeof(best_res));
    if ((cd = vpxi_sx_alloc(sx, sizeof(*cd))) == NULL ||
        (pl = vpxi_sx_alloc(sx, sizeof(*pl))) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = cat_endorse_tag(sx, (const uint8_t *)name, strlen(name), &want)) != 0 ||
        (r = collect(sx, p, name, now, cd)) != 0)
        return r;
    if (cd->listed == 0)
        return cat_why(d->why, sizeof(d->why), "no imported catalogue lists %s", name),
               VPXI_ERR_NOT_FOUND;
    if (cd->n == 0)
        return cat_why(d->why, sizeof(d->why), "%s is %s", name, cd->withdrawn_by),
               VPXI_ERR_REVOKED;
    if ((r = cat_pool_fill(sx, pl, p->held, p->nheld, want)) != 0)
        return cat_why(d->why, sizeof(d->why), "too many certificates: %s", vpxi_strerror(r)), r;
    for (size_t i = 0; i < cd->n; i++) {
        char id[17], what[160];
        key_short(cd->cat[i], id);
        snprintf(what, sizeof(what), "endorsement of %s by %s, catalogue version %llu", name, id,
                 (unsigned long long)cd->cat[i]->version);
        if ((r = pool_add(sx, pl, cd->stmt[i], what)) != 0)
            return r;
    }
    /* each distinct digest in turn: exactly one may reach the threshold */
    for (size_t i = 0; i < cd->n; i++) {
        const uint8_t *dg = cd->im[i]->sha256;
        size_t j, count = 0;
        for (j = 0; j < i && memcmp(cd->im[j]->sha256, dg, VPXI_SHA256_LEN) != 0; j++)
            ;
        if (j < i)
            continue; /* digest already tried */
        for (j = i; j < cd->n; j++)
            count += memcmp(cd->im[j]->sha256, dg, VPXI_SHA256_LEN) == 0;
        r = reduce_digest(sx, p, pl, dg, want, now, &res);
        if (r == 0) {
            if (ok) {
                vpxi_hex_encode(hex, dg, VPXI_SHA256_LEN);
                return cat_why(d->why, sizeof(d->why),
                               "endorsers disagree: two digests of %s are each endorsed "
                               "enough (one is %.16s...)",
                               name, hex),
                       VPXI_ERR_NOT_AUTHORIZED;
            }
            ok = dg;
            d->valid_until = res.tuple.valid.not_after;
        } else if (!ok && (count > best_n || best_n == 0)) {
            best = r;
            best_n = count;
            best_res = res;
        }
    }
    if (!ok) {
        char ex[sizeof(d->why)];
        explain(best_res.why, pl, ex, sizeof(ex));
        if (cd->withdrawn)
            return cat_why(d->why, sizeof(d->why), "%s is %s; %s", name, cd->withdrawn_by, ex),
                   VPXI_ERR_REVOKED;
        /* a threshold summarizes its branches: say what made one fail */
        if (cd->expired && best != VPXI_ERR_EXPIRED)
            return cat_why(d->why, sizeof(d->why), "%s; %s", cd->expired_by, ex), VPXI_ERR_EXPIRED;
        return cat_why(d->why, sizeof(d->why), "%s", ex), best;
    }
    memcpy(d->sha256, ok, VPXI_SHA256_LEN);
    return consistent(cd, ok, d);
}

int vpxi_provider_decide(struct vpxi_provider *p, const char *name, int64_t now,
                         struct vpxi_decision *d)
{
    struct vpxi_sx *sx;
    int r;

    memset(d, 0, sizeof(*d));
    d->valid_until = VPXI_TIME_MAX;
    if (!vpxi_image_name_ok((const uint8_t *)name, strlen(name))) {
        cat_why(d->why, sizeof(d->why), "invalid image name");
        return d->code = VPXI_ERR_INVALID;
    }
    if ((sx = vpxi_sx_new()) == NULL) {
        cat_why(d->why, sizeof(d->why), "out of memory");
        return d->code = VPXI_ERR_NOMEM;
    }
    prov_sync(p); /* an import by another process counts from now on */
    r = decide_run(sx, p, name, now, d);
    vpxi_sx_free(sx);
    if (r == 0)
        d->stored = store_has(p->dir, d->sha256);
    else if (!d->why[0])
        cat_why(d->why, sizeof(d->why), "%s", vpxi_strerror(r));
    return d->code = r;
}

static int accept_run(struct vpxi_provider *p, const char *name, int64_t now, bool full, char *path,
                      size_t pathlen, char digest[65], char *why, size_t whylen)
{
    struct vpxi_decision d;
    int r;

    if (pathlen)
        path[0] = '\0';
    digest[0] = '\0';
    cat_why(why, whylen, "%s", "");
    if ((r = vpxi_provider_decide(p, name, now, &d)) != 0)
        return cat_why(why, whylen, "%s", d.why), r;
    if ((r = store_check(p->dir, d.sha256, d.has_sha512 ? d.sha512 : NULL, d.size, full, path,
                         pathlen, why, whylen)) != 0) {
        if (pathlen)
            path[0] = '\0';
        return r;
    }
    vpxi_hex_encode(digest, d.sha256, VPXI_SHA256_LEN);
    return 0;
}

int vpxi_provider_accept(struct vpxi_provider *p, const char *name, int64_t now, char *path,
                         size_t pathlen, char digest[65], char *why, size_t whylen)
{
    return accept_run(p, name, now, false, path, pathlen, digest, why, whylen);
}

int vpxi_provider_verify(struct vpxi_provider *p, const char *name, int64_t now, char *path,
                         size_t pathlen, char digest[65], char *why, size_t whylen)
{
    return accept_run(p, name, now, true, path, pathlen, digest, why, whylen);
}
