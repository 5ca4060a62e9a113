/*
 * esp.c - ESP packets (RFC 4303) for HIP (RFC 7402): seal and open per suite.
 *
 * Wire layout from the SPI on (UDP framing is the caller's):
 *
 *   SPI (4) | Seq low (4) | IV | inner | Padding | Pad Length | Next Header | ICV (16)
 *                               \_____________ encrypted part (ct) ______/
 *
 *   suite 13  AES-128-GCM-16: IV = the 64-bit sequence number (8 bytes),
 *             nonce = salt || IV, AAD = SPI || Seq high || Seq low (RFC 4106
 *             with ESN), ICV = the GCM tag. ct ends on a 4-byte boundary.
 *   suite 7   NULL + HMAC-SHA-256-128: no IV, ct is plaintext, 4-byte aligned.
 *   suite 8   AES-128-CBC + HMAC-SHA-256-128: IV (16) = AES-ECB(iv_key, seq),
 *             where iv_key is 16 random bytes drawn when the outbound SA is
 *             created and never leaves it. RFC 3602 wants IVs the adversary
 *             cannot predict; a block cipher under a secret key applied to a
 *             counter gives that (NIST SP 800-38A, Appendix C) without a
 *             CSPRNG call per packet. ct is a whole number of blocks.
 *   HMAC ICV = the first 16 bytes of HMAC-SHA-256 over SPI .. Next Header
 *   (ciphertext) followed by Seq high (RFC 4303 2.2.1, RFC 4868).
 *
 * Padding is the minimum that aligns ct, with the default content 1, 2, 3 ...
 * Receivers accept any Pad Length whose content is right (RFC 4303 2.4).
 *
 * Inbound order (RFC 4303 3.4): lengths, replay pre-check, ICV or tag, then
 * decryption (GCM does both in one pass into the packet; a failed tag wipes
 * what it wrote), padding, and only then the window moves. Every drop is
 * counted under one reason. Sequence numbers are 64-bit (ESN, RFC 7402
 * 3.3.6); the high half is inferred as RFC 4303 Appendix A (replay.c). As
 * there, a packet whose low half lies left of a window that sits inside one
 * subspace is taken to belong to the next subspace, so a very late packet
 * fails its ICV (drop_auth) rather than counting as drop_old; drop_old counts
 * numbers that cannot exist (0, before the first subspace or after the last).
 * The A3 resynchronisation (after 2^32 packets lost in a row) is not done:
 * such a link is dead, and HIP sets up new SAs.
 *
 * Per packet there is no allocation, no EVP context creation and no key
 * schedule: every context is keyed once in *_new (crypto.h, per-SA section).
 */
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/esp.h"

#include "esp/replay.h"

enum esp_sizes {
    ESP_SEQ_OFF = 4,             /* offset of the sequence number */
    ESP_SEQ_LEN = 4,             /* its low 32 bits on the wire */
    ESP_TRAILER_LEN = 2,         /* Pad Length, Next Header */
    ESP_ICV_LEN = 16,            /* HMAC-SHA-256-128 and the GCM tag alike */
    ESP_ESN_HIGH_LEN = 4,        /* Seq high, appended to the ICV input */
    ESP_SEQ32_MAX = 0xffffffffu, /* last packet of a 32-bit-sequence SA */
    ESP_SEQ32_MARGIN = 1u << 24, /* its soft limit comes this much earlier */
    ESP_GCM_KEY_LEN = 16,        /* AES-128 */
    ESP_GCM_SALT_LEN = 4,        /* RFC 4106 salt, after the key in KEYMAT */
    ESP_GCM_IV_LEN = 8,          /* explicit IV on the wire */
    ESP_GCM_AAD_LEN = 12,        /* SPI || Seq high || Seq low */
    ESP_CBC_KEY_LEN = 16,        /* AES-128 */
    ESP_CBC_IV_LEN = VPXI_AES_BLOCK_LEN,
    ESP_HMAC_KEY_LEN = 32, /* RFC 4868: the hash length */
    ESP_HMAC_LEN = 32,     /* full HMAC-SHA-256 */
    ESP_ALIGN = 4,         /* RFC 4303 2.4: the ICV starts 4-byte aligned */
    ESP_INNER_MAX = 65535, /* bytes: an IPv4 or IPv6 packet */
};

