/*
 * entry.c - the grammar of one (image ...) entry and of its fields: names,
 * text, URLs, tags, digests (SHA-256 first, SHA-512 optional; MD5 and SHA-1
 * refused), size, dates, metadata and status flags.
 *
 * The same walk checks entries of signed catalogues (format.c), of drafts
 * and of entries being built (sign.c), so nothing the signer writes can be
 * refused by a reader.
 */
#include <string.h>

#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

/* ---- field checks ------------------------------------------------------------ */

bool vpxi_image_name_ok(const uint8_t *s, size_t len)
{
    if (len == 0 || len > VPXI_CATALOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence at p (1..4), 0 if invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t k;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        k = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        k = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        k = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

bool cat_text_ok(const uint8_t *p, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f)))
            return false;
        i += k;
    }
    return true;
}

bool cat_url_ok(const uint8_t *p, size_t n)
{
    static const char *const schemes[] = { "http://", "https://", "file:///" };
    bool scheme = false;

    if (n == 0 || n > VPXI_CATALOG_URL_MAX)
        return false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t k = strlen(schemes[i]);
        if (n > k && memcmp(p, schemes[i], k) == 0)
            scheme = true;
    }
    if (!scheme)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f)
            return false;
    return true;
}

static bool tag_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > VPXI_CATALOG_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':' || c == '+'))
            return false;
    }
    return true;
}

/* An atom without display hint. */
bool cat_plain(const struct vpxi_sexp *n)
{
    return vpxi_sexp_is_atom(n) && !n->hint;
}

/* (KEY ATOM): the atom, or NULL. */
const struct vpxi_sexp *cat_pair_value(const struct vpxi_sexp *n)
{
    if (!vpxi_sexp_is_list(n) || n->len != 2 || !cat_plain(n->child->next))
        return NULL;
    return n->child->next;
}

/* ---- (image ...) ---------------------------------------------------------------- */

enum image_elem {
    IE_NAME,
    IE_VERSION,
    IE_HASH,
    IE_SIZE,
    IE_URL,
    IE_PRODUCER,
    IE_PRODUCED,
    IE_META,
    IE_STATUS,
    IE_COUNT
};

static const char *const image_elem_names[IE_COUNT] = {
    "name", "version", "hash", "size", "url", "producer", "produced", "meta", "status",
};

static int image_elem_of(const struct vpxi_sexp *e)
{
    for (int i = 0; i < IE_COUNT; i++)
        if (vpxi_sexp_head_is(e, image_elem_names[i]))
            return i;
    return -1;
}

static int walk_hash(const struct vpxi_sexp *e, struct image_fields *f, char *why, size_t whylen)
{
    const struct vpxi_sexp *alg = vpxi_sexp_nth(e, 1), *d = vpxi_sexp_nth(e, 2);

    if (e->len != 3 || !cat_plain(alg) || !cat_plain(d))
        return cat_why(why, whylen, "malformed (hash ALG |digest|)"), VPXI_ERR_BAD_FORMAT;
    if (!f->sha256) {
        if (!vpxi_sexp_atom_is(alg, "sha256"))
            return cat_why(why, whylen, "the first hash must be sha256"), VPXI_ERR_ORDER;
        if (d->len != VPXI_SHA256_LEN)
            return cat_why(why, whylen, "sha256 digest of %u octets, not 32", (unsigned)d->len),
                   VPXI_ERR_BAD_FORMAT;
        f->sha256 = d;
        return 0;
    }
    if (f->sha512)
        return cat_why(why, whylen, "more than two hashes"), VPXI_ERR_DUPLICATE;
    if (!vpxi_sexp_atom_is(alg, "sha512"))
        return cat_why(why, whylen, "the second hash must be sha512 (MD5 and SHA-1 are refused)"),
               VPXI_ERR_UNSUPPORTED;
    if (d->len != VPXI_SHA512_LEN)
        return cat_why(why, whylen, "sha512 digest of %u octets, not 64", (unsigned)d->len),
               VPXI_ERR_BAD_FORMAT;
    f->sha512 = d;
    return 0;
}

static int walk_meta(const struct vpxi_sexp *m, struct image_fields *f, char *why, size_t whylen)
{
    static const char *const keys[] = { "os", "arch", "runtime", "purpose", "tags" };
    const struct vpxi_sexp **slots[] = { &f->os, &f->arch, &f->runtime, &f->purpose };
    int last = -1;

    for (const struct vpxi_sexp *e = m->child->next; e; e = e->next) {
        int k = -1;
        for (int i = 0; i < 5; i++)
            if (vpxi_sexp_head_is(e, keys[i]))
                k = i;
        if (k < 0)
            return cat_why(why, whylen, "unknown meta element"), VPXI_ERR_BAD_FORMAT;
        if (k <= last)
            return cat_why(why, whylen, "meta (%s) repeated or out of order", keys[k]),
                   k == last ? VPXI_ERR_DUPLICATE : VPXI_ERR_ORDER;
        last = k;
        if (k < 4) {
            const struct vpxi_sexp *v = cat_pair_value(e);
            if (!v || !cat_text_ok(v->data, v->len, VPXI_CATALOG_TEXT_MAX))
                return cat_why(why, whylen, "meta (%s): bad text", keys[k]), VPXI_ERR_BAD_FORMAT;
            *slots[k] = v;
            continue;
        }
        for (const struct vpxi_sexp *t = e->child->next; t; t = t->next) {
            if (f->ntags >= VPXI_CATALOG_TAGS_MAX)
                return cat_why(why, whylen, "more than %d tags", VPXI_CATALOG_TAGS_MAX),
                       VPXI_ERR_TOO_LARGE;
            if (!cat_plain(t) || !tag_ok(t->data, t->len))
                return cat_why(why, whylen, "bad tag (letters, digits, . _ - : + only)"),
                       VPXI_ERR_BAD_FORMAT;
            f->tags[f->ntags++] = t;
        }
    }
    return 0;
}

