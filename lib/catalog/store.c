/*
 * store.c - the provider's content-addressed image store, file hashing and
 * atomic file replacement.
 *
 *   images/partial/HEX.part   a download in progress: never startable; kept
 *                             across failures so that the next fetch resumes
 *   images/sha256/HEX         a verified image, mode 0444, named by its SHA-256
 *   images/sha256/HEX.ok      its stamp: size, SHA-512, device, inode, mtime
 *                             and ctime at verification
 *
 * An image reaches images/sha256/ only by rename() after every digest the
 * catalogue lists has matched, so a name never points at unverified bytes.
 * Accepting an image checks the stamp against the file's current stat; any
 * change (a write changes mtime and ctime, and ctime cannot be set back
 * without root changing the clock) makes the check re-hash the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"

#include "catalog/catalog_int.h"

enum {
    HASH_CHUNK = 1 << 20, /* octets read per call while hashing */
    STAMP_MAX = 1024,     /* octets of a stamp file */
    PATH_CAP = 4096,
};

static int sys_err(void)
{
    return errno == ENOSPC ? VPXI_ERR_NOSPACE : VPXI_ERR_SYS;
}

/* ---- files ------------------------------------------------------------------------- */

static int fsync_dir_of(const char *path)
{
    char dir[PATH_CAP];
    char *slash;
    int fd, r = 0;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return VPXI_ERR_TOO_LARGE;
    if ((slash = strrchr(dir, '/')) == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return VPXI_ERR_SYS;
    if (fsync(fd) != 0)
        r = VPXI_ERR_SYS;
    close(fd);
    return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? sys_err() : VPXI_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cat_write_atomic(const char *path, const void *p, size_t len, unsigned mode)
{
    char tmp[PATH_CAP];
    int fd, r, saved;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return VPXI_ERR_TOO_LARGE;
    unlink(tmp); /* a leftover of a crashed run with the same pid */
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
        return sys_err();
    if ((r = write_all(fd, p, len)) != 0)
        goto fail;
    if (fsync(fd) != 0) {
        r = sys_err();
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        r = sys_err();
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        r = sys_err();
        goto fail;
    }
    return fsync_dir_of(path);
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return r;
}

int cat_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd, r = 0;

    *out = NULL;
    *len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? VPXI_ERR_NOT_FOUND : VPXI_ERR_SYS;
    if (fstat(fd, &st) != 0) {
        r = VPXI_ERR_SYS;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        r = VPXI_ERR_SYS;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    if ((buf = vpxi_malloc((size_t)st.st_size + 1)) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? VPXI_ERR_SYS : VPXI_ERR_IO;
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
out:
    vpxi_free(buf);
    close(fd);
    return r;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_CAP];

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return VPXI_ERR_TOO_LARGE;
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return VPXI_ERR_SYS;
        *s = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return VPXI_ERR_SYS;
    return 0;
}

int store_init(const char *dir)
{
    static const char *const subs[] = { "catalogs", "images/sha256", "images/partial" };
    char path[PATH_CAP];
    int r;

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, subs[i]) >= (int)sizeof(path))
            return VPXI_ERR_TOO_LARGE;
        if ((r = mkdir_p(path)) != 0)
            return r;
    }
    return 0;
}

/* ---- hashing ----------------------------------------------------------------------- */

struct hasher {
    struct vpxi_hash_ctx *h256, *h512;
};

static int hasher_init(struct hasher *h, bool want512)
{
    int r;

    h->h256 = h->h512 = NULL;
    if ((r = vpxi_hash_new(VPXI_HASH_SHA256, &h->h256)) != 0)
        return r;
    if (want512 && (r = vpxi_hash_new(VPXI_HASH_SHA512, &h->h512)) != 0)
        return r;
    return 0;
}