_Static_assert(ESP_GCM_KEY_LEN + ESP_GCM_SALT_LEN <= VPXI_ESP_KEY_MAX, "GCM key fits");
_Static_assert(VPXI_ESP_HDR_LEN + ESP_CBC_IV_LEN + VPXI_AES_BLOCK_LEN - 1 + ESP_TRAILER_LEN +
                       ESP_ICV_LEN <=
                   VPXI_ESP_OVERHEAD_MAX,
               "the largest overhead (CBC) fits VPXI_ESP_OVERHEAD_MAX");

/* Default lifetimes (esp.h). */
static const uint64_t soft_packets_default = UINT64_C(1) << 40;
static const uint64_t hard_packets_default = UINT64_C(1) << 48;
static const uint64_t soft_bytes_default = UINT64_C(1) << 50;
static const uint64_t hard_bytes_default = UINT64_C(1) << 56;

/* The keyed contexts of one SA; which ones exist depends on the suite. */
struct xform {
    bool no_esn; /* 32-bit sequence numbers: no high half anywhere */
    struct vpxi_gcm *gcm;
    uint8_t salt[ESP_GCM_SALT_LEN];
    struct vpxi_cbc *cbc;
    struct vpxi_aes *ivgen; /* outbound CBC: IV = AES(iv_key, seq) */
    struct vpxi_hmac_ctx *hmac;
};

/*
 * A suite's transform. pkt starts at the SPI; the header is written (seal)
 * or checked (open); ct is the ctlen bytes after the IV. seal writes the IV,
 * encrypts ct in place and appends the ICV. open verifies the ICV and
 * decrypts ct in place: VPXI_ERR_BAD_MAC leaves no plaintext behind.
 */
struct suite {
    const char *name;
    size_t enc_key_len, auth_key_len;
    size_t iv_len;                /* IV bytes on the wire */
    size_t align;                 /* ct is a multiple of this */
    size_t icv_len;               /* ICV bytes after ct */
    const char *ts_enc, *ts_auth; /* tshark esp_sa names */
    int (*init)(struct xform *x, const struct vpxi_esp_keys *k, bool outbound);
    int (*seal)(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq);
    int (*open)(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq);
};

struct vpxi_esp_out {
    const struct suite *s;
    uint32_t spi;
    uint64_t seq;   /* last sequence number used; 0 before the first packet */
    uint64_t bytes; /* inner bytes sealed, for the byte limits */
    uint64_t soft_packets, hard_packets, soft_bytes, hard_bytes;
    struct vpxi_esp_stats stats;
    struct xform x;
};

struct vpxi_esp_in {
    const struct suite *s;
    uint32_t spi;
    struct vpxi_esp_stats stats;
    struct vpxi_replay win;
    struct xform x;
};

/* ---- transforms ------------------------------------------------------------ */

static void put_esn_high(uint8_t out[static ESP_ESN_HIGH_LEN], uint64_t seq)
{
    vpxi_put_be32(out, (uint32_t)(seq >> 32));
}

/* ICV: HMAC-SHA-256 over pkt[0, covered) || Seq high, first 16 bytes. */
static int hmac_icv(struct xform *x, const uint8_t *pkt, size_t covered, uint64_t seq,
                    uint8_t icv[static ESP_HMAC_LEN])
{
    uint8_t high[ESP_ESN_HIGH_LEN];
    struct vpxi_iov iov[2] = { { pkt, covered }, { high, sizeof(high) } };

    put_esn_high(high, seq);
    return vpxi_hmac_ctx_mac(x->hmac, iov, x->no_esn ? 1 : 2, icv);
}

static int hmac_append(struct xform *x, uint8_t *pkt, size_t covered, uint64_t seq)
{
    uint8_t icv[ESP_HMAC_LEN];
    int r;

    if ((r = hmac_icv(x, pkt, covered, seq, icv)) == 0)
        memcpy(pkt + covered, icv, ESP_ICV_LEN);
    return r;
}

static int hmac_verify(struct xform *x, const uint8_t *pkt, size_t covered, uint64_t seq)
{
    uint8_t icv[ESP_HMAC_LEN];
    int r;

    if ((r = hmac_icv(x, pkt, covered, seq, icv)) != 0)
        return r;
    return vpxi_memeq_ct(icv, pkt + covered, ESP_ICV_LEN) ? 0 : VPXI_ERR_BAD_MAC;
}

static int hmac_init(struct xform *x, const struct vpxi_esp_keys *k)
{
    return vpxi_hmac_ctx_new(VPXI_HASH_SHA256, k->auth, k->auth_len, &x->hmac);
}

/* suite 7: NULL encryption */

