/*
 * bench_spki.c - SPKI costs beside their limit, measured in one run:
 *   1. signature verifications per second per algorithm, straight from
 *      OpenSSL (the limit) and through libvpxi's vpxi_key_verify;
 *   2. chain reductions per second for chains of 1, 2, 4, 8, 16 certificates,
 *      from received canonical bytes (parse + signature checks + reduction),
 *      and the cost ratio against the raw OpenSSL verifications the chain
 *      contains (goal: <= 1.25);
 *   3. canonical S-expression parse throughput in MB/s.
 * Usage: bench_spki [seconds-per-measurement] (default 1.0)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

static double secs = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs fn until secs have passed; returns operations per second. */
#define RATE(ops_per_call, body)                                                                   \
    ({                                                                                             \
        double t0_ = now_s(), t_;                                                                  \
        long n_ = 0;                                                                               \
        do {                                                                                       \
            for (int i_ = 0; i_ < 16; i_++) {                                                      \
                body;                                                                              \
            }                                                                                      \
            n_ += 16;                                                                              \
        } while ((t_ = now_s() - t0_) < secs);                                                     \
        (double)n_ *(ops_per_call) / t_;                                                           \
    })

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_spki: %s\n", what);
    exit(1);
}

/* The same key as an OpenSSL EVP_PKEY, through its PEM (outside libvpxi). */
static EVP_PKEY *to_evp(struct vpxi_key *k)
{
    struct vpxi_wr w;
    BIO *bio;
    EVP_PKEY *p;

    vpxi_wr_init_dyn(&w, 0);
    if (vpxi_key_public_to_pem(k, &w) != 0)
        die("pem");
    bio = BIO_new_mem_buf(w.p, (int)w.len);
    p = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    vpxi_wr_clear(&w);
    if (!p)
        die("PEM_read_bio_PUBKEY");
    return p;
}

struct alg_case {
    enum vpxi_key_alg alg;
    const char *name;
    double raw_rate; /* OpenSSL verifications per second */
};

static double raw_verify_rate(struct vpxi_key *k, const uint8_t *msg, size_t len,
                              const uint8_t *rawsig, size_t siglen)
{
    EVP_PKEY *pk = to_evp(k);
    const EVP_MD *md = vpxi_key_alg(k) == VPXI_KEY_ED25519 ? NULL : EVP_sha256();
    uint8_t der[128];
    const uint8_t *sig = rawsig;
    size_t dlen = siglen;
    double rate;

    if (vpxi_key_alg(k) == VPXI_KEY_ECDSA_P256) {
        /* OpenSSL verifies DER; convert once, outside the timed loop */
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(rawsig, 32, NULL), *s = BN_bin2bn(rawsig + 32, 32, NULL);
        uint8_t *p = der;
        ECDSA_SIG_set0(es, r, s);
        dlen = (size_t)i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        sig = der;
    }
    rate = RATE(1, {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (EVP_DigestVerifyInit(m, NULL, md, NULL, pk) != 1 ||
            EVP_DigestVerify(m, sig, dlen, msg, len) != 1)
            die("raw verify");
        EVP_MD_CTX_free(m);
    });
    EVP_PKEY_free(pk);
    return rate;
}

/* A chain Root -> K1 -> ... -> Kn as one canonical sequence, and the ACL. */
static void make_chain(enum vpxi_key_alg alg, int n, struct vpxi_wr *seqbytes,
                       struct vpxi_wr *aclbytes)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_key *keys[17];
    struct vpxi_sexp *seq, *one, *tag, *ks, *acl;

    for (int i = 0; i <= n; i++)
        if (vpxi_key_generate(alg, 0, &keys[i]) != 0)
            die("keygen");
    if (vpxi_sexp_build(sx, &seq, "(sequence)") != 0 ||
        vpxi_sexp_build(sx, &tag, "(vpxi bench (* set member exec))") != 0)
        die("build");
    for (int i = 0; i < n; i++) {
        struct vpxi_cert_params p = { 0 };
        p.issuer = keys[i];
        p.subject_key = keys[i + 1];
        p.propagate = i + 1 < n;
        p.tag = tag;
        p.valid.not_before = VPXI_TIME_MIN;
        p.valid.not_after = VPXI_TIME_MAX;
        if (vpxi_cert_issue(sx, &p, &one) != 0)
            die("issue");
        for (struct vpxi_sexp *e = one->child->next; e; e = e->next)
            vpxi_sexp_append(seq, vpxi_sexp_copy(sx, e));
    }
    if (vpxi_key_to_sexp(sx, keys[0], &ks) != 0 ||
        vpxi_sexp_build(sx, &acl, "(acl (entry (subject %S) (propagate) (tag (*))))", ks) != 0)
        die("acl");
    vpxi_wr_init_dyn(seqbytes, 0);
    vpxi_wr_init_dyn(aclbytes, 0);
    vpxi_sexp_write_canonical(seq, seqbytes);
    vpxi_sexp_write_canonical(acl, aclbytes);
    for (int i = 0; i <= n; i++)
        vpxi_key_put(keys[i]);
    vpxi_sx_free(sx);
}

