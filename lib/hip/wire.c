/*
 * wire.c - HIPv2 header and TLV codec (RFC 7401 5.1-5.2, RFC 7402 5, RFC 6253,
 * RFC 8046 / RFC 5770 locators).
 *
 * Parsing is strict and happens in one pass with the sticky reader:
 *   - header: Next Header 59, Header Length consistent with the datagram
 *     length (no trailing bytes), version 2, both fixed bits, a known packet
 *     type;
 *   - parameters: ascending type order, a parameter that may appear once
 *     appears once, each TLV's padding present, per-type Length rules, and
 *     for each packet type the set of parameters it may carry with their
 *     minimum and maximum counts. An unexpected critical (odd) parameter
 *     stops processing (its type is kept for the NOTIFY); an unexpected
 *     non-critical one is skipped.
 * Padding must be zero (stricter than RFC 7401 5.2.1's "receivers should
 * not check", see read_tlv()); we always send zeros.
 */
#include <string.h>
#include <netinet/in.h>

#include "vpxi/ct.h"
#include "hip/hip_int.h"

/* Length rules per parameter type: Length in [min, max] and a multiple of mult. */
struct len_rule {
    uint16_t type;
    uint16_t min, max, mult;
};

static const struct len_rule len_rules[] = {
    { VPXI_HIP_P_ESP_INFO, HIP_ESP_INFO_LEN, HIP_ESP_INFO_LEN, 1 },
    { VPXI_HIP_P_R1_COUNTER, HIP_R1_COUNTER_LEN, HIP_R1_COUNTER_LEN, 1 },
    { VPXI_HIP_P_LOCATOR_SET, HIP_LOC_T0_LEN, VPXI_HIP_LOCATORS_MAX *HIP_LOC_T2_LEN, 4 },
    { VPXI_HIP_P_PUZZLE, HIP_PUZZLE_HDR + 32, HIP_PUZZLE_HDR + VPXI_HIP_RHASH_MAX, 1 },
    { VPXI_HIP_P_SOLUTION, HIP_PUZZLE_HDR + 64, HIP_PUZZLE_HDR + 2 * VPXI_HIP_RHASH_MAX, 1 },
    { VPXI_HIP_P_SEQ, HIP_SEQ_LEN, HIP_SEQ_LEN, 1 },
    { VPXI_HIP_P_ACK, 4, 4 * HIP_ACK_MAX, 4 },
    { VPXI_HIP_P_DH_GROUP_LIST, 1, 255, 1 },
    { VPXI_HIP_P_DIFFIE_HELLMAN, 3 + 1, 3 + VPXI_DH_PUB_MAX, 1 },
    { VPXI_HIP_P_HIP_CIPHER, 2, 2 * HIP_LIST_PARSE_MAX, 2 },
    { VPXI_HIP_P_ENCRYPTED, HIP_ENC_HDR + 8, VPXI_HIP_PACKET_MAX, 1 },
    { VPXI_HIP_P_HOST_ID, HIP_HOST_ID_HDR + 1, HIP_HOST_ID_HDR + VPXI_HI_MAX + 255, 1 },
    { VPXI_HIP_P_HIT_SUITE_LIST, 1, HIP_LIST_PARSE_MAX, 1 },
    { VPXI_HIP_P_CERT, HIP_CERT_HDR + 1, VPXI_HIP_PACKET_MAX, 1 },
    { VPXI_HIP_P_NOTIFICATION, HIP_NOTIFY_HDR, HIP_NOTIFY_HDR + HIP_NOTIFY_DATA_WIRE_MAX, 1 },
    { VPXI_HIP_P_ECHO_REQUEST_SIGNED, 1, VPXI_HIP_ECHO_MAX, 1 },
    { VPXI_HIP_P_ECHO_RESPONSE_SIGNED, 1, VPXI_HIP_ECHO_MAX, 1 },
    { VPXI_HIP_P_TRANSPORT_FORMAT_LIST, 2, 2 * HIP_LIST_PARSE_MAX, 2 },
    { VPXI_HIP_P_ESP_TRANSFORM, 2 + 2, 2 + 2 * HIP_LIST_PARSE_MAX, 2 },
    { VPXI_HIP_P_HIP_MAC, 32, VPXI_HIP_RHASH_MAX, 1 },
    { VPXI_HIP_P_HIP_MAC_2, 32, VPXI_HIP_RHASH_MAX, 1 },
    { VPXI_HIP_P_HIP_SIGNATURE_2, HIP_SIG_HDR + 1, HIP_SIG_HDR + VPXI_SIG_MAX, 1 },
    { VPXI_HIP_P_HIP_SIGNATURE, HIP_SIG_HDR + 1, HIP_SIG_HDR + VPXI_SIG_MAX, 1 },
    { VPXI_HIP_P_ECHO_RESPONSE_UNSIGNED, 1, VPXI_HIP_ECHO_MAX, 1 },
    { VPXI_HIP_P_ECHO_REQUEST_UNSIGNED, 1, VPXI_HIP_ECHO_MAX, 1 },
};

