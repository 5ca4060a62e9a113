/*
 * provider.c - the provider's directory: opening it, the state file (the
 * last catalogue version seen per endorser, which is what refuses a
 * rollback), and the stored catalogues.
 *
 * Crash safety: a stored catalogue is written before the state file, each
 * atomically. On open, the version seen for an endorser is the larger of
 * the state file's and the stored catalogue's, so a crash between the two
 * writes can never lower it. A stored catalogue is a complete signed file
 * and is verified again on open; one that fails is left out (fail closed)
 * and reported in the notes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

enum {
    STATE_MAX = 4 * 1024 * 1024, /* octets of the state file */
    SEEN_MAX = 4096,             /* endorsers remembered */
    TRUST_FILE_MAX = 4 * 1024 * 1024,
};

int prov_path(const struct vpxi_provider *p, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(out, cap, "%s/", p->dir);

    if (n < 0 || (size_t)n >= cap)
        return VPXI_ERR_TOO_LARGE;
    va_start(ap, fmt);
    n = vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap - strlen(p->dir) - 1 ? VPXI_ERR_TOO_LARGE : 0;
}

static void note(struct vpxi_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct vpxi_provider *p, const char *fmt, ...)
{
    size_t n = strlen(p->notes);
    va_list ap;

    if (n + 2 >= sizeof(p->notes))
        return;
    va_start(ap, fmt);
    vsnprintf(p->notes + n, sizeof(p->notes) - n - 1, fmt, ap);
    va_end(ap);
    n = strlen(p->notes);
    p->notes[n] = '\n';
    p->notes[n + 1] = '\0';
}

/* ---- held catalogues ---------------------------------------------------------- */

void prov_unhold(struct held_catalog *h)
{
    if (!h)
        return;
    vpxi_catalog_free(h->cat);
    vpxi_free(h);
}

int prov_hold(const uint8_t *p, size_t len, size_t max, const char *source,
              struct held_catalog **out, struct vpxi_catalog_error *err)
{
    struct held_catalog *h;
    int r;

    *out = NULL;
    if ((h = vpxi_calloc(1, sizeof(*h))) == NULL)
        return VPXI_ERR_NOMEM;
    snprintf(h->source, sizeof(h->source), "%s", source ? source : "");
    if ((r = vpxi_catalog_parse(p, len, max, &h->cat, err)) != 0)
        goto fail;
    if ((r = vpxi_catalog_verify(h->cat)) != 0) {
        if (err) {
            err->code = r;
            err->offset = SIZE_MAX; /* not a place in the file */
            cat_why(err->why, sizeof(err->why), "bad catalogue signature: %s", vpxi_strerror(r));
        }
        goto fail;
    }
    if ((r = cat_trust_statements(h)) != 0) {
        if (err) {
            err->code = r;
            err->offset = SIZE_MAX;
            cat_why(err->why, sizeof(err->why), "(trust ...): %s", vpxi_strerror(r));
        }
        goto fail;
    }
    *out = h;
    return 0;
fail:
    prov_unhold(h);
    return r;
}

/* ---- state ---------------------------------------------------------------------- */

struct seen *prov_seen(struct vpxi_provider *p, const uint8_t id[static VPXI_KEY_ID_LEN])
{
    for (size_t i = 0; i < p->nseen; i++)
        if (memcmp(p->seen[i].id, id, VPXI_KEY_ID_LEN) == 0)
            return &p->seen[i];
    return NULL;
}

static int seen_parse(const struct vpxi_sexp *e, struct seen *s)
{
    const struct vpxi_sexp *k = vpxi_sexp_find(e, "key"), *v = vpxi_sexp_find(e, "version"),
                           *b = vpxi_sexp_find(e, "body"), *t = vpxi_sexp_find(e, "imported");
    const struct vpxi_sexp *kv = vpxi_sexp_nth(k, 1), *bv = vpxi_sexp_nth(b, 1),
                           *tv = vpxi_sexp_nth(t, 1);

    memset(s, 0, sizeof(*s));
    if (!vpxi_sexp_is_atom(kv) || kv->len != VPXI_KEY_ID_LEN || !vpxi_sexp_is_atom(bv) ||
        bv->len != VPXI_SHA256_LEN || !v || vpxi_sexp_get_u64(vpxi_sexp_nth(v, 1), &s->version) ||
        !vpxi_sexp_is_atom(tv) || vpxi_date_parse(tv->data, tv->len, &s->imported) != 0)
        return VPXI_ERR_BAD_FORMAT;
    memcpy(s->id, kv->data, VPXI_KEY_ID_LEN);
    memcpy(s->body, bv->data, VPXI_SHA256_LEN);
    return 0;
}

