/*
 * identity.c - host identities: HI fields (RFC 7401 5.2.9, RFC 3110,
 * RFC 9374), HITs (ORCHIDv2, RFC 7343), SPKI public-key expressions and key
 * files.
 *
 * Each key algorithm is one row of algs[]: its HI algorithm number, HIT
 * suite, SPKI name and field names, and the four converters between the raw
 * public components (struct vpxi_pubraw) and the HI field / SPKI fields.
 * Everything else is algorithm-neutral and dispatches through that table.
 *
 * Decisions where the RFCs leave room (see /work/notes/hip-wire.md 1.5, 7):
 *  - ECDSA HI: we emit curve | 04 | x | y (67 octets for P-256); we accept
 *    curve | x | y (66 octets) as well. The HIT is computed over the HI
 *    field exactly as carried, so the two forms give different HITs.
 *  - Suite 5 (EdDSA): cSHAKE128(X = HI field, i.e. curve | key, L = 96,
 *    N = "", S = context ID), the form RFC 9374 3.5.2 gives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

const uint8_t vpxi_hip_context_id[16] = {
    0xf0, 0xef, 0xf0, 0x2f, 0xbf, 0xf4, 0x3d, 0x0f, 0xe7, 0x93, 0x0c, 0x3c, 0x6e, 0x61, 0x74, 0xea,
};

enum {
    ORCHID_PREFIX_LEN = 4,                              /* 28-bit prefix + 4-bit OGA ID */
    ORCHID_HASH_LEN = VPXI_HIT_LEN - ORCHID_PREFIX_LEN, /* 96 bits */
    ORCHID_OGA_MASK = 0x0f,                             /* OGA ID: low nibble of byte 3 */
    P256_POINT_LEN = 1 + 2 * VPXI_P256_COORD_LEN,       /* 04 | x | y */
    SEC1_UNCOMPRESSED = 0x04,
    RSA_ELEN_SHORT_MAX = 255,                 /* RFC 3110: longer exponents use 0 + 2-byte length */
    SPKI_INT_MAX = 1 + VPXI_RSA_BITS_MAX / 8, /* 00 | 8192-bit modulus */
    SPKI_FIELDS_MAX = 2,
    /* Parser caps for a key file, above what a public key needs so that a
     * malformed key is reported by vpxi_key_from_sexp, not as a limit. */
    KEY_SEXP_LIST_MAX = 8,
    KEY_SEXP_DEPTH_MAX = 8,
    KEY_SEXP_NODES_MAX = 64,
    TMP_RANDOM_LEN = 8, /* random octets in a temporary file name */
};

/* 2001:20::/28: the first 28 bits of an ORCHIDv2. */
static const uint8_t orchid_prefix[ORCHID_PREFIX_LEN] = { 0x20, 0x01, 0x00, 0x20 };

static const char pem_begin[] = "-----BEGIN";
static const char pem_public[] = "-----BEGIN PUBLIC KEY-----";
static const char pem_encrypted[] = "ENCRYPTED";

/* S-expression limits for a key file: a public-key expression is small. */
static const struct vpxi_sexp_limits key_sexp_limits = {
    .atom_max = SPKI_INT_MAX,
    .list_max = KEY_SEXP_LIST_MAX,
    .depth_max = KEY_SEXP_DEPTH_MAX,
    .nodes_max = KEY_SEXP_NODES_MAX,
    .input_max = VPXI_KEYFILE_MAX,
};

/* One SPKI field value: borrowed octets. */
struct field {
    const uint8_t *p;
    size_t len;
};

struct alg_impl {
    enum vpxi_key_alg key;
    uint16_t hi_alg;
    enum vpxi_hit_suite suite;
    const char *spki_name;
    const char *fields[SPKI_FIELDS_MAX];
    size_t nfields;
    /* raw -> HI field */
    int (*hi_put)(const struct vpxi_pubraw *raw, struct vpxi_wr *w);
    /* HI field -> raw (pointers into the input); the reader holds the whole field */
    int (*hi_get)(struct vpxi_rd *rd, struct vpxi_pubraw *raw);
    /* raw -> SPKI field values (may use buf, SPKI_INT_MAX * nfields octets) */
    void (*sx_put)(const struct vpxi_pubraw *raw, uint8_t *buf, struct field *f);
    /* SPKI field values -> raw (pointers into the atoms) */
    int (*sx_get)(const struct field *f, struct vpxi_pubraw *raw);
};