static const struct len_rule *len_rule(uint16_t type)
{
    for (size_t i = 0; i < sizeof(len_rules) / sizeof(len_rules[0]); i++)
        if (len_rules[i].type == type)
            return &len_rules[i];
    return NULL;
}

/* Which parameters a packet type carries, and how often (RFC 7401 5.3,
 * RFC 7402 5.1, RFC 6253; listed in type order). */
struct allow {
    uint16_t type;
    uint8_t min, max;
};

#define P(t) VPXI_HIP_P_##t
static const struct allow allow_i1[] = { { P(DH_GROUP_LIST), 1, 1 } };
static const struct allow allow_r1[] = {
    { P(R1_COUNTER), 0, 1 },
    { P(PUZZLE), 1, 1 },
    { P(DH_GROUP_LIST), 1, 1 },
    { P(DIFFIE_HELLMAN), 1, 1 },
    { P(HIP_CIPHER), 1, 1 },
    { P(HOST_ID), 1, 1 },
    { P(HIT_SUITE_LIST), 1, 1 },
    { P(ECHO_REQUEST_SIGNED), 0, 1 },
    { P(TRANSPORT_FORMAT_LIST), 1, 1 },
    { P(ESP_TRANSFORM), 1, 1 },
    { P(HIP_SIGNATURE_2), 1, 1 },
    { P(ECHO_REQUEST_UNSIGNED), 0, HIP_UNSIGNED_ECHO_MAX },
};
static const struct allow allow_i2[] = {
    { P(ESP_INFO), 1, 1 },
    { P(R1_COUNTER), 0, 1 },
    { P(SOLUTION), 1, 1 },
    { P(DIFFIE_HELLMAN), 1, 1 },
    { P(HIP_CIPHER), 1, 1 },
    { P(ENCRYPTED), 0, 1 },
    { P(HOST_ID), 0, 1 },
    { P(CERT), 0, VPXI_HIP_CERTS_MAX },
    { P(ECHO_RESPONSE_SIGNED), 0, 1 },
    { P(TRANSPORT_FORMAT_LIST), 1, 1 },
    { P(ESP_TRANSFORM), 1, 1 },
    { P(HIP_MAC), 1, 1 },
    { P(HIP_SIGNATURE), 1, 1 },
    { P(ECHO_RESPONSE_UNSIGNED), 0, HIP_UNSIGNED_ECHO_MAX },
};
static const struct allow allow_r2[] = {
    { P(ESP_INFO), 1, 1 },
    { P(CERT), 0, VPXI_HIP_CERTS_MAX },
    { P(HIP_MAC_2), 1, 1 },
    { P(HIP_SIGNATURE), 1, 1 },
};
static const struct allow allow_update[] = {
    { P(ESP_INFO), 0, 1 },
    { P(LOCATOR_SET), 0, 1 },
    { P(SEQ), 0, 1 },
    { P(ACK), 0, 1 },
    { P(DIFFIE_HELLMAN), 0, 1 },
    { P(CERT), 0, VPXI_HIP_CERTS_MAX },
    { P(ECHO_REQUEST_SIGNED), 0, 1 },
    { P(ECHO_RESPONSE_SIGNED), 0, 1 },
    { P(HIP_MAC), 1, 1 },
    { P(HIP_SIGNATURE), 1, 1 },
    { P(ECHO_RESPONSE_UNSIGNED), 0, HIP_UNSIGNED_ECHO_MAX },
    { P(ECHO_REQUEST_UNSIGNED), 0, HIP_UNSIGNED_ECHO_MAX },
};
static const struct allow allow_notify[] = {
    { P(HOST_ID), 0, 1 },
    { P(NOTIFICATION), 1, HIP_NOTIFICATIONS_MAX },
    { P(HIP_SIGNATURE), 1, 1 },
};
static const struct allow allow_close[] = {
    { P(ECHO_REQUEST_SIGNED), 1, 1 },
    { P(HIP_MAC), 1, 1 },
    { P(HIP_SIGNATURE), 1, 1 },
};
static const struct allow allow_close_ack[] = {
    { P(ECHO_RESPONSE_SIGNED), 1, 1 },
    { P(HIP_MAC), 1, 1 },
    { P(HIP_SIGNATURE), 1, 1 },
};
#undef P

