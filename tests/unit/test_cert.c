/*
 * test_cert.c - SPKI certificates and 5-tuple reduction: issuance and
 * verification for every key type, forgery, every truncation, element order,
 * and each reduction failure with its specific error.
 */
#include "t.h"

#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

static const int64_t NOW = 1790000000; /* 2026-09-21 */

struct party {
    struct vpxi_key *k;
};

static struct vpxi_key *gen(enum vpxi_key_alg alg)
{
    struct vpxi_key *k = NULL;
    if (vpxi_key_generate(alg, alg == VPXI_KEY_RSA ? 2048 : 0, &k) != 0)
        abort();
    return k;
}

static struct vpxi_sexp *tagx(struct vpxi_sx *sx, const char *text)
{
    struct vpxi_sexp *n = NULL;
    if (vpxi_sexp_read(sx, (const uint8_t *)text, strlen(text), NULL, &n, NULL) != 0)
        abort();
    return n;
}

/* Issues issuer -> subject and re-reads the result from its canonical bytes
 * (as a peer would), appending the certificates to pool. */
static void issue(struct vpxi_sx *sx, struct vpxi_key *iss, struct vpxi_key *sub, const char *tag,
                  bool prop, int64_t nb, int64_t na, struct vpxi_seq **pool)
{
    struct vpxi_cert_params p = { 0 };
    struct vpxi_sexp *seqn, *back;
    struct vpxi_seq *one;
    struct vpxi_wr w;
    int r;

    p.issuer = iss;
    p.subject_key = sub;
    p.tag = tagx(sx, tag);
    p.propagate = prop;
    p.valid.not_before = nb;
    p.valid.not_after = na;
    r = vpxi_cert_issue(sx, &p, &seqn);
    CHECK_OK(r);
    if (r)
        abort();
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(seqn, &w));
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL));
    vpxi_wr_clear(&w);
    CHECK_OK(vpxi_seq_parse(sx, back, &one));
    if (!*pool)
        *pool = one;
    else
        CHECK_OK(vpxi_seq_merge(sx, *pool, one));
}

static struct vpxi_acl *acl_for(struct vpxi_sx *sx, struct vpxi_key *k, const char *tag, bool prop)
{
    struct vpxi_sexp *ks, *n;
    struct vpxi_acl *acl = NULL;
    struct vpxi_wr w;

    CHECK_OK(vpxi_key_to_sexp(sx, k, &ks));
    CHECK_OK(vpxi_sexp_build(sx, &n,
                             prop ? "(acl (entry (subject %S) (propagate) (tag %S)))"
                                  : "(acl (entry (subject %S) (tag %S)))",
                             ks, tagx(sx, tag)));
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(n, &w));
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &n, NULL));
    vpxi_wr_clear(&w);
    CHECK_OK(vpxi_acl_parse(sx, n, &acl));
    return acl;
}

static int reduce(struct vpxi_sx *sx, const struct vpxi_acl *acl, struct vpxi_seq *pool,
                  struct vpxi_key *final, const char *want, int64_t now,
                  struct vpxi_reduce_result *res)
{
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_principal fp;

    req.acl = acl;
    req.certs = pool ? pool->certs : NULL;
    req.ncerts = pool ? pool->ncerts : 0;
    req.keys = pool ? pool->keys : NULL;
    req.nkeys = pool ? pool->nkeys : 0;
    if (final) {
        CHECK_OK(vpxi_principal_from_key(sx, final, &fp));
        req.subject = &fp;
    }
    req.want = want ? tagx(sx, want) : NULL;
    req.now = now;
    return vpxi_reduce(sx, &req, res);
}

