/*
 * catalog.h - signed image catalogues: producers, endorsers and providers
 * (seed 003 chapter 4; DESIGN section 7). docs/catalog.md has the formats
 * with a full example, the trust model and the provider's directory.
 *
 * Roles:
 *   producer   builds an image (a tarball) and describes it: name, version,
 *              SHA-256 and SHA-512 digests, size, URLs, metadata
 *   endorser   a key that signs a catalogue of image entries; an approved
 *              entry is the endorser's statement "image NAME is the object
 *              with this digest" for as long as the catalogue is valid
 *   provider   a site that imports the catalogues of the endorsers it
 *              trusts, fetches and verifies images, and lets a virtual node
 *              start only from an image its policy accepts at that moment
 *
 * Signed form (canonical S-expression; the signature covers the exact bytes
 * of (catalog ...)):
 *   (sequence [(cert ..) (signature ..)]... [(public-key ..)]...
 *             (catalog (label TEXT)? (version N) (issued DATE) (expires DATE)
 *                      (trust (acl ..) (source URL)...)?
 *                      (image ...)...)
 *             (signature (hash sha256 |H(catalog)|) (public-key ..) (SIGALG |sig|)))
 *   (image (name NAME) (version TEXT)? (hash sha256 |32|) (hash sha512 |64|)?
 *          (size N) (url URL)... (producer TEXT)? (produced DATE)?
 *          (meta (os T)? (arch T)? (runtime T)? (purpose T)? (tags T...)?)?
 *          (status [approved] [shared] [revoked])?)
 *
 * Authorization: an approved, unrevoked entry becomes the SPKI statement
 *   <endorser, (hash sha256 |digest|), no delegation, (endorse NAME),
 *    (valid (not-after EXPIRES))>
 * and the provider runs the ordinary 5-tuple reduction (vpxi_reduce) of
 * these statements, the delegation certificates carried with the
 * catalogues and the statements of trust exports, against its own ACL, with
 * the image digest as the final subject. Scope, delegation, expiry and
 * k-of-n thresholds are therefore exactly the SPKI rules of cert.h.
 *
 * Memory: a parsed catalogue owns one arena; every pointer in it (images,
 * names, digests, certificates) lives until vpxi_catalog_free().
 * Nothing here is thread-safe: use one provider per thread or lock around it.
 */
#ifndef VPXI_CATALOG_H
#define VPXI_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/cert.h"
#include "vpxi/err.h"

struct vpxi_sx;
struct vpxi_sexp;
struct vpxi_wr;
struct vpxi_key;

enum vpxi_catalog_limits {
    VPXI_CATALOG_NAME_MAX = 64,        /* image name: [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
    VPXI_CATALOG_TEXT_MAX = 256,       /* octets of a text field (UTF-8, no control chars) */
    VPXI_CATALOG_TAG_MAX = 64,         /* octets of one metadata tag */
    VPXI_CATALOG_URL_MAX = 2048,       /* octets of a URL (http, https or file) */
    VPXI_CATALOG_URLS_MAX = 8,         /* URLs per image */
    VPXI_CATALOG_TAGS_MAX = 32,        /* metadata tags per image */
    VPXI_CATALOG_ENTRY_MAX = 16384,    /* octets of one canonical (image ...) */
    VPXI_CATALOG_IMAGES_MAX = 1 << 20, /* entries per catalogue */
    VPXI_CATALOG_CHAIN_MAX = 8,        /* delegation certificates (and keys) carried along */
    VPXI_CATALOG_SOURCES_MAX = 16,     /* sources per trust element, and per provider */
    VPXI_PROVIDER_CATALOGS_MAX = 64,   /* catalogues (endorser keys) a provider holds */
    VPXI_CATALOG_HEADER_MAX = 65536,   /* octets of a header or trust element */
    VPXI_CATALOG_SKEW_SEC = 300, /* an issue time at most this far in the future is accepted */
    VPXI_SHA256_LEN = 32,
    VPXI_SHA512_LEN = 64,
};

