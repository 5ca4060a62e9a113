/*
 * host.c - the HIP host: configuration, association table, input dispatch,
 * timers, output queue and counters.
 *
 * Timers (all driven by vpxi_hip_timer(now); vpxi_hip_next_timeout() is
 * the minimum of them):
 *   - rtx.next       retransmission of I1 (I1-SENT), I2 (I2-SENT), UPDATE
 *                    (outstanding SEQ), CLOSE (CLOSING): rto_initial_ms,
 *                    times rto_factor each time up to rto_max_ms; after the
 *                    configured retries: I1/I2 -> E-FAILED, UPDATE -> CLOSING,
 *                    CLOSE -> deleted
 *   - state_timer    R2-SENT -> ESTABLISHED (EC, r2_sent_ms); CLOSED and
 *                    E-FAILED -> deleted (closed_ms, failed_ms)
 *   - retire_at      old inbound SA after a rekey -> SA_RETIRE (sa_retire_ms)
 *   - next_rotate    new R1 generation (r1_rotate_ms)
 *   - rate_start+1s  puzzle difficulty steps back down when I2s calm down
 *
 * Input dispatch (RFC 7401 5.4 checks before any state): parse (wire.c),
 * checksum if configured, the receiver HIT is ours (or NULL for an
 * opportunistic I1 if allowed), the sender HIT is an ORCHID that is not
 * ours; then the packet type's consume_ function.
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum { BUCKETS_MIN = 64 };

void vpxi_hip_config_default(struct vpxi_hip_config *c)
{
    memset(c, 0, sizeof(*c));
    c->dh_groups[0] = VPXI_DH_P256;
    c->dh_groups[1] = VPXI_DH_MODP2048;
    c->dh_groups[2] = VPXI_DH_MODP1536;
    c->n_dh_groups = 3;
    c->hip_ciphers[0] = VPXI_HIP_CIPHER_AES128_CBC;
    c->hip_ciphers[1] = VPXI_HIP_CIPHER_AES256_CBC;
    c->n_hip_ciphers = 2;
    c->esp_suites[0] = VPXI_ESP_AES128GCM16;
    c->esp_suites[1] = VPXI_ESP_AES128CBC_SHA256;
    c->esp_suites[2] = VPXI_ESP_NULL_SHA256;
    c->n_esp_suites = 3;
    c->puzzle_k = 0;
    c->puzzle_k_max = 20;
    c->puzzle_k_step = 2;
    c->i2_rate_threshold = 500;
    c->solve_k_max = 20;
    c->r1_rotate_ms = 300000;
    c->r1_counter_start = 1;
    c->rto_initial_ms = 500;
    c->rto_factor = 2;
    c->rto_max_ms = 8000;
    c->i1_retries = 5;
    c->i2_retries = 5;
    c->update_retries = 5;
    c->close_retries = 5;
    c->r2_sent_ms = 10000;
    c->closed_ms = 10000;
    c->failed_ms = 5000;
    c->sa_retire_ms = 10000;
    c->notify_per_sec = 20;
    c->queue_max = 256;
    c->assoc_max = 65536;
}

static int config_check(const struct vpxi_hip_config *c)
{
    if (c->n_dh_groups == 0 || c->n_dh_groups > HIP_DH_GROUPS_MAX || c->n_hip_ciphers == 0 ||
        c->n_hip_ciphers > VPXI_HIP_LIST_MAX || c->n_esp_suites == 0 ||
        c->n_esp_suites > VPXI_HIP_LIST_MAX)
        return VPXI_ERR_INVALID;
    for (size_t i = 0; i < c->n_dh_groups; i++) {
        if (!vpxi_dh_supported(c->dh_groups[i]))
            return VPXI_ERR_UNSUPPORTED;
        for (size_t j = 0; j < i; j++)
            if (c->dh_groups[j] == c->dh_groups[i])
                return VPXI_ERR_INVALID;
    }
    for (size_t i = 0; i < c->n_hip_ciphers; i++)
        if (hip_cipher_key_len(c->hip_ciphers[i]) < 0)
            return VPXI_ERR_UNSUPPORTED;
    for (size_t i = 0; i < c->n_esp_suites; i++)
        if (!vpxi_esp_suite_supported(c->esp_suites[i]))
            return VPXI_ERR_UNSUPPORTED;
    if (c->puzzle_k > c->puzzle_k_max || c->puzzle_k_max > 8 * 32 || c->rto_initial_ms <= 0 ||
        c->rto_factor == 0 || c->rto_max_ms < c->rto_initial_ms || c->r1_rotate_ms <= 0 ||
        c->queue_max < 4 || c->assoc_max == 0 || c->solve_k_max > 40)
        return VPXI_ERR_INVALID;
    return 0;
}

/* ---- names --------------------------------------------------------------- */

