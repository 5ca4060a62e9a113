/*
 * import.c - importing endorsers' catalogues: the rules and the report.
 *
 * For each source, in order:
 *   1. fetch (file or URL), at most the trust configuration's max-size;
 *   2. parse and check the signature over the exact body;
 *   3. freshness: not expired (a frozen mirror serving an old catalogue is
 *      refused), not issued in the future, version not lower than the last
 *      one seen for this endorser, and not the same version with another
 *      body (TUF's rules against rollback and freeze);
 *   4. trust: the signer must be reachable from the provider's ACL through
 *      delegation certificates and exported trust lists (k-of-n members
 *      count; thresholds are applied per image when deciding);
 *   5. scope: each approved entry must lie inside what the signer may
 *      endorse; entries outside are reported as rejected (and the reduction
 *      refuses them when deciding, whatever the report said).
 * A source that fails any of 1-4 leaves the endorser's previous catalogue
 * in place. Trust exports (catalogues with a (trust ...) element) add their
 * sources to the run once their signer is trusted (export chaining).
 * Accepted catalogues are stored (atomically) before the state file; the
 * in-memory provider is switched to the new set only after both writes.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

enum cand_state { C_LOADED, C_TRUSTED, C_DROPPED };

struct cand {
    struct held_catalog *h; /* owned until committed */
    size_t src;
    enum cand_state state;
    const struct vpxi_sexp *scope;
    bool unchanged;
    bool *rejected; /* per entry (sorted index): outside the signer's scope */
};

struct run {
    struct vpxi_provider *p;
    struct vpxi_import_report *rep;
    int64_t now;
    char work[VPXI_CATALOG_SOURCES_MAX][VPXI_CATALOG_URL_MAX + 1];
    size_t nwork;
    struct cand cands[VPXI_CATALOG_SOURCES_MAX];
    size_t ncands;
    struct vpxi_sx *sx; /* reductions of this run */
};

/* ---- the report ---------------------------------------------------------------- */

void vpxi_import_report_clear(struct vpxi_import_report *rep)
{
    if (!rep)
        return;
    vpxi_free(rep->sources);
    vpxi_free(rep->events);
    memset(rep, 0, sizeof(*rep));
}

