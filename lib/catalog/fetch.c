/*
 * fetch.c - transfers with libcurl: catalogues into memory, images into the
 * store (resumable, hashed while they stream).
 *
 * Only http, https and file URLs are fetched (redirects only to http and
 * https; TLS peers verified against the system's authorities or the file
 * VPXI_CA_FILE names); every transfer is bounded in size (a catalogue by the trust
 * configuration's max-size, an image by the size its catalogue declares)
 * and aborted when it stalls. Nothing received is trusted: catalogues are
 * verified by their signature, images by their digests (store.c).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/ct.h"

#include "catalog/catalog_int.h"

struct mem_sink {
    struct vpxi_wr w;
    size_t max;
    bool too_large;
};

static size_t mem_write(char *p, size_t size, size_t n, void *arg)
{
    struct mem_sink *s = arg;
    size_t len = size * n;

    if (len > s->max - s->w.len) {
        s->too_large = true;
        return 0;
    }
    if (vpxi_wr_bytes(&s->w, p, len) != 0)
        return 0;
    return len;
}

/* Options every transfer gets. */
static int setup(CURL *c, const char *url, char *errbuf)
{
    CURLcode e = CURLE_OK;

    errbuf[0] = '\0';
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (e == CURLE_OK)                                                                         \
            e = curl_easy_setopt(c, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_FAILONERROR, 1L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, (long)VPXI_FETCH_CONNECT_TIMEOUT);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, (long)VPXI_FETCH_STALL_TIMEOUT);
    SET(CURLOPT_USERAGENT, "vpxi/" VPXI_VERSION);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    /* TLS peers are always verified (libcurl's default, stated here); a
     * private certification authority is given by VPXI_CA_FILE */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (getenv("VPXI_CA_FILE") && getenv("VPXI_CA_FILE")[0])
        SET(CURLOPT_CAINFO, getenv("VPXI_CA_FILE"));
#undef SET
    return e == CURLE_OK ? 0 : VPXI_ERR_INTERNAL;
}

static int curl_code(CURLcode e)
{
    switch (e) {
    case CURLE_OK: return 0;
    case CURLE_OPERATION_TIMEDOUT: return VPXI_ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED: return VPXI_ERR_TOO_LARGE;
    case CURLE_OUT_OF_MEMORY: return VPXI_ERR_NOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL: return VPXI_ERR_UNSUPPORTED;
    case CURLE_PARTIAL_FILE: return VPXI_ERR_TRUNCATED;
    default: return VPXI_ERR_IO;
    }
}

static void curl_why(CURLcode e, const char *errbuf, char *why, size_t whylen)
{
    cat_why(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(e));
}

int fetch_to_memory(const char *src, size_t max, uint8_t **out, size_t *len, char *why,
                    size_t whylen)
{
    char errbuf[CURL_ERROR_SIZE];
    struct mem_sink s = { .max = max };
    CURLcode e;
    CURL *c;
    int r;

    *out = NULL;
    *len = 0;
    if (src[0] == '/') {
        if ((r = cat_read_file(src, max, out, len)) != 0)
            cat_why(why, whylen, "%s",
                    r == VPXI_ERR_TOO_LARGE ? "larger than max-size" : vpxi_strerror(r));
        return r;
    }
    if ((c = curl_easy_init()) == NULL)
        return VPXI_ERR_NOMEM;
    vpxi_wr_init_dyn(&s.w, max + 1);
    if ((r = setup(c, src, errbuf)) != 0 ||
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s) != CURLE_OK) {
        r = VPXI_ERR_INTERNAL;
        goto out;
    }
    e = curl_easy_perform(c);
    if (s.too_large || e == CURLE_FILESIZE_EXCEEDED) {
        r = VPXI_ERR_TOO_LARGE;
        cat_why(why, whylen, "larger than max-size (%zu octets)", max);
        goto out;
    }
    if ((r = curl_code(e)) != 0 || (r = s.w.err) != 0) {
        curl_why(e, errbuf, why, whylen);
        goto out;
    }
    if (vpxi_wr_u8(&s.w, 0) != 0) { /* room for the NUL vpxi_wr_steal adds */
        r = s.w.err;
        goto out;
    }
    s.w.len--;
    *out = vpxi_wr_steal(&s.w, len);
    r = *out ? 0 : VPXI_ERR_NOMEM;
out:
    vpxi_wr_clear(&s.w);
    curl_easy_cleanup(c);
    return r;
}

struct file_sink {
    struct store_dl *d;
    int err;
    uint64_t offset;
    const char *what;
    const struct vpxi_progress *prog;
};

static size_t file_write(char *p, size_t size, size_t n, void *arg)
{
    struct file_sink *s = arg;
    size_t len = size * n;

    if ((s->err = store_dl_write(s->d, p, len)) != 0)
        return 0;
    return len;
}

static int file_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    struct file_sink *s = arg;

    if (s->prog && s->prog->fn)
        s->prog->fn(s->prog->arg, s->what, s->offset + (uint64_t)dlnow, store_dl_size(s->d));
    return 0;
}

