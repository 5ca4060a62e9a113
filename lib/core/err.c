/*
 * err.c - the only place error codes become text.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vpxi/err.h"

struct err_text {
    const char *name;
    const char *text;
};

/* Indexed by -code. */
static const struct err_text err_table[] = {
    [0] = { "VPXI_OK", "success" },
    [-VPXI_ERR_INTERNAL] = { "VPXI_ERR_INTERNAL", "internal error" },
    [-VPXI_ERR_NOMEM] = { "VPXI_ERR_NOMEM", "out of memory" },
    [-VPXI_ERR_INVALID] = { "VPXI_ERR_INVALID", "invalid argument" },
    [-VPXI_ERR_TRUNCATED] = { "VPXI_ERR_TRUNCATED", "input truncated" },
    [-VPXI_ERR_TRAILING_DATA] = { "VPXI_ERR_TRAILING_DATA", "trailing data after the end" },
    [-VPXI_ERR_BAD_FORMAT] = { "VPXI_ERR_BAD_FORMAT", "malformed input" },
    [-VPXI_ERR_TOO_LARGE] = { "VPXI_ERR_TOO_LARGE", "length or count exceeds the limit" },
    [-VPXI_ERR_TOO_DEEP] = { "VPXI_ERR_TOO_DEEP", "nesting exceeds the limit" },
    [-VPXI_ERR_LEADING_ZERO] = { "VPXI_ERR_LEADING_ZERO", "length has a leading zero" },
    [-VPXI_ERR_BAD_SIG] = { "VPXI_ERR_BAD_SIG", "signature does not verify" },
    [-VPXI_ERR_EXPIRED] = { "VPXI_ERR_EXPIRED", "expired" },
    [-VPXI_ERR_NOT_YET_VALID] = { "VPXI_ERR_NOT_YET_VALID", "not yet valid" },
    [-VPXI_ERR_NOT_AUTHORIZED] = { "VPXI_ERR_NOT_AUTHORIZED", "not authorized" },
    [-VPXI_ERR_NO_DELEGATION] = { "VPXI_ERR_NO_DELEGATION",
                                  "delegation not permitted (no propagate)" },
    [-VPXI_ERR_ISSUER_MISMATCH] = { "VPXI_ERR_ISSUER_MISMATCH",
                                    "issuer is not the subject of the previous link" },
    [-VPXI_ERR_TAG_EMPTY] = { "VPXI_ERR_TAG_EMPTY", "tag intersection is empty" },
    [-VPXI_ERR_VALIDITY_EMPTY] = { "VPXI_ERR_VALIDITY_EMPTY", "validity periods are disjoint" },
    [-VPXI_ERR_REPLAY] = { "VPXI_ERR_REPLAY", "replayed" },
    [-VPXI_ERR_BAD_STATE] = { "VPXI_ERR_BAD_STATE", "not acceptable in the current state" },
    [-VPXI_ERR_SYS] = { "VPXI_ERR_SYS", "system call failed" },
    [-VPXI_ERR_UNSUPPORTED] = { "VPXI_ERR_UNSUPPORTED", "unsupported algorithm or feature" },
    [-VPXI_ERR_NOT_FOUND] = { "VPXI_ERR_NOT_FOUND", "not found" },
    [-VPXI_ERR_BAD_KEY] = { "VPXI_ERR_BAD_KEY", "malformed or unusable key" },
    [-VPXI_ERR_KEY_PERMS] = { "VPXI_ERR_KEY_PERMS",
                              "private key file is accessible by group or others" },
    [-VPXI_ERR_EXISTS] = { "VPXI_ERR_EXISTS", "already exists" },
    [-VPXI_ERR_BAD_MAC] = { "VPXI_ERR_BAD_MAC", "MAC does not verify" },
    [-VPXI_ERR_BAD_PUZZLE] = { "VPXI_ERR_BAD_PUZZLE", "puzzle solution is wrong" },
    [-VPXI_ERR_BAD_CHECKSUM] = { "VPXI_ERR_BAD_CHECKSUM", "checksum is wrong" },
    [-VPXI_ERR_NO_CHAIN] = { "VPXI_ERR_NO_CHAIN", "no certificate chain presented" },
    [-VPXI_ERR_HASH_MISMATCH] = { "VPXI_ERR_HASH_MISMATCH", "digest does not match" },
    [-VPXI_ERR_TIMEOUT] = { "VPXI_ERR_TIMEOUT", "timed out" },
    [-VPXI_ERR_ROLLBACK] = { "VPXI_ERR_ROLLBACK", "version is older than the last one seen" },
    [-VPXI_ERR_UNKNOWN_CRITICAL] = { "VPXI_ERR_UNKNOWN_CRITICAL", "unknown critical parameter" },
    [-VPXI_ERR_ORDER] = { "VPXI_ERR_ORDER", "elements out of order" },
    [-VPXI_ERR_DUPLICATE] = { "VPXI_ERR_DUPLICATE", "duplicate element" },
    [-VPXI_ERR_THRESHOLD] = { "VPXI_ERR_THRESHOLD",
                              "fewer than k branches of a threshold subject reduce" },
    [-VPXI_ERR_BAD_TAG] = { "VPXI_ERR_BAD_TAG", "malformed tag" },
    [-VPXI_ERR_UNKNOWN_KEY] = { "VPXI_ERR_UNKNOWN_KEY", "signer's public key is not available" },
    [-VPXI_ERR_LIMIT] = { "VPXI_ERR_LIMIT", "limit reached" },
    [-VPXI_ERR_REVOKED] = { "VPXI_ERR_REVOKED", "revoked" },
    [-VPXI_ERR_IO] = { "VPXI_ERR_IO", "input/output error" },
    [-VPXI_ERR_NOSPACE] = { "VPXI_ERR_NOSPACE", "no space left on device" },
    [-VPXI_ERR_PERM] = { "VPXI_ERR_PERM", "operation not permitted" },
    [-VPXI_ERR_PROTOCOL] = { "VPXI_ERR_PROTOCOL", "protocol violation by the peer" },
    [-VPXI_ERR_NO_SIGNATURE] = { "VPXI_ERR_NO_SIGNATURE", "certificate has no signature" },
};

static const struct err_text *lookup(int err)
{
    if (err > 0 || err < VPXI_ERR_MIN)
        return NULL;
    if ((size_t)-err >= sizeof(err_table) / sizeof(err_table[0]))
        return NULL;
    return err_table[-err].name ? &err_table[-err] : NULL;
}

const char *vpxi_strerror(int err)
{
    const struct err_text *e = lookup(err);
    return e ? e->text : "unknown error";
}

const char *vpxi_errname(int err)
{
    const struct err_text *e = lookup(err);
    return e ? e->name : "VPXI_ERR_UNKNOWN";
}

void vpxi_misuse(const char *what)
{
    fprintf(stderr, "vpxi: API misuse: %s\n", what);
    abort();
}
