/*
 * puzzle.c - the HIP puzzle (RFC 7401 4.1.2, 6.3, Appendix A).
 *
 *   valid #J:  Ltrunc(RHASH(#I | HIT-I | HIT-R | #J), K) == 0, where Ltrunc
 *              takes the K lowest-order bits (the last bits of the digest)
 *   stateless #I (Appendix A, keyed): #I = HMAC-RHASH(S, HIT-I | HIT-R |
 *              addr-I | addr-R) with S the secret of the R1 generation the
 *              I2 names in R1_COUNTER; an address is family | port |
 *              address, so #I binds the puzzle to the Initiator's UDP
 *              mapping as well as to both HITs.
 * #I and #J are RHASH_len bytes each, both in I,R order whatever the
 * direction of the packet.
 */
#include <string.h>

#include "vpxi/ct.h"
#include "hip/hip_int.h"

int hip_puzzle_make_i(enum vpxi_hash_alg alg, const uint8_t secret[static HIP_SECRET_LEN],
                      const uint8_t hit_i[static VPXI_HIT_LEN],
                      const uint8_t hit_r[static VPXI_HIT_LEN],
                      const struct sockaddr_storage *addr_i, const struct sockaddr_storage *addr_r,
                      uint8_t *i)
{
    uint8_t ai[HIP_ADDR_BYTES_MAX], ar[HIP_ADDR_BYTES_MAX];
    struct vpxi_iov iov[4] = {
        { hit_i, VPXI_HIT_LEN },
        { hit_r, VPXI_HIT_LEN },
        { ai, hip_addr_bytes(addr_i, ai) },
        { ar, hip_addr_bytes(addr_r, ar) },
    };

    return vpxi_hmac(alg, secret, HIP_SECRET_LEN, iov, 4, i);
}

/* True iff the k lowest-order bits of d (n bytes, big-endian) are zero. */
static bool low_bits_zero(const uint8_t *d, size_t n, unsigned k)
{
    size_t full = k / 8;
    unsigned rest = k % 8;

    if (k > n * 8)
        return false;
    for (size_t b = 0; b < full; b++)
        if (d[n - 1 - b] != 0)
            return false;
    return rest == 0 || (d[n - 1 - full] & ((1u << rest) - 1)) == 0;
}

bool hip_puzzle_check(enum vpxi_hash_alg alg, const uint8_t *i, const uint8_t *j,
                      const uint8_t hit_i[static VPXI_HIT_LEN],
                      const uint8_t hit_r[static VPXI_HIT_LEN], unsigned k)
{
    uint8_t in[2 * VPXI_HIP_RHASH_MAX + 2 * VPXI_HIT_LEN], d[VPXI_HASH_MAX_LEN];
    size_t n = vpxi_hash_len(alg);

    if (n == 0 || n > VPXI_HIP_RHASH_MAX)
        return false;
    memcpy(in, i, n);
    memcpy(in + n, hit_i, VPXI_HIT_LEN);
    memcpy(in + n + VPXI_HIT_LEN, hit_r, VPXI_HIT_LEN);
    memcpy(in + n + 2 * VPXI_HIT_LEN, j, n);
    if (vpxi_hash(alg, in, 2 * n + 2 * VPXI_HIT_LEN, d) != 0)
        return false;
    return low_bits_zero(d, n, k);
}

int hip_puzzle_solve(enum vpxi_hash_alg alg, const uint8_t *i,
                     const uint8_t hit_i[static VPXI_HIT_LEN],
                     const uint8_t hit_r[static VPXI_HIT_LEN], unsigned k, uint64_t max_tries,
                     uint8_t *j)
{
    uint8_t in[2 * VPXI_HIP_RHASH_MAX + 2 * VPXI_HIT_LEN], d[VPXI_HASH_MAX_LEN];
    size_t n = vpxi_hash_len(alg), jo;
    int r;

    if (n == 0 || n > VPXI_HIP_RHASH_MAX || k > n * 8)
        return VPXI_ERR_UNSUPPORTED;
    jo = n + 2 * VPXI_HIT_LEN;
    memcpy(in, i, n);
    memcpy(in + n, hit_i, VPXI_HIT_LEN);
    memcpy(in + n + VPXI_HIT_LEN, hit_r, VPXI_HIT_LEN);
    if ((r = vpxi_random(in + jo, n)) != 0)
        return r;
    for (uint64_t t = 0; t < max_tries; t++) {
        if ((r = vpxi_hash(alg, in, jo + n, d)) != 0)
            return r;
        if (low_bits_zero(d, n, k)) {
            memcpy(j, in + jo, n);
            return 0;
        }
        for (size_t b = jo + n; b-- > jo;) /* #J + 1, big-endian */
            if (++in[b] != 0)
                break;
    }
    return VPXI_ERR_LIMIT;
}

uint8_t hip_puzzle_lifetime(int64_t ms)
{
    uint64_t secs = ms <= 0 ? 0 : (uint64_t)(ms / 1000 + (ms % 1000 != 0)), p = 1;
    unsigned l = 32;

    while (p < secs) { /* secs < 2^63: at most 63 doublings */
        p <<= 1;
        l++;
    }
    return (uint8_t)l;
}