/* ---- SPKI integers ------------------------------------------------------- */

/* Minimal big-endian integer with a 00 octet in front when the top bit is
 * set. in has no leading zeros (vpxi_key_export_public guarantees it). */
static void spki_int_put(const uint8_t *in, size_t len, uint8_t *buf, struct field *f)
{
    size_t pad = (len && (in[0] & 0x80)) ? 1 : 0;

    buf[0] = 0;
    memcpy(buf + pad, in, len);
    f->p = buf;
    f->len = len + pad;
}

/* Inverse of spki_int_put; rejects empty, negative and non-minimal integers. */
static int spki_int_get(const struct field *f, const uint8_t **p, size_t *len)
{
    *p = NULL;
    *len = 0;
    if (f->len == 0 || (f->p[0] & 0x80))
        return VPXI_ERR_BAD_FORMAT;
    if (f->p[0] == 0 && (f->len == 1 || !(f->p[1] & 0x80)))
        return VPXI_ERR_BAD_FORMAT;
    *p = f->p[0] ? f->p : f->p + 1;
    *len = f->p[0] ? f->len : f->len - 1;
    return 0;
}

/* ---- RSA ------------------------------------------------------------------- */

static int rsa_hi_put(const struct vpxi_pubraw *raw, struct vpxi_wr *w)
{
    if (raw->elen > RSA_ELEN_SHORT_MAX) {
        vpxi_wr_u8(w, 0);
        vpxi_wr_u16(w, (uint16_t)raw->elen);
    } else {
        vpxi_wr_u8(w, (uint8_t)raw->elen);
    }
    vpxi_wr_bytes(w, raw->e, raw->elen);
    return vpxi_wr_bytes(w, raw->n, raw->nlen);
}

static int rsa_hi_get(struct vpxi_rd *rd, struct vpxi_pubraw *raw)
{
    uint8_t b;
    uint16_t elen;

    if (vpxi_rd_u8(rd, &b) != 0)
        return rd->err;
    elen = b;
    if (b == 0) {
        if (vpxi_rd_u16(rd, &elen) != 0)
            return rd->err;
        if (elen == 0)
            return VPXI_ERR_BAD_KEY; /* zero-length exponent */
        if (elen <= RSA_ELEN_SHORT_MAX)
            return VPXI_ERR_BAD_FORMAT; /* the long form is only for e > 255 octets */
    }
    if (vpxi_rd_bytes(rd, elen, &raw->e) != 0)
        return rd->err;
    raw->elen = elen;
    raw->nlen = vpxi_rd_left(rd);
    if (raw->nlen == 0)
        return VPXI_ERR_TRUNCATED;
    return vpxi_rd_bytes(rd, raw->nlen, &raw->n);
}

static void rsa_sx_put(const struct vpxi_pubraw *raw, uint8_t *buf, struct field *f)
{
    spki_int_put(raw->e, raw->elen, buf, &f[0]);
    spki_int_put(raw->n, raw->nlen, buf + SPKI_INT_MAX, &f[1]);
}

static int rsa_sx_get(const struct field *f, struct vpxi_pubraw *raw)
{
    int r;

    if ((r = spki_int_get(&f[0], &raw->e, &raw->elen)) != 0 ||
        (r = spki_int_get(&f[1], &raw->n, &raw->nlen)) != 0)
        return r;
    return 0;
}

/* ---- ECDSA P-256 ----------------------------------------------------------- */

static int p256_hi_put(const struct vpxi_pubraw *raw, struct vpxi_wr *w)
{
    vpxi_wr_u16(w, VPXI_ECDSA_CURVE_P256);
    vpxi_wr_u8(w, SEC1_UNCOMPRESSED);
    vpxi_wr_bytes(w, raw->x, VPXI_P256_COORD_LEN);
    return vpxi_wr_bytes(w, raw->y, VPXI_P256_COORD_LEN);
}

