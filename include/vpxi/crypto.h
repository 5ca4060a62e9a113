/*
 * crypto.h - the cryptographic primitives of libvpxi.
 *
 * lib/core/crypto.c is the only file that calls OpenSSL (libcrypto 3.x);
 * everything else in the project goes through this interface. cSHAKE128 and
 * KMAC128, which OpenSSL 3.0 lacks or exposes awkwardly, are implemented in
 * lib/core/keccak.c and declared here too.
 */
#ifndef VPXI_CRYPTO_H
#define VPXI_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

struct vpxi_wr;

/* ---- hashes ---------------------------------------------------------- */

enum vpxi_hash_alg {
    VPXI_HASH_NONE = 0,
    VPXI_HASH_SHA1 = 1,
    VPXI_HASH_SHA256 = 2,
    VPXI_HASH_SHA384 = 3,
    VPXI_HASH_SHA512 = 4,
};

enum vpxi_hash_limits {
    VPXI_HASH_MAX_LEN = 64, /* bytes, SHA-512 */
};

/* Digest length in bytes, 0 for an unknown algorithm. */
size_t vpxi_hash_len(enum vpxi_hash_alg alg);
/* Name as used in SPKI (sha1, sha256, sha384, sha512), NULL if unknown. */
const char *vpxi_hash_name(enum vpxi_hash_alg alg);
/* Algorithm from an SPKI name; VPXI_HASH_NONE if unknown. */
enum vpxi_hash_alg vpxi_hash_from_name(const uint8_t *name, size_t len);

int vpxi_hash(enum vpxi_hash_alg alg, const void *p, size_t n, uint8_t *out) VPXI_WUR;

/* Incremental hashing. */
struct vpxi_hash_ctx;
int vpxi_hash_new(enum vpxi_hash_alg alg, struct vpxi_hash_ctx **out) VPXI_WUR;
int vpxi_hash_update(struct vpxi_hash_ctx *c, const void *p, size_t n);
/* Writes the digest and resets the context for reuse with the same algorithm. */
int vpxi_hash_final(struct vpxi_hash_ctx *c, uint8_t *out);
void vpxi_hash_free(struct vpxi_hash_ctx *c);

/* HMAC over the concatenation of n chunks. */
struct vpxi_iov {
    const void *p;
    size_t len;
};
int vpxi_hmac(enum vpxi_hash_alg alg, const uint8_t *key, size_t keylen, const struct vpxi_iov *iov,
              size_t n, uint8_t *out) VPXI_WUR;

/* Fills p with n bytes from the system CSPRNG. */
int vpxi_random(void *p, size_t n) VPXI_WUR;

/* ---- cSHAKE128 / KMAC128 (NIST SP 800-185), lib/core/keccak.c -------- */

/* cSHAKE128(X, L = outlen*8, N, S). With N and S empty this is SHAKE128. */
void vpxi_cshake128(const uint8_t *x, size_t xlen, const uint8_t *n, size_t nlen, const uint8_t *s,
                    size_t slen, uint8_t *out, size_t outlen);
/* KMAC128(K, X, L = outlen*8, S). */
void vpxi_kmac128(const uint8_t *k, size_t klen, const uint8_t *x, size_t xlen, const uint8_t *s,
                  size_t slen, uint8_t *out, size_t outlen);

/* ---- public-key pairs ------------------------------------------------ */

enum vpxi_key_alg {
    VPXI_KEY_NONE = 0,
    VPXI_KEY_RSA = 1,        /* RSA, 3072 bits by default; interoperability only */
    VPXI_KEY_ECDSA_P256 = 2, /* ECDSA on NIST P-256: the default */
    VPXI_KEY_ED25519 = 3,    /* EdDSA on edwards25519 */
};

