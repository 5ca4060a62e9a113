/*
 * datapath.c - the two datapath threads of an overlay.
 *
 *   tx: read(TUN q0) -> offload_split -> route by inner destination ->
 *       vpxi_esp_seal into a contiguous run -> one sendmsg(UDP_SEGMENT) per run
 *   rx: recvmsg(UDP_GRO) -> demux HIP (zero marker) / ESP (SPI) ->
 *       vpxi_esp_open -> source check -> offload_gro_add -> write(TUN q1)
 *
 * A batch is up to TX_READS_MAX TUN reads or RX_RECVS_MAX UDP receives,
 * taken while data is ready (non-blocking), so small packets also share
 * system calls. Each thread holds ov->lock for reading around one batch.
 * Nothing is allocated per packet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vpxi/alloc.h"

#include "../log.h"
#include "node.h"
#include "offload.h"

enum {
    TX_READS_MAX = 16,           /* TUN reads per batch */
    SEG_MAX = 1366,              /* segments of one TUN frame: 65535 / 48 (the
                                    smallest MSS Linux sends) rounded up */
    SEG_STRIDE = 2048,           /* bytes per segment slot (MTU <= 1920) */
    RUN_BYTES = UDP_BATCH_BYTES, /* one GSO send */
    RX_RECVS_MAX = 16,           /* UDP receives per batch */
    RX_BUF = 65536 + 64,
    HIP_MARKER = 4,
};

/* ---- tx ------------------------------------------------------------------------- */

struct tx_ctx {
    struct overlay *ov;
    uint8_t *frame; /* TUN read buffer */
    uint8_t *segs;  /* SEG_MAX * SEG_STRIDE */
    size_t lens[SEG_MAX];
    uint8_t *run; /* sealed datagrams waiting for one sendmsg */
    size_t run_len, run_seg, run_n;
    struct peer *run_peer;
};

static void tx_flush(struct tx_ctx *t)
{
    struct overlay *ov = t->ov;
    int r;

    if (!t->run_n)
        return;
    r = udp_send(&ov->udp, &t->run_peer->addr, t->run, t->run_len, t->run_seg);
    ctr_add(&ov->dp.udp_sends, 1);
    if (r < 0) {
        ctr_add(&ov->dp.tx_send_err, t->run_n);
        log_unauth("send to %s: %s", t->run_peer->name, strerror(-r));
    } else {
        ctr_add(&ov->dp.udp_send_pkts, t->run_n);
    }
    t->run_len = t->run_n = t->run_seg = 0;
    t->run_peer = NULL;
}

/* The peer an inner IP packet goes to, or NULL. */
static struct peer *route(struct overlay *ov, const uint8_t *pkt, size_t len)
{
    if (len >= 20 && (pkt[0] >> 4) == 4) {
        uint32_t dst;
        memcpy(&dst, pkt + 16, 4);
        return peer_by_ipv4(ov, dst);
    }
    if (len >= 40 && (pkt[0] >> 4) == 6)
        return peer_by_hit(ov, pkt + 24);
    return NULL;
}

static void ask_connect(struct overlay *ov, struct peer *p)
{
    int64_t now = now_ms(), last = atomic_load(&p->connect_asked_ms);

    if (now - last < 500)
        return;
    atomic_store(&p->connect_asked_ms, now);
    msgq_push(&ov->q, MSG_CONNECT, p->hit, 0, NULL, NULL, 0);
}

/* Holds a packet for a peer whose association is forming; false if full. */
static bool pend_push(struct peer *p, const uint8_t *pkt, size_t len)
{
    bool ok = false;

    if (len > NODE_PENDING_LEN)
        return false;
    pthread_mutex_lock(&p->pend_lock);
    if (!p->pend)
        p->pend = vpxi_malloc(NODE_PENDING_MAX * NODE_PENDING_LEN); /* once per peer */
    if (p->pend && p->pend_n < NODE_PENDING_MAX) {
        memcpy(p->pend + p->pend_n * NODE_PENDING_LEN, pkt, len);
        p->pend_len[p->pend_n++] = (uint16_t)len;
        ok = true;
    }
    pthread_mutex_unlock(&p->pend_lock);
    return ok;
}

void datapath_drop_pending(struct peer *p)
{
    pthread_mutex_lock(&p->pend_lock);
    ctr_add(&p->st.tx_no_sa, p->pend_n);
    p->pend_n = 0;
    pthread_mutex_unlock(&p->pend_lock);
}