/* Accepts 04 | x | y and x | y (see the top of the file). */
static int p256_hi_get(struct vpxi_rd *rd, struct vpxi_pubraw *raw)
{
    uint16_t curve;
    size_t left;

    if (vpxi_rd_u16(rd, &curve) != 0)
        return rd->err;
    if (curve != VPXI_ECDSA_CURVE_P256)
        return VPXI_ERR_UNSUPPORTED;
    left = vpxi_rd_left(rd);
    if (left < 2 * VPXI_P256_COORD_LEN)
        return VPXI_ERR_TRUNCATED;
    if (left > 2 * VPXI_P256_COORD_LEN) {
        if (rd->p[0] != SEC1_UNCOMPRESSED)
            return VPXI_ERR_TRAILING_DATA; /* x | y followed by junk */
        (void)vpxi_rd_skip(rd, 1);
    }
    vpxi_rd_bytes(rd, VPXI_P256_COORD_LEN, &raw->x);
    return vpxi_rd_bytes(rd, VPXI_P256_COORD_LEN, &raw->y);
}

static void p256_sx_put(const struct vpxi_pubraw *raw, uint8_t *buf, struct field *f)
{
    buf[0] = SEC1_UNCOMPRESSED;
    memcpy(buf + 1, raw->x, VPXI_P256_COORD_LEN);
    memcpy(buf + 1 + VPXI_P256_COORD_LEN, raw->y, VPXI_P256_COORD_LEN);
    f[0].p = buf;
    f[0].len = P256_POINT_LEN;
}

static int p256_sx_get(const struct field *f, struct vpxi_pubraw *raw)
{
    if (f[0].len != P256_POINT_LEN || f[0].p[0] != SEC1_UNCOMPRESSED)
        return VPXI_ERR_BAD_KEY;
    raw->x = f[0].p + 1;
    raw->y = f[0].p + 1 + VPXI_P256_COORD_LEN;
    return 0;
}

/* ---- Ed25519 --------------------------------------------------------------- */

static int ed25519_hi_put(const struct vpxi_pubraw *raw, struct vpxi_wr *w)
{
    vpxi_wr_u16(w, VPXI_EDDSA_CURVE_ED25519);
    return vpxi_wr_bytes(w, raw->ed, VPXI_ED25519_LEN);
}

static int ed25519_hi_get(struct vpxi_rd *rd, struct vpxi_pubraw *raw)
{
    uint16_t curve;

    if (vpxi_rd_u16(rd, &curve) != 0)
        return rd->err;
    if (curve != VPXI_EDDSA_CURVE_ED25519)
        return VPXI_ERR_UNSUPPORTED;
    return vpxi_rd_bytes(rd, VPXI_ED25519_LEN, &raw->ed);
}

static void ed25519_sx_put(const struct vpxi_pubraw *raw, uint8_t *buf, struct field *f)
{
    f[0].p = raw->ed;
    f[0].len = VPXI_ED25519_LEN;
}

static int ed25519_sx_get(const struct field *f, struct vpxi_pubraw *raw)
{
    if (f[0].len != VPXI_ED25519_LEN)
        return VPXI_ERR_BAD_KEY;
    raw->ed = f[0].p;
    return 0;
}

/* ---- the algorithm table -------------------------------------------------- */

static const struct alg_impl algs[] = {
    [VPXI_KEY_RSA] = {
        .key = VPXI_KEY_RSA,
        .hi_alg = VPXI_HI_RSA,
        .suite = VPXI_HIT_SUITE_RSA,
        .spki_name = "rsa-pkcs1-sha256",
        .fields = { "e", "n" },
        .nfields = 2,
        .hi_put = rsa_hi_put,
        .hi_get = rsa_hi_get,
        .sx_put = rsa_sx_put,
        .sx_get = rsa_sx_get,
    },
    [VPXI_KEY_ECDSA_P256] = {
        .key = VPXI_KEY_ECDSA_P256,
        .hi_alg = VPXI_HI_ECDSA,
        .suite = VPXI_HIT_SUITE_ECDSA,
        .spki_name = "ecdsa-p256-sha256",
        .fields = { "q" },
        .nfields = 1,
        .hi_put = p256_hi_put,
        .hi_get = p256_hi_get,
        .sx_put = p256_sx_put,
        .sx_get = p256_sx_get,
    },
    [VPXI_KEY_ED25519] = {
        .key = VPXI_KEY_ED25519,
        .hi_alg = VPXI_HI_EDDSA,
        .suite = VPXI_HIT_SUITE_EDDSA,
        .spki_name = "ed25519",
        .fields = { "q" },
        .nfields = 1,
        .hi_put = ed25519_hi_put,
        .hi_get = ed25519_hi_get,
        .sx_put = ed25519_sx_put,
        .sx_get = ed25519_sx_get,
    },
};
enum { NALGS = sizeof(algs) / sizeof(algs[0]) };

