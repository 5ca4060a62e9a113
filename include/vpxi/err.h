/*
 * err.h - the one error enum of libvpxi.
 *
 * Every library function that can fail returns int: 0 on success or one of
 * the negative VPXI_ERR_* codes below. vpxi_strerror() is the only place a
 * code becomes text (lib/core/err.c). Codes are stable: they appear in the
 * control protocol and in logs.
 */
#ifndef VPXI_ERR_H
#define VPXI_ERR_H

#include <stddef.h>

#define VPXI_WUR __attribute__((warn_unused_result))

enum vpxi_err {
    VPXI_OK = 0,
    VPXI_ERR_INTERNAL = -1,          /* a bug or an unexpected library failure */
    VPXI_ERR_NOMEM = -2,             /* allocation failed */
    VPXI_ERR_INVALID = -3,           /* invalid argument or option value */
    VPXI_ERR_TRUNCATED = -4,         /* input ends before the structure does */
    VPXI_ERR_TRAILING_DATA = -5,     /* bytes left after a complete structure */
    VPXI_ERR_BAD_FORMAT = -6,        /* input does not follow the grammar */
    VPXI_ERR_TOO_LARGE = -7,         /* a length or count exceeds its cap */
    VPXI_ERR_TOO_DEEP = -8,          /* nesting exceeds its cap */
    VPXI_ERR_LEADING_ZERO = -9,      /* decimal length with a leading zero */
    VPXI_ERR_BAD_SIG = -10,          /* signature does not verify */
    VPXI_ERR_EXPIRED = -11,          /* validity ended before now */
    VPXI_ERR_NOT_YET_VALID = -12,    /* validity starts after now */
    VPXI_ERR_NOT_AUTHORIZED = -13,   /* no chain grants what was asked */
    VPXI_ERR_NO_DELEGATION = -14,    /* a link without (propagate) is followed by another */
    VPXI_ERR_ISSUER_MISMATCH = -15,  /* issuer of a link is not the subject of the previous */
    VPXI_ERR_TAG_EMPTY = -16,        /* tag intersection is empty */
    VPXI_ERR_VALIDITY_EMPTY = -17,   /* validity periods are disjoint */
    VPXI_ERR_REPLAY = -18,           /* replayed or too old */
    VPXI_ERR_BAD_STATE = -19,        /* message not acceptable in this state */
    VPXI_ERR_SYS = -20,              /* system call failed; see errno */
    VPXI_ERR_UNSUPPORTED = -21,      /* algorithm or feature not supported */
    VPXI_ERR_NOT_FOUND = -22,        /* no such object */
    VPXI_ERR_BAD_KEY = -23,          /* malformed or unusable key */
    VPXI_ERR_KEY_PERMS = -24,        /* private key file readable by group or others */
    VPXI_ERR_EXISTS = -25,           /* object already exists */
    VPXI_ERR_BAD_MAC = -26,          /* MAC or ICV does not verify */
    VPXI_ERR_BAD_PUZZLE = -27,       /* puzzle solution wrong */
    VPXI_ERR_BAD_CHECKSUM = -28,     /* checksum wrong */
    VPXI_ERR_NO_CHAIN = -29,         /* no certificate chain presented */
    VPXI_ERR_HASH_MISMATCH = -30,    /* digest does not match */
    VPXI_ERR_TIMEOUT = -31,          /* operation timed out */
    VPXI_ERR_ROLLBACK = -32,         /* version older than the last one seen */
    VPXI_ERR_UNKNOWN_CRITICAL = -33, /* unknown critical parameter */
    VPXI_ERR_ORDER = -34,            /* elements out of the required order */
    VPXI_ERR_DUPLICATE = -35,        /* an element that may appear once appears twice */
    VPXI_ERR_THRESHOLD = -36,        /* fewer than k branches of a k-of-n subject reduce */
    VPXI_ERR_BAD_TAG = -37,          /* malformed tag expression */
    VPXI_ERR_UNKNOWN_KEY = -38,      /* signer's key is not available */
    VPXI_ERR_LIMIT = -39,            /* a resource limit was reached (e.g. SA lifetime) */
    VPXI_ERR_REVOKED = -40,          /* revoked */
    VPXI_ERR_IO = -41,               /* short read/write or device error */
    VPXI_ERR_NOSPACE = -42,          /* no space left on device */
    VPXI_ERR_PERM = -43,             /* operation not permitted */
    VPXI_ERR_PROTOCOL = -44,         /* peer violated the protocol */
    VPXI_ERR_NO_SIGNATURE = -45,     /* a certificate without its signature */
    VPXI_ERR_MIN = -45
};

/* Returns a static, human-readable description of an error code (never NULL). */
const char *vpxi_strerror(int err);

/* Returns the symbolic name ("VPXI_ERR_EXPIRED") of a code, for logs and JSON. */
const char *vpxi_errname(int err);

/*
 * Caller bugs (NULL where a pointer is required, a length beyond a documented
 * maximum) are not errors: they abort with a message (cf. libsodium's
 * sodium_misuse). Never reachable from peer input.
 */
__attribute__((noreturn)) void vpxi_misuse(const char *what);

#endif