static int null_init(struct xform *x, const struct vpxi_esp_keys *k, bool outbound)
{
    return hmac_init(x, k);
}

static int null_seal(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    return hmac_append(x, pkt, VPXI_ESP_HDR_LEN + ctlen, seq);
}

static int null_open(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    return hmac_verify(x, pkt, VPXI_ESP_HDR_LEN + ctlen, seq);
}

/* suite 8: AES-128-CBC, encrypt-then-MAC */

static int cbc_init(struct xform *x, const struct vpxi_esp_keys *k, bool outbound)
{
    uint8_t iv_key[ESP_CBC_KEY_LEN];
    int r;

    if ((r = hmac_init(x, k)) != 0 ||
        (r = vpxi_cbc_new(outbound, k->enc, ESP_CBC_KEY_LEN, &x->cbc)) != 0)
        return r;
    if (!outbound)
        return 0;
    if ((r = vpxi_random(iv_key, sizeof(iv_key))) == 0)
        r = vpxi_aes_new(iv_key, sizeof(iv_key), &x->ivgen);
    vpxi_wipe(iv_key, sizeof(iv_key));
    return r;
}

static int cbc_seal(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t block[VPXI_AES_BLOCK_LEN] = { 0 }, *iv = pkt + VPXI_ESP_HDR_LEN;
    int r;

    /* IV = AES(iv_key, 0^64 || seq): distinct per packet, unpredictable */
    vpxi_put_be64(block + VPXI_AES_BLOCK_LEN - 8, seq);
    if ((r = vpxi_aes_encrypt_block(x->ivgen, block, iv)) != 0 ||
        (r = vpxi_cbc_crypt(x->cbc, iv, iv + ESP_CBC_IV_LEN, ctlen, iv + ESP_CBC_IV_LEN)) != 0)
        return r;
    return hmac_append(x, pkt, VPXI_ESP_HDR_LEN + ESP_CBC_IV_LEN + ctlen, seq);
}

static int cbc_open(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t *iv = pkt + VPXI_ESP_HDR_LEN;
    int r;

    /* verify before decrypting */
    if ((r = hmac_verify(x, pkt, VPXI_ESP_HDR_LEN + ESP_CBC_IV_LEN + ctlen, seq)) != 0)
        return r;
    return vpxi_cbc_crypt(x->cbc, iv, iv + ESP_CBC_IV_LEN, ctlen, iv + ESP_CBC_IV_LEN);
}

/* suite 13: AES-128-GCM with a 16-byte tag */

static int gcm_init(struct xform *x, const struct vpxi_esp_keys *k, bool outbound)
{
    memcpy(x->salt, k->enc + ESP_GCM_KEY_LEN, ESP_GCM_SALT_LEN);
    return vpxi_gcm_new(k->enc, ESP_GCM_KEY_LEN, &x->gcm);
}

/* nonce = salt || IV; AAD = SPI || Seq high || Seq low (ESN), or SPI || Seq
 * (32-bit sequence numbers, RFC 4106 5). Returns the AAD length. */
static size_t gcm_nonce_aad(const struct xform *x, const uint8_t *pkt, uint64_t seq,
                            uint8_t nonce[static VPXI_GCM_NONCE_LEN],
                            uint8_t aad[static ESP_GCM_AAD_LEN])
{
    memcpy(nonce, x->salt, ESP_GCM_SALT_LEN);
    memcpy(nonce + ESP_GCM_SALT_LEN, pkt + VPXI_ESP_HDR_LEN, ESP_GCM_IV_LEN);
    if (x->no_esn) {
        memcpy(aad, pkt, VPXI_ESP_HDR_LEN);
        return VPXI_ESP_HDR_LEN;
    }
    memcpy(aad, pkt, ESP_SEQ_OFF);
    put_esn_high(aad + ESP_SEQ_OFF, seq);
    memcpy(aad + ESP_SEQ_OFF + ESP_ESN_HIGH_LEN, pkt + ESP_SEQ_OFF, ESP_SEQ_LEN);
    return ESP_GCM_AAD_LEN;
}

static int gcm_seal(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t nonce[VPXI_GCM_NONCE_LEN], aad[ESP_GCM_AAD_LEN];
    uint8_t *ct = pkt + VPXI_ESP_HDR_LEN + ESP_GCM_IV_LEN;

    size_t aadlen;

    /* the explicit IV is the sequence number: unique under the key */
    vpxi_put_be64(pkt + VPXI_ESP_HDR_LEN, seq);
    aadlen = gcm_nonce_aad(x, pkt, seq, nonce, aad);
    return vpxi_gcm_seal(x->gcm, nonce, aad, aadlen, ct, ctlen, ct, ct + ctlen, ESP_ICV_LEN);
}

