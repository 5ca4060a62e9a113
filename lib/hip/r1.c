/*
 * r1.c - precomputed R1s (RFC 7401 4.1.2, 4.1.4, Appendix A) and the
 * Responder's defences against I2 floods.
 *
 * A generation = R1 generation counter + puzzle secret + difficulty K + one
 * R1 per configured DH group, each with a fresh DH key pair, signed once
 * with HIP_SIGNATURE_2 (receiver HIT, Opaque and #I zero). Answering an I1
 * is a memcpy of the template, the receiver HIT and #I filled in (#I =
 * HMAC(secret, HIT-I | HIT-R | addr-I | addr-R), puzzle.c) and the checksum:
 * no state, no signature. The current and the previous generation are
 * accepted in I2 (the I2 names its generation in R1_COUNTER); a new one is
 * made every r1_rotate_ms and whenever K changes, so an I2 for an older
 * counter is refused (old_r1).
 *
 * Difficulty: I2 arrivals are counted per one-second window; when more than
 * i2_rate_threshold arrive within a window K rises by puzzle_k_step (up to
 * puzzle_k_max), and it falls back one bit per calm second (rate at most
 * half the threshold) down to puzzle_k.
 *
 * Replay: the (#I, #J) of every accepted I2 is remembered (a 16-byte tag in
 * a ring of HIP_REPLAY_RING) with its generation; the same pair is refused
 * while that generation is still accepted.
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum { RATE_WINDOW_MS = 1000, ROTATE_RETRY_MS = 1000 };

struct hip_dhref *hip_dhref_new(struct vpxi_dh *dh)
{
    struct hip_dhref *d = vpxi_calloc(1, sizeof(*d));

    if (!d) {
        vpxi_dh_free(dh);
        return NULL;
    }
    d->dh = dh;
    d->refs = 1;
    return d;
}

struct hip_dhref *hip_dhref_get(struct hip_dhref *d)
{
    if (d)
        d->refs++;
    return d;
}

void hip_dhref_put(struct hip_dhref *d)
{
    if (!d || --d->refs > 0)
        return;
    vpxi_dh_free(d->dh);
    vpxi_free(d);
}

void hip_r1_clear(struct hip_r1gen *g)
{
    for (size_t i = 0; i < g->n; i++)
        hip_dhref_put(g->r1[i].dh);
    vpxi_wipe(g, sizeof(*g));
}

/* Our HIT suites, ours first, as HIT_SUITE_LIST bytes (ID in the high nibble). */
static size_t suite_list(const struct vpxi_hip_host *h, uint8_t *out)
{
    static const uint8_t all[] = { VPXI_HIT_SUITE_ECDSA, VPXI_HIT_SUITE_EDDSA, VPXI_HIT_SUITE_RSA };
    size_t n = 0;

    out[n++] = (uint8_t)(h->suite << 4);
    for (size_t i = 0; i < sizeof(all); i++)
        if (all[i] != h->suite)
            out[n++] = (uint8_t)(all[i] << 4);
    return n;
}

static int build_r1(struct vpxi_hip_host *h, const struct hip_r1gen *g, uint8_t group,
                    struct hip_r1 *r1)
{
    static const uint8_t zero_hit[VPXI_HIT_LEN];
    static const uint16_t tf_esp[1] = { HIP_TF_ESP };
    uint8_t pub[VPXI_DH_PUB_MAX], suites[8];
    size_t publen, hlen = vpxi_hash_len(hip_rhash(h->suite)), off;
    struct vpxi_dh *dh = NULL;
    struct vpxi_wr w;
    int r;

    r1->group = group;
    if ((r = vpxi_dh_new(group, &dh)) != 0)
        return r;
    if ((r1->dh = hip_dhref_new(dh)) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_dh_public(r1->dh->dh, pub, sizeof(pub), &publen)) != 0)
        return r;
    vpxi_wr_init(&w, r1->pkt, sizeof(r1->pkt));
    hip_put_header(&w, VPXI_HIP_R1, 0, h->hit, zero_hit);
    off = hip_param_begin(&w, VPXI_HIP_P_R1_COUNTER);
    vpxi_wr_u32(&w, 0);
    vpxi_wr_u64(&w, g->counter);
    hip_param_end(&w, off);
    r1->puzzle_off = w.len;
    off = hip_param_begin(&w, VPXI_HIP_P_PUZZLE);
    vpxi_wr_u8(&w, (uint8_t)g->k);
    vpxi_wr_u8(&w, hip_puzzle_lifetime(2 * h->cfg.r1_rotate_ms));
    vpxi_wr_u16(&w, 0);     /* Opaque */
    vpxi_wr_zero(&w, hlen); /* #I, per I1 */
    hip_param_end(&w, off);
    hip_put_u8_list(&w, VPXI_HIP_P_DH_GROUP_LIST, h->cfg.dh_groups, h->cfg.n_dh_groups);
    hip_put_dh(&w, group, pub, publen);
    hip_put_u16_list(&w, VPXI_HIP_P_HIP_CIPHER, 0, h->cfg.hip_ciphers, h->cfg.n_hip_ciphers);
    vpxi_wr_bytes(&w, h->host_id, h->host_id_len);
    hip_put_u8_list(&w, VPXI_HIP_P_HIT_SUITE_LIST, suites, suite_list(h, suites));
    hip_put_u16_list(&w, VPXI_HIP_P_TRANSPORT_FORMAT_LIST, 0, tf_esp, 1);
    hip_put_u16_list(&w, VPXI_HIP_P_ESP_TRANSFORM, 2, h->cfg.esp_suites, h->cfg.n_esp_suites);
    /* SIG_2 */
    if ((r = hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE_2, h->key, h->hi_alg)) != 0 ||
        (r = hip_finish(&w)) != 0)
        return r;
    r1->len = w.len;
    return 0;
}

