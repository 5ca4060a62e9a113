/*
 * offload.c - TUN segmentation (offload_split) and receive coalescing
 * (offload_gro_*), with the Internet checksum they share. See offload.h for
 * the contracts.
 *
 * Checksums: partial sums are one's complement sums of the data read as
 * native 64-bit words (RFC 1071 2(B): the sum does not care about byte
 * order, so we swap once at the end instead of per word), kept with
 * end-around carries in four independent accumulators so that the adds do
 * not wait on each other. Every payload byte is summed exactly once on each
 * side.
 *
 * Coalescer memory: cfg.bufs buffers of OFFLOAD_GRO_BUF_LEN bytes. A flow's
 * open super-packet owns a whole buffer (it may grow to 64 KB); when the
 * flow closes, the rest of that buffer takes single frames, packed one after
 * the other. recs[] lists the frames in the order their first packet
 * arrived, which is the order they are emitted: since a packet that is not
 * appended to its flow's super-packet closes it first, each flow's frames
 * come out in arrival order.
 */
#include <string.h>

#include "offload.h"
#include "vpxi/alloc.h"

_Static_assert(sizeof(struct virtio_net_hdr) == OFFLOAD_VNET_HDR_LEN, "virtio_net_hdr is 10 bytes");
_Static_assert(OFFLOAD_GRO_BUF_LEN >= OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX, "buffer fits a frame");

/* Header lengths (bytes) and field offsets from the start of each header. */
enum wire {
    IPPROTO_TCP_ = 6,
    IPPROTO_UDP_ = 17,
    IPV4_HDR_LEN = 20, /* without options */
    IPV4_TOS = 1,
    IPV4_TOT_LEN = 2,
    IPV4_ID = 4,
    IPV4_FRAG = 6, /* flags and fragment offset */
    IPV4_TTL = 8,
    IPV4_PROTO = 9,
    IPV4_CSUM = 10,
    IPV4_ADDRS = 12, /* source then destination, 4 bytes each */
    IPV4_DF = 0x4000,
    IPV4_MF_OFF = 0x3fff, /* MF flag and fragment offset */
    IPV4_OFF = 0x1fff,
    IPV6_HDR_LEN = 40,
    IPV6_PLEN = 4,
    IPV6_NEXT = 6,
    IPV6_HOPS = 7,
    IPV6_ADDRS = 8,   /* source then destination, 16 bytes each */
    TCP_HDR_LEN = 20, /* without options */
    TCP_SEQ = 4,
    TCP_ACK_SEQ = 8,
    TCP_DOFF = 12, /* data offset in the high nibble */
    TCP_FLAGS = 13,
    TCP_WIN = 14,
    TCP_CSUM_OFF = 16,
    TCP_URG = 18,
    UDP_HDR_LEN = 8,
    UDP_LEN = 4,
    UDP_CSUM_OFF = 6,
    PORTS_LEN = 4, /* source and destination port, TCP and UDP alike */
};

enum tcp_flags {
    TCP_FIN = 0x01,
    TCP_SYN = 0x02,
    TCP_RST = 0x04,
    TCP_PSH = 0x08,
    TCP_ACK = 0x10,
    TCP_CWR = 0x80,
};

/* --- byte access --------------------------------------------------------- */

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* A 32-bit big-endian value as it reads natively from memory. */
static inline uint32_t be32_native(uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    return ld32(b);
}

/* --- Internet checksum ------------------------------------------------- */

/* One's complement addition on 64 bits (end-around carry). */
static inline uint64_t add64(uint64_t a, uint64_t b)
{
    a += b;
    return a + (a < b);
}

static uint64_t sum64(const uint8_t *p, size_t len)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t = 0;

    for (; len >= 64; p += 64, len -= 64) {
        s0 = add64(s0, ld64(p));
        s1 = add64(s1, ld64(p + 8));
        s2 = add64(s2, ld64(p + 16));
        s3 = add64(s3, ld64(p + 24));
        s0 = add64(s0, ld64(p + 32));
        s1 = add64(s1, ld64(p + 40));
        s2 = add64(s2, ld64(p + 48));
        s3 = add64(s3, ld64(p + 56));
    }
    for (; len >= 8; p += 8, len -= 8)
        s0 = add64(s0, ld64(p));
    /* the tail, padded with zeros on the right as the RFC wants */
    memcpy(&t, p, len);
    s1 = add64(s1, t);
    return add64(add64(s0, s1), add64(s2, s3));
}

