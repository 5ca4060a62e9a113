/*
 * test_identity.c - HI fields, HITs, SPKI public-key expressions and key
 * files (lib/trust/identity.c).
 *
 * Known answers come from tests/vectors/hits.txt, written by
 * tests/vectors/gen_hits.py, an independent Python implementation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

/* The test keys, one per algorithm (tests/vectors/keys). */
static const char *const vec_names[] = {
    [VPXI_KEY_RSA] = "keys/rsa3072-1.pem",
    [VPXI_KEY_ECDSA_P256] = "keys/p256-1.pem",
    [VPXI_KEY_ED25519] = "keys/ed25519-1.pem",
};
static const enum vpxi_key_alg all_algs[] = { VPXI_KEY_RSA, VPXI_KEY_ECDSA_P256, VPXI_KEY_ED25519 };
enum { NALGS = sizeof(all_algs) / sizeof(all_algs[0]) };

static struct vpxi_key *vec_key_file(const char *name)
{
    struct vpxi_key *k = NULL;
    size_t len = 0;
    char *text = t_read_file(t_vector_path(name), &len);

    CHECK(text != NULL);
    if (!text)
        return NULL;
    CHECK_OK(vpxi_key_parse((const uint8_t *)text, len, &k));
    vpxi_freezero(text, len);
    return k;
}

static struct vpxi_key *vec_key(enum vpxi_key_alg alg)
{
    return vec_key_file(vec_names[alg]);
}

static void hit_str(const uint8_t hit[VPXI_HIT_LEN], char *out)
{
    vpxi_hit_to_str(hit, out);
}

/* ---- HI -------------------------------------------------------------------- */

static void test_hi_roundtrip(void)
{
    static const size_t want_len[] = {
        [VPXI_KEY_RSA] = 1 + 3 + 384, /* e_len | 010001 | 3072-bit n */
        [VPXI_KEY_ECDSA_P256] = 2 + 1 + 64,
        [VPXI_KEY_ED25519] = 2 + 32,
    };
    static const uint16_t want_alg[] = {
        [VPXI_KEY_RSA] = VPXI_HI_RSA,
        [VPXI_KEY_ECDSA_P256] = VPXI_HI_ECDSA,
        [VPXI_KEY_ED25519] = VPXI_HI_EDDSA,
    };
    size_t i;

    for (i = 0; i < NALGS; i++) {
        enum vpxi_key_alg alg = all_algs[i];
        struct vpxi_key *k = vec_key(alg), *d = NULL;
        uint8_t hi[VPXI_HI_MAX], hit1[VPXI_HIT_LEN], hit2[VPXI_HIT_LEN];
        uint16_t hi_alg;
        size_t len;

        if (!k)
            continue;
        CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
        CHECK_EQ(len, want_len[alg]);
        CHECK_EQ(hi_alg, want_alg[alg]);
        CHECK_OK(vpxi_hi_decode(hi_alg, hi, len, &d));
        CHECK(d && vpxi_key_public_equal(k, d));
        CHECK(d && !vpxi_key_is_private(d));
        vpxi_key_put(d);
        d = NULL;
        CHECK_OK(vpxi_hit_from_key(k, hit1));
        CHECK_OK(vpxi_hit_from_hi(hi_alg, hi, len, hit2));
        CHECK_MEM(hit1, hit2, VPXI_HIT_LEN);
        CHECK_ERR(vpxi_hi_encode(k, hi, len - 1, &len, &hi_alg), VPXI_ERR_TOO_LARGE);
        CHECK_EQ(len, 0);
        CHECK_ERR(vpxi_hi_decode(VPXI_HI_EDDSA + VPXI_HI_ECDSA, hi, want_len[alg], &d),
                  VPXI_ERR_UNSUPPORTED);
        CHECK(d == NULL);
        vpxi_key_put(d);
        vpxi_key_put(k);
    }
}

