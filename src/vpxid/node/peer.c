/*
 * peer.c - the node's lookup tables (peer by HIT, peer by overlay IPv4,
 * inbound SA by SPI), peer creation and removal, SA objects, and the status
 * of one peer as JSON.
 *
 * Tables are open-addressing arrays of NODE_HASH_SIZE pointers with linear
 * probing; deletion rebuilds the probe chain after the hole (backward-shift),
 * so lookups never see tombstones. Only the control thread writes them, with
 * ov->lock held for writing.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"

#include "../log.h"
#include "direct.h"
#include "node.h"

enum { MASK = NODE_HASH_SIZE - 1 };

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static uint32_t hit_hash(const uint8_t hit[16])
{
    uint32_t v;
    memcpy(&v, hit + 12, 4); /* the hash part of an ORCHID is uniform */
    return mix32(v);
}

/* ---- generic probing over an array of pointers ------------------------------ */

typedef uint32_t (*slot_hash_fn)(const void *item);

static uint32_t peer_hit_hash(const void *p)
{
    return hit_hash(((const struct peer *)p)->hit);
}

static uint32_t peer_ipv4_hash(const void *p)
{
    return mix32(((const struct peer *)p)->ipv4.s_addr);
}

static uint32_t sa_spi_hash(const void *s)
{
    return mix32(((const struct sa_in *)s)->spi);
}

static int table_insert(void **t, void *item, slot_hash_fn h)
{
    uint32_t i = h(item) & MASK;

    for (unsigned n = 0; n < NODE_HASH_SIZE; n++, i = (i + 1) & MASK) {
        if (!t[i]) {
            t[i] = item;
            return 0;
        }
        if (t[i] == item)
            return 0;
    }
    return -1;
}