static int hasher_update(struct hasher *h, const void *p, size_t n)
{
    int r = 0;

    if (h->h256)
        r = vpxi_hash_update(h->h256, p, n);
    if (r == 0 && h->h512)
        r = vpxi_hash_update(h->h512, p, n);
    return r;
}

static void hasher_clear(struct hasher *h)
{
    vpxi_hash_free(h->h256);
    vpxi_hash_free(h->h512);
    h->h256 = h->h512 = NULL;
}

/* Hashes what is left of fd into the given contexts. */
static int hash_fd(int fd, struct vpxi_hash_ctx *a, struct vpxi_hash_ctx *b, uint64_t *size)
{
    uint8_t *buf = vpxi_malloc(HASH_CHUNK);
    int r = 0;

    if (!buf)
        return VPXI_ERR_NOMEM;
    *size = 0;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = VPXI_ERR_SYS;
            break;
        }
        if (n == 0)
            break;
        if ((a && (r = vpxi_hash_update(a, buf, (size_t)n)) != 0) ||
            (b && (r = vpxi_hash_update(b, buf, (size_t)n)) != 0))
            break;
        *size += (uint64_t)n;
    }
    vpxi_free(buf);
    return r;
}

int vpxi_image_hash_file(const char *path, uint8_t *sha256, uint8_t *sha512, uint64_t *size)
{
    struct vpxi_hash_ctx *a = NULL, *b = NULL;
    uint64_t n = 0;
    int fd, r;

    *size = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? VPXI_ERR_NOT_FOUND : VPXI_ERR_SYS;
    if ((sha256 && (r = vpxi_hash_new(VPXI_HASH_SHA256, &a)) != 0) ||
        (sha512 && (r = vpxi_hash_new(VPXI_HASH_SHA512, &b)) != 0) ||
        (r = hash_fd(fd, a, b, &n)) != 0)
        goto out;
    if ((sha256 && (r = vpxi_hash_final(a, sha256)) != 0) ||
        (sha512 && (r = vpxi_hash_final(b, sha512)) != 0))
        goto out;
    *size = n;
out:
    vpxi_hash_free(a);
    vpxi_hash_free(b);
    close(fd);
    return r;
}

/* ---- stamps ------------------------------------------------------------------------ */

struct stamp {
    uint64_t size, dev, ino;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
    uint8_t sha512[VPXI_SHA512_LEN];
};

static void stamp_of(const struct stat *st, struct stamp *s)
{
    s->size = (uint64_t)st->st_size;
    s->dev = (uint64_t)st->st_dev;
    s->ino = (uint64_t)st->st_ino;
    s->mtime_s = st->st_mtim.tv_sec;
    s->mtime_ns = st->st_mtim.tv_nsec;
    s->ctime_s = st->st_ctim.tv_sec;
    s->ctime_ns = st->st_ctim.tv_nsec;
}

