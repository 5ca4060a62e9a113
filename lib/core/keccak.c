/*
 * keccak.c - Keccak-f[1600], cSHAKE128 and KMAC128 (NIST FIPS 202, SP 800-185).
 *
 * OpenSSL 3.0 has SHAKE but not cSHAKE, and HIT suite 5 (RFC 9374) needs
 * cSHAKE128 with the ORCHID context ID as customization string. This is a
 * straightforward, portable implementation: speed does not matter here (one
 * HIT computation per key), correctness does, and it is checked against the
 * SP 800-185 samples in tests/unit/test_keccak.c.
 */
#include <string.h>

#include "vpxi/crypto.h"
#include "vpxi/ct.h"

enum {
    KECCAK_ROUNDS = 24,
    CSHAKE128_RATE = 168, /* bytes: (1600 - 2*128) / 8 */
    PAD_SHAKE = 0x1f,     /* SHAKE domain bits 1111 + pad10*1 start */
    PAD_CSHAKE = 0x04,    /* cSHAKE domain bits 00 + pad10*1 start */
};

static const uint64_t round_consts[KECCAK_ROUNDS] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets and lane permutation of rho and pi, in pi's visiting order. */
static const unsigned rho[24] = { 1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                  27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44 };
static const unsigned pi[24] = { 10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                 15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1 };

static uint64_t rol64(uint64_t v, unsigned n)
{
    return (v << n) | (v >> (64 - n));
}

static void keccak_f1600(uint64_t a[25])
{
    uint64_t c[5], t;
    unsigned r, i, j;

    for (r = 0; r < KECCAK_ROUNDS; r++) {
        /* theta */
        for (i = 0; i < 5; i++)
            c[i] = a[i] ^ a[i + 5] ^ a[i + 10] ^ a[i + 15] ^ a[i + 20];
        for (i = 0; i < 5; i++) {
            t = c[(i + 4) % 5] ^ rol64(c[(i + 1) % 5], 1);
            for (j = 0; j < 25; j += 5)
                a[j + i] ^= t;
        }
        /* rho and pi */
        t = a[1];
        for (i = 0; i < 24; i++) {
            uint64_t next = a[pi[i]];
            a[pi[i]] = rol64(t, rho[i]);
            t = next;
        }
        /* chi */
        for (j = 0; j < 25; j += 5) {
            for (i = 0; i < 5; i++)
                c[i] = a[j + i];
            for (i = 0; i < 5; i++)
                a[j + i] ^= (~c[(i + 1) % 5]) & c[(i + 2) % 5];
        }
        /* iota */
        a[0] ^= round_consts[r];
    }
}

struct sponge {
    uint64_t a[25];
    size_t pos; /* bytes absorbed into the current block */
};

static void xor_byte(struct sponge *s, size_t i, uint8_t b)
{
    s->a[i / 8] ^= (uint64_t)b << (8 * (i % 8)); /* lanes are little-endian */
}

static uint8_t get_byte(const struct sponge *s, size_t i)
{
    return (uint8_t)(s->a[i / 8] >> (8 * (i % 8)));
}

static void absorb(struct sponge *s, const uint8_t *p, size_t n)
{
    while (n--) {
        xor_byte(s, s->pos++, *p++);
        if (s->pos == CSHAKE128_RATE) {
            keccak_f1600(s->a);
            s->pos = 0;
        }
    }
}

static void finish_and_squeeze(struct sponge *s, uint8_t pad, uint8_t *out, size_t n)
{
    size_t i = 0;

    xor_byte(s, s->pos, pad);
    xor_byte(s, CSHAKE128_RATE - 1, 0x80);
    keccak_f1600(s->a);
    while (n--) {
        if (i == CSHAKE128_RATE) {
            keccak_f1600(s->a);
            i = 0;
        }
        *out++ = get_byte(s, i++);
    }
}

/* left_encode(x) / right_encode(x) of SP 800-185 2.3.1; returns the length. */
static size_t encode_int(uint8_t out[9], uint64_t x, bool left)
{
    uint8_t be[8];
    size_t n, i;

    for (i = 0; i < 8; i++)
        be[i] = (uint8_t)(x >> (56 - 8 * i));
    /* n = number of significant bytes, at least 1 */
    for (n = 8; n > 1 && be[8 - n] == 0; n--)
        ;
    if (left) {
        out[0] = (uint8_t)n;
        memcpy(out + 1, be + 8 - n, n);
    } else {
        memcpy(out, be + 8 - n, n);
        out[n] = (uint8_t)n;
    }
    return n + 1;
}

/* Absorbs encode_string(x) and returns the number of bytes absorbed. */
static size_t absorb_encoded_string(struct sponge *s, const uint8_t *x, size_t len)
{
    uint8_t enc[9];
    size_t n = encode_int(enc, (uint64_t)len * 8, true);

    absorb(s, enc, n);
    absorb(s, x, len);
    return n + len;
}

/* Absorbs zeros up to the end of the current block (the tail of bytepad). */
static void pad_block(struct sponge *s, size_t absorbed)
{
    static const uint8_t zero[CSHAKE128_RATE];
    size_t rem = absorbed % CSHAKE128_RATE;

    if (rem)
        absorb(s, zero, CSHAKE128_RATE - rem);
}

/* Starts cSHAKE128 with bytepad(encode_string(N) || encode_string(S), 168). */
static void cshake_start(struct sponge *s, const uint8_t *n, size_t nlen, const uint8_t *c,
                         size_t clen)
{
    uint8_t enc[9];
    size_t total;

    memset(s, 0, sizeof(*s));
    total = encode_int(enc, CSHAKE128_RATE, true);
    absorb(s, enc, total);
    total += absorb_encoded_string(s, n, nlen);
    total += absorb_encoded_string(s, c, clen);
    pad_block(s, total);
}

void vpxi_cshake128(const uint8_t *x, size_t xlen, const uint8_t *n, size_t nlen, const uint8_t *s,
                    size_t slen, uint8_t *out, size_t outlen)
{
    struct sponge sp;

    if (nlen == 0 && slen == 0) {
        memset(&sp, 0, sizeof(sp));
        absorb(&sp, x, xlen);
        finish_and_squeeze(&sp, PAD_SHAKE, out, outlen);
    } else {
        cshake_start(&sp, n, nlen, s, slen);
        absorb(&sp, x, xlen);
        finish_and_squeeze(&sp, PAD_CSHAKE, out, outlen);
    }
    vpxi_wipe(&sp, sizeof(sp));
}

void vpxi_kmac128(const uint8_t *k, size_t klen, const uint8_t *x, size_t xlen, const uint8_t *s,
                  size_t slen, uint8_t *out, size_t outlen)
{
    static const uint8_t kmac[] = { 'K', 'M', 'A', 'C' };
    struct sponge sp;
    uint8_t enc[9];
    size_t n;

    cshake_start(&sp, kmac, sizeof(kmac), s, slen);
    /* bytepad(encode_string(K), 168) */
    n = encode_int(enc, CSHAKE128_RATE, true);
    absorb(&sp, enc, n);
    n += absorb_encoded_string(&sp, k, klen);
    pad_block(&sp, n);
    absorb(&sp, x, xlen);
    n = encode_int(enc, (uint64_t)outlen * 8, false);
    absorb(&sp, enc, n);
    finish_and_squeeze(&sp, PAD_CSHAKE, out, outlen);
    vpxi_wipe(&sp, sizeof(sp));
}