/* sum64() while copying src to dst: one pass over the payload instead of two. */
static uint64_t sum64_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, t = 0;

    for (; len >= 32; src += 32, dst += 32, len -= 32) {
        uint64_t w0 = ld64(src), w1 = ld64(src + 8), w2 = ld64(src + 16), w3 = ld64(src + 24);

        memcpy(dst, &w0, 8);
        memcpy(dst + 8, &w1, 8);
        memcpy(dst + 16, &w2, 8);
        memcpy(dst + 24, &w3, 8);
        s0 = add64(s0, w0);
        s1 = add64(s1, w1);
        s2 = add64(s2, w2);
        s3 = add64(s3, w3);
    }
    for (; len >= 8; src += 8, dst += 8, len -= 8) {
        uint64_t w = ld64(src);

        memcpy(dst, &w, 8);
        s0 = add64(s0, w);
    }
    memcpy(dst, src, len);
    memcpy(&t, src, len);
    s1 = add64(s1, t);
    return add64(add64(s0, s1), add64(s2, s3));
}

static inline uint32_t fold32(uint64_t s)
{
    uint32_t lo = (uint32_t)s, hi = (uint32_t)(s >> 32);

    lo += hi;
    return lo + (lo < hi);
}

/* The 16-bit one's complement sum, still in native byte order. */
static inline uint16_t fold16(uint32_t s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Native-order 16-bit value to host order (a byte swap on little-endian). */
static inline uint16_t native16_to_host(uint16_t v)
{
    uint8_t b[2];
    memcpy(b, &v, 2);
    return get16(b);
}

static inline void store_native16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

uint32_t offload_csum_partial(const void *buf, size_t len, uint32_t sum)
{
    return fold32(add64(sum64(buf, len), sum));
}

uint32_t offload_csum_add(uint32_t a, uint32_t b)
{
    a += b;
    return a + (a < b);
}

uint16_t offload_csum_fold(uint32_t sum)
{
    return native16_to_host((uint16_t)~fold16(sum));
}

/* Protocol and length words, common to both pseudo-headers. */
static inline uint64_t pseudo_tail(uint8_t proto, uint32_t l4len)
{
    return (uint64_t)be32_native(proto) + be32_native(l4len);
}

uint32_t offload_csum_pseudo4(const uint8_t src[static 4], const uint8_t dst[static 4],
                              uint8_t proto, uint32_t l4len)
{
    uint64_t s = (uint64_t)ld32(src) + ld32(dst) + pseudo_tail(proto, l4len);

    return fold32(s);
}

uint32_t offload_csum_pseudo6(const uint8_t src[static 16], const uint8_t dst[static 16],
                              uint8_t proto, uint32_t l4len)
{
    uint64_t s = add64(add64(ld64(src), ld64(src + 8)), add64(ld64(dst), ld64(dst + 8)));

    return fold32(add64(s, pseudo_tail(proto, l4len)));
}

uint16_t offload_csum_ipv4_hdr(const uint8_t *iph, size_t ihl)
{
    return offload_csum_fold(offload_csum_partial(iph, ihl, 0));
}

/* Pseudo-header sum of an IP packet whose version nibble is already checked. */
static uint32_t pseudo_of(const uint8_t *pkt, uint8_t proto, uint32_t l4len)
{
    if ((pkt[0] >> 4) == 4)
        return offload_csum_pseudo4(pkt + IPV4_ADDRS, pkt + IPV4_ADDRS + 4, proto, l4len);
    return offload_csum_pseudo6(pkt + IPV6_ADDRS, pkt + IPV6_ADDRS + 16, proto, l4len);
}

uint16_t offload_csum_l4(const uint8_t *pkt, size_t l4off, size_t len, uint8_t proto)
{
    uint32_t s = pseudo_of(pkt, proto, (uint32_t)(len - l4off));

    return offload_csum_fold(offload_csum_partial(pkt + l4off, len - l4off, s));
}

/* --- segmentation ------------------------------------------------------ */

/* What offload_split learned from a GSO frame's headers. */
struct gso_frame {
    unsigned version;
    uint8_t proto;
    size_t l4off; /* IP header length */
    size_t hlen;  /* IP + transport header length */
    size_t payload;
    size_t gso_size;
    size_t nseg;
};

/* gso NONE: copy, and complete a partial checksum the way the kernel does. */
static int split_none(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                      struct offload_out *out)
{
    uint8_t *o = out->buf + out->headroom;
    size_t start = vh->csum_start, at = start + vh->csum_offset;
    uint16_t c;

    if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && (at > len || len - at < 2))
        return VPXI_ERR_BAD_FORMAT;
    if (out->slots < 1 || len > out->stride - out->headroom)
        return VPXI_ERR_TOO_LARGE;
    memcpy(o, pkt, len);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        /* the field holds the pseudo-header sum: summing over it adds it in */
        c = offload_csum_fold(offload_csum_partial(o + start, len - start, 0));
        put16(o + at, c ? c : 0xffff);
    }
    out->lens[0] = len;
    out->n = 1;
    return 0;
}

