/*
 * cert.h - SPKI authorization certificates (RFC 2693; the SPKI certificate
 * structure draft), their sequences, ACLs, dates, and 5-tuple reduction.
 *
 * Certificate:
 *   (cert (issuer PRINCIPAL) (subject SUBJECT) (propagate)? (tag TAG)
 *         (valid (not-before DATE)? (not-after DATE)?)? (comment STRING)?)
 *   PRINCIPAL  (public-key ...) | (hash ALG |digest|) of the canonical key
 *   SUBJECT    PRINCIPAL | (k-of-n K N SUBJECT...)   K, N decimal, 0 < K <= N
 *   DATE       YYYY-MM-DD_HH:MM:SS, UTC
 * Signature (follows its certificate in a sequence):
 *   (signature (hash sha256 |H(cert)|) PRINCIPAL (SIGALG |signature|))
 *   signed: the exact canonical bytes of (cert ...); SIGALG matches the
 *   issuer key: rsa-pkcs1-sha256, ecdsa-p256-sha256 (r || s) or ed25519.
 * Sequence (how a chain travels):
 *   (sequence ITEM...)  ITEM = (cert ...) | (signature ...) | (public-key ...)
 * ACL (local policy, never transmitted; entries have issuer Self):
 *   (acl (entry (subject SUBJECT) (propagate)? (tag TAG) (valid ...)? (comment ..)?)...)
 *
 * All parsed objects point into the arena (struct vpxi_sx) they were parsed
 * in and live as long as it does; key references they hold are released when
 * the arena is freed (vpxi_sx_defer).
 */
#ifndef VPXI_CERT_H
#define VPXI_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/crypto.h"
#include "vpxi/err.h"
#include "vpxi/identity.h"
#include "vpxi/keycache.h"

struct vpxi_sx;
struct vpxi_sexp;

enum vpxi_cert_limits {
    VPXI_CHAIN_MAX = 32,        /* certificates on one reduction path */
    VPXI_SEQ_ITEMS_MAX = 256,   /* elements of a sequence */
    VPXI_THRESHOLD_MAX = 32,    /* N of a k-of-n subject */
    VPXI_SUBJECT_DEPTH_MAX = 4, /* nesting of k-of-n subjects */
    VPXI_DATE_LEN = 19,         /* YYYY-MM-DD_HH:MM:SS */
};

/* ---- dates ------------------------------------------------------------------ */

#define VPXI_TIME_MIN INT64_MIN /* no lower bound */
#define VPXI_TIME_MAX INT64_MAX /* no upper bound */

/* Parses exactly "YYYY-MM-DD_HH:MM:SS" (UTC, years 1970-9999). */
int vpxi_date_parse(const uint8_t *p, size_t len, int64_t *t) VPXI_WUR;
/* Formats t as "YYYY-MM-DD_HH:MM:SS" UTC. */
void vpxi_date_format(int64_t t, char out[static VPXI_DATE_LEN + 1]);
/* CLI time: an SPKI date, "now", or a relative offset from now such as
 * "+2h", "-1d", "+90s", "+1w" (units s, m, h, d, w). */
int vpxi_time_parse(const char *s, int64_t now, int64_t *t) VPXI_WUR;

/* A validity period; bounds are inclusive, VPXI_TIME_MIN/MAX when absent. */
struct vpxi_validity {
    int64_t not_before, not_after;
};

/* Intersection; VPXI_ERR_VALIDITY_EMPTY if disjoint. */
int vpxi_validity_intersect(const struct vpxi_validity *a, const struct vpxi_validity *b,
                            struct vpxi_validity *out) VPXI_WUR;
/* 0 if now is inside v, else VPXI_ERR_NOT_YET_VALID or VPXI_ERR_EXPIRED. */
int vpxi_validity_check(const struct vpxi_validity *v, int64_t now) VPXI_WUR;

/* ---- principals and subjects ------------------------------------------------- */

enum vpxi_principal_kind {
    VPXI_PRINCIPAL_KEY = 1,  /* a public key */
    VPXI_PRINCIPAL_HASH = 2, /* the hash of a public key */
};

