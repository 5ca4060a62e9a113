/*
 * test_offload.c - TUN segmentation and coalescing (src/vpxid/node/offload.c).
 *
 * Everything is checked against independent naive code written here: an
 * RFC 1071 checksum that adds 16-bit big-endian words one at a time over an
 * explicitly built pseudo-header, a splitter that rebuilds each segment field
 * by field, and a coalescing model that decides "may this packet be
 * appended?" by rebuilding the segment the super-packet would re-split into
 * and comparing bytes.
 */
#include <stdbool.h>
#include <stdint.h>

#include "t.h"
#include "vpxi/alloc.h"
#include "vpxid/node/offload.c"

/* --- deterministic randomness (xorshift64*) ------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static void rnd_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* --- naive RFC 1071 ------------------------------------------------------ */

/* Folded (not complemented) sum of big-endian 16-bit words, zero-padded. */
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

/* Pseudo-header bytes (RFC 768/9293 for IPv4, RFC 8200 8.1 for IPv6). */
static size_t naive_pseudo(const uint8_t *ip, uint8_t proto, uint32_t l4len, uint8_t *ph)
{
    if ((ip[0] >> 4) == 4) {
        memcpy(ph, ip + 12, 8);
        ph[8] = 0;
        ph[9] = proto;
        ph[10] = (uint8_t)(l4len >> 8);
        ph[11] = (uint8_t)l4len;
        return 12;
    }
    memcpy(ph, ip + 8, 32);
    ph[32] = (uint8_t)(l4len >> 24);
    ph[33] = (uint8_t)(l4len >> 16);
    ph[34] = (uint8_t)(l4len >> 8);
    ph[35] = (uint8_t)l4len;
    ph[36] = ph[37] = ph[38] = 0;
    ph[39] = proto;
    return 40;
}

/* Folded sum of pseudo-header + pkt[l4off..len), computed over one buffer. */
static uint16_t naive_l4_sum(const uint8_t *pkt, size_t l4off, size_t len, uint8_t proto)
{
    static uint8_t tmp[40 + 70000];
    size_t n = naive_pseudo(pkt, proto, (uint32_t)(len - l4off), tmp);

    memcpy(tmp + n, pkt + l4off, len - l4off);
    return naive_sum(tmp, n + len - l4off, 0);
}

static bool naive_ip4_ok(const uint8_t *pkt)
{
    return naive_sum(pkt, 20, 0) == 0xffff;
}

/* --- packet building ----------------------------------------------------- */

struct spec {
    int v;         /* 4 or 6 */
    uint8_t proto; /* 6 or 17 */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win, urg;
    uint8_t opt[40];
    size_t optlen; /* multiple of 4 */
    uint8_t tos, ttl;
    uint16_t id;
    bool df;
    uint32_t v6word; /* traffic class and flow label */
};

static void spec_default(struct spec *s, int v)
{
    memset(s, 0, sizeof(*s));
    s->v = v;
    s->proto = 6;
    if (v == 4) {
        memcpy(s->src, (uint8_t[]){ 100, 64, 0, 1 }, 4);
        memcpy(s->dst, (uint8_t[]){ 100, 64, 0, 2 }, 4);
    } else {
        memcpy(s->src, (uint8_t[]){ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 16);
        memcpy(s->dst, (uint8_t[]){ 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 }, 16);
    }
    s->sport = 40000;
    s->dport = 5201;
    s->seq = 0x10000000;
    s->ack = 0x20000000;
    s->flags = TCP_ACK;
    s->win = 512;
    s->ttl = 64;
    s->id = 0x1234;
    s->df = true;
    s->v6word = 0x60012345;
    /* NOP NOP timestamps, the option every Linux data segment carries */
    memcpy(s->opt, (uint8_t[]){ 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12);
    s->optlen = 12;
}

static size_t spec_l4off(const struct spec *s)
{
    return s->v == 4 ? 20 : 40;
}

static size_t spec_hlen(const struct spec *s)
{
    return spec_l4off(s) + (s->proto == 6 ? 20 + s->optlen : 8);
}

/* Builds a packet with correct lengths and checksums (naive ones). */
static size_t build(uint8_t *p, const struct spec *s, const uint8_t *payload, size_t plen)
{
    size_t l4 = spec_l4off(s), hl = spec_hlen(s), len = hl + plen;
    uint8_t *t = p + l4;

    memset(p, 0, hl);
    if (s->v == 4) {
        p[0] = 0x45;
        p[1] = s->tos;
        put16(p + 2, (uint16_t)len);
        put16(p + 4, s->id);
        put16(p + 6, s->df ? IPV4_DF : 0);
        p[8] = s->ttl;
        p[9] = s->proto;
        memcpy(p + 12, s->src, 4);
        memcpy(p + 16, s->dst, 4);
        put16(p + 10, (uint16_t)~naive_sum(p, 20, 0));
    } else {
        put32(p, s->v6word);
        put16(p + 4, (uint16_t)(len - 40));
        p[6] = s->proto;
        p[7] = s->ttl;
        memcpy(p + 8, s->src, 16);
        memcpy(p + 24, s->dst, 16);
    }
    put16(t, s->sport);
    put16(t + 2, s->dport);
    if (s->proto == 6) {
        put32(t + 4, s->seq);
        put32(t + 8, s->ack);
        t[12] = (uint8_t)((20 + s->optlen) / 4 << 4);
        t[13] = s->flags;
        put16(t + 14, s->win);
        put16(t + 18, s->urg);
        memcpy(t + 20, s->opt, s->optlen);
    } else {
        put16(t + 4, (uint16_t)(len - l4));
    }
    memcpy(p + hl, payload, plen);
    uint16_t c = (uint16_t)~naive_l4_sum(p, l4, len, s->proto);
    if (s->proto == 17 && c == 0)
        c = 0xffff;
    put16(t + (s->proto == 6 ? 16 : 6), c);
    return len;
}

/* A TUN frame header as the kernel writes it for a super-packet of spec s. */
static struct virtio_net_hdr gso_hdr(const struct spec *s, uint16_t gso_size)
{
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = s->proto == 17 ? VIRTIO_NET_HDR_GSO_UDP_L4
                    : s->v == 4    ? VIRTIO_NET_HDR_GSO_TCPV4
                                   : VIRTIO_NET_HDR_GSO_TCPV6,
        .hdr_len = (uint16_t)spec_hlen(s),
        .gso_size = gso_size,
        .csum_start = (uint16_t)spec_l4off(s),
        .csum_offset = s->proto == 6 ? 16 : 6,
    };
    return vh;
}

/* Puts the CHECKSUM_PARTIAL value (pseudo-header sum) in the L4 checksum field. */
static void set_partial(uint8_t *p, size_t len, const struct spec *s)
{
    size_t l4 = spec_l4off(s);
    uint8_t ph[40];
    size_t n = naive_pseudo(p, s->proto, (uint32_t)(len - l4), ph);

    put16(p + l4 + (s->proto == 6 ? 16 : 6), naive_sum(ph, n, 0));
}

/* --- naive splitter --------------------------------------------------------- */

/* Splits a valid GSO frame field by field; returns the segment count. */
static size_t naive_split(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                          uint8_t *out, size_t stride, size_t *lens)
{
    int v = pkt[0] >> 4;
    size_t l4 = v == 4 ? (size_t)(pkt[0] & 15) * 4 : 40;
    uint8_t proto = v == 4 ? pkt[9] : pkt[6];
    size_t hl = l4 + (proto == 6 ? (size_t)(pkt[l4 + 12] >> 4) * 4 : 8);
    size_t n = 0;

    for (size_t off = hl; off < len; off += vh->gso_size, n++) {
        size_t plen = len - off < vh->gso_size ? len - off : vh->gso_size;
        bool last = off + plen == len;
        uint8_t *o = out + n * stride;
        size_t sl = hl + plen;

        memcpy(o, pkt, hl);
        memcpy(o + hl, pkt + off, plen);
        if (v == 4) {
            o[2] = (uint8_t)(sl >> 8);
            o[3] = (uint8_t)sl;
            uint16_t id = (uint16_t)((pkt[4] << 8 | pkt[5]) + n);
            o[4] = (uint8_t)(id >> 8);
            o[5] = (uint8_t)id;
            o[10] = o[11] = 0;
            uint16_t c = (uint16_t)~naive_sum(o, l4, 0);
            o[10] = (uint8_t)(c >> 8);
            o[11] = (uint8_t)c;
        } else {
            o[4] = (uint8_t)((sl - 40) >> 8);
            o[5] = (uint8_t)(sl - 40);
        }
        uint8_t *t = o + l4;
        size_t cs;
        if (proto == 6) {
            uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
            seq += (uint32_t)(n * vh->gso_size);
            t[4] = (uint8_t)(seq >> 24);
            t[5] = (uint8_t)(seq >> 16);
            t[6] = (uint8_t)(seq >> 8);
            t[7] = (uint8_t)seq;
            if (!last)
                t[13] &= (uint8_t)~0x09; /* FIN, PSH */
            if (n > 0)
                t[13] &= (uint8_t)~0x80; /* CWR */
            cs = 16;
        } else {
            t[4] = (uint8_t)((sl - l4) >> 8);
            t[5] = (uint8_t)(sl - l4);
            cs = 6;
        }
        t[cs] = t[cs + 1] = 0;
        uint16_t c = (uint16_t)~naive_l4_sum(o, l4, sl, proto);
        if (proto == 17 && c == 0)
            c = 0xffff;
        t[cs] = (uint8_t)(c >> 8);
        t[cs + 1] = (uint8_t)c;
        lens[n] = sl;
    }
    return n;
}

/* --- helpers over the code under test ------------------------------------ */

enum { SLOTS = 1024, STRIDE = 2048, HEADROOM = 24 };

static uint8_t *slot_buf;
static size_t slot_lens[SLOTS];

static struct offload_out out_init(void)
{
    return (struct offload_out){
        .buf = slot_buf, .stride = STRIDE, .headroom = HEADROOM, .slots = SLOTS, .lens = slot_lens
    };
}

/* One slot as large as the whole buffer, for packets beyond a segment's size. */
static struct offload_out out_big(void)
{
    struct offload_out o = out_init();

    o.stride = (size_t)SLOTS * STRIDE;
    o.slots = 1;
    return o;
}

static uint8_t *seg(size_t i)
{
    return slot_buf + i * STRIDE + HEADROOM;
}

/* Split on an exact-size heap copy so that ASan sees any over-read. */
static int split_copy(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                      struct offload_out *o)
{
    uint8_t *c = malloc(len ? len : 1);
    int r;

    memcpy(c, pkt, len);
    r = offload_split(vh, c, len, o);
    free(c);
    return r;
}

/* Frames collected from offload_gro_flush. */
struct frames {
    size_t n;
    uint8_t *buf[8192];
    size_t len[8192];
};

static void collect(void *ctx, const uint8_t *frame, size_t len)
{
    struct frames *f = ctx;

    if (f->n >= 8192)
        abort();
    f->buf[f->n] = malloc(len);
    memcpy(f->buf[f->n], frame, len);
    f->len[f->n++] = len;
}

static void frames_free(struct frames *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->buf[i]);
    f->n = 0;
}

