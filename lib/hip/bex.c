/*
 * bex.c - the HIPv2 base exchange (RFC 7401 4.1, 6.6-6.11; RFC 7402 for the
 * ESP parameters; RFC 6253 CERTs in I2 and R2), one create_/consume_ pair
 * per packet:
 *
 *   Initiator                                  Responder
 *   create_i1   I1: DH_GROUP_LIST     ------>  consume_i1: R1 from the cache,
 *                                              #I filled in; no state
 *   consume_r1  <------  R1: R1_COUNTER, PUZZLE, DH_GROUP_LIST, DH, HIP_CIPHER,
 *               HOST_ID, HIT_SUITE_LIST, TRANSPORT_FORMAT_LIST, ESP_TRANSFORM,
 *               HIP_SIGNATURE_2
 *   (create_i2) I2: ESP_INFO, R1_COUNTER, SOLUTION, DH, HIP_CIPHER,
 *               HOST_ID | ENCRYPTED{HOST_ID}, CERT*, TRANSPORT_FORMAT_LIST,
 *               ESP_TRANSFORM, HIP_MAC, HIP_SIGNATURE  ------>  consume_i2
 *   consume_r2  <------  R2: ESP_INFO, CERT*, HIP_MAC_2, HIP_SIGNATURE (create_r2)
 *
 * Every consume_ runs: state check, parse into locals, verify (puzzle,
 * MAC, signature, authorization) in locals, and only then commit to the
 * association, the new state last.
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/ct.h"
#include "hip/hip_int.h"

static const uint16_t tf_esp[1] = { HIP_TF_ESP };

static bool u8_in(uint8_t v, const uint8_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

static bool u16_in(uint16_t v, const uint16_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* The peer's key from a HOST_ID, bound to its HIT. */
static int peer_identity(uint16_t alg, const uint8_t *hi, size_t hilen,
                         const uint8_t hit[static VPXI_HIT_LEN], struct vpxi_key **key)
{
    uint8_t got[VPXI_HIT_LEN];
    int r;

    *key = NULL;
    if (!hip_sig_scheme(alg))
        return VPXI_ERR_UNSUPPORTED;
    if ((r = vpxi_hi_decode(alg, hi, hilen, key)) != 0)
        return r == VPXI_ERR_UNSUPPORTED ? r : VPXI_ERR_BAD_KEY;
    if ((r = vpxi_hit_from_hi(alg, hi, hilen, got)) != 0 || memcmp(got, hit, VPXI_HIT_LEN) != 0) {
        vpxi_key_put(*key);
        *key = NULL;
        return VPXI_ERR_HASH_MISMATCH;
    }
    return 0;
}

/* ---- I1 ------------------------------------------------------------------ */

int hip_create_i1(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;
    int r;

    vpxi_wr_init(&w, pkt, sizeof(pkt));
    hip_put_header(&w, VPXI_HIP_I1, 0, h->hit, a->peer_hit);
    hip_put_u8_list(&w, VPXI_HIP_P_DH_GROUP_LIST, h->cfg.dh_groups, h->cfg.n_dh_groups);
    if ((r = hip_finish(&w)) != 0 || (r = hip_send(h, pkt, w.len, &a->peer, &a->local)) != 0)
        return r;
    hip_rtx_arm(h, a, pkt, w.len, h->cfg.i1_retries, now);
    hip_set_state(a, VPXI_HS_I1_SENT);
    return 0;
}

int hip_consume_i1(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now)
{
    const struct hip_assoc *a = hip_assoc_find(h, m->shit);
    const struct hip_r1gen *g = &h->gen[h->cur];
    const struct hip_r1 *r1 = NULL;
    enum vpxi_hash_alg rh = hip_rhash(h->suite);
    uint8_t groups[HIP_LIST_PARSE_MAX], i[VPXI_HIP_RHASH_MAX];
    struct vpxi_hip_output *o;
    size_t n;
    int r;

    /* state: simultaneous I1s, only the greater HIT answers (RFC 7401 6.7).
     * The lower one relies on its own I1, which may have left before the
     * peer was listening (two daemons starting together): the peer's I1
     * shows it is up now, so our retransmission is brought forward to now
     * instead of waiting for the timeout. At most one resend per I1
     * received: no amplification. */
    if (a && a->state == VPXI_HS_I1_SENT && !hip_hit_greater(h->hit, m->shit)) {
        struct hip_assoc *ma = hip_assoc_find(h, m->shit);
        if (ma && ma->rtx.next != INT64_MAX && ma->rtx.next > now)
            ma->rtx.next = now;
        return hip_drop(h, VPXI_HIP_DROP_TIE_BREAK, VPXI_ERR_BAD_STATE);
    }
    if (!g->valid)
        return VPXI_ERR_INTERNAL;
    /* DH: our most preferred group the Initiator offers, else our first */
    (void)hip_get_u8_list(hip_msg_find(m, VPXI_HIP_P_DH_GROUP_LIST), groups, sizeof(groups), &n);
    for (size_t k = 0; k < g->n && !r1; k++)
        if (u8_in(g->r1[k].group, groups, n))
            r1 = &g->r1[k];
    if (!r1)
        r1 = &g->r1[0];
    /* #I for this Initiator and path */
    if ((r = hip_puzzle_make_i(rh, g->secret, m->shit, h->hit, src, dst, i)) != 0)
        return r;
    if ((o = hip_out_push(h, false)) == NULL)
        return hip_drop(h, VPXI_HIP_DROP_LIMIT, VPXI_ERR_LIMIT);
    o->kind = VPXI_HIP_OUT_PACKET;
    o->dst = *src;
    if (dst)
        o->src = *dst;
    memcpy(o->pkt, r1->pkt, r1->len);
    o->len = r1->len;
    memcpy(o->pkt + VPXI_HIP_HDR_LEN - VPXI_HIT_LEN, m->shit, VPXI_HIT_LEN);
    memcpy(o->pkt + r1->puzzle_off + HIP_TLV_HDR + HIP_PUZZLE_HDR, i, vpxi_hash_len(rh));
    if (h->cfg.checksum_pseudo)
        vpxi_put_be16(o->pkt + 4, hip_checksum(o->pkt, o->len, dst, src));
    h->stats.tx++;
    h->stats.i1_answered++;
    return 0;
}

