/*
 * keycache.c - a 4-way set-associative cache of public keys by key id,
 * least recently used out. Small and flat: a set is found from the id's
 * first bytes (uniform, it is a SHA-256) and searched linearly.
 */
#include <pthread.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/keycache.h"

enum { WAYS = 4, ID_LEN = 32 };

struct entry {
    uint8_t id[ID_LEN];
    struct vpxi_key *key; /* NULL: empty */
    uint64_t used;        /* last use, for LRU */
};

struct vpxi_keycache {
    pthread_mutex_t lock;
    size_t nsets;
    uint64_t clock, hits, misses;
    struct entry *e; /* nsets * WAYS */
};

struct vpxi_keycache *vpxi_keycache_new(size_t capacity)
{
    struct vpxi_keycache *c;

    if (!capacity)
        capacity = VPXI_KEYCACHE_DEFAULT;
    if ((c = vpxi_calloc(1, sizeof(*c))) == NULL)
        return NULL;
    c->nsets = (capacity + WAYS - 1) / WAYS;
    if ((c->e = vpxi_calloc(c->nsets * WAYS, sizeof(*c->e))) == NULL) {
        vpxi_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void vpxi_keycache_free(struct vpxi_keycache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        vpxi_key_put(c->e[i].key);
    pthread_mutex_destroy(&c->lock);
    vpxi_free(c->e);
    vpxi_free(c);
}

static struct entry *set_of(struct vpxi_keycache *c, const uint8_t *id)
{
    uint64_t h;

    memcpy(&h, id, sizeof(h));
    return &c->e[(h % c->nsets) * WAYS];
}

struct vpxi_key *vpxi_keycache_get(struct vpxi_keycache *c, const uint8_t id[static 32])
{
    struct entry *s;
    struct vpxi_key *k = NULL;

    pthread_mutex_lock(&c->lock);
    s = set_of(c, id);
    for (int w = 0; w < WAYS; w++) {
        if (s[w].key && memcmp(s[w].id, id, ID_LEN) == 0) {
            s[w].used = ++c->clock;
            k = vpxi_key_get(s[w].key);
            break;
        }
    }
    if (k)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return k;
}

void vpxi_keycache_put(struct vpxi_keycache *c, const uint8_t id[static 32], struct vpxi_key *k)
{
    struct entry *s, *victim;
    struct vpxi_key *old = NULL;

    pthread_mutex_lock(&c->lock);
    s = set_of(c, id);
    victim = &s[0];
    for (int w = 0; w < WAYS; w++) {
        if (s[w].key && memcmp(s[w].id, id, ID_LEN) == 0) {
            victim = &s[w];
            break;
        }
        if (!s[w].key || s[w].used < victim->used)
            victim = &s[w];
        if (!victim->key)
            break;
    }
    old = victim->key;
    memcpy(victim->id, id, ID_LEN);
    victim->key = vpxi_key_get(k);
    victim->used = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    vpxi_key_put(old);
}

void vpxi_keycache_stats(struct vpxi_keycache *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