/* The IP header of a GSO frame: version, protocol, header length, IP length. */
static int parse_gso_ip(const uint8_t *pkt, size_t len, struct gso_frame *f)
{
    f->version = pkt[0] >> 4;
    if (f->version == 4) {
        if (len < IPV4_HDR_LEN)
            return VPXI_ERR_TRUNCATED;
        if ((pkt[0] & 0xf) < 5)
            return VPXI_ERR_BAD_FORMAT;
        if ((pkt[0] & 0xf) != 5)
            return VPXI_ERR_UNSUPPORTED; /* options */
        if (get16(pkt + IPV4_TOT_LEN) > len)
            return VPXI_ERR_TRUNCATED;
        if (get16(pkt + IPV4_TOT_LEN) < len)
            return VPXI_ERR_TRAILING_DATA;
        if (get16(pkt + IPV4_FRAG) & IPV4_MF_OFF)
            return VPXI_ERR_BAD_FORMAT; /* a fragment cannot be segmented */
        f->proto = pkt[IPV4_PROTO];
        f->l4off = IPV4_HDR_LEN;
    } else if (f->version == 6) {
        if (len < IPV6_HDR_LEN)
            return VPXI_ERR_TRUNCATED;
        if ((size_t)get16(pkt + IPV6_PLEN) + IPV6_HDR_LEN > len)
            return VPXI_ERR_TRUNCATED;
        if ((size_t)get16(pkt + IPV6_PLEN) + IPV6_HDR_LEN < len)
            return VPXI_ERR_TRAILING_DATA;
        f->proto = pkt[IPV6_NEXT];
        if (f->proto != IPPROTO_TCP_ && f->proto != IPPROTO_UDP_)
            return VPXI_ERR_UNSUPPORTED; /* extension headers */
        f->l4off = IPV6_HDR_LEN;
    } else {
        return VPXI_ERR_BAD_FORMAT;
    }
    return 0;
}

/* Checks a GSO frame against its virtio header and the output slots. */
static int parse_gso(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                     const struct offload_out *out, struct gso_frame *f)
{
    unsigned type = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    size_t csum_off;
    int r;

    if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 &&
        type != VIRTIO_NET_HDR_GSO_UDP_L4)
        return VPXI_ERR_UNSUPPORTED;
    if ((r = parse_gso_ip(pkt, len, f)) != 0)
        return r;
    if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && (f->version != 4 || f->proto != IPPROTO_TCP_)) ||
        (type == VIRTIO_NET_HDR_GSO_TCPV6 && (f->version != 6 || f->proto != IPPROTO_TCP_)) ||
        (type == VIRTIO_NET_HDR_GSO_UDP_L4 && f->proto != IPPROTO_UDP_))
        return VPXI_ERR_BAD_FORMAT;
    if (f->proto == IPPROTO_TCP_) {
        if (len < f->l4off + TCP_HDR_LEN)
            return VPXI_ERR_TRUNCATED;
        f->hlen = f->l4off + (size_t)(pkt[f->l4off + TCP_DOFF] >> 4) * 4;
        if (f->hlen < f->l4off + TCP_HDR_LEN)
            return VPXI_ERR_BAD_FORMAT;
        if (pkt[f->l4off + TCP_FLAGS] & (TCP_SYN | TCP_RST))
            return VPXI_ERR_BAD_FORMAT;
        csum_off = TCP_CSUM_OFF;
    } else {
        f->hlen = f->l4off + UDP_HDR_LEN;
        csum_off = UDP_CSUM_OFF;
    }
    if (f->hlen > len)
        return VPXI_ERR_TRUNCATED;
    if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        (vh->csum_start != f->l4off || vh->csum_offset != csum_off))
        return VPXI_ERR_BAD_FORMAT;
    f->gso_size = vh->gso_size;
    f->payload = len - f->hlen;
    if (f->gso_size == 0 || f->payload == 0)
        return VPXI_ERR_BAD_FORMAT;
    f->nseg = (f->payload + f->gso_size - 1) / f->gso_size;
    if (f->nseg > out->slots)
        return VPXI_ERR_TOO_LARGE;
    if (f->hlen + (f->gso_size < f->payload ? f->gso_size : f->payload) >
        out->stride - out->headroom)
        return VPXI_ERR_TOO_LARGE;
    return 0;
}