static void test_issue_verify_all_algs(void)
{
    static const enum vpxi_key_alg algs[] = { VPXI_KEY_ECDSA_P256, VPXI_KEY_ED25519, VPXI_KEY_RSA };
    for (size_t i = 0; i < 3; i++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_key *a = gen(algs[i]), *b = gen(VPXI_KEY_ED25519);
        struct vpxi_seq *pool = NULL;

        issue(sx, a, b, "(vpxi demo (member))", false, NOW - 10, NOW + 10, &pool);
        CHECK_EQ(pool->ncerts, 1);
        CHECK_OK(vpxi_cert_verify(pool->certs[0], NULL, 0, NULL));
        CHECK(pool->certs[0]->valid.not_after == NOW + 10);
        vpxi_key_put(a);
        vpxi_key_put(b);
        vpxi_sx_free(sx);
    }
}

/* Flips one byte inside the signed part: the signature must fail, and the
 * signature's hash element must catch it first. */
static void test_forgery(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *a = gen(VPXI_KEY_ECDSA_P256), *b = gen(VPXI_KEY_ECDSA_P256);
    struct vpxi_cert_params p = { 0 };
    struct vpxi_sexp *seqn, *back;
    struct vpxi_seq *seq;
    struct vpxi_wr w;
    uint8_t *pos;

    p.issuer = a;
    p.subject_key = b;
    p.tag = tagx(sx, "(vpxi demo (member))");
    p.valid.not_before = VPXI_TIME_MIN;
    p.valid.not_after = VPXI_TIME_MAX;
    CHECK_OK(vpxi_cert_issue(sx, &p, &seqn));
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(seqn, &w));
    pos = memmem(w.p, w.len, "demo", 4);
    CHECK(pos != NULL);
    pos[0] = 'D';
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL));
    CHECK_OK(vpxi_seq_parse(sx, back, &seq));
    CHECK_ERR(vpxi_cert_verify(seq->certs[0], NULL, 0, NULL), VPXI_ERR_BAD_SIG);
    vpxi_wr_clear(&w);

    /* a signature by the wrong key (b re-signs a's certificate) */
    p.issuer = b;
    CHECK_OK(vpxi_cert_issue(sx, &p, &seqn));
    {
        struct vpxi_sexp *sig_b = vpxi_sexp_nth(seqn, 2), *good, *forged;
        CHECK_OK(vpxi_sexp_build(sx, &forged, "(sequence %S %S)", vpxi_sexp_nth(seqn, 1), sig_b));
        /* swap in a's certificate with b's signature */
        p.issuer = a;
        CHECK_OK(vpxi_cert_issue(sx, &p, &good));
        CHECK_OK(vpxi_sexp_build(sx, &forged, "(sequence %S %S)", vpxi_sexp_nth(good, 1), sig_b));
        vpxi_wr_init_dyn(&w, 0);
        CHECK_OK(vpxi_sexp_write_canonical(forged, &w));
        CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL));
        vpxi_wr_clear(&w);
        CHECK_OK(vpxi_seq_parse(sx, back, &seq));
        CHECK_ERR(vpxi_cert_verify(seq->certs[0], NULL, 0, NULL), VPXI_ERR_BAD_SIG);
    }
    vpxi_key_put(a);
    vpxi_key_put(b);
    vpxi_sx_free(sx);
}

/* Every truncation of a valid sequence fails cleanly; trailing bytes fail. */
static void test_truncations(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *a = gen(VPXI_KEY_ED25519), *b = gen(VPXI_KEY_ED25519);
    struct vpxi_cert_params p = { 0 };
    struct vpxi_sexp *seqn, *back;
    struct vpxi_seq *seq;
    struct vpxi_wr w;
    size_t k;

    p.issuer = a;
    p.subject_key = b;
    p.tag = tagx(sx, "(vpxi demo (* set member exec))");
    p.propagate = true;
    p.valid.not_before = NOW;
    p.valid.not_after = NOW + 3600;
    p.comment = "test";
    CHECK_OK(vpxi_cert_issue(sx, &p, &seqn));
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(seqn, &w));
    for (k = 0; k < w.len; k++) {
        struct vpxi_sx *t = vpxi_sx_new();
        int r = vpxi_sexp_parse_canonical(t, w.p, k, NULL, &back, NULL);
        CHECK(r != 0);
        vpxi_sx_free(t);
    }
    vpxi_wr_u8(&w, ')');
    CHECK_ERR(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL), VPXI_ERR_TRAILING_DATA);
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len - 1, NULL, &back, NULL));
    CHECK_OK(vpxi_seq_parse(sx, back, &seq));
    CHECK_OK(vpxi_cert_verify(seq->certs[0], NULL, 0, NULL));
    vpxi_wr_clear(&w);
    vpxi_key_put(a);
    vpxi_key_put(b);
    vpxi_sx_free(sx);
}

