/*
 * test_hip_wire.c - the HIP header/TLV codec (lib/hip/wire.c) and the
 * MAC/signature spans (lib/hip/auth.c).
 *
 * Known answers: RFC 7401 Appendix C checksums (an I1 from 2001:20::1 to
 * 2001:20::2 with DH_GROUP_LIST {3,4,8}: 0x1a5e over IPv6 2001:db8::1 ->
 * 2001:db8::2, 0xf1ce over IPv4 192.0.2.1 -> 192.0.2.2), independently
 * recomputed in the research notes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "t.h"

#include "hip/hip_int.h"
#include "vpxi/ct.h"

static const uint8_t hit1[16] = { 0x20, 0x01, 0x00, 0x20, [15] = 1 };
static const uint8_t hit2[16] = { 0x20, 0x01, 0x00, 0x20, [15] = 2 };

/* The Appendix C I1. */
static const uint8_t appc_i1[48] = {
    0x3b, 0x05, 0x01, 0x21, 0x00, 0x00, 0x00, 0x00,                            /* header */
    0x20, 0x01, 0x00, 0x20, 0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0x01, /* sender HIT */
    0x20, 0x01, 0x00, 0x20, 0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0x02, /* receiver HIT */
    0x01, 0xff, 0x00, 0x03, 0x03, 0x04, 0x08, 0x00,                            /* DH_GROUP_LIST */
};

static void addr4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    inet_pton(AF_INET, a, &s->sin_addr);
}

static void addr6(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    inet_pton(AF_INET6, a, &s->sin6_addr);
}

static void test_checksum_appendix_c(void)
{
    struct sockaddr_storage s6, d6, s4, d4;

    addr6(&s6, "2001:db8::1", 0);
    addr6(&d6, "2001:db8::2", 0);
    addr4(&s4, "192.0.2.1", 0);
    addr4(&d4, "192.0.2.2", 0);
    CHECK_EQ(hip_checksum(appc_i1, sizeof(appc_i1), &s6, &d6), 0x1a5e);
    CHECK_EQ(hip_checksum(appc_i1, sizeof(appc_i1), &s4, &d4), 0xf1ce);
    /* the checksum field itself is ignored */
    {
        uint8_t p[48];
        memcpy(p, appc_i1, 48);
        vpxi_put_be16(p + 4, 0x1a5e);
        CHECK_EQ(hip_checksum(p, 48, &s6, &d6), 0x1a5e);
    }
    /* mixed families or no addresses: 0 */
    CHECK_EQ(hip_checksum(appc_i1, 48, &s4, &d6), 0);
    CHECK_EQ(hip_checksum(appc_i1, 48, NULL, &d6), 0);
}

static void test_parse_appendix_c(void)
{
    struct hip_msg m;
    const struct hip_param *p;
    uint8_t groups[8];
    size_t n;

    CHECK_OK(hip_msg_parse(&m, appc_i1, sizeof(appc_i1)));
    CHECK_EQ(m.type, VPXI_HIP_I1);
    CHECK_EQ(m.n, 1);
    CHECK_MEM(m.shit, hit1, 16);
    CHECK_MEM(m.rhit, hit2, 16);
    p = hip_msg_find(&m, VPXI_HIP_P_DH_GROUP_LIST);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(p->len, 3);
        CHECK_EQ(p->off, 40);
        CHECK_EQ(p->size, 8);
        CHECK_OK(hip_get_u8_list(p, groups, sizeof(groups), &n));
        CHECK_EQ(n, 3);
        CHECK(groups[0] == 3 && groups[1] == 4 && groups[2] == 8);
    }
    /* our encoder writes the same bytes */
    {
        uint8_t buf[VPXI_HIP_PACKET_MAX];
        struct vpxi_wr w;
        const uint8_t g[3] = { 3, 4, 8 };
        vpxi_wr_init(&w, buf, sizeof(buf));
        hip_put_header(&w, VPXI_HIP_I1, 0, hit1, hit2);
        hip_put_u8_list(&w, VPXI_HIP_P_DH_GROUP_LIST, g, 3);
        CHECK_OK(hip_finish(&w));
        CHECK_EQ(w.len, 48);
        CHECK_MEM(buf, appc_i1, 48);
    }
}

