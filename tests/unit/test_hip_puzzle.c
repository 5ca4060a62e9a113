/*
 * test_hip_puzzle.c - the HIP puzzle (lib/hip/puzzle.c).
 *
 * Known answers were computed independently with Python's hashlib/hmac:
 *   SHA-256(#I = 01*32 | 2001:20::1 | 2001:20::2 | #J = 0x..16c9) ends d000
 *   (first #J counting from 0 with 12 low zero bits);
 *   SHA-384(#I = 02*48 | same HITs | #J = 0x..0261) ends 3800 (first #J with
 *   10 low zero bits; it has exactly 11);
 *   HMAC-SHA-384(07*32, HIT-I | HIT-R | 04 2904 c6120001 | 06 2904 fd00::2)
 *   = 5d11b0be... (our #I for 198.18.0.1:10500 -> [fd00::2]:10500).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "t.h"

#include "hip/hip_int.h"

static const uint8_t hit_i[16] = { 0x20, 0x01, 0x00, 0x20, [15] = 1 };
static const uint8_t hit_r[16] = { 0x20, 0x01, 0x00, 0x20, [15] = 2 };

static void test_check_kat(void)
{
    uint8_t i[48], j[48];

    memset(i, 1, 32);
    memset(j, 0, 32);
    j[30] = 0x16;
    j[31] = 0xc9;
    CHECK(hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_i, hit_r, 0));
    CHECK(hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_i, hit_r, 12));
    CHECK(!hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_i, hit_r, 13));
    j[31] = 0xc8;
    CHECK(!hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_i, hit_r, 12));
    /* HIT order matters: I then R */
    j[31] = 0xc9;
    CHECK(!hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_r, hit_i, 12));

    memset(i, 2, 48);
    memset(j, 0, 48);
    j[46] = 0x02;
    j[47] = 0x61;
    CHECK(hip_puzzle_check(VPXI_HASH_SHA384, i, j, hit_i, hit_r, 10));
    CHECK(hip_puzzle_check(VPXI_HASH_SHA384, i, j, hit_i, hit_r, 11));
    CHECK(!hip_puzzle_check(VPXI_HASH_SHA384, i, j, hit_i, hit_r, 12));
    /* K beyond the digest */
    CHECK(!hip_puzzle_check(VPXI_HASH_SHA384, i, j, hit_i, hit_r, 385));
    CHECK(!hip_puzzle_check(VPXI_HASH_NONE, i, j, hit_i, hit_r, 0));
}

static void test_solve(void)
{
    uint8_t i[48], j[48];
    unsigned k;

    CHECK_OK(vpxi_random(i, sizeof(i)));
    for (k = 0; k <= 14; k += 2) {
        CHECK_OK(hip_puzzle_solve(VPXI_HASH_SHA256, i, hit_i, hit_r, k, 1u << 22, j));
        CHECK(hip_puzzle_check(VPXI_HASH_SHA256, i, j, hit_i, hit_r, k));
        CHECK_OK(hip_puzzle_solve(VPXI_HASH_SHA384, i, hit_i, hit_r, k, 1u << 22, j));
        CHECK(hip_puzzle_check(VPXI_HASH_SHA384, i, j, hit_i, hit_r, k));
    }
    /* bounded work */
    CHECK_ERR(hip_puzzle_solve(VPXI_HASH_SHA256, i, hit_i, hit_r, 40, 1000, j), VPXI_ERR_LIMIT);
    CHECK_ERR(hip_puzzle_solve(VPXI_HASH_SHA256, i, hit_i, hit_r, 257, 1000, j),
              VPXI_ERR_UNSUPPORTED);
}

static void test_make_i(void)
{
    static const uint8_t want[48] = {
        0x5d, 0x11, 0xb0, 0xbe, 0x9e, 0x83, 0x41, 0x03, 0x78, 0x46, 0x27, 0xe7,
        0x1b, 0x5a, 0x2b, 0xf1, 0x0e, 0x50, 0x08, 0x32, 0x76, 0x70, 0xc0, 0x42,
        0x3b, 0xf1, 0xf7, 0x70, 0xa0, 0xba, 0x62, 0x90, 0x6f, 0xe4, 0xff, 0x9d,
        0xde, 0x64, 0x41, 0x20, 0x90, 0x1f, 0x36, 0x71, 0x0f, 0xd2, 0x95, 0x4c,
    };
    uint8_t secret[HIP_SECRET_LEN], i1[48], i2[48];
    struct sockaddr_storage a, b;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    s4->sin_family = AF_INET;
    s4->sin_port = htons(10500);
    inet_pton(AF_INET, "198.18.0.1", &s4->sin_addr);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(10500);
    inet_pton(AF_INET6, "fd00::2", &s6->sin6_addr);
    memset(secret, 7, sizeof(secret));
    CHECK_OK(hip_puzzle_make_i(VPXI_HASH_SHA384, secret, hit_i, hit_r, &a, &b, i1));
    CHECK_MEM(i1, want, 48);
    /* every input matters */
    s4->sin_port = htons(10501);
    CHECK_OK(hip_puzzle_make_i(VPXI_HASH_SHA384, secret, hit_i, hit_r, &a, &b, i2));
    CHECK(memcmp(i1, i2, 48) != 0);
    s4->sin_port = htons(10500);
    secret[0] ^= 1;
    CHECK_OK(hip_puzzle_make_i(VPXI_HASH_SHA384, secret, hit_i, hit_r, &a, &b, i2));
    CHECK(memcmp(i1, i2, 48) != 0);
    secret[0] ^= 1;
    CHECK_OK(hip_puzzle_make_i(VPXI_HASH_SHA384, secret, hit_r, hit_i, &a, &b, i2));
    CHECK(memcmp(i1, i2, 48) != 0);
    /* unknown local address: still defined */
    CHECK_OK(hip_puzzle_make_i(VPXI_HASH_SHA256, secret, hit_i, hit_r, &a, NULL, i2));
}

static void test_lifetime(void)
{
    CHECK_EQ(hip_puzzle_lifetime(0), 32);
    CHECK_EQ(hip_puzzle_lifetime(1000), 32);
    CHECK_EQ(hip_puzzle_lifetime(1001), 33);
    CHECK_EQ(hip_puzzle_lifetime(2000), 33);
    CHECK_EQ(hip_puzzle_lifetime(300000), 41);         /* 512 s >= 300 s */
    CHECK_EQ(hip_puzzle_lifetime(INT64_MAX), 32 + 54); /* 2^54 s >= 2^63 ms */
}

int main(void)
{
    RUN(test_check_kat);
    RUN(test_solve);
    RUN(test_make_i);
    RUN(test_lifetime);
    T_DONE();
}