const char *vpxi_hip_state_name(enum vpxi_hip_state s)
{
    static const char *const names[] = { "UNASSOCIATED", "I1-SENT", "I2-SENT", "R2-SENT",
                                         "ESTABLISHED",  "CLOSING", "CLOSED",  "E-FAILED" };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *vpxi_hip_reason_name(enum vpxi_hip_reason r)
{
    static const char *const names[] = { "none",   "local",   "peer",        "timeout",
                                         "notify", "refused", "negotiation", "replaced" };
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

const char *vpxi_hip_drop_name(unsigned reason)
{
    static const char *const names[VPXI_HIP_DROP_MAX] = {
        [VPXI_HIP_DROP_TRUNCATED] = "truncated",
        [VPXI_HIP_DROP_MALFORMED] = "malformed",
        [VPXI_HIP_DROP_BAD_VERSION] = "bad_version",
        [VPXI_HIP_DROP_BAD_CHECKSUM] = "bad_checksum",
        [VPXI_HIP_DROP_UNKNOWN_CRITICAL] = "unknown_critical",
        [VPXI_HIP_DROP_ORDER] = "order",
        [VPXI_HIP_DROP_DUPLICATE] = "duplicate",
        [VPXI_HIP_DROP_NOT_FOR_US] = "not_for_us",
        [VPXI_HIP_DROP_UNSUPPORTED] = "unsupported",
        [VPXI_HIP_DROP_BAD_PUZZLE] = "bad_puzzle",
        [VPXI_HIP_DROP_BAD_SIG] = "bad_signature",
        [VPXI_HIP_DROP_BAD_MAC] = "bad_mac",
        [VPXI_HIP_DROP_BAD_HIT] = "bad_hit",
        [VPXI_HIP_DROP_BAD_KEY] = "bad_key",
        [VPXI_HIP_DROP_REPLAY] = "replay",
        [VPXI_HIP_DROP_OLD_R1] = "old_r1",
        [VPXI_HIP_DROP_NO_ASSOC] = "no_association",
        [VPXI_HIP_DROP_WRONG_STATE] = "wrong_state",
        [VPXI_HIP_DROP_NEGOTIATION] = "negotiation",
        [VPXI_HIP_DROP_AUTH_REFUSED] = "authorization_refused",
        [VPXI_HIP_DROP_TIE_BREAK] = "tie_break",
        [VPXI_HIP_DROP_LIMIT] = "limit",
        [VPXI_HIP_DROP_INTERNAL] = "internal",
    };
    return reason < VPXI_HIP_DROP_MAX ? names[reason] : "?";
}

static int drop_of_err(int err)
{
    switch (err) {
    case VPXI_ERR_TRUNCATED: return VPXI_HIP_DROP_TRUNCATED;
    case VPXI_ERR_BAD_FORMAT:
    case VPXI_ERR_TRAILING_DATA:
    case VPXI_ERR_TOO_LARGE: return VPXI_HIP_DROP_MALFORMED;
    case VPXI_ERR_BAD_CHECKSUM: return VPXI_HIP_DROP_BAD_CHECKSUM;
    case VPXI_ERR_UNKNOWN_CRITICAL: return VPXI_HIP_DROP_UNKNOWN_CRITICAL;
    case VPXI_ERR_ORDER: return VPXI_HIP_DROP_ORDER;
    case VPXI_ERR_DUPLICATE: return VPXI_HIP_DROP_DUPLICATE;
    case VPXI_ERR_UNSUPPORTED: return VPXI_HIP_DROP_UNSUPPORTED;
    case VPXI_ERR_BAD_PUZZLE: return VPXI_HIP_DROP_BAD_PUZZLE;
    case VPXI_ERR_BAD_SIG: return VPXI_HIP_DROP_BAD_SIG;
    case VPXI_ERR_BAD_MAC: return VPXI_HIP_DROP_BAD_MAC;
    case VPXI_ERR_HASH_MISMATCH: return VPXI_HIP_DROP_BAD_HIT;
    case VPXI_ERR_BAD_KEY: return VPXI_HIP_DROP_BAD_KEY;
    case VPXI_ERR_REPLAY: return VPXI_HIP_DROP_REPLAY;
    case VPXI_ERR_ROLLBACK: return VPXI_HIP_DROP_OLD_R1;
    case VPXI_ERR_NOT_FOUND: return VPXI_HIP_DROP_NO_ASSOC;
    case VPXI_ERR_BAD_STATE: return VPXI_HIP_DROP_WRONG_STATE;
    case VPXI_ERR_NOT_AUTHORIZED: return VPXI_HIP_DROP_AUTH_REFUSED;
    case VPXI_ERR_PROTOCOL: return VPXI_HIP_DROP_NEGOTIATION;
    case VPXI_ERR_LIMIT: return VPXI_HIP_DROP_LIMIT;
    default: return VPXI_HIP_DROP_INTERNAL;
    }
}

int hip_drop(struct vpxi_hip_host *h, int reason, int err)
{
    h->drop_hint = reason;
    return err;
}

/* ---- association table ------------------------------------------------- */

static size_t bucket_of(const struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN],
                        size_t nbuckets)
{
    uint64_t x = (vpxi_get_be64(hit) ^ vpxi_get_be64(hit + 8)) ^ h->hash_key;

    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 32) & (nbuckets - 1);
}

struct hip_assoc *hip_assoc_find(const struct vpxi_hip_host *h,
                                 const uint8_t hit[static VPXI_HIT_LEN])
{
    struct hip_assoc *a = h->buckets[bucket_of(h, hit, h->nbuckets)];

    while (a && memcmp(a->peer_hit, hit, VPXI_HIT_LEN) != 0)
        a = a->next;
    return a;
}

static void table_grow(struct vpxi_hip_host *h)
{
    size_t n = h->nbuckets * 2;
    struct hip_assoc **b = vpxi_calloc(n, sizeof(*b));

    if (!b)
        return; /* keep the longer chains */
    for (size_t i = 0; i < h->nbuckets; i++) {
        struct hip_assoc *a = h->buckets[i], *next;
        for (; a; a = next) {
            size_t k = bucket_of(h, a->peer_hit, n);
            next = a->next;
            a->next = b[k];
            b[k] = a;
        }
    }
    vpxi_free(h->buckets);
    h->buckets = b;
    h->nbuckets = n;
}