/* ---- R1 / I2 (Initiator) ---------------------------------------------------- */

/* An R1, parsed. */
struct r1_in {
    enum vpxi_hash_alg rhash;
    size_t hlen;
    struct hip_puzzle pz;
    const struct hip_param *counter_p;
    uint64_t counter;
    uint8_t groups[HIP_LIST_PARSE_MAX];
    size_t ngroups;
    uint8_t dh_group;
    const uint8_t *dh_pub;
    size_t dh_len;
    uint16_t ciphers[VPXI_HIP_LIST_MAX];
    size_t nciphers;
    const struct hip_param *host_id;
    uint16_t hi_alg;
    const uint8_t *hi;
    size_t hi_len;
    uint8_t suites[HIP_LIST_PARSE_MAX];
    size_t nsuites;
    uint16_t tfs[HIP_LIST_PARSE_MAX];
    size_t ntfs;
    uint16_t esp[HIP_LIST_PARSE_MAX];
    size_t nesp;
    const struct hip_param *echo;
    const struct hip_param *uechos;
    size_t nuechos;
};

static int parse_r1(const struct hip_msg *m, struct r1_in *in)
{
    int r;

    memset(in, 0, sizeof(*in));
    if ((in->rhash = hip_rhash(vpxi_hit_suite(m->shit))) == VPXI_HASH_NONE)
        return VPXI_ERR_UNSUPPORTED;
    in->hlen = vpxi_hash_len(in->rhash);
    if ((in->counter_p = hip_msg_find(m, VPXI_HIP_P_R1_COUNTER)) != NULL &&
        (r = hip_get_r1_counter(in->counter_p, &in->counter)) != 0)
        return r;
    if ((r = hip_get_puzzle(hip_msg_find(m, VPXI_HIP_P_PUZZLE), in->hlen, &in->pz)) != 0 ||
        (r = hip_get_u8_list(hip_msg_find(m, VPXI_HIP_P_DH_GROUP_LIST), in->groups,
                             sizeof(in->groups), &in->ngroups)) != 0 ||
        (r = hip_get_dh(hip_msg_find(m, VPXI_HIP_P_DIFFIE_HELLMAN), &in->dh_group, &in->dh_pub,
                        &in->dh_len)) != 0 ||
        (r = hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_HIP_CIPHER), 0, in->ciphers,
                              VPXI_HIP_LIST_MAX, &in->nciphers)) != 0 ||
        (r = hip_get_host_id(in->host_id = hip_msg_find(m, VPXI_HIP_P_HOST_ID), &in->hi_alg,
                             &in->hi, &in->hi_len)) != 0 ||
        (r = hip_get_u8_list(hip_msg_find(m, VPXI_HIP_P_HIT_SUITE_LIST), in->suites,
                             sizeof(in->suites), &in->nsuites)) != 0 ||
        (r = hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_TRANSPORT_FORMAT_LIST), 0, in->tfs,
                              HIP_LIST_PARSE_MAX, &in->ntfs)) != 0 ||
        (r = hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_ESP_TRANSFORM), 2, in->esp,
                              HIP_LIST_PARSE_MAX, &in->nesp)) != 0)
        return r;
    in->echo = hip_msg_find(m, VPXI_HIP_P_ECHO_REQUEST_SIGNED);
    in->nuechos = hip_msg_count(m, VPXI_HIP_P_ECHO_REQUEST_UNSIGNED, &in->uechos);
    return 0;
}

/* What the Initiator chose from an authentic R1. */
struct r1_choice {
    uint16_t cipher;
    unsigned esp;
    uint16_t notify; /* on failure */
};

/* Negotiation checks on a verified R1 (RFC 7401 6.8 steps 5-8, RFC 7402 5.1).
 * Returns 0, VPXI_ERR_PROTOCOL (fail with c->notify) or VPXI_ERR_REPLAY (a
 * possible downgrade: drop the R1 and keep waiting). */
static int negotiate_r1(const struct vpxi_hip_host *h, const struct hip_assoc *a,
                        const struct r1_in *in, struct r1_choice *c)
{
    const struct vpxi_hip_config *cfg = &h->cfg;
    int best = -1;

    memset(c, 0, sizeof(*c));
    if (!u8_in((uint8_t)(h->suite << 4), in->suites, in->nsuites)) {
        c->notify = VPXI_HIP_N_UNSUPPORTED_HIT_SUITE;
        return VPXI_ERR_PROTOCOL;
    }
    /* DH: R1's group must be the first of its list that we support */
    for (size_t i = 0; i < in->ngroups && best < 0; i++)
        if (u8_in(in->groups[i], cfg->dh_groups, cfg->n_dh_groups))
            best = in->groups[i];
    if (best < 0) {
        c->notify = VPXI_HIP_N_NO_DH_PROPOSAL_CHOSEN;
        return VPXI_ERR_PROTOCOL;
    }
    if (in->dh_group != best)
        return VPXI_ERR_REPLAY;
    for (size_t i = 0; i < cfg->n_hip_ciphers && !c->cipher; i++)
        if (u16_in(cfg->hip_ciphers[i], in->ciphers, in->nciphers))
            c->cipher = cfg->hip_ciphers[i];
    if (!c->cipher) {
        c->notify = VPXI_HIP_N_NO_HIP_PROPOSAL_CHOSEN;
        return VPXI_ERR_PROTOCOL;
    }
    if (u16_in(HIP_TF_ESP, in->tfs, in->ntfs))
        for (size_t i = 0; i < cfg->n_esp_suites && !c->esp; i++)
            if (u16_in(cfg->esp_suites[i], in->esp, in->nesp) &&
                (!h->cb.esp_allowed ||
                 h->cb.esp_allowed(h->cb.ctx, a->peer_hit, &a->peer, cfg->esp_suites[i])))
                c->esp = cfg->esp_suites[i];
    if (!c->esp) {
        c->notify = VPXI_HIP_N_NO_ESP_PROPOSAL_CHOSEN;
        return VPXI_ERR_PROTOCOL;
    }
    if (in->pz.k > cfg->solve_k_max)
        return VPXI_ERR_PROTOCOL; /* too much work: give up, no NOTIFY */
    return 0;
}

