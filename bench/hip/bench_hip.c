/*
 * bench_hip.c - cost of the HIP control plane (lib/hip/), in memory, one
 * thread: a full base exchange (both ends, I1 to R2 processed) per key type
 * and DH group with puzzle difficulty 0 and 10, an UPDATE rekey with and
 * without DH, answering one I1 (the stateless R1 path), and refusing one I2
 * with a bad signature (the work an attacker who solved the puzzle costs
 * us). Keys are generated at start; each row runs for about 0.3 s.
 *
 *   ./bench_hip            prints a table (ms or us per operation)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vpxi/hip.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct sockaddr_storage addr[2];

static void addr4(struct sockaddr_storage *ss, const char *a)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    s->sin_port = htons(VPXI_HIP_UDP_PORT);
    inet_pton(AF_INET, a, &s->sin_addr);
}

static int accept_all(void *ctx, const uint8_t h[VPXI_HIT_LEN], struct vpxi_key *k,
                      const struct vpxi_iov *certs, size_t n, struct vpxi_validity *valid,
                      uint16_t *notify)
{
    (void)ctx, (void)h, (void)k, (void)certs, (void)n, (void)notify;
    valid->not_before = 0;
    valid->not_after = 1 << 30;
    return 0;
}

/* Moves packets until both hosts are quiet; returns the number moved. */
static int pump(struct vpxi_hip_host *h[2], int64_t t)
{
    struct vpxi_hip_output o;
    int moved = 0;
    bool more = true;

    while (more) {
        more = false;
        for (int i = 0; i < 2; i++)
            while (vpxi_hip_poll(h[i], &o) == 0) {
                more = true;
                if (o.kind == VPXI_HIP_OUT_PACKET) {
                    (void)vpxi_hip_input(h[1 - i], &addr[i], &addr[1 - i], o.pkt, o.len, t);
                    moved++;
                }
                vpxi_hip_output_clear(&o);
            }
    }
    return moved;
}

static int hosts(struct vpxi_key *k[2], unsigned group, unsigned puzzle_k,
                 struct vpxi_hip_host *h[2])
{
    static const struct vpxi_hip_callbacks cb = { NULL, accept_all, NULL };
    struct vpxi_hip_config c;

    vpxi_hip_config_default(&c);
    c.dh_groups[0] = (uint8_t)group;
    c.n_dh_groups = 1;
    c.puzzle_k = puzzle_k;
    c.i2_rate_threshold = 0;
    for (int i = 0; i < 2; i++)
        if (vpxi_hip_host_new(k[i], &c, &cb, 0, &h[i]) != 0)
            return -1;
    return 0;
}

static void row_bex(const char *name, struct vpxi_key *k[2], unsigned group, unsigned puzzle_k)
{
    struct vpxi_hip_host *h[2] = { NULL, NULL };
    int64_t t0, spent = 0;
    int n = 0;

    if (hosts(k, group, puzzle_k, h) != 0) {
        printf("%-34s %10s\n", name, "error");
        return;
    }
    t0 = now_ns();
    while (now_ns() - t0 < 300000000 && n < 2000) {
        int64_t s = now_ns(), t = (int64_t)n * 100000; /* 100 s of protocol time apart */
        if (vpxi_hip_connect(h[0], vpxi_hip_host_hit(h[1]), &addr[1], &addr[0], t) != 0 ||
            pump(h, t) != 4) {
            printf("%-34s %10s\n", name, "failed");
            break;
        }
        spent += now_ns() - s;
        n++;
        /* forget the association on both ends (not timed) */
        if (vpxi_hip_close(h[0], vpxi_hip_host_hit(h[1]), t) != 0)
            break;
        pump(h, t);
        vpxi_hip_timer(h[1], t + 50000);
    }
    if (n)
        printf("%-34s %10.2f ms\n", name, (double)spent / n / 1e6);
    vpxi_hip_host_free(h[0]);
    vpxi_hip_host_free(h[1]);
}

