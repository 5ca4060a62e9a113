/*
 * bench_esp.c - ESP seal/open throughput per suite, beside raw OpenSSL.
 *
 * For inner packets of 64, 1400 and 8000 bytes: vpxi_esp_seal and
 * vpxi_esp_open for suites 13, 7 and 8, and as the yardstick OpenSSL's
 * AES-128-GCM through EVP doing the least ESP needs per packet (one keyed
 * context; per packet set the IV, 12 bytes of AAD, the data, the tag). This
 * file calls OpenSSL directly for that baseline only; the library does not.
 *
 * Packets go in batches: seal a batch (timed), then open it (timed), so
 * every open sees fresh sequence numbers and packets warm in cache, as after
 * a recvmmsg. MB/s counts inner bytes (10^6 per second), one thread.
 *
 * Each figure is the best of five rounds, raw and ours interleaved, so that
 * background load on a shared machine hits both alike.
 *
 *   bench_esp [seconds per figure, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "vpxi/crypto.h"
#include "vpxi/esp.h"

enum {
    BATCH = 64,
    SIZE_MAX_BENCH = 8000,
    PKT_CAP = SIZE_MAX_BENCH + VPXI_ESP_OVERHEAD_MAX,
};

static const size_t sizes[] = { 64, 1400, 8000 };
static const unsigned suites[] = { VPXI_ESP_AES128GCM16, VPXI_ESP_NULL_SHA256,
                                   VPXI_ESP_AES128CBC_SHA256, VPXI_ESP_AES128GMAC };

static uint8_t pkts[BATCH][PKT_CAP];
static size_t lens[BATCH];
static uint8_t tags[BATCH][16];
static uint8_t inner[SIZE_MAX_BENCH];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct result {
    double seal, open; /* MB/s */
};

static void die(const char *what)
{
    fprintf(stderr, "bench_esp: %s failed\n", what);
    exit(1);
}

static struct result bench_suite(unsigned suite, size_t len, double secs)
{
    struct vpxi_esp_keys k;
    struct vpxi_esp_out *o;
    struct vpxi_esp_in *in;
    double ts = 0, to = 0, t0, t1, t2;
    uint64_t bytes = 0;

    memset(&k, 0, sizeof(k));
    k.enc_len = vpxi_esp_enc_key_len(suite);
    k.auth_len = vpxi_esp_auth_key_len(suite);
    if (vpxi_random(k.enc, sizeof(k.enc)) != 0 || vpxi_random(k.auth, sizeof(k.auth)) != 0 ||
        vpxi_esp_out_new(suite, 0x1234, &k, &o) != 0 ||
        vpxi_esp_in_new(suite, 0x1234, &k, &in) != 0)
        die("SA setup");
    while (ts + to < secs) {
        t0 = now();
        for (int i = 0; i < BATCH; i++)
            if (vpxi_esp_seal(o, VPXI_ESP_NH_IPV4, inner, len, pkts[i], PKT_CAP, &lens[i]) != 0)
                die("seal");
        t1 = now();
        for (int i = 0; i < BATCH; i++) {
            uint8_t *p, nh;
            size_t n;
            if (vpxi_esp_open(in, pkts[i], lens[i], &p, &n, &nh) != 0 || n != len)
                die("open");
        }
        t2 = now();
        ts += t1 - t0;
        to += t2 - t1;
        bytes += (uint64_t)BATCH * len;
    }
    vpxi_esp_out_free(o);
    vpxi_esp_in_free(in);
    return (struct result){ (double)bytes / ts / 1e6, (double)bytes / to / 1e6 };
}

/* OpenSSL AES-128-GCM, the minimum per packet: IV, AAD, data, tag. */
static struct result bench_raw_gcm(size_t len, double secs)
{
    uint8_t key[16], iv[12] = { 0 }, aad[12] = { 0 };
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
    double ts = 0, to = 0, t0, t1, t2;
    uint64_t bytes = 0, seq = 0;
    int n;