/* Builds an UPDATE carrying most parameter kinds (not cryptographically valid). */
static size_t build_update(uint8_t *buf)
{
    struct vpxi_wr w;
    uint8_t mac[48] = { 0 }, sig[66] = { 0, 7 };
    uint8_t dh[64];
    struct sockaddr_storage locs[2];
    uint8_t echo[5] = { 1, 2, 3, 4, 5 };
    size_t off;

    memset(dh, 0x11, sizeof(dh));
    addr4(&locs[0], "198.18.0.1", 10500);
    addr6(&locs[1], "fd00::1", 10501);
    vpxi_wr_init(&w, buf, VPXI_HIP_PACKET_MAX);
    hip_put_header(&w, VPXI_HIP_UPDATE, 0, hit1, hit2);
    hip_put_esp_info(&w, 96, 0x1234, 0x5678);
    hip_put_locators(&w, locs, 2, 600);
    hip_put_u32(&w, VPXI_HIP_P_SEQ, 7);
    off = hip_param_begin(&w, VPXI_HIP_P_ACK);
    vpxi_wr_u32(&w, 5);
    vpxi_wr_u32(&w, 6);
    hip_param_end(&w, off);
    hip_put_dh(&w, 7, dh, sizeof(dh));
    off = hip_param_begin(&w, VPXI_HIP_P_CERT);
    vpxi_wr_u8(&w, 1);
    vpxi_wr_u8(&w, 1);
    vpxi_wr_u8(&w, 1);
    vpxi_wr_u8(&w, VPXI_HIP_CERT_SPKI);
    vpxi_wr_bytes(&w, "(4:cert)", 8);
    hip_param_end(&w, off);
    hip_put_param(&w, VPXI_HIP_P_ECHO_REQUEST_SIGNED, echo, sizeof(echo));
    hip_put_param(&w, VPXI_HIP_P_HIP_MAC, mac, sizeof(mac));
    hip_put_param(&w, VPXI_HIP_P_HIP_SIGNATURE, sig, sizeof(sig));
    CHECK_OK(hip_finish(&w));
    return w.len;
}

static void test_roundtrip_params(void)
{
    uint8_t buf[VPXI_HIP_PACKET_MAX];
    size_t len = build_update(buf);
    struct hip_msg m;
    const struct hip_param *p;
    struct hip_esp_info ei;
    struct hip_locator locs[VPXI_HIP_LOCATORS_MAX];
    uint32_t v, acks[HIP_ACK_MAX];
    uint8_t group;
    const uint8_t *pub, *sig;
    size_t n, publen, siglen;
    uint16_t alg;
    struct hip_cert c;
    struct sockaddr_storage want;

    CHECK_OK(hip_msg_parse(&m, buf, len));
    CHECK_EQ(m.type, VPXI_HIP_UPDATE);
    CHECK_EQ(m.n, 9);
    CHECK_EQ(len % 8, 0);
    CHECK_EQ(buf[1], len / 8 - 1);
    CHECK_OK(hip_get_esp_info(hip_msg_find(&m, VPXI_HIP_P_ESP_INFO), &ei));
    CHECK(ei.keymat_index == 96 && ei.old_spi == 0x1234 && ei.new_spi == 0x5678);
    CHECK_OK(hip_get_locators(hip_msg_find(&m, VPXI_HIP_P_LOCATOR_SET), locs, VPXI_HIP_LOCATORS_MAX,
                              &n));
    CHECK_EQ(n, 2);
    addr4(&want, "198.18.0.1", 10500);
    CHECK(hip_addr_equal(&locs[0].addr, &want));
    CHECK_EQ(locs[0].preferred, 1);
    CHECK_EQ(locs[0].lifetime, 600);
    addr6(&want, "fd00::1", 10501);
    CHECK(hip_addr_equal(&locs[1].addr, &want));
    CHECK_EQ(locs[1].preferred, 0);
    CHECK_OK(hip_get_u32(hip_msg_find(&m, VPXI_HIP_P_SEQ), &v));
    CHECK_EQ(v, 7);
    CHECK_OK(hip_get_acks(hip_msg_find(&m, VPXI_HIP_P_ACK), acks, HIP_ACK_MAX, &n));
    CHECK(n == 2 && acks[0] == 5 && acks[1] == 6);
    CHECK_OK(hip_get_dh(hip_msg_find(&m, VPXI_HIP_P_DIFFIE_HELLMAN), &group, &pub, &publen));
    CHECK(group == 7 && publen == 64 && pub[0] == 0x11);
    CHECK_OK(hip_get_cert(hip_msg_find(&m, VPXI_HIP_P_CERT), &c));
    CHECK(c.group == 1 && c.count == 1 && c.id == 1 && c.type == 2 && c.len == 8);
    CHECK_OK(hip_get_sig(hip_msg_find(&m, VPXI_HIP_P_HIP_SIGNATURE), &alg, &sig, &siglen));
    CHECK(alg == 7 && siglen == 64);
    p = hip_msg_find(&m, VPXI_HIP_P_ECHO_REQUEST_SIGNED);
    CHECK(p && p->len == 5 && p->size == 16);
}