static struct virtio_net_hdr frame_hdr(const uint8_t *frame)
{
    struct virtio_net_hdr vh;

    memcpy(&vh, frame, sizeof(vh));
    return vh;
}

/* Adds a packet the way the datapath will: flush on LIMIT and retry once. */
static void gro_add_or_flush(struct offload_gro *g, const uint8_t *p, size_t len, struct frames *fr)
{
    uint8_t *c = malloc(len);
    int r;

    memcpy(c, p, len);
    r = offload_gro_add(g, c, len);
    if (r == VPXI_ERR_LIMIT) {
        offload_gro_flush(g, collect, fr);
        r = offload_gro_add(g, c, len);
    }
    CHECK_OK(r);
    free(c);
}

/* --- checksum tests -------------------------------------------------------- */

static void test_csum_vectors(void)
{
    /* RFC 1071 section 3: the sum of these words is ddf2 */
    static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
    /* a classic IPv4 header, checksum b861 */
    static const uint8_t ip[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                  0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    uint8_t h[20];

    CHECK_EQ(offload_csum_fold(offload_csum_partial(rfc, sizeof(rfc), 0)), (uint16_t)~0xddf2);
    CHECK_EQ(offload_csum_ipv4_hdr(ip, 20), 0);
    memcpy(h, ip, 20);
    h[10] = h[11] = 0;
    CHECK_EQ(offload_csum_ipv4_hdr(h, 20), 0xb861);
    CHECK_EQ(offload_csum_fold(offload_csum_partial(rfc, 0, 0)), 0xffff);
    /* an odd tail byte counts as the high byte of a word */
    CHECK_EQ(offload_csum_fold(offload_csum_partial((const uint8_t[]){ 0x12 }, 1, 0)),
             (uint16_t)~0x1200);
    /* all-ones data: the sum must stay "negative zero", not wrap to 0 */
    uint8_t ff[100];
    memset(ff, 0xff, sizeof(ff));
    CHECK_EQ(offload_csum_fold(offload_csum_partial(ff, sizeof(ff), 0)), 0);
}

static void test_csum_random(void)
{
    static uint8_t buf[70000 + 8];

    rnd_fill(buf, sizeof(buf));
    for (int k = 0; k < 20000; k++) {
        size_t off = rnd_below(8);
        size_t len = k < 300 ? (size_t)k : rnd_below(k % 10 == 0 ? 70000 : 2000);
        uint16_t want = (uint16_t)~naive_sum(buf + off, len, 0);

        if (k % 7 == 0) /* runs of 0xff stress the carries */
            memset(buf + off, 0xff, len / 2);
        want = (uint16_t)~naive_sum(buf + off, len, 0);
        CHECK_EQ(offload_csum_fold(offload_csum_partial(buf + off, len, 0)), want);
        /* combining even-length pieces gives the same sum */
        size_t cut = rnd_below(len + 1) & ~(size_t)1;
        uint32_t a = offload_csum_partial(buf + off, cut, 0);
        uint32_t b = offload_csum_partial(buf + off + cut, len - cut, 0);
        CHECK_EQ(offload_csum_fold(offload_csum_add(a, b)), want);
        CHECK_EQ(offload_csum_fold(offload_csum_partial(buf + off + cut, len - cut, a)), want);
        if (k % 7 == 0)
            rnd_fill(buf, len / 2 + 8);
    }
}

static void test_csum_pseudo(void)
{
    uint8_t pkt[128 + 1500], ph[40];

    for (int k = 0; k < 2000; k++) {
        struct spec s;
        uint8_t pay[1500];
        size_t plen = rnd_below(sizeof(pay)), len, n;

        spec_default(&s, k & 1 ? 6 : 4);
        rnd_fill(s.src, 16);
        rnd_fill(s.dst, 16);
        s.proto = k & 2 ? 17 : 6;
        rnd_fill(pay, plen);
        len = build(pkt, &s, pay, plen);
        /* pseudo-header alone */
        uint32_t l4len = (uint32_t)rnd();
        if (s.v == 4)
            l4len &= 0xffff;
        n = naive_pseudo(pkt, s.proto, l4len, ph);
        uint32_t p = s.v == 4 ? offload_csum_pseudo4(s.src, s.dst, s.proto, l4len)
                              : offload_csum_pseudo6(s.src, s.dst, s.proto, l4len);
        CHECK_EQ(offload_csum_fold(p), (uint16_t)~naive_sum(ph, n, 0));
        /* the whole packet verifies, and a flipped bit does not */
        CHECK_EQ(offload_csum_l4(pkt, spec_l4off(&s), len, s.proto), 0);
        pkt[spec_l4off(&s) + rnd_below(len - spec_l4off(&s))] ^= (uint8_t)(1u << rnd_below(8));
        CHECK(offload_csum_l4(pkt, spec_l4off(&s), len, s.proto) != 0);
    }
}

/* --- split: fields ------------------------------------------------------ */

/* Checks one split output segment field by field against the super-packet. */
static void check_segment(const struct spec *s, const uint8_t *super, size_t super_len, size_t gso,
                          size_t i, size_t nseg, const uint8_t *o, size_t olen)
{
    size_t l4 = spec_l4off(s), hl = spec_hlen(s), payload = super_len - hl;
    size_t plen = i + 1 < nseg ? gso : payload - i * gso;
    const uint8_t *t = o + l4;

    CHECK_EQ(olen, hl + plen);
    CHECK_MEM(o + hl, super + hl + i * gso, plen);
    if (s->v == 4) {
        CHECK_EQ(o[0], 0x45);
        CHECK_EQ(get16(o + 2), olen);
        CHECK_EQ(get16(o + 4), (uint16_t)(s->id + i));
        CHECK_EQ(get16(o + 6), s->df ? IPV4_DF : 0);
        CHECK_EQ(o[8], s->ttl);
        CHECK(naive_ip4_ok(o));
        CHECK_MEM(o + 12, super + 12, 8);
    } else {
        CHECK_EQ(get32(o), s->v6word);
        CHECK_EQ(get16(o + 4), olen - 40);
        CHECK_MEM(o + 6, super + 6, 34);
    }
    CHECK_EQ(get16(t), s->sport);
    CHECK_EQ(get16(t + 2), s->dport);
    if (s->proto == 6) {
        uint8_t want = s->flags;
        if (i + 1 < nseg)
            want &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        if (i > 0)
            want &= (uint8_t)~TCP_CWR;
        CHECK_EQ(get32(t + 4), (uint32_t)(s->seq + i * gso));
        CHECK_EQ(get32(t + 8), s->ack);
        CHECK_EQ(t[13], want);
        CHECK_EQ(get16(t + 14), s->win);
        CHECK_MEM(t + 20, s->opt, s->optlen);
    } else {
        CHECK_EQ(get16(t + 4), olen - l4);
        CHECK(get16(t + 6) != 0);
    }
    CHECK(naive_l4_sum(o, l4, olen, s->proto) == 0xffff);
}

static void split_and_check(const struct spec *s, size_t payload, uint16_t gso, bool partial)
{
    static uint8_t pkt[70000], pay[70000];
    struct offload_out o = out_init();
    struct virtio_net_hdr vh = gso_hdr(s, gso);
    size_t len, nseg = (payload + gso - 1) / gso;

    rnd_fill(pay, payload);
    len = build(pkt, s, pay, payload);
    if (partial)
        set_partial(pkt, len, s);
    CHECK_OK(split_copy(&vh, pkt, len, &o));
    CHECK_EQ(o.n, nseg);
    for (size_t i = 0; i < o.n && i < nseg; i++)
        check_segment(s, pkt, len, gso, i, nseg, seg(i), o.lens[i]);
}

static void test_split_fields(void)
{
    struct spec s;

    for (int v = 4; v <= 6; v += 2) {
        spec_default(&s, v);
        s.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR | 0x40;
        split_and_check(&s, 64000 - spec_hlen(&s), 1400, true);
        /* a last segment of exactly gso_size; one segment; a 1-byte tail */
        split_and_check(&s, 1400 * 3, 1400, true);
        split_and_check(&s, 1000, 1400, true);
        split_and_check(&s, 1401, 1400, false);
        /* sequence and ID wrap around */
        s.seq = 0xffffff00u;
        s.id = 0xfffe;
        split_and_check(&s, 5000, 1000, true);
        /* no options, options to the maximum */
        s.optlen = 0;
        split_and_check(&s, 3000, 536, true);
        s.optlen = 40;
        memset(s.opt, 1, 40);
        split_and_check(&s, 3000, 536, true);
        /* UDP segmentation offload */
        spec_default(&s, v);
        s.proto = 17;
        split_and_check(&s, 9000, 1200, true);
        split_and_check(&s, 1, 1200, true);
    }
}

static void test_split_none(void)
{
    static uint8_t pkt[2000];
    struct offload_out o = out_init();
    struct virtio_net_hdr vh = { 0 };
    struct spec s;
    uint8_t pay[1000];
    size_t len;

    /* no GSO, no NEEDS_CSUM: a plain copy, whatever the bytes */
    rnd_fill(pkt, 100);
    CHECK_OK(split_copy(&vh, pkt, 100, &o));
    CHECK_EQ(o.n, 1);
    CHECK_EQ(o.lens[0], 100);
    CHECK_MEM(seg(0), pkt, 100);
    /* DATA_VALID from the kernel changes nothing */
    vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    CHECK_OK(split_copy(&vh, pkt, 1, &o));
    CHECK_EQ(o.lens[0], 1);

    /* NEEDS_CSUM: completes TCP and UDP checksums over IPv4 and IPv6 */
    for (int k = 0; k < 8; k++) {
        spec_default(&s, k & 1 ? 6 : 4);
        s.proto = k & 2 ? 17 : 6;
        rnd_fill(pay, sizeof(pay));
        len = build(pkt, &s, pay, k & 4 ? 0 : sizeof(pay) - k);
        uint8_t want[2000];
        memcpy(want, pkt, len);
        set_partial(pkt, len, &s);
        vh = gso_hdr(&s, 0);
        vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
        CHECK_OK(split_copy(&vh, pkt, len, &o));
        CHECK_EQ(o.n, 1);
        CHECK_EQ(o.lens[0], len);
        CHECK_MEM(seg(0), want, len);
    }
    /* UDP whose checksum computes to 0 is sent as ffff (RFC 768) */
    memset(pkt, 0, 28);
    pkt[0] = 0x45;
    pkt[20] = pkt[21] = 0xff; /* the data sums to ffff: the checksum is 0 */
    vh = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .csum_start = 20,
                                  .csum_offset = 6 };
    CHECK_OK(split_copy(&vh, pkt, 28, &o));
    CHECK_EQ(get16(seg(0) + 26), 0xffff);
    /* IPv4 options and IPv6 extension headers do not matter without GSO */
    spec_default(&s, 4);
    len = build(pkt, &s, pay, 100);
    vh = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .csum_start = 20,
                                  .csum_offset = 16 };
    pkt[0] = 0x46; /* claims options: the bytes are not parsed */
    CHECK_OK(split_copy(&vh, pkt, len, &o));
    CHECK_EQ(o.n, 1);
}