/* Defaults of the trust configuration (seconds, octets). */
enum vpxi_catalog_defaults {
    VPXI_CATALOG_FILE_DEFAULT = 64 * 1024 * 1024, /* largest catalogue accepted */
    VPXI_CATALOG_FILE_MAX = 1024 * 1024 * 1024,   /* ceiling for (max-size ...) */
    VPXI_REFRESH_INTERVAL_DEFAULT = 3600,
    VPXI_REFRESH_JITTER_DEFAULT = 300,
    VPXI_REFRESH_WARN_DEFAULT = 7 * 86400, /* warn this long before anything expires */
    VPXI_FETCH_CONNECT_TIMEOUT = 10,
    VPXI_FETCH_STALL_TIMEOUT = 30, /* abort a transfer below 1 byte/s for this long */
};

/* ---- the model ------------------------------------------------------------- */

enum vpxi_image_flag {
    VPXI_IMAGE_APPROVED = 1 << 0, /* the endorser approves running it */
    VPXI_IMAGE_SHARED = 1 << 1,   /* providers may pass the image on to other sites */
    VPXI_IMAGE_REVOKED = 1 << 2,  /* withdrawn: never startable, whatever else is set */
};

/* Octets borrowed from a catalogue (not NUL-terminated). */
struct vpxi_bytes {
    const uint8_t *p;
    size_t len;
};

/* One (image ...) entry: the fields the provider decides with. Borrowed
 * from its catalogue. */
struct vpxi_image {
    struct vpxi_bytes name, version;
    const uint8_t *sha256;  /* VPXI_SHA256_LEN octets */
    const uint8_t *sha512;  /* VPXI_SHA512_LEN octets, or NULL */
    uint64_t size;          /* octets */
    unsigned flags;         /* enum vpxi_image_flag */
    size_t index;           /* position in the catalogue, 0-based */
    struct vpxi_bytes span; /* its canonical bytes */
};

/* The rest of an entry, read on demand by vpxi_image_details(). */
struct vpxi_image_meta {
    struct vpxi_bytes producer, os, arch, runtime, purpose; /* len 0 when absent */
    int64_t produced;                                       /* VPXI_TIME_MIN when absent */
    struct vpxi_bytes urls[VPXI_CATALOG_URLS_MAX];
    size_t nurls;
    struct vpxi_bytes tags[VPXI_CATALOG_TAGS_MAX];
    size_t ntags;
};

/* A parsed signed catalogue. Read-only for callers. */
struct vpxi_catalog {
    struct vpxi_sx *sx; /* owns everything below */
    const uint8_t *buf; /* the whole signed file, canonical */
    size_t len;
    const uint8_t *body; /* the exact signed bytes of (catalog ...) */
    size_t body_len;
    uint8_t file_digest[VPXI_SHA256_LEN]; /* SHA-256 of buf */
    uint8_t body_digest[VPXI_SHA256_LEN]; /* SHA-256 of body (what the signature names) */
    struct vpxi_principal signer;         /* from the signature; signer.hash is its key id */
    const struct vpxi_sexp *signature;
    struct vpxi_bytes label;
    uint64_t version;
    int64_t issued, expires;
    struct vpxi_image *images; /* sorted by name; names are unique */
    size_t nimages;
    const struct vpxi_acl *trust; /* (trust (acl ...)): export chaining, or NULL */
    struct vpxi_bytes sources[VPXI_CATALOG_SOURCES_MAX];
    size_t nsources;
    struct vpxi_cert **chain; /* delegation certificates, with their signatures */
    size_t nchain;
    struct vpxi_key **keys; /* keys for hash-named issuers in the chain */
    size_t nkeys;
    int sig_status; /* VPXI_CERT_UNCHECKED until vpxi_catalog_verify() */
};

/* Where and why parsing failed: code, byte offset, one line for humans. */
struct vpxi_catalog_error {
    int code;
    size_t offset;
    char why[200];
};

/*
 * Parses a signed catalogue. Canonical input is parsed in place, entry by
 * entry (about 100 octets of memory per entry beyond the file itself);
 * advanced and transport input is first converted to canonical (which
 * builds a whole tree: use canonical files for large catalogues). max caps
 * the input (0 = VPXI_CATALOG_FILE_DEFAULT). Checks the grammar, every
 * field, the limits above and that no name appears twice (VPXI_ERR_DUPLICATE);
 * it does not check the signature (vpxi_catalog_verify), time or policy.
 * The input is copied. err may be NULL.
 */
int vpxi_catalog_parse(const uint8_t *p, size_t len, size_t max, struct vpxi_catalog **out,
                       struct vpxi_catalog_error *err) VPXI_WUR;
