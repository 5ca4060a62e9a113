/*
 * buf.h - length-checked reader and writer for untrusted bytes.
 *
 * Reader: the error is sticky. Once a read fails, every later read fails with
 * the same code and outputs are zeroed, so a long chain of reads needs one
 * check at the end. Bytes returned by vpxi_rd_bytes() are borrowed from the
 * input and valid while it lives.
 *
 * Writer: either fixed (caller's buffer, never reallocates: the data path) or
 * dynamic (grows with realloc, owned by the writer: control path). The error
 * is sticky: VPXI_ERR_TOO_LARGE when a fixed writer is full, VPXI_ERR_NOMEM
 * when a dynamic one cannot grow.
 */
#ifndef VPXI_BUF_H
#define VPXI_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

struct vpxi_rd {
    const uint8_t *p; /* next unread byte */
    size_t len;       /* bytes left */
    int err;          /* 0 or the first error, sticky */
};

void vpxi_rd_init(struct vpxi_rd *r, const void *p, size_t len);
int vpxi_rd_u8(struct vpxi_rd *r, uint8_t *v);
int vpxi_rd_u16(struct vpxi_rd *r, uint16_t *v); /* big-endian */
int vpxi_rd_u32(struct vpxi_rd *r, uint32_t *v); /* big-endian */
int vpxi_rd_u64(struct vpxi_rd *r, uint64_t *v); /* big-endian */
/* Borrow n bytes: *v points into the input. */
int vpxi_rd_bytes(struct vpxi_rd *r, size_t n, const uint8_t **v);
int vpxi_rd_copy(struct vpxi_rd *r, void *dst, size_t n);
int vpxi_rd_skip(struct vpxi_rd *r, size_t n);
/* Child reader over the next n bytes; the parent advances past them. */
int vpxi_rd_sub(struct vpxi_rd *r, size_t n, struct vpxi_rd *sub);
/* Child reader over a u16 length-prefixed field. */
int vpxi_rd_sub16(struct vpxi_rd *r, struct vpxi_rd *sub);
/* VPXI_ERR_TRAILING_DATA if bytes are left, else the sticky error (or 0). */
int vpxi_rd_end(const struct vpxi_rd *r);
static inline size_t vpxi_rd_left(const struct vpxi_rd *r)
{
    return r->err ? 0 : r->len;
}

struct vpxi_wr {
    uint8_t *p; /* buffer (owned if dyn) */
    size_t cap; /* capacity */
    size_t len; /* bytes written */
    size_t max; /* dynamic writers: never grow past this */
    int err;    /* 0 or the first error, sticky */
    bool dyn;   /* grows with realloc */
};

/* Fixed writer over a caller buffer. */
void vpxi_wr_init(struct vpxi_wr *w, void *buf, size_t cap);
/* Dynamic writer; max caps growth (0 = 1 GiB). Free with vpxi_wr_clear(). */
void vpxi_wr_init_dyn(struct vpxi_wr *w, size_t max);
/* Frees a dynamic writer's buffer after wiping it. */
void vpxi_wr_clear(struct vpxi_wr *w);
/* Takes ownership of a dynamic writer's buffer (NUL-terminated, len excludes
 * the NUL); the writer is reset. Returns NULL if the writer has an error. */
uint8_t *vpxi_wr_steal(struct vpxi_wr *w, size_t *len);
int vpxi_wr_u8(struct vpxi_wr *w, uint8_t v);
int vpxi_wr_u16(struct vpxi_wr *w, uint16_t v);
int vpxi_wr_u32(struct vpxi_wr *w, uint32_t v);
int vpxi_wr_u64(struct vpxi_wr *w, uint64_t v);
int vpxi_wr_bytes(struct vpxi_wr *w, const void *p, size_t n);
int vpxi_wr_str(struct vpxi_wr *w, const char *s);
int vpxi_wr_printf(struct vpxi_wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vpxi_wr_zero(struct vpxi_wr *w, size_t n);
/* Reserve n bytes and return a pointer to them (NULL on error). */
uint8_t *vpxi_wr_reserve(struct vpxi_wr *w, size_t n);

/* Big-endian helpers for fixed headers. */
static inline uint16_t vpxi_get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t vpxi_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t vpxi_get_be64(const uint8_t *p)
{
    return (uint64_t)vpxi_get_be32(p) << 32 | vpxi_get_be32(p + 4);
}
static inline void vpxi_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void vpxi_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void vpxi_put_be64(uint8_t *p, uint64_t v)
{
    vpxi_put_be32(p, (uint32_t)(v >> 32));
    vpxi_put_be32(p + 4, (uint32_t)v);
}

#endif