static const struct alg_impl *impl_by_key(enum vpxi_key_alg a)
{
    if ((unsigned)a >= NALGS || !algs[a].spki_name)
        return NULL;
    return &algs[a];
}

static const struct alg_impl *impl_by_hi(uint16_t hi_alg)
{
    size_t i;

    for (i = 0; i < NALGS; i++)
        if (algs[i].spki_name && algs[i].hi_alg == hi_alg)
            return &algs[i];
    return NULL;
}

static const struct alg_impl *impl_by_spki(const struct vpxi_sexp *name)
{
    size_t i;

    for (i = 0; i < NALGS; i++)
        if (algs[i].spki_name && vpxi_sexp_atom_is(name, algs[i].spki_name))
            return &algs[i];
    return NULL;
}

/* HIT suites: the hash and which 96 bits of it (the middle ones, RFC 7343
 * and RFC 9374 4.3); VPXI_HASH_NONE means cSHAKE128 with L = 96. */
static const struct suite_impl {
    enum vpxi_hit_suite suite;
    enum vpxi_hash_alg hash;
} suites[] = {
    { VPXI_HIT_SUITE_RSA, VPXI_HASH_SHA256 },
    { VPXI_HIT_SUITE_ECDSA, VPXI_HASH_SHA384 },
    { VPXI_HIT_SUITE_EDDSA, VPXI_HASH_NONE },
};

static const struct suite_impl *suite_by_id(enum vpxi_hit_suite s)
{
    size_t i;

    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
        if (suites[i].suite == s)
            return &suites[i];
    return NULL;
}

/* ---- HI and HIT ------------------------------------------------------------ */

int vpxi_hi_encode(const struct vpxi_key *k, uint8_t *out, size_t cap, size_t *len,
                   uint16_t *hi_alg)
{
    const struct alg_impl *a;
    struct vpxi_pubraw raw;
    struct vpxi_wr w;
    uint8_t buf[VPXI_PUBRAW_MAX];
    int r = VPXI_ERR_INTERNAL;

    *len = 0;
    *hi_alg = 0;
    if (!k || !out)
        vpxi_misuse("vpxi_hi_encode");
    if ((a = impl_by_key(vpxi_key_alg(k))) == NULL) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if ((r = vpxi_key_export_public(k, buf, sizeof(buf), &raw)) != 0)
        goto out;
    vpxi_wr_init(&w, out, cap);
    if ((r = a->hi_put(&raw, &w)) != 0)
        goto out;
    *len = w.len;
    *hi_alg = a->hi_alg;
    r = 0;
out:
    return r;
}

int vpxi_hi_decode(uint16_t hi_alg, const uint8_t *hi, size_t len, struct vpxi_key **out)
{
    const struct alg_impl *a;
    struct vpxi_pubraw raw;
    struct vpxi_rd rd;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    memset(&raw, 0, sizeof(raw));
    if ((a = impl_by_hi(hi_alg)) == NULL) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if (len > VPXI_HI_MAX) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    raw.alg = a->key;
    vpxi_rd_init(&rd, hi, len);
    if ((r = a->hi_get(&rd, &raw)) != 0 || (r = vpxi_rd_end(&rd)) != 0)
        goto out;
    if ((r = vpxi_key_import_public(&raw, out)) != 0)
        goto out;
    r = 0;
out:
    return r;
}

enum vpxi_hit_suite vpxi_hit_suite_of_key(const struct vpxi_key *k)
{
    const struct alg_impl *a = impl_by_key(vpxi_key_alg(k));

    return a ? a->suite : (enum vpxi_hit_suite)0;
}

/*
 * The HI field is hashed as given: its structure is checked by
 * vpxi_hi_decode, which every consumer of a peer's HOST_ID runs anyway to
 * verify signatures. Here we only need the algorithm to pick the suite.
 */
