/*
 * keycache.h - a bounded cache of imported public keys, keyed by the SHA-256
 * of their canonical SPKI form (the key id).
 *
 * Importing a public key is a sizeable part of checking one signature (for
 * RSA, the import and the first use of a fresh key cost a third of a
 * verification), and a node sees the same few keys again and again: its
 * registrar, its resources, its peers. A daemon creates one cache and
 * passes it to reductions; the library keeps no global cache.
 * Thread-safe. Keys are reference-counted: the cache holds one reference per
 * entry and vpxi_keycache_get() returns a new one.
 */
#ifndef VPXI_KEYCACHE_H
#define VPXI_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vpxi/crypto.h"

enum { VPXI_KEYCACHE_DEFAULT = 256 };

struct vpxi_keycache;

/* capacity 0 = VPXI_KEYCACHE_DEFAULT entries. NULL on ENOMEM. */
struct vpxi_keycache *vpxi_keycache_new(size_t capacity);
void vpxi_keycache_free(struct vpxi_keycache *c);
/* A new reference to the cached key with this id, or NULL. */
struct vpxi_key *vpxi_keycache_get(struct vpxi_keycache *c, const uint8_t id[static 32]);
/* Caches k under id (takes its own reference), evicting the least recently used. */
void vpxi_keycache_put(struct vpxi_keycache *c, const uint8_t id[static 32], struct vpxi_key *k);
/* Counters, for status output. */
void vpxi_keycache_stats(struct vpxi_keycache *c, uint64_t *hits, uint64_t *misses);

#endif