/* ENCRYPTED{HOST_ID} with the sender's HIP encryption key (RFC 7401 5.2.18):
 * Reserved | IV | AES-CBC(HOST_ID TLV | PKCS#7 padding); NULL: no IV, no padding. */
static void put_encrypted_host_id(const struct vpxi_hip_host *h, struct vpxi_wr *w, uint16_t cipher,
                                  const struct hip_keys *k)
{
    uint8_t pt[HIP_HOST_ID_TLV_MAX + HIP_AES_BLOCK], iv[HIP_AES_IV_LEN];
    size_t n = h->host_id_len, pad, off;

    memcpy(pt, h->host_id, n);
    off = hip_param_begin(w, VPXI_HIP_P_ENCRYPTED);
    vpxi_wr_u32(w, 0);
    if (cipher == VPXI_HIP_CIPHER_NULL) {
        vpxi_wr_bytes(w, pt, n);
    } else {
        pad = HIP_AES_BLOCK - n % HIP_AES_BLOCK;
        memset(pt + n, (int)pad, pad);
        n += pad;
        if (vpxi_random(iv, sizeof(iv)) != 0 ||
            vpxi_aes_cbc(true, k->enc_out, k->enc_len, iv, pt, n, pt) != 0)
            w->err = VPXI_ERR_INTERNAL;
        vpxi_wr_bytes(w, iv, sizeof(iv));
        vpxi_wr_bytes(w, pt, n);
    }
    hip_param_end(w, off);
    vpxi_wipe(pt, sizeof(pt));
}

/* Everything the I2 needs besides the R1. */
struct i2_out {
    const struct r1_choice *c;
    const uint8_t *j;
    const uint8_t *dh_pub;
    size_t dh_len;
    const struct hip_keys *keys;
    uint16_t esp_index;
    uint32_t spi_in;
};

static int create_i2(struct vpxi_hip_host *h, const struct hip_assoc *a, const struct r1_in *in,
                     const struct i2_out *o, uint8_t *pkt, size_t *len)
{
    struct vpxi_wr w;
    uint16_t esp = (uint16_t)o->c->esp;
    size_t off;
    int r;

    vpxi_wr_init(&w, pkt, VPXI_HIP_PACKET_MAX);
    hip_put_header(&w, VPXI_HIP_I2, 0, h->hit, a->peer_hit);
    hip_put_esp_info(&w, o->esp_index, 0, o->spi_in);
    if (in->counter_p)
        hip_put_param(&w, VPXI_HIP_P_R1_COUNTER, in->counter_p->v, in->counter_p->len);
    off = hip_param_begin(&w, VPXI_HIP_P_SOLUTION);
    vpxi_wr_u8(&w, in->pz.k);
    vpxi_wr_u8(&w, 0);
    vpxi_wr_u16(&w, in->pz.opaque);
    vpxi_wr_bytes(&w, in->pz.i, in->hlen);
    vpxi_wr_bytes(&w, o->j, in->hlen);
    hip_param_end(&w, off);
    hip_put_dh(&w, in->dh_group, o->dh_pub, o->dh_len);
    hip_put_u16_list(&w, VPXI_HIP_P_HIP_CIPHER, 0, &o->c->cipher, 1);
    if (h->cfg.encrypt_host_id)
        put_encrypted_host_id(h, &w, o->c->cipher, o->keys);
    else
        vpxi_wr_bytes(&w, h->host_id, h->host_id_len);
    hip_put_certs(h, &w);
    if (in->echo)
        hip_put_param(&w, VPXI_HIP_P_ECHO_RESPONSE_SIGNED, in->echo->v, in->echo->len);
    hip_put_u16_list(&w, VPXI_HIP_P_TRANSPORT_FORMAT_LIST, 0, tf_esp, 1);
    hip_put_u16_list(&w, VPXI_HIP_P_ESP_TRANSFORM, 2, &esp, 1);
    /* HMAC, SIG */
    if ((r = hip_mac_put(&w, in->rhash, o->keys->int_out, o->keys->int_len, NULL, 0)) != 0 ||
        (r = hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE, h->key, h->hi_alg)) != 0)
        return r;
    for (size_t i = 0; i < in->nuechos; i++)
        hip_put_param(&w, VPXI_HIP_P_ECHO_RESPONSE_UNSIGNED, in->uechos[i].v, in->uechos[i].len);
    if ((r = hip_finish(&w)) != 0)
        return r;
    *len = w.len;
    return 0;
}

/* Crypto state the Initiator computes from an R1, before committing. */
struct i_keys {
    uint8_t j[VPXI_HIP_RHASH_MAX];
    struct vpxi_dh *dh;
    uint8_t pub[VPXI_DH_PUB_MAX];
    size_t publen;
    struct hip_keymat km;
    struct hip_keys keys;
    size_t esp_index;
};

static void i_keys_clear(struct i_keys *k)
{
    vpxi_dh_free(k->dh);
    hip_keymat_clear(&k->km);
    vpxi_wipe(k, sizeof(*k));
}

