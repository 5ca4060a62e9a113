/*
 * close.c - CLOSE, CLOSE_ACK (RFC 7401 5.3.7-5.3.8, 6.14-6.15) and NOTIFY
 * (5.3.6, 6.13).
 *
 *   CLOSE      ECHO_REQUEST_SIGNED (16-byte nonce), HIP_MAC, HIP_SIGNATURE;
 *              retransmitted from CLOSING; answered in I2-SENT, R2-SENT,
 *              ESTABLISHED, CLOSING and CLOSED (crossed CLOSEs).
 *   CLOSE_ACK  ECHO_RESPONSE_SIGNED (the nonce), HIP_MAC, HIP_SIGNATURE;
 *              accepted in CLOSING/CLOSED with our nonce: the state goes.
 *   NOTIFY     NOTIFICATION, HIP_SIGNATURE; sent only to peers whose HI
 *              we have or who have ours (R1 received or sent), at most
 *              notify_per_sec per second, never to an address that the
 *              packet being answered could have spoofed unless its
 *              puzzle was solved. Received NOTIFYs are verified with the
 *              association's peer key and reported (VPXI_HIP_EV_NOTIFY);
 *              an error NOTIFY in I2-SENT fails the exchange at once
 *              instead of waiting for the I2 retries.
 */
#include <string.h>

#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum { NOTIFY_WINDOW_MS = 1000, NOTIFY_STATUS_MIN = 16384 };

static bool has_keys(const struct hip_assoc *a)
{
    switch (a->state) {
    case VPXI_HS_I2_SENT:
    case VPXI_HS_R2_SENT:
    case VPXI_HS_ESTABLISHED:
    case VPXI_HS_CLOSING:
    case VPXI_HS_CLOSED: return a->peer_key != NULL && a->keys.int_len != 0;
    default: return false;
    }
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

int hip_create_close(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;
    int r;

    if (!has_keys(a))
        return VPXI_ERR_BAD_STATE;
    if ((r = vpxi_random(a->echo, sizeof(a->echo))) != 0)
        return r;
    vpxi_wr_init(&w, pkt, sizeof(pkt));
    hip_put_header(&w, VPXI_HIP_CLOSE, 0, h->hit, a->peer_hit);
    hip_put_param(&w, VPXI_HIP_P_ECHO_REQUEST_SIGNED, a->echo, sizeof(a->echo));
    if ((r = sign_and_finish(h, a, &w)) != 0)
        return r;
    /* no more UPDATEs: a pending rekey or renewal is moot */
    hip_rekey_clear(&a->rk);
    a->upd_out = a->upd_rekey = a->upd_check = a->loc_check = false;
    a->pend_rekey = a->pend_certs = a->pend_locators = a->pend_echo = a->ack_pending = false;
    a->retire_at = INT64_MAX;
    a->state_timer = INT64_MAX;
    hip_rtx_arm(h, a, pkt, w.len, h->cfg.close_retries, now);
    hip_set_state(a, VPXI_HS_CLOSING);
    return hip_send(h, pkt, w.len, &a->peer, &a->local);
}

static int create_close_ack(struct vpxi_hip_host *h, const struct hip_assoc *a,
                            const struct hip_param *echo, const struct sockaddr_storage *to)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;
    int r;

    vpxi_wr_init(&w, pkt, sizeof(pkt));
    hip_put_header(&w, VPXI_HIP_CLOSE_ACK, 0, h->hit, a->peer_hit);
    hip_put_param(&w, VPXI_HIP_P_ECHO_RESPONSE_SIGNED, echo->v, echo->len);
    if ((r = sign_and_finish(h, a, &w)) != 0)
        return r;
    return hip_send(h, pkt, w.len, to, &a->local);
}

/* MAC and signature of a packet from a's peer. */
static int verify(const struct hip_assoc *a, const struct hip_msg *m)
{
    int r;

    /* HMAC, SIG */
    if ((r = hip_mac_check(m, VPXI_HIP_P_HIP_MAC, a->rhash, a->keys.int_in, a->keys.int_len, NULL,
                           0)) != 0)
        return r;
    return hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE, a->peer_key, a->peer_hi_alg);
}

int hip_consume_close(struct vpxi_hip_host *h, const struct hip_msg *m,
                      const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                      int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    const struct hip_param *echo = hip_msg_find(m, VPXI_HIP_P_ECHO_REQUEST_SIGNED);
    struct vpxi_hip_event *ev;
    enum vpxi_hip_state was;
    int r;

    /* state */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (!has_keys(a))
        return VPXI_ERR_BAD_STATE;
    /* verify */
    if ((r = verify(a, m)) != 0)
        return r;
    /* commit */
    was = a->state;
    if ((r = create_close_ack(h, a, echo, src)) != 0)
        return r;
    if (was == VPXI_HS_CLOSED)
        return 0; /* a retransmitted CLOSE: acked again */
    if (was != VPXI_HS_CLOSING) {
        if ((ev = hip_event(h, a, VPXI_HIP_EV_CLOSED)) != NULL)
            ev->reason = VPXI_HIP_R_PEER;
        h->stats.closes++;
        /* our own CLOSE nonce stays unset: no CLOSE_ACK expected */
        memset(a->echo, 0, sizeof(a->echo));
    }
    (void)dst;
    hip_rtx_stop(a);
    hip_rekey_clear(&a->rk);
    a->upd_out = false;
    a->retire_at = INT64_MAX;
    a->state_timer = now + h->cfg.closed_ms;
    hip_set_state(a, VPXI_HS_CLOSED);
    return 0;
}

