/*
 * json.c - a catalogue as JSON, for humans and other tools.
 *
 * Output only: vpxi never reads catalogues back from JSON (the signed
 * S-expression is the only authoritative form, and JSON has no canonical
 * encoding to sign). Field names are documented in docs/catalog.md.
 */
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

int vpxi_json_string(struct vpxi_wr *w, const uint8_t *p, size_t len)
{
    vpxi_wr_u8(w, '"');
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\')
            vpxi_wr_printf(w, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            vpxi_wr_printf(w, "\\u%04x", c);
        else if (c < 0x80)
            vpxi_wr_u8(w, c);
        else {
            /* copy one valid UTF-8 sequence, or replace a bad octet by U+FFFD */
            size_t k = 2;
            while (k <= 4 && i + k <= len && !cat_text_ok(p + i, k, k))
                k++;
            if (k <= 4 && i + k <= len) {
                vpxi_wr_bytes(w, p + i, k);
                i += k - 1;
            } else {
                vpxi_wr_str(w, "\\ufffd");
            }
        }
    }
    return vpxi_wr_u8(w, '"');
}

static void jstr(struct vpxi_wr *w, const char *s)
{
    vpxi_json_string(w, (const uint8_t *)s, strlen(s));
}

static void jbytes(struct vpxi_wr *w, const struct vpxi_bytes *b)
{
    if (b->len)
        vpxi_json_string(w, b->p, b->len);
    else
        vpxi_wr_str(w, "null");
}

static void jhex(struct vpxi_wr *w, const uint8_t *p, size_t n)
{
    char hex[2 * VPXI_HASH_MAX_LEN + 1];

    if (!p) {
        vpxi_wr_str(w, "null");
        return;
    }
    vpxi_hex_encode(hex, p, n);
    vpxi_wr_printf(w, "\"%s\"", hex);
}

static void jdate(struct vpxi_wr *w, int64_t t)
{
    char d[VPXI_DATE_LEN + 1];

    if (t == VPXI_TIME_MIN || t == VPXI_TIME_MAX) {
        vpxi_wr_str(w, "null");
        return;
    }
    vpxi_date_format(t, d);
    vpxi_wr_printf(w, "\"%s\"", d);
}

/* An S-expression as a JSON string in compact advanced form. */
static void jsexp(struct vpxi_wr *w, const struct vpxi_sexp *n)
{
    struct vpxi_wr t;

    vpxi_wr_init_dyn(&t, 0);
    vpxi_sexp_write_compact(n, &t);
    if (t.err)
        vpxi_wr_str(w, "null");
    else
        vpxi_json_string(w, t.p, t.len);
    vpxi_wr_clear(&t);
}

static void jvalid(struct vpxi_wr *w, const struct vpxi_validity *v)
{
    vpxi_wr_str(w, "{\"not_before\":");
    jdate(w, v->not_before);
    vpxi_wr_str(w, ",\"not_after\":");
    jdate(w, v->not_after);
    vpxi_wr_str(w, "}");
}

static void jgrant(struct vpxi_wr *w, const struct vpxi_subject *s, bool propagate,
                   const struct vpxi_sexp *tag, const struct vpxi_validity *v)
{
    vpxi_wr_str(w, "\"subject\":");
    jsexp(w, s->node);
    if (s->kind == VPXI_SUBJECT_PRINCIPAL) {
        vpxi_wr_str(w, ",\"subject_id\":");
        jhex(w, s->p.hash, s->p.hash_len);
    }
    vpxi_wr_printf(w, ",\"propagate\":%s,\"tag\":", propagate ? "true" : "false");
    jsexp(w, tag);
    vpxi_wr_str(w, ",\"valid\":");
    jvalid(w, v);
}

static void jchain(struct vpxi_wr *w, const struct vpxi_catalog *c)
{
    vpxi_wr_str(w, ",\"delegations\":[");
    for (size_t i = 0; i < c->nchain; i++) {
        const struct vpxi_cert *ce = c->chain[i];
        vpxi_wr_str(w, i ? ",{\"issuer_id\":" : "{\"issuer_id\":");
        jhex(w, ce->issuer.hash, ce->issuer.hash_len);
        vpxi_wr_u8(w, ',');
        jgrant(w, &ce->subject, ce->propagate, ce->tag, &ce->valid);
        vpxi_wr_u8(w, '}');
    }
    vpxi_wr_u8(w, ']');
}

