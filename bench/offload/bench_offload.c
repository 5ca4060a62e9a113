/*
 * bench_offload.c - speed of TUN segmentation and coalescing.
 *
 * Splits a 64 KB TCP super-packet (48 segments of 1348 payload bytes, i.e.
 * 1400-byte IP packets with the timestamp option) as read from TUN, then
 * coalesces those segments back as the receive side does, for IPv4 and
 * IPv6; also the bare checksum over 64 KB and 1400 bytes, and memcpy for
 * scale. Prints segments/s and GB/s (IP bytes through the function).
 *
 * usage: bench_offload [seconds per measurement, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../src/vpxid/node/offload.c"

enum { SEGS = 48, MSS = 1348, SLOT = 2048, HEADROOM = 64 };

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile uint64_t sink;

/* A super-packet as the kernel hands it over: headers, partial checksum. */
static size_t build_super(uint8_t *p, int v, struct virtio_net_hdr *vh)
{
    size_t l4 = v == 4 ? 20 : 40, hl = l4 + 32, len = hl + (size_t)SEGS * MSS;
    uint8_t *t = p + l4;

    memset(p, 0, hl);
    for (size_t i = hl; i < len; i++)
        p[i] = (uint8_t)(i * 131 + 7);
    if (v == 4) {
        p[0] = 0x45;
        put16(p + 2, (uint16_t)len);
        put16(p + 4, 0x1234);
        put16(p + 6, IPV4_DF);
        p[8] = 64;
        p[9] = IPPROTO_TCP_;
        memcpy(p + 12, (uint8_t[]){ 100, 64, 0, 1, 100, 64, 0, 2 }, 8);
        put16(p + 10, offload_csum_ipv4_hdr(p, 20));
    } else {
        put32(p, 0x60000000);
        put16(p + 4, (uint16_t)(len - 40));
        p[6] = IPPROTO_TCP_;
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 2;
    }
    put16(t, 40000);
    put16(t + 2, 5201);
    put32(t + 4, 1000);
    put32(t + 8, 2000);
    t[12] = 8 << 4;
    t[13] = TCP_ACK | TCP_PSH;
    put16(t + 14, 1024);
    memcpy(t + 20, (uint8_t[]){ 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12);
    store_native16(t + 16, fold16(pseudo_of(p, IPPROTO_TCP_, (uint32_t)(len - l4))));
    *vh = (struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                   .gso_type =
                                       v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
                                   .hdr_len = (uint16_t)hl,
                                   .gso_size = MSS,
                                   .csum_start = (uint16_t)l4,
                                   .csum_offset = 16 };
    return len;
}

static void report(const char *what, double secs, double iters, double segs_per_iter,
                   double bytes_per_iter)
{
    printf("%-34s %7.2f Mseg/s %7.2f GB/s %9.0f ns/op\n", what, iters * segs_per_iter / secs / 1e6,
           iters * bytes_per_iter / secs / 1e9, secs / iters * 1e9);
}

static void emit_count(void *ctx, const uint8_t *frame, size_t len)
{
    *(uint64_t *)ctx += len + frame[0];
}

static void bench_split_gro(int v, double secs)
{
    static uint8_t super[70000], slots[SEGS * SLOT];
    struct virtio_net_hdr vh;
    size_t lens[SEGS], len = build_super(super, v, &vh);
    struct offload_out o = {
        .buf = slots, .stride = SLOT, .headroom = HEADROOM, .slots = SEGS, .lens = lens
    };
    char name[64];
    double t0, t;
    uint64_t n, bytes = 0;

    for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
        for (int k = 0; k < 16; k++) {
            if (offload_split(&vh, super, len, &o) != 0 || o.n != SEGS)
                abort();
            sink += lens[SEGS - 1];
        }
        n += 15;
    }
    snprintf(name, sizeof(name), "split IPv%d 64KB -> 48 x 1400", v);
    report(name, t - t0, (double)n, SEGS, (double)len);

    for (int verify = 1; verify >= 0; verify--) {
        struct offload_gro_cfg cfg = offload_gro_cfg_default;
        struct offload_gro g;

        cfg.verify_csum = verify;
        if (offload_gro_init(&g, &cfg) != 0)
            abort();
        for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
            for (int k = 0; k < 16; k++) {
                for (size_t i = 0; i < SEGS; i++)
                    if (offload_gro_add(&g, slots + i * SLOT + HEADROOM, lens[i]) != 0)
                        abort();
                offload_gro_flush(&g, emit_count, &bytes);
            }
            n += 15;
        }
        if (g.stats.out_single != 0 || g.stats.merged != g.stats.pkts - g.stats.out_super)
            abort(); /* every batch must become one super-packet */
        snprintf(name, sizeof(name), "coalesce IPv%d 48 -> 1%s", v, verify ? "" : " (no verify)");
        report(name, t - t0, (double)n, SEGS, (double)len);
        offload_gro_clear(&g);
    }
    sink += bytes;
}

static void bench_csum(size_t len, double secs)
{
    static uint8_t buf[65536 + 8], dst[65536 + 8];
    char name[64];
    double t0, t;
    uint64_t n;

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
        for (int k = 0; k < 64; k++)
            sink += offload_csum_partial(buf, len, (uint32_t)k);
        n += 63;
    }
    snprintf(name, sizeof(name), "checksum %zu B", len);
    report(name, t - t0, (double)n, 1, (double)len);
    for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
        for (int k = 0; k < 64; k++) {
            buf[0] = (uint8_t)k;
            memcpy(dst, buf, len);
            sink += dst[len / 2];
        }
        n += 63;
    }
    snprintf(name, sizeof(name), "memcpy %zu B (for scale)", len);
    report(name, t - t0, (double)n, 1, (double)len);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;

    if (secs <= 0)
        secs = 1.0;
    bench_csum(65536, secs);
    bench_csum(1400, secs);
    bench_split_gro(4, secs);
    bench_split_gro(6, secs);
    return 0;
}