/* Checks the signature over the exact body bytes: 0, VPXI_ERR_BAD_SIG,
 * VPXI_ERR_BAD_KEY, VPXI_ERR_UNSUPPORTED. The result is cached. The
 * delegation certificates are checked later, by the reduction. */
int vpxi_catalog_verify(struct vpxi_catalog *c) VPXI_WUR;
void vpxi_catalog_free(struct vpxi_catalog *c);
/* The entry called name (NUL-terminated), or NULL. Binary search. */
const struct vpxi_image *vpxi_catalog_find(const struct vpxi_catalog *c, const char *name);
/* Reads the rest of an entry; pointers borrow from the entry's catalogue. */
int vpxi_image_details(const struct vpxi_image *im, struct vpxi_image_meta *out) VPXI_WUR;
/* True iff s is a valid image name. */
bool vpxi_image_name_ok(const uint8_t *s, size_t len);
/* Lower-case hex of an image's SHA-256 (65 octets with the NUL). */
void vpxi_image_hex(const struct vpxi_image *im, char out[static 2 * VPXI_SHA256_LEN + 1]);

/* ---- building and signing (lib/catalog/sign.c) -------------------------------- */

/* An image entry to build; NULL / 0 / VPXI_TIME_MIN fields are left out. */
struct vpxi_image_info {
    const char *name, *version, *producer, *os, *arch, *runtime, *purpose;
    uint8_t sha256[VPXI_SHA256_LEN];
    uint8_t sha512[VPXI_SHA512_LEN];
    bool has_sha512;
    uint64_t size;
    int64_t produced;
    const char *const *urls;
    size_t nurls;
    const char *const *tags;
    size_t ntags;
    unsigned flags;
};

/* Builds (image ...) in sx and checks it against the grammar. */
int vpxi_image_build(struct vpxi_sx *sx, const struct vpxi_image_info *in,
                     struct vpxi_sexp **out) VPXI_WUR;
/* Checks one (image ...) expression (e.g. from a draft) against the grammar;
 * why receives a one-line reason. */
int vpxi_image_check(const struct vpxi_sexp *n, char *why, size_t whylen) VPXI_WUR;

/* What goes into a catalogue. */
struct vpxi_catalog_draft {
    const char *label; /* NULL for none */
    uint64_t version;  /* >= 1, larger than the previous one */
    int64_t issued, expires;
    const struct vpxi_sexp *trust; /* (trust (acl ...) (source ...)...) or NULL */
    const uint8_t *images;         /* concatenated canonical (image ...) elements, any order */
    size_t images_len;
    const uint8_t *chain; /* concatenated canonical (cert ..) (signature ..) (public-key ..)
                             elements (delegation to the signer), or NULL */
    size_t chain_len;
};

/*
 * Writes the signed canonical catalogue for the draft into out, signed by
 * key (a private key). Entries are sorted by name; the result is parsed back
 * and checked before it is returned, so a catalogue that would be refused is
 * never produced (a duplicate name gives VPXI_ERR_DUPLICATE, and why says
 * which). why may be NULL.
 */
int vpxi_catalog_sign(const struct vpxi_catalog_draft *d, struct vpxi_key *key, struct vpxi_wr *out,
                      char *why, size_t whylen) VPXI_WUR;

/* ---- JSON (lib/catalog/json.c) ---------------------------------------------------- */

/* The catalogue as one JSON object (docs/catalog.md describes every field).
 * Binary digests are lower-case hex; dates are SPKI dates (UTC). */
int vpxi_catalog_write_json(struct vpxi_catalog *c, struct vpxi_wr *w) VPXI_WUR;
/* One image entry as a JSON object (the elements of "images" above). */
int vpxi_image_write_json(const struct vpxi_image *im, struct vpxi_wr *w) VPXI_WUR;
/* One JSON string with escapes, for callers writing JSON around it. */
int vpxi_json_string(struct vpxi_wr *w, const uint8_t *p, size_t len);

/* ---- trust configuration (lib/catalog/trust.c) --------------------------------- */

/*
 * The provider's trust configuration, file DIR/trust:
 *   (catalog-trust
 *    (acl (entry (subject PRINCIPAL | (k-of-n K N PRINCIPAL...)) (propagate)
 *                (tag (endorse NAME-OR-PATTERN)) (valid ..)? (comment ..)?)...)
 *    (source URL)...
 *    (refresh (interval SECONDS)? (jitter SECONDS)? (warn SECONDS)?)?
 *    (max-size OCTETS)?)
 * An entry's (propagate) is required for it to be of any use: the
 * endorsement itself is a statement issued by the endorser.
 */
