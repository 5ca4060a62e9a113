/*
 * ct.h - constant-time helpers: comparison, wiping, hex and base64 coding.
 *
 * Secrets (MACs, keys, puzzle solutions) are compared with vpxi_memeq_ct();
 * memcmp is for public ordering only. The hex and base64 coders run in time
 * independent of the byte values (no table lookups indexed by secret data),
 * so they are safe for key material.
 */
#ifndef VPXI_CT_H
#define VPXI_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

/* True iff a and b are equal; time depends only on n. */
bool vpxi_memeq_ct(const void *a, const void *b, size_t n);
/* True iff all n bytes are zero; time depends only on n. */
bool vpxi_iszero_ct(const void *p, size_t n);
/* Overwrites n bytes with zeros in a way the compiler cannot elide. */
void vpxi_wipe(void *p, size_t n);

/* Hex: 2*n characters plus NUL are written to out (lowercase). */
void vpxi_hex_encode(char *out, const uint8_t *in, size_t n);
/* Decodes exactly 2*n hex characters (either case) into n bytes.
 * VPXI_ERR_BAD_FORMAT on a non-hex character or odd length. */
int vpxi_hex_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in,
                    size_t inlen) VPXI_WUR;

/* Base64 (RFC 4648, standard alphabet, '=' padding). */
static inline size_t vpxi_b64_enclen(size_t n)
{
    return (n + 2) / 3 * 4;
}
/* Writes vpxi_b64_enclen(n) characters plus NUL to out. */
void vpxi_b64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes padded base64; whitespace is not allowed (strip it first).
 * VPXI_ERR_BAD_FORMAT on bad characters, bad padding or length. */
int vpxi_b64_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in,
                    size_t inlen) VPXI_WUR;
static inline size_t vpxi_b64_declen_max(size_t n)
{
    return n / 4 * 3 + 3;
}

#endif