int vpxi_hit_from_hi(uint16_t hi_alg, const uint8_t *hi, size_t len,
                     uint8_t hit[static VPXI_HIT_LEN])
{
    const struct alg_impl *a;
    const struct suite_impl *s;
    uint8_t in[sizeof(vpxi_hip_context_id) + VPXI_HI_MAX];
    uint8_t digest[VPXI_HASH_MAX_LEN];
    size_t dlen;
    int r = VPXI_ERR_INTERNAL;

    memset(hit, 0, VPXI_HIT_LEN);
    if ((a = impl_by_hi(hi_alg)) == NULL || (s = suite_by_id(a->suite)) == NULL) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if (len == 0) {
        r = VPXI_ERR_TRUNCATED;
        goto out;
    }
    if (len > VPXI_HI_MAX) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    memcpy(hit, orchid_prefix, ORCHID_PREFIX_LEN);
    hit[ORCHID_PREFIX_LEN - 1] |= (uint8_t)(a->suite & ORCHID_OGA_MASK);
    if (s->hash == VPXI_HASH_NONE) {
        /* RFC 9374 3.5.2: cSHAKE128(Input, L, "", Context ID) */
        vpxi_cshake128(hi, len, NULL, 0, vpxi_hip_context_id, sizeof(vpxi_hip_context_id),
                       hit + ORCHID_PREFIX_LEN, ORCHID_HASH_LEN);
        r = 0;
        goto out;
    }
    memcpy(in, vpxi_hip_context_id, sizeof(vpxi_hip_context_id));
    memcpy(in + sizeof(vpxi_hip_context_id), hi, len);
    if ((r = vpxi_hash(s->hash, in, sizeof(vpxi_hip_context_id) + len, digest)) != 0)
        goto out;
    dlen = vpxi_hash_len(s->hash);
    memcpy(hit + ORCHID_PREFIX_LEN, digest + (dlen - ORCHID_HASH_LEN) / 2, ORCHID_HASH_LEN);
    r = 0;
out:
    if (r)
        memset(hit, 0, VPXI_HIT_LEN);
    return r;
}

int vpxi_hit_from_key(const struct vpxi_key *k, uint8_t hit[static VPXI_HIT_LEN])
{
    uint8_t hi[VPXI_HI_MAX];
    uint16_t hi_alg;
    size_t len;
    int r = VPXI_ERR_INTERNAL;

    memset(hit, 0, VPXI_HIT_LEN);
    if ((r = vpxi_hi_encode(k, hi, sizeof(hi), &len, &hi_alg)) != 0 ||
        (r = vpxi_hit_from_hi(hi_alg, hi, len, hit)) != 0)
        goto out;
    r = 0;
out:
    return r;
}

bool vpxi_hit_is_orchid(const uint8_t hit[static VPXI_HIT_LEN])
{
    return memcmp(hit, orchid_prefix, ORCHID_PREFIX_LEN - 1) == 0 &&
           (hit[ORCHID_PREFIX_LEN - 1] & ~ORCHID_OGA_MASK) == orchid_prefix[ORCHID_PREFIX_LEN - 1];
}

unsigned vpxi_hit_suite(const uint8_t hit[static VPXI_HIT_LEN])
{
    return hit[ORCHID_PREFIX_LEN - 1] & ORCHID_OGA_MASK;
}

void vpxi_hit_to_str(const uint8_t hit[static VPXI_HIT_LEN], char out[static VPXI_HIT_STRLEN])
{
    if (!inet_ntop(AF_INET6, hit, out, VPXI_HIT_STRLEN))
        vpxi_misuse("vpxi_hit_to_str");
}

/* Any IPv6 text form inet_pton accepts, as long as it is an ORCHID. */
int vpxi_hit_from_str(const char *s, uint8_t hit[static VPXI_HIT_LEN])
{
    memset(hit, 0, VPXI_HIT_LEN);
    if (inet_pton(AF_INET6, s, hit) != 1)
        return VPXI_ERR_BAD_FORMAT;
    if (!vpxi_hit_is_orchid(hit)) {
        memset(hit, 0, VPXI_HIT_LEN);
        return VPXI_ERR_BAD_FORMAT;
    }
    return 0;
}

/* ---- SPKI principal form ----------------------------------------------------- */