void datapath_flush_pending(struct overlay *ov, struct peer *p)
{
    uint8_t out[NODE_PENDING_LEN + VPXI_ESP_OVERHEAD_MAX];
    struct sa_out *sa;
    size_t n;

    pthread_mutex_lock(&p->pend_lock);
    pthread_rwlock_rdlock(&ov->lock);
    if ((sa = p->out) != NULL) {
        for (unsigned i = 0; i < p->pend_n; i++) {
            const uint8_t *pkt = p->pend + i * NODE_PENDING_LEN;
            int r;
            pthread_mutex_lock(&sa->lock);
            r = vpxi_esp_seal(sa->esp, (pkt[0] >> 4) == 4 ? VPXI_ESP_NH_IPV4 : VPXI_ESP_NH_IPV6,
                              pkt, p->pend_len[i], out, sizeof(out), &n);
            pthread_mutex_unlock(&sa->lock);
            if (r || udp_send(&ov->udp, &p->addr, out, n, n) != 0) {
                ctr_add(&p->st.tx_seal_err, 1);
                continue;
            }
            ctr_add(&p->st.tx_packets, 1);
            ctr_add(&p->st.tx_bytes, p->pend_len[i]);
        }
        p->pend_n = 0;
    }
    pthread_rwlock_unlock(&ov->lock);
    pthread_mutex_unlock(&p->pend_lock);
}

static void tx_one(struct tx_ctx *t, const uint8_t *pkt, size_t len)
{
    struct overlay *ov = t->ov;
    struct peer *p = route(ov, pkt, len);
    struct sa_out *sa;
    size_t need, out;
    int r;

    if (!p) {
        ctr_add(&ov->dp.tx_no_route, 1);
        return;
    }
    if ((sa = p->out) == NULL) {
        if (pend_push(p, pkt, len))
            ctr_add(&p->st.tx_queued, 1);
        else
            ctr_add(&p->st.tx_no_sa, 1);
        ask_connect(ov, p);
        return;
    }
    need = len + vpxi_esp_overhead(sa->suite, len);
    /* a run is one peer and one datagram size (the last may be smaller) */
    if (t->run_n && (p != t->run_peer || need > t->run_seg || t->run_len % t->run_seg != 0 ||
                     t->run_len + need > RUN_BYTES || t->run_n == UDP_GSO_MAX))
        tx_flush(t);
    pthread_mutex_lock(&sa->lock);
    r = vpxi_esp_seal(sa->esp, (pkt[0] >> 4) == 4 ? VPXI_ESP_NH_IPV4 : VPXI_ESP_NH_IPV6, pkt, len,
                      t->run + t->run_len, RUN_BYTES - t->run_len, &out);
    pthread_mutex_unlock(&sa->lock);
    if (r) {
        ctr_add(&p->st.tx_seal_err, 1);
        msgq_push(&ov->q, MSG_REKEY, p->hit, sa->spi, NULL, NULL, 0);
        return;
    }
    if (!t->run_n) {
        t->run_peer = p;
        t->run_seg = out;
    }
    t->run_len += out;
    t->run_n++;
    ctr_add(&p->st.tx_packets, 1);
    ctr_add(&p->st.tx_bytes, len);
    if (vpxi_esp_out_soft_expired(sa->esp) && !atomic_exchange(&sa->rekey_asked, true))
        msgq_push(&ov->q, MSG_REKEY, p->hit, sa->spi, NULL, NULL, 0);
}

static void tx_frame(struct tx_ctx *t, size_t n)
{
    struct overlay *ov = t->ov;
    struct offload_out o = { t->segs, SEG_STRIDE, 0, SEG_MAX, t->lens, 0 };
    struct virtio_net_hdr vh;

    if (n < TUN_VNET_HDR_LEN) {
        ctr_add(&ov->dp.tx_bad_frame, 1);
        return;
    }
    memcpy(&vh, t->frame, sizeof(vh));
    if (offload_split(&vh, t->frame + TUN_VNET_HDR_LEN, n - TUN_VNET_HDR_LEN, &o) != 0) {
        ctr_add(&ov->dp.tx_bad_frame, 1);
        return;
    }
    ctr_add(&ov->dp.tun_read_pkts, o.n);
    for (size_t i = 0; i < o.n; i++)
        tx_one(t, t->segs + i * SEG_STRIDE, t->lens[i]);
}

static int tx_ctx_init(struct tx_ctx *t, struct overlay *ov)
{
    memset(t, 0, sizeof(*t));
    t->ov = ov;
    t->frame = vpxi_malloc(TUN_READ_MAX);
    t->segs = vpxi_malloc(SEG_MAX * SEG_STRIDE);
    t->run = vpxi_malloc(RUN_BYTES + VPXI_ESP_OVERHEAD_MAX);
    return t->frame && t->segs && t->run ? 0 : -1;
}

static void tx_ctx_clear(struct tx_ctx *t)
{
    vpxi_free(t->frame);
    vpxi_free(t->segs);
    vpxi_free(t->run);
}

/* Reads what the TUN queues hold, up to max frames each, without blocking;
 * seals and sends it. Caller holds ov->lock for reading. True if any. */