/* --- split: differential against the naive splitter ------------------------ */

static void random_spec(struct spec *s)
{
    spec_default(s, rnd() & 1 ? 4 : 6);
    s->proto = rnd_below(5) == 0 ? 17 : 6;
    rnd_fill(s->src, 16);
    rnd_fill(s->dst, 16);
    s->sport = (uint16_t)rnd();
    s->dport = (uint16_t)rnd();
    s->seq = (uint32_t)rnd();
    s->ack = (uint32_t)rnd();
    s->flags = (uint8_t)(TCP_ACK | (rnd() & (TCP_FIN | TCP_PSH | TCP_CWR | 0x40 | 0x20)));
    s->win = (uint16_t)rnd();
    s->urg = rnd() & 1 ? 0 : (uint16_t)rnd();
    s->optlen = 4 * rnd_below(11);
    rnd_fill(s->opt, s->optlen);
    s->tos = (uint8_t)rnd();
    s->ttl = (uint8_t)rnd();
    s->id = (uint16_t)rnd();
    s->df = rnd() & 1;
    s->v6word = 0x60000000 | ((uint32_t)rnd() & 0x0fffffff);
}

static void test_split_differential(void)
{
    static uint8_t pkt[70000], pay[70000], ref[SLOTS * 2048];
    static size_t ref_lens[SLOTS];

    for (int k = 0; k < 3000; k++) {
        struct spec s;
        struct offload_out o = out_init();
        uint16_t gso = (uint16_t)(1 + rnd_below(k & 1 ? 1500 : 64));
        size_t maxpay, payload, len, n;

        random_spec(&s);
        maxpay = (s.v == 4 ? 65535 : 65575) - spec_hlen(&s);
        if (maxpay > (size_t)gso * 600)
            maxpay = (size_t)gso * 600;
        payload = 1 + rnd_below(maxpay);
        rnd_fill(pay, payload);
        len = build(pkt, &s, pay, payload);
        if (rnd() & 1)
            set_partial(pkt, len, &s);
        struct virtio_net_hdr vh = gso_hdr(&s, gso);
        if (rnd_below(4) == 0)
            vh.flags = 0; /* GSO without NEEDS_CSUM is accepted */
        if (rnd_below(4) == 0)
            vh.hdr_len = (uint16_t)rnd(); /* ignored */
        if (s.proto == 6 && rnd_below(4) == 0)
            vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
        CHECK_OK(split_copy(&vh, pkt, len, &o));
        n = naive_split(&vh, pkt, len, ref, 2048, ref_lens);
        CHECK_EQ(o.n, n);
        for (size_t i = 0; i < n && i < o.n; i++) {
            CHECK_EQ(o.lens[i], ref_lens[i]);
            CHECK_MEM(seg(i), ref + i * 2048, ref_lens[i]);
        }
    }
}

/* --- split: malformed input ------------------------------------------------- */