static void row_rekey(const char *name, struct vpxi_key *k[2], bool dh)
{
    struct vpxi_hip_host *h[2] = { NULL, NULL };
    int64_t t0;
    int n = 0;

    if (hosts(k, VPXI_DH_P256, 0, h) != 0 ||
        vpxi_hip_connect(h[0], vpxi_hip_host_hit(h[1]), &addr[1], &addr[0], 0) != 0)
        return;
    pump(h, 0);
    vpxi_hip_timer(h[1], 20000); /* Responder: R2-SENT -> ESTABLISHED */
    t0 = now_ns();
    while (now_ns() - t0 < 300000000 && n < 2000) {
        if (vpxi_hip_rekey(h[0], vpxi_hip_host_hit(h[1]), dh, 20000) != 0)
            break;
        pump(h, 20000);
        n++;
    }
    printf("%-34s %10.2f ms\n", name, (double)(now_ns() - t0) / (n ? n : 1) / 1e6);
    vpxi_hip_host_free(h[0]);
    vpxi_hip_host_free(h[1]);
}

/* The R1 path and the refusal of a forged I2. */
static void rows_responder(struct vpxi_key *k[2])
{
    struct vpxi_hip_host *h[2] = { NULL, NULL };
    struct vpxi_hip_output o;
    uint8_t i1[VPXI_HIP_PACKET_MAX], i2[VPXI_HIP_PACKET_MAX];
    size_t l1 = 0, l2 = 0;
    int64_t t0;
    int n;

    if (hosts(k, VPXI_DH_P256, 0, h) != 0 ||
        vpxi_hip_connect(h[0], vpxi_hip_host_hit(h[1]), &addr[1], &addr[0], 0) != 0)
        return;
    if (vpxi_hip_poll(h[0], &o) == 0)
        memcpy(i1, o.pkt, l1 = o.len);
    (void)vpxi_hip_input(h[1], &addr[0], &addr[1], i1, l1, 0);
    if (vpxi_hip_poll(h[1], &o) == 0)
        (void)vpxi_hip_input(h[0], &addr[1], &addr[0], o.pkt, o.len, 0);
    if (vpxi_hip_poll(h[0], &o) == 0)
        memcpy(i2, o.pkt, l2 = o.len);
    i2[l2 - 10] ^= 1; /* a bad signature */
    for (t0 = now_ns(), n = 0; now_ns() - t0 < 300000000; n++) {
        (void)vpxi_hip_input(h[1], &addr[0], &addr[1], i1, l1, 0);
        (void)vpxi_hip_poll(h[1], &o);
    }
    printf("%-34s %10.2f us\n", "I1 -> R1 (precomputed)", (double)(now_ns() - t0) / n / 1e3);
    for (t0 = now_ns(), n = 0; now_ns() - t0 < 300000000; n++)
        (void)vpxi_hip_input(h[1], &addr[0], &addr[1], i2, l2, 0);
    printf("%-34s %10.2f us\n", "I2 refused (bad signature)", (double)(now_ns() - t0) / n / 1e3);
    vpxi_hip_host_free(h[0]);
    vpxi_hip_host_free(h[1]);
}

int main(void)
{
    static const struct {
        const char *name;
        enum vpxi_key_alg alg;
    } algs[] = {
        { "ecdsa-p256", VPXI_KEY_ECDSA_P256 },
        { "ed25519", VPXI_KEY_ED25519 },
        { "rsa-3072", VPXI_KEY_RSA },
    };
    static const struct {
        const char *name;
        unsigned id;
    } groups[] = { { "dh7", VPXI_DH_P256 },
                   { "dh11", VPXI_DH_MODP2048 },
                   { "dh3", VPXI_DH_MODP1536 } };
    struct vpxi_key *k[3][2] = { { NULL } };
    char name[64];

    addr4(&addr[0], "198.18.0.1");
    addr4(&addr[1], "198.18.0.2");
    for (size_t a = 0; a < 3; a++)
        for (int i = 0; i < 2; i++)
            if (vpxi_key_generate(algs[a].alg, 0, &k[a][i]) != 0)
                return 1;
    printf("%-34s %13s\n", "operation (both ends, in memory)", "per op");
    for (size_t a = 0; a < 3; a++)
        for (size_t g = 0; g < 3; g++) {
            if (a > 0 && g > 0)
                continue;
            snprintf(name, sizeof(name), "BEX %s %s K=0", algs[a].name, groups[g].name);
            row_bex(name, k[a], groups[g].id, 0);
        }
    row_bex("BEX ecdsa-p256 dh7 K=10", k[0], VPXI_DH_P256, 10);
    row_rekey("UPDATE rekey with DH (p256)", k[0], true);
    row_rekey("UPDATE rekey without DH (p256)", k[0], false);
    rows_responder(k[0]);
    for (size_t a = 0; a < 3; a++)
        for (int i = 0; i < 2; i++)
            vpxi_key_put(k[a][i]);
    return 0;
}