enum vpxi_key_limits {
    VPXI_RSA_BITS_DEFAULT = 3072,
    VPXI_RSA_BITS_MIN = 2048,
    VPXI_RSA_BITS_MAX = 8192,
    VPXI_RSA_E_MAX = 8,       /* bytes of public exponent we accept */
    VPXI_P256_COORD_LEN = 32, /* bytes per affine coordinate */
    VPXI_P256_SIG_LEN = 64,   /* r || s */
    VPXI_ED25519_LEN = 32,    /* public key bytes */
    VPXI_ED25519_SIG_LEN = 64,
    VPXI_SIG_MAX = 1024,    /* bytes, RSA-8192 */
    VPXI_PUBRAW_MAX = 1040, /* bytes needed by vpxi_key_export_public() */
};

/* Signature schemes. ECDSA signatures are the raw r || s form (as HIP and
 * our SPKI signatures carry them), not DER. */
enum vpxi_sig_scheme {
    VPXI_SIG_RSA_PKCS1_SHA256 = 1,
    VPXI_SIG_RSA_PSS_SHA256 = 2,
    VPXI_SIG_ECDSA_SHA256 = 3,
    VPXI_SIG_ECDSA_SHA384 = 4,
    VPXI_SIG_ED25519 = 5,
};

/* Raw public components, big-endian unsigned integers without leading zeros
 * for RSA; fixed-length coordinates for P-256; the 32-byte encoding for
 * Ed25519. Pointers borrow the caller's buffer. */
struct vpxi_pubraw {
    enum vpxi_key_alg alg;
    const uint8_t *e, *n; /* RSA */
    size_t elen, nlen;
    const uint8_t *x, *y; /* P-256: 32 bytes each */
    const uint8_t *ed;    /* Ed25519: 32 bytes */
};

struct vpxi_key;

/* Generates a key pair. bits is used for RSA only (0 = default). */
int vpxi_key_generate(enum vpxi_key_alg alg, unsigned bits, struct vpxi_key **out) VPXI_WUR;
/* Reference counting: keys are shared by certificates and caches. */
struct vpxi_key *vpxi_key_get(struct vpxi_key *k);
void vpxi_key_put(struct vpxi_key *k);

enum vpxi_key_alg vpxi_key_alg(const struct vpxi_key *k);
bool vpxi_key_is_private(const struct vpxi_key *k);
/* Size in bits (RSA modulus, 256 for the curves). */
unsigned vpxi_key_bits(const struct vpxi_key *k);
const char *vpxi_key_alg_name(enum vpxi_key_alg alg); /* "ecdsa-p256", "ed25519", "rsa" */
enum vpxi_key_alg vpxi_key_alg_from_name(const char *name);

/* Exports the public components into buf (VPXI_PUBRAW_MAX bytes suffice). */
int vpxi_key_export_public(const struct vpxi_key *k, uint8_t *buf, size_t cap,
                           struct vpxi_pubraw *out) VPXI_WUR;
/* Builds a public key from components; validates the point / modulus. */
int vpxi_key_import_public(const struct vpxi_pubraw *raw, struct vpxi_key **out) VPXI_WUR;
/* True iff both keys have the same public part. */
bool vpxi_key_public_equal(const struct vpxi_key *a, const struct vpxi_key *b);

/* PKCS#8 PEM, unencrypted ("-----BEGIN PRIVATE KEY-----"). */
int vpxi_key_private_to_pem(const struct vpxi_key *k, struct vpxi_wr *w) VPXI_WUR;
int vpxi_key_private_from_pem(const uint8_t *pem, size_t len, struct vpxi_key **out) VPXI_WUR;
/* SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"). */
int vpxi_key_public_to_pem(const struct vpxi_key *k, struct vpxi_wr *w) VPXI_WUR;
int vpxi_key_public_from_pem(const uint8_t *pem, size_t len, struct vpxi_key **out) VPXI_WUR;