struct pkt_rule {
    uint8_t type;
    const struct allow *allow;
    size_t n;
};

#define RULE(t, a)                                                                                 \
    {                                                                                              \
        VPXI_HIP_##t, a, sizeof(a) / sizeof(a[0])                                                  \
    }
static const struct pkt_rule pkt_rules[] = {
    RULE(I1, allow_i1),         RULE(R1, allow_r1),
    RULE(I2, allow_i2),         RULE(R2, allow_r2),
    RULE(UPDATE, allow_update), RULE(NOTIFY, allow_notify),
    RULE(CLOSE, allow_close),   RULE(CLOSE_ACK, allow_close_ack),
};
#undef RULE

static const struct pkt_rule *pkt_rule(uint8_t type)
{
    for (size_t i = 0; i < sizeof(pkt_rules) / sizeof(pkt_rules[0]); i++)
        if (pkt_rules[i].type == type)
            return &pkt_rules[i];
    return NULL;
}

static int fail(struct hip_msg *m, int r, int drop)
{
    m->drop = drop;
    m->n = 0;
    return r;
}

static int parse_header(struct hip_msg *m, struct vpxi_rd *rd, size_t len)
{
    uint8_t nh, hlen, type, ver;
    size_t total;

    vpxi_rd_u8(rd, &nh);
    vpxi_rd_u8(rd, &hlen);
    vpxi_rd_u8(rd, &type);
    vpxi_rd_u8(rd, &ver);
    vpxi_rd_u16(rd, &m->csum);
    vpxi_rd_u16(rd, &m->controls);
    vpxi_rd_bytes(rd, VPXI_HIT_LEN, &m->shit);
    vpxi_rd_bytes(rd, VPXI_HIT_LEN, &m->rhit);
    if (rd->err)
        return fail(m, VPXI_ERR_TRUNCATED, VPXI_HIP_DROP_TRUNCATED);
    if (ver >> 4 != HIP_VERSION)
        return fail(m, VPXI_ERR_UNSUPPORTED, VPXI_HIP_DROP_BAD_VERSION);
    /* fixed bits (SHIM6 compatibility): byte 2 top bit 0, byte 3 low bit 1 */
    if ((type & 0x80) || !(ver & 0x01) || nh != HIP_NEXT_HEADER)
        return fail(m, VPXI_ERR_BAD_FORMAT, VPXI_HIP_DROP_MALFORMED);
    total = ((size_t)hlen + 1) * 8;
    if (total < VPXI_HIP_HDR_LEN)
        return fail(m, VPXI_ERR_BAD_FORMAT, VPXI_HIP_DROP_MALFORMED);
    if (total > len)
        return fail(m, VPXI_ERR_TRUNCATED, VPXI_HIP_DROP_TRUNCATED);
    if (total < len)
        return fail(m, VPXI_ERR_TRAILING_DATA, VPXI_HIP_DROP_MALFORMED);
    m->type = type;
    if (!pkt_rule(type))
        return fail(m, VPXI_ERR_UNSUPPORTED, VPXI_HIP_DROP_MALFORMED);
    return 0;
}

static const struct allow *find_allow(const struct pkt_rule *pr, uint16_t type)
{
    for (size_t i = 0; i < pr->n; i++)
        if (pr->allow[i].type == type)
            return &pr->allow[i];
    return NULL;
}

/* Reads one TLV; *sub covers its contents. The padding must be zero: the
 * padding of the last parameters is covered by no MAC or signature, and a
 * byte an attacker could flip unnoticed has no business in a packet. */
