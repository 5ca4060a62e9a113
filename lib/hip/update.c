/*
 * update.c - UPDATE (RFC 7401 6.11-6.12): ESP rekeying (RFC 7402 6.8-6.10),
 * certificate renewal (CERT, RFC 6253), locators (RFC 8046 LOCATOR_SET with
 * RFC 5770 transport locators) and address checks (ECHO_REQUEST_SIGNED).
 *
 * One UPDATE with a SEQ is outstanding at a time (a->upd_out), retransmitted
 * until the peer ACKs it; what local requests ask for meanwhile waits in
 * the pend_* flags and goes into the next UPDATE. Every new peer SEQ is
 * acknowledged, piggybacked on our next UPDATE when we send one at once,
 * else in an ACK-only UPDATE; a SEQ seen before (mod 2^32) is only
 * re-acknowledged. ACKs are processed before SEQs.
 *
 * Rekey (both ends run the same code, simultaneous rekeys included):
 *   rk.sent   our ESP_INFO (new inbound SPI, KEYMAT index, maybe a new DH
 *             value) is out in an UPDATE
 *   rk.peer   the peer's ESP_INFO arrived
 *   rk.acked  our UPDATE with ESP_INFO was acknowledged
 *   install   when sent && peer: new KEYMAT if any side sent a DH value (the
 *             other side's current DH key otherwise; #I, #J of the base
 *             exchange as salt), index 0; else the greater of the two
 *             indexes. REKEYED event (new inbound SA now, activate = acked).
 *   activate  when acked (or ESP arrives on the new inbound SA): SA_ACTIVATE.
 *   retire    the old inbound SA when ESP arrives on the new one, at the
 *             latest sa_retire_ms after the install: SA_RETIRE.
 * A peer that replies to a rekey with a DH value always gets one from us
 * too, so both sides contribute fresh DH keys.
 *
 * The peer address moves when an authenticated UPDATE with a new SEQ (or
 * the ACK of our outstanding one) arrives from elsewhere, or when an
 * address check of the peer's preferred locator succeeds.
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum { LOCATOR_LIFETIME_S = 600 };

void hip_rekey_clear(struct hip_rekey *rk)
{
    hip_dhref_put(rk->dh);
    vpxi_wipe(rk, sizeof(*rk));
}

static size_t keymat_limit(const struct hip_assoc *a)
{
    size_t n = HIP_KEYMAT_BLOCKS_MAX * a->hlen;
    return n < HIP_KEYMAT_INDEX_MAX ? n : HIP_KEYMAT_INDEX_MAX;
}

/* Prepares our side of a rekey: new inbound SPI, maybe a new DH key. */
static int rekey_prepare(struct vpxi_hip_host *h, struct hip_assoc *a, bool with_dh)
{
    struct vpxi_dh *dh = NULL;
    uint32_t spi;
    int r;

    if (a->keymat_next + hip_esp_keymat_len(a->esp_suite) > keymat_limit(a))
        with_dh = true; /* KEYMAT exhausted */
    if ((r = hip_new_spi(h, &spi)) != 0)
        return r;
    a->rk.spi_in = spi;
    a->rk.active = true;
    a->rk.with_dh = with_dh;
    a->rk.idx_sent = with_dh ? 0 : (uint16_t)a->keymat_next;
    if (a->rk.peer && !with_dh && a->rk.idx_peer > a->rk.idx_sent)
        a->rk.idx_sent = a->rk.idx_peer; /* RECOMMENDED: the peer's index */
    if (with_dh) {
        if ((r = vpxi_dh_new(a->dh_group, &dh)) != 0)
            return r;
        if ((a->rk.dh = hip_dhref_new(dh)) == NULL)
            return VPXI_ERR_NOMEM;
    }
    return 0;
}

/* The new SAs' keys (RFC 7402 6.10 steps 1-3); *km_out is the KEYMAT they
 * came from (a new one if any DH value is new). */
