/*
 * buf.c - length-checked reader and writer (see buf.h for the contract).
 *
 * Bounds are always checked as "n > left", never by pointer arithmetic past
 * the end of the input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/ct.h"

enum { WR_DEFAULT_MAX = 1u << 30, WR_MIN_GROW = 256 };

void vpxi_rd_init(struct vpxi_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->err = 0;
}

/* Consume n bytes, returning a pointer to them or NULL with r->err set. */
static const uint8_t *take(struct vpxi_rd *r, size_t n)
{
    const uint8_t *p;

    if (r->err)
        return NULL;
    if (n > r->len) {
        r->err = VPXI_ERR_TRUNCATED;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->len -= n;
    return p;
}

int vpxi_rd_u8(struct vpxi_rd *r, uint8_t *v)
{
    const uint8_t *p = take(r, 1);
    *v = p ? p[0] : 0;
    return r->err;
}

int vpxi_rd_u16(struct vpxi_rd *r, uint16_t *v)
{
    const uint8_t *p = take(r, 2);
    *v = p ? vpxi_get_be16(p) : 0;
    return r->err;
}

int vpxi_rd_u32(struct vpxi_rd *r, uint32_t *v)
{
    const uint8_t *p = take(r, 4);
    *v = p ? vpxi_get_be32(p) : 0;
    return r->err;
}

int vpxi_rd_u64(struct vpxi_rd *r, uint64_t *v)
{
    const uint8_t *p = take(r, 8);
    *v = p ? vpxi_get_be64(p) : 0;
    return r->err;
}

int vpxi_rd_bytes(struct vpxi_rd *r, size_t n, const uint8_t **v)
{
    *v = take(r, n);
    return r->err;
}

int vpxi_rd_copy(struct vpxi_rd *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(dst, p, n);
    else if (n)
        memset(dst, 0, n);
    return r->err;
}

int vpxi_rd_skip(struct vpxi_rd *r, size_t n)
{
    (void)take(r, n);
    return r->err;
}

int vpxi_rd_sub(struct vpxi_rd *r, size_t n, struct vpxi_rd *sub)
{
    const uint8_t *p = take(r, n);

    vpxi_rd_init(sub, p, p ? n : 0);
    sub->err = r->err;
    return r->err;
}

int vpxi_rd_sub16(struct vpxi_rd *r, struct vpxi_rd *sub)
{
    uint16_t n;

    if (vpxi_rd_u16(r, &n) != 0) {
        vpxi_rd_init(sub, NULL, 0);
        sub->err = r->err;
        return r->err;
    }
    return vpxi_rd_sub(r, n, sub);
}

int vpxi_rd_end(const struct vpxi_rd *r)
{
    if (r->err)
        return r->err;
    return r->len ? VPXI_ERR_TRAILING_DATA : 0;
}

void vpxi_wr_init(struct vpxi_wr *w, void *buf, size_t cap)
{
    w->p = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    w->max = w->cap;
    w->err = 0;
    w->dyn = false;
}

void vpxi_wr_init_dyn(struct vpxi_wr *w, size_t max)
{
    w->p = NULL;
    w->cap = 0;
    w->len = 0;
    w->max = max ? max : WR_DEFAULT_MAX;
    w->err = 0;
    w->dyn = true;
}

void vpxi_wr_clear(struct vpxi_wr *w)
{
    if (w->dyn && w->p) {
        vpxi_wipe(w->p, w->cap);
        free(w->p);
    }
    w->p = NULL;
    w->cap = w->len = 0;
    w->err = 0;
}

/* Make room for n more bytes (plus a NUL for dynamic writers). */
static int room(struct vpxi_wr *w, size_t n)
{
    size_t need, ncap;
    uint8_t *np;

    if (w->err)
        return w->err;
    if (n <= w->cap - w->len && (!w->dyn || n < w->cap - w->len))
        return 0;
    if (!w->dyn || n > w->max - w->len) {
        w->err = VPXI_ERR_TOO_LARGE;
        return w->err;
    }
    need = w->len + n + 1;
    ncap = w->cap ? w->cap : WR_MIN_GROW;
    while (ncap < need)
        ncap = ncap > w->max / 2 ? w->max + 1 : ncap * 2;
    np = malloc(ncap);
    if (!np) {
        w->err = VPXI_ERR_NOMEM;
        return w->err;
    }
    if (w->p) {
        memcpy(np, w->p, w->len);
        vpxi_wipe(w->p, w->cap);
        free(w->p);
    }
    w->p = np;
    w->cap = ncap;
    return 0;
}

uint8_t *vpxi_wr_reserve(struct vpxi_wr *w, size_t n)
{
    uint8_t *p;

    if (room(w, n) != 0)
        return NULL;
    p = w->p + w->len;
    w->len += n;
    if (w->dyn)
        w->p[w->len] = 0;
    return p;
}

int vpxi_wr_bytes(struct vpxi_wr *w, const void *p, size_t n)
{
    uint8_t *d = vpxi_wr_reserve(w, n);
    if (d && n)
        memcpy(d, p, n);
    return w->err;
}

int vpxi_wr_zero(struct vpxi_wr *w, size_t n)
{
    uint8_t *d = vpxi_wr_reserve(w, n);
    if (d && n)
        memset(d, 0, n);
    return w->err;
}

int vpxi_wr_u8(struct vpxi_wr *w, uint8_t v)
{
    return vpxi_wr_bytes(w, &v, 1);
}

int vpxi_wr_u16(struct vpxi_wr *w, uint16_t v)
{
    uint8_t b[2];
    vpxi_put_be16(b, v);
    return vpxi_wr_bytes(w, b, sizeof(b));
}

int vpxi_wr_u32(struct vpxi_wr *w, uint32_t v)
{
    uint8_t b[4];
    vpxi_put_be32(b, v);
    return vpxi_wr_bytes(w, b, sizeof(b));
}

int vpxi_wr_u64(struct vpxi_wr *w, uint64_t v)
{
    uint8_t b[8];
    vpxi_put_be64(b, v);
    return vpxi_wr_bytes(w, b, sizeof(b));
}

int vpxi_wr_str(struct vpxi_wr *w, const char *s)
{
    return vpxi_wr_bytes(w, s, strlen(s));
}

int vpxi_wr_printf(struct vpxi_wr *w, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;

    if (w->err)
        return w->err;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return w->err = VPXI_ERR_INVALID;
    if ((size_t)n < sizeof(small))
        return vpxi_wr_bytes(w, small, (size_t)n);
    {
        char *big = malloc((size_t)n + 1);
        if (!big)
            return w->err = VPXI_ERR_NOMEM;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        vpxi_wr_bytes(w, big, (size_t)n);
        free(big);
    }
    return w->err;
}

uint8_t *vpxi_wr_steal(struct vpxi_wr *w, size_t *len)
{
    uint8_t *p;

    *len = 0;
    if (!w->dyn || w->err)
        return NULL;
    if (!w->p && room(w, 0) != 0) /* empty output still gets a buffer */
        return NULL;
    if (!w->p) {
        if ((w->p = malloc(1)) == NULL)
            return NULL;
        w->cap = 1;
    }
    w->p[w->len] = 0;
    p = w->p;
    *len = w->len;
    w->p = NULL;
    w->cap = w->len = 0;
    return p;
}
