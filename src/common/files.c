/*
 * files.c - crash-safe small files (files.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/crypto.h"

#include "common/files.h"

static int sync_dir_of(const char *path)
{
    char buf[4096];
    int fd, r = 0;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    if ((fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (fsync(fd) != 0)
        r = -errno;
    close(fd);
    return r;
}

int file_write_atomic(const char *path, const void *p, size_t len, mode_t mode)
{
    char tmp[4096];
    const uint8_t *b = p;
    int fd, r = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
        return -errno;
    if (fchmod(fd, mode) != 0)
        r = -errno;
    while (r == 0 && len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
        b += n;
        len -= (size_t)n;
    }
    if (r == 0 && fsync(fd) != 0)
        r = -errno;
    if (close(fd) != 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) != 0)
        r = -errno;
    if (r != 0) {
        unlink(tmp);
        return r;
    }
    return sync_dir_of(path);
}

int file_write_sexp(const char *path, const struct vpxi_sexp *n, enum vpxi_sexp_form form,
                    mode_t mode)
{
    struct vpxi_wr w;
    int r;

    vpxi_wr_init_dyn(&w, 0);
    if ((r = vpxi_sexp_write(n, form, &w)) == 0 && form != VPXI_SEXP_CANONICAL)
        r = vpxi_wr_u8(&w, '\n');
    if (r == 0 && (r = w.err) == 0)
        r = file_write_atomic(path, w.p, w.len, mode);
    vpxi_wr_clear(&w);
    return r;
}

int file_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int file_sha256(const char *path, uint8_t out[32])
{
    struct vpxi_hash_ctx *h;
    uint8_t buf[1 << 16];
    ssize_t n;
    int fd, r;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return VPXI_ERR_SYS;
    if ((r = vpxi_hash_new(VPXI_HASH_SHA256, &h)) != 0) {
        close(fd);
        return r;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if ((r = vpxi_hash_update(h, buf, (size_t)n)) != 0)
            break;
    if (n < 0)
        r = VPXI_ERR_SYS;
    if (r == 0)
        r = vpxi_hash_final(h, out);
    {
        int saved = errno;
        vpxi_hash_free(h);
        close(fd);
        errno = saved;
    }
    return r;
}