/* The ECDSA HI is accepted without the 04 octet too (hip-wire.md 1.5). */
static void test_hi_ecdsa_forms(void)
{
    struct vpxi_key *k = vec_key(VPXI_KEY_ECDSA_P256), *d = NULL;
    uint8_t hi[VPXI_HI_MAX], xy[VPXI_HI_MAX], h67[VPXI_HIT_LEN], h66[VPXI_HIT_LEN];
    uint16_t hi_alg;
    size_t len;

    if (!k)
        return;
    CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
    CHECK_EQ(hi[0], 0);
    CHECK_EQ(hi[1], VPXI_ECDSA_CURVE_P256);
    CHECK_EQ(hi[2], 0x04);
    memcpy(xy, hi, 2);
    memcpy(xy + 2, hi + 3, len - 3);
    CHECK_OK(vpxi_hi_decode(VPXI_HI_ECDSA, xy, len - 1, &d));
    CHECK(d && vpxi_key_public_equal(k, d));
    vpxi_key_put(d);
    /* the HIT is over the HI field as carried, so the forms differ */
    CHECK_OK(vpxi_hit_from_hi(VPXI_HI_ECDSA, hi, len, h67));
    CHECK_OK(vpxi_hit_from_hi(VPXI_HI_ECDSA, xy, len - 1, h66));
    CHECK(memcmp(h67, h66, VPXI_HIT_LEN) != 0);
    /* 04 | x | y | junk, x | y | junk (65 octets not starting with 04) */
    hi[len] = 0;
    CHECK_ERR(vpxi_hi_decode(VPXI_HI_ECDSA, hi, len + 1, &d), VPXI_ERR_TRAILING_DATA);
    xy[len - 1] = 0;
    xy[2] = 0x05;
    CHECK_ERR(vpxi_hi_decode(VPXI_HI_ECDSA, xy, len, &d), VPXI_ERR_TRAILING_DATA);
    /* compressed points are not accepted */
    hi[2] = 0x02;
    CHECK_ERR(vpxi_hi_decode(VPXI_HI_ECDSA, hi, 2 + 1 + 32, &d), VPXI_ERR_TRUNCATED);
    CHECK(d == NULL);
    vpxi_key_put(k);
}

/* Every proper prefix of an HI is rejected; an RSA prefix is a different,
 * possibly valid, modulus (RFC 3110 gives n no length), so for RSA the
 * check is that it never decodes to the original key. */
static void test_hi_truncated(void)
{
    size_t i, n;

    for (i = 0; i < NALGS; i++) {
        struct vpxi_key *k = vec_key(all_algs[i]), *d;
        uint8_t hi[VPXI_HI_MAX];
        uint16_t hi_alg;
        size_t len;
        int r;

        if (!k)
            continue;
        CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
        for (n = 0; n < len; n++) {
            uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
            memcpy(copy, hi, n);
            d = NULL;
            r = vpxi_hi_decode(hi_alg, copy, n, &d);
            if (all_algs[i] == VPXI_KEY_RSA) {
                CHECK(r != 0 || !vpxi_key_public_equal(k, d));
                if (n < 1 + 3 + 1)
                    CHECK_ERR(r, VPXI_ERR_TRUNCATED);
            } else if (n < len - 1) {
                CHECK_ERR(r, VPXI_ERR_TRUNCATED); /* < 66 octets: short of x | y */
            } else {
                CHECK(r != 0); /* 66 octets: 04 | x | y[0..31) read as x | y */
            }
            CHECK(r != 0 || d != NULL);
            vpxi_key_put(d);
            free(copy);
        }
        vpxi_key_put(k);
    }
}

static void test_hi_bad(void)
{
    struct vpxi_key *k, *d = NULL;
    uint8_t hi[VPXI_HI_MAX + 8], bad[VPXI_HI_MAX + 8];
    uint16_t hi_alg;
    size_t len;

    /* Ed25519: trailing octet, curves 0, Ed448 (3) */
    if ((k = vec_key(VPXI_KEY_ED25519)) != NULL) {
        CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
        hi[len] = 0;
        CHECK_ERR(vpxi_hi_decode(hi_alg, hi, len + 1, &d), VPXI_ERR_TRAILING_DATA);
        hi[1] = 0;
        CHECK_ERR(vpxi_hi_decode(hi_alg, hi, len, &d), VPXI_ERR_UNSUPPORTED);
        hi[1] = 3;
        CHECK_ERR(vpxi_hi_decode(hi_alg, hi, len, &d), VPXI_ERR_UNSUPPORTED);
        vpxi_key_put(k);
    }
    /* ECDSA: P-384 (2) is not supported, 0 is reserved; a point off the curve */
    if ((k = vec_key(VPXI_KEY_ECDSA_P256)) != NULL) {
        CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
        memcpy(bad, hi, len);
        bad[1] = 2;
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len, &d), VPXI_ERR_UNSUPPORTED);
        bad[1] = 0;
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len, &d), VPXI_ERR_UNSUPPORTED);
        memcpy(bad, hi, len);
        bad[len - 1] ^= 1;
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len, &d), VPXI_ERR_BAD_KEY);
        memset(bad + 3, 0, len - 3); /* the point at infinity is not a key */
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len, &d), VPXI_ERR_BAD_KEY);
        vpxi_key_put(k);
    }
    /* RSA */
    if ((k = vec_key(VPXI_KEY_RSA)) != NULL) {
        CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
        CHECK_EQ(hi[0], 3);
        memcpy(bad, hi, len);
        bad[len - 1] &= 0xfe; /* even modulus */
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len, &d), VPXI_ERR_BAD_KEY);
        /* zero-length exponent (e_len 0 introduces the 2-byte length form) */
        bad[0] = bad[1] = bad[2] = 0;
        memcpy(bad + 3, hi + 4, len - 4);
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len - 1, &d), VPXI_ERR_BAD_KEY);
        /* the long length form for a short exponent is not minimal */
        bad[0] = bad[1] = 0;
        bad[2] = 3;
        memcpy(bad + 3, hi + 1, len - 1);
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len + 2, &d), VPXI_ERR_BAD_FORMAT);
        /* exponent with a leading zero octet */
        bad[0] = 4;
        bad[1] = 0;
        memcpy(bad + 2, hi + 1, len - 1);
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len + 1, &d), VPXI_ERR_BAD_KEY);
        /* exponent longer than the field */
        memcpy(bad, hi, len);
        bad[0] = 200;
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, 100, &d), VPXI_ERR_TRUNCATED);
        /* modulus with a leading zero octet; 1024-bit modulus */
        memcpy(bad, hi, 4);
        bad[4] = 0;
        memcpy(bad + 5, hi + 4, len - 4);
        CHECK_ERR(vpxi_hi_decode(hi_alg, bad, len + 1, &d), VPXI_ERR_BAD_KEY);
        CHECK_ERR(vpxi_hi_decode(hi_alg, hi, 4 + 128, &d), VPXI_ERR_BAD_KEY);
        vpxi_key_put(k);
    }
    memset(hi, 1, sizeof(hi));
    CHECK_ERR(vpxi_hi_decode(VPXI_HI_RSA, hi, VPXI_HI_MAX + 1, &d), VPXI_ERR_TOO_LARGE);
    CHECK_ERR(vpxi_hi_decode(3 /* DSA */, hi, 100, &d), VPXI_ERR_UNSUPPORTED);
    CHECK(d == NULL);
}