static void event(struct vpxi_import_report *rep, enum vpxi_import_event_kind kind, int code,
                  size_t src, const struct vpxi_bytes *name, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void event(struct vpxi_import_report *rep, enum vpxi_import_event_kind kind, int code,
                  size_t src, const struct vpxi_bytes *name, const char *fmt, ...)
{
    struct vpxi_import_event *e;
    va_list ap;

    if (kind == VPXI_IMPORT_WARNING)
        rep->warnings++;
    if (rep->nevents >= VPXI_IMPORT_EVENTS_MAX) {
        rep->events_dropped++;
        return;
    }
    if (!rep->events &&
        (rep->events = vpxi_calloc(VPXI_IMPORT_EVENTS_MAX, sizeof(*rep->events))) == NULL) {
        rep->events_dropped++;
        return;
    }
    e = &rep->events[rep->nevents++];
    e->kind = kind;
    e->code = code;
    e->source = src;
    e->name[0] = '\0';
    if (name)
        cat_bytes_str(name, e->name, sizeof(e->name));
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
}

static int src_fail(struct vpxi_import_source *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int src_fail(struct vpxi_import_source *s, int code, const char *fmt, ...)
{
    va_list ap;

    s->result = code;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
    return code;
}

static void date_str(int64_t t, char out[VPXI_DATE_LEN + 1])
{
    vpxi_date_format(t, out);
}

/* ---- loading -------------------------------------------------------------------- */

static struct held_catalog *held_of(struct vpxi_provider *p, const uint8_t *id)
{
    for (size_t i = 0; i < p->nheld; i++)
        if (memcmp(p->held[i]->cat->signer.hash, id, VPXI_KEY_ID_LEN) == 0)
            return p->held[i];
    return NULL;
}

/* Step 3: freshness against the time and the last version seen. */
static int fresh(struct run *run, struct vpxi_import_source *s, const struct vpxi_catalog *c)
{
    struct seen *seen = prov_seen(run->p, c->signer.hash);
    char d[VPXI_DATE_LEN + 1];

    if (run->now > c->expires) {
        date_str(c->expires, d);
        return src_fail(s, VPXI_ERR_EXPIRED,
                        "catalogue version %" PRIu64 " expired at %s (stale or frozen mirror?)",
                        c->version, d);
    }
    if (c->issued > run->now + VPXI_CATALOG_SKEW_SEC) {
        date_str(c->issued, d);
        return src_fail(s, VPXI_ERR_NOT_YET_VALID, "catalogue issued in the future (%s)", d);
    }
    if (!seen)
        return 0;
    s->old_version = seen->version;
    if (c->version < seen->version)
        return src_fail(s, VPXI_ERR_ROLLBACK,
                        "rollback: version %" PRIu64 " is older than version %" PRIu64
                        " already imported",
                        c->version, seen->version);
    if (c->version == seen->version && memcmp(c->body_digest, seen->body, VPXI_SHA256_LEN) != 0)
        return src_fail(s, VPXI_ERR_ROLLBACK,
                        "version %" PRIu64 " was imported before with different content "
                        "(an endorser must raise the version)",
                        c->version);
    return 0;
}

/* Another source of this run already gave a catalogue of the same signer. */
static int same_signer(struct run *run, struct vpxi_import_source *s, struct held_catalog *h)
{
    for (size_t i = 0; i < run->ncands; i++) {
        struct cand *o = &run->cands[i];
        const struct vpxi_catalog *a = o->h ? o->h->cat : NULL, *b = h->cat;
        if (o->state == C_DROPPED || !a || memcmp(a->signer.hash, b->signer.hash, 32) != 0)
            continue;
        if (b->version < a->version)
            return src_fail(s, VPXI_ERR_ROLLBACK,
                            "version %" PRIu64 " is older than version %" PRIu64 " from source %zu",
                            b->version, a->version, o->src + 1);
        if (b->version == a->version) {
            if (memcmp(a->body_digest, b->body_digest, VPXI_SHA256_LEN) != 0)
                return src_fail(s, VPXI_ERR_ROLLBACK,
                                "version %" PRIu64 " differs from the one from source %zu",
                                b->version, o->src + 1);
            s->unchanged = true; /* a mirror of the same catalogue */
            return 1;
        }
        /* newer: it replaces the other one */
        src_fail(&run->rep->sources[o->src], 0, "superseded by source %zu (version %" PRIu64 ")",
                 s - run->rep->sources + 1, b->version);
        prov_unhold(o->h);
        o->h = NULL;
        o->state = C_DROPPED;
    }
    return 0;
}

static void load(struct run *run, size_t i)
{
    struct vpxi_import_source *s = &run->rep->sources[i];
    struct vpxi_catalog_error e;
    struct held_catalog *h;
    uint8_t *buf;
    size_t len;
    char why[200];
    int r;

    snprintf(s->source, sizeof(s->source), "%s", run->work[i]);
    if ((r = fetch_to_memory(s->source, run->p->trust->max_size, &buf, &len, why, sizeof(why))) !=
        0) {
        src_fail(s, r, "cannot fetch: %s", why);
        return;
    }
    r = prov_hold(buf, len, run->p->trust->max_size, s->source, &h, &e);
    vpxi_free(buf);
    if (r) {
        if (e.offset == SIZE_MAX)
            src_fail(s, r, "%s", e.why);
        else
            src_fail(s, r, "%s (byte %zu)", e.why, e.offset);
        return;
    }
    vpxi_principal_short(&h->cat->signer, s->endorser);
    s->version = h->cat->version;
    s->expires = h->cat->expires;
    s->images = h->cat->nimages;
    if (fresh(run, s, h->cat) != 0 || same_signer(run, s, h) != 0) {
        prov_unhold(h);
        return;
    }
    run->cands[run->ncands].h = h;
    run->cands[run->ncands].src = i;
    run->cands[run->ncands].state = C_LOADED;
    run->ncands++;
}

/* ---- trust -------------------------------------------------------------------------- */

/* The catalogues as they would be after this run: held ones replaced by
 * candidates of the same signer. */
static size_t view(struct run *run, struct held_catalog **out)
{
    size_t n = 0;

    for (size_t i = 0; i < run->ncands; i++)
        if (run->cands[i].state != C_DROPPED && run->cands[i].h)
            out[n++] = run->cands[i].h;
    for (size_t i = 0; i < run->p->nheld; i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (memcmp(out[j]->cat->signer.hash, run->p->held[i]->cat->signer.hash, 32) == 0)
                break;
        if (j == n && n < VPXI_CATALOG_SOURCES_MAX + VPXI_PROVIDER_CATALOGS_MAX)
            out[n++] = run->p->held[i];
    }
    return n;
}

/* Appends the sources of a trusted export to the work list (deduplicated). */
static void chain_sources(struct run *run, const struct vpxi_catalog *c)
{
    for (size_t i = 0; i < c->nsources; i++) {
        char src[VPXI_CATALOG_URL_MAX + 1];
        size_t j;
        cat_bytes_str(&c->sources[i], src, sizeof(src));
        for (j = 0; j < run->nwork && strcmp(run->work[j], src) != 0; j++)
            ;
        if (j == run->nwork && run->nwork < VPXI_CATALOG_SOURCES_MAX)
            snprintf(run->work[run->nwork++], sizeof(run->work[0]), "%s", src);
    }
}

static void trust_pass(struct run *run)
{
    struct held_catalog *all[VPXI_CATALOG_SOURCES_MAX + VPXI_PROVIDER_CATALOGS_MAX];
    size_t n = view(run, all);

    for (size_t i = 0; i < run->ncands; i++) {
        struct cand *cd = &run->cands[i];
        struct vpxi_import_source *s = &run->rep->sources[cd->src];
        char why[240];
        int r;

        if (cd->state != C_LOADED)
            continue;
        r = cat_signer_trusted(run->sx, run->p->trust->acl, all, n, cd->h->cat, run->now,
                               &cd->scope, why, sizeof(why));
        if (r) {
            src_fail(s, r, "signer %s is not trusted by this provider: %s", s->endorser, why);
            prov_unhold(cd->h);
            cd->h = NULL;
            cd->state = C_DROPPED;
            n = view(run, all);
            continue;
        }
        cd->state = C_TRUSTED;
        chain_sources(run, cd->h->cat);
    }
}

/* ---- scope and differences ------------------------------------------------------------ */

static bool startable(const struct vpxi_image *im)
{
    return (im->flags & VPXI_IMAGE_APPROVED) && !(im->flags & VPXI_IMAGE_REVOKED);
}

static void scope_check(struct run *run, struct cand *cd, struct held_catalog **all, size_t n)
{
    struct vpxi_import_source *s = &run->rep->sources[cd->src];
    const struct vpxi_catalog *c = cd->h->cat;
    struct vpxi_sx *scratch = NULL;
    size_t checked = 0;
    char why[200];

    for (size_t i = 0; i < c->nimages; i++) {
        const struct vpxi_image *im = &c->images[i];
        int r;
        if (!startable(im))
            continue;
        /* a fresh arena every 256 checks keeps memory flat */
        if (checked++ % 256 == 0) {
            vpxi_sx_free(scratch);
            if ((scratch = vpxi_sx_new()) == NULL)
                return;
        }
        r = cat_signer_may_endorse(scratch, run->p->trust->acl, all, n, c, cd->scope, im, run->now,
                                   why, sizeof(why));
        if (r) {
            if (!cd->rejected && (cd->rejected = vpxi_calloc(c->nimages, sizeof(bool))) == NULL)
                break;
            cd->rejected[i] = true;
            s->rejected++;
            event(run->rep, VPXI_IMPORT_REJECTED, r, cd->src, &im->name, "%s", why);
        }
    }
    vpxi_sx_free(scratch);
}

static void diff_one(struct run *run, struct cand *cd, const struct vpxi_image *o,
                     const struct vpxi_image *n)
{
    struct vpxi_import_source *s = &run->rep->sources[cd->src];
    struct vpxi_import_report *rep = run->rep;

    /* a rejected entry was reported as such, and endorses nothing */
    if (n && cd->rejected && cd->rejected[n - cd->h->cat->images])
        return;

    if (!o) {
        s->added++;
        event(rep, VPXI_IMPORT_ADDED, 0, cd->src, &n->name, "%s",
              startable(n) ? "new" : "new, not approved");
        return;
    }
    if (!n) {
        s->removed++;
        event(rep, VPXI_IMPORT_REMOVED, 0, cd->src, &o->name, "no longer listed");
        return;
    }
    if (memcmp(o->sha256, n->sha256, VPXI_SHA256_LEN) != 0) {
        s->updated++;
        event(rep, VPXI_IMPORT_UPDATED, 0, cd->src, &n->name, "new digest");
    }
    if (startable(o) && !startable(n)) {
        s->revoked++;
        event(rep, VPXI_IMPORT_REVOKED, 0, cd->src, &n->name, "%s",
              n->flags & VPXI_IMAGE_REVOKED ? "revoked by its endorser" : "no longer approved");
    }
}

static int bytes_cmp(const struct vpxi_bytes *a, const struct vpxi_bytes *b)
{
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);

    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Both entry arrays are sorted by name: one merge pass. */
static void diff(struct run *run, struct cand *cd, const struct vpxi_catalog *old)
{
    const struct vpxi_catalog *c = cd->h->cat;
    size_t i = 0, j = 0, no = old ? old->nimages : 0;

    while (i < no || j < c->nimages) {
        int k = i == no           ? 1
                : j == c->nimages ? -1
                                  : bytes_cmp(&old->images[i].name, &c->images[j].name);
        if (k < 0)
            diff_one(run, cd, &old->images[i++], NULL);
        else if (k > 0)
            diff_one(run, cd, NULL, &c->images[j++]);
        else
            diff_one(run, cd, &old->images[i++], &c->images[j++]);
    }
}

/* ---- committing ------------------------------------------------------------------------ */

static int commit_one(struct run *run, struct cand *cd)
{
    struct vpxi_provider *p = run->p;
    struct vpxi_import_source *s = &run->rep->sources[cd->src];
    struct held_catalog *prev = held_of(p, cd->h->cat->signer.hash), **nh;
    int r;

    if ((r = prov_save_catalog(p, cd->h->cat)) != 0)
        return src_fail(s, r, "cannot store the catalogue: %s", vpxi_strerror(r));
    if ((r = prov_seen_update(p, cd->h->cat, run->now)) != 0)
        return src_fail(s, r, "cannot record the version: %s", vpxi_strerror(r));
    if (prev) {
        for (size_t i = 0; i < p->nheld; i++)
            if (p->held[i] == prev)
                p->held[i] = cd->h;
        prov_unhold(prev);
    } else {
        if (p->nheld >= VPXI_PROVIDER_CATALOGS_MAX)
            return src_fail(s, VPXI_ERR_LIMIT, "this provider already holds %d catalogues",
                            VPXI_PROVIDER_CATALOGS_MAX);
        if ((nh = vpxi_realloc(p->held, (p->nheld + 1) * sizeof(*nh))) == NULL)
            return src_fail(s, VPXI_ERR_NOMEM, "out of memory");
        p->held = nh;
        p->held[p->nheld++] = cd->h;
    }
    cd->h = NULL;
    return 0;
}

static int commit(struct run *run)
{
    struct held_catalog *all[VPXI_CATALOG_SOURCES_MAX + VPXI_PROVIDER_CATALOGS_MAX];
    size_t n = view(run, all);
    bool changed = false;
    int r;

    /* report first, while the previous catalogues are still held */
    for (size_t i = 0; i < run->ncands; i++) {
        struct cand *cd = &run->cands[i];
        struct held_catalog *prev;
        if (cd->state != C_TRUSTED)
            continue;
        prev = held_of(run->p, cd->h->cat->signer.hash);
        if (prev && memcmp(prev->cat->file_digest, cd->h->cat->file_digest, 32) == 0) {
            cd->unchanged = true;
            run->rep->sources[cd->src].unchanged = true;
            continue;
        }
        scope_check(run, cd, all, n);
        diff(run, cd, prev ? prev->cat : NULL);
    }
    for (size_t i = 0; i < run->ncands; i++) {
        struct cand *cd = &run->cands[i];
        if (cd->state != C_TRUSTED || cd->unchanged)
            continue;
        if (commit_one(run, cd) == 0)
            changed = true;
    }
    if (changed && (r = prov_save_state(run->p)) != 0)
        return r;
    return 0;
}

/* ---- entry points ----------------------------------------------------------------------- */

int vpxi_provider_import(struct vpxi_provider *p, const char *const *sources, size_t nsrc,
                         int64_t now, struct vpxi_import_report *rep)
{
    struct run *run;
    size_t loaded = 0;
    int r = 0, lock = -1;

    memset(rep, 0, sizeof(*rep));
    if ((run = vpxi_calloc(1, sizeof(*run))) == NULL ||
        (rep->sources = vpxi_calloc(VPXI_CATALOG_SOURCES_MAX, sizeof(*rep->sources))) == NULL ||
        (run->sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    /* one import at a time per directory; then start from what is on disk */
    if ((lock = prov_lock(p)) < 0) {
        r = VPXI_ERR_SYS;
        goto out;
    }
    prov_sync(p);
    run->p = p;
    run->rep = rep;
    run->now = now;
    for (size_t i = 0; i < nsrc && run->nwork < VPXI_CATALOG_SOURCES_MAX; i++)
        snprintf(run->work[run->nwork++], sizeof(run->work[0]), "%s", sources[i]);
    /* trusted exports may add sources: load and check until none is new */
    while (loaded < run->nwork) {
        size_t upto = run->nwork;
        for (; loaded < upto; loaded++)
            load(run, loaded);
        trust_pass(run);
    }
    rep->nsources = run->nwork;
    r = commit(run);
    prov_snapshot(p); /* our own writes are not a reason to reload */
    if (r != 0)
        goto out;
    vpxi_provider_warnings(p, now, rep);
    for (size_t i = 0; i < rep->nsources && r == 0; i++)
        r = rep->sources[i].result;
out:
    prov_unlock(lock);
    if (run) {
        for (size_t i = 0; i < run->ncands; i++) {
            prov_unhold(run->cands[i].h);
            vpxi_free(run->cands[i].rejected);
        }
        vpxi_sx_free(run->sx);
        vpxi_free(run);
    }
    return r;
}

int vpxi_provider_refresh(struct vpxi_provider *p, int64_t now, struct vpxi_import_report *rep)
{
    const char *src[VPXI_CATALOG_SOURCES_MAX];

    for (size_t i = 0; i < p->trust->nsources; i++)
        src[i] = p->trust->sources[i];
    return vpxi_provider_import(p, src, p->trust->nsources, now, rep);
}

/* ---- warnings ------------------------------------------------------------------------- */

static void warn_at(struct vpxi_import_report *rep, int64_t now, int64_t when, size_t src,
                    const char *what)
{
    char d[VPXI_DATE_LEN + 1];

    date_str(when, d);
    if (when < now)
        event(rep, VPXI_IMPORT_WARNING, VPXI_ERR_EXPIRED, src, NULL, "%s expired at %s", what, d);
    else
        event(rep, VPXI_IMPORT_WARNING, 0, src, NULL, "%s expires at %s (in %" PRId64 "h%02d)",
              what, d, (when - now) / 3600, (int)((when - now) % 3600 / 60));
}

void vpxi_provider_warnings(struct vpxi_provider *p, int64_t now, struct vpxi_import_report *rep)
{
    int64_t horizon = now + p->trust->warn;
    char what[160], id[17];

    for (size_t h = 0; h < p->nheld; h++) {
        const struct vpxi_catalog *c = p->held[h]->cat;
        vpxi_principal_short(&c->signer, id);
        if (c->expires <= horizon) {
            snprintf(what, sizeof(what), "the catalogue of %s (version %" PRIu64 ")", id,
                     c->version);
            warn_at(rep, now, c->expires, SIZE_MAX, what);
        }
        for (size_t i = 0; i < c->nchain; i++) {
            if (c->chain[i]->valid.not_after > horizon)
                continue;
            snprintf(what, sizeof(what), "delegation certificate %zu carried by %s", i + 1, id);
            warn_at(rep, now, c->chain[i]->valid.not_after, SIZE_MAX, what);
        }
    }
    for (size_t i = 0; i < p->trust->acl->n; i++) {
        const struct vpxi_acl_entry *e = &p->trust->acl->entries[i];
        if (e->valid.not_after > horizon)
            continue;
        snprintf(what, sizeof(what), "trust entry %zu of this provider", i + 1);
        warn_at(rep, now, e->valid.not_after, SIZE_MAX, what);
    }
}