int hip_assoc_new(struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN],
                  struct hip_assoc **out)
{
    struct hip_assoc *a;
    size_t k;

    *out = NULL;
    if (h->stats.associations >= h->cfg.assoc_max)
        return VPXI_ERR_LIMIT;
    if ((a = vpxi_calloc(1, sizeof(*a))) == NULL)
        return VPXI_ERR_NOMEM;
    memcpy(a->peer_hit, hit, VPXI_HIT_LEN);
    a->state = VPXI_HS_UNASSOCIATED;
    a->state_timer = INT64_MAX;
    a->rtx.next = INT64_MAX;
    a->retire_at = INT64_MAX;
    a->valid = (struct vpxi_validity){ VPXI_TIME_MIN, VPXI_TIME_MAX };
    if (h->stats.associations >= 2 * h->nbuckets)
        table_grow(h);
    k = bucket_of(h, hit, h->nbuckets);
    a->next = h->buckets[k];
    h->buckets[k] = a;
    h->stats.associations++;
    *out = a;
    return 0;
}

void hip_assoc_reset(struct hip_assoc *a)
{
    vpxi_key_put(a->peer_key);
    a->peer_key = NULL;
    vpxi_freezero(a->r1_host_id, a->r1_host_id_len);
    a->r1_host_id = NULL;
    a->r1_host_id_len = 0;
    hip_dhref_put(a->dh);
    a->dh = NULL;
    hip_rekey_clear(&a->rk);
    hip_keymat_clear(&a->km);
    vpxi_wipe(&a->keys, sizeof(a->keys));
    vpxi_wipe(a->I, sizeof(a->I));
    vpxi_wipe(a->J, sizeof(a->J));
    a->have_r1_counter = false;
    a->announced = false;
    a->spi_in = a->spi_out = 0;
    a->esp_suite = 0;
    a->keymat_next = 0;
    hip_rtx_stop(a);
    a->rtx.len = 0;
    a->state_timer = INT64_MAX;
    a->upd_next = 0;
    a->upd_out = false;
    a->peer_seq_valid = false;
    a->pend_rekey = a->pend_rekey_dh = a->pend_certs = a->pend_locators = a->pend_echo = false;
    a->upd_rekey = a->upd_check = a->ack_pending = false;
    a->retire_spi_in = a->retire_spi_out = a->activate_spi = 0;
    a->retire_at = INT64_MAX;
    a->loc_check = false;
    a->valid = (struct vpxi_validity){ VPXI_TIME_MIN, VPXI_TIME_MAX };
}

void hip_assoc_free(struct vpxi_hip_host *h, struct hip_assoc *a)
{
    struct hip_assoc **pp = &h->buckets[bucket_of(h, a->peer_hit, h->nbuckets)];

    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    hip_assoc_reset(a);
    vpxi_freezero(a, sizeof(*a));
    h->stats.associations--;
}

bool hip_spi_in_use(const struct vpxi_hip_host *h, uint32_t spi)
{
    for (size_t i = 0; i < h->nbuckets; i++)
        for (const struct hip_assoc *a = h->buckets[i]; a; a = a->next)
            if (a->spi_in == spi || a->rk.spi_in == spi || a->retire_spi_in == spi)
                return true;
    return false;
}

int hip_new_spi(const struct vpxi_hip_host *h, uint32_t *spi)
{
    int r;

    for (int tries = 0; tries < 64; tries++) {
        if ((r = vpxi_random(spi, sizeof(*spi))) != 0)
            return r;
        if (*spi >= HIP_SPI_MIN && !hip_spi_in_use(h, *spi))
            return 0;
    }
    return VPXI_ERR_INTERNAL;
}

void hip_set_state(struct hip_assoc *a, enum vpxi_hip_state s)
{
    a->state = s;
}

/* ---- output queue ------------------------------------------------------ */

size_t hip_out_space(const struct vpxi_hip_host *h)
{
    return h->q.len < h->cfg.queue_max ? h->cfg.queue_max - h->q.len : 0;
}

/* Doubles the ring, keeping the order (head moves to 0). */
static int out_grow(struct hip_out_q *q)
{
    size_t cap = q->cap * 2;
    struct vpxi_hip_output *v = vpxi_calloc(cap, sizeof(*v));

    if (!v)
        return VPXI_ERR_NOMEM;
    for (size_t i = 0; i < q->len; i++)
        v[i] = q->v[(q->head + i) % q->cap];
    vpxi_freezero(q->v, q->cap * sizeof(*q->v));
    q->v = v;
    q->cap = cap;
    q->head = 0;
    return 0;
}

struct vpxi_hip_output *hip_out_push(struct vpxi_hip_host *h, bool event)
{
    struct vpxi_hip_output *o;

    /* packets are capped (they are retransmitted or asked for again);
     * events are never dropped while memory lasts: the daemon's SAs follow them */
    if ((!event && h->q.len >= h->cfg.queue_max) ||
        (h->q.len == h->q.cap && out_grow(&h->q) != 0)) {
        h->stats.drops[VPXI_HIP_DROP_LIMIT]++;
        return NULL;
    }
    o = &h->q.v[(h->q.head + h->q.len++) % h->q.cap];
    memset(o, 0, offsetof(struct vpxi_hip_output, pkt));
    memset(&o->ev, 0, sizeof(o->ev));
    return o;
}