static void test_parse_negative(void)
{
    uint8_t buf[VPXI_HIP_PACKET_MAX], t[VPXI_HIP_PACKET_MAX];
    size_t len = build_update(buf), i;
    struct hip_msg m;

    /* every truncation */
    for (i = 0; i < len; i++)
        CHECK(hip_msg_parse(&m, buf, i) != 0);
    /* trailing byte after a correct header length */
    memcpy(t, buf, len);
    t[len] = 0;
    CHECK_ERR(hip_msg_parse(&m, t, len + 1), VPXI_ERR_TRAILING_DATA);
    /* header length smaller / larger than the datagram */
    memcpy(t, buf, len);
    t[1]--;
    CHECK(hip_msg_parse(&m, t, len) != 0);
    t[1] += 2;
    CHECK_ERR(hip_msg_parse(&m, t, len), VPXI_ERR_TRUNCATED);
    /* header length below 4 */
    memcpy(t, appc_i1, 48);
    t[1] = 3;
    CHECK(hip_msg_parse(&m, t, 32) != 0);
    /* version 1 */
    memcpy(t, buf, len);
    t[3] = 0x11;
    CHECK_ERR(hip_msg_parse(&m, t, len), VPXI_ERR_UNSUPPORTED);
    CHECK_EQ(m.drop, VPXI_HIP_DROP_BAD_VERSION);
    /* fixed bits */
    memcpy(t, buf, len);
    t[3] = 0x20;
    CHECK_ERR(hip_msg_parse(&m, t, len), VPXI_ERR_BAD_FORMAT);
    memcpy(t, buf, len);
    t[2] |= 0x80;
    CHECK_ERR(hip_msg_parse(&m, t, len), VPXI_ERR_BAD_FORMAT);
    /* next header */
    memcpy(t, buf, len);
    t[0] = 6;
    CHECK_ERR(hip_msg_parse(&m, t, len), VPXI_ERR_BAD_FORMAT);
    /* unknown packet type */
    memcpy(t, buf, len);
    t[2] = 5;
    CHECK(hip_msg_parse(&m, t, len) != 0);
    /* every single header bit: either rejected, or a field the parser does
     * not interpret (reserved bits, checksum, controls, HITs) */
    for (i = 0; i < VPXI_HIP_HDR_LEN * 8; i++) {
        size_t byte = i / 8;
        int r;
        memcpy(t, buf, len);
        t[byte] ^= (uint8_t)(1u << (i % 8));
        r = hip_msg_parse(&m, t, len);
        if (byte == 0 || byte == 1 || byte == 2 || (byte == 3 && (i % 8 == 0 || i % 8 >= 4)))
            CHECK(r != 0);
        else
            CHECK(r == 0);
    }
}