static void test_split_malformed(void)
{
    static uint8_t pkt[70000], bad[70000];
    uint8_t pay[3000];
    struct offload_out o = out_init();
    struct virtio_net_hdr vh, v;
    struct spec s4, s6;
    size_t len4, len6;

    rnd_fill(pay, sizeof(pay));
    spec_default(&s4, 4);
    spec_default(&s6, 6);
    len4 = build(pkt, &s4, pay, sizeof(pay));
    vh = gso_hdr(&s4, 1000);

#define SPLIT4(mutate, code)                                                                       \
    do {                                                                                           \
        size_t blen = len4;                                                                        \
        memcpy(bad, pkt, len4);                                                                    \
        v = vh;                                                                                    \
        mutate;                                                                                    \
        o = out_init();                                                                            \
        o.n = 99;                                                                                  \
        CHECK_ERR(split_copy(&v, bad, blen, &o), code);                                            \
        CHECK((code) == 0 ? o.n > 0 : o.n == 0);                                                   \
    } while (0)

    SPLIT4((void)0, 0);
    SPLIT4(blen = 0, VPXI_ERR_TRUNCATED);
    SPLIT4(blen = OFFLOAD_PKT_MAX + 1, VPXI_ERR_TOO_LARGE);
    SPLIT4(v.gso_type = VIRTIO_NET_HDR_GSO_UDP, VPXI_ERR_UNSUPPORTED);
    SPLIT4(v.gso_type = 2, VPXI_ERR_UNSUPPORTED);
    SPLIT4(v.gso_type = 0x7f, VPXI_ERR_UNSUPPORTED);
    SPLIT4(v.gso_type = VIRTIO_NET_HDR_GSO_ECN, VPXI_ERR_UNSUPPORTED);
    SPLIT4(v.gso_type = VIRTIO_NET_HDR_GSO_TCPV6, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[0] = 0x55, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[0] = 0x05, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[0] = 0x44, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[0] = 0x46, VPXI_ERR_UNSUPPORTED);
    SPLIT4(blen = 19, VPXI_ERR_TRUNCATED);
    SPLIT4(put16(bad + 2, (uint16_t)(len4 + 1)), VPXI_ERR_TRUNCATED);
    SPLIT4(put16(bad + 2, (uint16_t)(len4 - 1)), VPXI_ERR_TRAILING_DATA);
    SPLIT4(bad[len4] = 0; blen = len4 + 1, VPXI_ERR_TRAILING_DATA);
    SPLIT4(put16(bad + 6, IPV4_DF | 0x2000), VPXI_ERR_BAD_FORMAT); /* MF */
    SPLIT4(put16(bad + 6, 1), VPXI_ERR_BAD_FORMAT);                /* offset */
    SPLIT4(bad[9] = 17, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[20 + 12] = 0x40, VPXI_ERR_BAD_FORMAT); /* doff 4 */
    SPLIT4(bad[20 + 13] |= TCP_SYN, VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[20 + 13] |= TCP_RST, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.csum_start = 21, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.csum_start = 0xffff, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.csum_offset = 6, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.csum_offset = 0xffff, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.flags = 0; v.csum_start = 0xffff, 0); /* ignored without NEEDS_CSUM */
    SPLIT4(v.gso_size = 0, VPXI_ERR_BAD_FORMAT);
    SPLIT4(v.gso_size = 2, VPXI_ERR_TOO_LARGE); /* 1500 segments, 1024 slots */
    /* headers only, no payload; a data offset beyond the packet */
    SPLIT4(blen = 52; put16(bad + 2, 52), VPXI_ERR_BAD_FORMAT);
    SPLIT4(bad[20 + 12] = 0xf0; blen = 60; put16(bad + 2, 60), VPXI_ERR_TRUNCATED);
    SPLIT4(bad[20 + 12] = 0xf0; blen = 80; put16(bad + 2, 80), VPXI_ERR_BAD_FORMAT);
    /* TCP header cut by the IP length */
    SPLIT4(blen = 30; put16(bad + 2, 30), VPXI_ERR_TRUNCATED);

    /* slot limits (SPLIT4 resets o, so test these by hand) */
    v = vh;
    o = out_init();
    o.slots = 2;
    CHECK_ERR(split_copy(&v, pkt, len4, &o), VPXI_ERR_TOO_LARGE); /* 3 segments */
    o.slots = 3;
    CHECK_OK(split_copy(&v, pkt, len4, &o));
    o = out_init();
    o.stride = HEADROOM + spec_hlen(&s4) + 999;
    CHECK_ERR(split_copy(&v, pkt, len4, &o), VPXI_ERR_TOO_LARGE);
    o.stride = HEADROOM + spec_hlen(&s4) + 1000;
    CHECK_OK(split_copy(&v, pkt, len4, &o));
    /* a small last segment fits a stride sized for it only if it is the only one */
    v.gso_size = 5000;
    o.stride = HEADROOM + len4;
    CHECK_OK(split_copy(&v, pkt, len4, &o));
    CHECK_EQ(o.n, 1);
    o.stride = HEADROOM + len4 - 1;
    CHECK_ERR(split_copy(&v, pkt, len4, &o), VPXI_ERR_TOO_LARGE);
    /* gso NONE: the checksum field must lie inside the packet */
    v = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
    o = out_big();
    v.csum_start = (uint16_t)(len4 - 2);
    CHECK_OK(split_copy(&v, pkt, len4, &o));
    v.csum_start = (uint16_t)(len4 - 1);
    CHECK_ERR(split_copy(&v, pkt, len4, &o), VPXI_ERR_BAD_FORMAT);
    v.csum_start = 20;
    v.csum_offset = 0xffff;
    CHECK_ERR(split_copy(&v, pkt, len4, &o), VPXI_ERR_BAD_FORMAT);
    v = (struct virtio_net_hdr){ 0 };
    o.stride = HEADROOM + 100;
    CHECK_ERR(split_copy(&v, pkt, 101, &o), VPXI_ERR_TOO_LARGE);
    o.slots = 0;
    CHECK_ERR(split_copy(&v, pkt, 50, &o), VPXI_ERR_TOO_LARGE);

    /* IPv6 */
    len6 = build(pkt, &s6, pay, sizeof(pay));
    vh = gso_hdr(&s6, 1000);
#define SPLIT6(mutate, code)                                                                       \
    do {                                                                                           \
        size_t blen = len6;                                                                        \
        memcpy(bad, pkt, len6);                                                                    \
        v = vh;                                                                                    \
        mutate;                                                                                    \
        o = out_init();                                                                            \
        o.n = 99;                                                                                  \
        CHECK_ERR(split_copy(&v, bad, blen, &o), code);                                            \
        CHECK((code) == 0 ? o.n > 0 : o.n == 0);                                                   \
    } while (0)
    SPLIT6((void)0, 0);
    SPLIT6(blen = 39, VPXI_ERR_TRUNCATED);
    SPLIT6(put16(bad + 4, (uint16_t)(len6 - 39)), VPXI_ERR_TRUNCATED);
    SPLIT6(put16(bad + 4, (uint16_t)(len6 - 41)), VPXI_ERR_TRAILING_DATA);
    SPLIT6(bad[6] = 0, VPXI_ERR_UNSUPPORTED);  /* hop-by-hop */
    SPLIT6(bad[6] = 44, VPXI_ERR_UNSUPPORTED); /* fragment */
    SPLIT6(bad[6] = 17, VPXI_ERR_BAD_FORMAT);
    SPLIT6(v.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, VPXI_ERR_BAD_FORMAT);
    SPLIT6(v.csum_start = 20, VPXI_ERR_BAD_FORMAT);
    SPLIT6(bad[0] = 0x40, VPXI_ERR_BAD_FORMAT); /* now IPv4 for a TCPV6 frame */
#undef SPLIT4
#undef SPLIT6
}

/* Every truncation of a valid GSO frame is TRUNCATED; of a plain one, a copy. */
static void test_split_truncation(void)
{
    static uint8_t pkt[4000];
    uint8_t pay[2600];
    struct offload_out o;
    struct spec s;

    rnd_fill(pay, sizeof(pay));
    for (int k = 0; k < 4; k++) {
        spec_default(&s, k & 1 ? 6 : 4);
        s.proto = k & 2 ? 17 : 6;
        size_t len = build(pkt, &s, pay, sizeof(pay));
        struct virtio_net_hdr vh = gso_hdr(&s, 1000), none = { 0 };
        struct virtio_net_hdr part = vh;

        part.gso_type = VIRTIO_NET_HDR_GSO_NONE;
        part.gso_size = 0;
        for (size_t n = 0; n < len; n++) {
            o = out_init();
            CHECK_ERR(split_copy(&vh, pkt, n, &o), VPXI_ERR_TRUNCATED);
            CHECK_EQ(o.n, 0);
            o = out_big();
            CHECK_ERR(split_copy(&none, pkt, n, &o), n ? 0 : VPXI_ERR_TRUNCATED);
            if (n)
                CHECK_MEM(seg(0), pkt, n);
            o = out_big();
            size_t need = (size_t)part.csum_start + part.csum_offset + 2;
            CHECK_ERR(split_copy(&part, pkt, n, &o), n == 0     ? VPXI_ERR_TRUNCATED
                                                     : n < need ? VPXI_ERR_BAD_FORMAT
                                                                : 0);
        }
        o = out_init();
        CHECK_OK(split_copy(&vh, pkt, len, &o));
        CHECK_EQ(o.n, 3);
    }
}

/* --- coalescing: a naive model --------------------------------------------- */

enum nkind { N_OTHER, N_ANY, N_KEYED, N_CAND };

struct npkt {
    enum nkind kind;
    uint8_t key[40];
    size_t keylen, l4, hl, payload;
    bool psh;
};

static bool naive_ext(uint8_t nh)
{
    static const uint8_t ext[] = { 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254 };
    return memchr(ext, nh, sizeof(ext)) != NULL;
}

/* Classifies a packet the way offload_gro_add's contract says. */
static struct npkt naive_classify(const uint8_t *p, size_t len)
{
    struct npkt n = { .kind = N_OTHER };
    int v = p[0] >> 4;