int vpxi_hip_poll(struct vpxi_hip_host *h, struct vpxi_hip_output *out)
{
    struct vpxi_hip_output *o;

    if (h->q.len == 0)
        return VPXI_ERR_NOT_FOUND;
    o = &h->q.v[h->q.head];
    memcpy(out, o, offsetof(struct vpxi_hip_output, pkt));
    memcpy(out->pkt, o->pkt, o->kind == VPXI_HIP_OUT_PACKET ? o->len : 0);
    out->ev = o->ev;
    o->ev.peer_key = NULL; /* the reference moved to out */
    vpxi_wipe(&o->ev, sizeof(o->ev));
    h->q.head = (h->q.head + 1) % h->q.cap;
    h->q.len--;
    return 0;
}

void vpxi_hip_output_clear(struct vpxi_hip_output *out)
{
    vpxi_key_put(out->ev.peer_key);
    out->ev.peer_key = NULL;
    vpxi_wipe(&out->ev, sizeof(out->ev));
}

int hip_send(struct vpxi_hip_host *h, const uint8_t *pkt, size_t len,
             const struct sockaddr_storage *dst, const struct sockaddr_storage *src)
{
    struct vpxi_hip_output *o;

    if (len > VPXI_HIP_PACKET_MAX || len < VPXI_HIP_HDR_LEN)
        return VPXI_ERR_INTERNAL;
    if ((o = hip_out_push(h, false)) == NULL)
        return VPXI_ERR_LIMIT;
    o->kind = VPXI_HIP_OUT_PACKET;
    o->dst = *dst;
    if (src)
        o->src = *src;
    memcpy(o->pkt, pkt, len);
    o->len = len;
    if (h->cfg.checksum_pseudo)
        vpxi_put_be16(o->pkt + 4, hip_checksum(o->pkt, len, src, dst));
    else
        o->pkt[4] = o->pkt[5] = 0;
    h->stats.tx++;
    return 0;
}

struct vpxi_hip_event *hip_event(struct vpxi_hip_host *h, const struct hip_assoc *a,
                                 enum vpxi_hip_event_type type)
{
    struct vpxi_hip_output *o = hip_out_push(h, true);

    if (!o)
        return NULL;
    o->kind = VPXI_HIP_OUT_EVENT;
    o->ev.type = type;
    memcpy(o->ev.peer_hit, a->peer_hit, VPXI_HIT_LEN);
    o->ev.peer_addr = a->peer;
    o->ev.local_addr = a->local;
    o->ev.initiator = a->initiator;
    o->ev.valid = a->valid;
    o->ev.sa.suite = a->esp_suite;
    o->ev.sa.spi_in = a->spi_in;
    o->ev.sa.spi_out = a->spi_out;
    return &o->ev;
}

void hip_event_sa(struct vpxi_hip_event *ev, const struct hip_assoc *a, uint32_t spi_in,
                  uint32_t spi_out, const struct vpxi_esp_keys *in, const struct vpxi_esp_keys *out)
{
    ev->sa.suite = a->esp_suite;
    ev->sa.spi_in = spi_in;
    ev->sa.spi_out = spi_out;
    ev->sa.in = *in;
    ev->sa.out = *out;
}

/* ---- retransmission ----------------------------------------------------- */

void hip_rtx_arm(struct vpxi_hip_host *h, struct hip_assoc *a, const uint8_t *pkt, size_t len,
                 unsigned max, int64_t now)
{
    if (pkt != a->rtx.pkt)
        memcpy(a->rtx.pkt, pkt, len);
    a->rtx.len = len;
    a->rtx.tries = 1;
    a->rtx.max = max;
    a->rtx.rto = h->cfg.rto_initial_ms;
    a->rtx.next = now + a->rtx.rto;
    a->rtx.to_candidate = false;
}

void hip_rtx_stop(struct hip_assoc *a)
{
    a->rtx.next = INT64_MAX;
    a->rtx.tries = 0;
}

/* Retransmits, or gives up. Returns false if a was deleted. */
static bool rtx_fire(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    if (a->rtx.tries <= a->rtx.max) {
        const struct sockaddr_storage *to = a->rtx.to_candidate ? &a->loc_candidate : &a->peer;
        if (hip_send(h, a->rtx.pkt, a->rtx.len, to, &a->local) != 0)
            return true; /* queue full: stays due */
        a->rtx.tries++;
        a->rtx.rto = a->rtx.rto * h->cfg.rto_factor;
        if (a->rtx.rto > h->cfg.rto_max_ms)
            a->rtx.rto = h->cfg.rto_max_ms;
        a->rtx.next = now + a->rtx.rto;
        return true;
    }
    hip_rtx_stop(a);
    switch (a->state) {
    case VPXI_HS_I1_SENT:
    case VPXI_HS_I2_SENT: hip_fail(h, a, VPXI_HIP_R_TIMEOUT, VPXI_ERR_TIMEOUT, 0, now); return true;
    case VPXI_HS_R2_SENT:
    case VPXI_HS_ESTABLISHED: {
        struct vpxi_hip_event *ev;
        if (hip_update_gave_up(h, a, now))
            return true;
        /* UPDATE retries exhausted: the association is broken (RFC 7401 4.4.4) */
        ev = hip_event(h, a, VPXI_HIP_EV_CLOSED);
        if (ev)
            ev->reason = VPXI_HIP_R_TIMEOUT;
        if (hip_create_close(h, a, now) != 0) {
            hip_assoc_free(h, a);
            return false;
        }
        return true;
    }
    default: hip_assoc_free(h, a); return false;
    }
}