static int rekey_keys(const struct vpxi_hip_host *h, const struct hip_assoc *a,
                      struct hip_keymat *km, struct vpxi_esp_keys *in, struct vpxi_esp_keys *out,
                      size_t *next)
{
    const struct hip_rekey *rk = &a->rk;
    uint8_t kij[VPXI_DH_SECRET_MAX];
    size_t kijlen = 0, idx;
    int r;

    if (rk->with_dh || rk->peer_dh_len) {
        const struct hip_dhref *mine = rk->dh ? rk->dh : a->dh;
        const uint8_t *pub = rk->peer_dh_len ? rk->peer_dh : a->peer_dh;
        size_t publen = rk->peer_dh_len ? rk->peer_dh_len : a->peer_dh_len;
        if (!mine)
            return VPXI_ERR_INTERNAL;
        /* DH, KEYMAT with the base exchange's #I | #J */
        if ((r = vpxi_dh_derive(mine->dh, pub, publen, kij, sizeof(kij), &kijlen)) == 0)
            r = hip_keymat_init(km, a->rhash, kij, kijlen, a->I, a->J, h->hit, a->peer_hit);
        vpxi_wipe(kij, sizeof(kij));
        if (r)
            return r;
        idx = 0;
    } else {
        *km = a->km;
        idx = rk->idx_sent > rk->idx_peer ? rk->idx_sent : rk->idx_peer;
    }
    return hip_keys_esp(km, idx, hip_hit_greater(h->hit, a->peer_hit), a->esp_suite, in, out, next);
}

static void retire_now(struct vpxi_hip_host *h, struct hip_assoc *a)
{
    struct vpxi_hip_event *ev;

    if (a->retire_spi_in && (ev = hip_event(h, a, VPXI_HIP_EV_SA_RETIRE)) != NULL)
        ev->old_spi_in = a->retire_spi_in;
    a->retire_spi_in = 0;
    a->retire_at = INT64_MAX;
}

static void activate_now(struct vpxi_hip_host *h, struct hip_assoc *a)
{
    struct vpxi_hip_event *ev;

    if (a->activate_spi && (ev = hip_event(h, a, VPXI_HIP_EV_SA_ACTIVATE)) != NULL)
        ev->old_spi_out = a->retire_spi_out;
    a->activate_spi = 0;
    a->retire_spi_out = 0;
}

/* Both ESP_INFOs known: new SAs (REKEYED), commit them to the association. */
static int rekey_install(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    struct hip_rekey *rk = &a->rk;
    struct hip_keymat km;
    struct vpxi_esp_keys in, out;
    struct vpxi_hip_event *ev;
    size_t next;
    int r;

    if ((r = rekey_keys(h, a, &km, &in, &out, &next)) != 0)
        goto out;
    if (a->retire_spi_in)
        retire_now(h, a); /* the previous rekey's old SA */
    if ((ev = hip_event(h, a, VPXI_HIP_EV_REKEYED)) != NULL) {
        hip_event_sa(ev, a, rk->spi_in, rk->peer_spi, &in, &out);
        ev->old_spi_in = a->spi_in;
        ev->old_spi_out = a->spi_out;
        ev->activate = rk->acked;
    }
    /* commit */
    a->km = km;
    a->keymat_next = next;
    if (rk->dh) {
        hip_dhref_put(a->dh);
        a->dh = rk->dh;
        rk->dh = NULL;
    }
    if (rk->peer_dh_len) {
        memcpy(a->peer_dh, rk->peer_dh, rk->peer_dh_len);
        a->peer_dh_len = rk->peer_dh_len;
    }
    a->retire_spi_in = a->spi_in;
    a->retire_at = now + h->cfg.sa_retire_ms;
    a->retire_spi_out = a->spi_out;
    a->spi_in = rk->spi_in;
    a->spi_out = rk->peer_spi;
    a->activate_spi = rk->acked ? 0 : a->spi_out;
    if (rk->acked) {
        a->retire_spi_out = 0;
        hip_rekey_clear(rk);
    } else {
        rk->installed = true;
    }
    h->stats.rekeys++;
    r = 0;
out:
    hip_keymat_clear(&km);
    vpxi_wipe(&in, sizeof(in));
    vpxi_wipe(&out, sizeof(out));
    return r;
}

/* Our UPDATE with ESP_INFO was acknowledged. */
static int rekey_acked(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    a->rk.acked = true;
    if (a->rk.installed) {
        activate_now(h, a);
        hip_rekey_clear(&a->rk);
        return 0;
    }
    return a->rk.peer ? rekey_install(h, a, now) : 0;
}