static void split_gso(const uint8_t *pkt, const struct gso_frame *f, struct offload_out *out)
{
    const size_t l4off = f->l4off;
    const uint32_t seq0 = get32(pkt + l4off + TCP_SEQ);
    const uint16_t id0 = get16(pkt + IPV4_ID);
    /* the pseudo-header without its length word, once for all segments */
    const uint32_t pseudo = pseudo_of(pkt, f->proto, 0);
    const uint8_t *src = pkt + f->hlen;
    size_t left = f->payload;

    for (size_t i = 0; i < f->nseg; i++) {
        uint8_t *o = out->buf + i * out->stride + out->headroom;
        size_t plen = left < f->gso_size ? left : f->gso_size;
        size_t seglen = f->hlen + plen;
        uint32_t s;
        uint16_t c;

        memcpy(o, pkt, f->hlen);
        if (f->version == 4) {
            put16(o + IPV4_TOT_LEN, (uint16_t)seglen);
            put16(o + IPV4_ID, (uint16_t)(id0 + i));
            put16(o + IPV4_CSUM, 0);
            put16(o + IPV4_CSUM, offload_csum_ipv4_hdr(o, IPV4_HDR_LEN));
        } else {
            put16(o + IPV6_PLEN, (uint16_t)(seglen - IPV6_HDR_LEN));
        }
        if (f->proto == IPPROTO_TCP_) {
            put32(o + l4off + TCP_SEQ, seq0 + (uint32_t)(i * f->gso_size));
            if (i + 1 < f->nseg)
                o[l4off + TCP_FLAGS] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
            if (i > 0)
                o[l4off + TCP_FLAGS] &= (uint8_t)~TCP_CWR;
            put16(o + l4off + TCP_CSUM_OFF, 0);
        } else {
            put16(o + l4off + UDP_LEN, (uint16_t)(seglen - l4off));
            put16(o + l4off + UDP_CSUM_OFF, 0);
        }
        /* the transport header has even length, so the payload's sum adds on */
        s = offload_csum_add(pseudo, be32_native((uint32_t)(seglen - l4off)));
        s = offload_csum_partial(o + l4off, f->hlen - l4off, s);
        s = offload_csum_add(s, fold32(sum64_copy(o + f->hlen, src, plen)));
        c = offload_csum_fold(s);
        if (f->proto == IPPROTO_TCP_)
            put16(o + l4off + TCP_CSUM_OFF, c);
        else
            put16(o + l4off + UDP_CSUM_OFF, c ? c : 0xffff); /* 0 means "none" in UDP */
        out->lens[i] = seglen;
        src += plen;
        left -= plen;
    }
    out->n = f->nseg;
}

int offload_split(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                  struct offload_out *out)
{
    struct gso_frame f;
    int r;

    if (!vh || !out || !out->buf || !out->lens || out->headroom > out->stride)
        vpxi_misuse("offload_split: bad arguments");
    out->n = 0;
    if (len == 0)
        return VPXI_ERR_TRUNCATED;
    if (len > OFFLOAD_PKT_MAX)
        return VPXI_ERR_TOO_LARGE;
    if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE)
        return split_none(vh, pkt, len, out);
    if ((r = parse_gso(vh, pkt, len, out, &f)) != 0)
        return r;
    split_gso(pkt, &f, out);
    return 0;
}

/* --- coalescing -------------------------------------------------------- */

enum gro_rec_flags {
    GRO_REC_SUPER = 0x01, /* owns its buffer and may hold several segments */
    GRO_REC_PSH = 0x02,   /* the last segment had PSH */
    GRO_REC_V6 = 0x04,
};

const struct offload_gro_cfg offload_gro_cfg_default = {
    .max_segs = 64,
    .max_flows = 8,
    .bufs = 16,
    .max_pkts = 1024,
    .verify_csum = true,
};