static int gcm_open(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t nonce[VPXI_GCM_NONCE_LEN], aad[ESP_GCM_AAD_LEN];
    uint8_t *ct = pkt + VPXI_ESP_HDR_LEN + ESP_GCM_IV_LEN;

    size_t aadlen = gcm_nonce_aad(x, pkt, seq, nonce, aad);

    return vpxi_gcm_open(x->gcm, nonce, aad, aadlen, ct, ctlen, ct, ct + ctlen, ESP_ICV_LEN);
}

/* suite 15: AES-GMAC (RFC 4543): nothing encrypted; the ICV is GMAC over
 * SPI || [Seq high] || Seq low || IV || payload || padding || trailer, with
 * nonce = salt || IV, the key and salt drawn as for GCM. */
/* nonce (as for GCM) and the AAD pieces; returns where the ICV goes. */
static uint8_t *gmac_input(const struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq,
                           uint8_t nonce[static VPXI_GCM_NONCE_LEN],
                           uint8_t high[static ESP_ESN_HIGH_LEN], struct vpxi_iov aad[3], size_t *n)
{
    memcpy(nonce, x->salt, ESP_GCM_SALT_LEN);
    memcpy(nonce + ESP_GCM_SALT_LEN, pkt + VPXI_ESP_HDR_LEN, ESP_GCM_IV_LEN);
    *n = 0;
    aad[(*n)++] = (struct vpxi_iov){ pkt, ESP_SEQ_OFF };
    if (!x->no_esn) {
        put_esn_high(high, seq);
        aad[(*n)++] = (struct vpxi_iov){ high, ESP_ESN_HIGH_LEN };
    }
    aad[(*n)++] = (struct vpxi_iov){ pkt + ESP_SEQ_OFF, ESP_SEQ_LEN + ESP_GCM_IV_LEN + ctlen };
    return pkt + VPXI_ESP_HDR_LEN + ESP_GCM_IV_LEN + ctlen;
}

static int gmac_seal(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t nonce[VPXI_GCM_NONCE_LEN], high[ESP_ESN_HIGH_LEN], *icv;
    struct vpxi_iov aad[3];
    size_t n;

    vpxi_put_be64(pkt + VPXI_ESP_HDR_LEN, seq); /* the IV: unique under the key */
    icv = gmac_input(x, pkt, ctlen, seq, nonce, high, aad, &n);
    return vpxi_gmac(x->gcm, nonce, aad, n, icv, ESP_ICV_LEN, false);
}

static int gmac_open(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    uint8_t nonce[VPXI_GCM_NONCE_LEN], high[ESP_ESN_HIGH_LEN], *icv;
    struct vpxi_iov aad[3];
    size_t n;

    icv = gmac_input(x, pkt, ctlen, seq, nonce, high, aad, &n);
    return vpxi_gmac(x->gcm, nonce, aad, n, icv, ESP_ICV_LEN, true);
}

/* Indexed by RFC 7402 suite ID; bounds-checked by suite_of(). */
static const struct suite suites[] = {
    [VPXI_ESP_NULL_SHA256] = {
        .name = "null-sha256",
        .auth_key_len = ESP_HMAC_KEY_LEN,
        .align = ESP_ALIGN,
        .icv_len = ESP_ICV_LEN,
        .ts_enc = "NULL",
        .ts_auth = "HMAC-SHA-256-128 [RFC4868]",
        .init = null_init,
        .seal = null_seal,
        .open = null_open,
    },
    [VPXI_ESP_AES128CBC_SHA256] = {
        .name = "aes128-cbc-sha256",
        .enc_key_len = ESP_CBC_KEY_LEN,
        .auth_key_len = ESP_HMAC_KEY_LEN,
        .iv_len = ESP_CBC_IV_LEN,
        .align = VPXI_AES_BLOCK_LEN,
        .icv_len = ESP_ICV_LEN,
        .ts_enc = "AES-CBC [RFC3602]",
        .ts_auth = "HMAC-SHA-256-128 [RFC4868]",
        .init = cbc_init,
        .seal = cbc_seal,
        .open = cbc_open,
    },
    [VPXI_ESP_AES128GCM16] = {
        .name = "aes128-gcm16",
        .enc_key_len = ESP_GCM_KEY_LEN + ESP_GCM_SALT_LEN,
        .iv_len = ESP_GCM_IV_LEN,
        .align = ESP_ALIGN,
        .icv_len = ESP_ICV_LEN,
        .ts_enc = "AES-GCM with 16 octet ICV [RFC4106]",
        .ts_auth = "NULL",
        .init = gcm_init,
        .seal = gcm_seal,
        .open = gcm_open,
    },
    [VPXI_ESP_AES128GMAC] = {
        .name = "aes128-gmac",
        .enc_key_len = ESP_GCM_KEY_LEN + ESP_GCM_SALT_LEN,
        .iv_len = ESP_GCM_IV_LEN,
        .align = ESP_ALIGN,
        .icv_len = ESP_ICV_LEN,
        /* tshark has no GMAC: it parses the packets, the ICV unchecked */
        .ts_enc = "NULL",
        .ts_auth = "ANY 128 bit authentication [no checking]",
        .init = gcm_init,
        .seal = gmac_seal,
        .open = gmac_open,
    },
};