int vpxi_key_to_sexp(struct vpxi_sx *sx, const struct vpxi_key *k, struct vpxi_sexp **out)
{
    const struct alg_impl *a;
    struct vpxi_pubraw raw;
    struct vpxi_sexp *top = NULL, *alg = NULL, *f = NULL;
    struct field fields[SPKI_FIELDS_MAX];
    uint8_t buf[VPXI_PUBRAW_MAX], fbuf[SPKI_FIELDS_MAX * SPKI_INT_MAX];
    size_t i;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if ((a = impl_by_key(vpxi_key_alg(k))) == NULL) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if ((r = vpxi_key_export_public(k, buf, sizeof(buf), &raw)) != 0)
        goto out;
    a->sx_put(&raw, fbuf, fields);
    if ((r = vpxi_sexp_build(sx, &top, "(public-key)")) != 0 ||
        (r = vpxi_sexp_build(sx, &alg, "(%s)", a->spki_name)) != 0)
        goto out;
    for (i = 0; i < a->nfields; i++) {
        if ((r = vpxi_sexp_build(sx, &f, "(%s %b)", a->fields[i], fields[i].p, fields[i].len)) != 0)
            goto out;
        vpxi_sexp_append(alg, f);
    }
    vpxi_sexp_append(top, alg);
    *out = top;
    r = 0;
out:
    return r;
}

/*
 * (NAME VALUE) with a hint-free atom NAME = want and a hint-free atom VALUE.
 * A list that names another field of the algorithm is out of order (it
 * belongs later) or a duplicate (it came earlier).
 */
static int spki_field(const struct alg_impl *a, size_t i, const struct vpxi_sexp *n,
                      struct field *f)
{
    const struct vpxi_sexp *v;
    size_t j;

    if (!vpxi_sexp_head_is(n, a->fields[i])) {
        for (j = 0; j < a->nfields; j++)
            if (j != i && vpxi_sexp_head_is(n, a->fields[j]))
                return j > i ? VPXI_ERR_ORDER : VPXI_ERR_DUPLICATE;
        return VPXI_ERR_BAD_FORMAT;
    }
    v = n->child->next;
    if (n->len != 2 || !vpxi_sexp_is_atom(v) || v->hint)
        return VPXI_ERR_BAD_FORMAT;
    f->p = v->data;
    f->len = v->len;
    return 0;
}

/* The raw public components of a (public-key ...) expression; syntax only. */
static int sexp_to_raw(const struct vpxi_sexp *n, struct vpxi_pubraw *raw)
{
    const struct alg_impl *a;
    const struct vpxi_sexp *alg, *e;
    struct field fields[SPKI_FIELDS_MAX];
    size_t i;
    int r;

    memset(raw, 0, sizeof(*raw));
    if (!vpxi_sexp_head_is(n, "public-key") || n->len != 2 ||
        !vpxi_sexp_is_list(alg = n->child->next) || !vpxi_sexp_is_atom(alg->child) ||
        alg->child->hint)
        return VPXI_ERR_BAD_FORMAT;
    if ((a = impl_by_spki(alg->child)) == NULL)
        return VPXI_ERR_UNSUPPORTED;
    for (i = 0, e = alg->child->next; i < a->nfields; i++, e = e->next) {
        if (!e)
            return VPXI_ERR_BAD_FORMAT;
        if ((r = spki_field(a, i, e, &fields[i])) != 0)
            return r;
    }
    if (e)
        return VPXI_ERR_BAD_FORMAT;
    raw->alg = a->key;
    return a->sx_get(fields, raw);
}

int vpxi_key_sexp_check(const struct vpxi_sexp *n)
{
    struct vpxi_pubraw raw;

    return sexp_to_raw(n, &raw);
}

int vpxi_key_from_sexp(const struct vpxi_sexp *n, struct vpxi_key **out)
{
    struct vpxi_pubraw raw;
    int r;

    *out = NULL;
    if ((r = sexp_to_raw(n, &raw)) != 0)
        return r;
    return vpxi_key_import_public(&raw, out);
}

