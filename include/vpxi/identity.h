/*
 * identity.h - host identities: a key pair is at once a HIP Host Identity
 * (RFC 7401), a HIT (ORCHIDv2, RFC 7343) and an SPKI principal.
 *
 *   HI field   the public key exactly as the HOST_ID parameter carries it
 *              (RFC 7401 5.2.9; RFC 9374 for EdDSA)
 *   HIT        2001:20::/28 | OGA ID (= HIT suite, 4 bits) | 96 bits of
 *              Hash(context ID | HI field); suite 1 RSA/SHA-256, suite 2
 *              ECDSA/SHA-384, suite 5 EdDSA/cSHAKE128
 *   principal  (public-key (ALG (NAME VALUE)...)) in SPKI form; its SHA-256
 *              over the canonical bytes is the key's hash principal
 *
 * SPKI public-key forms used by vpxi (documented in docs/authorization.md):
 *   (public-key (ecdsa-p256-sha256 (q #04 x y#)))     uncompressed point
 *   (public-key (ed25519 (q |32 octets|)))
 *   (public-key (rsa-pkcs1-sha256 (e #010001#) (n |modulus|)))
 * Integers are big-endian with a 00 octet in front when the top bit is set.
 */
#ifndef VPXI_IDENTITY_H
#define VPXI_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/crypto.h"
#include "vpxi/err.h"

struct vpxi_sx;
struct vpxi_sexp;

/* HI algorithm numbers (IANA "HI Algorithm"). */
enum vpxi_hi_alg {
    VPXI_HI_RSA = 5,
    VPXI_HI_ECDSA = 7,
    VPXI_HI_EDDSA = 13,
};

/* HIT suite IDs (IANA "HIT Suite ID"), also the ORCHID OGA ID. */
enum vpxi_hit_suite {
    VPXI_HIT_SUITE_RSA = 1,   /* RSA/DSA, SHA-256 */
    VPXI_HIT_SUITE_ECDSA = 2, /* ECDSA, SHA-384 */
    VPXI_HIT_SUITE_EDDSA = 5, /* EdDSA, cSHAKE128 */
};

/* ECDSA curve IDs in HOST_ID (RFC 7401 5.2.9) and EdDSA curve IDs (RFC 9374). */
enum vpxi_hi_curve {
    VPXI_ECDSA_CURVE_P256 = 1,
    VPXI_EDDSA_CURVE_ED25519 = 1,
};

enum vpxi_identity_limits {
    VPXI_HIT_LEN = 16,
    VPXI_HIT_STRLEN = 46, /* INET6_ADDRSTRLEN */
    VPXI_HI_MAX = 1100,   /* octets of an HI field (RSA-8192) */
    VPXI_KEYFILE_MAX = 64 * 1024,
    VPXI_KEY_ID_LEN = 32, /* SHA-256 of the canonical public-key */
};

/* The HIP context ID for ORCHIDs: F0EF F02F BFF4 3D0F E793 0C3C 6E61 74EA. */
extern const uint8_t vpxi_hip_context_id[16];

/* ---- HI and HIT ------------------------------------------------------------ */

/* Writes the HI field for k; *hi_alg receives the HI algorithm number. */
int vpxi_hi_encode(const struct vpxi_key *k, uint8_t *out, size_t cap, size_t *len,
                   uint16_t *hi_alg) VPXI_WUR;
/* Public key from an HI field (untrusted input: fully validated). */
int vpxi_hi_decode(uint16_t hi_alg, const uint8_t *hi, size_t len, struct vpxi_key **out) VPXI_WUR;
/* HIT suite of a key. */
enum vpxi_hit_suite vpxi_hit_suite_of_key(const struct vpxi_key *k);
/* HIT from an HI field. */
int vpxi_hit_from_hi(uint16_t hi_alg, const uint8_t *hi, size_t len,
                     uint8_t hit[static VPXI_HIT_LEN]) VPXI_WUR;
int vpxi_hit_from_key(const struct vpxi_key *k, uint8_t hit[static VPXI_HIT_LEN]) VPXI_WUR;
/* True iff the address is in 2001:20::/28. */
bool vpxi_hit_is_orchid(const uint8_t hit[static VPXI_HIT_LEN]);
/* OGA ID (HIT suite) of an ORCHID. */
unsigned vpxi_hit_suite(const uint8_t hit[static VPXI_HIT_LEN]);
/* IPv6 text form, compressed ("2001:2a:..."). */
void vpxi_hit_to_str(const uint8_t hit[static VPXI_HIT_LEN], char out[static VPXI_HIT_STRLEN]);
int vpxi_hit_from_str(const char *s, uint8_t hit[static VPXI_HIT_LEN]) VPXI_WUR;

/* ---- SPKI principal form ----------------------------------------------------- */

/* (public-key ...) for the public part of k. */
int vpxi_key_to_sexp(struct vpxi_sx *sx, const struct vpxi_key *k, struct vpxi_sexp **out) VPXI_WUR;
/* Key from a (public-key ...) expression (untrusted: fully validated). */
int vpxi_key_from_sexp(const struct vpxi_sexp *n, struct vpxi_key **out) VPXI_WUR;
/* Checks the structure of a (public-key ...) expression, without importing
 * the key (no cryptographic validation of the point or modulus). */
int vpxi_key_sexp_check(const struct vpxi_sexp *n) VPXI_WUR;
/* Hash of the canonical (public-key ...) of k: the key's hash principal. */
int vpxi_key_hash(const struct vpxi_key *k, enum vpxi_hash_alg alg, uint8_t *out) VPXI_WUR;
/* SHA-256 key id, as printed by the CLI. */
int vpxi_key_id(const struct vpxi_key *k, uint8_t id[static VPXI_KEY_ID_LEN]) VPXI_WUR;

/* ---- files ----------------------------------------------------------------- */

/*
 * Writes the private key as PKCS#8 PEM to path, created with mode 0600 and
 * fsync'ed; written to a temporary name and renamed, so a crash leaves either
 * the old file or the new one. VPXI_ERR_EXISTS if path exists and !overwrite.
 */
int vpxi_key_save_private(const char *path, const struct vpxi_key *k, bool overwrite) VPXI_WUR;
/* Writes the public key as an SPKI S-expression (advanced form) to path. */
int vpxi_key_save_public(const char *path, const struct vpxi_key *k, bool overwrite) VPXI_WUR;
/*
 * Loads a key file of any supported kind: a PEM private key (refused with
 * VPXI_ERR_KEY_PERMS if the file is readable or writable by group or others),
 * a PEM public key, or a (public-key ...) S-expression in any of the three
 * forms. path "-" reads standard input.
 */
int vpxi_key_load(const char *path, struct vpxi_key **out) VPXI_WUR;
/* As vpxi_key_load but requires a private key. */
int vpxi_key_load_private(const char *path, struct vpxi_key **out) VPXI_WUR;
/* Parses key file contents (no permission check). */
int vpxi_key_parse(const uint8_t *p, size_t len, struct vpxi_key **out) VPXI_WUR;

#endif
