/*
 * authz.c - authorization of service requests (authz.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"

#include "common/authz.h"

enum { AUTHZ_FILE_MAX = 1 << 20 };

int authz_read_sexp(struct vpxi_sx *sx, const char *path, struct vpxi_sexp **out)
{
    FILE *f = fopen(path, "re");
    uint8_t *buf;
    size_t len;
    int r;

    if (!f)
        return -errno;
    if ((buf = vpxi_malloc(AUTHZ_FILE_MAX)) == NULL) {
        fclose(f);
        return VPXI_ERR_NOMEM;
    }
    len = fread(buf, 1, AUTHZ_FILE_MAX, f);
    if (ferror(f) || !feof(f))
        r = ferror(f) ? -EIO : VPXI_ERR_TOO_LARGE;
    else
        r = vpxi_sexp_read(sx, buf, len, NULL, out, NULL);
    fclose(f);
    vpxi_free(buf);
    return r;
}

int authz_request(struct vpxi_sx *sx, const struct vpxi_msg *m, const uint8_t hit[16],
                  const char *aclfile, const struct vpxi_sexp *want, int64_t now,
                  struct vpxi_validity *valid, char *why, size_t whylen)
{
    const struct vpxi_sexp *kn = vpxi_msg_get(m, "public-key");
    struct vpxi_key *key = NULL;
    struct vpxi_seq *pool = NULL, *one;
    struct vpxi_principal subj;
    struct vpxi_sexp *acln;
    struct vpxi_acl *acl;
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    uint8_t khit[16];
    int r;

    if (!kn) {
        snprintf(why, whylen, "no (public-key ...) in the request");
        return VPXI_ERR_BAD_FORMAT;
    }
    if ((r = vpxi_key_from_sexp(kn, &key)) != 0 || (r = vpxi_hit_from_key(key, khit)) != 0) {
        snprintf(why, whylen, "bad public key: %s", vpxi_strerror(r));
        goto out;
    }
    if (memcmp(khit, hit, 16) != 0) {
        snprintf(why, whylen, "the public key is not the requester's (HIT mismatch)");
        r = VPXI_ERR_NOT_AUTHORIZED;
        goto out;
    }
    for (const struct vpxi_sexp *e = m->root->child; e; e = e->next) {
        if (!vpxi_sexp_head_is(e, "sequence"))
            continue;
        if ((r = vpxi_seq_parse(sx, e, &one)) != 0) {
            snprintf(why, whylen, "malformed certificate sequence: %s", vpxi_strerror(r));
            goto out;
        }
        if (!pool)
            pool = one;
        else if ((r = vpxi_seq_merge(sx, pool, one)) != 0) {
            snprintf(why, whylen, "certificate sequences: %s", vpxi_strerror(r));
            goto out;
        }
    }
    if (!pool) {
        snprintf(why, whylen, "no certificate chain presented");
        r = VPXI_ERR_NO_CHAIN;
        goto out;
    }
    if ((r = authz_read_sexp(sx, aclfile, &acln)) != 0 ||
        (r = vpxi_acl_parse(sx, acln, &acl)) != 0) {
        snprintf(why, whylen, "ACL %s: %s", aclfile,
                 r < VPXI_ERR_MIN ? strerror(-r) : vpxi_strerror(r));
        r = VPXI_ERR_INTERNAL;
        goto out;
    }
    if ((r = vpxi_principal_from_key(sx, key, &subj)) != 0)
        goto out;
    req.acl = acl;
    req.certs = pool->certs;
    req.ncerts = pool->ncerts;
    req.keys = pool->keys;
    req.nkeys = pool->nkeys;
    req.subject = &subj;
    req.want = want;
    req.now = now;
    if ((r = vpxi_reduce(sx, &req, &res)) != 0) {
        snprintf(why, whylen, "%s", res.why);
        goto out;
    }
    *valid = res.tuple.valid;
out:
    vpxi_key_put(key);
    return r;
}
