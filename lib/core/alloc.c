/*
 * alloc.c - allocation wrappers with a per-thread fault-injection counter.
 */
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/ct.h"

/* Allocations left before injected failure; negative: injection off. */
static _Thread_local long fail_countdown = -1;

void vpxi_alloc_fail_after(long n)
{
    fail_countdown = n;
}

static int injected_failure(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

void *vpxi_malloc(size_t n)
{
    if (injected_failure())
        return NULL;
    return malloc(n ? n : 1);
}

void *vpxi_calloc(size_t nmemb, size_t size)
{
    if (injected_failure())
        return NULL;
    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    return calloc(nmemb, size);
}

void *vpxi_realloc(void *p, size_t n)
{
    if (injected_failure())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *vpxi_memdup(const void *p, size_t n)
{
    void *d = vpxi_malloc(n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

char *vpxi_strdup(const char *s)
{
    return vpxi_memdup(s, strlen(s) + 1);
}

void vpxi_free(void *p)
{
    free(p);
}

void vpxi_freezero(void *p, size_t n)
{
    if (!p)
        return;
    vpxi_wipe(p, n);
    free(p);
}