/* ---- sending ------------------------------------------------------------------ */

static void put_ack(struct hip_assoc *a, struct vpxi_wr *w)
{
    hip_put_u32(w, VPXI_HIP_P_ACK, a->ack_seq);
}

static int sign_and_finish(struct vpxi_hip_host *h, const struct hip_assoc *a, struct vpxi_wr *w)
{
    int r;

    /* HMAC, SIG */
    if ((r = hip_mac_put(w, a->rhash, a->keys.int_out, a->keys.int_len, NULL, 0)) != 0 ||
        (r = hip_sig_put(w, VPXI_HIP_P_HIP_SIGNATURE, h->key, h->hi_alg)) != 0)
        return r;
    return hip_finish(w);
}

/* ACK-only UPDATE for the pending peer SEQ (not retransmitted). */
static int send_ack(struct vpxi_hip_host *h, struct hip_assoc *a)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;
    int r;

    vpxi_wr_init(&w, pkt, sizeof(pkt));
    hip_put_header(&w, VPXI_HIP_UPDATE, 0, h->hit, a->peer_hit);
    put_ack(a, &w);
    if (a->ack_echo_len)
        hip_put_param(&w, VPXI_HIP_P_ECHO_RESPONSE_SIGNED, a->ack_echo, a->ack_echo_len);
    a->ack_pending = false;
    a->ack_echo_len = 0;
    if ((r = sign_and_finish(h, a, &w)) != 0)
        return r;
    return hip_send(h, pkt, w.len, &a->ack_dst, &a->local);
}

/* An address check: SEQ + ECHO_REQUEST_SIGNED to the candidate locator. */
static int build_check(struct vpxi_hip_host *h, struct hip_assoc *a, struct vpxi_wr *w,
                       uint32_t seq)
{
    int r;

    if ((r = vpxi_random(a->echo, sizeof(a->echo))) != 0)
        return r;
    hip_put_header(w, VPXI_HIP_UPDATE, 0, h->hit, a->peer_hit);
    hip_put_u32(w, VPXI_HIP_P_SEQ, seq);
    hip_put_param(w, VPXI_HIP_P_ECHO_REQUEST_SIGNED, a->echo, sizeof(a->echo));
    return 0;
}

/* Rekey, locators, certificates as pending; the pending ACK piggybacked. */
static int build_update(struct vpxi_hip_host *h, struct hip_assoc *a, struct vpxi_wr *w,
                        uint32_t seq)
{
    uint8_t pub[VPXI_DH_PUB_MAX];
    size_t publen = 0;
    int r;

    if (a->pend_rekey || (a->rk.peer && !a->rk.sent)) {
        if (!a->rk.active &&
            (r = rekey_prepare(h, a, a->pend_rekey_dh || a->rk.peer_dh_len > 0)) != 0)
            return r;
        if (a->rk.dh && (r = vpxi_dh_public(a->rk.dh->dh, pub, sizeof(pub), &publen)) != 0)
            return r;
        a->upd_rekey = true;
    }
    hip_put_header(w, VPXI_HIP_UPDATE, 0, h->hit, a->peer_hit);
    if (a->upd_rekey)
        hip_put_esp_info(w, a->rk.idx_sent, a->spi_in, a->rk.spi_in);
    if (a->pend_locators && h->nlocs)
        hip_put_locators(w, h->locs, h->nlocs, LOCATOR_LIFETIME_S);
    hip_put_u32(w, VPXI_HIP_P_SEQ, seq);
    if (a->ack_pending)
        put_ack(a, w);
    if (publen)
        hip_put_dh(w, a->dh_group, pub, publen);
    if (a->pend_certs)
        hip_put_certs(h, w);
    if (a->ack_pending && a->ack_echo_len)
        hip_put_param(w, VPXI_HIP_P_ECHO_RESPONSE_SIGNED, a->ack_echo, a->ack_echo_len);
    return 0;
}

static bool update_due(const struct hip_assoc *a)
{
    return a->pend_rekey || a->pend_certs || a->pend_locators || (a->rk.peer && !a->rk.sent);
}