#define T_CERT_BAD(text, code)                                                                     \
    do {                                                                                           \
        struct vpxi_sexp *n_;                                                                      \
        struct vpxi_cert *c_;                                                                      \
        CHECK_OK(vpxi_sexp_read(sx, (const uint8_t *)(text), strlen(text), NULL, &n_, NULL));      \
        CHECK_ERR(vpxi_cert_parse(sx, n_, &c_), code);                                             \
    } while (0)

static void test_cert_grammar(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    const char *h =
        "(hash sha256 #0000000000000000000000000000000000000000000000000000000000000000#)";
    char buf[1024];

#define C(fmt) (snprintf(buf, sizeof(buf), fmt, h, h), buf)
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (tag (*)))"), 0);
    T_CERT_BAD(C("(cert (subject %s) (issuer %s) (tag (*)))"), VPXI_ERR_ORDER);
    T_CERT_BAD(C("(cert (issuer %s) (issuer %s) (tag (*)))"), VPXI_ERR_DUPLICATE);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s))"), VPXI_ERR_BAD_FORMAT);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (tag (*)) (bogus))"), VPXI_ERR_BAD_FORMAT);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (propagate x) (tag (*)))"), VPXI_ERR_BAD_FORMAT);
    T_CERT_BAD(
        C("(cert (issuer %s) (subject %s) (tag (*)) (valid (not-after \"2026-13-01_00:00:00\")))"),
        VPXI_ERR_BAD_FORMAT);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (tag (*)) (valid (not-after "
                 "\"2026-01-01_00:00:00\") (not-before \"2025-01-01_00:00:00\")))"),
               VPXI_ERR_ORDER);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (tag (*)) (valid (not-before "
                 "\"2027-01-01_00:00:00\") (not-after \"2026-01-01_00:00:00\")))"),
               VPXI_ERR_VALIDITY_EMPTY);
    T_CERT_BAD(C("(cert (issuer %s) (subject %s) (tag (*)) (valid (online crl x)))"),
               VPXI_ERR_UNSUPPORTED);
    T_CERT_BAD(C("(cert (issuer %s) (subject (k-of-n \"3\" \"2\" %s)) (tag (*)))"),
               VPXI_ERR_BAD_FORMAT);
    T_CERT_BAD(C("(cert (issuer (hash sha1 #00#)) (subject %s) (comment %.0s\"\") (tag (*)))"),
               VPXI_ERR_ORDER);
    T_CERT_BAD(C("(cert (issuer (hash sha1 #00#)) (subject %s) (tag (*)) (comment %.0s\"\"))"),
               VPXI_ERR_UNSUPPORTED);
    T_CERT_BAD("(cert (issuer (hash sha256 #00#)) (subject (hash sha256 #00#)) (tag (*)))",
               VPXI_ERR_BAD_FORMAT);
#undef C
    vpxi_sx_free(sx);
}

/* Seed 000 4.2.1: R -> H (propagate) -> U; R's ACL trusts itself: the
 * resource accepts a chain starting at its own key. */