static void table_delete(void **t, void *item, slot_hash_fn h)
{
    uint32_t i = h(item) & MASK, j;

    for (unsigned n = 0; n < NODE_HASH_SIZE && t[i] != item; n++, i = (i + 1) & MASK)
        if (!t[i])
            return;
    if (t[i] != item)
        return;
    /* backward-shift deletion: move later entries of the cluster into the hole */
    t[i] = NULL;
    for (j = (i + 1) & MASK; t[j]; j = (j + 1) & MASK) {
        uint32_t home = h(t[j]) & MASK;
        /* t[j] may move to i if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t[i] = t[j];
            t[j] = NULL;
            i = j;
        }
    }
}

struct peer *peer_by_hit(struct overlay *ov, const uint8_t hit[16])
{
    uint32_t i = hit_hash(hit) & MASK;

    for (unsigned n = 0; n < NODE_HASH_SIZE && ov->by_hit[i]; n++, i = (i + 1) & MASK)
        if (!memcmp(ov->by_hit[i]->hit, hit, 16))
            return ov->by_hit[i];
    return NULL;
}

struct peer *peer_by_ipv4(struct overlay *ov, uint32_t addr_be)
{
    uint32_t i = mix32(addr_be) & MASK;

    for (unsigned n = 0; n < NODE_HASH_SIZE && ov->by_ipv4[i]; n++, i = (i + 1) & MASK)
        if (ov->by_ipv4[i]->ipv4.s_addr == addr_be)
            return ov->by_ipv4[i];
    return NULL;
}

struct sa_in *sa_by_spi(struct overlay *ov, uint32_t spi)
{
    uint32_t i = mix32(spi) & MASK;

    for (unsigned n = 0; n < NODE_HASH_SIZE && ov->by_spi[i]; n++, i = (i + 1) & MASK)
        if (ov->by_spi[i]->spi == spi)
            return ov->by_spi[i];
    return NULL;
}

int sa_in_insert(struct overlay *ov, struct sa_in *s)
{
    if (sa_by_spi(ov, s->spi))
        return -1; /* SPIs are chosen by us: a clash is a bug or 2^-32 luck */
    return table_insert((void **)ov->by_spi, s, sa_spi_hash);
}

struct sa_in *sa_in_unlink(struct overlay *ov, uint32_t spi)
{
    struct sa_in *s = sa_by_spi(ov, spi);

    if (s)
        table_delete((void **)ov->by_spi, s, sa_spi_hash);
    return s;
}

void sa_in_free(struct sa_in *s)
{
    if (!s)
        return;
    vpxi_esp_in_free(s->esp);
    vpxi_free(s);
}

void sa_out_free(struct sa_out *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    vpxi_esp_out_free(s->esp);
    vpxi_free(s);
}

void peer_fold_stats(struct peer *p, const struct vpxi_esp_stats *st)
{
    p->st.esp_truncated += st->drop_truncated;
    p->st.esp_replay += st->drop_replay;
    p->st.esp_old += st->drop_old;
    p->st.esp_auth += st->drop_auth;
    p->st.esp_padding += st->drop_padding;
    p->st.esp_dummy += st->drop_dummy;
}

struct in_addr peer_derive_ipv4(const uint8_t hit[16])
{
    uint8_t d[32];
    uint32_t host;
    struct in_addr a;

    if (vpxi_hash(VPXI_HASH_SHA256, hit, 16, d) != 0)
        memset(d, 0, sizeof(d));
    host = ((uint32_t)d[0] << 16 | (uint32_t)d[1] << 8 | d[2]) & 0x3fffffu;
    if ((host & 0xff) == 0 || (host & 0xff) == 0xff)
        host ^= 0x01;
    a.s_addr = htonl(0x64400000u | host);
    return a;
}

struct peer *peer_add(struct overlay *ov, const char *name, const uint8_t hit[16],
                      const struct in_addr *ipv4)
{
    struct peer *p;

    if (ov->npeers == ov->cap_peers) {
        size_t ncap = ov->cap_peers ? ov->cap_peers * 2 : 16;
        struct peer **np;
        if (ncap > NODE_HASH_SIZE / 2 || (np = vpxi_realloc(ov->peers, ncap * sizeof(*np))) == NULL)
            return NULL;
        ov->peers = np;
        ov->cap_peers = ncap;
    }
    if ((p = vpxi_calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->ov = ov;
    pthread_mutex_init(&p->pend_lock, NULL);
    snprintf(p->name, sizeof(p->name), "%s", name);
    memcpy(p->hit, hit, 16);
    p->ipv4 = ipv4 ? *ipv4 : peer_derive_ipv4(hit);
    p->valid.not_before = p->valid.not_after = 0;
    pthread_rwlock_wrlock(&ov->lock);
    if (peer_by_ipv4(ov, p->ipv4.s_addr) || p->ipv4.s_addr == ov->ipv4.s_addr) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &p->ipv4, a, sizeof(a));
        log_warn("peer %s: overlay IPv4 %s already taken; the peer is reachable by HIT only", name,
                 a);
        p->ipv4.s_addr = 0;
    }
    table_insert((void **)ov->by_hit, p, peer_hit_hash);
    if (p->ipv4.s_addr)
        table_insert((void **)ov->by_ipv4, p, peer_ipv4_hash);
    pthread_rwlock_unlock(&ov->lock);
    ov->peers[ov->npeers++] = p;
    return p;
}

/* Unlinks p from the tables and frees it with its SAs. The caller has
 * cancelled its timers and closed its association. */
void peer_remove(struct overlay *ov, struct peer *p)
{
    struct sa_in *dead[NODE_HASH_SIZE];
    size_t ndead = 0;
    struct sa_out *o1, *o2;

    pthread_rwlock_wrlock(&ov->lock);
    table_delete((void **)ov->by_hit, p, peer_hit_hash);
    if (p->ipv4.s_addr)
        table_delete((void **)ov->by_ipv4, p, peer_ipv4_hash);
    for (size_t i = 0; i < NODE_HASH_SIZE; i++)
        if (ov->by_spi[i] && ov->by_spi[i]->peer == p)
            dead[ndead++] = ov->by_spi[i];
    for (size_t i = 0; i < ndead; i++)
        table_delete((void **)ov->by_spi, dead[i], sa_spi_hash);
    o1 = p->out;
    o2 = p->next_out;
    p->out = p->next_out = NULL;
    pthread_rwlock_unlock(&ov->lock);
    for (size_t i = 0; i < ndead; i++)
        sa_in_free(dead[i]);
    sa_out_free(o1);
    sa_out_free(o2);
    for (size_t i = 0; i < ov->npeers; i++)
        if (ov->peers[i] == p) {
            ov->peers[i] = ov->peers[--ov->npeers];
            break;
        }
    vpxi_key_put(p->key);
    vpxi_free(p->certs);
    vpxi_free(p->pend);
    pthread_mutex_destroy(&p->pend_lock);
    vpxi_free(p);
}

/* ---- status ---------------------------------------------------------------------- */

static void json_str(struct vpxi_wr *w, const char *k, const char *v)
{
    vpxi_wr_printf(w, "\"%s\":\"", k);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            vpxi_wr_u8(w, '\\');
        if ((unsigned char)*v < 0x20)
            vpxi_wr_printf(w, "\\u%04x", (unsigned char)*v);
        else
            vpxi_wr_u8(w, (uint8_t)*v);
    }
    vpxi_wr_str(w, "\",");
}

