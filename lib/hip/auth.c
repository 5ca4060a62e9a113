/*
 * auth.c - HIP_MAC, HIP_MAC_2, HIP_SIGNATURE and HIP_SIGNATURE_2 (RFC 7401
 * 5.2.12-5.2.15, 6.4).
 *
 * Each covers the HIP header and every parameter before it (all parameters
 * are in ascending type order, so "before it" = "type below it"), with the
 * checksum zero and the Header Length as if the packet ended there.
 * HIP_MAC_2 (R2) appends the Responder's HOST_ID TLV as it was sent in R1.
 * HIP_SIGNATURE_2 (R1) is computed with the receiver's HIT, the PUZZLE
 * Opaque field and #I all zero, so one signature serves every Initiator.
 *
 * Signatures (docs/hip.md): RSA-PSS with SHA-256 (MGF1-SHA-256, salt = 32),
 * ECDSA P-256 with SHA-256 as raw r || s (RFC 4754), pure Ed25519.
 */
#include <string.h>

#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum vpxi_sig_scheme hip_sig_scheme(uint16_t hi_alg)
{
    switch (hi_alg) {
    case VPXI_HI_RSA: return VPXI_SIG_RSA_PSS_SHA256;
    case VPXI_HI_ECDSA: return VPXI_SIG_ECDSA_SHA256;
    case VPXI_HI_EDDSA: return VPXI_SIG_ED25519;
    default: return 0;
    }
}

/* The 40-byte header as it enters a MAC or signature over len bytes. */
static void covered_header(const uint8_t *pkt, size_t len, uint8_t hdr[static VPXI_HIP_HDR_LEN])
{
    memcpy(hdr, pkt, VPXI_HIP_HDR_LEN);
    hdr[1] = (uint8_t)(len / 8 - 1);
    hdr[4] = hdr[5] = 0;
}

static int mac_compute(const uint8_t *pkt, size_t upto, enum vpxi_hash_alg alg, const uint8_t *key,
                       size_t keylen, const uint8_t *hostid, size_t hostid_len, uint8_t *out)
{
    uint8_t hdr[VPXI_HIP_HDR_LEN];
    struct vpxi_iov iov[3];

    if (upto < VPXI_HIP_HDR_LEN || (upto + hostid_len) % 8 ||
        upto + hostid_len > VPXI_HIP_PACKET_MAX + HIP_HOST_ID_TLV_MAX)
        return VPXI_ERR_INTERNAL;
    covered_header(pkt, upto + hostid_len, hdr);
    iov[0] = (struct vpxi_iov){ hdr, sizeof(hdr) };
    iov[1] = (struct vpxi_iov){ pkt + VPXI_HIP_HDR_LEN, upto - VPXI_HIP_HDR_LEN };
    iov[2] = (struct vpxi_iov){ hostid, hostid_len };
    return vpxi_hmac(alg, key, keylen, iov, 3, out);
}

int hip_mac_put(struct vpxi_wr *w, enum vpxi_hash_alg alg, const uint8_t *key, size_t keylen,
                const uint8_t *hostid, size_t hostid_len)
{
    uint8_t mac[VPXI_HASH_MAX_LEN];
    size_t n = vpxi_hash_len(alg);
    int r;

    if (w->err)
        return w->err;
    /* HMAC: header | parameters so far [| HOST_ID of R1] */
    if ((r = mac_compute(w->p, w->len, alg, key, keylen, hostid, hostid_len, mac)) != 0)
        return r;
    hip_put_param(w, hostid ? VPXI_HIP_P_HIP_MAC_2 : VPXI_HIP_P_HIP_MAC, mac, n);
    return w->err;
}

int hip_mac_check(const struct hip_msg *m, uint16_t type, enum vpxi_hash_alg alg,
                  const uint8_t *key, size_t keylen, const uint8_t *hostid, size_t hostid_len)
{
    const struct hip_param *p = hip_msg_find(m, type);
    uint8_t mac[VPXI_HASH_MAX_LEN];
    int r;

    if (!p)
        return VPXI_ERR_BAD_FORMAT;
    if (p->len != vpxi_hash_len(alg))
        return VPXI_ERR_BAD_FORMAT;
    if ((r = mac_compute(m->pkt, p->off, alg, key, keylen, hostid, hostid_len, mac)) != 0)
        return r;
    r = vpxi_memeq_ct(mac, p->v, p->len) ? 0 : VPXI_ERR_BAD_MAC;
    vpxi_wipe(mac, sizeof(mac));
    return r;
}

int hip_sig_put(struct vpxi_wr *w, uint16_t type, const struct vpxi_key *k, uint16_t hi_alg)
{
    enum vpxi_sig_scheme s = hip_sig_scheme(hi_alg);
    uint8_t sig[VPXI_SIG_MAX];
    size_t siglen, off;
    int r;

    if (w->err)
        return w->err;
    if (!s)
        return VPXI_ERR_UNSUPPORTED;
    if (w->len < VPXI_HIP_HDR_LEN || w->len % 8)
        return VPXI_ERR_INTERNAL;
    /* the signed header: length up to here, checksum zero (hip_finish
     * rewrites both for the final packet) */
    w->p[1] = (uint8_t)(w->len / 8 - 1);
    w->p[4] = w->p[5] = 0;
    /* SIG / SIG_2 */
    if ((r = vpxi_key_sign(k, s, w->p, w->len, sig, sizeof(sig), &siglen)) != 0)
        return r;
    off = hip_param_begin(w, type);
    vpxi_wr_u16(w, hi_alg);
    vpxi_wr_bytes(w, sig, siglen);
    hip_param_end(w, off);
    return w->err;
}

int hip_sig_check(const struct hip_msg *m, uint16_t type, const struct vpxi_key *k, uint16_t hi_alg)
{
    const struct hip_param *p = hip_msg_find(m, type), *pz;
    enum vpxi_sig_scheme s = hip_sig_scheme(hi_alg);
    uint8_t buf[VPXI_HIP_PACKET_MAX];
    const uint8_t *sig;
    size_t siglen;
    uint16_t alg;

    if (!p || hip_get_sig(p, &alg, &sig, &siglen) != 0)
        return VPXI_ERR_BAD_FORMAT;
    if (!s || alg != hi_alg)
        return VPXI_ERR_BAD_SIG;
    if (p->off > sizeof(buf) || p->off < VPXI_HIP_HDR_LEN)
        return VPXI_ERR_INTERNAL;
    memcpy(buf, m->pkt, p->off);
    covered_header(m->pkt, p->off, buf);
    if (type == VPXI_HIP_P_HIP_SIGNATURE_2) {
        /* receiver's HIT, PUZZLE Opaque and #I are not signed */
        memset(buf + VPXI_HIP_HDR_LEN - VPXI_HIT_LEN, 0, VPXI_HIT_LEN);
        if ((pz = hip_msg_find(m, VPXI_HIP_P_PUZZLE)) != NULL && pz->off < p->off)
            memset(buf + pz->off + HIP_TLV_HDR + 2, 0, pz->len - 2);
    }
    return vpxi_key_verify(k, s, buf, p->off, sig, siglen) == 0 ? 0 : VPXI_ERR_BAD_SIG;
}
