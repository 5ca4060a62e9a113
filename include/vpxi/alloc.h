/*
 * alloc.h - allocation wrappers with fault injection for tests.
 *
 * Library code allocates through these so that tests can make the Nth
 * allocation fail (SQLite-style) and check that every caller cleans up.
 */
#ifndef VPXI_ALLOC_H
#define VPXI_ALLOC_H

#include <stddef.h>

void *vpxi_malloc(size_t n);
void *vpxi_calloc(size_t nmemb, size_t size);
void *vpxi_realloc(void *p, size_t n);
char *vpxi_strdup(const char *s);
void *vpxi_memdup(const void *p, size_t n);
void vpxi_free(void *p);
/* Wipes n bytes, then frees. */
void vpxi_freezero(void *p, size_t n);

/*
 * Test hook: after n more successful allocations in this thread, every
 * allocation fails until the hook is reset with a negative n.
 */
void vpxi_alloc_fail_after(long n);

#endif