/* What offload_gro_add learned about a packet. */
enum gro_kind {
    GRO_OTHER,     /* not TCP: never touches a flow */
    GRO_TCP_ANY,   /* TCP of a flow we cannot tell: closes all flows */
    GRO_TCP_KEYED, /* TCP with a flow key, not a candidate */
    GRO_TCP_CAND,  /* a data segment that may start or extend a super-packet */
};

struct gro_pkt {
    uint8_t key[40];
    uint8_t keylen;
    uint8_t l4off, thlen;
    bool psh;
    size_t hlen, payload;
    uint32_t seq;
};

static bool ipv6_ext_header(uint8_t nh)
{
    switch (nh) {
    case 0:   /* hop-by-hop */
    case 43:  /* routing */
    case 44:  /* fragment */
    case 50:  /* ESP */
    case 51:  /* AH */
    case 60:  /* destination options */
    case 135: /* mobility */
    case 139: /* HIP */
    case 140: /* shim6 */
    case 253:
    case 254: return true;
    default: return false;
    }
}

/* The flow key: version, addresses, ports. Needs l4off + PORTS_LEN <= len. */
static void gro_key(const uint8_t *pkt, size_t l4off, struct gro_pkt *s)
{
    bool v4 = (pkt[0] >> 4) == 4;
    size_t alen = v4 ? 8 : 32, aoff = v4 ? IPV4_ADDRS : IPV6_ADDRS;

    s->key[0] = pkt[0] >> 4;
    memcpy(s->key + 1, pkt + aoff, alen);
    memcpy(s->key + 1 + alen, pkt + l4off, PORTS_LEN);
    s->keylen = (uint8_t)(1 + alen + PORTS_LEN);
}

static enum gro_kind gro_classify(const uint8_t *pkt, size_t len, struct gro_pkt *s, bool *bad_csum)
{
    unsigned version = pkt[0] >> 4;
    size_t l4off, thlen;
    uint8_t flags;

    *bad_csum = false;
    if (version == 4 && len >= IPV4_HDR_LEN && (pkt[0] & 0xf) >= 5) {
        if (pkt[IPV4_PROTO] != IPPROTO_TCP_)
            return GRO_OTHER;
        l4off = (size_t)(pkt[0] & 0xf) * 4;
        if ((get16(pkt + IPV4_FRAG) & IPV4_OFF) || l4off + PORTS_LEN > len)
            return GRO_TCP_ANY;
        gro_key(pkt, l4off, s);
        if (l4off != IPV4_HDR_LEN || (get16(pkt + IPV4_FRAG) & IPV4_MF_OFF) ||
            get16(pkt + IPV4_TOT_LEN) != len)
            return GRO_TCP_KEYED;
    } else if (version == 6 && len >= IPV6_HDR_LEN) {
        if (pkt[IPV6_NEXT] != IPPROTO_TCP_)
            return ipv6_ext_header(pkt[IPV6_NEXT]) ? GRO_TCP_ANY : GRO_OTHER;
        l4off = IPV6_HDR_LEN;
        if (l4off + PORTS_LEN > len)
            return GRO_TCP_ANY;
        gro_key(pkt, l4off, s);
        if ((size_t)get16(pkt + IPV6_PLEN) + IPV6_HDR_LEN != len)
            return GRO_TCP_KEYED;
    } else {
        return GRO_OTHER;
    }
    if (len < l4off + TCP_HDR_LEN)
        return GRO_TCP_KEYED;
    thlen = (size_t)(pkt[l4off + TCP_DOFF] >> 4) * 4;
    flags = pkt[l4off + TCP_FLAGS];
    if (thlen < TCP_HDR_LEN || l4off + thlen >= len || (flags & ~TCP_PSH) != TCP_ACK)
        return GRO_TCP_KEYED; /* bad header, no payload, or flags other than ACK/PSH */
    s->l4off = (uint8_t)l4off;
    s->thlen = (uint8_t)thlen;
    s->hlen = l4off + thlen;
    s->payload = len - s->hlen;
    s->psh = flags & TCP_PSH;
    s->seq = get32(pkt + l4off + TCP_SEQ);
    /* the TCP checksum is checked later, in the same pass as the copy */
    if (version == 4 && offload_csum_ipv4_hdr(pkt, IPV4_HDR_LEN) != 0) {
        *bad_csum = true;
        return GRO_TCP_KEYED;
    }
    return GRO_TCP_CAND;
}