void hip_fail(struct vpxi_hip_host *h, struct hip_assoc *a, enum vpxi_hip_reason reason, int err,
              uint16_t notify, int64_t now)
{
    struct vpxi_hip_event *ev = hip_event(h, a, VPXI_HIP_EV_FAILED);

    if (ev) {
        ev->reason = reason;
        ev->err = err;
        ev->notify = notify;
    }
    hip_assoc_reset(a);
    hip_set_state(a, VPXI_HS_E_FAILED);
    a->state_timer = now + h->cfg.failed_ms;
    h->stats.bex_failed++;
}

void hip_peer_address(struct vpxi_hip_host *h, struct hip_assoc *a,
                      const struct sockaddr_storage *src, const struct sockaddr_storage *dst)
{
    struct vpxi_hip_event *ev;

    if (dst && hip_addr_valid(dst))
        a->local = *dst;
    if (!src || hip_addr_equal(&a->peer, src))
        return;
    a->peer = *src;
    if (a->announced && (ev = hip_event(h, a, VPXI_HIP_EV_PEER_ADDRESS)) != NULL)
        ev->peer_addr = *src;
}

/* ---- certificates ---------------------------------------------------------- */

/* Bytes of an I2 without certificates, in the worst case for our
 * configuration: largest DH value, SHA-384 puzzle and MAC, our HOST_ID
 * encrypted with AES (IV + up to a block of padding), our signature, the
 * largest echo responses. */
static size_t i2_overhead(const struct vpxi_hip_host *h)
{
    size_t dh = 0;

    for (size_t i = 0; i < h->cfg.n_dh_groups; i++)
        if (vpxi_dh_pub_len(h->cfg.dh_groups[i]) > dh)
            dh = vpxi_dh_pub_len(h->cfg.dh_groups[i]);
    return VPXI_HIP_HDR_LEN + hip_tlv_size(HIP_ESP_INFO_LEN) + hip_tlv_size(HIP_R1_COUNTER_LEN) +
           hip_tlv_size(HIP_PUZZLE_HDR + 2 * VPXI_HIP_RHASH_MAX) + hip_tlv_size(3 + dh) +
           hip_tlv_size(2) +
           hip_tlv_size(HIP_ENC_HDR + HIP_AES_IV_LEN + h->host_id_len + HIP_AES_BLOCK) +
           hip_tlv_size(VPXI_HIP_ECHO_MAX) + hip_tlv_size(2) + hip_tlv_size(4) +
           hip_tlv_size(VPXI_HIP_RHASH_MAX) + hip_tlv_size(HIP_SIG_HDR + h->sig_len) +
           HIP_UNSIGNED_ECHO_MAX * hip_tlv_size(VPXI_HIP_ECHO_MAX);
}

static void certs_free(struct vpxi_hip_host *h)
{
    for (size_t i = 0; i < h->ncerts; i++)
        vpxi_freezero(h->certs[i], h->cert_lens[i]);
    vpxi_free(h->certs);
    vpxi_free(h->cert_lens);
    h->certs = NULL;
    h->cert_lens = NULL;
    h->ncerts = 0;
}

int vpxi_hip_set_certs(struct vpxi_hip_host *h, const struct vpxi_iov *certs, size_t n)
{
    uint8_t **c = NULL;
    size_t *l = NULL, total = 0, i;
    int r = VPXI_ERR_NOMEM;

    if (n > VPXI_HIP_CERTS_MAX)
        return VPXI_ERR_TOO_LARGE;
    for (i = 0; i < n; i++) {
        if (certs[i].len == 0)
            return VPXI_ERR_INVALID;
        total += hip_tlv_size(HIP_CERT_HDR + certs[i].len);
    }
    if (total + i2_overhead(h) > VPXI_HIP_PACKET_MAX)
        return VPXI_ERR_TOO_LARGE;
    if (n && ((c = vpxi_calloc(n, sizeof(*c))) == NULL || (l = vpxi_calloc(n, sizeof(*l))) == NULL))
        goto out;
    for (i = 0; i < n; i++) {
        if ((c[i] = vpxi_memdup(certs[i].p, certs[i].len)) == NULL)
            goto out;
        l[i] = certs[i].len;
    }
    certs_free(h);
    h->certs = c;
    h->cert_lens = l;
    h->ncerts = n;
    c = NULL;
    l = NULL;
    r = 0;
out:
    if (c)
        for (i = 0; i < n; i++)
            vpxi_free(c[i]);
    vpxi_free(c);
    vpxi_free(l);
    return r;
}

void hip_put_certs(const struct vpxi_hip_host *h, struct vpxi_wr *w)
{
    for (size_t i = 0; i < h->ncerts; i++) {
        size_t off = hip_param_begin(w, VPXI_HIP_P_CERT);
        vpxi_wr_u8(w, 1);                  /* group */
        vpxi_wr_u8(w, (uint8_t)h->ncerts); /* count */
        vpxi_wr_u8(w, (uint8_t)(i + 1));   /* id */
        vpxi_wr_u8(w, VPXI_HIP_CERT_SPKI);
        vpxi_wr_bytes(w, h->certs[i], h->cert_lens[i]);
        hip_param_end(w, off);
    }
}

/* Default NOTIFY type for a refusal. */
static uint16_t refusal_notify(int r, size_t ncerts)
{
    if (ncerts == 0)
        return VPXI_HIP_N_CREDENTIALS_REQUIRED;
    switch (r) {
    case VPXI_ERR_BAD_SIG:
    case VPXI_ERR_BAD_FORMAT:
    case VPXI_ERR_TRUNCATED:
    case VPXI_ERR_EXPIRED:
    case VPXI_ERR_NOT_YET_VALID:
    case VPXI_ERR_UNKNOWN_KEY: return VPXI_HIP_N_INVALID_CERTIFICATE;
    default: return VPXI_HIP_N_BLOCKED_BY_POLICY;
    }
}