    if (v == 4 && len >= 20 && (p[0] & 15) >= 5) {
        if (p[9] != 6)
            return n;
        n.l4 = (size_t)(p[0] & 15) * 4;
        if (((p[6] << 8 | p[7]) & 0x1fff) || n.l4 + 4 > len) {
            n.kind = N_ANY;
            return n;
        }
        n.key[0] = 4;
        memcpy(n.key + 1, p + 12, 8);
        memcpy(n.key + 9, p + n.l4, 4);
        n.keylen = 13;
        n.kind = N_KEYED;
        if (n.l4 != 20 || ((p[6] << 8 | p[7]) & 0x3fff) || (size_t)(p[2] << 8 | p[3]) != len ||
            !naive_ip4_ok(p))
            return n;
    } else if (v == 6 && len >= 40) {
        if (p[6] != 6) {
            n.kind = naive_ext(p[6]) ? N_ANY : N_OTHER;
            return n;
        }
        n.l4 = 40;
        if (len < 44) {
            n.kind = N_ANY;
            return n;
        }
        n.key[0] = 6;
        memcpy(n.key + 1, p + 8, 32);
        memcpy(n.key + 33, p + 40, 4);
        n.keylen = 37;
        n.kind = N_KEYED;
        if ((size_t)(p[4] << 8 | p[5]) + 40 != len)
            return n;
    } else {
        return n;
    }
    if (len < n.l4 + 20)
        return n;
    n.hl = n.l4 + (size_t)(p[n.l4 + 12] >> 4) * 4;
    uint8_t fl = p[n.l4 + 13];
    if (n.hl < n.l4 + 20 || n.hl >= len || (fl != 0x10 && fl != 0x18))
        return n;
    if (naive_l4_sum(p, n.l4, len, 6) != 0xffff)
        return n;
    n.payload = len - n.hl;
    n.psh = fl & 0x08;
    n.kind = N_CAND;
    return n;
}

struct ngroup {
    uint8_t key[40];
    size_t keylen;
    bool open;
    size_t idx[512]; /* packet indices */
    size_t n, bytes, gso;
};

struct nmodel {
    struct ngroup *g;
    size_t ng;
    unsigned max_segs;
};

/* The segment number n of the super-packet headed by h, given p's payload and flags. */
static bool naive_is_next(const uint8_t *h, size_t hlen, const uint8_t *p, size_t len,
                          const struct npkt *c, size_t n, size_t gso)
{
    static uint8_t e[70000];
    size_t l4 = c->l4;

    if (c->hl > len || c->hl > hlen || len > sizeof(e))
        return false; /* (a different header length shows in the data offset byte) */
    memcpy(e, h, c->hl);
    memcpy(e + c->hl, p + c->hl, len - c->hl);
    if (h[0] >> 4 == 4) {
        uint16_t id = (uint16_t)((h[4] << 8 | h[5]) + n);
        e[2] = (uint8_t)(len >> 8);
        e[3] = (uint8_t)len;
        e[4] = (uint8_t)(id >> 8);
        e[5] = (uint8_t)id;
        e[10] = e[11] = 0;
        uint16_t x = (uint16_t)~naive_sum(e, 20, 0);
        e[10] = (uint8_t)(x >> 8);
        e[11] = (uint8_t)x;
    } else {
        e[4] = (uint8_t)((len - 40) >> 8);
        e[5] = (uint8_t)(len - 40);
    }
    uint32_t seq = (uint32_t)h[l4 + 4] << 24 | (uint32_t)h[l4 + 5] << 16 |
                   (uint32_t)h[l4 + 6] << 8 | h[l4 + 7];
    seq += (uint32_t)(n * gso);
    e[l4 + 4] = (uint8_t)(seq >> 24);
    e[l4 + 5] = (uint8_t)(seq >> 16);
    e[l4 + 6] = (uint8_t)(seq >> 8);
    e[l4 + 7] = (uint8_t)seq;
    e[l4 + 13] = p[l4 + 13];
    e[l4 + 16] = e[l4 + 17] = 0;
    uint16_t x = (uint16_t)~naive_l4_sum(e, l4, len, 6);
    e[l4 + 16] = (uint8_t)(x >> 8);
    e[l4 + 17] = (uint8_t)x;
    return memcmp(e, p, len) == 0;
}

static void naive_gro(struct nmodel *m, uint8_t **pk, const size_t *pl, size_t np,
                      const bool *flushed)
{
    m->ng = 0;
    for (size_t k = 0; k < np; k++) {
        struct npkt c = naive_classify(pk[k], pl[k]);
        struct ngroup *open = NULL;

        if (c.kind == N_ANY || flushed[k])
            for (size_t i = 0; i < m->ng; i++)
                m->g[i].open = false;
        if (c.kind == N_KEYED || c.kind == N_CAND) {
            for (size_t i = 0; i < m->ng; i++)
                if (m->g[i].open && m->g[i].keylen == c.keylen &&
                    memcmp(m->g[i].key, c.key, c.keylen) == 0)
                    open = &m->g[i];
            if (open && c.kind == N_CAND && c.payload <= open->gso &&
                open->bytes + c.payload <= 65535 && open->n < m->max_segs &&
                naive_is_next(pk[open->idx[0]], pl[open->idx[0]], pk[k], pl[k], &c, open->n,
                              open->gso)) {
                open->idx[open->n++] = k;
                open->bytes += c.payload;
                if (c.psh || c.payload < open->gso || open->n >= m->max_segs)
                    open->open = false;
                continue;
            }
            if (open)
                open->open = false;
        }
        struct ngroup *g = &m->g[m->ng++];
        memset(g, 0, offsetof(struct ngroup, idx));
        g->idx[0] = k;
        g->n = 1;
        g->bytes = pl[k];
        if (c.kind == N_CAND && !c.psh && m->max_segs > 1) {
            g->open = true;
            memcpy(g->key, c.key, c.keylen);
            g->keylen = c.keylen;
            g->gso = c.payload;
        }
    }
}

/* Checks that a super-packet frame is what the kernel expects on write. */
static void check_super_frame(const uint8_t *frame, size_t flen)
{
    struct virtio_net_hdr vh = frame_hdr(frame);
    const uint8_t *p = frame + 10;
    size_t len = flen - 10;
    int v = p[0] >> 4;
    size_t l4 = v == 4 ? 20 : 40;

    CHECK_EQ(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CHECK_EQ(vh.gso_type, v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
    CHECK_EQ(vh.csum_start, l4);
    CHECK_EQ(vh.csum_offset, 16);
    CHECK_EQ(vh.hdr_len, l4 + (size_t)(p[l4 + 12] >> 4) * 4);
    CHECK(vh.gso_size > 0 && len - vh.hdr_len > vh.gso_size);
    CHECK(len <= 65535);
    if (v == 4) {
        CHECK_EQ(get16(p + 2), len);
        CHECK(naive_ip4_ok(p));
    } else {
        CHECK_EQ(get16(p + 4), len - 40);
    }
    /* the field holds the pseudo-header sum; completing it as the kernel
     * would (skb_checksum_help) gives a packet whose checksum verifies */
    uint8_t ph[40];
    size_t n = naive_pseudo(p, 6, (uint32_t)(len - l4), ph);
    CHECK_EQ(get16(p + l4 + 16), naive_sum(ph, n, 0));
    static uint8_t done[70000];
    memcpy(done, p, len);
    uint16_t c = (uint16_t)~naive_sum(done + l4, len - l4, 0);
    put16(done + l4 + 16, c);
    CHECK(naive_l4_sum(done, l4, len, 6) == 0xffff);
}

/* Re-splits a frame as the kernel would; appends the packets to (pk, pl). */
static size_t resplit(const uint8_t *frame, size_t flen, uint8_t **pk, size_t *pl)
{
    struct virtio_net_hdr vh = frame_hdr(frame);
    struct offload_out o = out_init();

    if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        CHECK_EQ(vh.flags, 0);
        pk[0] = malloc(flen - 10);
        memcpy(pk[0], frame + 10, flen - 10);
        pl[0] = flen - 10;
        return 1;
    }
    check_super_frame(frame, flen);
    CHECK_OK(split_copy(&vh, frame + 10, flen - 10, &o));
    for (size_t i = 0; i < o.n; i++) {
        pk[i] = malloc(o.lens[i]);
        memcpy(pk[i], seg(i), o.lens[i]);
        pl[i] = o.lens[i];
    }
    return o.n;
}

/* --- coalescing: directed tests --------------------------------------------- */

struct stream {
    size_t n;
    uint8_t *p[4096];
    size_t len[4096];
};

static void stream_push(struct stream *st, const struct spec *s, const uint8_t *pay, size_t plen)
{
    uint8_t tmp[70000];
    size_t len = build(tmp, s, pay, plen);

    st->p[st->n] = malloc(len);
    memcpy(st->p[st->n], tmp, len);
    st->len[st->n++] = len;
}

static void stream_free(struct stream *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->p[i]);
    st->n = 0;
}