struct vpxi_principal {
    enum vpxi_principal_kind kind;
    struct vpxi_key *key; /* KEY: the key once imported (vpxi_principal_get_key
                             imports it on first use; only issuers' keys are
                             ever needed); HASH: NULL */
    struct vpxi_sx *sx;   /* arena owning the key reference */
    const uint8_t *canon; /* KEY: canonical (public-key ...) bytes */
    size_t canon_len;
    enum vpxi_hash_alg hash_alg;     /* HASH: digest algorithm */
    uint8_t hash[VPXI_HASH_MAX_LEN]; /* HASH: the digest; KEY: SHA-256 of canon */
    size_t hash_len;
    const struct vpxi_sexp *node; /* the expression it was parsed from */
};

/* True iff a and b name the same key (a key equals a hash of that key). */
bool vpxi_principal_equal(const struct vpxi_principal *a, const struct vpxi_principal *b);
/* Builds a KEY principal for k (takes a reference, released with sx). */
int vpxi_principal_from_key(struct vpxi_sx *sx, struct vpxi_key *k,
                            struct vpxi_principal *out) VPXI_WUR;
/* Parses (public-key ...) or (hash ALG |digest|). */
int vpxi_principal_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n,
                         struct vpxi_principal *out) VPXI_WUR;
/* The principal's key: its own (imported and cached on first use), or one of
 * keys[] whose hash matches. VPXI_ERR_UNKNOWN_KEY if none, VPXI_ERR_BAD_KEY if
 * the key does not import (e.g. a point not on the curve). The key is
 * borrowed: it lives as long as the principal's arena or keys[]. */
int vpxi_principal_get_key(const struct vpxi_principal *p, struct vpxi_key *const *keys,
                           size_t nkeys, struct vpxi_keycache *cache,
                           struct vpxi_key **out) VPXI_WUR;
/* Short printable id: first 8 bytes of the SHA-256 key id, hex (for logs). */
void vpxi_principal_short(const struct vpxi_principal *p, char out[static 17]);

enum vpxi_subject_kind {
    VPXI_SUBJECT_PRINCIPAL = 1,
    VPXI_SUBJECT_THRESHOLD = 2,
};

struct vpxi_subject {
    enum vpxi_subject_kind kind;
    struct vpxi_principal p;   /* PRINCIPAL */
    unsigned k, n;             /* THRESHOLD: k of the n subs */
    struct vpxi_subject *subs; /* THRESHOLD: n entries, in the arena */
    const struct vpxi_sexp *node;
};

/* ---- certificates -------------------------------------------------------------- */

struct vpxi_cert {
    const struct vpxi_sexp *node; /* (cert ...) */
    const uint8_t *tbs;           /* its exact canonical bytes: what is signed */
    size_t tbs_len;
    struct vpxi_principal issuer;
    struct vpxi_subject subject;
    bool propagate;
    const struct vpxi_sexp *tag; /* body of (tag ...) */
    struct vpxi_validity valid;
    const struct vpxi_sexp *comment;   /* atom or NULL */
    const struct vpxi_sexp *signature; /* (signature ...) that followed it, or NULL */
    int sig_status;                    /* VPXI_CERT_UNCHECKED, 0, or a VPXI_ERR_* */
};

#define VPXI_CERT_UNCHECKED 1

/* Parses a (cert ...) node; the node must have a span (vpxi_sexp_read()). */
int vpxi_cert_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_cert **out) VPXI_WUR;

/* A parsed (sequence ...): certificates in order, each with its signature,
 * and the bare public keys it lists. */
struct vpxi_seq {
    struct vpxi_cert **certs;
    size_t ncerts;
    struct vpxi_key **keys;
    size_t nkeys;
};

/* Parses (sequence ...), or a lone (cert ...) as a sequence of one unsigned
 * certificate. VPXI_ERR_BAD_FORMAT if a signature does not follow a cert. */
int vpxi_seq_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_seq **out) VPXI_WUR;
/* Appends another sequence's certificates and keys to seq (for chains that
 * arrive in several pieces). */
int vpxi_seq_merge(struct vpxi_sx *sx, struct vpxi_seq *seq, const struct vpxi_seq *more) VPXI_WUR;