static int initiator_keys(const struct vpxi_hip_host *h, const struct hip_assoc *a,
                          const struct r1_in *in, const struct r1_choice *c, struct i_keys *k)
{
    uint8_t kij[VPXI_DH_SECRET_MAX];
    size_t kijlen = 0;
    int r;

    /* puzzle */
    if ((r = hip_puzzle_solve(in->rhash, in->pz.i, h->hit, a->peer_hit, in->pz.k,
                              (uint64_t)64 << in->pz.k, k->j)) != 0)
        return r == VPXI_ERR_LIMIT ? VPXI_ERR_PROTOCOL : r;
    /* DH */
    if (in->dh_len != vpxi_dh_pub_len(in->dh_group))
        return VPXI_ERR_BAD_KEY;
    if ((r = vpxi_dh_new(in->dh_group, &k->dh)) != 0 ||
        (r = vpxi_dh_public(k->dh, k->pub, sizeof(k->pub), &k->publen)) != 0)
        return r;
    if ((r = vpxi_dh_derive(k->dh, in->dh_pub, in->dh_len, kij, sizeof(kij), &kijlen)) != 0)
        goto out;
    /* KEYMAT */
    if ((r = hip_keymat_init(&k->km, in->rhash, kij, kijlen, in->pz.i, k->j, h->hit,
                             a->peer_hit)) != 0 ||
        (r = hip_keys_hip(&k->km, hip_hit_greater(h->hit, a->peer_hit),
                          (size_t)hip_cipher_key_len(c->cipher), &k->keys, &k->esp_index)) != 0)
        goto out;
out:
    vpxi_wipe(kij, sizeof(kij));
    return r;
}

/* The Initiator's state after a verified R1; takes key, hostid, dhref. */
static void commit_initiator(struct hip_assoc *a, const struct r1_in *in, const struct r1_choice *c,
                             const struct i_keys *k, struct vpxi_key *key, uint8_t *hostid,
                             struct hip_dhref *dhref, uint32_t spi)
{
    hip_assoc_reset(a);
    a->peer_key = key;
    a->peer_hi_alg = in->hi_alg;
    a->r1_host_id = hostid;
    a->r1_host_id_len = in->host_id->size;
    a->have_r1_counter = in->counter_p != NULL;
    a->r1_counter = in->counter;
    a->rhash = in->rhash;
    a->hlen = in->hlen;
    memcpy(a->I, in->pz.i, in->hlen);
    memcpy(a->J, k->j, in->hlen);
    a->dh_group = in->dh_group;
    a->dh = dhref;
    memcpy(a->peer_dh, in->dh_pub, in->dh_len);
    a->peer_dh_len = in->dh_len;
    a->hip_cipher = c->cipher;
    a->esp_suite = c->esp;
    a->km = k->km;
    a->keys = k->keys;
    a->keymat_next = k->esp_index;
    a->spi_in = spi;
}

/* Refuses an authentic R1: tell the Responder, fail the association. */
static int r1_refuse(struct vpxi_hip_host *h, struct hip_assoc *a, uint16_t notify,
                     enum vpxi_hip_reason reason, int err, int64_t now)
{
    if (notify)
        hip_create_notify(h, a->peer_hit, &a->peer, &a->local, notify, NULL, 0, now);
    hip_fail(h, a, reason, err, notify, now);
    return hip_drop(h, VPXI_HIP_DROP_NEGOTIATION, err);
}

int hip_consume_r1(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    struct r1_in in;
    struct r1_choice c;
    struct i_keys k;
    struct vpxi_key *key = NULL;
    uint8_t pkt[VPXI_HIP_PACKET_MAX], *hostid = NULL;
    struct hip_dhref *dhref = NULL;
    size_t len;
    uint32_t spi;
    int r;

    memset(&k, 0, sizeof(k));
    /* state */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (a->state != VPXI_HS_I1_SENT && a->state != VPXI_HS_I2_SENT)
        return VPXI_ERR_BAD_STATE;
    /* parse */
    if ((r = parse_r1(m, &in)) != 0)
        goto out;
    if ((r = peer_identity(in.hi_alg, in.hi, in.hi_len, m->shit, &key)) != 0)
        goto out;
    /* SIG_2 */
    if ((r = hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE_2, key, in.hi_alg)) != 0)
        goto out;
    /* in I2-SENT only a newer R1 restarts the exchange (RFC 7401 6.8) */
    if (a->state == VPXI_HS_I2_SENT &&
        (!in.counter_p || !a->have_r1_counter || in.counter <= a->r1_counter)) {
        r = hip_drop(h, VPXI_HIP_DROP_REPLAY, VPXI_ERR_REPLAY);
        goto out;
    }
    if ((r = negotiate_r1(h, a, &in, &c)) != 0) {
        if (r == VPXI_ERR_REPLAY) /* possible downgrade: ignore this R1 */
            r = hip_drop(h, VPXI_HIP_DROP_NEGOTIATION, VPXI_ERR_PROTOCOL);
        else
            r = r1_refuse(h, a, c.notify, VPXI_HIP_R_NEGOTIATION, r, now);
        goto out;
    }
    if ((r = initiator_keys(h, a, &in, &c, &k)) != 0) {
        if (r == VPXI_ERR_PROTOCOL)
            r = r1_refuse(h, a, 0, VPXI_HIP_R_NEGOTIATION, r, now);
        goto out;
    }
    if ((r = hip_new_spi(h, &spi)) != 0)
        goto out;
    {
        struct i2_out o = { &c, k.j, k.pub, k.publen, &k.keys, (uint16_t)k.esp_index, spi };
        if ((r = create_i2(h, a, &in, &o, pkt, &len)) != 0)
            goto out;
    }
    r = VPXI_ERR_NOMEM;
    if ((hostid = vpxi_memdup(m->pkt + in.host_id->off, in.host_id->size)) == NULL)
        goto out;
    dhref = hip_dhref_new(k.dh); /* takes k.dh, even on failure */
    k.dh = NULL;
    if (!dhref)
        goto out;
    /* commit */
    commit_initiator(a, &in, &c, &k, key, hostid, dhref, spi);
    key = NULL;
    hostid = NULL;
    dhref = NULL;
    if (dst && hip_addr_valid(dst))
        a->local = *dst;
    if ((r = hip_send(h, pkt, len, &a->peer, &a->local)) != 0)
        goto out;
    hip_rtx_arm(h, a, pkt, len, h->cfg.i2_retries, now);
    hip_set_state(a, VPXI_HS_I2_SENT);
    r = 0;