static int read_tlv(struct vpxi_rd *rd, uint16_t *type, struct vpxi_rd *sub, size_t *size)
{
    const uint8_t *pad;
    size_t padlen;

    vpxi_rd_u16(rd, type);
    if (vpxi_rd_sub16(rd, sub) != 0)
        return rd->err;
    *size = hip_tlv_size(sub->len);
    padlen = *size - HIP_TLV_HDR - sub->len;
    if (vpxi_rd_bytes(rd, padlen, &pad) != 0)
        return rd->err;
    return vpxi_iszero_ct(pad, padlen) ? 0 : VPXI_ERR_BAD_FORMAT;
}

int hip_msg_parse(struct hip_msg *m, const uint8_t *pkt, size_t len)
{
    const struct pkt_rule *pr;
    struct vpxi_rd rd, sub;
    uint16_t type, prev = 0;
    uint8_t counts[HIP_PARAMS_MAX] = { 0 };
    size_t size = 0, off;
    int r;

    memset(m, 0, sizeof(*m));
    m->pkt = pkt;
    m->len = len;
    vpxi_rd_init(&rd, pkt, len);
    if ((r = parse_header(m, &rd, len)) != 0)
        return r;
    pr = pkt_rule(m->type);
    while (vpxi_rd_left(&rd) > 0) {
        const struct allow *al;
        const struct len_rule *lr;
        size_t ai;

        off = len - vpxi_rd_left(&rd);
        if ((r = read_tlv(&rd, &type, &sub, &size)) != 0)
            return fail(
                m, r, r == VPXI_ERR_TRUNCATED ? VPXI_HIP_DROP_TRUNCATED : VPXI_HIP_DROP_MALFORMED);
        if (type < prev)
            return fail(m, VPXI_ERR_ORDER, VPXI_HIP_DROP_ORDER);
        prev = type;
        if ((al = find_allow(pr, type)) == NULL) {
            if (type & 1) {
                m->bad_type = type;
                return fail(m, VPXI_ERR_UNKNOWN_CRITICAL, VPXI_HIP_DROP_UNKNOWN_CRITICAL);
            }
            continue; /* unknown or unexpected non-critical: skipped */
        }
        ai = (size_t)(al - pr->allow);
        if (++counts[ai] > al->max)
            return fail(m, VPXI_ERR_DUPLICATE, VPXI_HIP_DROP_DUPLICATE);
        lr = len_rule(type);
        if (lr && (sub.len < lr->min || sub.len > lr->max || sub.len % lr->mult != 0))
            return fail(m, VPXI_ERR_BAD_FORMAT, VPXI_HIP_DROP_MALFORMED);
        if (m->n == HIP_PARAMS_MAX)
            return fail(m, VPXI_ERR_TOO_LARGE, VPXI_HIP_DROP_MALFORMED);
        m->p[m->n++] = (struct hip_param){
            .type = type, .len = (uint16_t)sub.len, .v = sub.p, .off = off, .size = size
        };
    }
    for (size_t i = 0; i < pr->n; i++)
        if (counts[i] < pr->allow[i].min)
            return fail(m, VPXI_ERR_BAD_FORMAT, VPXI_HIP_DROP_MALFORMED);
    return 0;
}

const struct hip_param *hip_msg_find(const struct hip_msg *m, uint16_t type)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i].type == type)
            return &m->p[i];
    return NULL;
}

size_t hip_msg_count(const struct hip_msg *m, uint16_t type, const struct hip_param **first)
{
    size_t n = 0;

    *first = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i].type == type && n++ == 0)
            *first = &m->p[i];
    return n;
}

/* ---- parameter decoders ---------------------------------------------------- */

static void param_rd(const struct hip_param *p, struct vpxi_rd *rd)
{
    vpxi_rd_init(rd, p->v, p->len);
}

int hip_get_esp_info(const struct hip_param *p, struct hip_esp_info *out)
{
    struct vpxi_rd rd;
    uint16_t reserved;
    int r;

    param_rd(p, &rd);
    vpxi_rd_u16(&rd, &reserved);
    vpxi_rd_u16(&rd, &out->keymat_index);
    vpxi_rd_u32(&rd, &out->old_spi);
    vpxi_rd_u32(&rd, &out->new_spi);
    if ((r = vpxi_rd_end(&rd)) != 0)
        memset(out, 0, sizeof(*out));
    return r;
}

int hip_get_r1_counter(const struct hip_param *p, uint64_t *counter)
{
    struct vpxi_rd rd;

    param_rd(p, &rd);
    vpxi_rd_skip(&rd, 4); /* Reserved */
    vpxi_rd_u64(&rd, counter);
    return vpxi_rd_end(&rd);
}

