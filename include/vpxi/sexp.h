/*
 * sexp.h - S-expressions (RFC 9804): parse and print the canonical,
 * advanced and transport forms.
 *
 * Nodes live in an arena (struct vpxi_sx) and are freed all at once with it.
 * A node is an atom (octet string with an optional display hint) or a list.
 *
 * Canonical output is unique: two expressions are equal iff their canonical
 * encodings are equal. Signatures are always computed and verified over
 * canonical bytes. When an expression is parsed from canonical bytes, every
 * node records its span: the exact bytes it was parsed from (for a
 * certificate, the exact signed bytes). vpxi_sexp_read() guarantees spans for
 * input in any form by canonicalizing first.
 *
 * Untrusted input is bounded by struct vpxi_sexp_limits: atom size, list
 * length, nesting depth, node count and total input size. Errors return a
 * VPXI_ERR_* code and the byte offset where parsing stopped.
 */
#ifndef VPXI_SEXP_H
#define VPXI_SEXP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

struct vpxi_wr;

enum vpxi_sexp_type {
    VPXI_SEXP_ATOM = 1,
    VPXI_SEXP_LIST = 2,
};

struct vpxi_sexp {
    struct vpxi_sexp *next; /* next element of the enclosing list */
    enum vpxi_sexp_type type;
    uint32_t len;        /* atom: octets; list: number of elements */
    const uint8_t *data; /* atom octets (not NUL-terminated) */
    const uint8_t *hint; /* atom display hint or NULL */
    uint32_t hint_len;
    struct vpxi_sexp *child, *last; /* list elements */
    const uint8_t *span;            /* canonical bytes this node was parsed from, or NULL */
    size_t span_len;
};

enum vpxi_sexp_defaults {
    VPXI_SEXP_ATOM_MAX = 64 * 1024,        /* octets per atom */
    VPXI_SEXP_LIST_MAX = 4096,             /* elements per list */
    VPXI_SEXP_DEPTH_MAX = 64,              /* nesting depth */
    VPXI_SEXP_NODES_MAX = 1 << 20,         /* nodes per parse */
    VPXI_SEXP_INPUT_MAX = 16 * 1024 * 1024 /* octets of input */
};

struct vpxi_sexp_limits {
    size_t atom_max, list_max, depth_max, nodes_max, input_max;
};

/* The defaults above. */
extern const struct vpxi_sexp_limits vpxi_sexp_limits_default;

/* Where and why a parse failed. */
struct vpxi_sexp_error {
    int code;      /* VPXI_ERR_* */
    size_t offset; /* byte offset in the input */
};

/* ---- arena --------------------------------------------------------------- */

struct vpxi_sx;
struct vpxi_sx *vpxi_sx_new(void);
void vpxi_sx_free(struct vpxi_sx *sx);
/* Raw arena memory (8-byte aligned), freed with the arena. */
void *vpxi_sx_alloc(struct vpxi_sx *sx, size_t n);
/* Copies n bytes into the arena. */
uint8_t *vpxi_sx_dup(struct vpxi_sx *sx, const void *p, size_t n);
/* Registers fn(arg) to run when the arena is freed (in reverse order of
 * registration); used to drop key references held by parsed objects.
 * On VPXI_ERR_NOMEM, fn(arg) has been run already. */
int vpxi_sx_defer(struct vpxi_sx *sx, void (*fn)(void *), void *arg) VPXI_WUR;

/* ---- parsing ----------------------------------------------------------- */

/* Canonical form only, the whole input must be one expression. The input is
 * copied into the arena; every node gets its span. lim may be NULL. */
int vpxi_sexp_parse_canonical(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                              const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                              struct vpxi_sexp_error *err) VPXI_WUR;
/* Advanced form (which includes canonical and embedded {transport}). Nodes
 * have no span. */
int vpxi_sexp_parse_advanced(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                             const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                             struct vpxi_sexp_error *err) VPXI_WUR;
/* Any of the three forms (leading/trailing whitespace allowed); the result
 * is re-parsed from its canonical encoding, so every node has a span. */
int vpxi_sexp_read(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                   const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                   struct vpxi_sexp_error *err) VPXI_WUR;

/* ---- printing ----------------------------------------------------------- */

enum vpxi_sexp_form {
    VPXI_SEXP_CANONICAL = 1,
    VPXI_SEXP_ADVANCED = 2,  /* pretty-printed, indented, for humans */
    VPXI_SEXP_TRANSPORT = 3, /* {base64 of canonical} */
};

