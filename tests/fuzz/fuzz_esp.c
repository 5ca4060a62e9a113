/*
 * fuzz_esp.c - libFuzzer target for ESP open (lib/esp/esp.c).
 *
 * Input: byte 0 selects the mode (bit 0) and the suite ((byte 0 >> 1) % 4:
 * 13, 7, 8); bytes 1..8 are a big-endian 64-bit sequence number. Keys are
 * fixed (below; tests/fuzz/corpus/esp holds packets sealed with them).
 *
 *   mode 0  open bytes 9.. as an ESP packet, the window's right edge set to
 *           the number (0: a fresh SA). On success the inner packet must lie
 *           inside the input and the window must have moved to the packet's
 *           number; on failure every output must be zero.
 *   mode 1  byte 9 is the next header, bytes 10..11 an inner length L, then
 *           L inner bytes, then edit operations (4 bytes each: op, position
 *           (2), value) applied to the sealed packet: xor a byte, set a byte,
 *           truncate, append. The outbound SA starts at the number, the
 *           inbound window right below it. Invariants: a packet opens iff it
 *           is unchanged, and then to exactly the sealed inner packet and
 *           next header; a failed open leaves the window where it was, so
 *           the original still opens afterwards.
 *
 * Any violation aborts. esp.c is included to set sequence numbers directly.
 */
#include <stdlib.h>
#include <string.h>

#include "esp/esp.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned fuzz_suites[] = { VPXI_ESP_AES128GCM16, VPXI_ESP_NULL_SHA256,
                                        VPXI_ESP_AES128CBC_SHA256, VPXI_ESP_AES128GMAC };
enum {
    FUZZ_SPI = 0x00001234,
    FUZZ_HDR = 9, /* mode/suite byte + 64-bit number */
    FUZZ_BUF = 70000,
};

/* enc bytes 0x00.. (CBC: 0x20..), GCM salt a0a1a2a3, auth bytes 0x40.. */
static struct vpxi_esp_keys fuzz_keys(unsigned suite)
{
    struct vpxi_esp_keys k;

    memset(&k, 0, sizeof(k));
    k.enc_len = vpxi_esp_enc_key_len(suite);
    k.auth_len = vpxi_esp_auth_key_len(suite);
    for (size_t i = 0; i < k.enc_len; i++)
        k.enc[i] = (uint8_t)(suite == VPXI_ESP_AES128CBC_SHA256 ? 0x20 + i : i);
    if (suite == VPXI_ESP_AES128GCM16) {
        static const uint8_t salt[4] = { 0xa0, 0xa1, 0xa2, 0xa3 };
        memcpy(k.enc + 16, salt, 4);
    }
    for (size_t i = 0; i < k.auth_len; i++)
        k.auth[i] = (uint8_t)(0x40 + i);
    return k;
}

static void open_raw(struct vpxi_esp_in *in, uint64_t top, const uint8_t *p, size_t n)
{
    uint8_t *pkt = malloc(n ? n : 1), *inner = (uint8_t *)1, nh = 1;
    size_t inner_len = 1;
    int r;

    if (!pkt)
        return;
    memcpy(pkt, p, n);
    if (top)
        vpxi_replay_update(&in->win, top);
    r = vpxi_esp_open(in, pkt, n, &inner, &inner_len, &nh);
    if (r == 0) {
        if (inner < pkt || inner_len > n || (size_t)(inner - pkt) > n - inner_len)
            abort();
        if (vpxi_esp_in_highest(in) < top || vpxi_esp_in_stats(in)->packets != 1)
            abort();
    } else if (inner != NULL || inner_len != 0 || nh != 0) {
        abort();
    }
    free(pkt);
}

/* Applies the edit operations; returns the new length. */
static size_t mutate(uint8_t *pkt, size_t n, size_t cap, const uint8_t *ops, size_t nops)
{
    for (size_t i = 0; i + 4 <= nops; i += 4) {
        size_t pos = (size_t)ops[i + 1] << 8 | ops[i + 2];
        uint8_t val = ops[i + 3];

        switch (ops[i] % 4) {
        case 0:
            if (n)
                pkt[pos % n] ^= val;
            break;
        case 1:
            if (n)
                pkt[pos % n] = val;
            break;
        case 2:
            if (n)
                n = pos % n;
            break;
        case 3:
            if (n < cap)
                pkt[n++] = val;
            break;
        }
    }
    return n;
}

static void seal_mutate_open(struct vpxi_esp_out *o, struct vpxi_esp_in *in, uint64_t seq,
                             const uint8_t *p, size_t n)
{
    static uint8_t sealed[FUZZ_BUF], work[FUZZ_BUF];
    size_t len, slen = 0, wlen, inner_len;
    uint8_t nh, got_nh, *inner;
    bool same;
    int r;

    if (n < 3 || seq == UINT64_MAX)
        return;
    nh = p[0];
    len = (size_t)p[1] << 8 | p[2];
    p += 3;
    n -= 3;
    if (len > n)
        len = n;
    o->seq = seq;
    if (seq)
        vpxi_replay_update(&in->win, seq);
    if (vpxi_esp_seal(o, nh, p, len, sealed, sizeof(sealed), &slen) != 0)
        abort();
    memcpy(work, sealed, slen);
    wlen = mutate(work, slen, sizeof(work), p + len, n - len);
    same = wlen == slen && memcmp(work, sealed, slen) == 0;

    r = vpxi_esp_open(in, work, wlen, &inner, &inner_len, &got_nh);
    if (nh == VPXI_ESP_NH_NONE) {
        if (same != (r == VPXI_ERR_NOT_FOUND) || (r == 0))
            abort();
    } else if (r == 0) {
        /* never different plaintext: only the sealed packet itself opens */
        if (!same || inner_len != len || got_nh != nh || memcmp(inner, p, len) != 0)
            abort();
    } else if (same) {
        abort();
    }
    if (same)
        return;
    /* the failure changed nothing: the original still opens */
    memcpy(work, sealed, slen);
    r = vpxi_esp_open(in, work, slen, &inner, &inner_len, &got_nh);
    if (nh == VPXI_ESP_NH_NONE ? r != VPXI_ERR_NOT_FOUND
                               : (r != 0 || inner_len != len || memcmp(inner, p, len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned suite;
    struct vpxi_esp_keys k;
    struct vpxi_esp_out *o = NULL;
    struct vpxi_esp_in *in = NULL;
    uint64_t seq;

    if (size < FUZZ_HDR)
        return 0;
    suite = fuzz_suites[(data[0] >> 1) % (sizeof(fuzz_suites) / sizeof(fuzz_suites[0]))];
    seq = vpxi_get_be64(data + 1);
    k = fuzz_keys(suite);
    if (vpxi_esp_out_new(suite, FUZZ_SPI, &k, &o) != 0 ||
        vpxi_esp_in_new(suite, FUZZ_SPI, &k, &in) != 0)
        abort();
    vpxi_esp_out_set_limits(o, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    if (data[0] & 1)
        seal_mutate_open(o, in, seq, data + FUZZ_HDR, size - FUZZ_HDR);
    else
        open_raw(in, seq, data + FUZZ_HDR, size - FUZZ_HDR);
    vpxi_esp_out_free(o);
    vpxi_esp_in_free(in);
    return 0;
}