/* Packets assembled from raw TLVs. */
static size_t raw_packet(uint8_t *buf, uint8_t type, const uint16_t *types, const uint16_t *lens,
                         size_t n)
{
    struct vpxi_wr w;
    static const uint8_t zero[VPXI_HIP_PACKET_MAX];

    vpxi_wr_init(&w, buf, VPXI_HIP_PACKET_MAX);
    hip_put_header(&w, type, 0, hit1, hit2);
    for (size_t i = 0; i < n; i++)
        hip_put_param(&w, types[i], zero, lens[i]);
    CHECK_OK(hip_finish(&w));
    return w.len;
}

static void test_parse_rules(void)
{
    uint8_t buf[VPXI_HIP_PACKET_MAX];
    struct hip_msg m;
    size_t len;

    /* CLOSE: ECHO_REQUEST_SIGNED, HIP_MAC, HIP_SIGNATURE */
    {
        const uint16_t ty[] = { 897, 61505, 61697 }, ln[] = { 16, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 3);
        CHECK_OK(hip_msg_parse(&m, buf, len));
    }
    /* reordered */
    {
        const uint16_t ty[] = { 61505, 897, 61697 }, ln[] = { 48, 16, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 3);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_ORDER);
        CHECK_EQ(m.drop, VPXI_HIP_DROP_ORDER);
    }
    /* duplicated */
    {
        const uint16_t ty[] = { 897, 897, 61505, 61697 }, ln[] = { 16, 16, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 4);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_DUPLICATE);
    }
    /* missing mandatory */
    {
        const uint16_t ty[] = { 897, 61697 }, ln[] = { 16, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 2);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    /* unknown critical (odd) parameter, and a known one not allowed here */
    {
        const uint16_t ty[] = { 897, 4097, 61505, 61697 }, ln[] = { 16, 4, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 4);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_UNKNOWN_CRITICAL);
        CHECK_EQ(m.bad_type, 4097);
    }
    {
        const uint16_t ty[] = { 385, 897, 61505, 61697 }, ln[] = { 4, 16, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 4);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_UNKNOWN_CRITICAL);
        CHECK_EQ(m.bad_type, 385);
    }
    /* unknown non-critical (even) parameters are skipped, in order */
    {
        const uint16_t ty[] = { 896, 897, 4096, 61505, 61697, 62000 },
                       ln[] = { 3, 16, 7, 48, 66, 1 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 6);
        CHECK_OK(hip_msg_parse(&m, buf, len));
        CHECK_EQ(m.n, 3);
    }
    /* length rules: SEQ of 8, ESP_INFO of 8, ACK not a multiple of 4,
     * HIP_CIPHER odd, MAC of 20 */
    {
        const uint16_t ty[] = { 385, 61505, 61697 }, ln[] = { 8, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_UPDATE, ty, ln, 3);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    {
        const uint16_t ty[] = { 65, 385, 61505, 61697 }, ln[] = { 8, 4, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_UPDATE, ty, ln, 4);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    {
        const uint16_t ty[] = { 449, 61505, 61697 }, ln[] = { 6, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_UPDATE, ty, ln, 3);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    {
        const uint16_t ty[] = { 385, 61505, 61697 }, ln[] = { 4, 20, 66 };
        len = raw_packet(buf, VPXI_HIP_UPDATE, ty, ln, 3);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    /* a TLV whose Length runs past the end */
    {
        const uint16_t ty[] = { 897, 61505, 61697 }, ln[] = { 16, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 3);
        vpxi_put_be16(buf + 40 + 2, 2000);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_TRUNCATED);
        /* the last TLV's Length one word too long */
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 3);
        vpxi_put_be16(buf + len - 72 + 2, 66 + 8);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_TRUNCATED);
    }
    /* non-zero padding */
    {
        const uint16_t ty[] = { 897, 61505, 61697 }, ln[] = { 13, 48, 66 };
        len = raw_packet(buf, VPXI_HIP_CLOSE, ty, ln, 3);
        CHECK_OK(hip_msg_parse(&m, buf, len));
        buf[40 + 4 + 13] = 1;
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
        buf[40 + 4 + 13] = 0;
        buf[len - 1] = 0x80; /* the signature's padding */
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_BAD_FORMAT);
    }
    /* too many parameters */
    {
        uint16_t ty[HIP_PARAMS_MAX + 4], ln[HIP_PARAMS_MAX + 4];
        for (size_t i = 0; i < HIP_PARAMS_MAX + 4; i++) {
            ty[i] = (uint16_t)(768);
            ln[i] = 5;
        }
        len = raw_packet(buf, VPXI_HIP_R2, ty, ln, VPXI_HIP_CERTS_MAX + 1);
        CHECK_ERR(hip_msg_parse(&m, buf, len), VPXI_ERR_DUPLICATE);
    }
}