out:
    (void)src;
    vpxi_key_put(key);
    vpxi_freezero(hostid, in.host_id ? in.host_id->size : 0);
    hip_dhref_put(dhref);
    i_keys_clear(&k);
    vpxi_wipe(pkt, sizeof(pkt));
    return r;
}

/* ---- I2 / R2 (Responder) --------------------------------------------------- */

/* An I2, parsed. */
struct i2_in {
    enum vpxi_hash_alg rhash; /* ours: we are the Responder */
    size_t hlen;
    struct hip_esp_info ei;
    uint64_t counter;
    struct hip_puzzle sol;
    uint8_t dh_group;
    const uint8_t *dh_pub;
    size_t dh_len;
    uint16_t cipher;
    const struct hip_param *enc, *host_id;
    uint16_t esp;
};

static int parse_i2(const struct vpxi_hip_host *h, const struct hip_msg *m, struct i2_in *in)
{
    const struct hip_param *p;
    uint16_t l[HIP_LIST_PARSE_MAX];
    size_t n;
    int r;

    memset(in, 0, sizeof(*in));
    in->rhash = hip_rhash(h->suite);
    in->hlen = vpxi_hash_len(in->rhash);
    if (hip_rhash(vpxi_hit_suite(m->shit)) == VPXI_HASH_NONE)
        return VPXI_ERR_UNSUPPORTED;
    /* we always send R1_COUNTER, so a stateless Responder requires it back */
    if ((p = hip_msg_find(m, VPXI_HIP_P_R1_COUNTER)) == NULL)
        return VPXI_ERR_ROLLBACK;
    if ((r = hip_get_r1_counter(p, &in->counter)) != 0 ||
        (r = hip_get_esp_info(hip_msg_find(m, VPXI_HIP_P_ESP_INFO), &in->ei)) != 0 ||
        (r = hip_get_solution(hip_msg_find(m, VPXI_HIP_P_SOLUTION), in->hlen, &in->sol)) != 0 ||
        (r = hip_get_dh(hip_msg_find(m, VPXI_HIP_P_DIFFIE_HELLMAN), &in->dh_group, &in->dh_pub,
                        &in->dh_len)) != 0)
        return r;
    if (hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_HIP_CIPHER), 0, l, HIP_LIST_PARSE_MAX, &n) !=
            0 ||
        n != 1)
        return VPXI_ERR_BAD_FORMAT;
    in->cipher = l[0];
    if (hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_TRANSPORT_FORMAT_LIST), 0, l,
                         HIP_LIST_PARSE_MAX, &n) != 0 ||
        n != 1 || l[0] != HIP_TF_ESP)
        return VPXI_ERR_BAD_FORMAT;
    if (hip_get_u16_list(hip_msg_find(m, VPXI_HIP_P_ESP_TRANSFORM), 2, l, HIP_LIST_PARSE_MAX, &n) !=
            0 ||
        n != 1)
        return VPXI_ERR_BAD_FORMAT;
    in->esp = l[0];
    in->enc = hip_msg_find(m, VPXI_HIP_P_ENCRYPTED);
    in->host_id = hip_msg_find(m, VPXI_HIP_P_HOST_ID);
    if (!in->enc == !in->host_id) /* exactly one of them */
        return VPXI_ERR_BAD_FORMAT;
    if (in->ei.old_spi != 0 || in->ei.new_spi == 0)
        return VPXI_ERR_BAD_FORMAT;
    return 0;
}

/* Decrypts ENCRYPTED{HOST_ID} (after HIP_MAC verified it) into buf; *hp
 * then describes the HOST_ID TLV inside. */
static int open_encrypted_host_id(const struct hip_param *p, uint16_t cipher,
                                  const struct hip_keys *k, uint8_t *buf, size_t cap,
                                  struct hip_param *hp)
{
    struct vpxi_rd rd, tlv;
    const uint8_t *iv = NULL, *ct;
    size_t n;
    uint16_t type;
    uint8_t pad;

    vpxi_rd_init(&rd, p->v, p->len);
    vpxi_rd_skip(&rd, HIP_ENC_HDR);
    if (cipher != VPXI_HIP_CIPHER_NULL)
        vpxi_rd_bytes(&rd, HIP_AES_IV_LEN, &iv);
    n = vpxi_rd_left(&rd);
    if (vpxi_rd_bytes(&rd, n, &ct) != 0 || n == 0 || n > cap)
        return VPXI_ERR_BAD_FORMAT;
    if (cipher == VPXI_HIP_CIPHER_NULL) {
        memcpy(buf, ct, n);
    } else {
        if (n % HIP_AES_BLOCK || vpxi_aes_cbc(false, k->enc_in, k->enc_len, iv, ct, n, buf) != 0)
            return VPXI_ERR_BAD_FORMAT;
        pad = buf[n - 1];
        if (pad == 0 || pad > HIP_AES_BLOCK || pad > n)
            return VPXI_ERR_BAD_FORMAT;
        for (size_t i = n - pad; i < n; i++)
            if (buf[i] != pad)
                return VPXI_ERR_BAD_FORMAT;
        n -= pad;
    }
    /* exactly one HOST_ID TLV with its padding */
    vpxi_rd_init(&rd, buf, n);
    vpxi_rd_u16(&rd, &type);
    vpxi_rd_sub16(&rd, &tlv);
    if (rd.err || type != VPXI_HIP_P_HOST_ID || hip_tlv_size(tlv.len) != n)
        return VPXI_ERR_BAD_FORMAT;
    *hp = (struct hip_param){
        .type = type, .len = (uint16_t)tlv.len, .v = tlv.p, .off = 0, .size = n
    };
    return 0;
}