    if (vpxi_random(key, sizeof(key)) != 0 || !e || !d ||
        EVP_EncryptInit_ex(e, EVP_aes_128_gcm(), NULL, key, NULL) != 1 ||
        EVP_DecryptInit_ex(d, EVP_aes_128_gcm(), NULL, key, NULL) != 1)
        die("EVP setup");
    while (ts + to < secs) {
        uint64_t first = seq;

        t0 = now();
        for (int i = 0; i < BATCH; i++) {
            seq++;
            memcpy(iv + 4, &seq, 8);
            memcpy(aad + 4, &seq, 8);
            if (EVP_EncryptInit_ex(e, NULL, NULL, NULL, iv) != 1 ||
                EVP_EncryptUpdate(e, NULL, &n, aad, sizeof(aad)) != 1 ||
                EVP_EncryptUpdate(e, pkts[i], &n, inner, (int)len) != 1 ||
                EVP_EncryptFinal_ex(e, pkts[i] + n, &n) != 1 ||
                EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tags[i]) != 1)
                die("EVP seal");
        }
        t1 = now();
        seq = first;
        for (int i = 0; i < BATCH; i++) {
            seq++;
            memcpy(iv + 4, &seq, 8);
            memcpy(aad + 4, &seq, 8);
            if (EVP_DecryptInit_ex(d, NULL, NULL, NULL, iv) != 1 ||
                EVP_DecryptUpdate(d, NULL, &n, aad, sizeof(aad)) != 1 ||
                EVP_DecryptUpdate(d, pkts[i], &n, pkts[i], (int)len) != 1 ||
                EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_SET_TAG, 16, tags[i]) != 1 ||
                EVP_DecryptFinal_ex(d, pkts[i] + n, &n) != 1)
                die("EVP open");
        }
        t2 = now();
        ts += t1 - t0;
        to += t2 - t1;
        bytes += (uint64_t)BATCH * len;
    }
    EVP_CIPHER_CTX_free(e);
    EVP_CIPHER_CTX_free(d);
    return (struct result){ (double)bytes / ts / 1e6, (double)bytes / to / 1e6 };
}

static void keep_best(struct result *best, struct result r)
{
    if (r.seal > best->seal)
        best->seal = r.seal;
    if (r.open > best->open)
        best->open = r.open;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    enum { ROUNDS = 5, N_SUITES = sizeof(suites) / sizeof(suites[0]) };

    if (secs <= 0)
        secs = 1.0;
    memset(inner, 0x45, sizeof(inner));
    printf("best of %d interleaved rounds of %.2f s each, one thread\n", ROUNDS, secs / ROUNDS);
    printf("%-6s %-22s %10s %10s %10s %10s %10s\n", "bytes", "suite", "seal MB/s", "open MB/s",
           "seal/raw", "open/raw", "Gbit/s min");
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        struct result raw = { 0, 0 }, best[N_SUITES];

        memset(best, 0, sizeof(best));
        /* interleaved, best of several: background load hits all alike */
        for (int round = 0; round < ROUNDS; round++) {
            keep_best(&raw, bench_raw_gcm(sizes[si], secs / ROUNDS));
            for (size_t s = 0; s < N_SUITES; s++)
                keep_best(&best[s], bench_suite(suites[s], sizes[si], secs / ROUNDS));
        }
        printf("%-6zu %-22s %10.0f %10.0f %10s %10s %10.1f\n", sizes[si], "openssl aes-128-gcm",
               raw.seal, raw.open, "", "", (raw.seal < raw.open ? raw.seal : raw.open) * 8 / 1000);
        for (size_t s = 0; s < N_SUITES; s++) {
            struct result r = best[s];
            printf("%-6zu %-22s %10.0f %10.0f %9.0f%% %9.0f%% %10.1f\n", sizes[si],
                   vpxi_esp_suite_name(suites[s]), r.seal, r.open, 100 * r.seal / raw.seal,
                   100 * r.open / raw.open, (r.seal < r.open ? r.seal : r.open) * 8 / 1000);
        }
    }
    return 0;
}
