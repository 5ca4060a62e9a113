/*
 * keymat.c - RHASH, KEYMAT and key drawing (RFC 7401 6.5, RFC 7402 7).
 *
 *   RHASH     the Responder's HIT suite hash: suite 1 SHA-256, suite 2
 *             SHA-384; suite 5 (EdDSA) has no HIPv2 RHASH specified: we use
 *             SHA-256 (docs/hip.md). HMAC-RHASH is the HIP_MAC and the KDF.
 *   KEYMAT    HKDF (RFC 5869) with RHASH: PRK = HMAC(salt = #I | #J, Kij),
 *             T(n) = HMAC(PRK, T(n-1) | info | n), info = sort(HIT-I | HIT-R)
 *             (the numerically smaller HIT first), at most 255 blocks.
 *   drawing   HOST_g = the host with the greater HIT. From offset 0:
 *             HIP-gl enc, HIP-gl int, HIP-lg enc, HIP-lg int (enc = HIP_CIPHER
 *             key size, int = RHASH length); then at the ESP_INFO KEYMAT
 *             Index: SA-gl enc, SA-gl auth, SA-lg enc, SA-lg auth (sizes
 *             from esp.h: AES-GCM draws key || 4-byte salt as "enc" and no
 *             auth key).
 */
#include <string.h>

#include "vpxi/ct.h"
#include "hip/hip_int.h"

enum vpxi_hash_alg hip_rhash(unsigned hit_suite)
{
    switch (hit_suite) {
    case VPXI_HIT_SUITE_RSA: return VPXI_HASH_SHA256;
    case VPXI_HIT_SUITE_ECDSA: return VPXI_HASH_SHA384;
    case VPXI_HIT_SUITE_EDDSA: return VPXI_HASH_SHA256;
    default: return VPXI_HASH_NONE;
    }
}

int hip_cipher_key_len(uint16_t cipher)
{
    switch (cipher) {
    case VPXI_HIP_CIPHER_NULL: return 0;
    case VPXI_HIP_CIPHER_AES128_CBC: return 16;
    case VPXI_HIP_CIPHER_AES256_CBC: return 32;
    default: return -1;
    }
}

bool hip_hit_greater(const uint8_t a[static VPXI_HIT_LEN], const uint8_t b[static VPXI_HIT_LEN])
{
    return memcmp(a, b, VPXI_HIT_LEN) > 0; /* public ordering */
}

int hip_keymat_init(struct hip_keymat *km, enum vpxi_hash_alg alg, const uint8_t *kij,
                    size_t kijlen, const uint8_t *i, const uint8_t *j,
                    const uint8_t hit_a[static VPXI_HIT_LEN],
                    const uint8_t hit_b[static VPXI_HIT_LEN])
{
    uint8_t salt[2 * VPXI_HIP_RHASH_MAX];
    struct vpxi_iov iov = { kij, kijlen };
    size_t n = vpxi_hash_len(alg);
    int r;

    memset(km, 0, sizeof(*km));
    if (n == 0 || n > VPXI_HIP_RHASH_MAX)
        return VPXI_ERR_UNSUPPORTED;
    km->alg = alg;
    km->hlen = n;
    if (hip_hit_greater(hit_a, hit_b)) {
        memcpy(km->info, hit_b, VPXI_HIT_LEN);
        memcpy(km->info + VPXI_HIT_LEN, hit_a, VPXI_HIT_LEN);
    } else {
        memcpy(km->info, hit_a, VPXI_HIT_LEN);
        memcpy(km->info + VPXI_HIT_LEN, hit_b, VPXI_HIT_LEN);
    }
    memcpy(salt, i, n);
    memcpy(salt + n, j, n);
    /* HKDF-Extract */
    if ((r = vpxi_hmac(alg, salt, 2 * n, &iov, 1, km->prk)) != 0)
        hip_keymat_clear(km);
    vpxi_wipe(salt, sizeof(salt));
    return r;
}

