/*
 * test_keccak.c - cSHAKE128 and KMAC128 (lib/core/keccak.c) against the
 * NIST SP 800-185 samples and against pycryptodome around the 168-byte rate
 * (tests/vectors/cshake128.txt, made by tests/vectors/gen_cshake128.py,
 * which works around pycryptodome 3.11's wrong left_encode for S >= 32 octets).
 *
 * Every expected value below was recomputed independently before being
 * written down: the cSHAKE samples with Cryptodome.Hash.cSHAKE128, the KMAC
 * samples with OpenSSL's KMAC-128 (openssl mac), SHAKE128("") with hashlib.
 */
#include "t.h"

#include "vpxi/crypto.h"
#include "vpxi/ct.h"

enum { OUT_MAX = 512, X_MAX = 1024, S_MAX = 256 };

static void unhex(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    CHECK_OK(vpxi_hex_decode(out, cap, len, hex, strlen(hex)));
}

static void check_hex(const uint8_t *got, size_t n, const char *want)
{
    char hex[2 * OUT_MAX + 1];
    size_t i;

    vpxi_hex_encode(hex, got, n);
    for (i = 0; hex[i]; i++)
        if (hex[i] >= 'a' && hex[i] <= 'f')
            hex[i] = (char)(hex[i] - 'a' + 'A');
    CHECK_STR(hex, want);
}

static void counting(uint8_t *x, size_t n, uint8_t start)
{
    size_t i;

    for (i = 0; i < n; i++)
        x[i] = (uint8_t)(start + i);
}

static const uint8_t email_sig[] = "Email Signature";
static const uint8_t tagged_app[] = "My Tagged Application";

/* NIST SP 800-185 cSHAKE samples #1 and #2 (cSHAKE128). */
static void test_cshake_samples(void)
{
    uint8_t x[200], out[32];

    counting(x, 4, 0);
    vpxi_cshake128(x, 4, NULL, 0, email_sig, sizeof(email_sig) - 1, out, sizeof(out));
    check_hex(out, sizeof(out), "C1C36925B6409A04F1B504FCBCA9D82B4017277CB5ED2B2065FC1D3814D5AAF5");
    counting(x, sizeof(x), 0);
    vpxi_cshake128(x, sizeof(x), NULL, 0, email_sig, sizeof(email_sig) - 1, out, sizeof(out));
    check_hex(out, sizeof(out), "C5221D50E4F822D96A2E8881A961420F294B7B24FE3D2094BAED2C6524CC166B");
}

/* NIST SP 800-185 KMAC samples #1, #2 and #3 (KMAC128). */
static void test_kmac_samples(void)
{
    uint8_t k[32], x[200], out[32];

    counting(k, sizeof(k), 0x40);
    counting(x, sizeof(x), 0);
    vpxi_kmac128(k, sizeof(k), x, 4, NULL, 0, out, sizeof(out));
    check_hex(out, sizeof(out), "E5780B0D3EA6F7D3A429C5706AA43A00FADBD7D49628839E3187243F456EE14E");
    vpxi_kmac128(k, sizeof(k), x, 4, tagged_app, sizeof(tagged_app) - 1, out, sizeof(out));
    check_hex(out, sizeof(out), "3B1FBA963CD8B0B59E8C1A6D71888B7143651AF8BA0A7070C0979E2811324AA5");
    vpxi_kmac128(k, sizeof(k), x, sizeof(x), tagged_app, sizeof(tagged_app) - 1, out, sizeof(out));
    check_hex(out, sizeof(out), "1F5B4E6CCA02209E0DCB5CA635B89A15E271ECC760071DFD805FAA38F9729230");
}

/* KMAC128 with a key, customization string, message and output that all
 * cross the 168-byte rate (right_encode(1600) takes two octets); expected
 * values from OpenSSL's KMAC-128: openssl mac -macopt hexkey:K -macopt
 * hexcustom:S -macopt size:N KMAC-128, K[i] = X[i] = i mod 256, S[i] = i. */