int hip_update_send(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;
    bool check = !update_due(a) && a->pend_echo;
    uint32_t seq = a->upd_next;
    int r;

    if (a->upd_out)
        return VPXI_ERR_INTERNAL;
    if (!check && !update_due(a))
        return 0;
    a->upd_rekey = false;
    vpxi_wr_init(&w, pkt, sizeof(pkt));
    if ((r = check ? build_check(h, a, &w, seq) : build_update(h, a, &w, seq)) != 0 ||
        (r = sign_and_finish(h, a, &w)) != 0)
        goto out;
    /* the new inbound SA before the packet that lets the peer use it */
    if (a->upd_rekey && a->rk.peer && !a->rk.installed && (r = rekey_install(h, a, now)) != 0)
        goto out;
    /* committed: what this UPDATE carries is no longer pending */
    a->upd_next++;
    a->upd_out = true;
    a->upd_seq = seq;
    a->upd_check = check;
    if (check) {
        a->pend_echo = false;
        a->loc_check = true;
    } else {
        if (a->ack_pending) { /* piggybacked */
            a->ack_pending = false;
            a->ack_echo_len = 0;
        }
        if (a->upd_rekey) {
            a->pend_rekey = false;
            a->rk.sent = true;
        }
        a->pend_certs = a->pend_locators = false;
    }
    hip_rtx_arm(h, a, pkt, w.len, h->cfg.update_retries, now);
    a->rtx.to_candidate = check;
    r = hip_send(h, pkt, w.len, check ? &a->loc_candidate : &a->peer, &a->local);
out:
    if (r)
        a->upd_rekey = false;
    vpxi_wipe(pkt, sizeof(pkt));
    return r;
}

bool hip_update_gave_up(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    if (!a->upd_out || !a->upd_check)
        return false;
    /* the candidate locator did not answer: keep the current address */
    a->upd_out = a->upd_check = a->loc_check = false;
    hip_rtx_stop(a);
    (void)hip_update_send(h, a, now);
    return true;
}

void hip_established(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    a->state_timer = INT64_MAX;
    hip_set_state(a, VPXI_HS_ESTABLISHED);
    if (!a->upd_out)
        (void)hip_update_send(h, a, now);
}

/* ---- receiving ------------------------------------------------------------------ */

/* An UPDATE, parsed. */
struct upd_in {
    bool has_seq, has_ack, has_ei;
    uint32_t seq;
    uint32_t acks[HIP_ACK_MAX];
    size_t nacks;
    struct hip_esp_info ei;
    const uint8_t *dh_pub;
    size_t dh_len;
    struct hip_locator locs[VPXI_HIP_LOCATORS_MAX];
    size_t nlocs;
    const struct hip_param *echo_req, *echo_resp, *cert;
};

static int parse_update(const struct hip_assoc *a, const struct hip_msg *m, struct upd_in *in)
{
    const struct hip_param *p;
    uint8_t group;
    int r;

    memset(in, 0, sizeof(*in));
    if ((p = hip_msg_find(m, VPXI_HIP_P_SEQ)) != NULL) {
        if ((r = hip_get_u32(p, &in->seq)) != 0)
            return r;
        in->has_seq = true;
    }
    if ((p = hip_msg_find(m, VPXI_HIP_P_ACK)) != NULL) {
        if ((r = hip_get_acks(p, in->acks, HIP_ACK_MAX, &in->nacks)) != 0)
            return r;
        in->has_ack = true;
    }
    if (!in->has_seq && !in->has_ack)
        return VPXI_ERR_BAD_FORMAT;
    if ((p = hip_msg_find(m, VPXI_HIP_P_ESP_INFO)) != NULL) {
        if ((r = hip_get_esp_info(p, &in->ei)) != 0)
            return r;
        if (!in->has_seq || in->ei.new_spi == 0)
            return VPXI_ERR_BAD_FORMAT;
        in->has_ei = true;
    }
    if ((p = hip_msg_find(m, VPXI_HIP_P_DIFFIE_HELLMAN)) != NULL) {
        if ((r = hip_get_dh(p, &group, &in->dh_pub, &in->dh_len)) != 0)
            return r;
        /* RFC 7402 6.9: same group, KEYMAT index 0 */
        if (!in->has_ei || group != a->dh_group || in->ei.keymat_index != 0 ||
            in->dh_len != vpxi_dh_pub_len(group))
            return VPXI_ERR_BAD_FORMAT;
    }
    if ((p = hip_msg_find(m, VPXI_HIP_P_LOCATOR_SET)) != NULL &&
        (r = hip_get_locators(p, in->locs, VPXI_HIP_LOCATORS_MAX, &in->nlocs)) != 0)
        return r;
    in->echo_req = hip_msg_find(m, VPXI_HIP_P_ECHO_REQUEST_SIGNED);
    in->echo_resp = hip_msg_find(m, VPXI_HIP_P_ECHO_RESPONSE_SIGNED);
    in->cert = hip_msg_find(m, VPXI_HIP_P_CERT);
    if ((in->cert || in->nlocs || in->echo_req) && !in->has_seq)
        return VPXI_ERR_BAD_FORMAT;
    return 0;
}

