/*
 * sexp_text.c - the text forms of S-expressions: the advanced (human) form
 * and the transport form {base64}, their parsers and writers, the template
 * builder, and vpxi_sexp_read() which accepts all three forms.
 *
 * Advanced form accepted here (RFC 9804 section 4.3; Rivest's 1997 draft):
 *   token        alpha or one of - . / _ : * + = , then also digits
 *   verbatim     decimal ":" octets
 *   quoted       [decimal] "..." with escapes \a \b \t \v \n \f \r \" \' \? \\
 *                \ooo (exactly 3 digits) \xhh (exactly 2) and backslash-newline
 *                continuation; other bytes are taken as they are
 *   hexadecimal  [decimal] #..# (whitespace allowed inside)
 *   base64       [decimal] |..| (whitespace allowed inside)
 *   hint         [ simple-string ] before an atom
 *   list         ( values )
 *   transport    { base64 of a canonical expression }, anywhere a value may be
 * The optional decimal before quoted/hex/base64 must equal the decoded length.
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "trust/sexp_int.h"

enum {
    ADV_DEPTH_HARD_MAX = 1024, /* recursion bound of the advanced parser */
    ADV_WIDTH = 78,            /* pretty-printer line width */
    ADV_HEX_MAX = 24,          /* binary atoms up to this size print as #hex# */
    ADV_QUOTE_MAX = 4096,      /* printable atoms up to this size print quoted */
};

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_token_punct(uint8_t c)
{
    return c == '-' || c == '.' || c == '/' || c == '_' || c == ':' || c == '*' || c == '+' ||
           c == '=';
}

static bool is_token_char(uint8_t c)
{
    return is_alpha(c) || is_digit(c) || is_token_punct(c);
}

bool vpxi_sexp_is_token(const uint8_t *p, size_t n)
{
    size_t i;

    if (n == 0 || is_digit(p[0]))
        return false;
    for (i = 0; i < n; i++)
        if (!is_token_char(p[i]))
            return false;
    return true;
}

/* ---- advanced parser ------------------------------------------------------- */

struct aparse {
    const uint8_t *p;
    size_t len, pos, nodes, depth;
    const struct vpxi_sexp_limits *lim;
    struct vpxi_sx *sx;
    va_list *ap; /* builder mode: % directives allowed */
};

static void skip_ws(struct aparse *a)
{
    while (a->pos < a->len && is_ws(a->p[a->pos]))
        a->pos++;
}