static struct offload_gro_flow *flow_find(struct offload_gro *g, const struct gro_pkt *s)
{
    for (unsigned i = 0; i < g->nflows; i++) {
        struct offload_gro_flow *f = &g->flows[i];

        if (f->keylen == s->keylen && memcmp(f->key, s->key, s->keylen) == 0)
            return f;
    }
    return NULL;
}

/* Ends a flow's super-packet; the rest of its buffer can take single frames. */
static void flow_close(struct offload_gro *g, struct offload_gro_flow *f)
{
    struct offload_gro_rec *r = &g->recs[f->rec];

    g->used[r->buf] = OFFLOAD_VNET_HDR_LEN + r->len;
    *f = g->flows[--g->nflows];
}

static void flow_close_all(struct offload_gro *g)
{
    while (g->nflows)
        flow_close(g, &g->flows[0]);
}

/* May the candidate s be appended to f's super-packet? See offload_gro_add(). */
static bool gro_can_append(const struct offload_gro *g, const struct offload_gro_flow *f,
                           const uint8_t *pkt, const struct gro_pkt *s)
{
    const struct offload_gro_rec *r = &g->recs[f->rec];
    const uint8_t *h = r->frame + OFFLOAD_VNET_HDR_LEN;
    const uint8_t *t = pkt + s->l4off, *ht = h + r->l4off;

    if (s->seq != f->next_seq || s->l4off != r->l4off || s->thlen != r->thlen ||
        s->payload > r->gso_size || r->len + s->payload > OFFLOAD_IP_MAX ||
        r->nseg >= g->cfg.max_segs)
        return false;
    if (r->flags & GRO_REC_V6) {
        /* version, traffic class, flow label; hop limit */
        if (memcmp(pkt, h, IPV6_PLEN) != 0 || pkt[IPV6_HOPS] != h[IPV6_HOPS])
            return false;
    } else {
        if (pkt[IPV4_TOS] != h[IPV4_TOS] || pkt[IPV4_TTL] != h[IPV4_TTL] ||
            get16(pkt + IPV4_FRAG) != get16(h + IPV4_FRAG) || get16(pkt + IPV4_ID) != f->next_id)
            return false;
    }
    /* ACK number and data offset; window; urgent pointer; options */
    return memcmp(t + TCP_ACK_SEQ, ht + TCP_ACK_SEQ, TCP_FLAGS - TCP_ACK_SEQ) == 0 &&
           memcmp(t + TCP_WIN, ht + TCP_WIN, 2) == 0 && memcmp(t + TCP_URG, ht + TCP_URG, 2) == 0 &&
           memcmp(t + TCP_HDR_LEN, ht + TCP_HDR_LEN, s->thlen - TCP_HDR_LEN) == 0;
}

/*
 * Appends s to f's super-packet. With cfg.verify_csum the payload is summed
 * while it is copied into the free space after the super-packet, and the
 * append is committed only if the segment's TCP checksum verifies; false
 * (and nothing changed) if it does not.
 */
static bool gro_append(struct offload_gro *g, struct offload_gro_flow *f, const uint8_t *pkt,
                       const struct gro_pkt *s)
{
    struct offload_gro_rec *r = &g->recs[f->rec];
    uint8_t *dst = r->frame + OFFLOAD_VNET_HDR_LEN + r->len;
    uint32_t sum;

    if (g->cfg.verify_csum) {
        sum = pseudo_of(pkt, IPPROTO_TCP_, (uint32_t)(s->thlen + s->payload));
        sum = offload_csum_partial(pkt + s->l4off, s->thlen, sum);
        sum = offload_csum_add(sum, fold32(sum64_copy(dst, pkt + s->hlen, s->payload)));
        if (offload_csum_fold(sum) != 0)
            return false;
    } else {
        memcpy(dst, pkt + s->hlen, s->payload);
    }
    r->len += (uint32_t)s->payload;
    r->nseg++;
    f->next_seq += (uint32_t)s->payload;
    f->next_id++;
    f->stamp = ++g->clock;
    g->stats.merged++;
    if (s->psh)
        r->flags |= GRO_REC_PSH;
    /* a short or PSH segment is the last (a full one may still be followed
     * by a short one that fits under OFFLOAD_IP_MAX, so size alone does not
     * close) */
    if (s->psh || s->payload < r->gso_size || r->nseg >= g->cfg.max_segs)
        flow_close(g, f);
    return true;
}

/*
 * Finds room for a single frame of need bytes: the current packing buffer,
 * else the tail of a closed super-packet's buffer, else a free buffer (which
 * then can no longer take a super-packet). -1 if there is none.
 */