static void test_reduce_basic_and_min_validity(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *r = gen(VPXI_KEY_ECDSA_P256), *h = gen(VPXI_KEY_ECDSA_P256),
                    *u = gen(VPXI_KEY_ECDSA_P256);
    struct vpxi_seq *pool = NULL;
    struct vpxi_acl *acl = acl_for(sx, r, "(*)", true);
    struct vpxi_reduce_result res;

    issue(sx, r, h, "(vpxi v1 (* set member exec))", true, NOW - 100, NOW + 7200, &pool);
    issue(sx, h, u, "(vpxi v1 member)", false, NOW - 50, NOW + 3600, &pool);
    CHECK_OK(reduce(sx, acl, pool, u, "(vpxi v1 member)", NOW, &res));
    CHECK_EQ(res.tuple.valid.not_before, NOW - 50);
    CHECK_EQ(res.tuple.valid.not_after, NOW + 3600); /* the minimum of the links */
    CHECK(!res.tuple.propagate);
    CHECK_EQ(res.nused, 2);
    /* the tag narrowed at each hop */
    CHECK_ERR(reduce(sx, acl, pool, u, "(vpxi v1 exec)", NOW, &res), VPXI_ERR_NOT_AUTHORIZED);
    CHECK_ERR(reduce(sx, acl, pool, u, "(vpxi v2 member)", NOW, &res), VPXI_ERR_NOT_AUTHORIZED);
    /* time */
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW + 3601, &res), VPXI_ERR_EXPIRED);
    CHECK_EQ(res.bad_cert, 1);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW - 60, &res), VPXI_ERR_NOT_YET_VALID);
    /* H itself holds a delegable grant, so it is authorized too ... */
    CHECK_OK(reduce(sx, acl, pool, h, "(vpxi v1 exec)", NOW, &res));
    CHECK(res.tuple.propagate);
    /* ... but a key the chain does not reach is not */
    {
        struct vpxi_key *z = gen(VPXI_KEY_ECDSA_P256);
        CHECK_ERR(reduce(sx, acl, pool, z, "(vpxi v1 member)", NOW, &res), VPXI_ERR_NOT_AUTHORIZED);
        vpxi_key_put(z);
    }
    /* inferred final subject */
    CHECK_OK(reduce(sx, acl, pool, NULL, NULL, NOW, &res));
    vpxi_key_put(r);
    vpxi_key_put(h);
    vpxi_key_put(u);
    vpxi_sx_free(sx);
}