static int get_puzzle(const struct hip_param *p, size_t n, bool solution, struct hip_puzzle *out)
{
    struct vpxi_rd rd;
    int r;

    memset(out, 0, sizeof(*out));
    if (n == 0 || n > VPXI_HIP_RHASH_MAX)
        return VPXI_ERR_UNSUPPORTED;
    param_rd(p, &rd);
    vpxi_rd_u8(&rd, &out->k);
    vpxi_rd_u8(&rd, &out->lifetime); /* SOLUTION: Reserved */
    vpxi_rd_u16(&rd, &out->opaque);
    vpxi_rd_bytes(&rd, n, &out->i);
    if (solution)
        vpxi_rd_bytes(&rd, n, &out->j);
    if ((r = vpxi_rd_end(&rd)) != 0) {
        memset(out, 0, sizeof(*out));
        return VPXI_ERR_BAD_FORMAT; /* the Length does not fit this RHASH */
    }
    return 0;
}

int hip_get_puzzle(const struct hip_param *p, size_t n, struct hip_puzzle *out)
{
    return get_puzzle(p, n, false, out);
}

int hip_get_solution(const struct hip_param *p, size_t n, struct hip_puzzle *out)
{
    return get_puzzle(p, n, true, out);
}

int hip_get_dh(const struct hip_param *p, uint8_t *group, const uint8_t **pub, size_t *publen)
{
    struct vpxi_rd rd, sub;
    int r;

    param_rd(p, &rd);
    vpxi_rd_u8(&rd, group);
    vpxi_rd_sub16(&rd, &sub);
    *pub = sub.p;
    *publen = sub.len;
    if ((r = vpxi_rd_end(&rd)) != 0 || *publen == 0) {
        *pub = NULL;
        *publen = 0;
        return r ? r : VPXI_ERR_BAD_FORMAT;
    }
    return 0;
}

int hip_get_host_id(const struct hip_param *p, uint16_t *alg, const uint8_t **hi, size_t *hilen)
{
    struct vpxi_rd rd;
    uint16_t hlen, di;
    const uint8_t *d;
    bool bad_di;
    int r;

    param_rd(p, &rd);
    vpxi_rd_u16(&rd, &hlen);
    vpxi_rd_u16(&rd, &di);
    vpxi_rd_u16(&rd, alg);
    vpxi_rd_bytes(&rd, hlen, hi);
    vpxi_rd_bytes(&rd, di & 0x0fff, &d);
    /* DI-Type (4 bits): 0 none (length 0), 1 FQDN, 2 NAI; content not used */
    bad_di = di >> 12 > 2 || (di >> 12 == 0 && (di & 0x0fff) != 0);
    *hilen = hlen;
    if ((r = vpxi_rd_end(&rd)) != 0 || bad_di || hlen == 0 || hlen > VPXI_HI_MAX) {
        *hi = NULL;
        *hilen = 0;
        return r ? r : VPXI_ERR_BAD_FORMAT;
    }
    return 0;
}

int hip_get_u8_list(const struct hip_param *p, uint8_t *out, size_t max, size_t *n)
{
    *n = p->len < max ? p->len : max;
    memcpy(out, p->v, *n);
    return 0;
}

int hip_get_u16_list(const struct hip_param *p, size_t reserved, uint16_t *out, size_t max,
                     size_t *n)
{
    struct vpxi_rd rd;

    *n = 0;
    param_rd(p, &rd);
    vpxi_rd_skip(&rd, reserved);
    while (vpxi_rd_left(&rd) >= 2) {
        uint16_t v;
        vpxi_rd_u16(&rd, &v);
        if (*n < max)
            out[(*n)++] = v;
    }
    if (vpxi_rd_end(&rd) != 0 || *n == 0)
        return VPXI_ERR_BAD_FORMAT;
    return 0;
}

int hip_get_acks(const struct hip_param *p, uint32_t *out, size_t max, size_t *n)
{
    struct vpxi_rd rd;

    *n = 0;
    param_rd(p, &rd);
    while (vpxi_rd_left(&rd) >= 4 && *n < max)
        vpxi_rd_u32(&rd, &out[(*n)++]);
    return vpxi_rd_end(&rd);
}