static bool stamp_same_file(const struct stamp *a, const struct stamp *b)
{
    return a->size == b->size && a->dev == b->dev && a->ino == b->ino && a->mtime_s == b->mtime_s &&
           a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

static int stamp_write(const char *path, const struct stamp *s)
{
    char hex[2 * VPXI_SHA512_LEN + 1], buf[STAMP_MAX];
    int n;

    vpxi_hex_encode(hex, s->sha512, VPXI_SHA512_LEN);
    n = snprintf(buf, sizeof(buf),
                 "vpxi-image-stamp 1\nsize %" PRIu64 "\nsha512 %s\ndev %" PRIu64 "\nino %" PRIu64
                 "\nmtime %" PRId64 ".%09" PRId64 "\nctime %" PRId64 ".%09" PRId64 "\n",
                 s->size, hex, s->dev, s->ino, s->mtime_s, s->mtime_ns, s->ctime_s, s->ctime_ns);
    return cat_write_atomic(path, buf, (size_t)n, 0444);
}

static int stamp_read(const char *path, struct stamp *s)
{
    char hex[2 * VPXI_SHA512_LEN + 1];
    uint8_t *buf;
    size_t len, dl;
    int r, used = 0;

    if ((r = cat_read_file(path, STAMP_MAX, &buf, &len)) != 0)
        return r;
    r = sscanf((const char *)buf,
               "vpxi-image-stamp 1\nsize %" SCNu64 "\nsha512 %128s\ndev %" SCNu64 "\nino %" SCNu64
               "\nmtime %" SCNd64 ".%" SCNd64 "\nctime %" SCNd64 ".%" SCNd64 "\n%n",
               &s->size, hex, &s->dev, &s->ino, &s->mtime_s, &s->mtime_ns, &s->ctime_s,
               &s->ctime_ns, &used);
    if (r != 8 || (size_t)used != len ||
        vpxi_hex_decode(s->sha512, sizeof(s->sha512), &dl, hex, strlen(hex)) != 0 ||
        dl != VPXI_SHA512_LEN)
        r = VPXI_ERR_BAD_FORMAT;
    else
        r = 0;
    vpxi_free(buf);
    return r;
}

static int image_paths(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN], char *img,
                       char *stamp)
{
    char hex[2 * VPXI_SHA256_LEN + 1];

    vpxi_hex_encode(hex, sha256, VPXI_SHA256_LEN);
    if (snprintf(img, PATH_CAP, "%s/images/sha256/%s", dir, hex) >= PATH_CAP ||
        snprintf(stamp, PATH_CAP, "%s/images/sha256/%s.ok", dir, hex) >= PATH_CAP)
        return VPXI_ERR_TOO_LARGE;
    return 0;
}

bool store_has(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN])
{
    char img[PATH_CAP], stamp[PATH_CAP];

    return image_paths(dir, sha256, img, stamp) == 0 && access(img, F_OK) == 0 &&
           access(stamp, F_OK) == 0;
}

/* Re-hashes the stored file and writes a fresh stamp if it still matches. */
static int rehash(const char *img, const char *stampf, const uint8_t *sha256, struct stamp *s,
                  char *why, size_t whylen)
{
    uint8_t got[VPXI_SHA256_LEN];
    struct stat before, after;
    uint64_t n;
    int r;

    if (stat(img, &before) != 0)
        return VPXI_ERR_SYS;
    if ((r = vpxi_image_hash_file(img, got, s->sha512, &n)) != 0)
        return cat_why(why, whylen, "cannot read the stored image: %s", vpxi_strerror(r)), r;
    if (!vpxi_memeq_ct(got, sha256, VPXI_SHA256_LEN)) {
        unlink(stampf);
        unlink(img);
        return cat_why(why, whylen,
                       "the stored image was modified (its SHA-256 no longer matches); it "
                       "was removed: fetch it again"),
               VPXI_ERR_HASH_MISMATCH;
    }
    if (stat(img, &after) != 0)
        return VPXI_ERR_SYS;
    stamp_of(&after, s);
    {
        struct stamp b;
        stamp_of(&before, &b);
        if (!stamp_same_file(&b, s) || n != s->size)
            return cat_why(why, whylen, "the stored image changed while it was verified"),
                   VPXI_ERR_HASH_MISMATCH;
    }
    /* the file is verified now; a stamp we cannot write (a read-only store)
     * only means the next check hashes again */
    (void)stamp_write(stampf, s);
    return 0;
}