/* Verified I2 material, not yet committed. */
struct r_keys {
    struct hip_keymat km;
    struct hip_keys keys;
    struct vpxi_esp_keys esp_in, esp_out;
    size_t next;
    struct vpxi_key *key;
    uint16_t hi_alg;
    struct vpxi_validity valid;
};

static void r_keys_clear(struct r_keys *k)
{
    vpxi_key_put(k->key);
    hip_keymat_clear(&k->km);
    vpxi_wipe(k, sizeof(*k));
}

/* NOTIFY to the Initiator of an I2 whose puzzle verified. */
static int i2_refuse(struct vpxi_hip_host *h, const struct hip_msg *m,
                     const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                     uint16_t notify, int drop, int err, int64_t now)
{
    hip_create_notify(h, m->shit, src, dst, notify, NULL, 0, now);
    return hip_drop(h, drop, err);
}

/* Steps after the puzzle: choices, DH, KEYMAT, HIP_MAC, HOST_ID, signature,
 * ESP keys, authorization (RFC 7401 6.9 steps 7-15). */
static int verify_i2(struct vpxi_hip_host *h, const struct hip_msg *m, const struct i2_in *in,
                     const struct hip_r1 *r1, const struct sockaddr_storage *src,
                     const struct sockaddr_storage *dst, struct r_keys *k, int64_t now)
{
    const struct vpxi_hip_config *cfg = &h->cfg;
    uint8_t kij[VPXI_DH_SECRET_MAX], buf[HIP_HOST_ID_TLV_MAX + HIP_AES_BLOCK];
    const uint8_t *hi;
    struct hip_param hp;
    uint16_t notify = 0;
    size_t kijlen = 0, hilen, next;
    bool greater = hip_hit_greater(h->hit, m->shit);
    int r;

    if (!u16_in(in->cipher, cfg->hip_ciphers, cfg->n_hip_ciphers))
        return i2_refuse(h, m, src, dst, VPXI_HIP_N_INVALID_HIP_CIPHER_CHOSEN,
                         VPXI_HIP_DROP_NEGOTIATION, VPXI_ERR_PROTOCOL, now);
    if (!u16_in(in->esp, cfg->esp_suites, cfg->n_esp_suites) ||
        (h->cb.esp_allowed && !h->cb.esp_allowed(h->cb.ctx, m->shit, src, in->esp)))
        return i2_refuse(h, m, src, dst, VPXI_HIP_N_INVALID_ESP_TRANSFORM_CHOSEN,
                         VPXI_HIP_DROP_NEGOTIATION, VPXI_ERR_PROTOCOL, now);
    /* DH */
    if ((r = vpxi_dh_derive(r1->dh->dh, in->dh_pub, in->dh_len, kij, sizeof(kij), &kijlen)) != 0)
        goto out;
    /* KEYMAT */
    if ((r = hip_keymat_init(&k->km, in->rhash, kij, kijlen, in->sol.i, in->sol.j, m->shit,
                             h->hit)) != 0 ||
        (r = hip_keys_hip(&k->km, greater, (size_t)hip_cipher_key_len(in->cipher), &k->keys,
                          &next)) != 0)
        goto out;
    /* HMAC */
    if ((r = hip_mac_check(m, VPXI_HIP_P_HIP_MAC, in->rhash, k->keys.int_in, k->keys.int_len, NULL,
                           0)) != 0) {
        r = i2_refuse(h, m, src, dst, VPXI_HIP_N_HIP_MAC_FAILED, VPXI_HIP_DROP_BAD_MAC, r, now);
        goto out;
    }
    /* HOST_ID, in the clear or (now that the MAC verified) decrypted */
    if (in->enc) {
        if ((r = open_encrypted_host_id(in->enc, in->cipher, &k->keys, buf, sizeof(buf), &hp)) !=
            0) {
            r = i2_refuse(h, m, src, dst, VPXI_HIP_N_ENCRYPTION_FAILED, VPXI_HIP_DROP_MALFORMED, r,
                          now);
            goto out;
        }
    } else {
        hp = *in->host_id;
    }
    if ((r = hip_get_host_id(&hp, &k->hi_alg, &hi, &hilen)) != 0 ||
        (r = peer_identity(k->hi_alg, hi, hilen, m->shit, &k->key)) != 0) {
        if (r == VPXI_ERR_HASH_MISMATCH)
            r = i2_refuse(h, m, src, dst, VPXI_HIP_N_INVALID_HIT, VPXI_HIP_DROP_BAD_HIT, r, now);
        goto out;
    }
    /* SIG */
    if ((r = hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE, k->key, k->hi_alg)) != 0) {
        r = i2_refuse(h, m, src, dst, VPXI_HIP_N_AUTHENTICATION_FAILED, VPXI_HIP_DROP_BAD_SIG, r,
                      now);
        goto out;
    }
    /* ESP keys at the index both sides computed */
    if (in->ei.keymat_index != next) {
        r = VPXI_ERR_BAD_FORMAT;
        goto out;
    }
    if ((r = hip_keys_esp(&k->km, next, greater, in->esp, &k->esp_in, &k->esp_out, &k->next)) != 0)
        goto out;
    /* authorization (SPKI) */
    if ((r = hip_authorize(h, m->shit, k->key, m, &k->valid, &notify)) != 0) {
        r = i2_refuse(h, m, src, dst, notify, VPXI_HIP_DROP_AUTH_REFUSED, r, now);
        goto out;
    }