/* Segments of one flow: n full segments of gso bytes, then a tail of last bytes. */
static void push_flow(struct stream *st, struct spec *s, size_t n, size_t gso, size_t last)
{
    uint8_t pay[2000];

    for (size_t i = 0; i <= n; i++) {
        size_t plen = i < n ? gso : last;
        if (!plen)
            break;
        rnd_fill(pay, plen);
        stream_push(st, s, pay, plen);
        s->seq += (uint32_t)plen;
        s->id++;
    }
}

/*
 * Runs a stream through a coalescer with config c and through the naive
 * model; the frames must match the model's groups one for one, and re-split
 * back to the packets of each group. Returns the number of frames.
 */
static size_t run_gro(const struct offload_gro_cfg *c, struct stream *st, struct frames *fr)
{
    static struct ngroup groups[4096];
    struct nmodel m = { .g = groups, .max_segs = c->max_segs };
    struct offload_gro g;
    uint8_t *pk[1024];
    size_t pl[1024];

    static bool flushed[4096];

    CHECK_OK(offload_gro_init(&g, c));
    for (size_t i = 0; i < st->n; i++) {
        /* the caller's side of VPXI_ERR_LIMIT: flush and add again */
        int r = offload_gro_add(&g, st->p[i], st->len[i]);

        flushed[i] = r == VPXI_ERR_LIMIT;
        if (r == VPXI_ERR_LIMIT) {
            offload_gro_flush(&g, collect, fr);
            r = offload_gro_add(&g, st->p[i], st->len[i]);
        }
        CHECK_OK(r);
    }
    offload_gro_flush(&g, collect, fr);
    CHECK_EQ(offload_gro_pending(&g), 0);
    CHECK_EQ(g.stats.pkts, st->n);
    CHECK_EQ(g.stats.out_super + g.stats.out_single, fr->n);
    offload_gro_clear(&g);

    naive_gro(&m, st->p, st->len, st->n, flushed);
    CHECK_EQ(fr->n, m.ng);
    for (size_t i = 0; i < fr->n && i < m.ng; i++) {
        size_t n = resplit(fr->buf[i], fr->len[i], pk, pl);
        CHECK_EQ(n, m.g[i].n);
        for (size_t j = 0; j < n; j++) {
            if (j < m.g[i].n) {
                CHECK_EQ(pl[j], st->len[m.g[i].idx[j]]);
                if (pl[j] == st->len[m.g[i].idx[j]])
                    CHECK_MEM(pk[j], st->p[m.g[i].idx[j]], pl[j]);
            }
            free(pk[j]);
        }
    }
    return fr->n;
}

static struct offload_gro_cfg big_cfg(void)
{
    struct offload_gro_cfg c = offload_gro_cfg_default;

    c.bufs = 64;
    c.max_flows = 16;
    c.max_pkts = 4096;
    return c;
}

static void test_gro_directed(void)
{
    struct offload_gro_cfg c = big_cfg();
    struct stream st = { 0 };
    struct frames fr = { 0 };
    struct spec s, s2;
    uint8_t pay[1400];

    for (int v = 4; v <= 6; v += 2) {
        /* 45 full segments and a short one: one super-packet of 64 KB */
        spec_default(&s, v);
        push_flow(&st, &s, 44, 1400, 700);
        CHECK_EQ(run_gro(&c, &st, &fr), 1);
        CHECK_EQ(frame_hdr(fr.buf[0]).gso_size, 1400);
        frames_free(&fr);
        stream_free(&st);

        /* too many for 64 KB: a second super-packet */
        spec_default(&s, v);
        push_flow(&st, &s, 60, 1400, 0);
        CHECK_EQ(run_gro(&c, &st, &fr), 2);
        frames_free(&fr);
        stream_free(&st);

        /* PSH on the last joins and shows on the frame; the next starts anew */
        spec_default(&s, v);
        push_flow(&st, &s, 3, 1000, 0);
        s.flags = TCP_ACK | TCP_PSH;
        push_flow(&st, &s, 1, 1000, 0);
        s.flags = TCP_ACK;
        push_flow(&st, &s, 3, 1000, 0);
        CHECK_EQ(run_gro(&c, &st, &fr), 2);
        CHECK(fr.buf[0][10 + spec_l4off(&s) + 13] & TCP_PSH);
        CHECK(!(fr.buf[1][10 + spec_l4off(&s) + 13] & TCP_PSH));
        frames_free(&fr);
        stream_free(&st);

        /* FIN, pure ACK, SYN, RST, URG, ECE, CWR are sent alone */
        static const uint8_t alone[] = { TCP_ACK | TCP_FIN,
                                         TCP_ACK | TCP_SYN,
                                         TCP_ACK | TCP_RST,
                                         TCP_ACK | 0x20,
                                         TCP_ACK | 0x40,
                                         TCP_ACK | TCP_CWR,
                                         TCP_PSH };
        for (size_t a = 0; a < sizeof(alone); a++) {
            spec_default(&s, v);
            push_flow(&st, &s, 3, 1000, 0);
            s.flags = alone[a];
            push_flow(&st, &s, 1, 1000, 0);
            s.flags = TCP_ACK;
            push_flow(&st, &s, 3, 1000, 0);
            CHECK_EQ(run_gro(&c, &st, &fr), 3);
            frames_free(&fr);
            stream_free(&st);
        }
        spec_default(&s, v);
        push_flow(&st, &s, 3, 1000, 0);
        stream_push(&st, &s, pay, 0); /* pure ACK */
        push_flow(&st, &s, 3, 1000, 0);
        CHECK_EQ(run_gro(&c, &st, &fr), 3);
        frames_free(&fr);
        stream_free(&st);

        /* every header difference ends the super-packet */
        for (int d = 0; d < 12; d++) {
            spec_default(&s, v);
            push_flow(&st, &s, 3, 1000, 0);
            switch (d) {
            case 0: s.seq += 1; break;     /* gap */
            case 1: s.ack += 1; break;     /* new ACK */
            case 2: s.win += 1; break;     /* window update */
            case 3: s.opt[11] ^= 1; break; /* TSecr */
            case 4: s.ttl -= 1; break;
            case 5:
                s.tos = 1;
                s.v6word ^= 0x00100000;
                break; /* ECN ECT(1) */
            case 6:
                s.id += 5;
                s.v6word ^= 1;
                break; /* ID jump / flow label */
            case 7:
                s.df = false;
                s.ttl ^= (v == 6);
                break;
            case 8: s.optlen = 0; break;
            case 9: s.urg = 7; break;
            case 10:
                s.seq -= 1000;
                s.id--;
                break;                    /* retransmission */
            case 11: s.sport ^= 1; break; /* another flow: both keep going */
            }
            push_flow(&st, &s, 3, 1000, 0);
            CHECK_EQ(run_gro(&c, &st, &fr), 2);
            frames_free(&fr);
            stream_free(&st);
        }

        /* a larger segment cannot follow a smaller head */
        spec_default(&s, v);
        push_flow(&st, &s, 1, 500, 0);
        push_flow(&st, &s, 3, 1000, 0);
        CHECK_EQ(run_gro(&c, &st, &fr), 2);
        frames_free(&fr);
        stream_free(&st);

        /* interleaved flows keep their own super-packets, in order */
        spec_default(&s, v);
        spec_default(&s2, v);
        s2.dport = 22;
        for (int i = 0; i < 20; i++) {
            push_flow(&st, &s, 1, 1000, 0);
            push_flow(&st, &s2, 1, 1000, 0);
        }
        CHECK_EQ(run_gro(&c, &st, &fr), 2);
        frames_free(&fr);
        stream_free(&st);

        /* UDP is emitted alone and does not disturb a TCP flow */
        spec_default(&s, v);
        spec_default(&s2, v);
        s2.proto = 17;
        for (int i = 0; i < 5; i++) {
            push_flow(&st, &s, 1, 1000, 0);
            push_flow(&st, &s2, 1, 1000, 0);
        }
        CHECK_EQ(run_gro(&c, &st, &fr), 6);
        frames_free(&fr);
        stream_free(&st);

        /* max_segs */
        struct offload_gro_cfg c4 = c;
        c4.max_segs = 4;
        spec_default(&s, v);
        push_flow(&st, &s, 10, 100, 0);
        CHECK_EQ(run_gro(&c4, &st, &fr), 3);
        frames_free(&fr);
        c4.max_segs = 1;
        CHECK_EQ(run_gro(&c4, &st, &fr), 10);
        frames_free(&fr);
        stream_free(&st);
    }

    /* a TCP packet we cannot place (IPv6 extension header, IPv4 fragment)
     * closes every open super-packet */
    spec_default(&s, 6);
    spec_default(&s2, 4);
    push_flow(&st, &s, 3, 1000, 0);
    push_flow(&st, &s2, 3, 1000, 0);
    stream_push(&st, &s, pay, 100);
    st.p[st.n - 1][6] = 60;
    push_flow(&st, &s, 3, 1000, 0);
    push_flow(&st, &s2, 3, 1000, 0);
    CHECK_EQ(run_gro(&c, &st, &fr), 5);
    frames_free(&fr);
    stream_free(&st);
    spec_default(&s, 4);
    push_flow(&st, &s, 3, 1000, 0);
    stream_push(&st, &s, pay, 100);
    put16(st.p[st.n - 1] + 6, 185); /* fragment offset */
    st.p[st.n - 1][10] = st.p[st.n - 1][11] = 0;
    put16(st.p[st.n - 1] + 10, (uint16_t)~naive_sum(st.p[st.n - 1], 20, 0));
    push_flow(&st, &s, 3, 1000, 0);
    CHECK_EQ(run_gro(&c, &st, &fr), 3);
    frames_free(&fr);
    stream_free(&st);
}