int vpxi_sexp_write(const struct vpxi_sexp *n, enum vpxi_sexp_form form, struct vpxi_wr *w);
int vpxi_sexp_write_canonical(const struct vpxi_sexp *n, struct vpxi_wr *w);
/* Advanced form on one line (no newlines), for logs and table cells. */
int vpxi_sexp_write_compact(const struct vpxi_sexp *n, struct vpxi_wr *w);
size_t vpxi_sexp_canonical_len(const struct vpxi_sexp *n);
/* Canonical bytes of n: its span if it has one, else a fresh encoding in the arena. */
int vpxi_sexp_canonical(struct vpxi_sx *sx, const struct vpxi_sexp *n, const uint8_t **p,
                        size_t *len) VPXI_WUR;

/* ---- building ----------------------------------------------------------- */

/* New nodes are allocated in sx; atom bytes are copied. NULL on ENOMEM. */
struct vpxi_sexp *vpxi_sexp_atom(struct vpxi_sx *sx, const void *p, size_t n);
struct vpxi_sexp *vpxi_sexp_atom_str(struct vpxi_sx *sx, const char *s);
struct vpxi_sexp *vpxi_sexp_atom_u64(struct vpxi_sx *sx, uint64_t v); /* decimal */
struct vpxi_sexp *vpxi_sexp_list(struct vpxi_sx *sx);
/* Appends item (which must not be in another list) to list. */
void vpxi_sexp_append(struct vpxi_sexp *list, struct vpxi_sexp *item);
/* Deep copy into sx (spans are not kept). */
struct vpxi_sexp *vpxi_sexp_copy(struct vpxi_sx *sx, const struct vpxi_sexp *n);

/*
 * Builds an expression from an advanced-form template with directives:
 *   %s  const char *          an atom with the string's bytes
 *   %b  const void *, size_t  an atom with these bytes
 *   %u  uint64_t              an atom with the decimal digits
 *   %S  struct vpxi_sexp *    the node (deep-copied)
 *   %L  struct vpxi_sexp *    the elements of a list, spliced in (deep-copied)
 * Example: vpxi_sexp_build(sx, &n, "(hash %s %b)", "sha256", d, 32).
 * A %S or %L argument may be NULL, which inserts nothing.
 */
int vpxi_sexp_build(struct vpxi_sx *sx, struct vpxi_sexp **out, const char *fmt, ...) VPXI_WUR;
int vpxi_sexp_vbuild(struct vpxi_sx *sx, struct vpxi_sexp **out, const char *fmt,
                     va_list ap) VPXI_WUR;

/* ---- inspecting ----------------------------------------------------------- */

static inline bool vpxi_sexp_is_list(const struct vpxi_sexp *n)
{
    return n && n->type == VPXI_SEXP_LIST;
}
static inline bool vpxi_sexp_is_atom(const struct vpxi_sexp *n)
{
    return n && n->type == VPXI_SEXP_ATOM;
}
/* Atom without hint whose bytes equal the C string s. */
bool vpxi_sexp_atom_is(const struct vpxi_sexp *n, const char *s);
/* i-th element of a list (0-based) or NULL. */
struct vpxi_sexp *vpxi_sexp_nth(const struct vpxi_sexp *list, size_t i);
/* A list whose first element is the atom s. */
bool vpxi_sexp_head_is(const struct vpxi_sexp *n, const char *s);
/* First element of list that is a list headed by s, or NULL. */
struct vpxi_sexp *vpxi_sexp_find(const struct vpxi_sexp *list, const char *s);
/* Structural equality, display hints included. */
bool vpxi_sexp_equal(const struct vpxi_sexp *a, const struct vpxi_sexp *b);
/* Parses an atom of decimal digits (no sign, no leading zeros unless "0"). */
int vpxi_sexp_get_u64(const struct vpxi_sexp *n, uint64_t *v) VPXI_WUR;
/* Copies an atom into a NUL-terminated string; VPXI_ERR_BAD_FORMAT if it has
 * a NUL byte, VPXI_ERR_TOO_LARGE if it does not fit. */
int vpxi_sexp_get_str(const struct vpxi_sexp *n, char *buf, size_t cap) VPXI_WUR;
/* True iff the atom is a valid advanced-form token. */
bool vpxi_sexp_is_token(const uint8_t *p, size_t n);

#endif