int hip_authorize(struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN],
                  struct vpxi_key *peer_key, const struct hip_msg *m, struct vpxi_validity *valid,
                  uint16_t *notify)
{
    struct vpxi_iov certs[VPXI_HIP_CERTS_MAX];
    const struct hip_param *p;
    size_t n = hip_msg_count(m, VPXI_HIP_P_CERT, &p), i;
    uint8_t group = 0;
    int r;

    *valid = (struct vpxi_validity){ 0, 0 };
    *notify = 0;
    /* one group, count = n, IDs 1..n in order, SPKI */
    for (i = 0; i < n; i++) {
        struct hip_cert c;
        if (hip_get_cert(&p[i], &c) != 0 || c.type != VPXI_HIP_CERT_SPKI || c.count != n ||
            c.id != i + 1 || (i > 0 && c.group != group) || c.len == 0) {
            *notify = VPXI_HIP_N_INVALID_CERTIFICATE;
            return VPXI_ERR_BAD_FORMAT;
        }
        group = c.group;
        certs[i] = (struct vpxi_iov){ c.data, c.len };
    }
    if (!h->cb.authorize) {
        *notify = VPXI_HIP_N_BLOCKED_BY_POLICY;
        return VPXI_ERR_NOT_AUTHORIZED;
    }
    r = h->cb.authorize(h->cb.ctx, hit, peer_key, certs, n, valid, notify);
    if (r == 0 && valid->not_after < valid->not_before)
        r = VPXI_ERR_VALIDITY_EMPTY;
    if (r != 0) {
        if (*notify == 0)
            *notify = refusal_notify(r, n);
        *valid = (struct vpxi_validity){ 0, 0 };
        return r;
    }
    return 0;
}

/* ---- host ------------------------------------------------------------------ */

int vpxi_hip_host_new(struct vpxi_key *key, const struct vpxi_hip_config *cfg,
                      const struct vpxi_hip_callbacks *cb, int64_t now, struct vpxi_hip_host **out)
{
    struct vpxi_hip_host *h = NULL;
    uint8_t hi[VPXI_HI_MAX];
    size_t hilen;
    struct vpxi_wr w;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    if (!key)
        vpxi_misuse("vpxi_hip_host_new: key");
    if (!vpxi_key_is_private(key))
        return VPXI_ERR_INVALID;
    if ((h = vpxi_calloc(1, sizeof(*h))) == NULL)
        return VPXI_ERR_NOMEM;
    if (cfg)
        h->cfg = *cfg;
    else
        vpxi_hip_config_default(&h->cfg);
    if (cb)
        h->cb = *cb;
    h->key = vpxi_key_get(key);
    h->drop_hint = -1;
    if ((r = config_check(&h->cfg)) != 0 ||
        (r = vpxi_hi_encode(key, hi, sizeof(hi), &hilen, &h->hi_alg)) != 0 ||
        (r = vpxi_hit_from_key(key, h->hit)) != 0)
        goto out;
    h->suite = vpxi_hit_suite(h->hit);
    h->sig_len = vpxi_key_sig_len(key);
    if (hip_rhash(h->suite) == VPXI_HASH_NONE || !hip_sig_scheme(h->hi_alg)) {
        r = VPXI_ERR_UNSUPPORTED;
        goto out;
    }
    vpxi_wr_init(&w, h->host_id, sizeof(h->host_id));
    hip_put_host_id(&w, h->hi_alg, hi, hilen);
    if ((r = w.err) != 0)
        goto out;
    h->host_id_len = w.len;
    r = VPXI_ERR_NOMEM;
    h->nbuckets = BUCKETS_MIN;
    h->q.cap = h->cfg.queue_max;
    if ((h->buckets = vpxi_calloc(h->nbuckets, sizeof(*h->buckets))) == NULL ||
        (h->q.v = vpxi_calloc(h->q.cap, sizeof(*h->q.v))) == NULL)
        goto out;
    if ((r = vpxi_random(&h->hash_key, sizeof(h->hash_key))) != 0)
        goto out;
    h->k_now = h->cfg.puzzle_k;
    h->rate_start = now;
    if ((r = hip_r1_rotate(h, now)) != 0)
        goto out;
    *out = h;
    h = NULL;
    r = 0;
out:
    vpxi_hip_host_free(h);
    return r;
}

void vpxi_hip_host_free(struct vpxi_hip_host *h)
{
    struct vpxi_hip_output o;

    if (!h)
        return;
    for (size_t i = 0; h->buckets && i < h->nbuckets; i++)
        while (h->buckets[i])
            hip_assoc_free(h, h->buckets[i]);
    if (h->q.v)
        while (vpxi_hip_poll(h, &o) == 0)
            vpxi_hip_output_clear(&o);
    vpxi_wipe(&o, sizeof(o));
    hip_r1_clear(&h->gen[0]);
    hip_r1_clear(&h->gen[1]);
    certs_free(h);
    vpxi_free(h->buckets);
    vpxi_freezero(h->q.v, h->q.cap * sizeof(*h->q.v));
    vpxi_key_put(h->key);
    vpxi_freezero(h, sizeof(*h));
}

const uint8_t *vpxi_hip_host_hit(const struct vpxi_hip_host *h)
{
    return h->hit;
}

const struct vpxi_hip_stats *vpxi_hip_host_stats(const struct vpxi_hip_host *h)
{
    return &h->stats;
}

/* ---- input ----------------------------------------------------------------- */