static int hexval(uint8_t c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* #..#: the cursor is on '#'. */
static int parse_hex(struct aparse *a, uint8_t **out, size_t *olen)
{
    size_t start = ++a->pos, n = 0, digits = 0;
    uint8_t *buf;
    int hi = -1, v;

    while (a->pos < a->len && a->p[a->pos] != '#')
        a->pos++;
    if (a->pos >= a->len)
        return VPXI_ERR_TRUNCATED;
    if ((buf = vpxi_sx_alloc(a->sx, (a->pos - start) / 2 + 1)) == NULL)
        return VPXI_ERR_NOMEM;
    for (size_t i = start; i < a->pos; i++) {
        if (is_ws(a->p[i]))
            continue;
        if ((v = hexval(a->p[i])) < 0) {
            a->pos = i;
            return VPXI_ERR_BAD_FORMAT;
        }
        digits++;
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (digits % 2)
        return VPXI_ERR_BAD_FORMAT;
    a->pos++;
    *out = buf;
    *olen = n;
    return 0;
}

/* Decodes base64 between p[start] and the closing delimiter at a->pos,
 * skipping whitespace. */
static int decode_b64(struct aparse *a, size_t start, size_t end, uint8_t **out, size_t *olen)
{
    char *clean;
    uint8_t *buf;
    size_t n = 0, i;
    int r;

    if ((clean = vpxi_sx_alloc(a->sx, end - start + 3)) == NULL)
        return VPXI_ERR_NOMEM;
    for (i = start; i < end; i++)
        if (!is_ws(a->p[i]))
            clean[n++] = (char)a->p[i];
    /* RFC 9804 lets input omit the '=' padding; restore it. */
    if (n % 4 == 2 || n % 4 == 3)
        while (n % 4)
            clean[n++] = '=';
    if ((buf = vpxi_sx_alloc(a->sx, vpxi_b64_declen_max(n))) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = vpxi_b64_decode(buf, vpxi_b64_declen_max(n), olen, clean, n)) != 0) {
        a->pos = start;
        return r;
    }
    *out = buf;
    return 0;
}

/* |..| or {..}: the cursor is on the opening delimiter. */
static int parse_b64(struct aparse *a, uint8_t close, uint8_t **out, size_t *olen)
{
    size_t start = ++a->pos;
    int r;

    while (a->pos < a->len && a->p[a->pos] != close)
        a->pos++;
    if (a->pos >= a->len)
        return VPXI_ERR_TRUNCATED;
    if ((r = decode_b64(a, start, a->pos, out, olen)) != 0)
        return r;
    a->pos++;
    return 0;
}

/* One escape after a backslash inside a quoted string; the cursor is past
 * the backslash. Returns the byte through *c, or -1 through *c for a
 * line continuation that produces nothing. */
static int parse_escape(struct aparse *a, int *c)
{
    uint8_t e;
    int v1, v2, v3;

    if (a->pos >= a->len)
        return VPXI_ERR_TRUNCATED;
    e = a->p[a->pos++];
    switch (e) {
    case 'a': *c = '\a'; return 0;
    case '?': *c = '?'; return 0;
    case 'b': *c = '\b'; return 0;
    case 't': *c = '\t'; return 0;
    case 'v': *c = '\v'; return 0;
    case 'n': *c = '\n'; return 0;
    case 'f': *c = '\f'; return 0;
    case 'r': *c = '\r'; return 0;
    case '"': *c = '"'; return 0;
    case '\'': *c = '\''; return 0;
    case '\\': *c = '\\'; return 0;
    case '\r':
    case '\n':
        /* continuation: \ followed by CR, LF, CRLF or LFCR */
        if (a->pos < a->len && (a->p[a->pos] == '\r' || a->p[a->pos] == '\n') && a->p[a->pos] != e)
            a->pos++;
        *c = -1;
        return 0;
    case 'x':
        if (a->len - a->pos < 2)
            return VPXI_ERR_TRUNCATED;
        v1 = hexval(a->p[a->pos]);
        v2 = hexval(a->p[a->pos + 1]);
        if (v1 < 0 || v2 < 0)
            return VPXI_ERR_BAD_FORMAT;
        a->pos += 2;
        *c = v1 << 4 | v2;
        return 0;
    default:
        if (e < '0' || e > '7')
            return VPXI_ERR_BAD_FORMAT;
        if (a->len - a->pos < 2)
            return VPXI_ERR_TRUNCATED;
        v1 = e - '0';
        v2 = a->p[a->pos] - '0';
        v3 = a->p[a->pos + 1] - '0';
        if (v2 < 0 || v2 > 7 || v3 < 0 || v3 > 7 || v1 > 3)
            return VPXI_ERR_BAD_FORMAT;
        a->pos += 2;
        *c = v1 << 6 | v2 << 3 | v3;
        return 0;
    }
}

/* "...": the cursor is on the opening quote. */
static int parse_quoted(struct aparse *a, uint8_t **out, size_t *olen)
{
    size_t start = ++a->pos, n = 0;
    uint8_t *buf;
    int c, r;

    /* The decoded string is never longer than its source. */
    for (size_t i = start; i < a->len && a->p[i] != '"'; i++)
        if (a->p[i] == '\\')
            i++;
    if ((buf = vpxi_sx_alloc(a->sx, a->len - start + 1)) == NULL)
        return VPXI_ERR_NOMEM;
    for (;;) {
        if (a->pos >= a->len)
            return VPXI_ERR_TRUNCATED;
        c = a->p[a->pos++];
        if (c == '"')
            break;
        if (c == '\\') {
            if ((r = parse_escape(a, &c)) != 0)
                return r;
            if (c < 0)
                continue;
        }
        buf[n++] = (uint8_t)c;
    }
    *out = buf;
    *olen = n;
    return 0;
}

/* A simple string in any of its advanced encodings. */
static int parse_simple(struct aparse *a, const uint8_t **out, uint32_t *olen)
{
    size_t start = a->pos, declared = 0, n = 0;
    bool has_len = false;
    uint8_t *buf = NULL;
    int r;

    if (a->pos >= a->len)
        return VPXI_ERR_TRUNCATED;
    if (is_digit(a->p[a->pos])) {
        if (a->p[a->pos] == '0' && a->pos + 1 < a->len && is_digit(a->p[a->pos + 1]))
            return VPXI_ERR_LEADING_ZERO;
        while (a->pos < a->len && is_digit(a->p[a->pos])) {
            declared = declared * 10 + (size_t)(a->p[a->pos++] - '0');
            if (declared > a->lim->atom_max) {
                a->pos = start;
                return VPXI_ERR_TOO_LARGE;
            }
        }
        has_len = true;
        if (a->pos >= a->len)
            return VPXI_ERR_TRUNCATED;
        if (a->p[a->pos] == ':') {
            a->pos++;
            if (declared > a->len - a->pos)
                return VPXI_ERR_TRUNCATED;
            *out = a->p + a->pos;
            *olen = (uint32_t)declared;
            a->pos += declared;
            return 0;
        }
    }
    switch (a->p[a->pos]) {
    case '"': r = parse_quoted(a, &buf, &n); break;
    case '#': r = parse_hex(a, &buf, &n); break;
    case '|': r = parse_b64(a, '|', &buf, &n); break;
    default:
        if (has_len || !is_token_char(a->p[a->pos]))
            return VPXI_ERR_BAD_FORMAT;
        while (a->pos < a->len && is_token_char(a->p[a->pos]))
            a->pos++;
        n = a->pos - start;
        if (n > a->lim->atom_max) {
            a->pos = start;
            return VPXI_ERR_TOO_LARGE;
        }
        *out = a->p + start;
        *olen = (uint32_t)n;
        return 0;
    }
    if (r)
        return r;
    if (n > a->lim->atom_max) {
        a->pos = start;
        return VPXI_ERR_TOO_LARGE;
    }
    if (has_len && n != declared) {
        a->pos = start;
        return VPXI_ERR_BAD_FORMAT;
    }
    *out = buf;
    *olen = (uint32_t)n;
    return 0;
}

static int attach(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root,
                  struct vpxi_sexp *n)
{
    if (++a->nodes > a->lim->nodes_max)
        return VPXI_ERR_TOO_LARGE;
    if (!parent) {
        if (*root)
            return VPXI_ERR_TRAILING_DATA;
        *root = n;
        return 0;
    }
    if (parent->len >= a->lim->list_max)
        return VPXI_ERR_TOO_LARGE;
    vpxi_sexp_append(parent, n);
    return 0;
}

static int parse_value(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root);

static int parse_list(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root)
{
    struct vpxi_sexp *l;
    int r;

    if (a->depth >= a->lim->depth_max || a->depth >= ADV_DEPTH_HARD_MAX)
        return VPXI_ERR_TOO_DEEP;
    if ((l = sexp_node(a->sx, VPXI_SEXP_LIST)) == NULL)
        return VPXI_ERR_NOMEM;
    if ((r = attach(a, parent, root, l)) != 0)
        return r;
    a->pos++;
    a->depth++;
    for (;;) {
        skip_ws(a);
        if (a->pos >= a->len)
            return VPXI_ERR_TRUNCATED;
        if (a->p[a->pos] == ')')
            break;
        if ((r = parse_value(a, l, root)) != 0)
            return r;
    }
    a->pos++;
    a->depth--;
    return 0;
}

/* {base64 of canonical}: decoded and parsed as canonical. */
static int parse_transport(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root)
{
    struct vpxi_sexp_limits sub = *a->lim;
    struct vpxi_sexp_error e;
    struct vpxi_sexp *n;
    uint8_t *bin;
    size_t blen, start = a->pos;
    int r;

    if ((r = parse_b64(a, '}', &bin, &blen)) != 0)
        return r;
    sub.depth_max = a->lim->depth_max > a->depth ? a->lim->depth_max - a->depth : 0;
    if ((r = vpxi_sexp_parse_canonical(a->sx, bin, blen, &sub, &n, &e)) != 0) {
        a->pos = start;
        return r;
    }
    n->span = NULL; /* spans point into the decoded copy, not the input */
    return attach(a, parent, root, n);
}

/* Builder directives. */
static int parse_directive(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root)
{
    struct vpxi_sexp *n = NULL, *src, *e;
    const char *s;
    const void *b;
    size_t blen;
    int r;

    if (!a->ap || a->len - a->pos < 2)
        return VPXI_ERR_BAD_FORMAT;
    switch (a->p[a->pos + 1]) {
    case 's':
        s = va_arg(*a->ap, const char *);
        n = vpxi_sexp_atom_str(a->sx, s);
        break;
    case 'b':
        b = va_arg(*a->ap, const void *);
        blen = va_arg(*a->ap, size_t);
        n = vpxi_sexp_atom(a->sx, b, blen);
        break;
    case 'u': n = vpxi_sexp_atom_u64(a->sx, va_arg(*a->ap, uint64_t)); break;
    case 'S':
        src = va_arg(*a->ap, struct vpxi_sexp *);
        a->pos += 2;
        if (!src)
            return 0;
        n = vpxi_sexp_copy(a->sx, src);
        a->pos -= 2;
        break;
    case 'L':
        src = va_arg(*a->ap, struct vpxi_sexp *);
        a->pos += 2;
        if (!src)
            return 0;
        if (!parent || !vpxi_sexp_is_list(src))
            return VPXI_ERR_INVALID;
        for (e = src->child; e; e = e->next) {
            struct vpxi_sexp *c = vpxi_sexp_copy(a->sx, e);
            if (!c)
                return VPXI_ERR_NOMEM;
            if ((r = attach(a, parent, root, c)) != 0)
                return r;
        }
        return 0;
    default: return VPXI_ERR_BAD_FORMAT;
    }
    if (!n)
        return VPXI_ERR_NOMEM;
    a->pos += 2;
    return attach(a, parent, root, n);
}

static int parse_value(struct aparse *a, struct vpxi_sexp *parent, struct vpxi_sexp **root)
{
    struct vpxi_sexp *n;
    int r;

    skip_ws(a);
    if (a->pos >= a->len)
        return VPXI_ERR_TRUNCATED;
    switch (a->p[a->pos]) {
    case '(': return parse_list(a, parent, root);
    case '{': return parse_transport(a, parent, root);
    case ')':
    case ']':
    case '}': return VPXI_ERR_BAD_FORMAT;
    case '%': return parse_directive(a, parent, root);
    default: break;
    }
    if ((n = sexp_node(a->sx, VPXI_SEXP_ATOM)) == NULL)
        return VPXI_ERR_NOMEM;
    if (a->p[a->pos] == '[') {
        a->pos++;
        skip_ws(a);
        if ((r = parse_simple(a, &n->hint, &n->hint_len)) != 0)
            return r;
        skip_ws(a);
        if (a->pos >= a->len)
            return VPXI_ERR_TRUNCATED;
        if (a->p[a->pos] != ']')
            return VPXI_ERR_BAD_FORMAT;
        a->pos++;
        skip_ws(a);
    }
    if ((r = parse_simple(a, &n->data, &n->len)) != 0)
        return r;
    /* Atoms point into the input or temporary buffers: copy into the arena
     * unless already there. parse_simple's decoded buffers are arena memory;
     * tokens and verbatim strings point into the (arena) input copy. */
    return attach(a, parent, root, n);
}

static int aparse_run(struct aparse *a, struct vpxi_sexp **out, struct vpxi_sexp_error *err)
{
    struct vpxi_sexp *root = NULL;
    int r;

    if (a->len > a->lim->input_max) {
        r = VPXI_ERR_TOO_LARGE;
        goto out;
    }
    if ((r = parse_value(a, NULL, &root)) != 0)
        goto out;
    skip_ws(a);
    if (a->pos != a->len) {
        r = VPXI_ERR_TRAILING_DATA;
        goto out;
    }
    *out = root;
out:
    if (err) {
        err->code = r;
        err->offset = r ? a->pos : 0;
    }
    return r;
}

int vpxi_sexp_parse_advanced(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                             const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                             struct vpxi_sexp_error *err)
{
    struct aparse a = { 0 };

    *out = NULL;
    a.lim = lim ? lim : &vpxi_sexp_limits_default;
    a.sx = sx;
    a.len = len;
    if (len <= a.lim->input_max && (a.p = vpxi_sx_dup(sx, p, len)) == NULL) {
        if (err) {
            err->code = VPXI_ERR_NOMEM;
            err->offset = 0;
        }
        return VPXI_ERR_NOMEM;
    }
    return aparse_run(&a, out, err);
}

int vpxi_sexp_vbuild(struct vpxi_sx *sx, struct vpxi_sexp **out, const char *fmt, va_list ap)
{
    struct aparse a = { 0 };
    va_list copy;
    int r;

    *out = NULL;
    va_copy(copy, ap);
    a.lim = &vpxi_sexp_limits_default;
    a.sx = sx;
    a.p = (const uint8_t *)fmt;
    a.len = strlen(fmt);
    a.ap = &copy;
    r = aparse_run(&a, out, NULL);
    va_end(copy);
    if (r == VPXI_ERR_BAD_FORMAT || r == VPXI_ERR_TRUNCATED || r == VPXI_ERR_TRAILING_DATA)
        vpxi_misuse("vpxi_sexp_build: bad template");
    return r;
}

int vpxi_sexp_build(struct vpxi_sx *sx, struct vpxi_sexp **out, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vpxi_sexp_vbuild(sx, out, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- any form ------------------------------------------------------------ */

int vpxi_sexp_read(struct vpxi_sx *sx, const uint8_t *p, size_t len,
                   const struct vpxi_sexp_limits *lim, struct vpxi_sexp **out,
                   struct vpxi_sexp_error *err)
{
    struct vpxi_sexp_error ce = { 0 }, ae = { 0 };
    struct vpxi_sexp *adv;
    const uint8_t *canon;
    size_t clen;
    int r;

    *out = NULL;
    if (!lim)
        lim = &vpxi_sexp_limits_default;
    /* Canonical input is taken as is (its bytes are what was signed). */
    if (vpxi_sexp_parse_canonical(sx, p, len, lim, out, &ce) == 0) {
        if (err)
            err->code = err->offset = 0;
        return 0;
    }
    if ((r = vpxi_sexp_parse_advanced(sx, p, len, lim, &adv, &ae)) != 0) {
        /* Report whichever reading got further into the input. */
        if (err)
            *err = ce.offset > ae.offset ? ce : ae;
        return err ? err->code : r;
    }
    if ((r = vpxi_sexp_canonical(sx, adv, &canon, &clen)) != 0 ||
        (r = vpxi_sexp_parse_canonical(sx, canon, clen, lim, out, err)) != 0)
        return r;
    return 0;
}

/* ---- writers --------------------------------------------------------------- */

enum atom_repr { REPR_TOKEN, REPR_QUOTED, REPR_HEX, REPR_B64 };

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

static enum atom_repr choose_repr(const uint8_t *p, size_t n)
{
    if (vpxi_sexp_is_token(p, n))
        return REPR_TOKEN;
    if (n <= ADV_QUOTE_MAX && printable(p, n))
        return REPR_QUOTED;
    return n <= ADV_HEX_MAX ? REPR_HEX : REPR_B64;
}

static size_t simple_len(const uint8_t *p, size_t n)
{
    size_t t = 2;

    switch (choose_repr(p, n)) {
    case REPR_TOKEN: return n;
    case REPR_QUOTED:
        for (size_t i = 0; i < n; i++)
            t += (p[i] == '"' || p[i] == '\\') ? 2 : 1;
        return t;
    case REPR_HEX: return 2 + 2 * n;
    default: return 2 + vpxi_b64_enclen(n);
    }
}

static int write_simple(struct vpxi_wr *w, const uint8_t *p, size_t n)
{
    char *tmp;

    switch (choose_repr(p, n)) {
    case REPR_TOKEN: return vpxi_wr_bytes(w, p, n);
    case REPR_QUOTED:
        vpxi_wr_u8(w, '"');
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '"' || p[i] == '\\')
                vpxi_wr_u8(w, '\\');
            vpxi_wr_u8(w, p[i]);
        }
        return vpxi_wr_u8(w, '"');
    case REPR_HEX:
        vpxi_wr_u8(w, '#');
        if ((tmp = (char *)vpxi_wr_reserve(w, 2 * n + 1)) != NULL) {
            vpxi_hex_encode(tmp, p, n);
            w->len--; /* drop the NUL */
        }
        return vpxi_wr_u8(w, '#');
    default:
        vpxi_wr_u8(w, '|');
        if ((tmp = (char *)vpxi_wr_reserve(w, vpxi_b64_enclen(n) + 1)) != NULL) {
            vpxi_b64_encode(tmp, p, n);
            w->len--;
        }
        return vpxi_wr_u8(w, '|');
    }
}

static size_t atom_text_len(const struct vpxi_sexp *n)
{
    size_t t = simple_len(n->data, n->len);

    if (n->hint)
        t += 2 + simple_len(n->hint, n->hint_len);
    return t;
}

static int write_atom_text(const struct vpxi_sexp *n, struct vpxi_wr *w)
{
    if (n->hint) {
        vpxi_wr_u8(w, '[');
        write_simple(w, n->hint, n->hint_len);
        vpxi_wr_u8(w, ']');
    }
    return write_simple(w, n->data, n->len);
}

/* One-line length of n, or more than limit (computation stops early). */
static size_t compact_len(const struct vpxi_sexp *n, size_t limit)
{
    const struct vpxi_sexp *e;
    size_t t;

    if (n->type == VPXI_SEXP_ATOM)
        return atom_text_len(n);
    t = 2 + (n->len ? n->len - 1 : 0);
    for (e = n->child; e && t <= limit; e = e->next)
        t += compact_len(e, limit - t + 1);
    return t;
}

int vpxi_sexp_write_compact(const struct vpxi_sexp *n, struct vpxi_wr *w)
{
    const struct vpxi_sexp *e;

    if (n->type == VPXI_SEXP_ATOM)
        return write_atom_text(n, w);
    vpxi_wr_u8(w, '(');
    for (e = n->child; e; e = e->next) {
        if (e != n->child)
            vpxi_wr_u8(w, ' ');
        vpxi_sexp_write_compact(e, w);
    }
    return vpxi_wr_u8(w, ')');
}

static void newline(struct vpxi_wr *w, size_t indent)
{
    vpxi_wr_u8(w, '\n');
    for (size_t i = 0; i < indent; i++)
        vpxi_wr_u8(w, ' ');
}

/* Pretty form: a list that does not fit on the line puts its head after
 * the parenthesis and every other element on its own line, one column in. */
static int write_pretty(const struct vpxi_sexp *n, struct vpxi_wr *w, size_t col)
{
    const struct vpxi_sexp *e;
    size_t room = col < ADV_WIDTH ? ADV_WIDTH - col : 0;

    if (n->type == VPXI_SEXP_ATOM || compact_len(n, room) <= room)
        return vpxi_sexp_write_compact(n, w);
    vpxi_wr_u8(w, '(');
    for (e = n->child; e; e = e->next) {
        if (e != n->child)
            newline(w, col + 1);
        write_pretty(e, w, col + 1);
    }
    return vpxi_wr_u8(w, ')');
}

int vpxi_sexp_write(const struct vpxi_sexp *n, enum vpxi_sexp_form form, struct vpxi_wr *w)
{
    struct vpxi_wr tmp;
    char *b64;

    switch (form) {
    case VPXI_SEXP_CANONICAL: return vpxi_sexp_write_canonical(n, w);
    case VPXI_SEXP_ADVANCED: return write_pretty(n, w, 0);
    case VPXI_SEXP_TRANSPORT:
        vpxi_wr_init_dyn(&tmp, 0);
        if (vpxi_sexp_write_canonical(n, &tmp) != 0) {
            int r = tmp.err;
            vpxi_wr_clear(&tmp);
            return w->err = r;
        }
        vpxi_wr_u8(w, '{');
        if ((b64 = (char *)vpxi_wr_reserve(w, vpxi_b64_enclen(tmp.len) + 1)) != NULL) {
            vpxi_b64_encode(b64, tmp.p, tmp.len);
            w->len--;
        }
        vpxi_wr_clear(&tmp);
        return vpxi_wr_u8(w, '}');
    }
    return w->err = VPXI_ERR_INVALID;
}