static void test_gro_checksums(void)
{
    struct offload_gro_cfg c = big_cfg();
    struct stream st = { 0 };
    struct frames fr = { 0 };
    struct offload_gro g;
    struct spec s;

    /* a corrupt segment is never merged (the kernel would not check it) */
    for (int v = 4; v <= 6; v += 2) {
        spec_default(&s, v);
        push_flow(&st, &s, 6, 1000, 0);
        st.p[2][st.len[2] - 1] ^= 1;
        CHECK_EQ(run_gro(&c, &st, &fr), 3);
        if (fr.n == 3) {
            CHECK_EQ(frame_hdr(fr.buf[1]).gso_type, VIRTIO_NET_HDR_GSO_NONE);
            CHECK_MEM(fr.buf[1] + 10, st.p[2], st.len[2]);
        }
        frames_free(&fr);

        CHECK_OK(offload_gro_init(&g, &c));
        for (size_t i = 0; i < st.n; i++)
            CHECK_OK(offload_gro_add(&g, st.p[i], st.len[i]));
        CHECK_EQ(g.stats.bad_csum, 1);
        CHECK_EQ(g.stats.merged, 3);
        offload_gro_flush(&g, collect, &fr);
        CHECK_EQ(g.stats.out_super, 2);
        CHECK_EQ(g.stats.out_single, 1);
        offload_gro_clear(&g);
        frames_free(&fr);

        /* without verification it is merged, as configured */
        struct offload_gro_cfg nv = c;
        nv.verify_csum = false;
        CHECK_OK(offload_gro_init(&g, &nv));
        for (size_t i = 0; i < st.n; i++)
            CHECK_OK(offload_gro_add(&g, st.p[i], st.len[i]));
        offload_gro_flush(&g, collect, &fr);
        CHECK_EQ(fr.n, 1);
        offload_gro_clear(&g);
        frames_free(&fr);
        stream_free(&st);
    }
    /* a bad IPv4 header checksum is never merged, even without verification */
    spec_default(&s, 4);
    push_flow(&st, &s, 6, 1000, 0);
    st.p[2][10] ^= 1;
    c.verify_csum = false;
    CHECK_EQ(run_gro(&c, &st, &fr), 3);
    frames_free(&fr);
    stream_free(&st);
}

/* Nine interleaved flows and room for eight: per-flow order still holds. */
static void test_gro_eviction(void)
{
    struct offload_gro_cfg c = big_cfg();
    struct stream st = { 0 };
    struct frames fr = { 0 };
    struct offload_gro g;
    struct spec s[9];
    uint8_t *pk[1024];
    size_t pl[1024], got = 0;

    c.max_flows = 8;
    for (int f = 0; f < 9; f++) {
        spec_default(&s[f], f & 1 ? 6 : 4);
        s[f].sport = (uint16_t)(1000 + f);
    }
    for (int i = 0; i < 10; i++)
        for (int f = 0; f < 9; f++)
            push_flow(&st, &s[f], 1, 800, 0);
    CHECK_OK(offload_gro_init(&g, &c));
    for (size_t i = 0; i < st.n; i++)
        gro_add_or_flush(&g, st.p[i], st.len[i], &fr);
    offload_gro_flush(&g, collect, &fr);
    offload_gro_clear(&g);
    /* round-robin over 9 flows with 8 slots: LRU evicts the one coming next */
    CHECK_EQ(fr.n, 90);
    /* per flow, the re-split frames give back the flow's packets in order */
    size_t next[9] = { 0 };
    for (size_t i = 0; i < fr.n; i++) {
        size_t n = resplit(fr.buf[i], fr.len[i], pk, pl);
        for (size_t j = 0; j < n; j++, got++) {
            int f = (int)(get16(pk[j] + ((pk[j][0] >> 4) == 4 ? 20 : 40)) - 1000);
            CHECK(f >= 0 && f < 9);
            if (f >= 0 && f < 9) {
                size_t k = next[f]++ * 9 + (size_t)f;
                CHECK(k < st.n && pl[j] == st.len[k] && memcmp(pk[j], st.p[k], pl[j]) == 0);
            }
            free(pk[j]);
        }
    }
    CHECK_EQ(got, st.n);
    frames_free(&fr);
    stream_free(&st);

    /* two flows in a table of one alternate: nothing merges, nothing reorders */
    c.max_flows = 1;
    c.bufs = 4;
    for (int i = 0; i < 4; i++) {
        push_flow(&st, &s[0], 1, 800, 0);
        push_flow(&st, &s[2], 1, 800, 0);
    }
    CHECK_OK(offload_gro_init(&g, &c));
    for (size_t i = 0; i < st.n; i++)
        gro_add_or_flush(&g, st.p[i], st.len[i], &fr);
    offload_gro_flush(&g, collect, &fr);
    offload_gro_clear(&g);
    CHECK_EQ(fr.n, 8);
    for (size_t i = 0; i < fr.n && i < st.n; i++)
        CHECK_MEM(fr.buf[i] + 10, st.p[i], st.len[i]);
    frames_free(&fr);
    stream_free(&st);
}

/* Full buffers or queue: LIMIT, nothing consumed; after a flush the add succeeds. */
static void test_gro_limit(void)
{
    struct offload_gro_cfg c = {
        .max_segs = 64, .max_flows = 1, .bufs = 2, .max_pkts = 5, .verify_csum = true
    };
    struct stream st = { 0 };
    struct frames fr = { 0 };
    struct offload_gro g;
    struct spec s[3];
    uint8_t big[65535 - 40];

    for (int f = 0; f < 3; f++) {
        spec_default(&s[f], 4);
        s[f].sport = (uint16_t)(2000 + f);
    }
    CHECK_OK(offload_gro_init(&g, &c));
    /* flow 0 takes buffer 0; flow 1 evicts it and takes buffer 1 */
    push_flow(&st, &s[0], 1, 1000, 0);
    push_flow(&st, &s[1], 1, 1000, 0);
    push_flow(&st, &s[2], 1, 1000, 0);
    CHECK_OK(offload_gro_add(&g, st.p[0], st.len[0]));
    CHECK_OK(offload_gro_add(&g, st.p[1], st.len[1]));
    /* flow 2: no free buffer left */
    CHECK_ERR(offload_gro_add(&g, st.p[2], st.len[2]), VPXI_ERR_LIMIT);
    CHECK_EQ(offload_gro_pending(&g), 2);
    offload_gro_flush(&g, collect, &fr);
    CHECK_EQ(fr.n, 2);
    CHECK_OK(offload_gro_add(&g, st.p[2], st.len[2]));
    /* the queue: five frames at most */
    memset(big, 0, sizeof(big));
    big[0] = 0x60; /* IPv6 with a hop-by-hop header: a single */
    for (int i = 0; i < 4; i++)
        CHECK_OK(offload_gro_add(&g, big, 100));
    CHECK_ERR(offload_gro_add(&g, big, 100), VPXI_ERR_LIMIT);
    offload_gro_flush(&g, collect, &fr);
    CHECK_EQ(fr.n, 7);
    /* single frames pack; a 64 KB one needs a whole buffer */
    CHECK_OK(offload_gro_add(&g, big, sizeof(big)));
    CHECK_OK(offload_gro_add(&g, big, sizeof(big)));
    CHECK_ERR(offload_gro_add(&g, big, sizeof(big)), VPXI_ERR_LIMIT);
    CHECK_ERR(offload_gro_add(&g, big, 0), VPXI_ERR_TRUNCATED);
    CHECK_ERR(offload_gro_add(&g, big, 65536), VPXI_ERR_TOO_LARGE);
    offload_gro_flush(&g, collect, &fr);
    CHECK_EQ(fr.n, 9);
    CHECK_EQ(fr.len[8], 10 + sizeof(big));
    offload_gro_clear(&g);
    frames_free(&fr);
    stream_free(&st);
}

