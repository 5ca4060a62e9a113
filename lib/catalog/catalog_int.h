/*
 * catalog_int.h - internals shared by the files of lib/catalog/.
 *
 *   format.c    signed catalogue parser (canonical scanner, header, sequence)
 *   entry.c     the grammar of one (image ...) entry and its fields
 *   sign.c      image entries, catalogue signing and signature check
 *   json.c      JSON export
 *   trust.c     the provider's trust configuration
 *   policy.c    endorsement statements and the accept decision (reduction)
 *   provider.c  provider directory: open, state file, stored catalogues
 *   import.c    import rules (signature, freshness, trust, scope) and report
 *   store.c     content-addressed image store and file hashing
 *   fetch.c     libcurl transfers (catalogues to memory, images to files)
 */
#ifndef VPXI_CATALOG_INT_H
#define VPXI_CATALOG_INT_H

#include <stdio.h>

#include "vpxi/catalog.h"
#include "vpxi/sexp.h"

struct vpxi_wr;

/* ---- format.c ---------------------------------------------------------------- */

/* The fields of one (image ...) expression, pointing at its atoms. */
struct image_fields {
    const struct vpxi_sexp *name, *version, *sha256, *sha512, *producer;
    const struct vpxi_sexp *os, *arch, *runtime, *purpose;
    const struct vpxi_sexp *urls[VPXI_CATALOG_URLS_MAX];
    size_t nurls;
    const struct vpxi_sexp *tags[VPXI_CATALOG_TAGS_MAX];
    size_t ntags;
    uint64_t size;
    int64_t produced;
    unsigned flags;
};

/* Checks an (image ...) tree against the grammar and fills f. */
int cat_image_walk(const struct vpxi_sexp *n, struct image_fields *f, char *why, size_t whylen);
/* An atom without display hint. */
bool cat_plain(const struct vpxi_sexp *n);
/* The atom of (KEY ATOM), or NULL. */
const struct vpxi_sexp *cat_pair_value(const struct vpxi_sexp *n);
/* Text field: 1..max octets of UTF-8 without control characters. */
bool cat_text_ok(const uint8_t *p, size_t n, size_t max);
/* A URL vpxi fetches: http://, https:// or file:///, printable, no spaces. */
bool cat_url_ok(const uint8_t *p, size_t n);
/* Calls fn(arg, offset, length) for each element of a concatenation of
 * canonical expressions; stops at the first error. */
int cat_each_elem(const uint8_t *p, size_t len, int (*fn)(void *arg, size_t off, size_t n),
                  void *arg) VPXI_WUR;
/* Formats "why" with printf arguments (never overflows; why may be NULL). */
void cat_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies an atom into a C string, truncating; for messages. */
void cat_bytes_str(const struct vpxi_bytes *b, char *out, size_t cap);

/* ---- sign.c ------------------------------------------------------------------- */

/* The signature algorithm name for a key (as in certificates), or NULL. */
const char *cat_sig_name(const struct vpxi_key *k);

/* ---- policy.c ---------------------------------------------------------------- */

/* A catalogue as the provider holds it: the parsed catalogue and the
 * statements of its (trust ...) element, built once. */
struct held_catalog {
    struct vpxi_catalog *cat;
    struct vpxi_cert **trust_stmts; /* in cat->sx */
    size_t ntrust_stmts;
    char source[VPXI_CATALOG_URL_MAX + 1];
};

/* Builds the statements of c's trust element (issuer: c's signer). */
int cat_trust_statements(struct held_catalog *h) VPXI_WUR;
/* The statement <signer, (hash sha256 |digest|), -, (endorse NAME), until expires>. */
int cat_image_statement(struct vpxi_sx *sx, const struct vpxi_catalog *c,
                        const struct vpxi_image *im, struct vpxi_cert **out) VPXI_WUR;

/* The pool of one decision: certificates and a description of each. */
struct pool {
    struct vpxi_cert *certs[VPXI_SEQ_ITEMS_MAX];
    const char *what[VPXI_SEQ_ITEMS_MAX];
    size_t n;
    struct vpxi_key *keys[VPXI_SEQ_ITEMS_MAX];
    size_t nkeys;
};

/* Adds the delegation certificates and trust statements of every held
 * catalogue that could bear on want (NULL: all). VPXI_ERR_LIMIT if more
 * than VPXI_SEQ_ITEMS_MAX would be needed. */
int cat_pool_fill(struct vpxi_sx *sx, struct pool *pl, struct held_catalog *const *held,
                  size_t nheld, const struct vpxi_sexp *want) VPXI_WUR;
/* (endorse NAME) in sx. */
int cat_endorse_tag(struct vpxi_sx *sx, const uint8_t *name, size_t len,
                    struct vpxi_sexp **out) VPXI_WUR;

/*
 * Whether the signer of c is trusted for anything by acl, given the held
 * catalogues (whose delegations and trust statements may lead to it).
 * k-of-n subjects count each of their members as trusted (a member's
 * catalogue is imported; thresholds are applied per image). On success
 * *scope is the reduced tag (the signer's endorsement scope along the path
 * found). why explains a refusal.
 */
int cat_signer_trusted(struct vpxi_sx *sx, const struct vpxi_acl *acl,
                       struct held_catalog *const *held, size_t nheld, const struct vpxi_catalog *c,
                       int64_t now, const struct vpxi_sexp **scope, char *why,
                       size_t whylen) VPXI_WUR;