/* One reduction from received bytes: what a node does per handshake. */
static void reduce_once(const struct vpxi_wr *seqb, const struct vpxi_wr *aclb,
                        const struct vpxi_sexp *want, struct vpxi_keycache *cache)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *sn, *an;
    struct vpxi_seq *seq;
    struct vpxi_acl *acl;
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;

    if (vpxi_sexp_parse_canonical(sx, seqb->p, seqb->len, NULL, &sn, NULL) != 0 ||
        vpxi_seq_parse(sx, sn, &seq) != 0 ||
        vpxi_sexp_parse_canonical(sx, aclb->p, aclb->len, NULL, &an, NULL) != 0 ||
        vpxi_acl_parse(sx, an, &acl) != 0)
        die("parse");
    req.acl = acl;
    req.certs = seq->certs;
    req.ncerts = seq->ncerts;
    req.want = want;
    req.now = 1790000000;
    req.cache = cache;
    if (vpxi_reduce(sx, &req, &res) != 0) {
        fprintf(stderr, "%s\n", res.why);
        die("reduce");
    }
    vpxi_sx_free(sx);
}

int main(int argc, char **argv)
{
    struct alg_case algs[] = {
        { VPXI_KEY_ED25519, "ed25519", 0 },
        { VPXI_KEY_ECDSA_P256, "ecdsa-p256", 0 },
        { VPXI_KEY_RSA, "rsa-3072", 0 },
    };
    static const int lengths[] = { 1, 2, 4, 8, 16 };
    static const uint8_t msg[] = "(4:cert(6:issuer...)) a typical certificate body of some size";
    struct vpxi_sx *wsx = vpxi_sx_new();
    struct vpxi_sexp *want;

    if (argc > 1)
        secs = atof(argv[1]);
    if (vpxi_sexp_build(wsx, &want, "(vpxi bench member)") != 0)
        die("want");

    printf("SPKI benchmark (%.1f s per measurement, one core)\n\n", secs);
    printf("1. signature verification\n");
    printf("%-12s %16s %16s %8s\n", "algorithm", "OpenSSL/s", "libvpxi/s", "ratio");
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        struct vpxi_key *k;
        uint8_t sig[VPXI_SIG_MAX];
        size_t siglen;
        double lib;
        enum vpxi_sig_scheme sch;

        if (vpxi_key_generate(algs[a].alg, 0, &k) != 0)
            die("keygen");
        sch = vpxi_key_default_scheme(k);
        if (vpxi_key_sign(k, sch, msg, sizeof(msg), sig, sizeof(sig), &siglen) != 0)
            die("sign");
        algs[a].raw_rate = raw_verify_rate(k, msg, sizeof(msg), sig, siglen);
        lib = RATE(1, {
            if (vpxi_key_verify(k, sch, msg, sizeof(msg), sig, siglen) != 0)
                die("verify");
        });
        printf("%-12s %16.0f %16.0f %8.2f\n", algs[a].name, algs[a].raw_rate, lib,
               algs[a].raw_rate / lib);
        vpxi_key_put(k);
    }

    printf("\n2. chain reduction from received bytes (parse + verify + reduce)\n");
    printf("   cold: every key imported afresh; warm: issuer keys from a key cache, as vpxid\n");
    printf("   runs (the registrar's and resources' keys recur in every chain)\n");
    printf("%-12s %6s %18s %11s %13s %11s %13s\n", "algorithm", "certs", "raw verify-equiv/s",
           "cold red/s", "cold ratio", "warm red/s", "warm ratio");
    for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
        for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
            struct vpxi_wr seqb, aclb;
            int n = lengths[l];
            double cold, warm, limit;
            struct vpxi_keycache *cache = vpxi_keycache_new(0);

            if (algs[a].alg == VPXI_KEY_RSA && n > 8 && secs < 0.5)
                continue;
            make_chain(algs[a].alg, n, &seqb, &aclb);
            cold = RATE(1, reduce_once(&seqb, &aclb, want, NULL));
            warm = RATE(1, reduce_once(&seqb, &aclb, want, cache));
            limit = algs[a].raw_rate / n; /* n raw verifications per chain */
            printf("%-12s %6d %18.0f %11.0f %13.2f %11.0f %13.2f\n", algs[a].name, n, limit, cold,
                   limit / cold, warm, limit / warm);
            vpxi_keycache_free(cache);
            vpxi_wr_clear(&seqb);
            vpxi_wr_clear(&aclb);
        }
    }

    printf("\n3. canonical S-expression parsing\n");
    {
        struct vpxi_wr big, seqb, aclb;
        struct vpxi_sexp_limits lim = vpxi_sexp_limits_default;
        double mbps;

        make_chain(VPXI_KEY_ED25519, 4, &seqb, &aclb);
        /* a list of many certificate sequences: ~1 MB */
        vpxi_wr_init_dyn(&big, 0);
        vpxi_wr_u8(&big, '(');
        while (big.len < 1024 * 1024)
            vpxi_wr_bytes(&big, seqb.p, seqb.len);
        vpxi_wr_u8(&big, ')');
        lim.list_max = 1 << 20;
        mbps = RATE((double)big.len / 1e6, {
            struct vpxi_sx *sx = vpxi_sx_new();
            struct vpxi_sexp *n;
            if (vpxi_sexp_parse_canonical(sx, big.p, big.len, &lim, &n, NULL) != 0)
                die("parse");
            vpxi_sx_free(sx);
        });
        printf("%-40s %10.1f MB/s (%zu-byte input)\n", "vpxi_sexp_parse_canonical", mbps, big.len);
        vpxi_wr_clear(&big);
        vpxi_wr_clear(&seqb);
        vpxi_wr_clear(&aclb);
    }
    vpxi_sx_free(wsx);
    return 0;
}