static void test_reduce_failures(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *r = gen(VPXI_KEY_ED25519), *h = gen(VPXI_KEY_ED25519),
                    *u = gen(VPXI_KEY_ED25519), *x = gen(VPXI_KEY_ED25519);
    struct vpxi_acl *acl = acl_for(sx, r, "(*)", true);
    struct vpxi_reduce_result res;
    struct vpxi_seq *pool;

    /* broken delegation: R -> H without propagate, then H -> U */
    pool = NULL;
    issue(sx, r, h, "(vpxi v1)", false, NOW - 1, NOW + 100, &pool);
    issue(sx, h, u, "(vpxi v1)", false, NOW - 1, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_NO_DELEGATION);
    CHECK_EQ(res.bad_cert, 0);

    /* wrong issuer: R -> H, then X -> U */
    pool = NULL;
    issue(sx, r, h, "(vpxi v1)", true, NOW - 1, NOW + 100, &pool);
    issue(sx, x, u, "(vpxi v1)", false, NOW - 1, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_ISSUER_MISMATCH);
    CHECK_EQ(res.bad_cert, 1);

    /* empty tag intersection */
    pool = NULL;
    issue(sx, r, h, "(vpxi v1 member)", true, NOW - 1, NOW + 100, &pool);
    issue(sx, h, u, "(vpxi v2 member)", false, NOW - 1, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_TAG_EMPTY);
    CHECK_EQ(res.bad_cert, 1);

    /* disjoint validity */
    pool = NULL;
    issue(sx, r, h, "(vpxi v1)", true, NOW - 100, NOW + 100, &pool);
    issue(sx, h, u, "(vpxi v1)", false, NOW + 200, NOW + 300, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_VALIDITY_EMPTY);

    /* an issuer the ACL does not know */
    pool = NULL;
    issue(sx, x, u, "(vpxi v1)", false, NOW - 1, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_NOT_AUTHORIZED);

    /* out of order with a real fault: the fault is named, not the order */
    pool = NULL;
    issue(sx, h, u, "(vpxi v1)", false, NOW - 100, NOW - 10, &pool);
    issue(sx, r, h, "(vpxi v1)", true, NOW - 100, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, NULL, NOW, &res), VPXI_ERR_EXPIRED);
    CHECK_EQ(res.bad_cert, 0);
    pool = NULL;
    issue(sx, h, u, "(vpxi v1 member)", false, NOW - 100, NOW + 100, &pool);
    issue(sx, r, h, "(vpxi v1 (* set member exec))", true, NOW - 100, NOW + 100, &pool);
    CHECK_OK(reduce(sx, acl, pool, u, "(vpxi v1 member)", NOW, &res));
    CHECK_ERR(reduce(sx, acl, pool, u, "(vpxi v1 exec)", NOW, &res), VPXI_ERR_NOT_AUTHORIZED);
    CHECK(strstr(res.why, "does not grant") != NULL);

    /* an ACL entry without propagate cannot start a chain */
    pool = NULL;
    issue(sx, r, u, "(vpxi v1)", false, NOW - 1, NOW + 100, &pool);
    CHECK_ERR(reduce(sx, acl_for(sx, r, "(*)", false), pool, u, NULL, NOW, &res),
              VPXI_ERR_NO_DELEGATION);
    /* but an ACL entry naming the requester itself needs no certificate */
    CHECK_OK(reduce(sx, acl_for(sx, u, "(vpxi v1)", false), NULL, u, "(vpxi v1)", NOW, &res));
    vpxi_key_put(r);
    vpxi_key_put(h);
    vpxi_key_put(u);
    vpxi_key_put(x);
    vpxi_sx_free(sx);
}

/* (k-of-n 2 3 A B C): two of the three must delegate to U. */
static void test_threshold(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *root = gen(VPXI_KEY_ED25519), *a = gen(VPXI_KEY_ED25519),
                    *b = gen(VPXI_KEY_ED25519), *c = gen(VPXI_KEY_ED25519),
                    *u = gen(VPXI_KEY_ED25519);
    struct vpxi_sexp *ka, *kb, *kc, *subj, *seqn, *back;
    struct vpxi_cert_params p = { 0 };
    struct vpxi_reduce_result res;
    struct vpxi_seq *pool = NULL, *one;
    struct vpxi_acl *acl = acl_for(sx, root, "(*)", true);
    struct vpxi_wr w;

    CHECK_OK(vpxi_key_to_sexp(sx, a, &ka));
    CHECK_OK(vpxi_key_to_sexp(sx, b, &kb));
    CHECK_OK(vpxi_key_to_sexp(sx, c, &kc));
    CHECK_OK(vpxi_sexp_build(sx, &subj, "(k-of-n \"2\" \"3\" %S %S %S)", ka, kb, kc));
    p.issuer = root;
    p.subject = subj;
    p.propagate = true;
    p.tag = tagx(sx, "(image (* prefix hep-))");
    p.valid.not_before = NOW - 10;
    p.valid.not_after = NOW + 1000;
    CHECK_OK(vpxi_cert_issue(sx, &p, &seqn));
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(seqn, &w));
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL));
    vpxi_wr_clear(&w);
    CHECK_OK(vpxi_seq_parse(sx, back, &one));
    pool = one;
    issue(sx, a, u, "(image hep-sim)", false, NOW - 10, NOW + 500, &pool);
    CHECK_ERR(reduce(sx, acl, pool, u, "(image hep-sim)", NOW, &res), VPXI_ERR_THRESHOLD);
    issue(sx, c, u, "(image (* prefix hep-s))", false, NOW - 10, NOW + 800, &pool);
    CHECK_OK(reduce(sx, acl, pool, u, "(image hep-sim)", NOW, &res));
    CHECK_EQ(res.tuple.valid.not_after, NOW + 500);
    CHECK_EQ(res.nused, 3);

    /* a k-of-n subject in the ACL itself: two of A, B, C must delegate */
    {
        struct vpxi_sexp *an;
        struct vpxi_acl *tacl;
        struct vpxi_seq *p2 = NULL;
        CHECK_OK(vpxi_sexp_build(sx, &an,
                                 "(acl (entry (subject (k-of-n \"2\" \"3\" %S %S %S)) (propagate) "
                                 "(tag (image (*)))))",
                                 ka, kb, kc));
        vpxi_wr_init_dyn(&w, 0);
        CHECK_OK(vpxi_sexp_write_canonical(an, &w));
        CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &an, NULL));
        vpxi_wr_clear(&w);
        CHECK_OK(vpxi_acl_parse(sx, an, &tacl));
        issue(sx, b, u, "(image hep-sim)", false, NOW - 10, NOW + 500, &p2);
        CHECK_ERR(reduce(sx, tacl, p2, u, "(image hep-sim)", NOW, &res), VPXI_ERR_THRESHOLD);
        issue(sx, a, u, "(image hep-sim)", false, NOW - 10, NOW + 500, &p2);
        CHECK_OK(reduce(sx, tacl, p2, u, "(image hep-sim)", NOW, &res));
    }
    vpxi_key_put(root);
    vpxi_key_put(a);
    vpxi_key_put(b);
    vpxi_key_put(c);
    vpxi_key_put(u);
    vpxi_sx_free(sx);
}

