/*
 * msg.h - the request/reply messages of the vpxi services (docs/protocol.md):
 * a canonical S-expression (request (id N) (op NAME) ARG...) or
 * (reply (id N) (ok) RESULT...) / (reply (id N) (error CODE MESSAGE)).
 * Parsing only: framing and sockets are the caller's (src/common/svc.c).
 */
#ifndef VPXI_MSG_H
#define VPXI_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"
#include "vpxi/sexp.h"

enum vpxi_msg_limits {
    VPXI_MSG_MAX = 4 * 1024 * 1024, /* bytes of one message */
    VPXI_MSG_ID_MAX = 20,           /* digits of an id */
    VPXI_MSG_NAME_MAX = 64,         /* bytes of an op name or error code */
};

struct vpxi_msg {
    bool is_reply;
    char id[VPXI_MSG_ID_MAX + 1];
    char op[VPXI_MSG_NAME_MAX + 1];   /* request */
    bool ok;                          /* reply */
    char code[VPXI_MSG_NAME_MAX + 1]; /* error reply: VPXI_ERR_* name */
    const struct vpxi_sexp *message;  /* error reply: atom */
    const struct vpxi_sexp *root;
    const struct vpxi_sexp *first; /* first argument / result, or NULL */
};

/* Parses one message (canonical bytes) into sx. Limits suit the protocol:
 * 4 MiB, 65536 elements per list, depth 32. */
int vpxi_msg_parse(struct vpxi_sx *sx, const uint8_t *p, size_t len, struct vpxi_msg *out) VPXI_WUR;
/* The argument or result list headed by name, or NULL. */
const struct vpxi_sexp *vpxi_msg_get(const struct vpxi_msg *m, const char *name);
/* Its single atom value as a string (NUL-terminated); VPXI_ERR_NOT_FOUND if
 * absent, VPXI_ERR_BAD_FORMAT if not (name atom). */
int vpxi_msg_get_str(const struct vpxi_msg *m, const char *name, char *buf, size_t cap) VPXI_WUR;
/* The VPXI_ERR_* value of an error reply's code (VPXI_ERR_INTERNAL if unknown). */
int vpxi_msg_error_code(const struct vpxi_msg *m);

/* Builders: (request (id ID) (op OP)) and (reply (id ID) (ok)); append
 * arguments / results to the returned list. */
int vpxi_msg_request(struct vpxi_sx *sx, const char *id, const char *op,
                     struct vpxi_sexp **out) VPXI_WUR;
int vpxi_msg_reply_ok(struct vpxi_sx *sx, const char *id, struct vpxi_sexp **out) VPXI_WUR;
int vpxi_msg_reply_error(struct vpxi_sx *sx, const char *id, int code, const char *message,
                         struct vpxi_sexp **out) VPXI_WUR;

#endif