/* ---- HIT ------------------------------------------------------------------- */

static void test_hit_bits(void)
{
    static const unsigned want_suite[] = {
        [VPXI_KEY_RSA] = 1,
        [VPXI_KEY_ECDSA_P256] = 2,
        [VPXI_KEY_ED25519] = 5,
    };
    static const char *const want_prefix[] = {
        [VPXI_KEY_RSA] = "2001:21:",
        [VPXI_KEY_ECDSA_P256] = "2001:22:",
        [VPXI_KEY_ED25519] = "2001:25:",
    };
    size_t i;

    CHECK_EQ(vpxi_hip_context_id[0], 0xf0);
    CHECK_EQ(vpxi_hip_context_id[15], 0xea);
    for (i = 0; i < NALGS; i++) {
        enum vpxi_key_alg alg = all_algs[i];
        struct vpxi_key *k = NULL;
        uint8_t hit[VPXI_HIT_LEN], back[VPXI_HIT_LEN];
        char s[VPXI_HIT_STRLEN];

        if (alg == VPXI_KEY_RSA)
            k = vec_key(alg); /* generating RSA is slow; a fixed key will do */
        else
            CHECK_OK(vpxi_key_generate(alg, 0, &k));
        if (!k)
            continue;
        CHECK_EQ(vpxi_hit_suite_of_key(k), want_suite[alg]);
        CHECK_OK(vpxi_hit_from_key(k, hit));
        CHECK_EQ(hit[0], 0x20);
        CHECK_EQ(hit[1], 0x01);
        CHECK_EQ(hit[2], 0x00);
        CHECK_EQ(hit[3], 0x20 | want_suite[alg]);
        CHECK(vpxi_hit_is_orchid(hit));
        CHECK_EQ(vpxi_hit_suite(hit), want_suite[alg]);
        hit_str(hit, s);
        CHECK(strncmp(s, want_prefix[alg], strlen(want_prefix[alg])) == 0);
        CHECK_OK(vpxi_hit_from_str(s, back));
        CHECK_MEM(hit, back, VPXI_HIT_LEN);
        vpxi_key_put(k);
    }
}

static void test_hit_str(void)
{
    uint8_t hit[VPXI_HIT_LEN];
    char s[VPXI_HIT_STRLEN];

    CHECK_OK(vpxi_hit_from_str("2001:0025:f129:9406:dee3:5e33:18c8:7c8a", hit));
    hit_str(hit, s);
    CHECK_STR(s, "2001:25:f129:9406:dee3:5e33:18c8:7c8a");
    CHECK_OK(vpxi_hit_from_str("2001:2f::", hit));
    CHECK_EQ(vpxi_hit_suite(hit), 0xf);
    CHECK_ERR(vpxi_hit_from_str("2001:30::1", hit), VPXI_ERR_BAD_FORMAT); /* DET prefix */
    CHECK_ERR(vpxi_hit_from_str("2001:1f::1", hit), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_hit_from_str("::1", hit), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_hit_from_str("2001:25::g", hit), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_hit_from_str("", hit), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_hit_from_str("192.0.2.1", hit), VPXI_ERR_BAD_FORMAT);
    CHECK(vpxi_iszero_ct(hit, VPXI_HIT_LEN));
}

