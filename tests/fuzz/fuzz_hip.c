/*
 * fuzz_hip.c - libFuzzer target for the HIP control plane (lib/hip/).
 *
 * At start-up two hosts A (tests/vectors/keys/p256-1.pem) and B (p256-2.pem)
 * complete a base exchange over 198.18.0.1:10500 <-> 198.18.0.2:10500 and
 * stay ESTABLISHED. B's puzzle secrets are set to zero and K is 0, so an I2
 * from tests/fuzz/corpus/hip (written by test_hip_bex with the same keys,
 * secrets and addresses) passes the puzzle and reaches the DH, KEYMAT and
 * HIP_MAC steps. Input: byte 0 selects the mode, the rest is one packet
 * from the HIP header on.
 *
 *   mode 0  parse only, then every parameter decoder on every parameter
 *   mode 1  deliver to B from A's address (bit 2 set: from a stranger)
 *   mode 2  deliver to A from B's address (bit 2 set: from a stranger)
 *   mode 3  "a malicious peer": the packet gets A's HITs (and an ESP_INFO
 *           gets A's current inbound SPI as OLD SPI), its HIP_MAC and
 *           HIP_SIGNATURE are recomputed with A's association key and A's
 *           private key, and it is delivered to B (bit 2: B to A instead);
 *           this reaches everything after authentication (UPDATE, CLOSE,
 *           NOTIFY handling). The hosts are rebuilt afterwards.
 *
 * Invariants (abort on violation): in modes 1 and 2 nobody can forge MACs or
 * signatures, so both associations stay ESTABLISHED with the same SPIs and
 * addresses and no other association appears; in every mode a packet is
 * dropped (nonzero return) exactly when one drop counter moves by exactly
 * one (mode 3: at least by the drop). Outputs are drained and thrown away.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip/hip_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pem_a[] = "-----BEGIN PRIVATE KEY-----\n"
                            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkIad7O9NUuRTam7o\n"
                            "Qn4V6GKNh0rWlYiTTmFPxf224B+hRANCAARuoIx4S1bTh6EzesE63uXFZ1ljoGha\n"
                            "VaXi33UfcsAbG1W+MLhKh+lEhL9OoXboDxabaLqsMXCDodo/PdgIy15c\n"
                            "-----END PRIVATE KEY-----\n";
static const char pem_b[] = "-----BEGIN PRIVATE KEY-----\n"
                            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1IaozG5VhcYF9at1\n"
                            "fS11AqW+fOvSPuVTAZY6HzeF/fihRANCAATtWUw/NE/r0NbGUKtHSBYyGjAXIkOz\n"
                            "M2KXZAJ8uuOk2uV57JBt6GDRp/Z6CPjUvGYm7yLViwWwtyngo946k+ML\n"
                            "-----END PRIVATE KEY-----\n";

#define INVARIANT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_hip: invariant failed at line %d: %s\n", __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct vpxi_hip_host *host[2];
static struct vpxi_key *keys[2];
static struct sockaddr_storage addr[2], stranger;
static uint8_t hit[2][VPXI_HIT_LEN];
static struct vpxi_hip_peer_info info0[2];
static const int64_t now = 1000000;

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
    valid->not_after = 1u << 30;
    return 0;
}

/* Moves packets between the hosts until both are quiet. */
static void pump(bool deliver)
{
    struct vpxi_hip_output o;
    bool more = true;

    while (more) {
        more = false;
        for (int i = 0; i < 2; i++)
            while (vpxi_hip_poll(host[i], &o) == 0) {
                more = true;
                if (deliver && o.kind == VPXI_HIP_OUT_PACKET)
                    (void)vpxi_hip_input(host[1 - i], &addr[i], &addr[1 - i], o.pkt, o.len, now);
                vpxi_hip_output_clear(&o);
            }
    }
}

static void setup(void)
{
    static const struct vpxi_hip_callbacks cb = { NULL, accept_all, NULL };
    const char *pem[2] = { pem_a, pem_b };
    struct vpxi_hip_config cfg;

    vpxi_hip_config_default(&cfg);
    cfg.dh_groups[0] = VPXI_DH_P256;
    cfg.n_dh_groups = 1;
    cfg.i2_rate_threshold = 0;
    cfg.notify_per_sec = 1000000;
    addr4(&addr[0], "198.18.0.1");
    addr4(&addr[1], "198.18.0.2");
    addr4(&stranger, "198.18.0.99");
    for (int i = 0; i < 2; i++) {
        if (!keys[i])
            INVARIANT(vpxi_key_parse((const uint8_t *)pem[i], strlen(pem[i]), &keys[i]) == 0);
        INVARIANT(vpxi_hip_host_new(keys[i], &cfg, &cb, now, &host[i]) == 0);
        memcpy(hit[i], vpxi_hip_host_hit(host[i]), VPXI_HIT_LEN);
        memset(host[i]->gen[0].secret, 0, HIP_SECRET_LEN);
        memset(host[i]->gen[1].secret, 0, HIP_SECRET_LEN);
    }
    INVARIANT(vpxi_hip_connect(host[0], hit[1], &addr[1], &addr[0], now) == 0);
    pump(true);
    for (int i = 0; i < 2; i++) {
        INVARIANT(vpxi_hip_peer_info(host[i], hit[1 - i], &info0[i]) == 0);
        if (info0[i].state == VPXI_HS_R2_SENT)
            INVARIANT(vpxi_hip_esp_seen(host[i], hit[1 - i], info0[i].spi_in, &addr[1 - i], now) ==
                      0);
        pump(true);
        INVARIANT(vpxi_hip_peer_info(host[i], hit[1 - i], &info0[i]) == 0);
        INVARIANT(info0[i].state == VPXI_HS_ESTABLISHED);
    }
}