static int gro_pack_buf(struct offload_gro *g, size_t need)
{
    int b_free = -1;

    if (g->pack >= 0 && OFFLOAD_GRO_BUF_LEN - g->used[g->pack] >= need)
        return g->pack;
    for (unsigned b = 0; b < g->cfg.bufs; b++) {
        if (g->used[b] == 0) {
            if (b_free < 0)
                b_free = (int)b;
        } else if (OFFLOAD_GRO_BUF_LEN - g->used[b] >= need) {
            return (int)b;
        }
    }
    return b_free;
}

static int gro_add_single(struct offload_gro *g, const uint8_t *pkt, size_t len)
{
    size_t need = OFFLOAD_VNET_HDR_LEN + len;
    int b = gro_pack_buf(g, need);
    uint8_t *p;

    if (b < 0)
        return VPXI_ERR_LIMIT;
    g->pack = b;
    p = g->mem + (size_t)b * OFFLOAD_GRO_BUF_LEN + g->used[b];
    g->used[b] += (uint32_t)need;
    memcpy(p + OFFLOAD_VNET_HDR_LEN, pkt, len);
    g->recs[g->nrecs++] =
        (struct offload_gro_rec){ .frame = p, .len = (uint32_t)len, .nseg = 1, .buf = (uint16_t)b };
    return 0;
}

/* Starts a super-packet for s in a free buffer; LIMIT if there is none. */
static int gro_open(struct offload_gro *g, const uint8_t *pkt, size_t len, const struct gro_pkt *s)
{
    struct offload_gro_rec *r = &g->recs[g->nrecs];
    struct offload_gro_flow *f;
    unsigned b, oldest = 0;

    for (b = 0; b < g->cfg.bufs && g->used[b] != 0; b++)
        ;
    if (b == g->cfg.bufs)
        return VPXI_ERR_LIMIT;
    if (g->nflows == g->cfg.max_flows) {
        for (unsigned i = 1; i < g->nflows; i++)
            if (g->flows[i].stamp < g->flows[oldest].stamp)
                oldest = i;
        flow_close(g, &g->flows[oldest]);
    }
    if (g->pack == (int)b)
        g->pack = -1;
    g->used[b] = OFFLOAD_GRO_BUF_LEN;
    *r = (struct offload_gro_rec){
        .frame = g->mem + (size_t)b * OFFLOAD_GRO_BUF_LEN,
        .len = (uint32_t)len,
        .gso_size = (uint16_t)s->payload,
        .nseg = 1,
        .buf = (uint16_t)b,
        .l4off = s->l4off,
        .thlen = s->thlen,
        .flags = GRO_REC_SUPER | (s->key[0] == 6 ? GRO_REC_V6 : 0),
    };
    memcpy(r->frame + OFFLOAD_VNET_HDR_LEN, pkt, len);
    f = &g->flows[g->nflows++];
    memcpy(f->key, s->key, s->keylen);
    f->keylen = s->keylen;
    f->next_seq = s->seq + (uint32_t)s->payload;
    f->next_id = (uint16_t)(get16(pkt + IPV4_ID) + 1);
    f->rec = (uint32_t)g->nrecs;
    f->stamp = ++g->clock;
    g->nrecs++;
    return 0;
}

int offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len)
{
    struct offload_gro_flow *f;
    struct gro_pkt s;
    enum gro_kind kind;
    bool bad_csum;
    int r;

    if (len == 0)
        return VPXI_ERR_TRUNCATED;
    if (len > OFFLOAD_IP_MAX)
        return VPXI_ERR_TOO_LARGE;
    if (g->nrecs >= g->cfg.max_pkts)
        return VPXI_ERR_LIMIT;
    kind = gro_classify(pkt, len, &s, &bad_csum);
    if (kind == GRO_TCP_ANY)
        flow_close_all(g);
    if (kind == GRO_TCP_KEYED || kind == GRO_TCP_CAND) {
        f = flow_find(g, &s);
        if (f && kind == GRO_TCP_CAND && gro_can_append(g, f, pkt, &s)) {
            if (gro_append(g, f, pkt, &s)) {
                g->stats.pkts++;
                return 0;
            }
            kind = GRO_TCP_KEYED;
            bad_csum = true;
        }
        if (f)
            flow_close(g, f);
    }
    /* a segment that may start a super-packet must verify first too */
    if (kind == GRO_TCP_CAND && g->cfg.verify_csum && !s.psh && g->cfg.max_segs > 1 &&
        offload_csum_l4(pkt, s.l4off, len, IPPROTO_TCP_) != 0) {
        kind = GRO_TCP_KEYED;
        bad_csum = true;
    }
    /* a PSH segment is always the last: it cannot start a super-packet */
    if (kind == GRO_TCP_CAND && !s.psh && g->cfg.max_segs > 1)
        r = gro_open(g, pkt, len, &s);
    else
        r = gro_add_single(g, pkt, len);
    if (r != 0)
        return r;
    g->stats.pkts++;
    g->stats.bad_csum += bad_csum;
    return 0;
}