static void test_param_decoders_negative(void)
{
    struct hip_param p;
    uint8_t v[64] = { 0 };
    struct hip_puzzle pz;
    uint16_t alg;
    const uint8_t *hi;
    size_t n;
    uint8_t group;
    const uint8_t *pub;

    /* PUZZLE length must match the RHASH */
    p = (struct hip_param){ .type = VPXI_HIP_P_PUZZLE, .len = 36, .v = v };
    CHECK_OK(hip_get_puzzle(&p, 32, &pz));
    CHECK(hip_get_puzzle(&p, 48, &pz) != 0);
    p.len = 52;
    CHECK(hip_get_puzzle(&p, 32, &pz) != 0);
    /* SOLUTION */
    p = (struct hip_param){ .type = VPXI_HIP_P_SOLUTION, .len = 68, .v = v };
    CHECK_OK(hip_get_solution(&p, 32, &pz));
    CHECK(hip_get_solution(&p, 48, &pz) != 0);
    /* DIFFIE_HELLMAN: the inner length must fill the parameter */
    v[0] = 7;
    vpxi_put_be16(v + 1, 4);
    p = (struct hip_param){ .type = VPXI_HIP_P_DIFFIE_HELLMAN, .len = 7, .v = v };
    CHECK_OK(hip_get_dh(&p, &group, &pub, &n));
    CHECK_EQ(n, 4);
    p.len = 8;
    CHECK(hip_get_dh(&p, &group, &pub, &n) != 0);
    p.len = 6;
    CHECK(hip_get_dh(&p, &group, &pub, &n) != 0);
    vpxi_put_be16(v + 1, 0);
    p.len = 3;
    CHECK(hip_get_dh(&p, &group, &pub, &n) != 0);
    /* HOST_ID: HI length, DI type/length */
    memset(v, 0, sizeof(v));
    vpxi_put_be16(v, 4);     /* HI length */
    vpxi_put_be16(v + 2, 0); /* no DI */
    vpxi_put_be16(v + 4, 13);
    p = (struct hip_param){ .type = VPXI_HIP_P_HOST_ID, .len = 10, .v = v };
    CHECK_OK(hip_get_host_id(&p, &alg, &hi, &n));
    CHECK(alg == 13 && n == 4);
    p.len = 11;
    CHECK(hip_get_host_id(&p, &alg, &hi, &n) != 0);
    vpxi_put_be16(v + 2, 0x0001); /* DI type 0 with a length */
    p.len = 11;
    CHECK(hip_get_host_id(&p, &alg, &hi, &n) != 0);
    vpxi_put_be16(v + 2, 0x1001); /* FQDN of 1 byte */
    CHECK_OK(hip_get_host_id(&p, &alg, &hi, &n));
    vpxi_put_be16(v + 2, 0x3000); /* DI type 3 */
    p.len = 10;
    CHECK(hip_get_host_id(&p, &alg, &hi, &n) != 0);
    vpxi_put_be16(v + 2, 0);
    vpxi_put_be16(v, 0); /* empty HI */
    p.len = 6;
    CHECK(hip_get_host_id(&p, &alg, &hi, &n) != 0);
}