/* Issuer named by hash: its key travels in the sequence. */
static void test_hash_principals(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *a = gen(VPXI_KEY_ECDSA_P256), *b = gen(VPXI_KEY_ECDSA_P256);
    struct vpxi_cert_params p = { 0 };
    struct vpxi_sexp *seqn, *back;
    struct vpxi_seq *seq;
    struct vpxi_wr w;
    struct vpxi_reduce_result res;

    p.issuer = a;
    p.subject_key = b;
    p.issuer_as_hash = true;
    p.subject_as_hash = true;
    p.tag = tagx(sx, "(*)");
    p.valid.not_before = VPXI_TIME_MIN;
    p.valid.not_after = VPXI_TIME_MAX;
    CHECK_OK(vpxi_cert_issue(sx, &p, &seqn));
    vpxi_wr_init_dyn(&w, 0);
    CHECK_OK(vpxi_sexp_write_canonical(seqn, &w));
    CHECK_OK(vpxi_sexp_parse_canonical(sx, w.p, w.len, NULL, &back, NULL));
    vpxi_wr_clear(&w);
    CHECK_OK(vpxi_seq_parse(sx, back, &seq));
    CHECK_EQ(seq->nkeys, 1);
    CHECK_EQ(seq->certs[0]->issuer.kind, VPXI_PRINCIPAL_HASH);
    CHECK_ERR(vpxi_cert_verify(seq->certs[0], NULL, 0, NULL), VPXI_ERR_UNKNOWN_KEY);
    seq->certs[0]->sig_status = VPXI_CERT_UNCHECKED;
    CHECK_OK(vpxi_cert_verify(seq->certs[0], seq->keys, seq->nkeys, NULL));
    CHECK_OK(reduce(sx, acl_for(sx, a, "(*)", true), seq, b, NULL, NOW, &res));
    vpxi_key_put(a);
    vpxi_key_put(b);
    vpxi_sx_free(sx);
}

/* The key cache returns the same key for the same id, counts hits, and
 * reductions through it give the same result. */