static void test_hit_from_hi_bad(void)
{
    uint8_t hit[VPXI_HIT_LEN], hi[VPXI_HI_MAX + 1] = { 0 };

    CHECK_ERR(vpxi_hit_from_hi(3, hi, 10, hit), VPXI_ERR_UNSUPPORTED);
    CHECK_ERR(vpxi_hit_from_hi(VPXI_HI_ECDSA, hi, 0, hit), VPXI_ERR_TRUNCATED);
    CHECK_ERR(vpxi_hit_from_hi(VPXI_HI_RSA, hi, sizeof(hi), hit), VPXI_ERR_TOO_LARGE);
    CHECK(vpxi_iszero_ct(hit, VPXI_HIT_LEN));
}

/* ---- known answers (tests/vectors/hits.txt) ---------------------------------- */

static void check_hi_line(struct vpxi_key *k, unsigned alg, const char *hi_hex,
                          const char *hit_want)
{
    uint8_t hi[VPXI_HI_MAX], want[VPXI_HI_MAX], hit[VPXI_HIT_LEN];
    char hex[2 * VPXI_HI_MAX + 1], s[VPXI_HIT_STRLEN];
    struct vpxi_key *d = NULL;
    uint16_t hi_alg;
    size_t len, wlen = 0;

    CHECK_OK(vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg));
    CHECK_EQ(hi_alg, alg);
    vpxi_hex_encode(hex, hi, len);
    CHECK_STR(hex, hi_hex);
    CHECK_OK(vpxi_hit_from_key(k, hit));
    hit_str(hit, s);
    CHECK_STR(s, hit_want);
    /* and from the Python HI bytes, through decode */
    CHECK_OK(vpxi_hex_decode(want, sizeof(want), &wlen, hi_hex, strlen(hi_hex)));
    CHECK_OK(vpxi_hit_from_hi((uint16_t)alg, want, wlen, hit));
    hit_str(hit, s);
    CHECK_STR(s, hit_want);
    CHECK_OK(vpxi_hi_decode((uint16_t)alg, want, wlen, &d));
    CHECK(d && vpxi_key_public_equal(k, d));
    vpxi_key_put(d);
}

static void test_known_answers(void)
{
    char *text = t_read_file(t_vector_path("hits.txt"), NULL);
    char *line, *save = NULL;
    int hits = 0, ids = 0;

    CHECK(text != NULL);
    if (!text)
        return;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char file[256], kind[16], a[2 * VPXI_HI_MAX + 1], b[64];
        uint8_t id[VPXI_KEY_ID_LEN];
        char idhex[2 * VPXI_KEY_ID_LEN + 1];
        struct vpxi_key *k;
        int n;

        if (line[0] == '#')
            continue;
        n = sscanf(line, "%255s %15s %2200s %63s", file, kind, a, b);
        if (n < 3 || (k = vec_key_file(file)) == NULL) {
            CHECK(!"bad line in hits.txt");
            continue;
        }
        if (!strcmp(kind, "keyid")) {
            CHECK_OK(vpxi_key_id(k, id));
            vpxi_hex_encode(idhex, id, sizeof(id));
            CHECK_STR(idhex, a);
            ids++;
        } else if (n == 4) {
            check_hi_line(k, (unsigned)atoi(kind), a, b);
            hits++;
        } else {
            CHECK(!"bad HI line in hits.txt");
        }
        vpxi_key_put(k);
    }
    CHECK(hits >= 7);
    CHECK_EQ(hits, ids);
    free(text);
}

/* ---- SPKI public-key expressions --------------------------------------------- */

static int canon_of(struct vpxi_sx *sx, const struct vpxi_sexp *n, const uint8_t **p, size_t *len)
{
    return vpxi_sexp_canonical(sx, n, p, len);
}

static void test_sexp_roundtrip(void)
{
#define HEAD(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *s;
        size_t len;
    } want_head[] = {
        [VPXI_KEY_RSA] = HEAD("(10:public-key(16:rsa-pkcs1-sha256(1:e3:\x01\x00\x01)(1:n385:\x00"),
        [VPXI_KEY_ECDSA_P256] = HEAD("(10:public-key(17:ecdsa-p256-sha256(1:q65:\x04"),
        [VPXI_KEY_ED25519] = HEAD("(10:public-key(7:ed25519(1:q32:"),
    };