struct vpxi_trust {
    struct vpxi_sx *sx;
    const struct vpxi_sexp *node; /* the whole (catalog-trust ...) */
    struct vpxi_acl *acl;
    char *sources[VPXI_CATALOG_SOURCES_MAX];
    size_t nsources;
    int64_t interval, jitter, warn; /* seconds */
    size_t max_size;                /* octets */
};

/* Parses a trust configuration in any S-expression form; why gets
 * "offset N: reason" or the element at fault. */
int vpxi_trust_parse(const uint8_t *p, size_t len, struct vpxi_trust **out, char *why,
                     size_t whylen) VPXI_WUR;
void vpxi_trust_free(struct vpxi_trust *t);
/* True iff a source names something vpxi fetches: http://, https://,
 * file:///, or an absolute path. */
bool vpxi_source_ok(const char *s);

/* ---- the provider (lib/catalog/provider.c, policy.c, import.c) --------------- */

/*
 * DIR layout (docs/catalog.md):
 *   trust                      the trust configuration (edited by the operator)
 *   state                      last version seen per endorser key (anti-rollback)
 *   catalogs/KEYID.cat         the last good signed catalogue of each endorser
 *   images/sha256/HEX          verified images, read-only, content-addressed
 *   images/sha256/HEX.ok       verification stamp (size, SHA-512, inode, times)
 *   images/partial/HEX.part    downloads in progress (never startable)
 *   lock                       taken by imports, so two never interleave
 * Every file is replaced atomically (temporary file, fsync, rename, fsync of
 * the directory), so a crash at any point leaves the previous good state.
 * Every decision first checks whether another process changed state, trust
 * or catalogs/ (an import by the CLI while a daemon holds the provider) and
 * reloads if so; a reload that fails keeps the loaded state (and a note).
 */
struct vpxi_provider;

/* Loads the provider state kept in dir (trust configuration + imported
 * catalogues + image store). A stored catalogue that no longer parses or
 * verifies is left out (fail closed) and reported by vpxi_provider_notes(). */
int vpxi_provider_open(const char *dir, struct vpxi_provider **out, char *err,
                       size_t errlen) VPXI_WUR;
void vpxi_provider_close(struct vpxi_provider *p);

/*
 * Decides, at time now, whether image NAME may start a node: the image's
 * digest must be endorsed by k of n trusted endorsers (within their
 * delegated scope, unexpired, not revoked), and the image file must be
 * present and verified in the store. On success fills path (the verified
 * image file: a tarball or directory) and digest (lowercase hex SHA-256),
 * else returns a specific error with a one-line reason in why.
 * The store check re-hashes the file when its verification stamp no longer
 * matches the file (size, inode, mtime, ctime); a file that then fails is
 * removed (VPXI_ERR_HASH_MISMATCH).
 */
int vpxi_provider_accept(struct vpxi_provider *p, const char *name, int64_t now, char *path,
                         size_t pathlen, char digest[65], char *why, size_t whylen) VPXI_WUR;

/* As accept, but always re-hashes the stored file (SHA-256 and SHA-512)
 * instead of trusting its stamp: what `vpxi catalog verify` runs. */
int vpxi_provider_verify(struct vpxi_provider *p, const char *name, int64_t now, char *path,
                         size_t pathlen, char digest[65], char *why, size_t whylen) VPXI_WUR;

/* The policy half of accept (no store check): which digest, if any, the
 * endorsements accept now. */
struct vpxi_decision {
    int code;      /* 0: accepted */
    char why[320]; /* on refusal: one line */
    uint8_t sha256[VPXI_SHA256_LEN];
    uint8_t sha512[VPXI_SHA512_LEN];
    bool has_sha512;
    uint64_t size;
    size_t endorsements; /* approved, unrevoked entries for the accepted digest */
    int64_t valid_until; /* end of the reduced validity (VPXI_TIME_MAX: open) */
    bool stored;         /* the image is in the store (stamp present) */
};
int vpxi_provider_decide(struct vpxi_provider *p, const char *name, int64_t now,
                         struct vpxi_decision *d) VPXI_WUR;

