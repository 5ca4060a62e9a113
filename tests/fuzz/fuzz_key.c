/*
 * fuzz_key.c - libFuzzer target for public-key parsers: key files in any
 * form (PEM, SPKI S-expression) and the HOST_ID Host Identity field of each
 * algorithm. A key that parses must survive a round trip: its HI and its
 * S-expression decode to the same key, and its HIT is stable.
 */
#include <stdlib.h>
#include <string.h>

#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

static void roundtrip(struct vpxi_key *k)
{
    uint8_t hi[VPXI_HI_MAX], hit1[VPXI_HIT_LEN], hit2[VPXI_HIT_LEN];
    struct vpxi_key *back = NULL;
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n;
    size_t len;
    uint16_t alg;

    if (!sx)
        return;
    if (vpxi_hi_encode(k, hi, sizeof(hi), &len, &alg) != 0)
        abort();
    if (vpxi_hi_decode(alg, hi, len, &back) != 0 || !vpxi_key_public_equal(k, back))
        abort();
    if (vpxi_hit_from_key(k, hit1) != 0 || vpxi_hit_from_hi(alg, hi, len, hit2) != 0 ||
        memcmp(hit1, hit2, sizeof(hit1)) != 0)
        abort();
    vpxi_key_put(back);
    back = NULL;
    if (vpxi_key_to_sexp(sx, k, &n) != 0 || vpxi_key_from_sexp(n, &back) != 0 ||
        !vpxi_key_public_equal(k, back))
        abort();
    vpxi_key_put(back);
    vpxi_sx_free(sx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t algs[] = { VPXI_HI_RSA, VPXI_HI_ECDSA, VPXI_HI_EDDSA };
    struct vpxi_key *k = NULL;

    if (vpxi_key_parse(data, size, &k) == 0) {
        roundtrip(k);
        vpxi_key_put(k);
    }
    /* the first byte picks the HI algorithm; the rest is the HI field */
    if (size >= 1) {
        uint8_t hit[VPXI_HIT_LEN];
        if (vpxi_hi_decode(algs[data[0] % 3], data + 1, size - 1, &k) == 0) {
            if (vpxi_hit_from_hi(algs[data[0] % 3], data + 1, size - 1, hit) != 0)
                abort();
            roundtrip(k);
            vpxi_key_put(k);
        }
    }
    return 0;
}
