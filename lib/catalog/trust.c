/*
 * trust.c - the provider's trust configuration: which endorsers are trusted
 * for which images (an SPKI ACL, thresholds as (k-of-n ...) subjects),
 * where their catalogues are, how often to refresh.
 *
 * It is local policy, like a resource's ACL: read from a file the operator
 * controls, never transmitted (a provider that wants to pass it on exports
 * it as a signed catalogue with a (trust ...) element, see import.c).
 */
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/sexp.h"

#include "catalog/catalog_int.h"

bool vpxi_source_ok(const char *s)
{
    size_t n = strlen(s);

    if (n && s[0] == '/') {
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return false;
        return n <= VPXI_CATALOG_URL_MAX;
    }
    return cat_url_ok((const uint8_t *)s, n);
}

static int seconds(const struct vpxi_sexp *e, int64_t *out)
{
    const struct vpxi_sexp *v = vpxi_sexp_nth(e, 1);
    uint64_t x;

    if (e->len != 2 || vpxi_sexp_get_u64(v, &x) != 0 || x > 365ull * 86400)
        return VPXI_ERR_BAD_FORMAT;
    *out = (int64_t)x;
    return 0;
}

static int refresh_elem(struct vpxi_trust *t, const struct vpxi_sexp *n, char *why, size_t whylen)
{
    static const char *const names[] = { "interval", "jitter", "warn" };
    int64_t *slots[] = { &t->interval, &t->jitter, &t->warn };

    for (const struct vpxi_sexp *e = n->child->next; e; e = e->next) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (vpxi_sexp_head_is(e, names[i]))
                k = i;
        if (k < 0 || seconds(e, slots[k]) != 0)
            return cat_why(why, whylen, "(refresh ...): expected (interval|jitter|warn SECONDS)"),
                   VPXI_ERR_BAD_FORMAT;
    }
    if (t->interval < 1)
        return cat_why(why, whylen, "(refresh (interval ...)) must be at least 1 s"),
               VPXI_ERR_BAD_FORMAT;
    return 0;
}

static int source_elem(struct vpxi_trust *t, const struct vpxi_sexp *n, char *why, size_t whylen)
{
    const struct vpxi_sexp *v = vpxi_sexp_nth(n, 1);
    char *s;

    if (n->len != 2 || !vpxi_sexp_is_atom(v) || v->hint || v->len > VPXI_CATALOG_URL_MAX)
        return cat_why(why, whylen, "expected (source URL-OR-PATH)"), VPXI_ERR_BAD_FORMAT;
    if (t->nsources >= VPXI_CATALOG_SOURCES_MAX)
        return cat_why(why, whylen, "more than %d sources", VPXI_CATALOG_SOURCES_MAX),
               VPXI_ERR_TOO_LARGE;
    if ((s = vpxi_sx_alloc(t->sx, v->len + 1)) == NULL)
        return VPXI_ERR_NOMEM;
    memcpy(s, v->data, v->len);
    s[v->len] = '\0';
    if (strlen(s) != v->len || !vpxi_source_ok(s))
        return cat_why(why, whylen,
                       "source '%s': expected http://, https://, file:/// or an "
                       "absolute path",
                       s),
               VPXI_ERR_BAD_FORMAT;
    t->sources[t->nsources++] = s;
    return 0;
}

static int acl_elem(struct vpxi_trust *t, const struct vpxi_sexp *n, char *why, size_t whylen)
{
    int r;

    if (t->acl)
        return cat_why(why, whylen, "(acl ...) repeated"), VPXI_ERR_DUPLICATE;
    if ((r = vpxi_acl_parse(t->sx, n, &t->acl)) != 0)
        return cat_why(why, whylen, "(acl ...): %s", vpxi_strerror(r)), r;
    for (size_t i = 0; i < t->acl->n; i++)
        if (!t->acl->entries[i].propagate)
            return cat_why(why, whylen,
                           "(acl ...) entry %zu has no (propagate): an endorser's statements "
                           "could never follow it",
                           i + 1),
                   VPXI_ERR_NO_DELEGATION;
    return 0;
}

static int trust_walk(struct vpxi_trust *t, const struct vpxi_sexp *n, char *why, size_t whylen)
{
    bool refresh = false, size = false;
    int r;

    if (!vpxi_sexp_head_is(n, "catalog-trust"))
        return cat_why(why, whylen, "expected (catalog-trust ...)"), VPXI_ERR_BAD_FORMAT;
    for (const struct vpxi_sexp *e = n->child->next; e; e = e->next) {
        if (vpxi_sexp_head_is(e, "acl")) {
            r = acl_elem(t, e, why, whylen);
        } else if (vpxi_sexp_head_is(e, "source")) {
            r = source_elem(t, e, why, whylen);
        } else if (vpxi_sexp_head_is(e, "refresh") && !refresh) {
            refresh = true;
            r = refresh_elem(t, e, why, whylen);
        } else if (vpxi_sexp_head_is(e, "max-size") && !size) {
            uint64_t v = 0;
            size = true;
            r = e->len == 2 && vpxi_sexp_get_u64(vpxi_sexp_nth(e, 1), &v) == 0 && v > 0 &&
                        v <= VPXI_CATALOG_FILE_MAX
                    ? 0
                    : VPXI_ERR_BAD_FORMAT;
            if (r)
                cat_why(why, whylen, "(max-size OCTETS): 1 .. %d", VPXI_CATALOG_FILE_MAX);
            else
                t->max_size = (size_t)v;
        } else {
            return cat_why(why, whylen, "unknown or repeated element in (catalog-trust ...)"),
                   VPXI_ERR_BAD_FORMAT;
        }
        if (r)
            return r;
    }
    if (!t->acl && (t->acl = vpxi_sx_alloc(t->sx, sizeof(*t->acl))) == NULL)
        return VPXI_ERR_NOMEM;
    if (!t->node)
        t->node = n;
    return 0;
}

int vpxi_trust_parse(const uint8_t *p, size_t len, struct vpxi_trust **out, char *why,
                     size_t whylen)
{
    struct vpxi_sexp_error e;
    struct vpxi_trust *t;
    struct vpxi_sexp *n;
    int r = VPXI_ERR_INTERNAL;

    *out = NULL;
    cat_why(why, whylen, "%s", "");
    if ((t = vpxi_calloc(1, sizeof(*t))) == NULL || (t->sx = vpxi_sx_new()) == NULL) {
        r = VPXI_ERR_NOMEM;
        goto out;
    }
    t->interval = VPXI_REFRESH_INTERVAL_DEFAULT;
    t->jitter = VPXI_REFRESH_JITTER_DEFAULT;
    t->warn = VPXI_REFRESH_WARN_DEFAULT;
    t->max_size = VPXI_CATALOG_FILE_DEFAULT;
    if ((r = vpxi_sexp_read(t->sx, p, len, NULL, &n, &e)) != 0) {
        cat_why(why, whylen, "byte offset %zu: %s", e.offset, vpxi_strerror(r));
        goto out;
    }
    if ((r = trust_walk(t, n, why, whylen)) != 0)
        goto out;
    *out = t;
    t = NULL;
out:
    if (r && why && !why[0])
        cat_why(why, whylen, "%s", vpxi_strerror(r));
    vpxi_trust_free(t);
    return r;
}

void vpxi_trust_free(struct vpxi_trust *t)
{
    if (!t)
        return;
    vpxi_sx_free(t->sx);
    vpxi_free(t);
}