int hip_r1_rotate(struct vpxi_hip_host *h, int64_t now)
{
    struct hip_r1gen *cur = &h->gen[h->cur], *g = &h->gen[h->cur ^ 1];
    int r;

    hip_r1_clear(g);
    g->counter = cur->valid ? cur->counter + 1 : h->cfg.r1_counter_start;
    g->k = h->k_now;
    g->born = now;
    if ((r = vpxi_random(g->secret, sizeof(g->secret))) != 0)
        goto out;
    for (size_t i = 0; i < h->cfg.n_dh_groups; i++) {
        r = build_r1(h, g, h->cfg.dh_groups[i], &g->r1[g->n]);
        g->n++; /* cleared with the generation even if incomplete */
        if (r != 0)
            goto out;
    }
    g->valid = true;
    h->cur ^= 1;
    h->next_rotate = now + h->cfg.r1_rotate_ms;
    h->stats.r1_counter = g->counter;
    h->stats.puzzle_k = g->k;
    r = 0;
out:
    if (r) {
        hip_r1_clear(g);
        h->next_rotate = now + ROTATE_RETRY_MS;
    }
    return r;
}

struct hip_r1gen *hip_r1_gen(struct vpxi_hip_host *h, uint64_t counter)
{
    for (unsigned i = 0; i < 2; i++)
        if (h->gen[i].valid && h->gen[i].counter == counter)
            return &h->gen[i];
    return NULL;
}

static void set_k(struct vpxi_hip_host *h, unsigned k, int64_t now)
{
    unsigned old = h->k_now;

    if (k == old)
        return;
    h->k_now = k;
    if (hip_r1_rotate(h, now) != 0)
        h->k_now = old;
}

static void rate_roll(struct vpxi_hip_host *h, int64_t now)
{
    if (now - h->rate_start < RATE_WINDOW_MS)
        return;
    h->rate_last = now - h->rate_start < 2 * RATE_WINDOW_MS ? h->rate_count : 0;
    h->rate_count = 0;
    h->rate_start = now;
    if (h->k_now > h->cfg.puzzle_k && h->rate_last <= h->cfg.i2_rate_threshold / 2)
        set_k(h, h->k_now - 1, now);
}

void hip_r1_count_i2(struct vpxi_hip_host *h, int64_t now)
{
    unsigned k;

    rate_roll(h, now);
    h->rate_count++;
    if (h->cfg.i2_rate_threshold && h->rate_count == h->cfg.i2_rate_threshold + 1) {
        k = h->k_now + h->cfg.puzzle_k_step;
        set_k(h, k > h->cfg.puzzle_k_max ? h->cfg.puzzle_k_max : k, now);
    }
}

void hip_r1_timer(struct vpxi_hip_host *h, int64_t now)
{
    if (now >= h->next_rotate)
        (void)hip_r1_rotate(h, now);
    rate_roll(h, now);
}

int64_t hip_r1_next_timeout(const struct vpxi_hip_host *h)
{
    int64_t t = h->next_rotate;

    if (h->k_now > h->cfg.puzzle_k && h->rate_start + RATE_WINDOW_MS < t)
        t = h->rate_start + RATE_WINDOW_MS;
    return t;
}

static void replay_tag(const uint8_t *i, const uint8_t *j, size_t n,
                       uint8_t tag[static HIP_REPLAY_TAG])
{
    uint8_t in[2 * VPXI_HIP_RHASH_MAX], d[32];

    memcpy(in, i, n);
    memcpy(in + n, j, n);
    if (vpxi_hash(VPXI_HASH_SHA256, in, 2 * n, d) != 0)
        memcpy(d, in, sizeof(d) < 2 * n ? sizeof(d) : 2 * n);
    memcpy(tag, d, HIP_REPLAY_TAG);
}

bool hip_replay_seen(const struct vpxi_hip_host *h, const uint8_t *i, const uint8_t *j, size_t n)
{
    uint8_t tag[HIP_REPLAY_TAG];

    replay_tag(i, j, n, tag);
    for (size_t k = 0; k < HIP_REPLAY_RING; k++) {
        uint64_t g = h->replay_gen[k];
        bool live = (h->gen[0].valid && h->gen[0].counter == g) ||
                    (h->gen[1].valid && h->gen[1].counter == g);
        if (live && memcmp(h->replay[k], tag, HIP_REPLAY_TAG) == 0)
            return true;
    }
    return false;
}

void hip_replay_add(struct vpxi_hip_host *h, uint64_t gen, const uint8_t *i, const uint8_t *j,
                    size_t n)
{
    replay_tag(i, j, n, h->replay[h->replay_pos]);
    h->replay_gen[h->replay_pos] = gen;
    h->replay_pos = (h->replay_pos + 1) % HIP_REPLAY_RING;
}