static int file_once(const char *url, struct file_sink *s, char *why, size_t whylen)
{
    char errbuf[CURL_ERROR_SIZE];
    CURLcode e;
    CURL *c;
    int r;

    if ((c = curl_easy_init()) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = setup(c, url, errbuf)) != 0 ||
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s->offset) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, file_write) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, file_progress) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, s) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK) {
        curl_easy_cleanup(c);
        return VPXI_ERR_INTERNAL;
    }
    e = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (s->err) {
        cat_why(why, whylen, "%s",
                s->err == VPXI_ERR_TOO_LARGE
                    ? "the server sent more octets than the catalogue lists"
                    : vpxi_strerror(s->err));
        return s->err;
    }
    if (e == CURLE_RANGE_ERROR || e == CURLE_BAD_DOWNLOAD_RESUME)
        return VPXI_ERR_UNSUPPORTED; /* no ranges: the caller restarts */
    if ((r = curl_code(e)) != 0)
        curl_why(e, errbuf, why, whylen);
    return r;
}

int fetch_to_store(const char *url, struct store_dl *d, uint64_t offset, const char *what,
                   const struct vpxi_progress *prog, char *why, size_t whylen)
{
    struct file_sink s = { d, 0, offset, what, prog };
    int r;

    if (offset >= store_dl_size(d))
        return 0; /* everything is here already: only the check remains */
    r = file_once(url, &s, why, whylen);
    if (r == VPXI_ERR_UNSUPPORTED && offset > 0) {
        /* the server cannot resume: start again from the first octet */
        if ((r = store_dl_restart(d)) != 0)
            return r;
        s.offset = 0;
        s.err = 0;
        r = file_once(url, &s, why, whylen);
    }
    return r;
}

/* ---- fetching an accepted image ------------------------------------------------------ */

struct urls {
    char v[VPXI_CATALOG_URLS_MAX * 4][VPXI_CATALOG_URL_MAX + 1];
    size_t n;
};

/* The URLs of every approved entry with this digest, deduplicated. */
static void collect_urls(struct vpxi_provider *p, const char *name, const uint8_t *sha256,
                         struct urls *u)
{
    u->n = 0;
    for (size_t h = 0; h < p->nheld; h++) {
        const struct vpxi_image *im = vpxi_catalog_find(p->held[h]->cat, name);
        struct vpxi_image_meta m;
        if (!im || memcmp(im->sha256, sha256, VPXI_SHA256_LEN) != 0 ||
            !(im->flags & VPXI_IMAGE_APPROVED) || (im->flags & VPXI_IMAGE_REVOKED) ||
            vpxi_image_details(im, &m) != 0)
            continue;
        for (size_t i = 0; i < m.nurls; i++) {
            char s[VPXI_CATALOG_URL_MAX + 1];
            size_t j;
            cat_bytes_str(&m.urls[i], s, sizeof(s));
            for (j = 0; j < u->n && strcmp(u->v[j], s) != 0; j++)
                ;
            if (j == u->n && u->n < sizeof(u->v) / sizeof(u->v[0]))
                snprintf(u->v[u->n++], sizeof(u->v[0]), "%s", s);
        }
    }
}

static int fetch_from(struct vpxi_provider *p, const char *name, const struct vpxi_decision *d,
                      const struct urls *u, const struct vpxi_progress *prog, char *why,
                      size_t whylen)
{
    struct store_dl *dl = NULL;
    uint64_t off;
    char one[256];
    int r = VPXI_ERR_NOT_FOUND;

    for (size_t i = 0; i < u->n; i++) {
        if (!dl && (r = store_dl_open(p->dir, d->sha256, d->has_sha512 ? d->sha512 : NULL, d->size,
                                      &dl, &off)) != 0)
            return cat_why(why, whylen, "%s",
                           r == VPXI_ERR_BAD_STATE ? "another fetch of this image is running"
                                                   : vpxi_strerror(r)),
                   r;
        off = store_dl_written(dl);
        r = fetch_to_store(u->v[i], dl, off, name, prog, one, sizeof(one));
        if (r == 0)
            r = store_dl_finish(dl, one, sizeof(one));
        cat_why(why, whylen, "%s: %s", u->v[i], r ? one : "ok");
        if (r == 0 || r == VPXI_ERR_NOSPACE)
            break;
        if (r == VPXI_ERR_HASH_MISMATCH || r == VPXI_ERR_TOO_LARGE) {
            /* those bytes are worthless: the next URL starts from zero */
            store_dl_free(dl);
            dl = NULL;
            if (r == VPXI_ERR_TOO_LARGE)
                (void)unlink_partial(p->dir, d->sha256);
        }
    }
    store_dl_free(dl);
    return r;
}

int vpxi_provider_fetch(struct vpxi_provider *p, const char *name, int64_t now,
                        const struct vpxi_progress *prog, char digest[65], char *why, size_t whylen)
{
    struct vpxi_decision d;
    struct urls *u;
    int r;

    digest[0] = '\0';
    cat_why(why, whylen, "%s", "");
    if ((r = vpxi_provider_decide(p, name, now, &d)) != 0)
        return cat_why(why, whylen, "%s", d.why), r;
    vpxi_hex_encode(digest, d.sha256, VPXI_SHA256_LEN);
    if (store_check(p->dir, d.sha256, d.has_sha512 ? d.sha512 : NULL, d.size, false, NULL, 0, NULL,
                    0) == 0)
        return cat_why(why, whylen, "already in the store"), 0;
    if ((u = vpxi_malloc(sizeof(*u))) == NULL)
        return VPXI_ERR_NOMEM;
    collect_urls(p, name, d.sha256, u);
    if (u->n == 0)
        r = VPXI_ERR_NOT_FOUND, cat_why(why, whylen, "no endorsed entry lists a URL");
    else
        r = fetch_from(p, name, &d, u, prog, why, whylen);
    vpxi_free(u);
    return r;
}