/* Validates the peer's new DH value (a trial derivation with our key). */
static int peer_dh_ok(const struct hip_assoc *a, const struct upd_in *in)
{
    uint8_t kij[VPXI_DH_SECRET_MAX];
    size_t n;
    int r;

    if (!in->dh_len)
        return 0;
    if (!a->dh)
        return VPXI_ERR_INTERNAL;
    r = vpxi_dh_derive(a->dh->dh, in->dh_pub, in->dh_len, kij, sizeof(kij), &n);
    vpxi_wipe(kij, sizeof(kij));
    return r;
}

/* The peer's ESP_INFO (and DH) of a new SEQ. */
static void take_peer_rekey(struct hip_assoc *a, const struct upd_in *in)
{
    a->rk.peer = true;
    a->rk.peer_spi = in->ei.new_spi;
    a->rk.idx_peer = in->ei.keymat_index;
    a->rk.peer_dh_len = in->dh_len;
    if (in->dh_len)
        memcpy(a->rk.peer_dh, in->dh_pub, in->dh_len);
}

/* Certificates renewed by the peer. */
static void renewed_certs(struct vpxi_hip_host *h, struct hip_assoc *a, const struct hip_msg *m,
                          int64_t now)
{
    struct vpxi_validity valid;
    struct vpxi_hip_event *ev;
    uint16_t notify = 0;

    if (hip_authorize(h, a->peer_hit, a->peer_key, m, &valid, &notify) != 0) {
        /* the old validity stays; the daemon tears down when it ends */
        h->stats.drops[VPXI_HIP_DROP_AUTH_REFUSED]++;
        hip_create_notify(h, a->peer_hit, &a->peer, &a->local, notify, NULL, 0, now);
        return;
    }
    a->valid = valid;
    if ((ev = hip_event(h, a, VPXI_HIP_EV_AUTH_UPDATED)) != NULL)
        ev->valid = valid;
    h->stats.cert_renewals++;
}

/* The preferred locator (else the first) of a LOCATOR_SET: check it if new. */
static void peer_locators(struct hip_assoc *a, const struct upd_in *in)
{
    const struct hip_locator *best = NULL;

    for (size_t i = 0; i < in->nlocs && !best; i++)
        if (in->locs[i].preferred && in->locs[i].traffic != 2)
            best = &in->locs[i];
    if (!best)
        best = &in->locs[0];
    if (hip_addr_equal(&best->addr, &a->peer))
        return;
    a->loc_candidate = best->addr;
    a->pend_echo = true;
}

/* Our address check came back with the right echo. */
static void check_done(struct vpxi_hip_host *h, struct hip_assoc *a, const struct upd_in *in)
{
    bool ok = in->echo_resp && in->echo_resp->len == sizeof(a->echo) &&
              vpxi_memeq_ct(in->echo_resp->v, a->echo, sizeof(a->echo));

    a->loc_check = false;
    if (ok)
        hip_peer_address(h, a, &a->loc_candidate, NULL);
}

/* ACKs first (RFC 7401 6.12.2). Returns true if one matched our UPDATE. */
static bool take_acks(struct vpxi_hip_host *h, struct hip_assoc *a, const struct upd_in *in,
                      int64_t now)
{
    bool rekey = a->upd_rekey, check = a->upd_check;

    for (size_t i = 0; i < in->nacks; i++)
        if (a->upd_out && in->acks[i] == a->upd_seq) {
            a->upd_out = a->upd_rekey = a->upd_check = false;
            hip_rtx_stop(a);
            if (check)
                check_done(h, a, in);
            if (rekey && a->rk.sent) /* not superseded by a newer peer rekey */
                (void)rekey_acked(h, a, now);
            return true;
        }
    return false;
}

