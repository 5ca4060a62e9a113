/*
 * fuzz_offload.c - libFuzzer target for TUN segmentation and coalescing.
 *
 * The first byte picks the mode.
 *
 * Split: the next 10 bytes are the virtio_net_hdr, one byte shapes the
 * output slots, the rest is the packet. Whatever offload_split() accepts
 * must come out as well-formed packets: a plain copy without GSO; a copy
 * whose completed checksum verifies with NEEDS_CSUM; with GSO, IP packets
 * whose lengths and IPv4 header checksum are right, whose TCP/UDP checksum
 * verifies and whose payloads concatenate to the input's. The segments are
 * then coalesced, and re-splitting the frames must give them back byte for
 * byte.
 *
 * Coalesce: the rest is a stream of packets, each a control byte (fix the
 * checksums, or clone the previous packet's headers as the next segment), a
 * 16-bit length and the bytes. Re-splitting the frames must give back every
 * packet once, and the packets of each TCP flow (and all others) in their
 * order.
 *
 * Any violation aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpxid/node/offload.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PKTS_MAX = 512, RESPLIT_SLOTS = 64, RESPLIT_STRIDE = OFFLOAD_PKT_MAX + 64 };

static uint8_t seg_buf[RESPLIT_SLOTS * (size_t)RESPLIT_STRIDE];
static size_t seg_lens[RESPLIT_SLOTS];

/* Independent RFC 1071 sum: big-endian words, folded, not complemented. */
static uint16_t naive_sum(const uint8_t *p, size_t n, uint64_t acc)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

static uint16_t naive_l4_sum(const uint8_t *pkt, size_t l4, size_t len, uint8_t proto)
{
    uint64_t acc = naive_sum(pkt + l4, len - l4, 0);
    size_t l4len = len - l4;

    if ((pkt[0] >> 4) == 4)
        acc += naive_sum(pkt + 12, 8, 0);
    else
        acc += naive_sum(pkt + 8, 32, 0);
    acc += proto + (l4len >> 16) + (l4len & 0xffff);
    return naive_sum(NULL, 0, acc);
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* --- packet lists ------------------------------------------------------------ */

struct list {
    size_t n;
    uint8_t *p[PKTS_MAX * 2];
    size_t len[PKTS_MAX * 2];
};

static void list_add(struct list *l, const uint8_t *p, size_t len)
{
    check(l->n < PKTS_MAX * 2);
    l->p[l->n] = malloc(len ? len : 1);
    memcpy(l->p[l->n], p, len);
    l->len[l->n++] = len;
}

static void list_free(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->p[i]);
    l->n = 0;
}

/* Re-splits one emitted frame into l, as the kernel would segment it. */
static void resplit(void *ctx, const uint8_t *frame, size_t len)
{
    struct list *l = ctx;
    struct virtio_net_hdr vh;
    struct offload_out o = {
        .buf = seg_buf, .stride = RESPLIT_STRIDE, .slots = RESPLIT_SLOTS, .lens = seg_lens
    };
    static const uint8_t zero[OFFLOAD_VNET_HDR_LEN];

    check(len >= OFFLOAD_VNET_HDR_LEN);
    memcpy(&vh, frame, sizeof(vh));
    if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        check(memcmp(frame, zero, sizeof(zero)) == 0);
        list_add(l, frame + OFFLOAD_VNET_HDR_LEN, len - OFFLOAD_VNET_HDR_LEN);
        return;
    }
    check(vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && vh.csum_offset == 16);
    check(len - OFFLOAD_VNET_HDR_LEN <= OFFLOAD_IP_MAX);
    check(offload_split(&vh, frame + OFFLOAD_VNET_HDR_LEN, len - OFFLOAD_VNET_HDR_LEN, &o) == 0);
    check(o.n >= 2);
    for (size_t i = 0; i < o.n; i++)
        list_add(l, seg_buf + i * RESPLIT_STRIDE, o.lens[i]);
}

/* Coalesces in (flushing on LIMIT) and returns the re-split frames in out. */
static void coalesce(const struct offload_gro_cfg *cfg, const struct list *in, struct list *out)
{
    struct offload_gro g;

    check(offload_gro_init(&g, cfg) == 0);
    for (size_t i = 0; i < in->n; i++) {
        int r = offload_gro_add(&g, in->p[i], in->len[i]);

        if (r == VPXI_ERR_LIMIT) {
            offload_gro_flush(&g, resplit, out);
            r = offload_gro_add(&g, in->p[i], in->len[i]);
        }
        check(r == 0 || (r == VPXI_ERR_TRUNCATED && in->len[i] == 0) ||
              (r == VPXI_ERR_TOO_LARGE && in->len[i] > OFFLOAD_IP_MAX));
    }
    offload_gro_flush(&g, resplit, out);
    check(offload_gro_pending(&g) == 0);
    offload_gro_clear(&g);
}