static void test_locators_negative(void)
{
    uint8_t v[64] = { 0 };
    struct hip_param p = { .type = VPXI_HIP_P_LOCATOR_SET, .v = v };
    struct hip_locator locs[2];
    size_t n;

    /* type 0, length 4 words: IPv6 */
    v[1] = 0;
    v[2] = 4;
    v[3] = 1;
    v[8] = 0xfd;
    p.len = 24;
    CHECK_OK(hip_get_locators(&p, locs, 2, &n));
    CHECK(n == 1 && locs[0].addr.ss_family == AF_INET6);
    v[2] = 5; /* wrong locator length */
    CHECK(hip_get_locators(&p, locs, 2, &n) != 0);
    v[2] = 4;
    v[1] = 9; /* unknown type */
    CHECK(hip_get_locators(&p, locs, 2, &n) != 0);
    v[1] = 0;
    p.len = 20; /* truncated */
    CHECK(hip_get_locators(&p, locs, 2, &n) != 0);
    /* type 2 with protocol other than UDP */
    memset(v, 0, sizeof(v));
    v[1] = 2;
    v[2] = 7;
    v[8] = 0x29;
    v[9] = 0x04;
    v[10] = 6;
    p.len = 36;
    CHECK(hip_get_locators(&p, locs, 2, &n) != 0);
    v[10] = 17;
    CHECK_OK(hip_get_locators(&p, locs, 2, &n));
    CHECK(n == 1 && ntohs(((struct sockaddr_in6 *)&locs[0].addr)->sin6_port) == 10500);
}

/* HIP_MAC covers header | parameters before it with the header length as if
 * the packet ended there and the checksum zero; signature likewise. */