/* Default scheme for a key: RSA-PKCS1-SHA256, ECDSA-SHA256, Ed25519. */
enum vpxi_sig_scheme vpxi_key_default_scheme(const struct vpxi_key *k);
/* Signature length for this key and scheme (exact for all our schemes). */
size_t vpxi_key_sig_len(const struct vpxi_key *k);
int vpxi_key_sign(const struct vpxi_key *k, enum vpxi_sig_scheme s, const void *msg, size_t len,
                  uint8_t *sig, size_t cap, size_t *siglen) VPXI_WUR;
/* 0 or VPXI_ERR_BAD_SIG. */
int vpxi_key_verify(const struct vpxi_key *k, enum vpxi_sig_scheme s, const void *msg, size_t len,
                    const uint8_t *sig, size_t siglen) VPXI_WUR;
/* As vpxi_key_verify, given the scheme's digest of the message instead of
 * the message (RSA and ECDSA only; VPXI_ERR_UNSUPPORTED for Ed25519). Lets a
 * caller that already hashed the message avoid hashing it twice. */
int vpxi_key_verify_digest(const struct vpxi_key *k, enum vpxi_sig_scheme s, const uint8_t *digest,
                           size_t dlen, const uint8_t *sig, size_t siglen) VPXI_WUR;

/* ---- Diffie-Hellman (HIP DH groups) ------------------------------------ */

/* HIP DH Group IDs (IANA). */
enum vpxi_dh_group {
    VPXI_DH_MODP1536 = 3,  /* RFC 3526 group 5 */
    VPXI_DH_P256 = 7,      /* NIST P-256 ECDH: the default */
    VPXI_DH_MODP2048 = 11, /* RFC 3526 group 14 */
};

enum vpxi_dh_limits {
    VPXI_DH_PUB_MAX = 256,    /* bytes of a public value (MODP-2048) */
    VPXI_DH_SECRET_MAX = 256, /* bytes of a shared secret */
};

struct vpxi_dh;

/* True for the groups above. */
bool vpxi_dh_supported(unsigned group);
/* Length of a public value: 64 for P-256 (x || y, no 0x04 octet, as RFC 5903),
 * the modulus length for MODP (192, 256). 0 if unsupported. */
size_t vpxi_dh_pub_len(unsigned group);
/* A fresh ephemeral key pair. */
int vpxi_dh_new(enum vpxi_dh_group group, struct vpxi_dh **out) VPXI_WUR;
void vpxi_dh_free(struct vpxi_dh *dh);
enum vpxi_dh_group vpxi_dh_group_of(const struct vpxi_dh *dh);
/* Our public value (vpxi_dh_pub_len bytes). */
int vpxi_dh_public(const struct vpxi_dh *dh, uint8_t *out, size_t cap, size_t *len) VPXI_WUR;
/* Kij from the peer's public value (untrusted: validated). P-256: the
 * 32-byte x coordinate of the shared point; MODP: g^xy left-padded to the
 * modulus length. VPXI_ERR_BAD_KEY for an invalid public value. */
int vpxi_dh_derive(const struct vpxi_dh *dh, const uint8_t *peer, size_t peerlen, uint8_t *secret,
                   size_t cap, size_t *len) VPXI_WUR;

/* ---- AES-CBC without padding (HIP ENCRYPTED parameter) ------------------ */

/* len must be a multiple of 16; keylen 16 or 32; in and out may be equal. */
int vpxi_aes_cbc(bool encrypt, const uint8_t *key, size_t keylen, const uint8_t iv[static 16],
                 const uint8_t *in, size_t len, uint8_t *out) VPXI_WUR;

/* ---- per-SA cipher contexts for the ESP data path -------------------------
 *
 * Keyed once when an SA is created, then used for every packet without a new
 * key schedule, EVP context or allocation of ours (OpenSSL may still allocate
 * internally for HMAC). Not thread-safe: one context per SA per thread, as
 * the SAs themselves. The free functions wipe the key schedules.
 */

