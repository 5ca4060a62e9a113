/*
 * offload.h - TUN segmentation and receive coalescing, as pure functions.
 *
 * The TUN device runs with IFF_VNET_HDR, TUNSETVNETHDRSZ = 10 and
 * TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6). Every read() then
 * starts with a struct virtio_net_hdr (10 bytes, fields in host byte order:
 * legacy virtio, do not set TUNSETVNETLE/BE) and may carry a TCP
 * "super-packet" of up to 64 KB whose checksum is only partly computed.
 * Every write() must start with such a header too, and may carry a
 * super-packet that the kernel's stack takes in as one skb.
 *
 *   outbound  read(tun) -> offload_split()  -> MTU-sized IP packets -> ESP
 *   inbound   ESP -> offload_gro_add() ... offload_gro_flush() -> write(tun)
 *
 * Nothing here does I/O, allocates on the data path, or trusts its input:
 * a frame read from the local kernel is still checked field by field, and a
 * packet decrypted from a peer is coalesced only when re-segmenting the
 * result gives back exactly the packets that went in.
 *
 * The same file holds the Internet checksum (RFC 1071) helpers both sides
 * use. Partial sums are opaque 32-bit values (one's complement sums kept in
 * the machine's byte order); only offload_csum_fold() turns one into the
 * 16-bit field value.
 */
#ifndef VPXID_NODE_OFFLOAD_H
#define VPXID_NODE_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "vpxi/err.h"

/* Debian 12's uapi headers predate UDP segmentation offload (Linux 5.18). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

enum offload_limits {
    OFFLOAD_VNET_HDR_LEN = 10, /* bytes: sizeof(struct virtio_net_hdr), TUNSETVNETHDRSZ */
    OFFLOAD_IP_MAX = 65535,    /* bytes: largest IP packet the coalescer builds */
    OFFLOAD_PKT_MAX = 65575,   /* bytes: largest packet split accepts (IPv6: 40 + 65535) */
    OFFLOAD_GRO_FLOWS_MAX = 32,
    OFFLOAD_GRO_BUFS_MAX = 256,
    OFFLOAD_GRO_PKTS_MAX = 65536,
    OFFLOAD_GRO_BUF_LEN = 65552, /* bytes per coalescer buffer: vnet hdr + 65535, rounded */
};

/* --- Internet checksum ------------------------------------------------ */

/*
 * Adds the one's complement sum of buf[0..len) to sum and returns the new
 * partial sum. An odd length is padded with a zero byte, so partial sums of
 * consecutive pieces may be combined only if every piece but the last has
 * even length.
 */
uint32_t offload_csum_partial(const void *buf, size_t len, uint32_t sum);

/* One's complement addition of two partial sums. */
uint32_t offload_csum_add(uint32_t a, uint32_t b);

/*
 * Folds a partial sum to 16 bits and complements it: the value to store
 * (big-endian) in a checksum field that was zero while summing. Summed over
 * data that includes a correct checksum field, the result is 0.
 */
uint16_t offload_csum_fold(uint32_t sum);

/* Partial sums of the TCP/UDP pseudo-headers (RFC 9293 3.1, RFC 8200 8.1). */
uint32_t offload_csum_pseudo4(const uint8_t src[static 4], const uint8_t dst[static 4],
                              uint8_t proto, uint32_t l4len);
uint32_t offload_csum_pseudo6(const uint8_t src[static 16], const uint8_t dst[static 16],
                              uint8_t proto, uint32_t l4len);

/*
 * IPv4 header checksum over iph[0..ihl): with the checksum field zeroed it
 * returns the value to store; over a received header it returns 0 if valid.
 */
uint16_t offload_csum_ipv4_hdr(const uint8_t *iph, size_t ihl);

/*
 * TCP/UDP checksum of the IP packet pkt[0..len) whose transport header
 * starts at l4off: the pseudo-header (IPv4 or IPv6, from pkt[0]'s version
 * nibble, with length len - l4off) plus pkt[l4off..len). Same convention as
 * offload_csum_ipv4_hdr(). The caller has checked that the IP header is
 * complete (l4off >= 20 for IPv4, >= 40 for IPv6, l4off <= len).
 */
uint16_t offload_csum_l4(const uint8_t *pkt, size_t l4off, size_t len, uint8_t proto);

/* --- Segmentation (TUN read side) -------------------------------------- */