static void test_mac_and_sig_spans(void)
{
    uint8_t buf[VPXI_HIP_PACKET_MAX], key[48], hostid[24];
    struct vpxi_wr w;
    struct hip_msg m;
    struct vpxi_key *k = NULL;
    uint8_t echo[16] = { 9 };
    uint16_t hi_alg = VPXI_HI_ECDSA;

    memset(key, 0x42, sizeof(key));
    memset(hostid, 0x5a, sizeof(hostid));
    CHECK_OK(vpxi_key_generate(VPXI_KEY_ECDSA_P256, 0, &k));
    if (!k)
        return;
    vpxi_wr_init(&w, buf, sizeof(buf));
    hip_put_header(&w, VPXI_HIP_CLOSE, 0, hit1, hit2);
    hip_put_param(&w, VPXI_HIP_P_ECHO_REQUEST_SIGNED, echo, sizeof(echo));
    CHECK_OK(hip_mac_put(&w, VPXI_HASH_SHA384, key, 48, NULL, 0));
    CHECK_OK(hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE, k, hi_alg));
    CHECK_OK(hip_finish(&w));
    vpxi_put_be16(buf + 4, 0xbeef); /* any checksum */
    CHECK_OK(hip_msg_parse(&m, buf, w.len));
    CHECK_OK(hip_mac_check(&m, VPXI_HIP_P_HIP_MAC, VPXI_HASH_SHA384, key, 48, NULL, 0));
    CHECK_OK(hip_sig_check(&m, VPXI_HIP_P_HIP_SIGNATURE, k, hi_alg));
    /* independent recomputation of the MAC span */
    {
        uint8_t span[128], mac[48];
        struct vpxi_iov iov = { span, 64 };
        memcpy(span, buf, 64);
        span[1] = 64 / 8 - 1;
        span[4] = span[5] = 0;
        CHECK_OK(vpxi_hmac(VPXI_HASH_SHA384, key, 48, &iov, 1, mac));
        CHECK_MEM(mac, buf + 64 + 4, 48);
    }
    /* wrong key, wrong algorithm, flipped byte */
    key[0] ^= 1;
    CHECK_ERR(hip_mac_check(&m, VPXI_HIP_P_HIP_MAC, VPXI_HASH_SHA384, key, 48, NULL, 0),
              VPXI_ERR_BAD_MAC);
    key[0] ^= 1;
    CHECK_ERR(hip_mac_check(&m, VPXI_HIP_P_HIP_MAC, VPXI_HASH_SHA256, key, 32, NULL, 0),
              VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(hip_sig_check(&m, VPXI_HIP_P_HIP_SIGNATURE, k, VPXI_HI_EDDSA), VPXI_ERR_BAD_SIG);
    buf[50] ^= 1;
    CHECK_OK(hip_msg_parse(&m, buf, w.len));
    CHECK_ERR(hip_mac_check(&m, VPXI_HIP_P_HIP_MAC, VPXI_HASH_SHA384, key, 48, NULL, 0),
              VPXI_ERR_BAD_MAC);
    CHECK_ERR(hip_sig_check(&m, VPXI_HIP_P_HIP_SIGNATURE, k, hi_alg), VPXI_ERR_BAD_SIG);

    /* HIP_MAC_2 includes the appended HOST_ID */
    vpxi_wr_init(&w, buf, sizeof(buf));
    hip_put_header(&w, VPXI_HIP_R2, 0, hit1, hit2);
    hip_put_esp_info(&w, 96, 0, 0x1000);
    CHECK_OK(hip_mac_put(&w, VPXI_HASH_SHA256, key, 32, hostid, sizeof(hostid)));
    CHECK_OK(hip_sig_put(&w, VPXI_HIP_P_HIP_SIGNATURE, k, hi_alg));
    CHECK_OK(hip_finish(&w));
    CHECK_OK(hip_msg_parse(&m, buf, w.len));
    CHECK_OK(
        hip_mac_check(&m, VPXI_HIP_P_HIP_MAC_2, VPXI_HASH_SHA256, key, 32, hostid, sizeof(hostid)));
    hostid[3] ^= 1;
    CHECK_ERR(
        hip_mac_check(&m, VPXI_HIP_P_HIP_MAC_2, VPXI_HASH_SHA256, key, 32, hostid, sizeof(hostid)),
        VPXI_ERR_BAD_MAC);
    vpxi_key_put(k);
}

static void test_addr_helpers(void)
{
    struct sockaddr_storage a, b;
    uint8_t x[HIP_ADDR_BYTES_MAX];

    addr4(&a, "198.18.0.1", 10500);
    addr4(&b, "198.18.0.1", 10500);
    CHECK(hip_addr_equal(&a, &b));
    ((struct sockaddr_in *)&b)->sin_port = htons(10501);
    CHECK(!hip_addr_equal(&a, &b));
    CHECK_EQ(hip_addr_bytes(&a, x), 7);
    addr6(&b, "fd00::1", 10500);
    CHECK_EQ(hip_addr_bytes(&b, x), 19);
    CHECK(!hip_addr_equal(&a, &b));
    CHECK(hip_addr_valid(&a) && hip_addr_valid(&b));
    memset(&b, 0, sizeof(b));
    CHECK(!hip_addr_valid(&b));
    CHECK_EQ(hip_addr_bytes(&b, x), 0);
    CHECK_EQ(hip_tlv_size(0), 8);
    CHECK_EQ(hip_tlv_size(4), 8);
    CHECK_EQ(hip_tlv_size(5), 16);
    CHECK_EQ(hip_tlv_size(12), 16);
}

int main(void)
{
    RUN(test_checksum_appendix_c);
    RUN(test_parse_appendix_c);
    RUN(test_roundtrip_params);
    RUN(test_parse_negative);
    RUN(test_parse_rules);
    RUN(test_param_decoders_negative);
    RUN(test_locators_negative);
    RUN(test_mac_and_sig_spans);
    RUN(test_addr_helpers);
    T_DONE();
}