int vpxi_key_hash(const struct vpxi_key *k, enum vpxi_hash_alg alg, uint8_t *out)
{
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    const uint8_t *canon;
    size_t clen;
    int r = VPXI_ERR_INTERNAL;

    if (vpxi_hash_len(alg) == 0) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    if ((sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((r = vpxi_key_to_sexp(sx, k, &n)) != 0 ||
        (r = vpxi_sexp_canonical(sx, n, &canon, &clen)) != 0 ||
        (r = vpxi_hash(alg, canon, clen, out)) != 0)
        goto out;
    r = 0;
out:
    vpxi_sx_free(sx);
    return r;
}

int vpxi_key_id(const struct vpxi_key *k, uint8_t id[static VPXI_KEY_ID_LEN])
{
    return vpxi_key_hash(k, VPXI_HASH_SHA256, id);
}

/* ---- files ----------------------------------------------------------------- */

static int sys_err(void)
{
    return errno == ENOSPC ? VPXI_ERR_NOSPACE : VPXI_ERR_SYS;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    ssize_t w;

    while (n) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return sys_err();
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path, so that a rename is durable. */
static int fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    int fd = -1, r = VPXI_ERR_INTERNAL;

    if (!slash)
        dir = vpxi_strdup(".");
    else if (slash == path)
        dir = vpxi_strdup("/");
    else if ((dir = vpxi_memdup(path, (size_t)(slash - path) + 1)) != NULL)
        dir[slash - path] = '\0';
    if (!dir) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
        r = sys_err();
        goto out;
    }
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    vpxi_free(dir);
    return r;
}

/* Moves tmp to path; without overwrite, atomically refuses an existing path. */
static int install(const char *tmp, const char *path, bool overwrite)
{
    if (overwrite)
        return rename(tmp, path) == 0 ? 0 : sys_err();
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EEXIST)
        return VPXI_ERR_EXISTS;
    if (errno != EINVAL && errno != ENOSYS)
        return sys_err();
    /* file system without RENAME_NOREPLACE: link() refuses to replace too */
    if (link(tmp, path) != 0)
        return errno == EEXIST ? VPXI_ERR_EXISTS : sys_err();
    unlink(tmp);
    return 0;
}

/*
 * Writes p to a fresh temporary file beside path (O_EXCL, the given mode),
 * fsyncs it, renames it into place and fsyncs the directory. errno is kept
 * for VPXI_ERR_SYS.
 */
static int write_atomic(const char *path, const uint8_t *p, size_t n, mode_t mode, bool exact,
                        bool overwrite)
{
    struct stat st;
    uint8_t rnd[TMP_RANDOM_LEN];
    char hex[2 * sizeof(rnd) + 1], *tmp = NULL;
    size_t tlen;
    int fd = -1, saved = 0, r = VPXI_ERR_INTERNAL;
    bool created = false;

    if (!overwrite && lstat(path, &st) == 0) {
        r = VPXI_ERR_EXISTS;
        goto out;
    }
    if ((r = vpxi_random(rnd, sizeof(rnd))) != 0)
        goto out;
    vpxi_hex_encode(hex, rnd, sizeof(rnd));
    tlen = strlen(path) + sizeof(".tmp-") + sizeof(hex);
    if ((tmp = vpxi_malloc(tlen)) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    snprintf(tmp, tlen, "%s.tmp-%s", path, hex);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)) < 0) {
        r = sys_err();
        goto out;
    }
    created = true;
    /* the umask may only take bits away; a private key gets exactly mode */
    if (exact && fchmod(fd, mode) != 0) {
        r = sys_err();
        goto out;
    }
    if ((r = write_all(fd, p, n)) != 0)
        goto out;
    if (fsync(fd) != 0) {
        r = sys_err();
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        r = sys_err();
        goto out;
    }
    fd = -1;
    if ((r = install(tmp, path, overwrite)) != 0)
        goto out;
    created = false;
    if ((r = fsync_parent(path)) != 0)
        goto out;
    r = 0;
out:
    saved = errno;
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    vpxi_free(tmp);
    errno = saved;
    return r;
}

int vpxi_key_save_private(const char *path, const struct vpxi_key *k, bool overwrite)
{
    struct vpxi_wr w;
    int r = VPXI_ERR_INTERNAL;

    vpxi_wr_init_dyn(&w, VPXI_KEYFILE_MAX);
    if (!vpxi_key_is_private(k)) {
        r = VPXI_ERR_INVALID;
        goto out;
    }
    if ((r = vpxi_key_private_to_pem(k, &w)) != 0 ||
        (r = write_atomic(path, w.p, w.len, S_IRUSR | S_IWUSR, true, overwrite)) != 0)
        goto out;
    r = 0;
out:
    vpxi_wr_clear(&w); /* wipes the PEM */
    return r;
}