static void jtrust(struct vpxi_wr *w, const struct vpxi_catalog *c)
{
    vpxi_wr_str(w, ",\"trust\":");
    if (!c->trust) {
        vpxi_wr_str(w, "null");
        return;
    }
    vpxi_wr_str(w, "{\"acl\":[");
    for (size_t i = 0; i < c->trust->n; i++) {
        const struct vpxi_acl_entry *e = &c->trust->entries[i];
        vpxi_wr_str(w, i ? ",{" : "{");
        jgrant(w, &e->subject, e->propagate, e->tag, &e->valid);
        vpxi_wr_u8(w, '}');
    }
    vpxi_wr_str(w, "],\"sources\":[");
    for (size_t i = 0; i < c->nsources; i++) {
        if (i)
            vpxi_wr_u8(w, ',');
        jbytes(w, &c->sources[i]);
    }
    vpxi_wr_str(w, "]}");
}

int vpxi_image_write_json(const struct vpxi_image *im, struct vpxi_wr *w)
{
    struct vpxi_image_meta m;
    int r;

    if ((r = vpxi_image_details(im, &m)) != 0)
        return r;
    vpxi_wr_str(w, "{\"name\":");
    jbytes(w, &im->name);
    vpxi_wr_str(w, ",\"version\":");
    jbytes(w, &im->version);
    vpxi_wr_str(w, ",\"sha256\":");
    jhex(w, im->sha256, VPXI_SHA256_LEN);
    vpxi_wr_str(w, ",\"sha512\":");
    jhex(w, im->sha512, VPXI_SHA512_LEN);
    vpxi_wr_printf(w, ",\"size\":%llu,\"urls\":[", (unsigned long long)im->size);
    for (size_t i = 0; i < m.nurls; i++) {
        if (i)
            vpxi_wr_u8(w, ',');
        jbytes(w, &m.urls[i]);
    }
    vpxi_wr_str(w, "],\"producer\":");
    jbytes(w, &m.producer);
    vpxi_wr_str(w, ",\"produced\":");
    jdate(w, m.produced);
    vpxi_wr_str(w, ",\"meta\":{\"os\":");
    jbytes(w, &m.os);
    vpxi_wr_str(w, ",\"arch\":");
    jbytes(w, &m.arch);
    vpxi_wr_str(w, ",\"runtime\":");
    jbytes(w, &m.runtime);
    vpxi_wr_str(w, ",\"purpose\":");
    jbytes(w, &m.purpose);
    vpxi_wr_str(w, ",\"tags\":[");
    for (size_t i = 0; i < m.ntags; i++) {
        if (i)
            vpxi_wr_u8(w, ',');
        jbytes(w, &m.tags[i]);
    }
    vpxi_wr_printf(w, "]},\"status\":{\"approved\":%s,\"shared\":%s,\"revoked\":%s}}",
                   im->flags & VPXI_IMAGE_APPROVED ? "true" : "false",
                   im->flags & VPXI_IMAGE_SHARED ? "true" : "false",
                   im->flags & VPXI_IMAGE_REVOKED ? "true" : "false");
    return w->err;
}

int vpxi_catalog_write_json(struct vpxi_catalog *c, struct vpxi_wr *w)
{
    int sig = vpxi_catalog_verify(c), r;

    vpxi_wr_str(w, "{\"format\":\"vpxi-catalog-1\",\"label\":");
    jbytes(w, &c->label);
    vpxi_wr_printf(w, ",\"version\":%llu,\"issued\":", (unsigned long long)c->version);
    jdate(w, c->issued);
    vpxi_wr_str(w, ",\"expires\":");
    jdate(w, c->expires);
    vpxi_wr_str(w, ",\"endorser\":{\"key_id\":");
    jhex(w, c->signer.hash, c->signer.hash_len);
    vpxi_wr_str(w, ",\"public_key\":");
    jsexp(w, c->signer.node);
    vpxi_wr_str(w, "},\"signature\":");
    jstr(w, sig == 0 ? "good" : vpxi_errname(sig));
    vpxi_wr_str(w, ",\"body_sha256\":");
    jhex(w, c->body_digest, VPXI_SHA256_LEN);
    jchain(w, c);
    jtrust(w, c);
    vpxi_wr_str(w, ",\"images\":[");
    for (size_t i = 0; i < c->nimages; i++) {
        if (i)
            vpxi_wr_u8(w, ',');
        if ((r = vpxi_image_write_json(&c->images[i], w)) != 0)
            return r;
    }
    vpxi_wr_str(w, "]}");
    return w->err;
}