/* One line per event of an import. */
enum vpxi_import_event_kind {
    VPXI_IMPORT_ADDED = 1,    /* a name new in this endorser's catalogue */
    VPXI_IMPORT_UPDATED = 2,  /* same name, new digest */
    VPXI_IMPORT_REMOVED = 3,  /* the name left the catalogue */
    VPXI_IMPORT_REVOKED = 4,  /* marked revoked or no longer approved */
    VPXI_IMPORT_REJECTED = 5, /* an entry outside the endorser's delegated scope */
    VPXI_IMPORT_WARNING = 6,  /* something expires soon */
};

struct vpxi_import_event {
    enum vpxi_import_event_kind kind;
    int code;      /* VPXI_ERR_* for REJECTED, 0 otherwise */
    size_t source; /* index into rep->sources, or SIZE_MAX for provider-wide warnings */
    char name[VPXI_CATALOG_NAME_MAX + 1];
    char why[200];
};

/* What happened to one source. result is 0 when its catalogue was imported
 * (or unchanged); otherwise the source was refused and the endorser's
 * previous catalogue, if any, is kept. */
struct vpxi_import_source {
    char source[VPXI_CATALOG_URL_MAX + 1];
    int result;
    char why[256];
    char endorser[17]; /* short key id of the signer, "" if unknown */
    bool unchanged;    /* same version, same bytes as the stored one */
    uint64_t old_version, version;
    int64_t expires;
    size_t images, added, updated, removed, revoked, rejected;
};

enum { VPXI_IMPORT_EVENTS_MAX = 4096 };

struct vpxi_import_report {
    struct vpxi_import_source *sources;
    size_t nsources;
    struct vpxi_import_event *events; /* the first VPXI_IMPORT_EVENTS_MAX */
    size_t nevents, events_dropped;
    size_t warnings;
};

void vpxi_import_report_clear(struct vpxi_import_report *rep);

/* Re-imports from the configured sources (files or URLs); used by the
 * periodic refresh. Returns 0 if every source was imported (or unchanged),
 * else the first source's error (the report has every detail); a source's
 * failure never changes what was imported from it before. */
int vpxi_provider_refresh(struct vpxi_provider *p, int64_t now, struct vpxi_import_report *rep);
/* As refresh, from the given sources instead of the configured ones. */
int vpxi_provider_import(struct vpxi_provider *p, const char *const *sources, size_t n, int64_t now,
                         struct vpxi_import_report *rep);
/* When the next periodic refresh is due: now + interval + a random share of
 * the jitter (from the trust configuration). */
int64_t vpxi_provider_next_refresh(const struct vpxi_provider *p, int64_t now);
/* Adds to rep a warning for each catalogue, delegation and trust entry that
 * expires within the configured warning time. */
void vpxi_provider_warnings(struct vpxi_provider *p, int64_t now, struct vpxi_import_report *rep);

/* Progress of a transfer, for a progress bar. total is 0 if unknown. */
struct vpxi_progress {
    void (*fn)(void *arg, const char *what, uint64_t done, uint64_t total);
    void *arg;
};

/* Fetches image NAME if the policy accepts it now and it is not in the
 * store: tries its URLs in order, resumes a partial download, verifies every
 * listed digest while streaming and stores the file under its digest only
 * once all match. digest receives the hex SHA-256. */
int vpxi_provider_fetch(struct vpxi_provider *p, const char *name, int64_t now,
                        const struct vpxi_progress *prog, char digest[65], char *why,
                        size_t whylen) VPXI_WUR;

/* Read access for listings. */
const struct vpxi_trust *vpxi_provider_trust(const struct vpxi_provider *p);
size_t vpxi_provider_ncatalogs(const struct vpxi_provider *p);
struct vpxi_catalog *vpxi_provider_catalog(const struct vpxi_provider *p, size_t i);
const char *vpxi_provider_dir(const struct vpxi_provider *p);
/* Problems found by open (catalogues left out), one per line, or "". */
const char *vpxi_provider_notes(const struct vpxi_provider *p);

/* ---- image files (lib/catalog/store.c) ----------------------------------------- */

/* Hashes a file in one pass; either output may be NULL to skip that digest.
 * size receives the length read. */
int vpxi_image_hash_file(const char *path, uint8_t *sha256, uint8_t *sha512,
                         uint64_t *size) VPXI_WUR;

#endif