int hip_get_u32(const struct hip_param *p, uint32_t *v)
{
    struct vpxi_rd rd;

    param_rd(p, &rd);
    vpxi_rd_u32(&rd, v);
    return vpxi_rd_end(&rd);
}

int hip_get_sig(const struct hip_param *p, uint16_t *alg, const uint8_t **sig, size_t *len)
{
    struct vpxi_rd rd;

    param_rd(p, &rd);
    vpxi_rd_u16(&rd, alg);
    *len = vpxi_rd_left(&rd);
    return vpxi_rd_bytes(&rd, *len, sig);
}

int hip_get_cert(const struct hip_param *p, struct hip_cert *out)
{
    struct vpxi_rd rd;

    param_rd(p, &rd);
    vpxi_rd_u8(&rd, &out->group);
    vpxi_rd_u8(&rd, &out->count);
    vpxi_rd_u8(&rd, &out->id);
    vpxi_rd_u8(&rd, &out->type);
    out->len = vpxi_rd_left(&rd);
    return vpxi_rd_bytes(&rd, out->len, &out->data);
}

int hip_get_notification(const struct hip_param *p, uint16_t *type, const uint8_t **data,
                         size_t *len)
{
    struct vpxi_rd rd;

    param_rd(p, &rd);
    vpxi_rd_skip(&rd, 2); /* Reserved */
    vpxi_rd_u16(&rd, type);
    *len = vpxi_rd_left(&rd);
    return vpxi_rd_bytes(&rd, *len, data);
}

/* An IPv6 locator address (IPv4 as ::ffff:a.b.c.d) and port into a sockaddr. */
static void locator_addr(const uint8_t a[16], uint16_t port, struct sockaddr_storage *ss)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    memset(ss, 0, sizeof(*ss));
    if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        memcpy(&s4->sin_addr, a + 12, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        memcpy(&s6->sin6_addr, a, 16);
    }
}

static int get_locator(struct vpxi_rd *rd, struct hip_locator *loc)
{
    uint8_t llen, flags, proto, kind;
    uint16_t port = VPXI_HIP_UDP_PORT;
    uint32_t prio, spi;
    const uint8_t *a;

    memset(loc, 0, sizeof(*loc));
    vpxi_rd_u8(rd, &loc->traffic);
    vpxi_rd_u8(rd, &loc->type);
    vpxi_rd_u8(rd, &llen);
    vpxi_rd_u8(rd, &flags);
    vpxi_rd_u32(rd, &loc->lifetime);
    loc->preferred = flags & HIP_LOC_PREFERRED;
    switch (loc->type) {
    case HIP_LOC_TYPE_IPV6:
        if (llen != (HIP_LOC_T0_LEN - HIP_LOC_HDR) / 4)
            return VPXI_ERR_BAD_FORMAT;
        break;
    case HIP_LOC_TYPE_SPI_IPV6:
        if (llen != (HIP_LOC_T1_LEN - HIP_LOC_HDR) / 4)
            return VPXI_ERR_BAD_FORMAT;
        vpxi_rd_u32(rd, &spi);
        break;
    case HIP_LOC_TYPE_TRANSPORT:
        if (llen != (HIP_LOC_T2_LEN - HIP_LOC_HDR) / 4)
            return VPXI_ERR_BAD_FORMAT;
        vpxi_rd_u16(rd, &port);
        vpxi_rd_u8(rd, &proto);
        vpxi_rd_u8(rd, &kind);
        vpxi_rd_u32(rd, &prio);
        vpxi_rd_u32(rd, &spi);
        if (!rd->err && (proto != HIP_UDP || port == 0))
            return VPXI_ERR_BAD_FORMAT;
        break;
    default: return VPXI_ERR_UNSUPPORTED;
    }
    if (vpxi_rd_bytes(rd, 16, &a) != 0)
        return rd->err;
    locator_addr(a, port, &loc->addr);
    return 0;
}

int hip_get_locators(const struct hip_param *p, struct hip_locator *out, size_t max, size_t *n)
{
    struct vpxi_rd rd;
    int r;

    *n = 0;
    param_rd(p, &rd);
    while (vpxi_rd_left(&rd) > 0) {
        if (*n == max)
            return VPXI_ERR_TOO_LARGE;
        if ((r = get_locator(&rd, &out[*n])) != 0)
            return r;
        (*n)++;
    }
    return vpxi_rd_end(&rd);
}

/* ---- encoders -------------------------------------------------------------- */

