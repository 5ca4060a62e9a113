/*
 * test_hip_keymat.c - RHASH, HKDF KEYMAT and key drawing (lib/hip/keymat.c).
 *
 * Known answers come from python3-cryptography's HKDF (an independent
 * implementation), with salt = #I | #J and info = sort(HIT-I | HIT-R):
 *   SHA-384: Kij = 0b*32, #I = a0..cf, #J = 10..3f (48 bytes each),
 *            HITs 2001:22:aaaa:.. and 2001:25:1111:.. -> c079dfba...
 *   SHA-256: Kij = 0c*256, #I = a0..bf, #J = 10..2f -> 0474cbb6...
 */
#include "t.h"

#include "hip/hip_int.h"
#include "vpxi/ct.h"

static const uint8_t hit_a[16] = { 0x20, 0x01, 0x00, 0x22, 0xaa, 0xaa, 0xaa, 0xaa,
                                   0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
static const uint8_t hit_b[16] = { 0x20, 0x01, 0x00, 0x25, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11 };

static int unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n;
    return vpxi_hex_decode(out, cap, &n, s, strlen(s)) == 0 ? (int)n : -1;
}

static void vectors(uint8_t *kij, uint8_t *i, uint8_t *j)
{
    for (int x = 0; x < 48; x++) {
        i[x] = (uint8_t)(0xa0 + x);
        j[x] = (uint8_t)(0x10 + x);
    }
    memset(kij, 0x0b, 32);
}

static void test_rhash(void)
{
    CHECK_EQ(hip_rhash(1), VPXI_HASH_SHA256);
    CHECK_EQ(hip_rhash(2), VPXI_HASH_SHA384);
    CHECK_EQ(hip_rhash(5), VPXI_HASH_SHA256);
    CHECK_EQ(hip_rhash(3), VPXI_HASH_NONE);
    CHECK_EQ(hip_rhash(0), VPXI_HASH_NONE);
    CHECK_EQ(hip_cipher_key_len(VPXI_HIP_CIPHER_NULL), 0);
    CHECK_EQ(hip_cipher_key_len(VPXI_HIP_CIPHER_AES128_CBC), 16);
    CHECK_EQ(hip_cipher_key_len(VPXI_HIP_CIPHER_AES256_CBC), 32);
    CHECK_EQ(hip_cipher_key_len(3), -1);
    CHECK(hip_hit_greater(hit_b, hit_a));
    CHECK(!hip_hit_greater(hit_a, hit_b));
    CHECK(!hip_hit_greater(hit_a, hit_a));
}

static void test_hkdf_kat(void)
{
    static const char *want384 =
        "c079dfba070e5fac929351b1671ac39a4c53df63a71e626c02922b95ebf5c1be8b852a5b092b316f"
        "5351aed76719b1168f515f25f2a8bd0ccb7cdc47024e356702895e20108763ae0ab406493059fad2"
        "ead2a98dd812da2f33388de23c6b82bed99156fc00da6137b20b19a6899f3b044cfa4fec94b5421e"
        "9d118e51956ad52044db26e5baf5714ada7c63a187daea1760d98abf9a94bb6c63f180c3fb6b3c87"
        "81154b64179007e3d7e28b217d4e804a87c56d56191992274053707d09d6502a01f22378492564d4";
    static const char *want256 =
        "0474cbb6866afd7b48881f9ac5b9f3748eda220fa5046a00b22577bd069c35e7467c91f1de1e7dc9"
        "20d0947efb3d1282f8bdf77a4aab8e00cb2b670ee3d67dfeb25ae038f0a41cff3271f902ffd0140e"
        "d4d9b5642b4db17d8031291522d4e24edc56b260";
    uint8_t kij[256], i[48], j[48], want[200], got[200], part[200];
    struct hip_keymat km, km2;

    vectors(kij, i, j);
    CHECK_EQ(unhex(want384, want, sizeof(want)), 200);
    CHECK_OK(hip_keymat_init(&km, VPXI_HASH_SHA384, kij, 32, i, j, hit_a, hit_b));
    CHECK_OK(hip_keymat_draw(&km, 0, got, 200));
    CHECK_MEM(got, want, 200);
    /* info is the sorted pair: argument order does not matter */
    CHECK_OK(hip_keymat_init(&km2, VPXI_HASH_SHA384, kij, 32, i, j, hit_b, hit_a));
    CHECK_MEM(km.prk, km2.prk, 48);
    CHECK_MEM(km.info, km2.info, 32);
    /* any window is the same bytes */
    for (size_t off = 0; off < 200; off += 13) {
        size_t len = 200 - off < 37 ? 200 - off : 37;
        CHECK_OK(hip_keymat_draw(&km, off, part, len));
        CHECK_MEM(part, want + off, len);
    }
    CHECK_OK(hip_keymat_draw(&km, 255 * 48 - 10, part, 10));
    CHECK_ERR(hip_keymat_draw(&km, 255 * 48 - 10, part, 11), VPXI_ERR_LIMIT);
    hip_keymat_clear(&km);
    hip_keymat_clear(&km2);
    CHECK(vpxi_iszero_ct(&km, sizeof(km)));

    memset(kij, 0x0c, 256);
    CHECK_EQ(unhex(want256, want, sizeof(want)), 100);
    CHECK_OK(hip_keymat_init(&km, VPXI_HASH_SHA256, kij, 256, i, j, hit_a, hit_b));
    CHECK_OK(hip_keymat_draw(&km, 0, got, 100));
    CHECK_MEM(got, want, 100);
    hip_keymat_clear(&km);
    CHECK_ERR(hip_keymat_init(&km, VPXI_HASH_NONE, kij, 32, i, j, hit_a, hit_b),
              VPXI_ERR_UNSUPPORTED);
}

