/*
 * test_crypto.c - the crypto wrapper: hash and HMAC known answers, DH
 * agreement and rejection of bad public values for every group, AES-CBC
 * (RFC 3602 case 1), signatures and digest verification, constant-time
 * helpers and encodings.
 */
#include "t.h"

#include "vpxi/crypto.h"
#include "vpxi/ct.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
    size_t got;
    if (vpxi_hex_decode(out, n, &got, h, strlen(h)) != 0 || got != n)
        abort();
}

static void test_hashes(void)
{
    uint8_t d[64], want[64];
    struct vpxi_iov iov[2] = { { "Hi ", 3 }, { "There", 5 } };
    uint8_t key[20];

    CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, "abc", 3, d));
    hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
    CHECK_MEM(d, want, 32);
    memset(key, 0x0b, sizeof(key));
    CHECK_OK(vpxi_hmac(VPXI_HASH_SHA256, key, sizeof(key), iov, 2, d));
    hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
    CHECK_MEM(d, want, 32);
}

static void test_dh(void)
{
    static const unsigned groups[] = { VPXI_DH_P256, VPXI_DH_MODP1536, VPXI_DH_MODP2048 };

    for (size_t g = 0; g < 3; g++) {
        struct vpxi_dh *a, *b;
        uint8_t pa[VPXI_DH_PUB_MAX], pb[VPXI_DH_PUB_MAX], sa[VPXI_DH_SECRET_MAX],
            sb[VPXI_DH_SECRET_MAX];
        size_t la, lb, ka, kb;

        CHECK_OK(vpxi_dh_new(groups[g], &a));
        CHECK_OK(vpxi_dh_new(groups[g], &b));
        CHECK_OK(vpxi_dh_public(a, pa, sizeof(pa), &la));
        CHECK_OK(vpxi_dh_public(b, pb, sizeof(pb), &lb));
        CHECK_EQ(la, vpxi_dh_pub_len(groups[g]));
        CHECK_OK(vpxi_dh_derive(a, pb, lb, sa, sizeof(sa), &ka));
        CHECK_OK(vpxi_dh_derive(b, pa, la, sb, sizeof(sb), &kb));
        CHECK_EQ(ka, kb);
        CHECK_MEM(sa, sb, ka);
        /* bad public values: wrong length, all zero, 1, a point off the curve */
        CHECK_ERR(vpxi_dh_derive(a, pb, lb - 1, sa, sizeof(sa), &ka), VPXI_ERR_BAD_KEY);
        memset(pb, 0, lb);
        CHECK_ERR(vpxi_dh_derive(a, pb, lb, sa, sizeof(sa), &ka), VPXI_ERR_BAD_KEY);
        pb[lb - 1] = 1;
        CHECK_ERR(vpxi_dh_derive(a, pb, lb, sa, sizeof(sa), &ka), VPXI_ERR_BAD_KEY);
        vpxi_dh_free(a);
        vpxi_dh_free(b);
    }
    CHECK(!vpxi_dh_supported(4));
}

static void test_cbc(void)
{
    uint8_t key[16], iv[16], ct[16], out[16];

    hex("06a9214036b8a15b512e03d534120006", key, 16);
    hex("3dafba429d9eb430b422da802c9fac41", iv, 16);
    hex("e353779c1079aeb82708942dbe77181a", ct, 16);
    CHECK_OK(vpxi_aes_cbc(true, key, 16, iv, (const uint8_t *)"Single block msg", 16, out));
    CHECK_MEM(out, ct, 16);
    CHECK_OK(vpxi_aes_cbc(false, key, 16, iv, ct, 16, out));
    CHECK_MEM(out, "Single block msg", 16);
    CHECK_ERR(vpxi_aes_cbc(true, key, 16, iv, ct, 15, out), VPXI_ERR_INVALID);
}