#undef HEAD
    size_t i;

    for (i = 0; i < NALGS; i++) {
        enum vpxi_key_alg alg = all_algs[i];
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_key *k = vec_key(alg), *d = NULL;
        struct vpxi_sexp *n = NULL, *p = NULL;
        struct vpxi_wr w;
        const uint8_t *canon;
        size_t clen, hlen = want_head[alg].len;
        uint8_t id[VPXI_KEY_ID_LEN], h[VPXI_HASH_MAX_LEN], d256[VPXI_HASH_MAX_LEN];
        char text[4096];

        if (!k || !sx)
            goto next;
        CHECK_OK(vpxi_key_to_sexp(sx, k, &n));
        if (!n)
            goto next;
        CHECK_OK(canon_of(sx, n, &canon, &clen));
        CHECK(clen > hlen && memcmp(canon, want_head[alg].s, hlen) == 0);
        CHECK(canon[clen - 3] == ')' && canon[clen - 2] == ')' && canon[clen - 1] == ')');
        /* canonical bytes back to a key */
        CHECK_OK(vpxi_sexp_parse_canonical(sx, canon, clen, NULL, &p, NULL));
        CHECK_OK(vpxi_key_from_sexp(p, &d));
        CHECK(d && vpxi_key_public_equal(k, d));
        vpxi_key_put(d);
        d = NULL;
        /* advanced text through vpxi_key_parse */
        vpxi_wr_init(&w, text, sizeof(text));
        CHECK_OK(vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &w));
        CHECK_OK(vpxi_key_parse((const uint8_t *)text, w.len, &d));
        CHECK(d && vpxi_key_public_equal(k, d));
        vpxi_key_put(d);
        d = NULL;
        vpxi_wr_init(&w, text, sizeof(text));
        CHECK_OK(vpxi_sexp_write(n, VPXI_SEXP_TRANSPORT, &w));
        CHECK_OK(vpxi_key_parse((const uint8_t *)text, w.len, &d));
        CHECK(d && vpxi_key_public_equal(k, d));
        vpxi_key_put(d);
        /* key hash = hash of those canonical bytes */
        CHECK_OK(vpxi_key_id(k, id));
        CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, canon, clen, d256));
        CHECK_MEM(id, d256, VPXI_KEY_ID_LEN);
        CHECK_OK(vpxi_key_hash(k, VPXI_HASH_SHA384, h));
        CHECK_OK(vpxi_hash(VPXI_HASH_SHA384, canon, clen, d256));
        CHECK_MEM(h, d256, vpxi_hash_len(VPXI_HASH_SHA384));
        CHECK_ERR(vpxi_key_hash(k, VPXI_HASH_NONE, h), VPXI_ERR_UNSUPPORTED);
    next:
        vpxi_key_put(k);
        vpxi_sx_free(sx);
    }
}

/* Parses a template built with vpxi_sexp_vbuild and returns key_from_sexp's
 * code. */
static int from_built(const char *fmt, ...)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n = NULL;
    struct vpxi_key *k = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vpxi_sexp_vbuild(sx, &n, fmt, ap);
    va_end(ap);
    if (r == 0)
        r = vpxi_key_from_sexp(n, &k);
    CHECK(r != 0 || k != NULL);
    CHECK(r == 0 || k == NULL);
    vpxi_key_put(k);
    vpxi_sx_free(sx);
    return r;
}

/* Same for advanced-form text made with printf directives. */
__attribute__((format(printf, 1, 2))) static int from_text(const char *fmt, ...)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n = NULL;
    struct vpxi_key *k = NULL;
    char text[4096];
    va_list ap;
    int r;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r = vpxi_sexp_read(sx, (const uint8_t *)text, strlen(text), NULL, &n, NULL);
    if (r == 0)
        r = vpxi_key_from_sexp(n, &k);
    CHECK(r == 0 || k == NULL);
    vpxi_key_put(k);
    vpxi_sx_free(sx);
    return r;
}