static void decoders(const struct hip_msg *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct hip_param *p = &m->p[i];
        union {
            struct hip_esp_info ei;
            struct hip_puzzle pz;
            struct hip_cert c;
            uint64_t u64;
            uint32_t u32;
        } u;
        struct hip_locator locs[VPXI_HIP_LOCATORS_MAX];
        uint16_t l16[HIP_LIST_PARSE_MAX], alg;
        uint32_t acks[HIP_ACK_MAX];
        uint8_t l8[HIP_LIST_PARSE_MAX], group;
        const uint8_t *v;
        size_t n;

        switch (p->type) {
        case VPXI_HIP_P_ESP_INFO: (void)hip_get_esp_info(p, &u.ei); break;
        case VPXI_HIP_P_R1_COUNTER: (void)hip_get_r1_counter(p, &u.u64); break;
        case VPXI_HIP_P_LOCATOR_SET:
            if (hip_get_locators(p, locs, VPXI_HIP_LOCATORS_MAX, &n) == 0)
                INVARIANT(n >= 1 && n <= VPXI_HIP_LOCATORS_MAX);
            break;
        case VPXI_HIP_P_PUZZLE:
            (void)hip_get_puzzle(p, 32, &u.pz);
            (void)hip_get_puzzle(p, 48, &u.pz);
            break;
        case VPXI_HIP_P_SOLUTION:
            (void)hip_get_solution(p, 32, &u.pz);
            (void)hip_get_solution(p, 48, &u.pz);
            break;
        case VPXI_HIP_P_SEQ: (void)hip_get_u32(p, &u.u32); break;
        case VPXI_HIP_P_ACK: (void)hip_get_acks(p, acks, HIP_ACK_MAX, &n); break;
        case VPXI_HIP_P_DH_GROUP_LIST:
        case VPXI_HIP_P_HIT_SUITE_LIST: hip_get_u8_list(p, l8, sizeof(l8), &n); break;
        case VPXI_HIP_P_DIFFIE_HELLMAN:
            if (hip_get_dh(p, &group, &v, &n) == 0)
                INVARIANT(n + 3 == p->len);
            break;
        case VPXI_HIP_P_HIP_CIPHER:
        case VPXI_HIP_P_TRANSPORT_FORMAT_LIST:
            (void)hip_get_u16_list(p, 0, l16, HIP_LIST_PARSE_MAX, &n);
            break;
        case VPXI_HIP_P_ESP_TRANSFORM:
            (void)hip_get_u16_list(p, 2, l16, HIP_LIST_PARSE_MAX, &n);
            break;
        case VPXI_HIP_P_HOST_ID:
            if (hip_get_host_id(p, &alg, &v, &n) == 0)
                INVARIANT(n > 0 && n <= VPXI_HI_MAX && v >= p->v && v + n <= p->v + p->len);
            break;
        case VPXI_HIP_P_CERT:
            if (hip_get_cert(p, &u.c) == 0)
                INVARIANT(u.c.len + HIP_CERT_HDR == p->len);
            break;
        case VPXI_HIP_P_NOTIFICATION: (void)hip_get_notification(p, &alg, &v, &n); break;
        case VPXI_HIP_P_HIP_SIGNATURE:
        case VPXI_HIP_P_HIP_SIGNATURE_2: (void)hip_get_sig(p, &alg, &v, &n); break;
        default: break;
        }
    }
}

static uint64_t drop_total(int i)
{
    const struct vpxi_hip_stats *s = vpxi_hip_host_stats(host[i]);
    uint64_t t = 0;

    for (int d = 0; d < VPXI_HIP_DROP_MAX; d++)
        t += s->drops[d];
    return t;
}

