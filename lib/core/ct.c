/*
 * ct.c - constant-time comparison, wiping and encodings.
 *
 * The encoders follow the branch-free arithmetic style of wireguard-tools'
 * encoding.c: each character is computed from its 6- or 4-bit value with
 * masks, never with a table indexed by the value.
 */
#include <string.h>

#include "vpxi/ct.h"

bool vpxi_memeq_ct(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

bool vpxi_iszero_ct(const void *p, size_t n)
{
    const volatile uint8_t *x = p;
    uint8_t d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= x[i];
    return d == 0;
}

void vpxi_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

/* 0..15 -> '0'..'9','a'..'f' without branches. */
static char hex_char(unsigned v)
{
    /* for v >= 10 add 'a' - '0' - 10 = 39 */
    return (char)('0' + v + (((9u - v) >> 8) & 39u));
}

void vpxi_hex_encode(char *out, const uint8_t *in, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex_char(in[i] >> 4);
        out[2 * i + 1] = hex_char(in[i] & 15u);
    }
    out[2 * n] = '\0';
}

/* Returns 0..15, or a value with bit 8 set for a non-hex character. */
static unsigned hex_val(unsigned char c)
{
    unsigned digit = c ^ '0'; /* '0'..'9' -> 0..9 */
    unsigned is_digit = ((digit - 10u) >> 8) & 1u;
    unsigned lower = (unsigned)(c | 0x20) - 'a' + 10u; /* 'a'..'f' -> 10..15 */
    unsigned is_alpha = (((lower - 10u) >> 8) ^ 1u) & (((lower - 16u) >> 8) & 1u);
    unsigned val = (digit & (0u - is_digit)) | (lower & (0u - is_alpha));
    unsigned bad = ((is_digit | is_alpha) ^ 1u) << 8;
    return (val & 0xffu) | bad;
}

int vpxi_hex_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in, size_t inlen)
{
    unsigned bad = 0;
    size_t i, n;

    *outlen = 0;
    if (inlen % 2)
        return VPXI_ERR_BAD_FORMAT;
    n = inlen / 2;
    if (n > outcap)
        return VPXI_ERR_TOO_LARGE;
    for (i = 0; i < n; i++) {
        unsigned hi = hex_val((unsigned char)in[2 * i]);
        unsigned lo = hex_val((unsigned char)in[2 * i + 1]);
        bad |= (hi | lo) & 0x100u;
        out[i] = (uint8_t)((hi << 4) | (lo & 15u));
    }
    if (bad) {
        vpxi_wipe(out, n);
        return VPXI_ERR_BAD_FORMAT;
    }
    *outlen = n;
    return 0;
}

/* 0..63 -> base64 character, branch-free. */
static char b64_char(unsigned v)
{
    int x = (int)v;
    /* 'A'+x for 0..25, 'a'+x-26 for 26..51, '0'+x-52 for 52..61, '+' 62, '/' 63 */
    int c = 'A' + x;
    c += ((25 - x) >> 8) & 6;  /* x >= 26: 'a' - 'A' - 26 = 6 */
    c -= ((51 - x) >> 8) & 75; /* x >= 52: '0' - 'a' + 26 - 52... total -75 */
    c -= ((61 - x) >> 8) & 15; /* x == 62: '+' */
    c += ((62 - x) >> 8) & 3;  /* x == 63: '/' */
    return (char)c;
}

void vpxi_b64_encode(char *out, const uint8_t *in, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_char((v >> 18) & 63);
        out[o++] = b64_char((v >> 12) & 63);
        out[o++] = b64_char((v >> 6) & 63);
        out[o++] = b64_char(v & 63);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_char((v >> 18) & 63);
        out[o++] = b64_char((v >> 12) & 63);
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_char((v >> 18) & 63);
        out[o++] = b64_char((v >> 12) & 63);
        out[o++] = b64_char((v >> 6) & 63);
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* Base64 character -> 0..63, or -1; branch-free range tests. */
static int b64_val(unsigned char ch)
{
    int c = ch, r = -1;
    r += ((('A' - 1 - c) & (c - ('Z' + 1))) >> 8) & (c - 'A' + 1);
    r += ((('a' - 1 - c) & (c - ('z' + 1))) >> 8) & (c - 'a' + 27);
    r += ((('0' - 1 - c) & (c - ('9' + 1))) >> 8) & (c - '0' + 53);
    r += ((('+' - 1 - c) & (c - ('+' + 1))) >> 8) & 63;
    r += ((('/' - 1 - c) & (c - ('/' + 1))) >> 8) & 64;
    return r;
}

int vpxi_b64_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in, size_t inlen)
{
    size_t i, o = 0, pad = 0, n;
    int bad = 0;

    *outlen = 0;
    if (inlen % 4)
        return VPXI_ERR_BAD_FORMAT;
    if (inlen >= 1 && in[inlen - 1] == '=')
        pad++;
    if (inlen >= 2 && in[inlen - 2] == '=')
        pad++;
    n = inlen / 4 * 3 - pad;
    if (n > outcap)
        return VPXI_ERR_TOO_LARGE;
    for (i = 0; i < inlen; i += 4) {
        int a = b64_val((unsigned char)in[i]), b = b64_val((unsigned char)in[i + 1]);
        int c, d;
        uint32_t v;
        bool last = i + 4 == inlen;

        c = (last && pad == 2) ? 0 : b64_val((unsigned char)in[i + 2]);
        d = (last && pad >= 1) ? 0 : b64_val((unsigned char)in[i + 3]);
        bad |= (a | b | c | d) < 0;
        v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6 |
            (uint32_t)(d & 63);
        if (!last || pad == 0) {
            out[o++] = (uint8_t)(v >> 16);
            out[o++] = (uint8_t)(v >> 8);
            out[o++] = (uint8_t)v;
        } else {
            /* canonical padding: the unused low bits must be zero */
            out[o++] = (uint8_t)(v >> 16);
            if (pad == 1)
                out[o++] = (uint8_t)(v >> 8);
            bad |= pad == 2 ? (b & 15) != 0 : (c & 3) != 0;
        }
    }
    if (bad) {
        vpxi_wipe(out, o);
        return VPXI_ERR_BAD_FORMAT;
    }
    *outlen = n;
    return 0;
}