int hip_consume_update(struct vpxi_hip_host *h, const struct hip_msg *m,
                       const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    struct upd_in in;
    bool acked = false, fresh = false;
    int r;

    /* state */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (a->state != VPXI_HS_ESTABLISHED && a->state != VPXI_HS_R2_SENT)
        return VPXI_ERR_BAD_STATE;
    /* parse */
    if ((r = parse_update(a, m, &in)) != 0)
        return r;
    /* HMAC, SIG */
    if ((r = hip_mac_check(m, VPXI_HIP_P_HIP_MAC, a->rhash, a->keys.int_in, a->keys.int_len, NULL,
                           0)) != 0 ||
        (r = hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE, a->peer_key, a->peer_hi_alg)) != 0)
        return r;
    /* replay: a SEQ seen before is only re-acknowledged; an ACK must match */
    fresh = in.has_seq && (!a->peer_seq_valid || (int32_t)(in.seq - a->peer_seq_next) >= 0);
    if (in.has_ack)
        acked = take_acks(h, a, &in, now);
    if (!fresh && !acked) {
        if (!in.has_seq)
            return hip_drop(h, VPXI_HIP_DROP_REPLAY, VPXI_ERR_REPLAY);
        a->ack_pending = true;
        a->ack_seq = in.seq;
        a->ack_echo_len = 0;
        a->ack_dst = *src;
        return send_ack(h, a);
    }
    /* a new rekey must replace the SPI we send on, with a usable DH value */
    if (fresh && in.has_ei &&
        ((r = in.ei.old_spi != a->spi_out ? VPXI_ERR_BAD_FORMAT : 0) != 0 ||
         (r = peer_dh_ok(a, &in)) != 0))
        return r;
    /* commit */
    if (a->state == VPXI_HS_R2_SENT) {
        a->state_timer = INT64_MAX;
        hip_set_state(a, VPXI_HS_ESTABLISHED);
    }
    hip_peer_address(h, a, src, dst);
    if (in.has_seq && !fresh) { /* an old SEQ with a fresh ACK: acknowledge it again */
        a->ack_pending = true;
        a->ack_seq = in.seq;
        a->ack_echo_len = 0;
        a->ack_dst = *src;
    }
    if (fresh) {
        a->peer_seq_valid = true;
        a->peer_seq_next = in.seq + 1;
        a->ack_pending = true;
        a->ack_seq = in.seq;
        a->ack_dst = *src;
        a->ack_echo_len = in.echo_req ? in.echo_req->len : 0;
        if (in.echo_req)
            memcpy(a->ack_echo, in.echo_req->v, in.echo_req->len);
        if (in.has_ei) {
            if (a->rk.installed) { /* ours, not yet acked, superseded: the peer has it */
                activate_now(h, a);
                hip_rekey_clear(&a->rk);
            }
            take_peer_rekey(a, &in);
            if (a->rk.sent && !a->rk.installed &&
                (r = rekey_install(h, a, now)) != 0) /* simultaneous rekey */
                return r;
        }
        if (in.cert)
            renewed_certs(h, a, m, now);
        if (in.nlocs)
            peer_locators(a, &in);
    }
    /* answer: our own UPDATE if one is due (ACK piggybacked), else ACK-only */
    if (!a->upd_out && (r = hip_update_send(h, a, now)) != 0)
        return r;
    if (a->ack_pending)
        return send_ack(h, a);
    return 0;
}

void hip_update_esp_seen(struct vpxi_hip_host *h, struct hip_assoc *a, uint32_t spi_in, int64_t now)
{
    (void)now;
    if (spi_in != a->spi_in)
        return;
    /* traffic on the new inbound SA: the peer switched (RFC 7402 3.3.2) */
    if (a->activate_spi)
        activate_now(h, a);
    if (a->retire_spi_in)
        retire_now(h, a);
}

void hip_update_timer(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    if (a->retire_at <= now)
        retire_now(h, a);
}
