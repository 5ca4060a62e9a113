/*
 * fuzz_cert.c - libFuzzer target for SPKI sequences, certificates and ACLs.
 *
 * The input is read as an S-expression in any form. If it is a sequence
 * (or a lone certificate), every signature is checked and the sequence is
 * reduced against an ACL that trusts the first certificate's issuer, with
 * and without a requested tag. If it is an ACL, it is parsed and used with
 * an empty pool. Nothing may crash, leak or loop; results are not asserted
 * beyond internal consistency.
 */
#include <stdlib.h>
#include <string.h>

#include "vpxi/cert.h"
#include "vpxi/sexp.h"

static void reduce_with(struct vpxi_sx *sx, struct vpxi_seq *seq, struct vpxi_acl *acl,
                        const struct vpxi_sexp *want)
{
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    int r;

    req.acl = acl;
    req.certs = seq->certs;
    req.ncerts = seq->ncerts;
    req.keys = seq->keys;
    req.nkeys = seq->nkeys;
    req.want = want;
    req.now = 1790000000;
    r = vpxi_reduce(sx, &req, &res);
    if (r == 0 && (!res.tuple.tag || res.tuple.valid.not_before > res.tuple.valid.not_after))
        abort();
    if (r != 0 && res.why[0] == '\0')
        abort(); /* every failure explains itself */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n, *acln, *want;
    struct vpxi_seq *seq;
    struct vpxi_acl *acl;

    if (!sx)
        return 0;
    if (vpxi_sexp_read(sx, data, size, NULL, &n, NULL) != 0)
        goto out;
    if (vpxi_acl_parse(sx, n, &acl) == 0) {
        struct vpxi_seq empty = { 0 };
        if (acl->n)
            reduce_with(sx, &empty, acl, NULL);
        goto out;
    }
    if (vpxi_seq_parse(sx, n, &seq) != 0 || seq->ncerts == 0)
        goto out;
    for (size_t i = 0; i < seq->ncerts; i++)
        (void)vpxi_cert_verify(seq->certs[i], seq->keys, seq->nkeys, NULL);
    if (vpxi_sexp_build(sx, &acln, "(acl (entry (subject %S) (propagate) (tag (*))))",
                        seq->certs[0]->issuer.node) != 0 ||
        vpxi_sexp_read(sx, (const uint8_t *)"(vpxi demo member)", 18, NULL, &want, NULL) != 0)
        goto out;
    {
        /* re-read so the ACL has canonical spans like a file would */
        const uint8_t *c;
        size_t clen;
        if (vpxi_sexp_canonical(sx, acln, &c, &clen) != 0 ||
            vpxi_sexp_parse_canonical(sx, c, clen, NULL, &acln, NULL) != 0)
            goto out;
    }
    if (vpxi_acl_parse(sx, acln, &acl) != 0)
        goto out;
    /* fresh signature state is not needed: verification results are cached */
    reduce_with(sx, seq, acl, NULL);
    reduce_with(sx, seq, acl, want);
out:
    vpxi_sx_free(sx);
    return 0;
}
