/*
 * t.h - a minimal unit-test harness.
 *
 * Each test file defines static test functions and a main() that runs them
 * with RUN(fn). CHECK* macros record a failure with file:line and continue;
 * main returns non-zero if anything failed.
 */
#ifndef VPXI_T_H
#define VPXI_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/err.h"

static int t_failures, t_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        t_checks++;                                                                                \
        if (t_a_ != t_b_) {                                                                        \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n", __FILE__, \
                    __LINE__, #a, t_a_, #b, t_b_);                                                 \
        }                                                                                          \
    } while (0)

/* An int-returning call must return the given VPXI code. */
#define CHECK_ERR(expr, code)                                                                      \
    do {                                                                                           \
        int t_r_ = (expr);                                                                         \
        t_checks++;                                                                                \
        if (t_r_ != (code)) {                                                                      \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s\n", __FILE__, __LINE__,       \
                    #expr, vpxi_errname(t_r_), t_r_, vpxi_errname(code));                          \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, 0)

#define CHECK_MEM(a, b, n)                                                                         \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK_MEM failed: %s vs %s\n", __FILE__, __LINE__, #a, #b);    \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        t_checks++;                                                                                \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got:      %s\n  expected: %s\n",          \
                    __FILE__, __LINE__, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");           \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        int t_before_ = t_failures;                                                                \
        fn();                                                                                      \
        fprintf(stderr, "%-40s %s\n", #fn, t_failures == t_before_ ? "ok" : "FAILED");             \
    } while (0)

#define T_DONE()                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "%d checks, %d failures\n", t_checks, t_failures);                         \
        return t_failures ? 1 : 0;                                                                 \
    } while (0)

/* Path of a file under tests/vectors (from the VPXI_VECTORS environment). */
static inline const char *t_vector_path(const char *name)
{
    static char buf[4096];
    const char *dir = getenv("VPXI_VECTORS");
    snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "tests/vectors", name);
    return buf;
}

/* Reads a whole file; returns malloc'd buffer (NUL-terminated) or NULL. */
static inline char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

#endif