/* clear: no key, nothing to compute (the framing is the caller's) */
static int clear_init(struct xform *x, const struct vpxi_esp_keys *k, bool outbound)
{
    return 0;
}

static int clear_pass(struct xform *x, uint8_t *pkt, size_t ctlen, uint64_t seq)
{
    return 0;
}

static const struct suite clear_suite = {
    .name = "clear",
    .align = ESP_ALIGN,
    .icv_len = 0,
    .ts_enc = "NULL",
    .ts_auth = "NULL",
    .init = clear_init,
    .seal = clear_pass,
    .open = clear_pass,
};

static const struct suite *suite_of(unsigned id)
{
    if (id == VPXI_ESP_CLEAR)
        return &clear_suite;
    if (id >= sizeof(suites) / sizeof(suites[0]) || !suites[id].name)
        return NULL;
    return &suites[id];
}

bool vpxi_esp_suite_supported(unsigned suite)
{
    return suite_of(suite) != NULL;
}

const char *vpxi_esp_suite_name(unsigned suite)
{
    const struct suite *s = suite_of(suite);
    return s ? s->name : "unknown";
}

size_t vpxi_esp_enc_key_len(unsigned suite)
{
    const struct suite *s = suite_of(suite);
    return s ? s->enc_key_len : 0;
}

size_t vpxi_esp_auth_key_len(unsigned suite)
{
    const struct suite *s = suite_of(suite);
    return s ? s->auth_key_len : 0;
}

static size_t pad_len(const struct suite *s, size_t len)
{
    return (s->align - (len + ESP_TRAILER_LEN) % s->align) % s->align;
}

static size_t overhead(const struct suite *s, size_t len)
{
    return VPXI_ESP_HDR_LEN + s->iv_len + pad_len(s, len) + ESP_TRAILER_LEN + s->icv_len;
}

size_t vpxi_esp_overhead(unsigned suite, size_t len)
{
    const struct suite *s = suite_of(suite);
    return s ? overhead(s, len) : 0;
}

static void xform_clear(struct xform *x)
{
    vpxi_gcm_free(x->gcm);
    vpxi_cbc_free(x->cbc);
    vpxi_aes_free(x->ivgen);
    vpxi_hmac_ctx_free(x->hmac);
    vpxi_wipe(x, sizeof(*x));
}

/* Checks the key lengths for the suite and keys the transform. */
static int xform_init(const struct suite *s, const struct vpxi_esp_keys *k, bool outbound,
                      struct xform *x)
{
    if (!k)
        vpxi_misuse("esp: NULL keys");
    if (k->enc_len != s->enc_key_len || k->auth_len != s->auth_key_len)
        return VPXI_ERR_BAD_KEY;
    return s->init(x, k, outbound);
}

/* ---- outbound ----------------------------------------------------------------- */

int vpxi_esp_out_new(unsigned suite, uint32_t spi, const struct vpxi_esp_keys *k,
                     struct vpxi_esp_out **out)
{
    const struct suite *s = suite_of(suite);
    struct vpxi_esp_out *sa = NULL;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if (!s)
        return VPXI_ERR_UNSUPPORTED;
    if (spi == 0)
        return VPXI_ERR_INVALID; /* never on the wire (RFC 4303 2.1) */
    if ((sa = vpxi_calloc(1, sizeof(*sa))) == NULL)
        return VPXI_ERR_NOMEM;
    sa->s = s;
    sa->spi = spi;
    vpxi_esp_out_set_limits(sa, soft_packets_default, hard_packets_default, soft_bytes_default,
                            hard_bytes_default);
    if ((r = xform_init(s, k, true, &sa->x)) != 0)
        goto out;
    *out = sa;
    sa = NULL;
    r = 0;
out:
    vpxi_esp_out_free(sa);
    return r;
}

