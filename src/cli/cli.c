/*
 * cli.c - file, S-expression and error helpers shared by the vpxi commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/ct.h"
#include "vpxi/err.h"

#include "cli.h"

enum { CLI_FILE_MAX = 64 * 1024 * 1024 };

int cli_err(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_err_r(int r, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (r == VPXI_ERR_SYS)
        fprintf(stderr, ": %s\n", strerror(saved));
    else
        fprintf(stderr, ": %s\n", vpxi_strerror(r));
    return CLI_FAIL;
}

int cli_usage(const char *usage)
{
    fprintf(stderr, "usage: %s %s", cli_prog, usage);
    return CLI_USAGE;
}

int cli_dispatch(const char *what, const struct cli_sub *subs, size_t n, const char *usage,
                 int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(usage);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        printf("usage: %s %s", cli_prog, usage);
        return CLI_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].fn(argc - 1, argv + 1);
    cli_err("unknown %s command '%s'", what, argv[1]);
    return cli_usage(usage);
}

int cli_read_file(const char *path, uint8_t **out, size_t *len, size_t max)
{
    struct vpxi_wr w;
    uint8_t *chunk;
    ssize_t n;
    int fd, r = 0;

    *out = NULL;
    *len = 0;
    if (!max)
        max = CLI_FILE_MAX;
    if (!strcmp(path, "-"))
        fd = STDIN_FILENO;
    else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return VPXI_ERR_SYS;
    vpxi_wr_init_dyn(&w, max);
    for (;;) {
        if ((chunk = vpxi_wr_reserve(&w, 65536)) == NULL) {
            r = w.err;
            break;
        }
        n = read(fd, chunk, 65536);
        if (n < 0 && errno == EINTR) {
            w.len -= 65536;
            continue;
        }
        if (n < 0) {
            r = VPXI_ERR_SYS;
            break;
        }
        w.len -= 65536 - (size_t)n;
        if (n == 0)
            break;
    }
    if (fd != STDIN_FILENO) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (r) {
        vpxi_wr_clear(&w);
        return r;
    }
    *out = vpxi_wr_steal(&w, len);
    return *out ? 0 : VPXI_ERR_NOMEM;
}

int cli_write_file(const char *path, const void *p, size_t len, unsigned mode, bool force)
{
    char tmp[4096];
    const uint8_t *b = p;
    int fd, saved;
    ssize_t n;

    if (!strcmp(path, "-")) {
        if (fwrite(p, 1, len, stdout) != len || fflush(stdout) != 0)
            return VPXI_ERR_SYS;
        return 0;
    }
    if (!force && access(path, F_OK) == 0)
        return VPXI_ERR_EXISTS;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return VPXI_ERR_TOO_LARGE;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
        return VPXI_ERR_SYS;
    while (len) {
        n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        b += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    return 0;
fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return saved == ENOSPC ? VPXI_ERR_NOSPACE : VPXI_ERR_SYS;
}

int cli_read_sexp(struct vpxi_sx *sx, const char *path, const struct vpxi_sexp_limits *lim,
                  struct vpxi_sexp **out)
{
    struct vpxi_sexp_error e;
    uint8_t *buf;
    size_t len;
    int r;

    if ((r = cli_read_file(path, &buf, &len, 0)) != 0)
        return cli_err_r(r, "%s", path);
    r = vpxi_sexp_read(sx, buf, len, lim, out, &e);
    free(buf);
    if (r)
        return cli_err("%s: byte offset %zu: %s", path, e.offset, vpxi_strerror(r));
    return CLI_OK;
}

int cli_parse_sexp_arg(struct vpxi_sx *sx, const char *what, const char *text,
                       struct vpxi_sexp **out)
{
    struct vpxi_sexp_error e;
    int r = vpxi_sexp_read(sx, (const uint8_t *)text, strlen(text), NULL, out, &e);

    if (r)
        return cli_err("%s '%s': byte offset %zu: %s", what, text, e.offset, vpxi_strerror(r));
    return CLI_OK;
}

int cli_write_sexp(const char *path, const struct vpxi_sexp *n, enum vpxi_sexp_form form,
                   bool force)
{
    struct vpxi_wr w;
    int r;

    vpxi_wr_init_dyn(&w, 0);
    vpxi_sexp_write(n, form, &w);
    if (form != VPXI_SEXP_CANONICAL)
        vpxi_wr_u8(&w, '\n');
    if ((r = w.err) == 0)
        r = cli_write_file(path, w.p, w.len, 0644, force);
    vpxi_wr_clear(&w);
    return r;
}

void cli_print_sexp(const struct vpxi_sexp *n)
{
    struct vpxi_wr w;

    vpxi_wr_init_dyn(&w, 0);
    vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &w);
    vpxi_wr_u8(&w, '\n');
    if (!w.err)
        fwrite(w.p, 1, w.len, stdout);
    vpxi_wr_clear(&w);
}

enum vpxi_sexp_form cli_parse_form(const char *s)
{
    if (!strcmp(s, "canonical") || !strcmp(s, "c"))
        return VPXI_SEXP_CANONICAL;
    if (!strcmp(s, "advanced") || !strcmp(s, "a"))
        return VPXI_SEXP_ADVANCED;
    if (!strcmp(s, "transport") || !strcmp(s, "t"))
        return VPXI_SEXP_TRANSPORT;
    return 0;
}

void cli_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void cli_json_bytes_hex(const uint8_t *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    putchar('"');
}

int64_t cli_now(void)
{
    const char *fake = getenv("VPXI_NOW");
    char *end;

    if (fake && *fake) {
        long long v = strtoll(fake, &end, 10);
        if (*end == '\0')
            return (int64_t)v;
        cli_err("VPXI_NOW='%s' ignored: expected seconds since 1970 (e.g. 1790000000)", fake);
    }
    return (int64_t)time(NULL);
}