static void test_sexp_bad(void)
{
    struct vpxi_key *ek = vec_key(VPXI_KEY_ED25519), *pk = vec_key(VPXI_KEY_ECDSA_P256);
    struct vpxi_key *rk = vec_key(VPXI_KEY_RSA);
    struct vpxi_pubraw raw;
    uint8_t eb[VPXI_PUBRAW_MAX], pb[VPXI_PUBRAW_MAX], rb[VPXI_PUBRAW_MAX];
    uint8_t q[65], n0[VPXI_PUBRAW_MAX + 1], e0[16];
    const uint8_t *ed, *n, *e;
    size_t nlen, elen;
    char ed_hex[65], n_hex[2 * VPXI_PUBRAW_MAX + 1];

    if (!ek || !pk || !rk)
        goto out;
    CHECK_OK(vpxi_key_export_public(ek, eb, sizeof(eb), &raw));
    ed = raw.ed;
    CHECK_OK(vpxi_key_export_public(pk, pb, sizeof(pb), &raw));
    q[0] = 4;
    memcpy(q + 1, raw.x, 32);
    memcpy(q + 33, raw.y, 32);
    CHECK_OK(vpxi_key_export_public(rk, rb, sizeof(rb), &raw));
    n = raw.n;
    nlen = raw.nlen;
    e = raw.e;
    elen = raw.elen;
    n0[0] = 0;
    memcpy(n0 + 1, n, nlen);
    e0[0] = 0;
    memcpy(e0 + 1, e, elen);
    vpxi_hex_encode(ed_hex, ed, 32);
    vpxi_hex_encode(n_hex, n, nlen);

    /* the good forms */
    CHECK_OK(from_built("(public-key (ed25519 (q %b)))", ed, (size_t)32));
    CHECK_OK(from_built("(public-key (ecdsa-p256-sha256 (q %b)))", q, sizeof(q)));
    CHECK_OK(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, elen, n0, nlen + 1));

    /* wrong names */
    CHECK_ERR(from_built("(public-keys (ed25519 (q %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(private-key (ed25519 (q %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed448 (q %b)))", ed, (size_t)32), VPXI_ERR_UNSUPPORTED);
    CHECK_ERR(from_built("(public-key (ecdsa-p256 (q %b)))", q, sizeof(q)), VPXI_ERR_UNSUPPORTED);
    CHECK_ERR(from_built("(public-key (ed25519 (p %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (x %b) (n %b)))", e, elen, n0, nlen + 1),
              VPXI_ERR_BAD_FORMAT);
    /* structure: missing, extra, nested, atoms where lists belong */
    CHECK_ERR(from_built("(public-key)"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key ())"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key ed25519)"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("public-key"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519))"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q)))"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 q))"), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q (%b))))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b)) x)", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b) x))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b x)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b) (q %b)))", ed, (size_t)32, ed, (size_t)32),
              VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b)))", e, elen), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b) (n %b)))", e, elen, n0,
                         nlen + 1, n0, nlen + 1),
              VPXI_ERR_BAD_FORMAT);
    /* order and duplicates */
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (n %b) (e %b)))", n0, nlen + 1, e, elen),
              VPXI_ERR_ORDER);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (e %b)))", e, elen, e, elen),
              VPXI_ERR_DUPLICATE);
    /* display hints anywhere */
    CHECK_ERR(from_built("([h]public-key (ed25519 (q %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key ([h]ed25519 (q %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (ed25519 ([h]q %b)))", ed, (size_t)32), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_text("(public-key (ed25519 (q [h]#%s#)))", ed_hex), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_text("(public-key (ed25519 (q [\"\"]#%s#)))", ed_hex), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_text("(public-key (rsa-pkcs1-sha256 (e [h]#010001#) (n #00%s#)))", n_hex),
              VPXI_ERR_BAD_FORMAT);
    CHECK_OK(from_text("(public-key (rsa-pkcs1-sha256 (e #010001#) (n #00%s#)))", n_hex));
    CHECK_OK(from_text("(public-key (ed25519 (q #%s#)))", ed_hex));
    /* integers: leading zeros, missing 00 before a set top bit, empty, lone 00 */
    CHECK_ERR(
        from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e0, elen + 1, n0, nlen + 1),
        VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, elen, n, nlen),
              VPXI_ERR_BAD_FORMAT);
    {
        uint8_t n00[VPXI_PUBRAW_MAX + 2] = { 0 };
        memcpy(n00 + 2, n, nlen);
        CHECK_ERR(
            from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, elen, n00, nlen + 2),
            VPXI_ERR_BAD_FORMAT);
    }
    CHECK_ERR(
        from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, (size_t)0, n0, nlen + 1),
        VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(
        from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e0, (size_t)1, n0, nlen + 1),
        VPXI_ERR_BAD_FORMAT);
    /* keys: even modulus, even exponent, short modulus, bad points and lengths */
    n0[nlen] &= 0xfe;
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, elen, n0, nlen + 1),
              VPXI_ERR_BAD_KEY);
    n0[nlen] |= 1;
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", "\x02", (size_t)1, n0,
                         nlen + 1),
              VPXI_ERR_BAD_KEY);
    CHECK_ERR(from_built("(public-key (rsa-pkcs1-sha256 (e %b) (n %b)))", e, elen, n0, (size_t)129),
              VPXI_ERR_BAD_KEY);
    CHECK_ERR(from_built("(public-key (ecdsa-p256-sha256 (q %b)))", q + 1, sizeof(q) - 1),
              VPXI_ERR_BAD_KEY);
    q[0] = 5;
    CHECK_ERR(from_built("(public-key (ecdsa-p256-sha256 (q %b)))", q, sizeof(q)),
              VPXI_ERR_BAD_KEY);
    q[0] = 4;
    q[64] ^= 1;
    CHECK_ERR(from_built("(public-key (ecdsa-p256-sha256 (q %b)))", q, sizeof(q)),
              VPXI_ERR_BAD_KEY);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b)))", ed, (size_t)31), VPXI_ERR_BAD_KEY);
    CHECK_ERR(from_built("(public-key (ed25519 (q %b)))", ed, (size_t)33), VPXI_ERR_BAD_KEY);
out:
    vpxi_key_put(ek);
    vpxi_key_put(pk);
    vpxi_key_put(rk);
}

#define S(str) (const uint8_t *)(str), strlen(str)