int hip_consume_close_ack(struct vpxi_hip_host *h, const struct hip_msg *m,
                          const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                          int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    const struct hip_param *echo = hip_msg_find(m, VPXI_HIP_P_ECHO_RESPONSE_SIGNED);
    int r;

    (void)src;
    (void)dst;
    (void)now;
    /* state */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if ((a->state != VPXI_HS_CLOSING && a->state != VPXI_HS_CLOSED) || !has_keys(a))
        return VPXI_ERR_BAD_STATE;
    /* verify: MAC, signature, our nonce */
    if ((r = verify(a, m)) != 0)
        return r;
    if (echo->len != sizeof(a->echo) || vpxi_iszero_ct(a->echo, sizeof(a->echo)) ||
        !vpxi_memeq_ct(echo->v, a->echo, sizeof(a->echo)))
        return VPXI_ERR_REPLAY;
    /* commit: -> UNASSOCIATED */
    hip_assoc_free(h, a);
    return 0;
}

/* ---- NOTIFY -------------------------------------------------------------------- */

void hip_create_notify(struct vpxi_hip_host *h, const uint8_t peer_hit[static VPXI_HIT_LEN],
                       const struct sockaddr_storage *dst, const struct sockaddr_storage *src,
                       uint16_t type, const uint8_t *data, size_t len, int64_t now)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_wr w;

    if (type == 0 || !hip_addr_valid(dst))
        return;
    if (now - h->notify_window >= NOTIFY_WINDOW_MS) {
        h->notify_window = now;
        h->notify_count = 0;
    }
    if (h->notify_count >= h->cfg.notify_per_sec) {
        h->stats.notify_rate_limited++;
        return;
    }
    h->notify_count++;
    vpxi_wr_init(&w, pkt, sizeof(pkt));
    hip_put_header(&w, VPXI_HIP_NOTIFY, 0, h->hit, peer_hit);
    hip_put_notification(&w, type, data, len);
    /* SIG */
    if (hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE, h->key, h->hi_alg) != 0 || hip_finish(&w) != 0)
        return;
    if (hip_send(h, pkt, w.len, dst, src && hip_addr_valid(src) ? src : NULL) == 0)
        h->stats.notify_sent++;
}

void hip_unknown_critical(struct vpxi_hip_host *h, const struct hip_msg *m,
                          const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                          int64_t now)
{
    const struct hip_assoc *a;
    uint8_t data[2];

    (void)src;
    (void)dst;
    /* only the header was parsed: answer a known peer at its known address */
    if (!m->shit || !m->rhit || memcmp(m->rhit, h->hit, VPXI_HIT_LEN) != 0 ||
        (a = hip_assoc_find(h, m->shit)) == NULL || !a->peer_key ||
        (a->state != VPXI_HS_I2_SENT && a->state != VPXI_HS_R2_SENT &&
         a->state != VPXI_HS_ESTABLISHED))
        return;
    vpxi_put_be16(data, m->bad_type);
    hip_create_notify(h, a->peer_hit, &a->peer, &a->local,
                      VPXI_HIP_N_UNSUPPORTED_CRITICAL_PARAMETER_TYPE, data, sizeof(data), now);
}

int hip_consume_notify(struct vpxi_hip_host *h, const struct hip_msg *m,
                       const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, m->shit);
    const struct hip_param *p;
    struct vpxi_hip_event *ev;
    uint16_t fatal = 0;
    size_t n;
    int r;

    (void)src;
    (void)dst;
    /* state: we need the sender's key */
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (!a->peer_key)
        return VPXI_ERR_BAD_STATE;
    /* SIG */
    if ((r = hip_sig_check(m, VPXI_HIP_P_HIP_SIGNATURE, a->peer_key, a->peer_hi_alg)) != 0)
        return r;
    n = hip_msg_count(m, VPXI_HIP_P_NOTIFICATION, &p);
    for (size_t i = 0; i < n; i++) {
        uint16_t type;
        const uint8_t *data;
        size_t len;

        if (hip_get_notification(&p[i], &type, &data, &len) != 0)
            continue;
        if ((ev = hip_event(h, a, VPXI_HIP_EV_NOTIFY)) != NULL) {
            ev->notify = type;
            ev->notify_data_len = len < sizeof(ev->notify_data) ? len : sizeof(ev->notify_data);
            memcpy(ev->notify_data, data, ev->notify_data_len);
        }
        if (type < NOTIFY_STATUS_MIN && !fatal)
            fatal = type;
    }
    /* the Responder refused our I2: fail now rather than after the retries */
    if (fatal && a->state == VPXI_HS_I2_SENT)
        hip_fail(h, a, VPXI_HIP_R_NOTIFY, VPXI_ERR_PROTOCOL, fatal, now);
    return 0;
}