static void test_kmac_long(void)
{
    static uint8_t k[200], x[300], s[162], out[200];
    size_t i;

    for (i = 0; i < sizeof(k); i++)
        k[i] = (uint8_t)i;
    for (i = 0; i < sizeof(x); i++)
        x[i] = (uint8_t)i;
    counting(s, sizeof(s), 0);
    vpxi_kmac128(k, sizeof(k), x, sizeof(x), s, sizeof(s), out, 32);
    check_hex(out, 32, "4AEE08477DFB8BC60B8E60701458CAAB1BC8DA654579769978825078B64A5C17");
    vpxi_kmac128(k, sizeof(k), x, sizeof(x), s, sizeof(s), out, sizeof(out));
    check_hex(out, sizeof(out),
              "EE490C2C5C87435CCD20E2260176F9D329EB332AEC03FC1C2258152BCB0D4703"
              "7D0DAE786F731A8C5A62E884B8A6838641A811BBF36B5ABEB28DFDD814D1DBBA"
              "5B6AF33B2B1A7F1D735E4B886B3A2ABC381F83D745D535062AD9EDB913A5A8DD"
              "85423785D4D23388AB4424073EAEC557F742675BF90AAF2694834FC66D2DEF25"
              "08F8CD3578C2BB95F50C3262C4A5EC8061F632BDE25DF56FBA44B476B23B63B2"
              "2C8A1D51764982B778657F8C5A81E7FB007D375C29A49499E53E8810C8ED195C"
              "B8E971DEDF4B3457");
}

/* With N and S empty cSHAKE128 is SHAKE128 (FIPS 202). */
static void test_shake(void)
{
    uint8_t out[32];

    vpxi_cshake128(NULL, 0, NULL, 0, NULL, 0, out, sizeof(out));
    check_hex(out, sizeof(out), "7F9C2BA4E88F827D616045507605853ED73B8093F6EFBC88EB1A6EACFA66EF26");
}

/* Output is a prefix of any longer output (it is an XOF). */
static void test_prefix(void)
{
    uint8_t a[400], b[13];

    vpxi_cshake128((const uint8_t *)"abc", 3, NULL, 0, email_sig, 15, a, sizeof(a));
    vpxi_cshake128((const uint8_t *)"abc", 3, NULL, 0, email_sig, 15, b, sizeof(b));
    CHECK_MEM(a, b, sizeof(b));
}

/* tests/vectors/cshake128.txt: X lengths, S lengths and output lengths on
 * both sides of the 168-byte rate. */
static void test_vectors(void)
{
    char *text = t_read_file(t_vector_path("cshake128.txt"), NULL);
    char *line, *save = NULL;
    static uint8_t x[X_MAX], s[S_MAX], want[OUT_MAX], got[OUT_MAX];
    int lines = 0;

    CHECK(text != NULL);
    if (!text)
        return;
    counting(x, sizeof(x), 0);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char shex[2 * S_MAX + 1], ohex[2 * OUT_MAX + 1];
        size_t xlen, outlen, slen = 0, wlen = 0;

        if (line[0] == '#')
            continue;
        if (sscanf(line, "%zu %512s %zu %1024s", &xlen, shex, &outlen, ohex) != 4 || xlen > X_MAX ||
            outlen > OUT_MAX) {
            CHECK(!"bad line in cshake128.txt");
            continue;
        }
        if (strcmp(shex, "-") != 0)
            unhex(shex, s, sizeof(s), &slen);
        unhex(ohex, want, sizeof(want), &wlen);
        CHECK_EQ(wlen, outlen);
        vpxi_cshake128(x, xlen, NULL, 0, s, slen, got, outlen);
        if (memcmp(got, want, outlen) != 0)
            fprintf(stderr, "cshake128.txt mismatch: %.60s...\n", line);
        CHECK_MEM(got, want, outlen);
        lines++;
    }
    CHECK(lines >= 100);
    free(text);
}

int main(void)
{
    RUN(test_cshake_samples);
    RUN(test_kmac_samples);
    RUN(test_kmac_long);
    RUN(test_shake);
    RUN(test_prefix);
    RUN(test_vectors);
    T_DONE();
}