int store_check(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN],
                const uint8_t *sha512, uint64_t size, bool full, char *path, size_t pathlen,
                char *why, size_t whylen)
{
    char img[PATH_CAP], stampf[PATH_CAP];
    struct stamp s, now;
    struct stat st;
    int r;

    if ((r = image_paths(dir, sha256, img, stampf)) != 0)
        return r;
    if (stat(img, &st) != 0)
        return cat_why(why, whylen, "the image is not in the store yet (vpxi catalog fetch)"),
               VPXI_ERR_NOT_FOUND;
    if (!S_ISREG(st.st_mode))
        return cat_why(why, whylen, "the stored image is not a regular file"), VPXI_ERR_BAD_FORMAT;
    stamp_of(&st, &now);
    if (full || stamp_read(stampf, &s) != 0 || !stamp_same_file(&s, &now)) {
        if ((r = rehash(img, stampf, sha256, &s, why, whylen)) != 0)
            return r;
    }
    if (s.size != size)
        return cat_why(why, whylen,
                       "the stored image has %" PRIu64 " octets, the catalogue says %" PRIu64,
                       s.size, size),
               VPXI_ERR_HASH_MISMATCH;
    if (sha512 && !vpxi_memeq_ct(sha512, s.sha512, VPXI_SHA512_LEN))
        return cat_why(why, whylen, "the stored image's SHA-512 differs from the endorsed one"),
               VPXI_ERR_HASH_MISMATCH;
    if (pathlen && snprintf(path, pathlen, "%s", img) >= (int)pathlen)
        return VPXI_ERR_TOO_LARGE;
    return 0;
}

/* ---- downloads ---------------------------------------------------------------------- */

struct store_dl {
    char part[PATH_CAP], img[PATH_CAP], stamp[PATH_CAP];
    int fd;
    uint8_t sha256[VPXI_SHA256_LEN];
    uint8_t sha512[VPXI_SHA512_LEN];
    bool has_sha512;
    uint64_t size, written;
    struct hasher h;
};

uint64_t store_dl_size(const struct store_dl *d)
{
    return d->size;
}

uint64_t store_dl_written(const struct store_dl *d)
{
    return d->written;
}

void store_dl_free(struct store_dl *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd); /* also drops the lock */
    hasher_clear(&d->h);
    vpxi_free(d);
}

/* Hashes the partial file's existing bytes so the download can continue. */
static int dl_resume(struct store_dl *d, uint64_t *resume_from)
{
    struct stat st;
    uint64_t n;
    int r;

    if (fstat(d->fd, &st) != 0)
        return VPXI_ERR_SYS;
    if ((uint64_t)st.st_size > d->size) {
        if (ftruncate(d->fd, 0) != 0)
            return VPXI_ERR_SYS;
        st.st_size = 0;
    }
    if (lseek(d->fd, 0, SEEK_SET) < 0)
        return VPXI_ERR_SYS;
    if ((r = hash_fd(d->fd, d->h.h256, d->h.h512, &n)) != 0)
        return r;
    if (n != (uint64_t)st.st_size)
        return VPXI_ERR_IO;
    d->written = n;
    *resume_from = n;
    return 0;
}