static bool tx_drain(struct tx_ctx *t, int max)
{
    struct overlay *ov = t->ov;
    bool got = false;

    for (unsigned q = 0; q < ov->tun.nqueues; q++) {
        for (int i = 0; i < max; i++) {
            ssize_t n = read(ov->tun.fd[q], t->frame, TUN_READ_MAX);
            if (n < 0)
                break;
            got = true;
            ctr_add(&ov->dp.tun_reads, 1);
            tx_frame(t, (size_t)n);
        }
    }
    tx_flush(t);
    return got;
}

static void *tx_main(void *arg)
{
    struct tx_ctx t;
    struct overlay *ov = arg;
    struct pollfd pf[TUN_QUEUES_MAX + 1];
    unsigned nq = ov->tun.nqueues;

    /* the kernel spreads flows over every queue: serve them all */
    for (unsigned q = 0; q < nq; q++)
        pf[q] = (struct pollfd){ ov->tun.fd[q], POLLIN, 0 };
    pf[nq] = (struct pollfd){ ov->stop_fd, POLLIN, 0 };

    if (tx_ctx_init(&t, ov) != 0) {
        log_err("%s: tx thread: out of memory", ov->name);
        goto out;
    }
    for (;;) {
        if (poll(pf, nq + 1, -1) < 0 && errno != EINTR)
            break;
        if (pf[nq].revents)
            break;
        pthread_rwlock_rdlock(&ov->lock);
        tx_drain(&t, TX_READS_MAX);
        pthread_rwlock_unlock(&ov->lock);
    }
out:
    tx_ctx_clear(&t);
    return NULL;
}

/* ---- rx ------------------------------------------------------------------------- */

struct rx_ctx {
    struct overlay *ov;
    uint8_t *buf;
    struct offload_gro gro;
    struct tx_ctx reply; /* sends what our TUN writes produced at once */
};

static void rx_emit(void *ctx, const uint8_t *frame, size_t len)
{
    struct rx_ctx *x = ctx;
    struct overlay *ov = x->ov;
    struct virtio_net_hdr vh; /* frames need not be aligned: copy the header */
    ssize_t n;

    memcpy(&vh, frame, sizeof(vh));
    do {
        n = write(ov->tun.fd[ov->tun.nqueues > 1 ? 1 : 0], frame, len);
    } while (n < 0 && errno == EINTR);
    ctr_add(&ov->dp.tun_writes, 1);
    if (n < 0) {
        ctr_add(&ov->dp.rx_tun_err, 1);
        log_unauth("%s: TUN write: %s", ov->name, strerror(errno));
        return;
    }
    if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE && vh.gso_size)
        ctr_add(&ov->dp.tun_write_pkts,
                (len - OFFLOAD_VNET_HDR_LEN - vh.hdr_len + vh.gso_size - 1) / vh.gso_size);
    else
        ctr_add(&ov->dp.tun_write_pkts, 1);
}