static int walk_status(const struct vpxi_sexp *s, struct image_fields *f, char *why, size_t whylen)
{
    static const struct {
        const char *name;
        unsigned flag;
    } flags[] = {
        { "approved", VPXI_IMAGE_APPROVED },
        { "shared", VPXI_IMAGE_SHARED },
        { "revoked", VPXI_IMAGE_REVOKED },
    };

    for (const struct vpxi_sexp *e = s->child->next; e; e = e->next) {
        unsigned flag = 0;
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            if (vpxi_sexp_atom_is(e, flags[i].name))
                flag = flags[i].flag;
        if (!flag)
            return cat_why(why, whylen, "unknown status (approved, shared, revoked)"),
                   VPXI_ERR_BAD_FORMAT;
        if (f->flags & flag)
            return cat_why(why, whylen, "status flag repeated"), VPXI_ERR_DUPLICATE;
        f->flags |= flag;
    }
    return 0;
}

/* One element of an entry, already known to be of kind k. */
static int walk_elem(int k, const struct vpxi_sexp *e, struct image_fields *f, char *why,
                     size_t whylen)
{
    const struct vpxi_sexp *v = cat_pair_value(e);

    switch (k) {
    case IE_NAME:
        if (!v || !vpxi_image_name_ok(v->data, v->len))
            return cat_why(why, whylen, "bad name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})"),
                   VPXI_ERR_BAD_FORMAT;
        f->name = v;
        return 0;
    case IE_VERSION:
    case IE_PRODUCER:
        if (!v || !cat_text_ok(v->data, v->len, VPXI_CATALOG_TEXT_MAX))
            return cat_why(why, whylen, "bad (%s TEXT)", image_elem_names[k]), VPXI_ERR_BAD_FORMAT;
        *(k == IE_VERSION ? &f->version : &f->producer) = v;
        return 0;
    case IE_HASH: return walk_hash(e, f, why, whylen);
    case IE_SIZE:
        if (!v || vpxi_sexp_get_u64(v, &f->size) != 0)
            return cat_why(why, whylen, "bad (size OCTETS)"), VPXI_ERR_BAD_FORMAT;
        return 0;
    case IE_URL:
        if (f->nurls >= VPXI_CATALOG_URLS_MAX)
            return cat_why(why, whylen, "more than %d URLs", VPXI_CATALOG_URLS_MAX),
                   VPXI_ERR_TOO_LARGE;
        if (!v || !cat_url_ok(v->data, v->len))
            return cat_why(why, whylen, "bad URL (http://, https:// or file:///, no spaces)"),
                   VPXI_ERR_BAD_FORMAT;
        f->urls[f->nurls++] = v;
        return 0;
    case IE_PRODUCED:
        if (!v || vpxi_date_parse(v->data, v->len, &f->produced) != 0)
            return cat_why(why, whylen, "bad (produced YYYY-MM-DD_HH:MM:SS)"), VPXI_ERR_BAD_FORMAT;
        return 0;
    case IE_META: return walk_meta(e, f, why, whylen);
    case IE_STATUS: return walk_status(e, f, why, whylen);
    default: return VPXI_ERR_INTERNAL;
    }
}

int cat_image_walk(const struct vpxi_sexp *n, struct image_fields *f, char *why, size_t whylen)
{
    int last = -1, k, r;
    bool have_size = false;

    memset(f, 0, sizeof(*f));
    f->produced = VPXI_TIME_MIN;
    if (!vpxi_sexp_head_is(n, "image"))
        return cat_why(why, whylen, "not an (image ...) entry"), VPXI_ERR_BAD_FORMAT;
    for (const struct vpxi_sexp *e = n->child->next; e; e = e->next) {
        if ((k = image_elem_of(e)) < 0)
            return cat_why(why, whylen, "unknown element"), VPXI_ERR_BAD_FORMAT;
        if (k < last)
            return cat_why(why, whylen, "(%s) out of order", image_elem_names[k]), VPXI_ERR_ORDER;
        if (k == last && k != IE_HASH && k != IE_URL)
            return cat_why(why, whylen, "(%s) repeated", image_elem_names[k]), VPXI_ERR_DUPLICATE;
        last = k;
        if (k == IE_SIZE)
            have_size = true;
        if ((r = walk_elem(k, e, f, why, whylen)) != 0)
            return r;
    }
    if (!f->name || !f->sha256 || !have_size)
        return cat_why(why, whylen, "an image needs (name ..), (hash sha256 ..) and (size ..)"),
               VPXI_ERR_BAD_FORMAT;
    return 0;
}