/*
 * Verifies c's signature: the hash element matches the exact signed bytes,
 * the signer is the issuer, the signature verifies with the issuer's key
 * (taken from the certificate, or from keys[] when the issuer is a hash).
 * The result is cached in c->sig_status. 0, VPXI_ERR_BAD_SIG,
 * VPXI_ERR_UNKNOWN_KEY or VPXI_ERR_NO_SIGNATURE. cache (may be
 * NULL) supplies and receives imported issuer keys.
 */
int vpxi_cert_verify(struct vpxi_cert *c, struct vpxi_key *const *keys, size_t nkeys,
                     struct vpxi_keycache *cache) VPXI_WUR;

/* What to put in a new certificate. */
struct vpxi_cert_params {
    struct vpxi_key *issuer;         /* private key that signs */
    struct vpxi_key *subject_key;    /* subject as a key, or: */
    const struct vpxi_sexp *subject; /* any SUBJECT expression (e.g. k-of-n) */
    bool subject_as_hash;            /* name the subject key by its SHA-256 */
    bool issuer_as_hash;             /* name the issuer by hash (its key is then
                                        added to the output sequence) */
    bool propagate;
    const struct vpxi_sexp *tag; /* body of (tag ...) */
    struct vpxi_validity valid;
    const char *comment; /* NULL for none */
};

/* Builds, signs and returns (sequence [public-key] (cert ...) (signature ...)). */
int vpxi_cert_issue(struct vpxi_sx *sx, const struct vpxi_cert_params *p,
                    struct vpxi_sexp **out) VPXI_WUR;

/* ---- ACLs and reduction --------------------------------------------------------- */

struct vpxi_acl_entry {
    struct vpxi_subject subject;
    bool propagate;
    const struct vpxi_sexp *tag;
    struct vpxi_validity valid;
    const struct vpxi_sexp *comment;
};

struct vpxi_acl {
    struct vpxi_acl_entry *entries;
    size_t n;
};

int vpxi_acl_parse(struct vpxi_sx *sx, const struct vpxi_sexp *n, struct vpxi_acl **out) VPXI_WUR;

/* A 5-tuple <issuer, subject, propagate, tag, validity>; issuer NULL is Self. */
struct vpxi_tuple {
    const struct vpxi_principal *issuer;
    const struct vpxi_principal *subject;
    bool propagate;
    const struct vpxi_sexp *tag;
    struct vpxi_validity valid;
};

struct vpxi_reduce_req {
    const struct vpxi_acl *acl;
    struct vpxi_cert *const *certs; /* the pool, in any order */
    size_t ncerts;
    struct vpxi_key *const *keys; /* keys for hash-named issuers */
    size_t nkeys;
    const struct vpxi_principal *subject; /* final subject; NULL: the unique leaf */
    const struct vpxi_sexp *want;         /* required tag, or NULL */
    int64_t now;                          /* time of the check */
    struct vpxi_keycache *cache;          /* imported keys to reuse, or NULL */
};

struct vpxi_reduce_result {
    struct vpxi_tuple tuple;     /* <Self, S, D, A, V> on success */
    int entry;                   /* ACL entry used, or -1 */
    size_t used[VPXI_CHAIN_MAX]; /* certificates used (pool indices), issuer first */
    size_t nused;
    int bad_cert;  /* on failure: pool index at fault, or -1 */
    char why[256]; /* on failure: one line for humans and logs */
};

/*
 * Reduces the pool against the ACL: finds a path Self -> ... -> subject
 * along which every link verifies, delegates (propagate) where it is
 * followed by another link, and keeps a non-empty tag and validity
 * intersection; for a k-of-n subject, k distinct branches must reach the
 * same subject. Then checks that want (if given) is implied by the reduced
 * tag and that now is inside the reduced validity.
 * Returns 0 with res->tuple, or the most specific error found with res->why.
 * res->tuple.valid is the exact interval during which the chain authorizes:
 * callers schedule teardown at res->tuple.valid.not_after.
 */
int vpxi_reduce(struct vpxi_sx *sx, const struct vpxi_reduce_req *req,
                struct vpxi_reduce_result *res) VPXI_WUR;

#endif