static int load_state(struct vpxi_provider *p, char *err, size_t errlen)
{
    char path[4096];
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    uint8_t *buf = NULL;
    size_t len, i = 0;
    int r;

    if ((r = prov_path(p, path, sizeof(path), "state")) != 0)
        return r;
    if ((r = cat_read_file(path, STATE_MAX, &buf, &len)) == VPXI_ERR_NOT_FOUND)
        return 0; /* a new provider */
    if (r)
        return cat_why(err, errlen, "%s: %s", path, vpxi_strerror(r)), r;
    if ((sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    if ((r = vpxi_sexp_read(sx, buf, len, NULL, &n, NULL)) != 0 ||
        !vpxi_sexp_head_is(n, "provider-state") || n->len - 1 > SEEN_MAX) {
        r = r ? r : VPXI_ERR_BAD_FORMAT;
        cat_why(err, errlen, "%s: not a provider state file", path);
        goto out;
    }
    if ((p->seen = vpxi_calloc(n->len, sizeof(*p->seen))) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    for (const struct vpxi_sexp *e = n->child->next; e; e = e->next, i++) {
        if (!vpxi_sexp_head_is(e, "seen") || (r = seen_parse(e, &p->seen[i])) != 0) {
            r = VPXI_ERR_BAD_FORMAT;
            cat_why(err, errlen, "%s: entry %zu is malformed", path, i + 1);
            goto out;
        }
    }
    p->nseen = i;
out:
    vpxi_sx_free(sx);
    vpxi_free(buf);
    return r;
}

int prov_save_state(const struct vpxi_provider *p)
{
    char path[4096], d[VPXI_DATE_LEN + 1];
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n, *e;
    struct vpxi_wr w;
    int r;

    if (!sx)
        return VPXI_ERR_NOMEM;
    vpxi_wr_init_dyn(&w, STATE_MAX);
    if ((r = prov_path(p, path, sizeof(path), "state")) != 0 ||
        (r = vpxi_sexp_build(sx, &n, "(provider-state)")) != 0)
        goto out;
    for (size_t i = 0; i < p->nseen; i++) {
        vpxi_date_format(p->seen[i].imported, d);
        if ((r = vpxi_sexp_build(sx, &e, "(seen (key %b) (version %u) (body %b) (imported %s))",
                                 p->seen[i].id, (size_t)VPXI_KEY_ID_LEN, p->seen[i].version,
                                 p->seen[i].body, (size_t)VPXI_SHA256_LEN, d)) != 0)
            goto out;
        vpxi_sexp_append(n, e);
    }
    vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &w);
    vpxi_wr_u8(&w, '\n');
    if ((r = w.err) == 0)
        r = cat_write_atomic(path, w.p, w.len, 0644);
out:
    vpxi_wr_clear(&w);
    vpxi_sx_free(sx);
    return r;
}

int prov_save_catalog(const struct vpxi_provider *p, const struct vpxi_catalog *c)
{
    char path[4096], hex[2 * VPXI_KEY_ID_LEN + 1];
    int r;

    vpxi_hex_encode(hex, c->signer.hash, VPXI_KEY_ID_LEN);
    if ((r = prov_path(p, path, sizeof(path), "catalogs/%s.cat", hex)) != 0)
        return r;
    return cat_write_atomic(path, c->buf, c->len, 0644);
}

/* Remembers c's version as seen (never lowering it). */
static int seen_merge(struct vpxi_provider *p, const struct vpxi_catalog *c, int64_t when)
{
    struct seen *s = prov_seen(p, c->signer.hash), *ns;

    if (s) {
        if (c->version > s->version) {
            s->version = c->version;
            memcpy(s->body, c->body_digest, VPXI_SHA256_LEN);
            s->imported = when;
        }
        return 0;
    }
    if (p->nseen >= SEEN_MAX)
        return VPXI_ERR_LIMIT;
    if ((ns = vpxi_realloc(p->seen, (p->nseen + 1) * sizeof(*ns))) == NULL)
        return VPXI_ERR_NOMEM;
    p->seen = ns;
    s = &p->seen[p->nseen++];
    memcpy(s->id, c->signer.hash, VPXI_KEY_ID_LEN);
    s->version = c->version;
    memcpy(s->body, c->body_digest, VPXI_SHA256_LEN);
    s->imported = when;
    return 0;
}

int prov_seen_update(struct vpxi_provider *p, const struct vpxi_catalog *c, int64_t when)
{
    return seen_merge(p, c, when);
}

/* ---- stored catalogues ------------------------------------------------------------ */

static bool cat_file_name(const char *name, uint8_t id[VPXI_KEY_ID_LEN])
{
    size_t n = strlen(name), got;

    return n == 2 * VPXI_KEY_ID_LEN + 4 && strcmp(name + 2 * VPXI_KEY_ID_LEN, ".cat") == 0 &&
           vpxi_hex_decode(id, VPXI_KEY_ID_LEN, &got, name, 2 * VPXI_KEY_ID_LEN) == 0 &&
           got == VPXI_KEY_ID_LEN;
}

static int load_one(struct vpxi_provider *p, const char *name)
{
    struct vpxi_catalog_error e;
    struct held_catalog *h, **nh;
    uint8_t id[VPXI_KEY_ID_LEN], *buf;
    char path[4096];
    size_t len;
    int r;

    if (!cat_file_name(name, id))
        return 0; /* temporary files and anything else */
    if ((r = prov_path(p, path, sizeof(path), "catalogs/%s", name)) != 0)
        return r;
    if ((r = cat_read_file(path, VPXI_CATALOG_FILE_MAX, &buf, &len)) != 0) {
        note(p, "%s: left out: %s", path, vpxi_strerror(r));
        return 0;
    }
    r = prov_hold(buf, len, VPXI_CATALOG_FILE_MAX, NULL, &h, &e);
    vpxi_free(buf);
    if (r) {
        note(p, "%s: left out: %s", path, e.why);
        return r == VPXI_ERR_NOMEM ? r : 0;
    }
    if (memcmp(h->cat->signer.hash, id, VPXI_KEY_ID_LEN) != 0) {
        note(p, "%s: left out: signed by another key than its name says", path);
        prov_unhold(h);
        return 0;
    }
    if (p->nheld >= VPXI_PROVIDER_CATALOGS_MAX) {
        note(p, "%s: left out: more than %d catalogues", path, VPXI_PROVIDER_CATALOGS_MAX);
        prov_unhold(h);
        return 0;
    }
    if ((nh = vpxi_realloc(p->held, (p->nheld + 1) * sizeof(*nh))) == NULL) {
        prov_unhold(h);
        return VPXI_ERR_NOMEM;
    }
    p->held = nh;
    p->held[p->nheld++] = h;
    /* the stored file may be newer than the state file (crash in between) */
    return seen_merge(p, h->cat, h->cat->issued);
}

static int load_catalogs(struct vpxi_provider *p, char *err, size_t errlen)
{
    char path[4096];
    struct dirent *de;
    DIR *d;
    int r = 0;

    if ((r = prov_path(p, path, sizeof(path), "catalogs")) != 0)
        return r;
    if ((d = opendir(path)) == NULL)
        return cat_why(err, errlen, "%s: %s", path, strerror(errno)), VPXI_ERR_SYS;
    while ((de = readdir(d)) != NULL && r == 0)
        r = load_one(p, de->d_name);
    closedir(d);
    return r;
}

static int load_trust(struct vpxi_provider *p, char *err, size_t errlen)
{
    char path[4096], why[200];
    uint8_t *buf;
    size_t len;
    int r;

    if ((r = prov_path(p, path, sizeof(path), "trust")) != 0)
        return r;
    if ((r = cat_read_file(path, TRUST_FILE_MAX, &buf, &len)) != 0)
        return cat_why(err, errlen, "%s: %s%s", path, vpxi_strerror(r),
                       r == VPXI_ERR_NOT_FOUND ? " (create it: vpxi catalog trust add ...)" : ""),
               r;
    r = vpxi_trust_parse(buf, len, &p->trust, why, sizeof(why));
    vpxi_free(buf);
    if (r)
        cat_why(err, errlen, "%s: %s", path, why);
    return r;
}

int vpxi_provider_open(const char *dir, struct vpxi_provider **out, char *err, size_t errlen)
{
    struct vpxi_provider *p;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    cat_why(err, errlen, "%s", "");
    if (!dir || !*dir)
        vpxi_misuse("vpxi_provider_open: no directory");
    if ((p = vpxi_calloc(1, sizeof(*p))) == NULL)
        return VPXI_ERR_NOMEM;
    if (snprintf(p->dir, sizeof(p->dir), "%s", dir) >= (int)sizeof(p->dir)) {
        r = VPXI_ERR_TOO_LARGE;
        goto fail;
    }
    /* nothing is created in a directory without a trust configuration */
    if ((r = load_trust(p, err, errlen)) != 0)
        goto fail;
    if ((r = store_init(dir)) != 0) {
        cat_why(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    prov_snapshot(p); /* before reading: a change while we read is seen next time */
    if ((r = load_state(p, err, errlen)) != 0 || (r = load_catalogs(p, err, errlen)) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    if (err && errlen && !err[0])
        cat_why(err, errlen, "%s: %s", dir, vpxi_strerror(r));
    vpxi_provider_close(p);
    return r;
}

void vpxi_provider_close(struct vpxi_provider *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nheld; i++)
        prov_unhold(p->held[i]);
    vpxi_free(p->held);
    vpxi_free(p->seen);
    vpxi_trust_free(p->trust);
    vpxi_free(p);
}

/* ---- other processes ------------------------------------------------------------ */

static void file_id_of(const struct vpxi_provider *p, const char *name, struct file_id *id)
{
    char path[4096];
    struct stat st;

    memset(id, 0, sizeof(*id));
    if (prov_path(p, path, sizeof(path), "%s", name) != 0 || stat(path, &st) != 0)
        return;
    id->exists = true;
    id->dev = (uint64_t)st.st_dev;
    id->ino = (uint64_t)st.st_ino;
    id->size = (uint64_t)st.st_size;
    id->mtime_s = st.st_mtim.tv_sec;
    id->mtime_ns = st.st_mtim.tv_nsec;
    id->ctime_s = st.st_ctim.tv_sec;
    id->ctime_ns = st.st_ctim.tv_nsec;
}

static const char *const watched[PROV_WATCH_COUNT] = { "state", "trust", "catalogs" };

void prov_snapshot(struct vpxi_provider *p)
{
    for (int i = 0; i < PROV_WATCH_COUNT; i++)
        file_id_of(p, watched[i], &p->watch[i]);
}

static bool prov_changed(const struct vpxi_provider *p)
{
    struct file_id now;

    for (int i = 0; i < PROV_WATCH_COUNT; i++) {
        file_id_of(p, watched[i], &now);
        if (memcmp(&now, &p->watch[i], sizeof(now)) != 0)
            return true;
    }
    return false;
}

void prov_sync(struct vpxi_provider *p)
{
    struct vpxi_provider *fresh, old;
    char err[256];

    if (!prov_changed(p))
        return;
    if (vpxi_provider_open(p->dir, &fresh, err, sizeof(err)) != 0) {
        /* keep what we have; do not retry on every call */
        prov_snapshot(p);
        note(p, "reload of %s failed, previous state kept: %s", p->dir, err);
        return;
    }
    old = *p;
    *p = *fresh;
    *fresh = old;
    vpxi_provider_close(fresh);
}

int prov_lock(const struct vpxi_provider *p)
{
    char path[4096];
    int fd;

    if (prov_path(p, path, sizeof(path), "lock") != 0 ||
        (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return -1;
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    return fd;
}

void prov_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- accessors ---------------------------------------------------------------------- */

const struct vpxi_trust *vpxi_provider_trust(const struct vpxi_provider *p)
{
    return p->trust;
}

size_t vpxi_provider_ncatalogs(const struct vpxi_provider *p)
{
    return p->nheld;
}

struct vpxi_catalog *vpxi_provider_catalog(const struct vpxi_provider *p, size_t i)
{
    return i < p->nheld ? p->held[i]->cat : NULL;
}

const char *vpxi_provider_dir(const struct vpxi_provider *p)
{
    return p->dir;
}

const char *vpxi_provider_notes(const struct vpxi_provider *p)
{
    return p->notes;
}

int64_t vpxi_provider_next_refresh(const struct vpxi_provider *p, int64_t now)
{
    uint32_t rnd = 0;
    int64_t j = p->trust->jitter;

    if (j > 0 && vpxi_random(&rnd, sizeof(rnd)) == 0)
        j = (int64_t)(rnd % (uint64_t)(j + 1));
    else
        j = 0;
    return now + p->trust->interval + j;
}