static void json_u64(struct vpxi_wr *w, const char *k, uint64_t v)
{
    vpxi_wr_printf(w, "\"%s\":%" PRIu64 ",", k, v);
}

int peer_status_json(struct overlay *ov, struct peer *p, struct vpxi_wr *w)
{
    struct vpxi_hip_peer_info info;
    char buf[128], d[VPXI_DATE_LEN + 1];
    struct vpxi_esp_stats esp = { 0 };
    const struct vpxi_esp_stats *s;
    int64_t now = wall_s(), mono = now_ms();
    bool have = vpxi_hip_peer_info(ov->hip, p->hit, &info) == 0;
    uint32_t spi_in = 0, spi_out = 0;
    unsigned suite = 0;

    vpxi_wr_u8(w, '{');
    json_str(w, "name", p->name);
    vpxi_hit_to_str(p->hit, buf);
    json_str(w, "hit", buf);
    if (p->ipv4.s_addr)
        json_str(w, "ipv4", inet_ntop(AF_INET, &p->ipv4, buf, sizeof(buf)));
    config_addr_str(&p->addr, buf, sizeof(buf));
    json_str(w, "endpoint", buf);
    json_str(w, "path", "direct");
    json_str(w, "state", have ? vpxi_hip_state_name(info.state) : "UNASSOCIATED");
    vpxi_wr_printf(w, "\"configured\":%s,\"initiator\":%s,", p->configured ? "true" : "false",
                   have && info.initiator ? "true" : "false");
    json_str(w, "link", p->link[0] ? p->link : "encrypt");
    if (p->nportlinks) {
        static const char *const secs[] = { "clear", "integrity", "encrypt" };
        vpxi_wr_str(w, "\"port_links\":[");
        for (size_t i = 0; i < p->nportlinks; i++)
            vpxi_wr_printf(w, "%s{\"proto\":\"%s\",\"lo\":%u,\"hi\":%u,\"link\":\"%s\"}",
                           i ? "," : "", p->portlinks[i].proto == IPPROTO_TCP ? "tcp" : "udp",
                           p->portlinks[i].lo, p->portlinks[i].hi,
                           secs[p->portlinks[i].sec <= 2 ? p->portlinks[i].sec : 2]);
        vpxi_wr_str(w, "],");
    }
    pthread_rwlock_rdlock(&ov->lock);
    if (p->out) {
        spi_out = p->out->spi;
        suite = p->out->suite;
    }
    for (size_t i = 0; i < NODE_HASH_SIZE; i++) {
        struct sa_in *sa = ov->by_spi[i];
        if (!sa || sa->peer != p)
            continue;
        s = vpxi_esp_in_stats(sa->esp);
        esp.drop_truncated += s->drop_truncated;
        esp.drop_replay += s->drop_replay;
        esp.drop_old += s->drop_old;
        esp.drop_auth += s->drop_auth;
        esp.drop_padding += s->drop_padding;
        esp.drop_dummy += s->drop_dummy;
        if (!spi_in || (have && sa->spi == info.spi_in))
            spi_in = sa->spi;
    }
    pthread_rwlock_unlock(&ov->lock);
    json_str(w, "transform", suite ? vpxi_esp_suite_name(suite) : "-");
    /* a clear link on the direct path: plain IP on the underlay device,
     * counted by the node firewall (when there is one), not by ESP */
    json_str(w, "data_path", direct_path_name(p));
    if (p->direct_routes && if_indextoname(p->direct_if, buf))
        json_str(w, "data_path_device", buf);
    if (p->direct) {
        struct direct_counters dc;
        if (direct_counters(p, &dc) == 0) {
            json_u64(w, "direct_tx_packets", dc.tx_packets);
            json_u64(w, "direct_tx_bytes", dc.tx_bytes);
            json_u64(w, "direct_rx_packets", dc.rx_packets);
            json_u64(w, "direct_rx_bytes", dc.rx_bytes);
        }
    }
    vpxi_wr_printf(w, "\"spi_in\":\"0x%08x\",\"spi_out\":\"0x%08x\",", spi_in, spi_out);
    json_u64(w, "tx_packets", ctr_get(&p->st.tx_packets));
    json_u64(w, "tx_bytes", ctr_get(&p->st.tx_bytes));
    json_u64(w, "rx_packets", ctr_get(&p->st.rx_packets));
    json_u64(w, "rx_bytes", ctr_get(&p->st.rx_bytes));
    json_u64(w, "tx_held_for_setup", ctr_get(&p->st.tx_queued));
    vpxi_wr_str(w, "\"drops\":{");
    json_u64(w, "tx_no_sa", ctr_get(&p->st.tx_no_sa));
    json_u64(w, "tx_sa_limit", ctr_get(&p->st.tx_seal_err));
    json_u64(w, "rx_spoofed_source", ctr_get(&p->st.rx_spoofed));
    json_u64(w, "rx_not_for_us", ctr_get(&p->st.rx_not_ours));
    json_u64(w, "esp_truncated", p->st.esp_truncated + esp.drop_truncated);
    json_u64(w, "esp_replayed", p->st.esp_replay + esp.drop_replay);
    json_u64(w, "esp_too_old", p->st.esp_old + esp.drop_old);
    json_u64(w, "esp_bad_icv", p->st.esp_auth + esp.drop_auth);
    json_u64(w, "esp_bad_padding", p->st.esp_padding + esp.drop_padding);
    vpxi_wr_printf(w, "\"esp_dummy\":%" PRIu64 "},", p->st.esp_dummy + esp.drop_dummy);
    json_u64(w, "rekeys", p->rekeys);
    if (p->up && p->last_rekey_ms)
        json_u64(w, "last_rekey_s_ago", (uint64_t)((mono - p->last_rekey_ms) / 1000));
    if (p->up)
        json_u64(w, "up_s", (uint64_t)((mono - p->up_since_ms) / 1000));
    if (p->up && p->valid.not_after != VPXI_TIME_MAX) {
        vpxi_date_format(p->valid.not_after, d);
        json_str(w, "authorized_until", d);
        vpxi_wr_printf(w, "\"authorization_expires_in_s\":%lld,",
                       (long long)(p->valid.not_after - now + 1));
    }
    json_str(w, "last_event", p->last_event);
    if (w->len && w->p[w->len - 1] == ',')
        w->len--;
    return vpxi_wr_u8(w, '}');
}