static void test_gro_cfg(void)
{
    struct offload_gro g;
    struct offload_gro_cfg c;

#define BADCFG(field, value)                                                                       \
    do {                                                                                           \
        c = offload_gro_cfg_default;                                                               \
        c.field = value;                                                                           \
        CHECK_ERR(offload_gro_init(&g, &c), VPXI_ERR_INVALID);                                     \
        CHECK(g.mem == NULL);                                                                      \
    } while (0)
    BADCFG(max_segs, 0);
    BADCFG(max_segs, 65536);
    BADCFG(max_flows, 0);
    BADCFG(max_flows, OFFLOAD_GRO_FLOWS_MAX + 1);
    BADCFG(bufs, 8); /* must exceed max_flows */
    BADCFG(bufs, OFFLOAD_GRO_BUFS_MAX + 1);
    BADCFG(max_pkts, 0);
    BADCFG(max_pkts, OFFLOAD_GRO_PKTS_MAX + 1);
#undef BADCFG
    CHECK_OK(offload_gro_init(&g, NULL));
    CHECK_EQ(g.cfg.max_flows, 8);
    offload_gro_clear(&g);
    offload_gro_clear(&g); /* twice is harmless */
    /* every allocation failure is reported and leaves nothing behind */
    for (long n = 0; n < 3; n++) {
        vpxi_alloc_fail_after(n);
        CHECK_ERR(offload_gro_init(&g, NULL), VPXI_ERR_NOMEM);
        vpxi_alloc_fail_after(-1);
        CHECK(g.mem == NULL && g.recs == NULL && g.used == NULL);
    }
}

/* Split a super-packet, coalesce the segments: the same super-packet comes back. */
static void test_roundtrip(void)
{
    static uint8_t pkt[70000], pay[70000];
    struct offload_gro_cfg c = big_cfg();
    struct frames fr = { 0 };
    struct offload_gro g;

    c.max_segs = 65535;
    CHECK_OK(offload_gro_init(&g, &c));
    for (int k = 0; k < 400; k++) {
        struct spec s;
        struct offload_out o = out_init();
        uint16_t gso = (uint16_t)(200 + rnd_below(1300));
        size_t payload, len, nseg;

        random_spec(&s);
        s.proto = 6;
        s.flags = TCP_ACK | (rnd() & 1 ? TCP_PSH : 0);
        if (s.v == 6)
            s.ttl = (uint8_t)rnd();
        payload = 1 + rnd_below(65535 - spec_hlen(&s) - (s.v == 6 ? 40 : 0));
        rnd_fill(pay, payload);
        len = build(pkt, &s, pay, payload);
        nseg = (payload + gso - 1) / gso;
        struct virtio_net_hdr vh = gso_hdr(&s, gso);
        CHECK_OK(split_copy(&vh, pkt, len, &o));
        for (size_t i = 0; i < o.n; i++)
            CHECK_OK(offload_gro_add(&g, seg(i), o.lens[i]));
        offload_gro_flush(&g, collect, &fr);
        CHECK_EQ(fr.n, 1);
        if (fr.n != 1) {
            frames_free(&fr);
            continue;
        }
        struct virtio_net_hdr back = frame_hdr(fr.buf[0]);
        CHECK_EQ(fr.len[0], 10 + (nseg > 1 ? len : o.lens[0]));
        if (nseg == 1) {
            CHECK_EQ(back.gso_type, VIRTIO_NET_HDR_GSO_NONE);
            CHECK_MEM(fr.buf[0] + 10, seg(0), o.lens[0]);
        } else {
            /* equal but for the TCP checksum field, which now holds the
             * pseudo-header sum (CHECKSUM_PARTIAL) */
            size_t l4 = spec_l4off(&s);
            set_partial(pkt, len, &s);
            CHECK_MEM(fr.buf[0] + 10, pkt, len);
            CHECK_EQ(back.gso_type, vh.gso_type);
            CHECK_EQ(back.gso_size, gso);
            CHECK_EQ(back.hdr_len, spec_hlen(&s));
            CHECK_EQ(back.csum_start, l4);
            CHECK_EQ(back.csum_offset, 16);
            CHECK_EQ(back.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
        }
        frames_free(&fr);
    }
    offload_gro_clear(&g);
}

/* Random streams of several flows with random disturbances, against the model. */
static void test_gro_differential(void)
{
    struct stream st = { 0 };
    struct frames fr = { 0 };
    size_t pkts = 0, frames = 0;

    for (int k = 0; k < 600; k++) {
        struct offload_gro_cfg c = big_cfg();
        struct spec s[6];
        size_t gso[6], nflows = 1 + rnd_below(6), npk = 1 + rnd_below(300);
        uint8_t pay[2000];

        c.max_segs = 1 + (unsigned)rnd_below(k & 1 ? 8 : 64);
        for (size_t f = 0; f < nflows; f++) {
            random_spec(&s[f]);
            s[f].proto = 6;
            s[f].flags = TCP_ACK;
            s[f].sport = (uint16_t)f;
            if (rnd() & 1)
                s[f].optlen = 12;
            gso[f] = 1 + rnd_below(k & 2 ? 1400 : 40);
        }
        for (size_t i = 0; i < npk; i++) {
            size_t f = rnd_below(nflows), plen = gso[f];
            struct spec t = s[f];
            int ev = (int)rnd_below(k & 4 ? 40 : 120);

            switch (ev) {
            case 0: plen = rnd_below(gso[f]); break; /* short, maybe empty */
            case 1: t.flags |= TCP_PSH; break;
            case 2: t.flags |= TCP_FIN; break;
            case 3: t.seq += 1; break;
            case 4:
                s[f].ack += 1000;
                t.ack = s[f].ack;
                break;
            case 5: t.win ^= 1; break;
            case 6:
                t.opt[rnd_below(12)] ^= 1;
                t.optlen = 12;
                break;
            case 7: t.id += 2; break;
            case 8: t.ttl ^= 1; break;
            case 9: t.seq -= (uint32_t)gso[f]; break;          /* retransmission */
            case 10: t.proto = 17; break;                      /* UDP, same ports */
            case 11: plen = gso[f] + 1 + rnd_below(10); break; /* larger */
            default: break;
            }
            if (plen > sizeof(pay))
                plen = sizeof(pay);
            rnd_fill(pay, plen);
            stream_push(&st, &t, pay, plen);
            if (ev == 12) /* corrupt a byte anywhere */
                st.p[st.n - 1][rnd_below(st.len[st.n - 1])] ^= (uint8_t)(1 + rnd_below(255));
            if (ev == 13) /* an IPv6 extension header: closes everything */
                st.p[st.n - 1][0] = 0x60, st.p[st.n - 1][6] = 43;
            if (ev == 14) /* truncated */
                st.len[st.n - 1] = rnd_below(st.len[st.n - 1]) + 1;
            if (t.proto == 6 && ev != 3 && ev != 9 && ev != 2) {
                s[f].seq = t.seq + (uint32_t)plen;
                s[f].id = (uint16_t)(t.id + 1);
            }
        }
        pkts += st.n;
        frames += run_gro(&c, &st, &fr);
        frames_free(&fr);
        stream_free(&st);
    }
    /* the streams must exercise merging, not only singles */
    fprintf(stderr, "  %zu packets in %zu frames\n", pkts, frames);
    CHECK(frames * 2 < pkts);
}

/* Every truncation of packets that would coalesce: singles, unchanged. */
static void test_gro_truncation(void)
{
    struct offload_gro g;
    struct frames fr = { 0 };
    struct stream st = { 0 };
    struct spec s;

    CHECK_OK(offload_gro_init(&g, NULL));
    for (int v = 4; v <= 6; v += 2) {
        spec_default(&s, v);
        push_flow(&st, &s, 2, 300, 0);
        for (size_t n = 1; n < st.len[1]; n++) {
            CHECK_OK(offload_gro_add(&g, st.p[0], st.len[0]));
            uint8_t *c = malloc(n);
            memcpy(c, st.p[1], n);
            CHECK_OK(offload_gro_add(&g, c, n));
            free(c);
            CHECK_OK(offload_gro_add(&g, st.p[1], st.len[1]));
            offload_gro_flush(&g, collect, &fr);
            /* too short to be IP: no flow to close, the next one merges */
            CHECK_EQ(fr.n, n < (size_t)(v == 4 ? 20 : 40) ? 2 : 3);
            if (fr.n >= 2) {
                CHECK_EQ(fr.len[1], 10 + n);
                CHECK_MEM(fr.buf[1] + 10, st.p[1], n);
            }
            frames_free(&fr);
        }
        stream_free(&st);
    }
    offload_gro_clear(&g);
}

int main(void)
{
    slot_buf = malloc((size_t)SLOTS * STRIDE);
    RUN(test_csum_vectors);
    RUN(test_csum_random);
    RUN(test_csum_pseudo);
    RUN(test_split_fields);
    RUN(test_split_none);
    RUN(test_split_differential);
    RUN(test_split_malformed);
    RUN(test_split_truncation);
    RUN(test_gro_directed);
    RUN(test_gro_checksums);
    RUN(test_gro_eviction);
    RUN(test_gro_limit);
    RUN(test_gro_cfg);
    RUN(test_roundtrip);
    RUN(test_gro_differential);
    RUN(test_gro_truncation);
    free(slot_buf);
    T_DONE();
}