/* Whether c's signer may endorse image name (reduction with want); why. */
int cat_signer_may_endorse(struct vpxi_sx *sx, const struct vpxi_acl *acl,
                           struct held_catalog *const *held, size_t nheld,
                           const struct vpxi_catalog *c, const struct vpxi_sexp *scope,
                           const struct vpxi_image *im, int64_t now, char *why,
                           size_t whylen) VPXI_WUR;

/* ---- provider.c ----------------------------------------------------------- */

struct seen {
    uint8_t id[VPXI_KEY_ID_LEN]; /* signer key id */
    uint64_t version;
    uint8_t body[VPXI_SHA256_LEN]; /* SHA-256 of the signed body at that version */
    int64_t imported;
};

/* What a file looked like when the provider last read it. */
struct file_id {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
    bool exists;
};

enum { PROV_WATCH_STATE, PROV_WATCH_TRUST, PROV_WATCH_CATALOGS, PROV_WATCH_COUNT };

struct vpxi_provider {
    char dir[4096];
    struct file_id watch[PROV_WATCH_COUNT]; /* state, trust, catalogs/ */
    struct vpxi_trust *trust;
    struct held_catalog **held;
    size_t nheld;
    struct seen *seen;
    size_t nseen;
    char notes[2048];
};

int prov_path(const struct vpxi_provider *p, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reloads the provider if another process changed its directory (an
 * import by the CLI while a daemon holds the provider open); on failure the
 * loaded state is kept and a note added. */
void prov_sync(struct vpxi_provider *p);
/* Records the watched files as they are now (after our own writes). */
void prov_snapshot(struct vpxi_provider *p);
/* Exclusive lock on DIR/lock for an import (blocks); returns the fd or -1. */
int prov_lock(const struct vpxi_provider *p);
void prov_unlock(int fd);
/* Writes p->seen to DIR/state atomically. */
int prov_save_state(const struct vpxi_provider *p) VPXI_WUR;
/* Stores a catalogue's bytes as DIR/catalogs/KEYID.cat atomically. */
int prov_save_catalog(const struct vpxi_provider *p, const struct vpxi_catalog *c) VPXI_WUR;
struct seen *prov_seen(struct vpxi_provider *p, const uint8_t id[static VPXI_KEY_ID_LEN]);
/* Records c's version as the last seen for its signer (never lowering it). */
int prov_seen_update(struct vpxi_provider *p, const struct vpxi_catalog *c, int64_t when) VPXI_WUR;
/* Loads and checks one stored or fetched catalogue into a held_catalog. */
int prov_hold(const uint8_t *p, size_t len, size_t max, const char *source,
              struct held_catalog **out, struct vpxi_catalog_error *err) VPXI_WUR;
void prov_unhold(struct held_catalog *h);

/* ---- store.c ------------------------------------------------------------------ */

/* Writes len octets to path atomically with the given mode (temporary file
 * in the same directory, fsync, rename, fsync of the directory). */
int cat_write_atomic(const char *path, const void *p, size_t len, unsigned mode) VPXI_WUR;
/* Reads a whole file (at most max octets; VPXI_ERR_TOO_LARGE beyond). */
int cat_read_file(const char *path, size_t max, uint8_t **out, size_t *len) VPXI_WUR;
/* mkdir -p for the store's directories under dir. */
int store_init(const char *dir) VPXI_WUR;
/* Checks the stored image for sha256 against its stamp (re-hashing and
 * re-stamping when the stamp does not match the file, or always if full),
 * and against sha512 and size when given. path receives the file's path. */
int store_check(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN],
                const uint8_t *sha512, uint64_t size, bool full, char *path, size_t pathlen,
                char *why, size_t whylen) VPXI_WUR;
/* True iff the image has a stamp (it was verified once). */
bool store_has(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN]);

/* A download into the store: open (resuming a partial file), feed, finish. */
struct store_dl;
int store_dl_open(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN],
                  const uint8_t *sha512, uint64_t size, struct store_dl **out,
                  uint64_t *resume_from) VPXI_WUR;
int store_dl_write(struct store_dl *d, const void *p, size_t n) VPXI_WUR;
/* Restarts from zero (the server ignored the range request). */
int store_dl_restart(struct store_dl *d) VPXI_WUR;
/* Verifies and installs. A digest mismatch deletes the partial file
 * (VPXI_ERR_HASH_MISMATCH); a short file keeps it for resuming
 * (VPXI_ERR_TRUNCATED). */
int store_dl_finish(struct store_dl *d, char *why, size_t whylen) VPXI_WUR;
void store_dl_free(struct store_dl *d);
/* Removes the partial download of an image. */
int unlink_partial(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN]);
uint64_t store_dl_size(const struct store_dl *d);
uint64_t store_dl_written(const struct store_dl *d);

/* ---- fetch.c ------------------------------------------------------------------ */

/* Reads a catalogue from a URL or a path into memory (at most max octets). */
int fetch_to_memory(const char *src, size_t max, uint8_t **out, size_t *len, char *why,
                    size_t whylen) VPXI_WUR;
/* Downloads url into d from offset; progress as given. */
int fetch_to_store(const char *url, struct store_dl *d, uint64_t offset, const char *what,
                   const struct vpxi_progress *prog, char *why, size_t whylen) VPXI_WUR;

#endif