/*
 * Caller-provided output slots. Segment i is written at
 * buf + i * stride + headroom (headroom leaves space for the ESP header in
 * front so that sealing can happen in place) and its length stored in
 * lens[i]; a segment never exceeds stride - headroom bytes.
 */
struct offload_out {
    uint8_t *buf;
    size_t stride;   /* bytes from one slot to the next */
    size_t headroom; /* bytes left free at the start of each slot */
    size_t slots;    /* number of slots (and of lens[] entries) */
    size_t *lens;
    size_t n; /* out: segments written; 0 on error */
};

/*
 * Cuts one frame read from the TUN device (vh: its virtio_net_hdr, pkt:
 * the len bytes after it, not overlapping out->buf) into complete IP
 * packets with final checksums:
 *
 *   gso NONE, no NEEDS_CSUM     one segment, a copy of pkt.
 *   gso NONE, NEEDS_CSUM        one segment whose checksum is completed
 *                               as the kernel would (sum from csum_start to
 *                               the end, store at csum_start + csum_offset;
 *                               a 0 result is stored as 0xffff). Any IP or
 *                               L4 layout: the headers are not parsed.
 *   gso TCPV4/TCPV6 (+ECN)      ceil(payload / gso_size) TCP segments: IPv4
 *                               total length, ID + i and header checksum,
 *                               or IPv6 payload length; sequence number
 *                               advanced, FIN/PSH only on the last segment,
 *                               CWR only on the first; full TCP checksum.
 *   gso UDP_L4                  likewise for UDP: length and full checksum.
 *
 * GSO frames must be IPv4 without options (not a fragment) or IPv6 whose
 * next header is the transport, with the IP length equal to len and, if
 * NEEDS_CSUM is set, csum_start/csum_offset pointing at the transport
 * checksum. hdr_len is ignored (it may cover payload on the forwarding
 * path); the header length is taken from the packet.
 *
 * Returns 0 (out->n set) or, with nothing usable in out:
 *   VPXI_ERR_TRUNCATED      packet shorter than its headers or IP length
 *   VPXI_ERR_TRAILING_DATA  bytes beyond the IP length of a GSO packet
 *   VPXI_ERR_BAD_FORMAT     inconsistent virtio header or IP/TCP fields
 *                           (gso_size 0, csum_start/offset out of range or
 *                           not at the transport checksum, protocol not the
 *                           gso_type's, SYN/RST in a GSO frame, no payload)
 *   VPXI_ERR_UNSUPPORTED    GSO with IPv4 options, IPv6 extension headers,
 *                           UFO (GSO_UDP) or an unknown gso_type
 *   VPXI_ERR_TOO_LARGE      more segments than slots, a segment larger
 *                           than a slot, or len > OFFLOAD_PKT_MAX
 * The caller drops the frame and counts the code.
 */
VPXI_WUR int offload_split(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len,
                           struct offload_out *out);

/* --- Coalescing (TUN write side) ---------------------------------------- */

struct offload_gro_cfg {
    unsigned max_segs;  /* segments per super-packet, 1..65535 (1: never coalesce) */
    unsigned max_flows; /* flows with an open super-packet, 1..OFFLOAD_GRO_FLOWS_MAX */
    unsigned bufs;      /* 64 KB buffers, max_flows + 1..OFFLOAD_GRO_BUFS_MAX */
    unsigned max_pkts;  /* frames queued before a flush is needed, 1..OFFLOAD_GRO_PKTS_MAX */
    bool verify_csum;   /* check each segment's TCP checksum before merging it */
};

/* 64 segments, 8 flows, 16 buffers (1 MB), 1024 frames, verify. */
extern const struct offload_gro_cfg offload_gro_cfg_default;

struct offload_gro_stats {
    uint64_t pkts;       /* packets accepted by offload_gro_add() */
    uint64_t merged;     /* of those, appended to an earlier packet's super-packet */
    uint64_t out_super;  /* frames emitted with GSO (2 segments or more) */
    uint64_t out_single; /* frames emitted with gso NONE */
    uint64_t bad_csum;   /* TCP packets with a wrong IPv4 or TCP checksum, passed on as is */
};

/* Internal state; callers only embed it. */
struct offload_gro_flow {
    uint8_t key[40]; /* version, addresses, ports */
    uint8_t keylen;
    uint16_t next_id; /* IPv4 ID the next segment must carry */
    uint32_t next_seq;
    uint32_t rec; /* index of the open super-packet in recs[] */
    uint64_t stamp;
};