/* Turns a super-packet of two or more segments into a GSO frame. */
static void gro_finish_super(const struct offload_gro_rec *r)
{
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = (r->flags & GRO_REC_V6) ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = (uint16_t)(r->l4off + r->thlen),
        .gso_size = r->gso_size,
        .csum_start = r->l4off,
        .csum_offset = TCP_CSUM_OFF,
    };
    uint8_t *p = r->frame + OFFLOAD_VNET_HDR_LEN, *t = p + r->l4off;

    memcpy(r->frame, &vh, sizeof(vh));
    if (r->flags & GRO_REC_V6) {
        put16(p + IPV6_PLEN, (uint16_t)(r->len - IPV6_HDR_LEN));
    } else {
        put16(p + IPV4_TOT_LEN, (uint16_t)r->len);
        put16(p + IPV4_CSUM, 0);
        put16(p + IPV4_CSUM, offload_csum_ipv4_hdr(p, IPV4_HDR_LEN));
    }
    if (r->flags & GRO_REC_PSH)
        t[TCP_FLAGS] |= TCP_PSH;
    /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not complemented */
    store_native16(t + TCP_CSUM_OFF,
                   fold16(pseudo_of(p, IPPROTO_TCP_, (uint32_t)(r->len - r->l4off))));
}

void offload_gro_flush(struct offload_gro *g, offload_emit_fn *emit, void *ctx)
{
    if (!emit)
        vpxi_misuse("offload_gro_flush: no emit function");
    for (size_t i = 0; i < g->nrecs; i++) {
        const struct offload_gro_rec *r = &g->recs[i];

        if (r->nseg >= 2) {
            gro_finish_super(r);
            g->stats.out_super++;
        } else {
            memset(r->frame, 0, OFFLOAD_VNET_HDR_LEN);
            g->stats.out_single++;
        }
        emit(ctx, r->frame, OFFLOAD_VNET_HDR_LEN + (size_t)r->len);
    }
    g->nrecs = 0;
    g->nflows = 0;
    g->pack = -1;
    memset(g->used, 0, g->cfg.bufs * sizeof(*g->used));
}

size_t offload_gro_pending(const struct offload_gro *g)
{
    return g->nrecs;
}

static bool gro_cfg_valid(const struct offload_gro_cfg *c)
{
    return c->max_segs >= 1 && c->max_segs <= 65535 && c->max_flows >= 1 &&
           c->max_flows <= OFFLOAD_GRO_FLOWS_MAX && c->bufs > c->max_flows &&
           c->bufs <= OFFLOAD_GRO_BUFS_MAX && c->max_pkts >= 1 &&
           c->max_pkts <= OFFLOAD_GRO_PKTS_MAX;
}

int offload_gro_init(struct offload_gro *g, const struct offload_gro_cfg *cfg)
{
    int r = VPXI_ERR_INTERNAL;

    memset(g, 0, sizeof(*g));
    g->pack = -1;
    if (!cfg)
        cfg = &offload_gro_cfg_default;
    if (!gro_cfg_valid(cfg)) {
        r = VPXI_ERR_INVALID;
        goto out;
    }
    g->cfg = *cfg;
    g->mem = vpxi_malloc((size_t)cfg->bufs * OFFLOAD_GRO_BUF_LEN);
    g->used = vpxi_calloc(cfg->bufs, sizeof(*g->used));
    g->recs = vpxi_calloc(cfg->max_pkts, sizeof(*g->recs));
    if (!g->mem || !g->used || !g->recs) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    r = 0;
out:
    if (r != 0)
        offload_gro_clear(g);
    return r;
}

void offload_gro_clear(struct offload_gro *g)
{
    vpxi_free(g->mem);
    vpxi_free(g->used);
    vpxi_free(g->recs);
    memset(g, 0, sizeof(*g));
    g->pack = -1;
}