/* --- split mode --------------------------------------------------------------- */

static void check_gso_segment(const uint8_t *in, size_t in_len, const uint8_t *o, size_t len,
                              size_t *payload_off)
{
    unsigned v = o[0] >> 4;
    size_t l4 = v == 4 ? 20 : 40;
    uint8_t proto = v == 4 ? o[9] : o[6];
    size_t hl = l4 + (proto == 6 ? (size_t)(o[l4 + 12] >> 4) * 4 : 8);

    check(v == (unsigned)(in[0] >> 4) && (proto == 6 || proto == 17));
    check(len > hl);
    if (v == 4) {
        check((o[0] & 0xf) == 5 && get16(o + 2) == len && naive_sum(o, 20, 0) == 0xffff);
        check(memcmp(o + 12, in + 12, 8) == 0);
    } else {
        check(get16(o + 4) + 40u == len && memcmp(o + 8, in + 8, 32) == 0);
    }
    if (proto == 17)
        check(get16(o + l4 + 4) == len - l4 && get16(o + l4 + 6) != 0);
    check(naive_l4_sum(o, l4, len, proto) == 0xffff);
    /* the payloads, in order, are the input's */
    check(*payload_off + (len - hl) <= in_len);
    check(memcmp(o + hl, in + *payload_off, len - hl) == 0);
    *payload_off += len - hl;
}

static void fuzz_split(const uint8_t *data, size_t size)
{
    static const size_t strides[] = { 64, 600, 1500, 9000, RESPLIT_STRIDE };
    struct virtio_net_hdr vh;
    struct offload_out o;
    struct list segs = { 0 }, back = { 0 };
    const uint8_t *pkt;
    size_t len, off = 0;
    uint8_t shape;
    int r;

    if (size < sizeof(vh) + 1)
        return;
    memcpy(&vh, data, sizeof(vh));
    shape = data[sizeof(vh)];
    pkt = data + sizeof(vh) + 1;
    len = size - sizeof(vh) - 1;
    o = (struct offload_out){ .buf = seg_buf,
                              .stride = strides[shape % 5],
                              .headroom = (shape >> 3) & 3 ? 16 : 0,
                              .slots = 1 + (shape >> 5) * 9,
                              .lens = seg_lens };
    r = offload_split(&vh, pkt, len, &o);
    if (r != 0) {
        check(r < 0 && r >= VPXI_ERR_MIN && o.n == 0);
        return;
    }
    check(o.n >= 1 && o.n <= o.slots);
    for (size_t i = 0; i < o.n; i++)
        check(o.lens[i] <= o.stride - o.headroom);
    const uint8_t *s0 = seg_buf + o.headroom;
    if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        check(o.n == 1 && o.lens[0] == len);
        if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
            size_t at = (size_t)vh.csum_start + vh.csum_offset;
            uint16_t before = get16(pkt + at);

            check(memcmp(s0, pkt, at) == 0 && memcmp(s0 + at + 2, pkt + at + 2, len - at - 2) == 0);
            /* the field held the pseudo-header sum; the result verifies with it */
            if (vh.csum_offset % 2 == 0)
                check(naive_sum(s0 + vh.csum_start, len - vh.csum_start, before) == 0xffff);
        } else {
            check(memcmp(s0, pkt, len) == 0);
        }
    } else {
        size_t l4 = (pkt[0] >> 4) == 4 ? 20 : 40;
        uint8_t proto = (pkt[0] >> 4) == 4 ? pkt[9] : pkt[6];

        off = l4 + (proto == 6 ? (size_t)(pkt[l4 + 12] >> 4) * 4 : 8);
        for (size_t i = 0; i < o.n; i++)
            check_gso_segment(pkt, len, seg_buf + i * o.stride + o.headroom, o.lens[i], &off);
        check(off == len);
    }
    /* coalescing the segments and re-splitting gives them back exactly */
    for (size_t i = 0; i < o.n && i < PKTS_MAX; i++)
        list_add(&segs, seg_buf + i * o.stride + o.headroom, o.lens[i]);
    coalesce(&offload_gro_cfg_default, &segs, &back);
    check(back.n == segs.n);
    for (size_t i = 0; i < segs.n; i++)
        check(back.len[i] == segs.len[i] && memcmp(back.p[i], segs.p[i], segs.len[i]) == 0);
    list_free(&segs);
    list_free(&back);
}

/* --- coalesce mode ----------------------------------------------------------- */

/* Transport header offset of a TCP packet we can name the flow of, or 0. */
static size_t tcp_l4(const uint8_t *p, size_t len)
{
    if (len >= 20 && (p[0] >> 4) == 4 && (p[0] & 0xf) >= 5 && p[9] == 6 &&
        !(get16(p + 6) & 0x1fff) && (size_t)(p[0] & 0xf) * 4 + 4 <= len)
        return (size_t)(p[0] & 0xf) * 4;
    if (len >= 44 && (p[0] >> 4) == 6 && p[6] == 6)
        return 40;
    return 0;
}