enum vpxi_sa_crypto_limits {
    VPXI_AES_BLOCK_LEN = 16,     /* bytes */
    VPXI_GCM_NONCE_LEN = 12,     /* bytes: RFC 4106 salt (4) || explicit IV (8) */
    VPXI_GCM_TAG_MAX = 16,       /* bytes */
    VPXI_SA_CRYPT_MAX = 1 << 30, /* bytes per call (OpenSSL counts in int) */
};

/* AES-GCM (key of 16 or 32 bytes). */
struct vpxi_gcm;
int vpxi_gcm_new(const uint8_t *key, size_t keylen, struct vpxi_gcm **out) VPXI_WUR;
void vpxi_gcm_free(struct vpxi_gcm *g);
/* Encrypts len bytes from in to out (the same buffer or disjoint ones) and
 * writes a taglen-byte tag. The nonce must never repeat under a key. Caller
 * bugs abort (vpxi_misuse): taglen other than 8, 12 or 16, aadlen or len
 * above VPXI_SA_CRYPT_MAX. */
int vpxi_gcm_seal(struct vpxi_gcm *g, const uint8_t nonce[static VPXI_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                  uint8_t *tag, size_t taglen) VPXI_WUR;
/* Decrypts and verifies (limits as for seal). VPXI_ERR_BAD_MAC if the tag
 * does not verify; the len bytes at out are then wiped: no plaintext is
 * released (in == out: the ciphertext is gone too). */
int vpxi_gcm_open(struct vpxi_gcm *g, const uint8_t nonce[static VPXI_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
                  const uint8_t *tag, size_t taglen) VPXI_WUR;

/* GMAC (GCM with nothing to encrypt, RFC 4543): the tag over the
 * concatenation of the n AAD pieces. verify = false writes tag; verify =
 * true checks it (VPXI_ERR_BAD_MAC on mismatch). Limits as for seal, for the
 * total AAD length. */
int vpxi_gmac(struct vpxi_gcm *g, const uint8_t nonce[static VPXI_GCM_NONCE_LEN],
              const struct vpxi_iov *aad, size_t n, uint8_t *tag, size_t taglen,
              bool verify) VPXI_WUR;

/* HMAC keyed once (EVP_MAC reinitialised with the stored key per message). */
struct vpxi_hmac_ctx;
int vpxi_hmac_ctx_new(enum vpxi_hash_alg alg, const uint8_t *key, size_t keylen,
                      struct vpxi_hmac_ctx **out) VPXI_WUR;
void vpxi_hmac_ctx_free(struct vpxi_hmac_ctx *c);
/* The full HMAC (vpxi_hash_len(alg) bytes) over the concatenation of n chunks. */
int vpxi_hmac_ctx_mac(struct vpxi_hmac_ctx *c, const struct vpxi_iov *iov, size_t n,
                      uint8_t *out) VPXI_WUR;

/* AES-CBC without padding, one direction, IV given per call (key 16 or 32). */
struct vpxi_cbc;
int vpxi_cbc_new(bool encrypt, const uint8_t *key, size_t keylen, struct vpxi_cbc **out) VPXI_WUR;
void vpxi_cbc_free(struct vpxi_cbc *c);
/* len a multiple of 16 and at most VPXI_SA_CRYPT_MAX (else vpxi_misuse);
 * in == out allowed. */
int vpxi_cbc_crypt(struct vpxi_cbc *c, const uint8_t iv[static VPXI_AES_BLOCK_LEN],
                   const uint8_t *in, size_t len, uint8_t *out) VPXI_WUR;

/* The raw AES block function (ECB, one block at a time), for IV generation. */
struct vpxi_aes;
int vpxi_aes_new(const uint8_t *key, size_t keylen, struct vpxi_aes **out) VPXI_WUR;
void vpxi_aes_free(struct vpxi_aes *a);
int vpxi_aes_encrypt_block(struct vpxi_aes *a, const uint8_t in[static VPXI_AES_BLOCK_LEN],
                           uint8_t out[static VPXI_AES_BLOCK_LEN]) VPXI_WUR;

#endif