void vpxi_esp_out_free(struct vpxi_esp_out *sa)
{
    if (!sa)
        return;
    xform_clear(&sa->x);
    vpxi_freezero(sa, sizeof(*sa));
}

void vpxi_esp_out_set_esn(struct vpxi_esp_out *sa, bool esn)
{
    if (sa->seq)
        vpxi_misuse("vpxi_esp_out_set_esn: SA already in use");
    sa->x.no_esn = !esn;
    if (!esn)
        vpxi_esp_out_set_limits(sa, sa->soft_packets, sa->hard_packets, sa->soft_bytes,
                                sa->hard_bytes); /* re-applies the 2^32 cap */
}

void vpxi_esp_in_set_esn(struct vpxi_esp_in *sa, bool esn)
{
    if (vpxi_esp_in_highest(sa))
        vpxi_misuse("vpxi_esp_in_set_esn: SA already in use");
    sa->x.no_esn = !esn;
}

void vpxi_esp_out_set_limits(struct vpxi_esp_out *sa, uint64_t soft_packets, uint64_t hard_packets,
                             uint64_t soft_bytes, uint64_t hard_bytes)
{
    if (soft_packets > hard_packets || soft_bytes > hard_bytes)
        vpxi_misuse("vpxi_esp_out_set_limits: soft limit above hard limit");
    if (sa->x.no_esn) {
        /* 32-bit sequence numbers never wrap: the SA ends before 2^32, and
         * asks for a rekey 2^24 packets earlier */
        if (hard_packets > ESP_SEQ32_MAX)
            hard_packets = ESP_SEQ32_MAX;
        if (soft_packets > hard_packets - ESP_SEQ32_MARGIN)
            soft_packets = hard_packets - ESP_SEQ32_MARGIN;
    }
    sa->soft_packets = soft_packets;
    sa->hard_packets = hard_packets;
    sa->soft_bytes = soft_bytes;
    sa->hard_bytes = hard_bytes;
}

bool vpxi_esp_out_soft_expired(const struct vpxi_esp_out *sa)
{
    return sa->seq >= sa->soft_packets || sa->bytes >= sa->soft_bytes;
}

uint64_t vpxi_esp_out_seq(const struct vpxi_esp_out *sa)
{
    return sa->seq;
}

uint32_t vpxi_esp_out_spi(const struct vpxi_esp_out *sa)
{
    return sa->spi;
}

const struct vpxi_esp_stats *vpxi_esp_out_stats(const struct vpxi_esp_out *sa)
{
    return &sa->stats;
}

/*
 * in may overlap out (for instance sit at out + header + IV, so the caller
 * can read the inner packet into place): it is moved before anything else
 * is written.
 */
int vpxi_esp_seal(struct vpxi_esp_out *sa, uint8_t next_header, const uint8_t *in, size_t len,
                  uint8_t *out, size_t cap, size_t *outlen)
{
    const struct suite *s = sa->s;
    size_t off = VPXI_ESP_HDR_LEN + s->iv_len, pad, ctlen, total, i;
    uint64_t seq;
    int r = VPXI_ERR_INTERNAL;

    *outlen = 0;
    if (len > ESP_INNER_MAX)
        return VPXI_ERR_TOO_LARGE;
    pad = pad_len(s, len);
    ctlen = len + pad + ESP_TRAILER_LEN;
    total = off + ctlen + s->icv_len;
    if (cap < total)
        return VPXI_ERR_TOO_LARGE;
    /* hard limits: bytes <= hard_bytes always holds, so no overflow */
    if (sa->seq >= sa->hard_packets || len > sa->hard_bytes - sa->bytes)
        return VPXI_ERR_LIMIT;
    /* the number is spent even if sealing fails: a nonce is never reused */
    seq = ++sa->seq;
    sa->bytes += len;

    if (len)
        memmove(out + off, in, len);
    vpxi_put_be32(out, sa->spi);
    vpxi_put_be32(out + ESP_SEQ_OFF, (uint32_t)seq);
    for (i = 0; i < pad; i++)
        out[off + len + i] = (uint8_t)(i + 1);
    out[off + len + pad] = (uint8_t)pad;
    out[off + len + pad + 1] = next_header;
    if ((r = s->seal(&sa->x, out, ctlen, seq)) != 0)
        goto out;
    sa->stats.packets++;
    sa->stats.bytes += len;
    *outlen = total;
    r = 0;
out:
    if (r)
        vpxi_wipe(out, total);
    return r;
}

