/*
 * msg.c - request/reply messages of the vpxi services (docs/protocol.md).
 */
#include <string.h>

#include "vpxi/msg.h"

static const struct vpxi_sexp_limits msg_limits = {
    .atom_max = VPXI_MSG_MAX,
    .list_max = 65536,
    .depth_max = 32,
    .nodes_max = 1 << 20,
    .input_max = VPXI_MSG_MAX,
};

/* (NAME ATOM) with the atom copied into buf. */
static int field_str(const struct vpxi_sexp *list, const char *name, char *buf, size_t cap,
                     bool digits)
{
    const struct vpxi_sexp *f = vpxi_sexp_find(list, name), *v;
    int r;

    if (!f)
        return VPXI_ERR_NOT_FOUND;
    v = f->child->next;
    if (f->len != 2 || !vpxi_sexp_is_atom(v) || v->hint || v->len == 0)
        return VPXI_ERR_BAD_FORMAT;
    if ((r = vpxi_sexp_get_str(v, buf, cap)) != 0)
        return r;
    for (size_t i = 0; digits && buf[i]; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return VPXI_ERR_BAD_FORMAT;
    return 0;
}

int vpxi_msg_parse(struct vpxi_sx *sx, const uint8_t *p, size_t len, struct vpxi_msg *out)
{
    const struct vpxi_sexp *n, *e, *err;
    struct vpxi_sexp *root;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = vpxi_sexp_parse_canonical(sx, p, len, &msg_limits, &root, NULL)) != 0)
        return r;
    n = root;
    out->root = n;
    if (vpxi_sexp_head_is(n, "request")) {
        if ((r = field_str(n, "id", out->id, sizeof(out->id), true)) != 0 ||
            (r = field_str(n, "op", out->op, sizeof(out->op), false)) != 0)
            return r == VPXI_ERR_NOT_FOUND ? VPXI_ERR_BAD_FORMAT : r;
        /* arguments follow (id) and (op), in any order among themselves */
        for (e = n->child->next; e; e = e->next)
            if (!vpxi_sexp_head_is(e, "id") && !vpxi_sexp_head_is(e, "op")) {
                if (!vpxi_sexp_is_list(e) || !vpxi_sexp_is_atom(e->child))
                    return VPXI_ERR_BAD_FORMAT;
                if (!out->first)
                    out->first = e;
            }
        return 0;
    }
    if (!vpxi_sexp_head_is(n, "reply"))
        return VPXI_ERR_BAD_FORMAT;
    out->is_reply = true;
    if ((r = field_str(n, "id", out->id, sizeof(out->id), true)) != 0)
        return r == VPXI_ERR_NOT_FOUND ? VPXI_ERR_BAD_FORMAT : r;
    if (vpxi_sexp_find(n, "ok")) {
        out->ok = true;
        for (e = n->child->next; e; e = e->next) {
            if (!vpxi_sexp_is_list(e) || !vpxi_sexp_is_atom(e->child))
                return VPXI_ERR_BAD_FORMAT;
            if (!out->first && !vpxi_sexp_head_is(e, "id") && !vpxi_sexp_head_is(e, "ok"))
                out->first = e;
        }
        return 0;
    }
    if ((err = vpxi_sexp_find(n, "error")) == NULL || err->len != 3 ||
        !vpxi_sexp_is_atom(vpxi_sexp_nth(err, 1)) || !vpxi_sexp_is_atom(vpxi_sexp_nth(err, 2)))
        return VPXI_ERR_BAD_FORMAT;
    if ((r = vpxi_sexp_get_str(vpxi_sexp_nth(err, 1), out->code, sizeof(out->code))) != 0)
        return r;
    out->message = vpxi_sexp_nth(err, 2);
    return 0;
}

const struct vpxi_sexp *vpxi_msg_get(const struct vpxi_msg *m, const char *name)
{
    return vpxi_sexp_find(m->root, name);
}

int vpxi_msg_get_str(const struct vpxi_msg *m, const char *name, char *buf, size_t cap)
{
    if (cap)
        buf[0] = 0;
    return field_str(m->root, name, buf, cap, false);
}

int vpxi_msg_error_code(const struct vpxi_msg *m)
{
    for (int c = 0; c >= VPXI_ERR_MIN; c--)
        if (!strcmp(vpxi_errname(c), m->code))
            return c;
    return VPXI_ERR_INTERNAL;
}

int vpxi_msg_request(struct vpxi_sx *sx, const char *id, const char *op, struct vpxi_sexp **out)
{
    return vpxi_sexp_build(sx, out, "(request (id %s) (op %s))", id, op);
}

int vpxi_msg_reply_ok(struct vpxi_sx *sx, const char *id, struct vpxi_sexp **out)
{
    return vpxi_sexp_build(sx, out, "(reply (id %s) (ok))", id);
}

int vpxi_msg_reply_error(struct vpxi_sx *sx, const char *id, int code, const char *message,
                         struct vpxi_sexp **out)
{
    return vpxi_sexp_build(sx, out, "(reply (id %s) (error %s %s))", id, vpxi_errname(code),
                           message);
}