void hip_put_header(struct vpxi_wr *w, uint8_t type, uint16_t controls,
                    const uint8_t shit[static VPXI_HIT_LEN],
                    const uint8_t rhit[static VPXI_HIT_LEN])
{
    vpxi_wr_u8(w, HIP_NEXT_HEADER);
    vpxi_wr_u8(w, 0); /* Header Length: hip_finish */
    vpxi_wr_u8(w, type & 0x7f);
    vpxi_wr_u8(w, HIP_VER_BYTE);
    vpxi_wr_u16(w, 0); /* checksum */
    vpxi_wr_u16(w, controls);
    vpxi_wr_bytes(w, shit, VPXI_HIT_LEN);
    vpxi_wr_bytes(w, rhit, VPXI_HIT_LEN);
}

size_t hip_param_begin(struct vpxi_wr *w, uint16_t type)
{
    size_t off = w->len;

    vpxi_wr_u16(w, type);
    vpxi_wr_u16(w, 0);
    return off;
}

void hip_param_end(struct vpxi_wr *w, size_t off)
{
    size_t len;

    if (w->err)
        return;
    len = w->len - off - HIP_TLV_HDR;
    if (len > UINT16_MAX) {
        w->err = VPXI_ERR_TOO_LARGE;
        return;
    }
    vpxi_put_be16(w->p + off + 2, (uint16_t)len);
    vpxi_wr_zero(w, hip_tlv_size(len) - HIP_TLV_HDR - len);
}

void hip_put_param(struct vpxi_wr *w, uint16_t type, const void *v, size_t len)
{
    size_t off = hip_param_begin(w, type);

    vpxi_wr_bytes(w, v, len);
    hip_param_end(w, off);
}

void hip_put_esp_info(struct vpxi_wr *w, uint16_t index, uint32_t old_spi, uint32_t new_spi)
{
    size_t off = hip_param_begin(w, VPXI_HIP_P_ESP_INFO);

    vpxi_wr_u16(w, 0);
    vpxi_wr_u16(w, index);
    vpxi_wr_u32(w, old_spi);
    vpxi_wr_u32(w, new_spi);
    hip_param_end(w, off);
}

void hip_put_u8_list(struct vpxi_wr *w, uint16_t type, const uint8_t *v, size_t n)
{
    hip_put_param(w, type, v, n);
}

void hip_put_u16_list(struct vpxi_wr *w, uint16_t type, size_t reserved, const uint16_t *v,
                      size_t n)
{
    size_t off = hip_param_begin(w, type);

    vpxi_wr_zero(w, reserved);
    for (size_t i = 0; i < n; i++)
        vpxi_wr_u16(w, v[i]);
    hip_param_end(w, off);
}

void hip_put_u32(struct vpxi_wr *w, uint16_t type, uint32_t v)
{
    size_t off = hip_param_begin(w, type);

    vpxi_wr_u32(w, v);
    hip_param_end(w, off);
}

void hip_put_dh(struct vpxi_wr *w, uint8_t group, const uint8_t *pub, size_t len)
{
    size_t off = hip_param_begin(w, VPXI_HIP_P_DIFFIE_HELLMAN);

    vpxi_wr_u8(w, group);
    vpxi_wr_u16(w, (uint16_t)len);
    vpxi_wr_bytes(w, pub, len);
    hip_param_end(w, off);
}

void hip_put_host_id(struct vpxi_wr *w, uint16_t alg, const uint8_t *hi, size_t len)
{
    size_t off = hip_param_begin(w, VPXI_HIP_P_HOST_ID);

    vpxi_wr_u16(w, (uint16_t)len);
    vpxi_wr_u16(w, 0); /* DI-Type 0, DI Length 0 */
    vpxi_wr_u16(w, alg);
    vpxi_wr_bytes(w, hi, len);
    hip_param_end(w, off);
}

void hip_put_notification(struct vpxi_wr *w, uint16_t type, const uint8_t *data, size_t len)
{
    size_t off = hip_param_begin(w, VPXI_HIP_P_NOTIFICATION);

    vpxi_wr_u16(w, 0);
    vpxi_wr_u16(w, type);
    vpxi_wr_bytes(w, data, len);
    hip_param_end(w, off);
}