/* vpxi_key_parse on text: forms, garbage, every truncation. */
static void test_parse_text(void)
{
    static const char ed_adv[] =
        "(public-key (ed25519 (q |cE9on3a4SYXMizBStKfaXP6sSN8TJXJvjce8SP6MUeo=|)))";
    struct vpxi_key *k = NULL, *want = vec_key(VPXI_KEY_ED25519);
    size_t n, len = strlen(ed_adv);

    CHECK_OK(vpxi_key_parse((const uint8_t *)ed_adv, len, &k));
    CHECK(k && want && vpxi_key_public_equal(k, want));
    vpxi_key_put(k);
    for (n = 0; n < len; n++) {
        k = NULL;
        CHECK(vpxi_key_parse((const uint8_t *)ed_adv, n, &k) != 0);
        CHECK(k == NULL);
    }
    CHECK_ERR(vpxi_key_parse((const uint8_t *)"hello", 5, &k), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_key_parse(S("-----BEGIN PRIVATE KEY-----\nAAAA\n"), &k), VPXI_ERR_BAD_KEY);
    CHECK_ERR(vpxi_key_parse(S("-----BEGIN PUBLIC KEY-----\nAAAA\n"), &k), VPXI_ERR_BAD_KEY);
    CHECK_ERR(vpxi_key_parse(S("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"), &k),
              VPXI_ERR_UNSUPPORTED);
    CHECK_ERR(vpxi_key_parse(S("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"), &k),
              VPXI_ERR_UNSUPPORTED);
    CHECK(k == NULL);
    vpxi_key_put(want);
}

/* Allocation failures in the S-expression paths leak nothing (ASan) and
 * report VPXI_ERR_NOMEM. */
static void test_alloc_failures(void)
{
    struct vpxi_key *k = vec_key(VPXI_KEY_ED25519), *d;
    static const char ed_adv[] =
        "(public-key (ed25519 (q |cE9on3a4SYXMizBStKfaXP6sSN8TJXJvjce8SP6MUeo=|)))";
    uint8_t id[VPXI_KEY_ID_LEN];
    long n;
    int r;

    if (!k)
        return;
    for (n = 0; n < 100; n++) {
        vpxi_alloc_fail_after(n);
        r = vpxi_key_id(k, id);
        vpxi_alloc_fail_after(-1);
        CHECK(r == 0 || r == VPXI_ERR_NOMEM);
        if (r == 0)
            break;
    }
    CHECK(n < 100);
    for (n = 0; n < 100; n++) {
        d = NULL;
        vpxi_alloc_fail_after(n);
        r = vpxi_key_parse((const uint8_t *)ed_adv, strlen(ed_adv), &d);
        vpxi_alloc_fail_after(-1);
        CHECK(r == 0 || r == VPXI_ERR_NOMEM);
        vpxi_key_put(d);
        if (r == 0)
            break;
    }
    CHECK(n < 100);
    vpxi_key_put(k);
}

/* ---- files ----------------------------------------------------------------- */

static char tmpdir[] = "/tmp/vpxi-test-identity-XXXXXX";

static const char *tpath(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffffu;
}

static int count_entries(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void write_text(const char *path, const void *p, size_t n, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, p, n) == (ssize_t)n);
    close(fd);
    CHECK(chmod(path, mode) == 0);
}

static void test_files(void)
{
    size_t i;

    for (i = 0; i < NALGS; i++) {
        enum vpxi_key_alg alg = all_algs[i];
        struct vpxi_key *k = vec_key(alg), *d = NULL, *pub = NULL;
        char priv[256], pubp[256 + 8];
        struct vpxi_wr w;

        if (!k)
            continue;
        snprintf(priv, sizeof(priv), "%s", tpath(vpxi_key_alg_name(alg)));
        snprintf(pubp, sizeof(pubp), "%s.pub", priv);
        CHECK_OK(vpxi_key_save_private(priv, k, false));
        CHECK_EQ(file_mode(priv), 0600);
        CHECK_OK(vpxi_key_load(priv, &d));
        CHECK(d && vpxi_key_is_private(d) && vpxi_key_public_equal(k, d));
        vpxi_key_put(d);
        CHECK_OK(vpxi_key_load_private(priv, &d));
        CHECK(d && vpxi_key_is_private(d));
        vpxi_key_put(d);
        /* no overwrite unless asked; no temporary file left behind */
        CHECK_ERR(vpxi_key_save_private(priv, k, false), VPXI_ERR_EXISTS);
        CHECK_OK(vpxi_key_save_private(priv, k, true));
        CHECK_EQ(file_mode(priv), 0600);
        CHECK_EQ(count_entries(), 1);
        /* group or other bits: refused */
        CHECK(chmod(priv, 0640) == 0);
        CHECK_ERR(vpxi_key_load(priv, &d), VPXI_ERR_KEY_PERMS);
        CHECK_ERR(vpxi_key_load_private(priv, &d), VPXI_ERR_KEY_PERMS);
        CHECK(chmod(priv, 0604) == 0);
        CHECK_ERR(vpxi_key_load(priv, &d), VPXI_ERR_KEY_PERMS);
        CHECK(chmod(priv, 0400) == 0);
        CHECK_OK(vpxi_key_load(priv, &d));
        vpxi_key_put(d);
        /* public key: S-expression, any mode, not private */
        CHECK_OK(vpxi_key_save_public(pubp, k, false));
        CHECK_ERR(vpxi_key_save_public(pubp, k, false), VPXI_ERR_EXISTS);
        CHECK(chmod(pubp, 0644) == 0);
        CHECK_OK(vpxi_key_load(pubp, &pub));
        CHECK(pub && !vpxi_key_is_private(pub) && vpxi_key_public_equal(k, pub));
        CHECK_ERR(vpxi_key_load_private(pubp, &d), VPXI_ERR_BAD_KEY);
        CHECK(d == NULL);
        CHECK_ERR(vpxi_key_save_private(tpath("x"), pub, false), VPXI_ERR_INVALID);
        /* public key as PEM, mode 0644 */
        vpxi_wr_init_dyn(&w, 0);
        CHECK_OK(vpxi_key_public_to_pem(k, &w));
        write_text(tpath("pub.pem"), w.p, w.len, 0644);
        vpxi_wr_clear(&w);
        CHECK_OK(vpxi_key_load(tpath("pub.pem"), &d));
        CHECK(d && !vpxi_key_is_private(d) && vpxi_key_public_equal(k, d));
        vpxi_key_put(d);
        vpxi_key_put(pub);
        CHECK(unlink(priv) == 0);
        CHECK(unlink(pubp) == 0);
        CHECK(unlink(tpath("pub.pem")) == 0);
        CHECK_EQ(count_entries(), 0);
        vpxi_key_put(k);
    }
}

