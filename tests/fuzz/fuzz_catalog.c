/*
 * fuzz_catalog.c - libFuzzer target for the image catalogue parsers.
 *
 * The input is tried as a signed catalogue (any S-expression form, with the
 * canonical scanner on the fast path), as a provider trust configuration
 * and, when it reads as an S-expression, as a single (image ...) entry.
 * For a catalogue that parses, everything a provider does with one without
 * touching the disk runs too: the signature check, lookup of every name,
 * the details of every entry, the JSON export and, when it verifies, the
 * endorsement statements of its entries and trust element. Nothing may
 * crash, leak or loop; a few invariants are checked.
 *
 * Mutations almost never keep a signature valid, so an input starting with
 * "!" is taken as a catalogue *body*, which the harness signs with its own
 * key: that reaches everything that runs only after verification with
 * arbitrary bodies (trust elements, statements).
 */
#include <stdlib.h>
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

static void use_catalog(struct vpxi_catalog *c)
{
    struct vpxi_wr w;
    char name[VPXI_CATALOG_NAME_MAX + 1];

    for (size_t i = 0; i < c->nimages; i++) {
        const struct vpxi_image *im = &c->images[i];
        struct vpxi_image_meta m;
        if (im->name.len > VPXI_CATALOG_NAME_MAX || !vpxi_image_name_ok(im->name.p, im->name.len))
            abort(); /* the parser let a bad name through */
        memcpy(name, im->name.p, im->name.len);
        name[im->name.len] = '\0';
        if (vpxi_catalog_find(c, name) != im)
            abort(); /* names are unique and sorted */
        if (vpxi_image_details(im, &m) != 0)
            abort(); /* an entry that parsed once parses again */
    }
    vpxi_wr_init_dyn(&w, 0);
    (void)vpxi_catalog_write_json(c, &w);
    vpxi_wr_clear(&w);
    if (vpxi_catalog_verify(c) == 0) {
        struct held_catalog h = { .cat = c };
        struct vpxi_sx *sx = vpxi_sx_new();
        if (cat_trust_statements(&h) == 0 && sx) {
            for (size_t i = 0; i < c->nimages && i < 16; i++) {
                struct vpxi_cert *st;
                if (cat_image_statement(sx, c, &c->images[i], &st) == 0 && st->sig_status != 0)
                    abort();
            }
        }
        vpxi_sx_free(sx);
    }
}

/* (sequence BODY (signature ...)) signed by a key made once. */
static int sign_body(const uint8_t *body, size_t n, struct vpxi_wr *out)
{
    static struct vpxi_key *k;
    struct vpxi_sx *sx;
    struct vpxi_sexp *pub, *sig;
    uint8_t d[32], s[VPXI_SIG_MAX];
    size_t slen;
    int r;

    if (!k && vpxi_key_generate(VPXI_KEY_ED25519, 0, &k) != 0)
        return -1;
    if ((sx = vpxi_sx_new()) == NULL)
        return -1;
    vpxi_wr_init_dyn(out, 0);
    r = vpxi_hash(VPXI_HASH_SHA256, body, n, d) ||
        vpxi_key_sign(k, VPXI_SIG_ED25519, body, n, s, sizeof(s), &slen) ||
        vpxi_key_to_sexp(sx, k, &pub) ||
        vpxi_sexp_build(sx, &sig, "(signature (hash sha256 %b) %S (ed25519 %b))", d, sizeof(d), pub,
                        s, slen);
    if (r == 0) {
        vpxi_wr_str(out, "(8:sequence");
        vpxi_wr_bytes(out, body, n);
        vpxi_sexp_write_canonical(sig, out);
        vpxi_wr_u8(out, ')');
        r = out->err;
    }
    vpxi_sx_free(sx);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_catalog_error e;
    struct vpxi_catalog *c;
    struct vpxi_trust *t;
    struct vpxi_sx *sx;
    struct vpxi_sexp *n;
    char why[256];

    if (size > 0 && data[0] == '!') {
        struct vpxi_wr w;
        if (sign_body(data + 1, size - 1, &w) == 0 &&
            vpxi_catalog_parse(w.p, w.len, 1 << 20, &c, &e) == 0) {
            use_catalog(c);
            vpxi_catalog_free(c);
        }
        vpxi_wr_clear(&w);
        return 0;
    }
    if (vpxi_catalog_parse(data, size, 1 << 20, &c, &e) == 0) {
        use_catalog(c);
        vpxi_catalog_free(c);
    } else if (e.why[0] == '\0' && e.code != VPXI_ERR_NOMEM) {
        /* every refusal explains itself (conversion errors carry a reason too) */
        abort();
    }
    if (vpxi_trust_parse(data, size, &t, why, sizeof(why)) == 0)
        vpxi_trust_free(t);
    if ((sx = vpxi_sx_new()) != NULL) {
        if (vpxi_sexp_read(sx, data, size, NULL, &n, NULL) == 0)
            (void)vpxi_image_check(n, why, sizeof(why));
        vpxi_sx_free(sx);
    }
    return 0;
}