out:
    vpxi_wipe(kij, sizeof(kij));
    vpxi_wipe(buf, sizeof(buf));
    return r;
}

static int create_r2(struct vpxi_hip_host *h, const struct hip_assoc *a, uint8_t *pkt, size_t *len)
{
    struct vpxi_wr w;
    int r;

    vpxi_wr_init(&w, pkt, VPXI_HIP_PACKET_MAX);
    hip_put_header(&w, VPXI_HIP_R2, 0, h->hit, a->peer_hit);
    hip_put_esp_info(&w, (uint16_t)(a->keymat_next - hip_esp_keymat_len(a->esp_suite)), 0,
                     a->spi_in);
    hip_put_certs(h, &w);
    /* HMAC_2 (with our HOST_ID as sent in R1), SIG */
    if ((r = hip_mac_put(&w, a->rhash, a->keys.int_out, a->keys.int_len, h->host_id,
                         h->host_id_len)) != 0 ||
        (r = hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE, h->key, h->hi_alg)) != 0 ||
        (r = hip_finish(&w)) != 0)
        return r;
    *len = w.len;
    return 0;
}

/* SHA-256 of an I2 with the checksum field zero (duplicate detection). */
static void i2_digest(const struct hip_msg *m, uint8_t out[static 32])
{
    uint8_t buf[VPXI_HIP_PACKET_MAX];

    memcpy(buf, m->pkt, m->len);
    buf[4] = buf[5] = 0;
    if (vpxi_hash(VPXI_HASH_SHA256, buf, m->len, out) != 0)
        memset(out, 0, 32);
}

/* State checks for an I2 (RFC 7401 6.9 steps 1-4). Returns 1 if the I2 was
 * handled as a duplicate, 0 to go on, or an error. */
static int i2_state(struct vpxi_hip_host *h, const struct hip_assoc *a, const struct hip_msg *m,
                    const uint8_t digest[static 32])
{
    if (!a)
        return 0;
    switch (a->state) {
    case VPXI_HS_R2_SENT:
    case VPXI_HS_ESTABLISHED:
        if (a->initiator || !vpxi_memeq_ct(digest, a->i2_digest, 32))
            return 0; /* a new exchange: the peer restarted */
        if (a->state == VPXI_HS_ESTABLISHED || a->rtx.len == 0)
            return hip_drop(h, VPXI_HIP_DROP_REPLAY, VPXI_ERR_REPLAY);
        /* our R2 was lost: send it again */
        return hip_send(h, a->rtx.pkt, a->rtx.len, &a->peer, &a->local) == 0 ? 1 : VPXI_ERR_LIMIT;
    case VPXI_HS_I2_SENT:
        /* simultaneous I2s: the greater HIT stays Responder (RFC 7401 6.9 step 5) */
        if (!hip_hit_greater(h->hit, m->shit))
            return hip_drop(h, VPXI_HIP_DROP_TIE_BREAK, VPXI_ERR_BAD_STATE);
        return 0;
    default: return 0;
    }
}

/* The Responder's state after a verified I2; takes k->key. */
static void commit_responder(struct hip_assoc *a, const struct i2_in *in, const struct hip_r1 *r1,
                             struct r_keys *k, const struct sockaddr_storage *src,
                             const struct sockaddr_storage *dst, uint32_t spi)
{
    hip_assoc_reset(a);
    a->initiator = false;
    a->peer = *src;
    memset(&a->local, 0, sizeof(a->local));
    if (dst && hip_addr_valid(dst))
        a->local = *dst;
    a->peer_key = k->key;
    k->key = NULL;
    a->peer_hi_alg = k->hi_alg;
    a->rhash = in->rhash;
    a->hlen = in->hlen;
    memcpy(a->I, in->sol.i, in->hlen);
    memcpy(a->J, in->sol.j, in->hlen);
    a->dh_group = in->dh_group;
    a->dh = hip_dhref_get(r1->dh);
    memcpy(a->peer_dh, in->dh_pub, in->dh_len);
    a->peer_dh_len = in->dh_len;
    a->hip_cipher = in->cipher;
    a->esp_suite = in->esp;
    a->km = k->km;
    a->keys = k->keys;
    a->keymat_next = k->next;
    a->spi_in = spi;
    a->spi_out = in->ei.new_spi;
    a->valid = k->valid;
}

/* Checks a solution against the generation it names (RFC 7401 6.9 steps 6, 7). */
static int check_solution(struct vpxi_hip_host *h, const struct hip_msg *m, const struct i2_in *in,
                          const struct hip_r1gen *g, const struct sockaddr_storage *src,
                          const struct sockaddr_storage *dst)
{
    uint8_t i[VPXI_HIP_RHASH_MAX];
    int r;

    /* our #I for this path and generation, K and Opaque as sent, #J */
    if ((r = hip_puzzle_make_i(in->rhash, g->secret, m->shit, h->hit, src, dst, i)) != 0)
        return r;
    if (!vpxi_memeq_ct(i, in->sol.i, in->hlen) || in->sol.k != g->k || in->sol.opaque != 0 ||
        !hip_puzzle_check(in->rhash, in->sol.i, in->sol.j, m->shit, h->hit, g->k))
        return VPXI_ERR_BAD_PUZZLE;
    /* replay of an accepted (#I, #J) */
    if (hip_replay_seen(h, in->sol.i, in->sol.j, in->hlen))
        return VPXI_ERR_REPLAY;
    return 0;
}