struct offload_gro_rec {
    uint8_t *frame;    /* virtio_net_hdr followed by the IP packet */
    uint32_t len;      /* bytes of IP packet */
    uint16_t gso_size; /* payload bytes of the first segment */
    uint16_t nseg;
    uint16_t buf;
    uint8_t l4off, thlen;
    uint8_t flags; /* GRO_REC_* in offload.c */
};

struct offload_gro {
    struct offload_gro_cfg cfg;
    uint8_t *mem;   /* cfg.bufs * OFFLOAD_GRO_BUF_LEN */
    uint32_t *used; /* bytes taken in each buffer; OFFLOAD_GRO_BUF_LEN while a flow grows there */
    struct offload_gro_rec *recs;
    size_t nrecs;
    struct offload_gro_flow flows[OFFLOAD_GRO_FLOWS_MAX];
    unsigned nflows;
    int pack; /* buffer that takes the next single frame, or -1 */
    uint64_t clock;
    struct offload_gro_stats stats;
};

/*
 * Allocates the buffers (the only allocation). cfg NULL means the default.
 * Returns 0, VPXI_ERR_INVALID (cfg out of range) or VPXI_ERR_NOMEM.
 */
VPXI_WUR int offload_gro_init(struct offload_gro *g, const struct offload_gro_cfg *cfg);
void offload_gro_clear(struct offload_gro *g);

/*
 * Queues one IP packet pkt[0..len) (a whole decrypted inner packet; copied,
 * so pkt may be reused at once). TCP segments of one flow are appended to an
 * open super-packet when, and only when, the result re-segments into exactly
 * the packets given: same IP version, addresses and ports; IPv4 TOS, TTL and
 * flags equal, no options, ID one more than the previous segment's; IPv6
 * first word (traffic class, flow label) and hop limit equal, no extension
 * header; TCP data offset, options (timestamps included, as Linux GRO),
 * ACK number, window and urgent pointer equal; flags ACK, or ACK|PSH on the
 * last segment; sequence number contiguous; every payload but the last of
 * exactly the first one's size; total at most OFFLOAD_IP_MAX bytes and
 * cfg.max_segs segments; IPv4 header checksum correct, and TCP checksum
 * too unless cfg.verify_csum is off, since the kernel will not verify a
 * super-packet (a corrupt segment would be laundered). All
 * other packets (UDP, ICMP, SYN/FIN/RST, pure ACKs, ...) are queued alone
 * and unchanged. A packet that is not appended closes its flow's open
 * super-packet first, so no flow is ever reordered; a TCP packet whose flow
 * cannot be told (a non-first fragment, IPv6 extension headers) closes them
 * all.
 *
 * Returns 0; VPXI_ERR_LIMIT when the queue or the buffers are full (nothing
 * was consumed: flush, then add the packet again, which then succeeds);
 * VPXI_ERR_TRUNCATED for len 0; VPXI_ERR_TOO_LARGE for len > OFFLOAD_IP_MAX.
 */
VPXI_WUR int offload_gro_add(struct offload_gro *g, const uint8_t *pkt, size_t len);

/*
 * Receives each queued frame in order: a struct virtio_net_hdr followed by
 * the packet, ready for one write() to the TUN device. A super-packet has
 * gso_type TCPV4/TCPV6, gso_size the first segment's payload, hdr_len the
 * IP + TCP header length, flags NEEDS_CSUM with csum_start at the TCP
 * header and csum_offset 16, the IP length and IPv4 header checksum
 * updated, PSH set if the last segment had it, and the TCP checksum field
 * holding the folded (not complemented) pseudo-header sum, as for
 * CHECKSUM_PARTIAL. A single frame has an all-zero header and the packet as
 * added: no DATA_VALID, which tun's write path ignores anyway (only the
 * virtio_net driver honours it), and the kernel's check of a lone packet is
 * the end-to-end check ESP does not replace. frame stays valid until the
 * next offload_gro_add() or offload_gro_clear().
 */
typedef void offload_emit_fn(void *ctx, const uint8_t *frame, size_t len);

/* Emits every queued frame in order and empties the coalescer. */
void offload_gro_flush(struct offload_gro *g, offload_emit_fn *emit, void *ctx);

/* Frames queued (what the next flush will emit). */
size_t offload_gro_pending(const struct offload_gro *g);

#endif