int hip_keymat_draw(const struct hip_keymat *km, size_t off, uint8_t *out, size_t len)
{
    uint8_t t[VPXI_HASH_MAX_LEN], ctr;
    size_t tlen = 0, pos = 0, done = 0;
    int r = 0;

    if (km->hlen == 0)
        return VPXI_ERR_INTERNAL;
    if (off + len > HIP_KEYMAT_BLOCKS_MAX * km->hlen)
        return VPXI_ERR_LIMIT;
    /* HKDF-Expand, block by block; pos = KEYMAT offset of the block in t */
    for (unsigned n = 1; done < len; n++) {
        struct vpxi_iov iov[3] = { { t, tlen }, { km->info, sizeof(km->info) }, { &ctr, 1 } };

        ctr = (uint8_t)n;
        if ((r = vpxi_hmac(km->alg, km->prk, km->hlen, iov, 3, t)) != 0)
            break;
        tlen = km->hlen;
        if (pos + tlen > off) {
            size_t from = off > pos ? off - pos : 0;
            size_t take = tlen - from < len - done ? tlen - from : len - done;
            memcpy(out + done, t + from, take);
            done += take;
        }
        pos += tlen;
    }
    vpxi_wipe(t, sizeof(t));
    if (r)
        vpxi_wipe(out, len);
    return r;
}

void hip_keymat_clear(struct hip_keymat *km)
{
    vpxi_wipe(km, sizeof(*km));
}

int hip_keys_hip(const struct hip_keymat *km, bool greater, size_t enc_len, struct hip_keys *k,
                 size_t *next)
{
    uint8_t buf[2 * (HIP_HIP_ENC_MAX + VPXI_HASH_MAX_LEN)];
    size_t il = km->hlen, total = 2 * (enc_len + il);
    const uint8_t *gl_enc = buf, *gl_int = buf + enc_len;
    const uint8_t *lg_enc = buf + enc_len + il, *lg_int = buf + 2 * enc_len + il;
    int r;

    memset(k, 0, sizeof(*k));
    *next = 0;
    if (enc_len > HIP_HIP_ENC_MAX || il > VPXI_HASH_MAX_LEN)
        return VPXI_ERR_INTERNAL;
    if ((r = hip_keymat_draw(km, 0, buf, total)) != 0)
        return r;
    k->enc_len = enc_len;
    k->int_len = il;
    memcpy(k->enc_out, greater ? gl_enc : lg_enc, enc_len);
    memcpy(k->int_out, greater ? gl_int : lg_int, il);
    memcpy(k->enc_in, greater ? lg_enc : gl_enc, enc_len);
    memcpy(k->int_in, greater ? lg_int : gl_int, il);
    vpxi_wipe(buf, sizeof(buf));
    *next = total;
    return 0;
}

size_t hip_esp_keymat_len(unsigned suite)
{
    return 2 * (vpxi_esp_enc_key_len(suite) + vpxi_esp_auth_key_len(suite));
}

int hip_keys_esp(const struct hip_keymat *km, size_t index, bool greater, unsigned suite,
                 struct vpxi_esp_keys *in, struct vpxi_esp_keys *out, size_t *next)
{
    uint8_t buf[2 * (VPXI_ESP_KEY_MAX + VPXI_ESP_AUTH_KEY_MAX)];
    size_t el = vpxi_esp_enc_key_len(suite), al = vpxi_esp_auth_key_len(suite);
    const uint8_t *gl_enc = buf, *gl_auth = buf + el;
    const uint8_t *lg_enc = buf + el + al, *lg_auth = buf + 2 * el + al;
    struct vpxi_esp_keys *gl = greater ? out : in, *lg = greater ? in : out;
    int r;

    memset(in, 0, sizeof(*in));
    memset(out, 0, sizeof(*out));
    *next = 0;
    if (!vpxi_esp_suite_supported(suite) || el > VPXI_ESP_KEY_MAX || al > VPXI_ESP_AUTH_KEY_MAX)
        return VPXI_ERR_UNSUPPORTED;
    if ((r = hip_keymat_draw(km, index, buf, 2 * (el + al))) != 0)
        return r;
    memcpy(gl->enc, gl_enc, el);
    gl->enc_len = el;
    memcpy(gl->auth, gl_auth, al);
    gl->auth_len = al;
    memcpy(lg->enc, lg_enc, el);
    lg->enc_len = el;
    memcpy(lg->auth, lg_auth, al);
    lg->auth_len = al;
    vpxi_wipe(buf, sizeof(buf));
    *next = index + 2 * (el + al);
    return 0;
}