static bool same_addr(const struct cfg_addr *a, const struct sockaddr_storage *b)
{
    if (a->ss.ss_family != b->ss_family)
        return false;
    if (b->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* The inner packet must come from the peer's addresses and go to ours. */
static bool inner_ok(struct overlay *ov, struct peer *p, const uint8_t *pkt, size_t len, uint8_t nh)
{
    if (nh == VPXI_ESP_NH_IPV4 && len >= 20 && (pkt[0] >> 4) == 4) {
        if (!p->ipv4.s_addr || memcmp(pkt + 12, &p->ipv4.s_addr, 4)) {
            ctr_add(&p->st.rx_spoofed, 1);
            return false;
        }
        if (memcmp(pkt + 16, &ov->ipv4.s_addr, 4)) {
            ctr_add(&p->st.rx_not_ours, 1);
            return false;
        }
        return true;
    }
    if (nh == VPXI_ESP_NH_IPV6 && len >= 40 && (pkt[0] >> 4) == 6) {
        if (memcmp(pkt + 8, p->hit, 16)) {
            ctr_add(&p->st.rx_spoofed, 1);
            return false;
        }
        if (memcmp(pkt + 24, ov->hit, 16)) {
            ctr_add(&p->st.rx_not_ours, 1);
            return false;
        }
        return true;
    }
    ctr_add(&p->st.rx_spoofed, 1);
    return false;
}

static void rx_esp(struct rx_ctx *x, uint8_t *pkt, size_t len, const struct sockaddr_storage *src)
{
    struct overlay *ov = x->ov;
    struct sa_in *sa;
    uint8_t *inner, nh;
    size_t ilen;

    if (len < VPXI_ESP_HDR_LEN) {
        ctr_add(&ov->dp.rx_short, 1);
        return;
    }
    if ((sa = sa_by_spi(ov, vpxi_esp_peek_spi(pkt))) == NULL) {
        ctr_add(&ov->dp.rx_unknown_spi, 1);
        return;
    }
    if (vpxi_esp_open(sa->esp, pkt, len, &inner, &ilen, &nh) != 0)
        return; /* counted in the SA's statistics */
    if (!atomic_load_explicit(&sa->seen, memory_order_relaxed) && !atomic_exchange(&sa->seen, true))
        msgq_push(&ov->q, MSG_ESP_SEEN, sa->peer->hit, sa->spi, src, NULL, 0);
    else if (!same_addr(&sa->peer->addr, src))
        msgq_push(&ov->q, MSG_ADDR, sa->peer->hit, sa->spi, src, NULL, 0);
    if (!inner_ok(ov, sa->peer, inner, ilen, nh))
        return;
    ctr_add(&sa->peer->st.rx_packets, 1);
    ctr_add(&sa->peer->st.rx_bytes, ilen);
    if (offload_gro_add(&x->gro, inner, ilen) == VPXI_ERR_LIMIT) {
        /* coalescer full: push what it holds; the retry then always succeeds */
        offload_gro_flush(&x->gro, rx_emit, x);
        if (offload_gro_add(&x->gro, inner, ilen) != 0)
            ctr_add(&ov->dp.rx_tun_err, 1);
    }
}

static void rx_datagram(struct rx_ctx *x, uint8_t *p, size_t len,
                        const struct sockaddr_storage *src)
{
    struct overlay *ov = x->ov;

    if (len >= HIP_MARKER && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0) {
        if (msgq_push(&ov->q, MSG_HIP, NULL, 0, src, p + HIP_MARKER, len - HIP_MARKER))
            ctr_add(&ov->dp.rx_hip_queued, 1);
        else
            ctr_add(&ov->dp.rx_hip_dropped, 1);
        return;
    }
    if (len == 1 && p[0] == 0xff) {
        ctr_add(&ov->dp.rx_keepalive, 1);
        return;
    }
    rx_esp(x, p, len, src);
}

static void *rx_main(void *arg)
{
    struct rx_ctx x = { .ov = arg };
    struct overlay *ov = x.ov;
    struct pollfd pf[2] = { { ov->udp.fd, POLLIN, 0 }, { ov->stop_fd, POLLIN, 0 } };
    struct offload_gro_cfg gc = offload_gro_cfg_default;

    x.buf = vpxi_malloc(RX_BUF);
    if (!x.buf || offload_gro_init(&x.gro, &gc) != 0 || tx_ctx_init(&x.reply, ov) != 0) {
        log_err("%s: rx thread: out of memory", ov->name);
        vpxi_free(x.buf);
        tx_ctx_clear(&x.reply);
        return NULL;
    }
    for (;;) {
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        pthread_rwlock_rdlock(&ov->lock);
        for (int i = 0; i < RX_RECVS_MAX; i++) {
            struct cfg_addr src;
            size_t seg;
            ssize_t n = udp_recv(&ov->udp, x.buf, RX_BUF, &seg, &src);
            if (n < 0)
                break;
            ctr_add(&ov->dp.udp_recvs, 1);
            if (n == 0) {
                ctr_add(&ov->dp.rx_short, 1); /* an empty datagram */
                continue;
            }
            for (size_t off = 0; off < (size_t)n; off += seg) {
                size_t l = (size_t)n - off < seg ? (size_t)n - off : seg;
                ctr_add(&ov->dp.udp_recv_pkts, 1);
                rx_datagram(&x, x.buf + off, l, &src.ss);
            }
        }
        offload_gro_flush(&x.gro, rx_emit, &x);
        /* The kernel usually answers inside our TUN write (an echo reply, a
         * TCP ACK): send it now instead of waking the tx thread for it. */
        tx_drain(&x.reply, 2);
        pthread_rwlock_unlock(&ov->lock);
    }
    offload_gro_clear(&x.gro);
    tx_ctx_clear(&x.reply);
    vpxi_free(x.buf);
    return NULL;
}

/* ---- start / stop -------------------------------------------------------------- */

int datapath_start(struct overlay *ov)
{
    if ((ov->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return -1;
    if (pthread_create(&ov->tx_thread, NULL, tx_main, ov) != 0)
        return -1;
    if (pthread_create(&ov->rx_thread, NULL, rx_main, ov) != 0) {
        uint64_t one = 1;
        (void)!write(ov->stop_fd, &one, sizeof(one));
        pthread_join(ov->tx_thread, NULL);
        return -1;
    }
    ov->threads = true;
    return 0;
}

void datapath_stop(struct overlay *ov)
{
    uint64_t one = 1;

    if (!ov->threads)
        return;
    (void)!write(ov->stop_fd, &one, sizeof(one));
    pthread_join(ov->tx_thread, NULL);
    pthread_join(ov->rx_thread, NULL);
    ov->threads = false;
    close(ov->stop_fd);
}