/* ---- inbound ------------------------------------------------------------------ */

int vpxi_esp_in_new(unsigned suite, uint32_t spi, const struct vpxi_esp_keys *k,
                    struct vpxi_esp_in **out)
{
    const struct suite *s = suite_of(suite);
    struct vpxi_esp_in *sa = NULL;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if (!s)
        return VPXI_ERR_UNSUPPORTED;
    if (spi == 0)
        return VPXI_ERR_INVALID;
    if ((sa = vpxi_calloc(1, sizeof(*sa))) == NULL)
        return VPXI_ERR_NOMEM;
    sa->s = s;
    sa->spi = spi;
    vpxi_replay_init(&sa->win);
    if ((r = xform_init(s, k, false, &sa->x)) != 0)
        goto out;
    *out = sa;
    sa = NULL;
    r = 0;
out:
    vpxi_esp_in_free(sa);
    return r;
}

void vpxi_esp_in_free(struct vpxi_esp_in *sa)
{
    if (!sa)
        return;
    xform_clear(&sa->x);
    vpxi_freezero(sa, sizeof(*sa));
}

uint32_t vpxi_esp_in_spi(const struct vpxi_esp_in *sa)
{
    return sa->spi;
}

uint64_t vpxi_esp_in_highest(const struct vpxi_esp_in *sa)
{
    return sa->win.top;
}

const struct vpxi_esp_stats *vpxi_esp_in_stats(const struct vpxi_esp_in *sa)
{
    return &sa->stats;
}

/* Pad Length and the padding bytes 1, 2, 3 ... at the end of ct. */
static int check_padding(const uint8_t *ct, size_t ctlen, size_t *inner_len)
{
    size_t pad = ct[ctlen - ESP_TRAILER_LEN], i;

    *inner_len = 0;
    if (pad + ESP_TRAILER_LEN > ctlen)
        return VPXI_ERR_BAD_FORMAT;
    for (i = 0; i < pad; i++)
        if (ct[ctlen - ESP_TRAILER_LEN - pad + i] != (uint8_t)(i + 1))
            return VPXI_ERR_BAD_FORMAT;
    *inner_len = ctlen - ESP_TRAILER_LEN - pad;
    return 0;
}

/*
 * Everything before the cryptography: lengths, the SPI and the replay
 * pre-check (RFC 4303 3.4.3), which changes nothing. On failure *drop is the
 * counter to bump.
 */
static int precheck(struct vpxi_esp_in *sa, const uint8_t *pkt, size_t len, size_t *ctlen,
                    uint64_t *seq, uint64_t **drop)
{
    size_t off = VPXI_ESP_HDR_LEN + sa->s->iv_len;

    *ctlen = 0;
    *seq = 0;
    if (len < off + ESP_TRAILER_LEN + sa->s->icv_len) {
        *drop = &sa->stats.drop_truncated;
        return VPXI_ERR_TRUNCATED;
    }
    *ctlen = len - off - sa->s->icv_len;
    if (*ctlen % sa->s->align) {
        *drop = &sa->stats.drop_padding;
        return VPXI_ERR_BAD_FORMAT;
    }
    /* an SPI of another SA cannot authenticate under this one */
    if (vpxi_esp_peek_spi(pkt) != sa->spi) {
        *drop = &sa->stats.drop_auth;
        return VPXI_ERR_BAD_MAC;
    }
    if (sa->x.no_esn) {
        /* 32-bit sequence numbers: the number is what travels */
        if ((*seq = vpxi_get_be32(pkt + ESP_SEQ_OFF)) == 0) {
            *drop = &sa->stats.drop_old;
            return VPXI_ERR_REPLAY;
        }
    } else if (!vpxi_replay_esn(&sa->win, vpxi_get_be32(pkt + ESP_SEQ_OFF), seq)) {
        *drop = &sa->stats.drop_old;
        return VPXI_ERR_REPLAY;
    }
    switch (vpxi_replay_check(&sa->win, *seq)) {
    case VPXI_REPLAY_OK: return 0;
    case VPXI_REPLAY_DUP: *drop = &sa->stats.drop_replay; return VPXI_ERR_REPLAY;
    case VPXI_REPLAY_OLD: *drop = &sa->stats.drop_old; return VPXI_ERR_REPLAY;
    }
    return VPXI_ERR_INTERNAL;
}