static void test_keycache(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_keycache *kc = vpxi_keycache_new(8);
    struct vpxi_key *r = gen(VPXI_KEY_ECDSA_P256), *u = gen(VPXI_KEY_ECDSA_P256), *k;
    struct vpxi_seq *pool = NULL;
    struct vpxi_acl *acl = acl_for(sx, r, "(*)", true);
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    uint64_t hits, misses;
    uint8_t id[32];

    issue(sx, r, u, "(vpxi v1 member)", false, NOW - 1, NOW + 10, &pool);
    req.acl = acl;
    req.certs = pool->certs;
    req.ncerts = pool->ncerts;
    req.now = NOW;
    req.cache = kc;
    CHECK_OK(vpxi_reduce(sx, &req, &res));
    vpxi_keycache_stats(kc, &hits, &misses);
    CHECK_EQ(hits, 0);
    CHECK_EQ(misses, 1);
    /* a second parse of the same chain finds the issuer key in the cache */
    pool->certs[0]->sig_status = VPXI_CERT_UNCHECKED;
    pool->certs[0]->issuer.key = NULL;
    CHECK_OK(vpxi_reduce(sx, &req, &res));
    vpxi_keycache_stats(kc, &hits, &misses);
    CHECK_EQ(hits, 1);
    /* eviction keeps the cache bounded and correct */
    for (int i = 0; i < 40; i++) {
        struct vpxi_key *t = gen(VPXI_KEY_ED25519);
        CHECK_OK(vpxi_key_id(t, id));
        vpxi_keycache_put(kc, id, t);
        k = vpxi_keycache_get(kc, id);
        CHECK(k == t);
        vpxi_key_put(k);
        vpxi_key_put(t);
    }
    vpxi_keycache_free(kc);
    vpxi_key_put(r);
    vpxi_key_put(u);
    vpxi_sx_free(sx);
}

static void test_dates(void)
{
    int64_t t;
    char d[VPXI_DATE_LEN + 1];

    CHECK_OK(vpxi_date_parse((const uint8_t *)"1970-01-01_00:00:00", 19, &t));
    CHECK_EQ(t, 0);
    CHECK_OK(vpxi_date_parse((const uint8_t *)"2000-02-29_23:59:59", 19, &t));
    CHECK_EQ(t, 951868799);
    vpxi_date_format(951868799, d);
    CHECK_STR(d, "2000-02-29_23:59:59");
    CHECK_ERR(vpxi_date_parse((const uint8_t *)"2001-02-29_00:00:00", 19, &t), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_date_parse((const uint8_t *)"2001-02-28 00:00:00", 19, &t), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_date_parse((const uint8_t *)"2001-02-28_00:00:0", 18, &t), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_date_parse((const uint8_t *)"2001-02-28_24:00:00", 19, &t), VPXI_ERR_BAD_FORMAT);
    CHECK_OK(vpxi_time_parse("+2h", 1000, &t));
    CHECK_EQ(t, 1000 + 7200);
    CHECK_OK(vpxi_time_parse("-1d", 100000, &t));
    CHECK_EQ(t, 100000 - 86400);
    CHECK_ERR(vpxi_time_parse("+2x", 0, &t), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_time_parse("+h", 0, &t), VPXI_ERR_BAD_FORMAT);
    for (t = 0; t < 400LL * 366 * 86400; t += 86400 * 37 + 3601) {
        int64_t back;
        vpxi_date_format(t, d);
        CHECK_OK(vpxi_date_parse((const uint8_t *)d, 19, &back));
        if (back != t) {
            CHECK_EQ(back, t);
            break;
        }
    }
}

int main(void)
{
    RUN(test_dates);
    RUN(test_issue_verify_all_algs);
    RUN(test_forgery);
    RUN(test_truncations);
    RUN(test_cert_grammar);
    RUN(test_reduce_basic_and_min_validity);
    RUN(test_reduce_failures);
    RUN(test_threshold);
    RUN(test_hash_principals);
    RUN(test_keycache);
    T_DONE();
}