static int dispatch(struct vpxi_hip_host *h, const struct hip_msg *m,
                    const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                    int64_t now)
{
    switch (m->type) {
    case VPXI_HIP_I1: return hip_consume_i1(h, m, src, dst, now);
    case VPXI_HIP_R1: return hip_consume_r1(h, m, src, dst, now);
    case VPXI_HIP_I2: return hip_consume_i2(h, m, src, dst, now);
    case VPXI_HIP_R2: return hip_consume_r2(h, m, src, dst, now);
    case VPXI_HIP_UPDATE: return hip_consume_update(h, m, src, dst, now);
    case VPXI_HIP_NOTIFY: return hip_consume_notify(h, m, src, dst, now);
    case VPXI_HIP_CLOSE: return hip_consume_close(h, m, src, dst, now);
    case VPXI_HIP_CLOSE_ACK: return hip_consume_close_ack(h, m, src, dst, now);
    default: return VPXI_ERR_UNSUPPORTED;
    }
}

int vpxi_hip_input(struct vpxi_hip_host *h, const struct sockaddr_storage *src,
                   const struct sockaddr_storage *dst, const uint8_t *pkt, size_t len, int64_t now)
{
    static const uint8_t null_hit[VPXI_HIT_LEN];
    struct hip_msg m;
    int r;

    h->stats.rx++;
    h->drop_hint = -1;
    if (!hip_addr_valid(src)) {
        r = hip_drop(h, VPXI_HIP_DROP_MALFORMED, VPXI_ERR_INVALID);
        goto out;
    }
    if (len > VPXI_HIP_PACKET_MAX) {
        r = hip_drop(h, VPXI_HIP_DROP_MALFORMED, VPXI_ERR_TOO_LARGE);
        goto out;
    }
    if ((r = hip_msg_parse(&m, pkt, len)) != 0) {
        hip_drop(h, m.drop, r);
        if (r == VPXI_ERR_UNKNOWN_CRITICAL)
            hip_unknown_critical(h, &m, src, dst, now);
        goto out;
    }
    if (h->cfg.checksum_pseudo && m.csum != hip_checksum(pkt, len, src, dst)) {
        r = VPXI_ERR_BAD_CHECKSUM;
        goto out;
    }
    if (memcmp(m.rhit, h->hit, VPXI_HIT_LEN) != 0 &&
        !(m.type == VPXI_HIP_I1 && h->cfg.allow_opportunistic &&
          memcmp(m.rhit, null_hit, VPXI_HIT_LEN) == 0)) {
        r = hip_drop(h, VPXI_HIP_DROP_NOT_FOR_US, VPXI_ERR_NOT_FOUND);
        goto out;
    }
    if (!vpxi_hit_is_orchid(m.shit) || memcmp(m.shit, h->hit, VPXI_HIT_LEN) == 0) {
        r = hip_drop(h, VPXI_HIP_DROP_BAD_HIT, VPXI_ERR_HASH_MISMATCH);
        goto out;
    }
    r = dispatch(h, &m, src, dst, now);
out:
    if (r != 0)
        h->stats.drops[h->drop_hint >= 0 ? h->drop_hint : drop_of_err(r)]++;
    return r;
}

/* ---- timers ----------------------------------------------------------------- */

/* Runs the timers of one association; false if it was deleted. */
static bool assoc_timer(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    if (a->rtx.next <= now && hip_out_space(h) > 1 && !rtx_fire(h, a, now))
        return false;
    if (a->state_timer <= now) {
        a->state_timer = INT64_MAX;
        switch (a->state) {
        case VPXI_HS_R2_SENT: hip_established(h, a, now); break;
        case VPXI_HS_CLOSED:
        case VPXI_HS_E_FAILED: hip_assoc_free(h, a); return false;
        default: break;
        }
    }
    if (a->retire_at <= now && hip_out_space(h) > 0)
        hip_update_timer(h, a, now);
    return true;
}

void vpxi_hip_timer(struct vpxi_hip_host *h, int64_t now)
{
    for (size_t i = 0; i < h->nbuckets; i++) {
        struct hip_assoc *a = h->buckets[i], *next;
        for (; a; a = next) {
            next = a->next;
            (void)assoc_timer(h, a, now);
        }
    }
    hip_r1_timer(h, now);
}

int64_t vpxi_hip_next_timeout(const struct vpxi_hip_host *h)
{
    int64_t t = hip_r1_next_timeout(h);

    for (size_t i = 0; i < h->nbuckets; i++)
        for (const struct hip_assoc *a = h->buckets[i]; a; a = a->next) {
            if (a->rtx.next < t)
                t = a->rtx.next;
            if (a->state_timer < t)
                t = a->state_timer;
            if (a->retire_at < t)
                t = a->retire_at;
        }
    return t;
}

/* ---- local requests ----------------------------------------------------------- */

static bool peer_hit_ok(const struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN])
{
    return vpxi_hit_is_orchid(hit) && hip_rhash(vpxi_hit_suite(hit)) != VPXI_HASH_NONE &&
           memcmp(hit, h->hit, VPXI_HIT_LEN) != 0;
}