int vpxi_esp_open(struct vpxi_esp_in *sa, uint8_t *pkt, size_t len, uint8_t **inner,
                  size_t *inner_len, uint8_t *next_header)
{
    size_t ctlen = 0, n = 0;
    uint64_t seq = 0, *drop = NULL;
    uint8_t *ct = NULL, nh;
    int r = VPXI_ERR_INTERNAL;

    *inner = NULL;
    *inner_len = 0;
    *next_header = 0;
    if (len > VPXI_SA_CRYPT_MAX)
        vpxi_misuse("vpxi_esp_open: no datagram is this long");
    if ((r = precheck(sa, pkt, len, &ctlen, &seq, &drop)) != 0)
        goto out;
    /* ICV / tag, then decryption in place */
    if ((r = sa->s->open(&sa->x, pkt, ctlen, seq)) != 0) {
        if (r == VPXI_ERR_BAD_MAC)
            drop = &sa->stats.drop_auth;
        goto out;
    }
    ct = pkt + VPXI_ESP_HDR_LEN + sa->s->iv_len; /* now plaintext: wiped if we fail */
    if ((r = check_padding(ct, ctlen, &n)) != 0) {
        drop = &sa->stats.drop_padding;
        goto out;
    }
    /* authentic and well-formed: only now does the window move */
    vpxi_replay_update(&sa->win, seq);
    nh = ct[ctlen - 1];
    if (nh == VPXI_ESP_NH_NONE) {
        drop = &sa->stats.drop_dummy;
        r = VPXI_ERR_NOT_FOUND;
        goto out;
    }
    sa->stats.packets++;
    sa->stats.bytes += n;
    *inner = ct;
    *inner_len = n;
    *next_header = nh;
    r = 0;
out:
    if (r && drop)
        (*drop)++;
    if (r && ct)
        vpxi_wipe(ct, ctlen);
    return r;
}

/* ---- tshark key log -------------------------------------------------------- */

/* Appends a NUL-terminated string; false when it does not fit. */
static bool append(char *buf, size_t cap, size_t *pos, const char *str)
{
    size_t n = strlen(str);

    if (n >= cap - *pos)
        return false;
    memcpy(buf + *pos, str, n + 1);
    *pos += n;
    return true;
}

/* ,"0x<hex>" or ,"" for an empty key */
static bool append_key(char *buf, size_t cap, size_t *pos, const uint8_t *key, size_t n)
{
    if (!append(buf, cap, pos, n ? ",\"0x" : ",\""))
        return false;
    if (2 * n >= cap - *pos)
        return false;
    vpxi_hex_encode(buf + *pos, key, n);
    *pos += 2 * n;
    return append(buf, cap, pos, "\"");
}

int vpxi_esp_keylog_line(const char *family, unsigned suite, uint32_t spi,
                         const struct vpxi_esp_keys *k, char *buf, size_t cap)
{
    const struct suite *s = suite_of(suite);
    char head[64];
    size_t pos = 0;
    int r = VPXI_ERR_TOO_LARGE;

    if (!s || !k || !family || (strcmp(family, "IPv4") != 0 && strcmp(family, "IPv6") != 0))
        vpxi_misuse("vpxi_esp_keylog_line: arguments");
    if (k->enc_len != s->enc_key_len || k->auth_len != s->auth_key_len)
        vpxi_misuse("vpxi_esp_keylog_line: key lengths do not fit the suite");
    if (cap == 0)
        return VPXI_ERR_TOO_LARGE;
    buf[0] = '\0';
    snprintf(head, sizeof(head), "\"%s\",\"*\",\"*\",\"0x%08x\",\"", family, (unsigned)spi);
    if (!append(buf, cap, &pos, head) || !append(buf, cap, &pos, s->ts_enc) ||
        !append(buf, cap, &pos, "\"") || !append_key(buf, cap, &pos, k->enc, k->enc_len) ||
        !append(buf, cap, &pos, ",\"") || !append(buf, cap, &pos, s->ts_auth) ||
        !append(buf, cap, &pos, "\"") || !append_key(buf, cap, &pos, k->auth, k->auth_len))
        goto out;
    r = 0;
out:
    if (r)
        vpxi_wipe(buf, cap); /* no partial key material left behind */
    return r;
}