/* Gives a packet from -> to the sender's HITs, MAC and signature. */
static void authenticate(int from, uint8_t *pkt, size_t len)
{
    const struct hip_assoc *a = hip_assoc_find(host[from], hit[1 - from]);
    const struct hip_param *p;
    struct hip_msg m;
    uint8_t buf[VPXI_HIP_PACKET_MAX], sig[VPXI_SIG_MAX];
    size_t siglen;

    if (len < VPXI_HIP_HDR_LEN || !a)
        return;
    memcpy(pkt + 8, hit[from], VPXI_HIT_LEN);
    memcpy(pkt + 24, hit[1 - from], VPXI_HIT_LEN);
    if (hip_msg_parse(&m, pkt, len) != 0)
        return;
    /* a rekey replaces the sender's current inbound SPI (random per setup) */
    if ((p = hip_msg_find(&m, VPXI_HIP_P_ESP_INFO)) != NULL && p->len == HIP_ESP_INFO_LEN)
        vpxi_put_be32(pkt + p->off + HIP_TLV_HDR + 4, a->spi_in);
    if ((p = hip_msg_find(&m, VPXI_HIP_P_HIP_MAC)) != NULL && p->len == a->keys.int_len) {
        struct vpxi_iov iov[2] = { { buf, VPXI_HIP_HDR_LEN },
                                   { pkt + VPXI_HIP_HDR_LEN, p->off - VPXI_HIP_HDR_LEN } };
        memcpy(buf, pkt, VPXI_HIP_HDR_LEN);
        buf[1] = (uint8_t)(p->off / 8 - 1);
        buf[4] = buf[5] = 0;
        (void)vpxi_hmac(a->rhash, a->keys.int_out, a->keys.int_len, iov, 2,
                        pkt + p->off + HIP_TLV_HDR);
    }
    if ((p = hip_msg_find(&m, VPXI_HIP_P_HIP_SIGNATURE)) != NULL &&
        p->len == HIP_SIG_HDR + VPXI_P256_SIG_LEN) {
        memcpy(buf, pkt, p->off);
        buf[1] = (uint8_t)(p->off / 8 - 1);
        buf[4] = buf[5] = 0;
        if (vpxi_key_sign(keys[from], VPXI_SIG_ECDSA_SHA256, buf, p->off, sig, sizeof(sig),
                          &siglen) == 0) {
            vpxi_put_be16(pkt + p->off + HIP_TLV_HDR, VPXI_HI_ECDSA);
            memcpy(pkt + p->off + HIP_TLV_HDR + HIP_SIG_HDR, sig, siglen);
        }
    }
}

static void malicious_peer(const uint8_t *data, size_t size, bool reverse)
{
    static uint8_t pkt[VPXI_HIP_PACKET_MAX];
    int from = reverse ? 1 : 0, r;
    uint64_t before;

    if (size > sizeof(pkt))
        return;
    memcpy(pkt, data, size);
    authenticate(from, pkt, size);
    before = drop_total(1 - from);
    r = vpxi_hip_input(host[1 - from], &addr[from], &addr[1 - from], pkt, size, now);
    INVARIANT(r == 0 || drop_total(1 - from) > before);
    pump(true);
    /* the next input starts again from two established hosts */
    vpxi_hip_host_free(host[0]);
    vpxi_hip_host_free(host[1]);
    setup();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct hip_msg m;
    int mode, to, r;
    uint64_t before;

    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 1)
        return 0;
    mode = data[0] % 4;
    data++;
    size--;
    if (mode == 3) {
        malicious_peer(data, size, (data[-1] & 4) != 0);
        return 0;
    }
    if (mode == 0) {
        if (hip_msg_parse(&m, data, size) == 0) {
            INVARIANT(m.n <= HIP_PARAMS_MAX && m.len == size && size % 8 == 0);
            for (size_t i = 0; i < m.n; i++)
                INVARIANT(m.p[i].off + m.p[i].size <= size && m.p[i].size % 8 == 0);
            decoders(&m);
        } else {
            INVARIANT(m.drop >= 0 && m.drop < VPXI_HIP_DROP_MAX && m.n == 0);
        }
        return 0;
    }
    to = mode == 1 ? 1 : 0;
    before = drop_total(to);
    r = vpxi_hip_input(host[to], (data[-1] & 4) ? &stranger : &addr[1 - to], &addr[to], data, size,
                       now);
    INVARIANT(drop_total(to) == before + (r != 0));
    pump(false);
    for (int i = 0; i < 2; i++) {
        struct vpxi_hip_peer_info pi;
        INVARIANT(vpxi_hip_peer_info(host[i], hit[1 - i], &pi) == 0);
        INVARIANT(pi.state == VPXI_HS_ESTABLISHED);
        INVARIANT(pi.spi_in == info0[i].spi_in && pi.spi_out == info0[i].spi_out);
        INVARIANT(hip_addr_equal(&pi.peer_addr, &addr[1 - i]));
        INVARIANT(vpxi_hip_host_stats(host[i])->associations == 1);
    }
    return 0;
}