/* Same flow (TCP, same addresses and ports), or both not such TCP. */
static bool same_class(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t la = tcp_l4(a, alen), lb = tcp_l4(b, blen);

    if (!la || !lb)
        return !la && !lb;
    if ((a[0] >> 4) != (b[0] >> 4) || memcmp(a + la, b + lb, 4) != 0)
        return false;
    return (a[0] >> 4) == 4 ? memcmp(a + 12, b + 12, 8) == 0 : memcmp(a + 8, b + 8, 32) == 0;
}

/* Rewrites the IPv4 header and TCP checksums so that the packet may merge. */
static void fix_checksums(uint8_t *p, size_t len)
{
    size_t l4 = tcp_l4(p, len);

    if (!l4 || len < l4 + 20)
        return;
    if ((p[0] >> 4) == 4) {
        put16(p + 10, 0);
        put16(p + 10, (uint16_t)~naive_sum(p, l4, 0));
    }
    put16(p + l4 + 16, 0);
    put16(p + l4 + 16, (uint16_t)~naive_l4_sum(p, l4, len, 6));
}

/* Builds the segment after prev: same headers, seq and ID advanced, new payload. */
static size_t clone_next(const uint8_t *prev, size_t plen, const uint8_t *pay, size_t n, uint8_t *p)
{
    size_t l4 = tcp_l4(prev, plen), hl;

    if (!l4 || plen < l4 + 20)
        return 0;
    hl = l4 + (size_t)(prev[l4 + 12] >> 4) * 4;
    if (hl > plen || hl + n > OFFLOAD_IP_MAX)
        return 0;
    memcpy(p, prev, hl);
    memcpy(p + hl, pay, n);
    put32(p + l4 + 4, get32(prev + l4 + 4) + (uint32_t)(plen - hl));
    if ((p[0] >> 4) == 4) {
        put16(p + 2, (uint16_t)(hl + n));
        put16(p + 4, (uint16_t)(get16(prev + 4) + 1));
    } else {
        put16(p + 4, (uint16_t)(hl + n - 40));
    }
    fix_checksums(p, hl + n);
    return hl + n;
}

static void fuzz_coalesce(const uint8_t *data, size_t size)
{
    static uint8_t pkt[OFFLOAD_IP_MAX + 1];
    struct offload_gro_cfg cfg;
    struct list in = { 0 }, out = { 0 };
    size_t pos = 2;

    if (size < 2)
        return;
    cfg = (struct offload_gro_cfg){
        .max_segs = 1 + data[0] % 64,
        .max_flows = 1 + (data[1] & 3),
        .max_pkts = 1 + (data[1] >> 4),
        .verify_csum = !(data[0] & 0x80),
    };
    cfg.bufs = cfg.max_flows + 1 + ((data[1] >> 2) & 3);
    while (pos + 3 <= size && in.n < PKTS_MAX) {
        uint8_t ctrl = data[pos];
        size_t n = get16(data + pos + 1), len;

        pos += 3;
        if (n > size - pos)
            n = size - pos;
        if ((ctrl & 1) && in.n > 0 &&
            (len = clone_next(in.p[in.n - 1], in.len[in.n - 1], data + pos, n, pkt)) > 0) {
            if (ctrl & 2) {
                pkt[tcp_l4(pkt, len) + 13] |= 0x08; /* PSH */
                fix_checksums(pkt, len);
            }
        } else {
            len = n;
            memcpy(pkt, data + pos, n);
            /* without verification only right checksums give back equal bytes */
            if ((ctrl & 4) || !cfg.verify_csum)
                fix_checksums(pkt, len);
        }
        pos += n;
        if (len == 0 || len > OFFLOAD_IP_MAX)
            continue;
        list_add(&in, pkt, len);
    }
    coalesce(&cfg, &in, &out);
    /* every packet comes back once; within a class, in order */
    check(out.n == in.n);
    static bool used[PKTS_MAX];
    static size_t at[PKTS_MAX * 2];
    memset(used, 0, sizeof(used));
    for (size_t i = 0; i < out.n; i++) {
        size_t j;
        for (j = 0; j < in.n; j++)
            if (!used[j] && in.len[j] == out.len[i] && memcmp(in.p[j], out.p[i], in.len[j]) == 0)
                break;
        check(j < in.n);
        used[j] = true;
        at[i] = j;
    }
    for (size_t i = 0; i < out.n; i++)
        for (size_t k = i + 1; k < out.n; k++)
            if (at[k] < at[i])
                check(!same_class(in.p[at[i]], in.len[at[i]], in.p[at[k]], in.len[at[k]]));
    list_free(&in);
    list_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_split(data + 1, size - 1);
    else
        fuzz_coalesce(data + 1, size - 1);
    return 0;
}