int store_dl_open(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN],
                  const uint8_t *sha512, uint64_t size, struct store_dl **out,
                  uint64_t *resume_from)
{
    char hex[2 * VPXI_SHA256_LEN + 1];
    struct store_dl *d;
    int r;

    *out = NULL;
    *resume_from = 0;
    if ((d = vpxi_calloc(1, sizeof(*d))) == NULL)
        return VPXI_ERR_NOMEM;
    d->fd = -1;
    vpxi_hex_encode(hex, sha256, VPXI_SHA256_LEN);
    memcpy(d->sha256, sha256, VPXI_SHA256_LEN);
    if ((d->has_sha512 = sha512 != NULL))
        memcpy(d->sha512, sha512, VPXI_SHA512_LEN);
    d->size = size;
    if (snprintf(d->part, sizeof(d->part), "%s/images/partial/%s.part", dir, hex) >=
            (int)sizeof(d->part) ||
        (r = image_paths(dir, sha256, d->img, d->stamp)) != 0) {
        r = VPXI_ERR_TOO_LARGE;
        goto fail;
    }
    if ((r = store_init(dir)) != 0 || (r = hasher_init(&d->h, true)) != 0)
        goto fail;
    if ((d->fd = open(d->part, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        r = VPXI_ERR_SYS;
        goto fail;
    }
    /* one fetch per image at a time; others fail instead of interleaving */
    if (flock(d->fd, LOCK_EX | LOCK_NB) != 0) {
        r = errno == EWOULDBLOCK ? VPXI_ERR_BAD_STATE : VPXI_ERR_SYS;
        goto fail;
    }
    if ((r = dl_resume(d, resume_from)) != 0)
        goto fail;
    *out = d;
    return 0;
fail:
    store_dl_free(d);
    return r;
}

int store_dl_write(struct store_dl *d, const void *p, size_t n)
{
    int r;

    if (n > d->size - d->written)
        return VPXI_ERR_TOO_LARGE; /* more than the catalogue says: stop now */
    if ((r = write_all(d->fd, p, n)) != 0 || (r = hasher_update(&d->h, p, n)) != 0)
        return r;
    d->written += n;
    return 0;
}

int store_dl_restart(struct store_dl *d)
{
    uint8_t junk[VPXI_SHA512_LEN];

    if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) < 0)
        return VPXI_ERR_SYS;
    /* final() resets a context */
    if (vpxi_hash_final(d->h.h256, junk) != 0 || vpxi_hash_final(d->h.h512, junk) != 0)
        return VPXI_ERR_INTERNAL;
    d->written = 0;
    return 0;
}

int store_dl_finish(struct store_dl *d, char *why, size_t whylen)
{
    uint8_t got256[VPXI_SHA256_LEN], got512[VPXI_SHA512_LEN];
    char hex[2 * VPXI_SHA256_LEN + 1];
    struct stamp s;
    struct stat st;
    int r;

    if (d->written < d->size)
        return cat_why(why, whylen,
                       "download stopped after %" PRIu64 " of %" PRIu64
                       " octets (kept; the next fetch resumes)",
                       d->written, d->size),
               VPXI_ERR_TRUNCATED;
    if ((r = vpxi_hash_final(d->h.h256, got256)) != 0 ||
        (r = vpxi_hash_final(d->h.h512, got512)) != 0)
        return r;
    /* HASH: every listed digest must match before the name exists */
    if (!vpxi_memeq_ct(got256, d->sha256, VPXI_SHA256_LEN) ||
        (d->has_sha512 && !vpxi_memeq_ct(got512, d->sha512, VPXI_SHA512_LEN))) {
        bool which = !vpxi_memeq_ct(got256, d->sha256, VPXI_SHA256_LEN);
        vpxi_hex_encode(hex, got256, VPXI_SHA256_LEN);
        unlink(d->part);
        return cat_why(why, whylen,
                       "downloaded bytes do not match the endorsed %s (got SHA-256 %.16s...); "
                       "discarded",
                       which ? "SHA-256" : "SHA-512", hex),
               VPXI_ERR_HASH_MISMATCH;
    }
    if (fsync(d->fd) != 0 || fchmod(d->fd, 0444) != 0)
        return sys_err();
    if (rename(d->part, d->img) != 0)
        return sys_err();
    if ((r = fsync_dir_of(d->img)) != 0)
        return r;
    if (stat(d->img, &st) != 0)
        return VPXI_ERR_SYS;
    stamp_of(&st, &s);
    memcpy(s.sha512, got512, VPXI_SHA512_LEN);
    return stamp_write(d->stamp, &s);
}

int unlink_partial(const char *dir, const uint8_t sha256[static VPXI_SHA256_LEN])
{
    char hex[2 * VPXI_SHA256_LEN + 1], path[PATH_CAP];

    vpxi_hex_encode(hex, sha256, VPXI_SHA256_LEN);
    if (snprintf(path, sizeof(path), "%s/images/partial/%s.part", dir, hex) >= (int)sizeof(path))
        return VPXI_ERR_TOO_LARGE;
    return unlink(path) == 0 || errno == ENOENT ? 0 : VPXI_ERR_SYS;
}