/* RFC 5770 5.7 transport locators: UDP port, protocol 17, kind 0 (host). */
void hip_put_locators(struct vpxi_wr *w, const struct sockaddr_storage *locs, size_t n,
                      uint32_t lifetime)
{
    size_t off = hip_param_begin(w, VPXI_HIP_P_LOCATOR_SET);

    for (size_t i = 0; i < n; i++) {
        uint8_t a[16] = { 0 };
        uint16_t port = 0;

        if (locs[i].ss_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)&locs[i];
            a[10] = a[11] = 0xff;
            memcpy(a + 12, &s4->sin_addr, 4);
            port = ntohs(s4->sin_port);
        } else {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&locs[i];
            memcpy(a, &s6->sin6_addr, 16);
            port = ntohs(s6->sin6_port);
        }
        vpxi_wr_u8(w, 0); /* traffic type: both */
        vpxi_wr_u8(w, HIP_LOC_TYPE_TRANSPORT);
        vpxi_wr_u8(w, (HIP_LOC_T2_LEN - HIP_LOC_HDR) / 4);
        vpxi_wr_u8(w, i == 0 ? HIP_LOC_PREFERRED : 0);
        vpxi_wr_u32(w, lifetime);
        vpxi_wr_u16(w, port);
        vpxi_wr_u8(w, HIP_UDP);
        vpxi_wr_u8(w, 0);                        /* kind: host */
        vpxi_wr_u32(w, (uint32_t)(n - i) << 16); /* priority: order of the list */
        vpxi_wr_u32(w, 0);                       /* SPI: unused */
        vpxi_wr_bytes(w, a, 16);
    }
    hip_param_end(w, off);
}

int hip_finish(struct vpxi_wr *w)
{
    if (w->err)
        return w->err;
    if (w->len % 8 || w->len < VPXI_HIP_HDR_LEN)
        return VPXI_ERR_INTERNAL;
    if (w->len > VPXI_HIP_PACKET_MAX)
        return VPXI_ERR_TOO_LARGE;
    w->p[1] = (uint8_t)(w->len / 8 - 1);
    w->p[4] = w->p[5] = 0;
    return 0;
}

/* ---- checksum and addresses ------------------------------------------------ */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

uint16_t hip_checksum(const uint8_t *pkt, size_t len, const struct sockaddr_storage *src,
                      const struct sockaddr_storage *dst)
{
    uint8_t ph[40];
    size_t phlen;
    uint32_t s;

    if (!src || !dst || src->ss_family != dst->ss_family || len < VPXI_HIP_HDR_LEN)
        return 0;
    memset(ph, 0, sizeof(ph));
    if (src->ss_family == AF_INET) {
        memcpy(ph, &((const struct sockaddr_in *)src)->sin_addr, 4);
        memcpy(ph + 4, &((const struct sockaddr_in *)dst)->sin_addr, 4);
        ph[9] = HIP_PROTO;
        vpxi_put_be16(ph + 10, (uint16_t)len);
        phlen = 12;
    } else if (src->ss_family == AF_INET6) {
        memcpy(ph, &((const struct sockaddr_in6 *)src)->sin6_addr, 16);
        memcpy(ph + 16, &((const struct sockaddr_in6 *)dst)->sin6_addr, 16);
        vpxi_put_be32(ph + 32, (uint32_t)len);
        ph[39] = HIP_PROTO;
        phlen = 40;
    } else {
        return 0;
    }
    s = sum16(0, ph, phlen);
    s = sum16(s, pkt, 4); /* bytes 4..5 (the checksum) count as zero */
    s = sum16(s, pkt + 6, len - 6);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

size_t hip_addr_bytes(const struct sockaddr_storage *ss, uint8_t out[static HIP_ADDR_BYTES_MAX])
{
    if (!ss)
        return 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        out[0] = 4;
        memcpy(out + 1, &s4->sin_port, 2);
        memcpy(out + 3, &s4->sin_addr, 4);
        return 7;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        out[0] = 6;
        memcpy(out + 1, &s6->sin6_port, 2);
        memcpy(out + 3, &s6->sin6_addr, 16);
        return 19;
    }
    return 0;
}

bool hip_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    uint8_t x[HIP_ADDR_BYTES_MAX], y[HIP_ADDR_BYTES_MAX];
    size_t n = hip_addr_bytes(a, x), m = hip_addr_bytes(b, y);

    return n == m && memcmp(x, y, n) == 0;
}

bool hip_addr_valid(const struct sockaddr_storage *ss)
{
    return ss && (ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
}