int vpxi_key_save_public(const char *path, const struct vpxi_key *k, bool overwrite)
{
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    struct vpxi_wr w;
    int r = VPXI_ERR_INTERNAL;

    vpxi_wr_init_dyn(&w, VPXI_KEYFILE_MAX);
    if ((sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((r = vpxi_key_to_sexp(sx, k, &n)) != 0)
        goto out;
    vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &w);
    if ((r = vpxi_wr_u8(&w, '\n')) != 0 ||
        (r = write_atomic(path, w.p, w.len, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH, false,
                          overwrite)) != 0)
        goto out;
    r = 0;
out:
    vpxi_wr_clear(&w);
    vpxi_sx_free(sx);
    return r;
}

/* Reads fd to EOF into buf (cap octets); VPXI_ERR_TOO_LARGE past cap. */
static int read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
{
    ssize_t n;

    *len = 0;
    for (;;) {
        if (*len == cap) {
            uint8_t probe;
            while ((n = read(fd, &probe, 1)) < 0 && errno == EINTR)
                ;
            if (n < 0)
                return sys_err();
            vpxi_wipe(&probe, sizeof(probe));
            return n == 0 ? 0 : VPXI_ERR_TOO_LARGE;
        }
        n = read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sys_err();
        if (n == 0)
            return 0;
        *len += (size_t)n;
    }
}

/* Where the first PEM block starts, or NULL. */
static const uint8_t *pem_start(const uint8_t *p, size_t len)
{
    return memmem(p, len, pem_begin, sizeof(pem_begin) - 1);
}

static bool has_prefix(const uint8_t *p, size_t len, const char *s)
{
    size_t n = strlen(s);

    return len >= n && memcmp(p, s, n) == 0;
}

int vpxi_key_load(const char *path, struct vpxi_key **out)
{
    struct stat st;
    const uint8_t *pem;
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = -1, saved = 0, r = VPXI_ERR_INTERNAL;
    bool is_stdin = strcmp(path, "-") == 0;

    *out = NULL;
    if (is_stdin)
        fd = STDIN_FILENO;
    else if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) < 0) {
        r = sys_err();
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        r = sys_err();
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        r = VPXI_ERR_SYS;
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > VPXI_KEYFILE_MAX) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    if ((buf = vpxi_malloc(VPXI_KEYFILE_MAX)) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((r = read_all(fd, buf, VPXI_KEYFILE_MAX, &len)) != 0)
        goto out;
    /* A private key in a file others can read is refused before parsing
     * (OpenSSH's "UNPROTECTED PRIVATE KEY FILE"). Pipes carry no mode. */
    pem = pem_start(buf, len);
    if (pem && !has_prefix(pem, len - (size_t)(pem - buf), pem_public) && S_ISREG(st.st_mode) &&
        (st.st_mode & (S_IRWXG | S_IRWXO))) {
        r = VPXI_ERR_KEY_PERMS;
        goto out;
    }
    if ((r = vpxi_key_parse(buf, len, out)) != 0)
        goto out;
    r = 0;
out:
    saved = errno;
    if (fd >= 0 && !is_stdin)
        close(fd);
    vpxi_freezero(buf, VPXI_KEYFILE_MAX);
    errno = saved;
    return r;
}

int vpxi_key_load_private(const char *path, struct vpxi_key **out)
{
    struct vpxi_key *k = NULL;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if ((r = vpxi_key_load(path, &k)) != 0)
        goto out;
    if (!vpxi_key_is_private(k)) {
        r = VPXI_ERR_BAD_KEY;
        goto out;
    }
    *out = k;
    k = NULL;
    r = 0;
out:
    vpxi_key_put(k);
    return r;
}

int vpxi_key_parse(const uint8_t *p, size_t len, struct vpxi_key **out)
{
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    const uint8_t *pem;
    size_t rest;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if (len > VPXI_KEYFILE_MAX) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    if ((pem = pem_start(p, len)) != NULL) {
        rest = len - (size_t)(pem - p);
        if (has_prefix(pem, rest, pem_public)) {
            r = vpxi_key_public_from_pem(p, len, out);
            goto out;
        }
        /* Never let OpenSSL ask for a passphrase on the terminal. */
        if (memmem(pem, rest, pem_encrypted, sizeof(pem_encrypted) - 1)) {
            r = VPXI_ERR_UNSUPPORTED;
            goto out;
        }
        r = vpxi_key_private_from_pem(p, len, out);
        goto out;
    }
    if ((sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((r = vpxi_sexp_read(sx, p, len, &key_sexp_limits, &n, NULL)) != 0 ||
        (r = vpxi_key_from_sexp(n, out)) != 0)
        goto out;
    r = 0;
out:
    vpxi_sx_free(sx);
    return r;
}