int hip_consume_i2(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    struct hip_r1gen *g;
    const struct hip_r1 *r1 = NULL;
    struct i2_in in;
    struct r_keys k;
    struct vpxi_hip_event *ev;
    uint8_t digest[32], pkt[VPXI_HIP_PACKET_MAX];
    uint32_t old_in = 0, old_out = 0, spi;
    size_t len;
    int r;

    memset(&k, 0, sizeof(k));
    hip_r1_count_i2(h, now);
    /* state */
    i2_digest(m, digest);
    if ((r = i2_state(h, a, m, digest)) != 0)
        return r > 0 ? 0 : r;
    /* parse */
    if ((r = parse_i2(h, m, &in)) != 0)
        goto out;
    if ((g = hip_r1_gen(h, in.counter)) == NULL) {
        r = VPXI_ERR_ROLLBACK;
        goto out;
    }
    for (size_t x = 0; x < g->n && !r1; x++)
        if (g->r1[x].group == in.dh_group)
            r1 = &g->r1[x];
    if (!r1 || in.dh_len != vpxi_dh_pub_len(in.dh_group)) {
        r = r1 ? VPXI_ERR_BAD_KEY : VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    /* puzzle, replay; then DH, KEYMAT, HMAC, SIG, authorization */
    if ((r = check_solution(h, m, &in, g, src, dst)) != 0 ||
        (r = verify_i2(h, m, &in, r1, src, dst, &k, now)) != 0)
        goto out;
    if ((r = hip_new_spi(h, &spi)) != 0)
        goto out;
    /* commit */
    if (!a && (r = hip_assoc_new(h, m->shit, &a)) != 0)
        goto out;
    if (a->announced) {
        old_in = a->spi_in;
        old_out = a->spi_out;
    }
    commit_responder(a, &in, r1, &k, src, dst, spi);
    memcpy(a->i2_digest, digest, sizeof(digest));
    hip_replay_add(h, g->counter, in.sol.i, in.sol.j, in.hlen);
    if ((r = create_r2(h, a, pkt, &len)) != 0) {
        hip_assoc_free(h, a);
        goto out;
    }
    /* the SAs first, then the R2 after which the Initiator may use them */
    if ((ev = hip_event(h, a, VPXI_HIP_EV_ESTABLISHED)) != NULL) {
        hip_event_sa(ev, a, a->spi_in, a->spi_out, &k.esp_in, &k.esp_out);
        ev->peer_key = vpxi_key_get(a->peer_key);
        ev->old_spi_in = old_in;
        ev->old_spi_out = old_out;
    }
    a->announced = true;
    (void)hip_send(h, pkt, len, &a->peer, &a->local);
    hip_rtx_arm(h, a, pkt, len, 0, now);
    hip_rtx_stop(a); /* kept only to answer a duplicate I2 */
    a->state_timer = now + h->cfg.r2_sent_ms;
    hip_set_state(a, VPXI_HS_R2_SENT);
    h->stats.bex_completed++;
    r = 0;
out:
    r_keys_clear(&k);
    vpxi_wipe(pkt, sizeof(pkt));
    return r;
}

/* ---- R2 (Initiator) --------------------------------------------------------- */

int hip_consume_r2(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    struct hip_esp_info ei;
    struct vpxi_esp_keys in, out;
    struct vpxi_validity valid;
    struct vpxi_hip_event *ev;
    uint16_t notify = 0;
    size_t next = 0;
    int r;

    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    /* state */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (a->state != VPXI_HS_I2_SENT)
        return VPXI_ERR_BAD_STATE;
    /* parse */
    if ((r = hip_get_esp_info(hip_msg_find(m, VPXI_HIP_P_ESP_INFO), &ei)) != 0)
        goto out;
    if (ei.old_spi != 0 || ei.new_spi == 0 || ei.keymat_index != a->keymat_next) {
        r = VPXI_ERR_BAD_FORMAT;
        goto out;
    }
    /* HMAC_2 (with the Responder's HOST_ID from R1), SIG */
    if ((r = hip_mac_check(m, VPXI_HIP_P_HIP_MAC_2, a->rhash, a->keys.int_in, a->keys.int_len,
                           a->r1_host_id, a->r1_host_id_len)) != 0 ||
        (r = hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE, a->peer_key, a->peer_hi_alg)) != 0)
        goto out;
    if ((r = hip_keys_esp(&a->km, a->keymat_next, hip_hit_greater(h->hit, a->peer_hit),
                          a->esp_suite, &in, &out, &next)) != 0)
        goto out;
    /* authorization (SPKI) */
    if ((r = hip_authorize(h, a->peer_hit, a->peer_key, m, &valid, &notify)) != 0) {
        hip_create_notify(h, a->peer_hit, &a->peer, &a->local, notify, NULL, 0, now);
        /* the Responder holds SAs for us: close them (no CLOSE_ACK awaited) */
        (void)hip_create_close(h, a, now);
        hip_fail(h, a, VPXI_HIP_R_REFUSED, r, notify, now);
        r = hip_drop(h, VPXI_HIP_DROP_AUTH_REFUSED, r);
        goto out;
    }
    /* commit */
    hip_rtx_stop(a);
    vpxi_freezero(a->r1_host_id, a->r1_host_id_len);
    a->r1_host_id = NULL;
    a->r1_host_id_len = 0;
    a->spi_out = ei.new_spi;
    a->keymat_next = next;
    a->valid = valid;
    hip_peer_address(h, a, src, dst);
    if ((ev = hip_event(h, a, VPXI_HIP_EV_ESTABLISHED)) != NULL) {
        hip_event_sa(ev, a, a->spi_in, a->spi_out, &in, &out);
        ev->peer_key = vpxi_key_get(a->peer_key);
    }
    a->announced = true;
    hip_set_state(a, VPXI_HS_ESTABLISHED);
    h->stats.bex_completed++;
    r = 0;
out:
    vpxi_wipe(&in, sizeof(in));
    vpxi_wipe(&out, sizeof(out));
    return r;
}