/* Both ends draw the same keys, mirrored. */
static void test_draw_layout(void)
{
    uint8_t kij[32], i[48], j[48], raw[400];
    struct hip_keymat km;
    struct hip_keys kg, kl;
    struct vpxi_esp_keys gin, gout, lin, lout;
    size_t next, next2;
    static const unsigned suites[] = { VPXI_ESP_AES128GCM16, VPXI_ESP_AES128CBC_SHA256,
                                       VPXI_ESP_NULL_SHA256 };

    vectors(kij, i, j);
    CHECK_OK(hip_keymat_init(&km, VPXI_HASH_SHA384, kij, 32, i, j, hit_a, hit_b));
    CHECK_OK(hip_keymat_draw(&km, 0, raw, sizeof(raw)));
    /* HIP keys, AES-128: gl enc [0,16) gl int [16,64) lg enc [64,80) lg int [80,128) */
    CHECK_OK(hip_keys_hip(&km, true, 16, &kg, &next));
    CHECK_OK(hip_keys_hip(&km, false, 16, &kl, &next2));
    CHECK_EQ(next, 128);
    CHECK_EQ(next2, 128);
    CHECK_MEM(kg.enc_out, raw, 16);
    CHECK_MEM(kg.int_out, raw + 16, 48);
    CHECK_MEM(kg.enc_in, raw + 64, 16);
    CHECK_MEM(kg.int_in, raw + 80, 48);
    CHECK_MEM(kl.enc_out, kg.enc_in, 16);
    CHECK_MEM(kl.int_out, kg.int_in, 48);
    CHECK_MEM(kl.enc_in, kg.enc_out, 16);
    CHECK_MEM(kl.int_in, kg.int_out, 48);
    /* NULL cipher: no encryption keys */
    CHECK_OK(hip_keys_hip(&km, true, 0, &kg, &next));
    CHECK_EQ(next, 96);
    CHECK_MEM(kg.int_out, raw, 48);

    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        size_t el = vpxi_esp_enc_key_len(suites[s]), al = vpxi_esp_auth_key_len(suites[s]);
        CHECK_EQ(hip_esp_keymat_len(suites[s]), 2 * (el + al));
        CHECK_OK(hip_keys_esp(&km, 128, true, suites[s], &gin, &gout, &next));
        CHECK_OK(hip_keys_esp(&km, 128, false, suites[s], &lin, &lout, &next2));
        CHECK_EQ(next, 128 + 2 * (el + al));
        CHECK_EQ(next2, next);
        CHECK_EQ(gout.enc_len, el);
        CHECK_EQ(gout.auth_len, al);
        CHECK_MEM(gout.enc, raw + 128, el);
        CHECK_MEM(gout.auth, raw + 128 + el, al);
        CHECK_MEM(gin.enc, raw + 128 + el + al, el);
        CHECK_MEM(gin.auth, raw + 128 + 2 * el + al, al);
        CHECK(memcmp(&gout, &lin, sizeof(gout)) == 0);
        CHECK(memcmp(&gin, &lout, sizeof(gin)) == 0);
    }
    /* GCM: 20 bytes (key || salt), no auth key */
    CHECK_EQ(vpxi_esp_enc_key_len(VPXI_ESP_AES128GCM16), 20);
    CHECK_EQ(vpxi_esp_auth_key_len(VPXI_ESP_AES128GCM16), 0);
    CHECK_ERR(hip_keys_esp(&km, 128, true, 99, &gin, &gout, &next), VPXI_ERR_UNSUPPORTED);
    CHECK_ERR(hip_keys_esp(&km, 255 * 48 - 10, true, 13, &gin, &gout, &next), VPXI_ERR_LIMIT);
    hip_keymat_clear(&km);
}

int main(void)
{
    RUN(test_rhash);
    RUN(test_hkdf_kat);
    RUN(test_draw_layout);
    T_DONE();
}