int vpxi_hip_connect(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                     const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                     int64_t now)
{
    struct hip_assoc *a;
    int r;

    if (!peer_hit || !peer)
        vpxi_misuse("vpxi_hip_connect: NULL");
    if (!peer_hit_ok(h, peer_hit) || !hip_addr_valid(peer))
        return VPXI_ERR_INVALID;
    if ((a = hip_assoc_find(h, peer_hit)) != NULL) {
        switch (a->state) {
        case VPXI_HS_CLOSING:
        case VPXI_HS_CLOSED:
        case VPXI_HS_E_FAILED:
        case VPXI_HS_UNASSOCIATED: hip_assoc_reset(a); break;
        default: return VPXI_ERR_EXISTS;
        }
    } else if ((r = hip_assoc_new(h, peer_hit, &a)) != 0) {
        return r;
    }
    a->peer = *peer;
    memset(&a->local, 0, sizeof(a->local));
    if (local && hip_addr_valid(local))
        a->local = *local;
    a->initiator = true;
    if ((r = hip_create_i1(h, a, now)) != 0) {
        hip_assoc_free(h, a);
        return r;
    }
    h->stats.bex_initiated++;
    return 0;
}

int vpxi_hip_close(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN], int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, peer_hit);
    struct vpxi_hip_event *ev;
    int r;

    if (!a)
        return VPXI_ERR_NOT_FOUND;
    switch (a->state) {
    case VPXI_HS_I2_SENT:
    case VPXI_HS_R2_SENT:
    case VPXI_HS_ESTABLISHED:
        if ((ev = hip_event(h, a, VPXI_HIP_EV_CLOSED)) != NULL)
            ev->reason = VPXI_HIP_R_LOCAL;
        h->stats.closes++;
        if ((r = hip_create_close(h, a, now)) != 0)
            hip_assoc_free(h, a);
        return 0;
    case VPXI_HS_CLOSING: return 0;
    case VPXI_HS_I1_SENT:
        if ((ev = hip_event(h, a, VPXI_HIP_EV_CLOSED)) != NULL)
            ev->reason = VPXI_HIP_R_LOCAL;
        hip_assoc_free(h, a);
        return 0;
    default: hip_assoc_free(h, a); return 0;
    }
}

static bool updatable(const struct hip_assoc *a)
{
    return a->state == VPXI_HS_ESTABLISHED || a->state == VPXI_HS_R2_SENT;
}

/* Sends the pending UPDATE now if we may: in R2-SENT the Initiator may not
 * have our R2 yet, so requests wait for ESTABLISHED (hip_established). */
static int request_update(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now)
{
    if (a->state != VPXI_HS_ESTABLISHED || a->upd_out)
        return 0;
    return hip_update_send(h, a, now);
}

int vpxi_hip_rekey(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN], bool with_dh,
                   int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, peer_hit);

    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (!updatable(a))
        return VPXI_ERR_BAD_STATE;
    if (a->rk.active || a->pend_rekey)
        return 0; /* one rekey at a time; this one is under way */
    a->pend_rekey = true;
    a->pend_rekey_dh = with_dh;
    return request_update(h, a, now);
}

int vpxi_hip_renew_certs(struct vpxi_hip_host *h, const uint8_t *peer_hit, int64_t now)
{
    struct hip_assoc *a;
    int r = 0, r2;

    if (h->ncerts == 0)
        return VPXI_ERR_NO_CHAIN;
    if (peer_hit) {
        if ((a = hip_assoc_find(h, peer_hit)) == NULL)
            return VPXI_ERR_NOT_FOUND;
        if (!updatable(a))
            return VPXI_ERR_BAD_STATE;
        a->pend_certs = true;
        return request_update(h, a, now);
    }
    for (size_t i = 0; i < h->nbuckets; i++)
        for (a = h->buckets[i]; a; a = a->next)
            if (updatable(a)) {
                a->pend_certs = true;
                if ((r2 = request_update(h, a, now)) != 0)
                    r = r2;
            }
    return r;
}

int vpxi_hip_set_locators(struct vpxi_hip_host *h, const struct sockaddr_storage *locs, size_t n,
                          int64_t now)
{
    struct hip_assoc *a;
    int r = 0, r2;

    if (n == 0 || n > VPXI_HIP_LOCATORS_MAX)
        return VPXI_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!hip_addr_valid(&locs[i]))
            return VPXI_ERR_INVALID;
    memcpy(h->locs, locs, n * sizeof(*locs));
    h->nlocs = n;
    for (size_t i = 0; i < h->nbuckets; i++)
        for (a = h->buckets[i]; a; a = a->next)
            if (updatable(a)) {
                a->pend_locators = true;
                if ((r2 = request_update(h, a, now)) != 0)
                    r = r2;
            }
    return r;
}

int vpxi_hip_esp_seen(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                      uint32_t spi_in, const struct sockaddr_storage *src, int64_t now)
{
    struct hip_assoc *a = hip_assoc_find(h, peer_hit);

    if (!a)
        return VPXI_ERR_NOT_FOUND;
    if (!updatable(a))
        return VPXI_ERR_BAD_STATE;
    if (a->state == VPXI_HS_R2_SENT)
        hip_established(h, a, now);
    if (src && hip_addr_valid(src))
        hip_peer_address(h, a, src, NULL);
    hip_update_esp_seen(h, a, spi_in, now);
    return 0;
}

int vpxi_hip_peer_info(const struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                       struct vpxi_hip_peer_info *out)
{
    const struct hip_assoc *a = hip_assoc_find(h, peer_hit);

    memset(out, 0, sizeof(*out));
    if (!a)
        return VPXI_ERR_NOT_FOUND;
    out->state = a->state;
    out->initiator = a->initiator;
    out->peer_addr = a->peer;
    out->local_addr = a->local;
    out->esp_suite = a->esp_suite;
    out->dh_group = a->dh_group;
    out->hip_cipher = a->hip_cipher;
    out->spi_in = a->spi_in;
    out->spi_out = a->spi_out;
    out->valid = a->valid;
    out->update_id = a->upd_next;
    return 0;
}