static void test_signatures(void)
{
    static const enum vpxi_key_alg algs[] = { VPXI_KEY_ECDSA_P256, VPXI_KEY_ED25519, VPXI_KEY_RSA };
    static const uint8_t msg[] = "message";

    for (size_t i = 0; i < 3; i++) {
        struct vpxi_key *k;
        uint8_t sig[VPXI_SIG_MAX], d[32];
        size_t n;
        enum vpxi_sig_scheme s;

        CHECK_OK(vpxi_key_generate(algs[i], algs[i] == VPXI_KEY_RSA ? 2048 : 0, &k));
        s = vpxi_key_default_scheme(k);
        CHECK_OK(vpxi_key_sign(k, s, msg, sizeof(msg), sig, sizeof(sig), &n));
        CHECK_EQ(n, vpxi_key_sig_len(k));
        CHECK_OK(vpxi_key_verify(k, s, msg, sizeof(msg), sig, n));
        if (algs[i] != VPXI_KEY_ED25519) {
            CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, msg, sizeof(msg), d));
            CHECK_OK(vpxi_key_verify_digest(k, s, d, 32, sig, n));
            d[0] ^= 1;
            CHECK_ERR(vpxi_key_verify_digest(k, s, d, 32, sig, n), VPXI_ERR_BAD_SIG);
        } else {
            CHECK_ERR(vpxi_key_verify_digest(k, s, d, 32, sig, n), VPXI_ERR_UNSUPPORTED);
        }
        sig[n / 2] ^= 0x40;
        CHECK_ERR(vpxi_key_verify(k, s, msg, sizeof(msg), sig, n), VPXI_ERR_BAD_SIG);
        CHECK_ERR(vpxi_key_verify(k, s, msg, sizeof(msg), sig, n - 1), VPXI_ERR_BAD_SIG);
        if (algs[i] == VPXI_KEY_RSA) {
            CHECK_OK(
                vpxi_key_sign(k, VPXI_SIG_RSA_PSS_SHA256, msg, sizeof(msg), sig, sizeof(sig), &n));
            CHECK_OK(vpxi_key_verify(k, VPXI_SIG_RSA_PSS_SHA256, msg, sizeof(msg), sig, n));
            CHECK_ERR(vpxi_key_verify(k, VPXI_SIG_RSA_PKCS1_SHA256, msg, sizeof(msg), sig, n),
                      VPXI_ERR_BAD_SIG);
        }
        vpxi_key_put(k);
    }
}

static void test_ct_and_encodings(void)
{
    uint8_t all[256], back[256];
    char h[513], b[400];
    size_t n;

    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    CHECK(vpxi_memeq_ct(all, all, 256));
    back[0] = 1;
    CHECK(!vpxi_memeq_ct(all, back, 1));
    vpxi_hex_encode(h, all, 256);
    CHECK_OK(vpxi_hex_decode(back, sizeof(back), &n, h, 512));
    CHECK_EQ(n, 256);
    CHECK_MEM(all, back, 256);
    CHECK_ERR(vpxi_hex_decode(back, sizeof(back), &n, "0g", 2), VPXI_ERR_BAD_FORMAT);
    for (size_t len = 0; len < 70; len++) {
        vpxi_b64_encode(b, all + 100, len);
        CHECK_OK(vpxi_b64_decode(back, sizeof(back), &n, b, strlen(b)));
        CHECK_EQ(n, len);
        CHECK_MEM(all + 100, back, len);
    }
    CHECK_ERR(vpxi_b64_decode(back, sizeof(back), &n, "YQ=", 3), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_b64_decode(back, sizeof(back), &n, "YR==", 4), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_b64_decode(back, sizeof(back), &n, "Y===", 4), VPXI_ERR_BAD_FORMAT);
    CHECK_ERR(vpxi_b64_decode(back, sizeof(back), &n, "Y*==", 4), VPXI_ERR_BAD_FORMAT);
    CHECK_OK(vpxi_b64_decode(back, sizeof(back), &n, "YQ==", 4));
    CHECK(n == 1 && back[0] == 'a');
}

int main(void)
{
    RUN(test_hashes);
    RUN(test_dh);
    RUN(test_cbc);
    RUN(test_signatures);
    RUN(test_ct_and_encodings);
    T_DONE();
}