static void test_files_bad(void)
{
    struct vpxi_key *d = NULL;
    char *big = calloc(1, VPXI_KEYFILE_MAX + 1);
    size_t len = 0;
    char *pem = t_read_file(t_vector_path("keys/p256-1.pem"), &len);

    errno = 0;
    CHECK_ERR(vpxi_key_load(tpath("missing"), &d), VPXI_ERR_SYS);
    CHECK_EQ(errno, ENOENT);
    CHECK_ERR(vpxi_key_load(tmpdir, &d), VPXI_ERR_SYS);
    CHECK_EQ(errno, EISDIR);
    if (big) {
        memset(big, ' ', VPXI_KEYFILE_MAX + 1);
        write_text(tpath("big"), big, VPXI_KEYFILE_MAX + 1, 0600);
        CHECK_ERR(vpxi_key_load(tpath("big"), &d), VPXI_ERR_TOO_LARGE);
        CHECK_ERR(vpxi_key_parse((uint8_t *)big, VPXI_KEYFILE_MAX + 1, &d), VPXI_ERR_TOO_LARGE);
        /* exactly the maximum is read (and then is not a key) */
        write_text(tpath("big"), big, VPXI_KEYFILE_MAX, 0600);
        CHECK_ERR(vpxi_key_load(tpath("big"), &d), VPXI_ERR_TRUNCATED);
        CHECK(unlink(tpath("big")) == 0);
    }
    /* a private PEM with text before it is still a private PEM */
    if (pem) {
        char *txt = malloc(len + 16);
        memcpy(txt, "comment\n", 8);
        memcpy(txt + 8, pem, len);
        write_text(tpath("k"), txt, len + 8, 0644);
        CHECK_ERR(vpxi_key_load(tpath("k"), &d), VPXI_ERR_KEY_PERMS);
        CHECK(chmod(tpath("k"), 0600) == 0);
        CHECK_OK(vpxi_key_load(tpath("k"), &d));
        vpxi_key_put(d);
        d = NULL;
        CHECK(unlink(tpath("k")) == 0);
        free(txt);
    }
    /* a directory that does not exist */
    {
        struct vpxi_key *k = NULL;
        CHECK_OK(vpxi_key_generate(VPXI_KEY_ED25519, 0, &k));
        errno = 0;
        CHECK_ERR(vpxi_key_save_private(tpath("nodir/k"), k, false), VPXI_ERR_SYS);
        CHECK_EQ(errno, ENOENT);
        vpxi_key_put(k);
    }
    CHECK(d == NULL);
    free(pem);
    free(big);
}

int main(void)
{
    RUN(test_hi_roundtrip);
    RUN(test_hi_ecdsa_forms);
    RUN(test_hi_truncated);
    RUN(test_hi_bad);
    RUN(test_hit_bits);
    RUN(test_hit_str);
    RUN(test_hit_from_hi_bad);
    RUN(test_known_answers);
    RUN(test_sexp_roundtrip);
    RUN(test_sexp_bad);
    RUN(test_parse_text);
    RUN(test_alloc_failures);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_files);
    RUN(test_files_bad);
    rmdir(tmpdir);
    T_DONE();
}
