/*
 * reduce.c - 5-tuple reduction of SPKI certificates against an ACL
 * (RFC 2693 section 6.3), with threshold subjects.
 *
 *   <I1,S1,D1,A1,V1> + <I2,S2,D2,A2,V2>  ->  <I1,S2,D2,A1∩A2,V1∩V2>
 *   when S1 = I2 and D1 is set.
 *
 * The search starts at the ACL entries (issuer Self) and follows
 * certificates whose issuer is the current subject, depth first, until it
 * reaches the final subject. Conditions that hold link by link are checked
 * on each link before descending: the signature, that the link's tag grants
 * the requested tag (want ⊆ A1∩A2 iff want ⊆ A1 and want ⊆ A2), and that
 * now lies in the link's validity. Tag and validity intersections are then
 * accumulated on the way back. A k-of-n subject needs k of its n branches
 * to reach the final subject; the result intersects the branches' tags and
 * validities and delegates only if all of them do.
 *
 * When no path exists, a second pass walks the certificates in the order
 * they were presented, as a chain, to name the first specific fault (bad
 * signature, issuer mismatch, missing propagate, empty tag or validity
 * intersection, expiry): that is what an operator needs to fix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

enum {
    REDUCE_STEP_BUDGET = 20000, /* links examined before giving up (adversarial pools) */
};

struct partial {
    const struct vpxi_sexp *tag;
    struct vpxi_validity valid;
    bool propagate;
    size_t used[VPXI_CHAIN_MAX];
    size_t nused;
};

/* A link of the search: an ACL entry, a certificate, or a branch of a k-of-n. */
struct edge {
    const struct vpxi_subject *subject;
    bool propagate;
    const struct vpxi_sexp *tag;
    struct vpxi_validity valid;
    int cert; /* pool index, -1 for an ACL entry */
};

struct search {
    const struct vpxi_reduce_req *req;
    struct vpxi_sx *sx;
    const struct vpxi_principal *target;
    bool *onpath;
    size_t steps;
    /* the failure seen deepest in the search */
    int fail;
    int fail_cert;
    int fail_depth;
    bool fail_dead_end; /* only "no certificate continues here": the in-order
                           diagnosis names the fault better */
    bool diag_weak;     /* the in-order diagnosis only found the order wrong */
    char why[256];
};

static void record(struct search *s, int code, int cert, int depth, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void record(struct search *s, int code, int cert, int depth, const char *fmt, ...)
{
    va_list ap;

    if (s->fail && depth <= s->fail_depth)
        return;
    s->fail_dead_end = false;
    s->fail = code;
    s->fail_cert = cert;
    s->fail_depth = depth;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
}

/* "certificate 3" or "ACL entry" for messages (1-based as shown to users). */
static const char *who(int cert, char buf[32])
{
    if (cert < 0)
        return "ACL entry";
    snprintf(buf, 32, "certificate %d", cert + 1);
    return buf;
}

static void tag_text(const struct vpxi_sexp *t, char *buf, size_t cap)
{
    struct vpxi_wr w;

    vpxi_wr_init(&w, buf, cap - 1);
    vpxi_sexp_write_compact(t, &w);
    if (w.err) {
        /* truncated: mark it */
        w.len = cap > 4 ? cap - 4 : 0;
        memcpy(buf + w.len, "...", cap > 4 ? 3 : 0);
        w.len += cap > 4 ? 3 : 0;
    }
    buf[w.len] = '\0';
}

static int edge_reduce(struct search *s, const struct edge *e, int depth, struct partial *out);

/* Link-local checks: the link grants the requested tag and is valid now. */
static int edge_local(struct search *s, const struct edge *e, int depth)
{
    char b[32], t[96];
    int r;

    if (s->req->want && vpxi_tag_implies(e->tag, s->req->want) != 0) {
        tag_text(s->req->want, t, sizeof(t));
        record(s, VPXI_ERR_NOT_AUTHORIZED, e->cert, depth, "%s does not grant %s", who(e->cert, b),
               t);
        return VPXI_ERR_NOT_AUTHORIZED;
    }
    if ((r = vpxi_validity_check(&e->valid, s->req->now)) != 0) {
        char d[VPXI_DATE_LEN + 1];
        vpxi_date_format(r == VPXI_ERR_EXPIRED ? e->valid.not_after : e->valid.not_before, d);
        record(s, r, e->cert, depth, "%s %s %s", who(e->cert, b),
               r == VPXI_ERR_EXPIRED ? "expired at" : "is not valid before", d);
        return r;
    }
    return 0;
}

/* Appends src's used list to dst, once each (bounded; informational). */
static void add_used(struct partial *dst, const struct partial *src)
{
    for (size_t i = 0; i < src->nused && dst->nused < VPXI_CHAIN_MAX; i++) {
        size_t j;
        for (j = 0; j < dst->nused && dst->used[j] != src->used[i]; j++)
            ;
        if (j == dst->nused)
            dst->used[dst->nused++] = src->used[i];
    }
}

/* e followed by the reduction sub: intersect. */
static int join(struct search *s, const struct edge *e, const struct partial *sub, int depth,
                struct partial *out)
{
    struct vpxi_sexp *t;
    char b[32];
    int r;

    int next = sub->nused ? (int)sub->used[0] : e->cert;

    memset(out, 0, sizeof(*out));
    if ((r = vpxi_tag_intersect(s->sx, e->tag, sub->tag, &t)) != 0) {
        record(s, r, next, depth + 1, "%s: tag intersection with the chain is %s", who(next, b),
               r == VPXI_ERR_TAG_EMPTY ? "empty" : "malformed");
        return r;
    }
    if ((r = vpxi_validity_intersect(&e->valid, &sub->valid, &out->valid)) != 0) {
        record(s, r, next, depth + 1, "%s: validity is disjoint from the chain", who(next, b));
        return r;
    }
    out->tag = t;
    out->propagate = sub->propagate;
    if (e->cert >= 0)
        out->used[out->nused++] = (size_t)e->cert;
    add_used(out, sub);
    return 0;
}

/* From principal subject q (reached through e), continue to the target. */
static int principal_reduce(struct search *s, const struct edge *e, const struct vpxi_principal *q,
                            int depth, struct partial *out)
{
    const struct vpxi_reduce_req *req = s->req;
    struct partial sub;
    char b[32];
    bool any = false;
    int r;

    if (vpxi_principal_equal(q, s->target)) {
        memset(out, 0, sizeof(*out));
        out->tag = e->tag;
        out->valid = e->valid;
        out->propagate = e->propagate;
        if (e->cert >= 0)
            out->used[out->nused++] = (size_t)e->cert;
        return 0;
    }
    if (depth + 1 >= VPXI_CHAIN_MAX) {
        record(s, VPXI_ERR_LIMIT, e->cert, depth, "chain longer than %d links", VPXI_CHAIN_MAX);
        return VPXI_ERR_LIMIT;
    }
    for (size_t i = 0; i < req->ncerts; i++) {
        struct vpxi_cert *c = req->certs[i];
        struct edge next;

        if (s->onpath[i] || !vpxi_principal_equal(&c->issuer, q))
            continue;
        any = true;
        if (!e->propagate) {
            record(s, VPXI_ERR_NO_DELEGATION, e->cert, depth + 1,
                   "%s has no (propagate), so certificate %zu may not follow it", who(e->cert, b),
                   i + 1);
            continue;
        }
        if (++s->steps > REDUCE_STEP_BUDGET) {
            record(s, VPXI_ERR_LIMIT, (int)i, depth + 1, "search budget exhausted");
            return VPXI_ERR_LIMIT;
        }
        if ((r = vpxi_cert_verify(c, req->keys, req->nkeys, req->cache)) != 0) {
            record(s, r, (int)i, depth + 1, "certificate %zu: signature: %s", i + 1,
                   vpxi_strerror(r));
            continue;
        }
        next.subject = &c->subject;
        next.propagate = c->propagate;
        next.tag = c->tag;
        next.valid = c->valid;
        next.cert = (int)i;
        s->onpath[i] = true;
        r = edge_reduce(s, &next, depth + 1, &sub);
        s->onpath[i] = false;
        if (r == VPXI_ERR_LIMIT && s->steps > REDUCE_STEP_BUDGET)
            return r;
        if (r == 0 && join(s, e, &sub, depth, out) == 0)
            return 0;
    }
    if (!any) {
        record(s, VPXI_ERR_NOT_AUTHORIZED, e->cert, depth,
               "%s ends at a subject that is neither the requester nor the issuer of "
               "another certificate",
               who(e->cert, b));
        if (s->fail == VPXI_ERR_NOT_AUTHORIZED && s->fail_depth == depth)
            s->fail_dead_end = true;
    }
    return VPXI_ERR_NOT_AUTHORIZED;
}

/* k of the n branches of a threshold subject must reach the target. */
static int threshold_reduce(struct search *s, const struct edge *e, int depth, struct partial *out)
{
    const struct vpxi_subject *t = e->subject;
    struct partial branch, acc;
    unsigned ok = 0;
    char b[32];
    int r;

    memset(&acc, 0, sizeof(acc));
    for (unsigned i = 0; i < t->n && ok < t->k; i++) {
        struct edge be = *e;
        be.subject = &t->subs[i];
        if (edge_reduce(s, &be, depth, &branch) != 0)
            continue;
        if (ok == 0) {
            acc = branch;
        } else {
            struct partial j = acc;
            struct vpxi_sexp *jt;
            if ((r = vpxi_tag_intersect(s->sx, acc.tag, branch.tag, &jt)) != 0 ||
                (r = vpxi_validity_intersect(&acc.valid, &branch.valid, &j.valid)) != 0)
                continue; /* this branch does not combine; try the next one */
            j.tag = jt;
            j.propagate = acc.propagate && branch.propagate;
            add_used(&j, &branch);
            acc = j;
        }
        ok++;
    }
    if (ok < t->k) {
        /* This summarizes the branch failures: it replaces them, quoting the
         * deepest one. */
        char last[sizeof(s->why)];
        snprintf(last, sizeof(last), "%s", s->fail ? s->why : "no branch reduces");
        s->fail = 0;
        record(s, VPXI_ERR_THRESHOLD, e->cert, depth,
               "%s: %u of its (k-of-n %u %u) branches reduce, %u needed (%s)", who(e->cert, b), ok,
               t->k, t->n, t->k, last);
        return VPXI_ERR_THRESHOLD;
    }
    *out = acc;
    return 0;
}

static int edge_reduce(struct search *s, const struct edge *e, int depth, struct partial *out)
{
    int r;

    if ((r = edge_local(s, e, depth)) != 0)
        return r;
    if (e->subject->kind == VPXI_SUBJECT_THRESHOLD)
        return threshold_reduce(s, e, depth, out);
    return principal_reduce(s, e, &e->subject->p, depth, out);
}

/* ---- diagnosis of a failed reduction, in presentation order ---------------------- */

static int diag_fail(struct vpxi_reduce_result *res, int code, int cert, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int diag_fail(struct vpxi_reduce_result *res, int code, int cert, const char *fmt, ...)
{
    va_list ap;

    res->bad_cert = cert;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof(res->why), fmt, ap);
    va_end(ap);
    return code;
}

static const struct vpxi_acl_entry *acl_entry_for(const struct vpxi_acl *acl,
                                                  const struct vpxi_principal *p)
{
    for (size_t i = 0; acl && i < acl->n; i++)
        if (acl->entries[i].subject.kind == VPXI_SUBJECT_PRINCIPAL &&
            vpxi_principal_equal(&acl->entries[i].subject.p, p))
            return &acl->entries[i];
    return NULL;
}

/* Walks the certificates as one chain in the given order; returns the first
 * structural fault found, or 0 if the order shows none. */
static int diagnose(struct search *s, struct vpxi_reduce_result *res)
{
    const struct vpxi_reduce_req *req = s->req;
    const struct vpxi_acl_entry *ent;
    struct vpxi_sexp *tag;
    struct vpxi_validity v;
    int r;

    if (req->ncerts == 0)
        return 0;
    /* A tree of k-of-n branches is not a chain: leave it to the search. */
    for (size_t i = 0; i < req->ncerts; i++)
        if (req->certs[i]->subject.kind == VPXI_SUBJECT_THRESHOLD)
            return 0;
    if ((ent = acl_entry_for(req->acl, &req->certs[0]->issuer)) == NULL) {
        /* weak: may only mean the certificates were given in another order */
        s->diag_weak = true;
        return diag_fail(res, VPXI_ERR_NOT_AUTHORIZED, 0,
                         "the issuer of certificate 1 is not trusted by the ACL");
    }
    if (!ent->propagate)
        return diag_fail(res, VPXI_ERR_NO_DELEGATION, 0,
                         "the ACL entry for the issuer of certificate 1 has no (propagate)");
    tag = (struct vpxi_sexp *)ent->tag;
    v = ent->valid;
    for (size_t i = 0; i < req->ncerts; i++) {
        struct vpxi_cert *c = req->certs[i];
        if ((r = vpxi_cert_verify(c, req->keys, req->nkeys, req->cache)) != 0)
            return diag_fail(res, r, (int)i, "certificate %zu: signature: %s", i + 1,
                             vpxi_strerror(r));
        if (i > 0) {
            struct vpxi_cert *p = req->certs[i - 1];
            if (p->subject.kind != VPXI_SUBJECT_PRINCIPAL ||
                !vpxi_principal_equal(&p->subject.p, &c->issuer))
                return diag_fail(res, VPXI_ERR_ISSUER_MISMATCH, (int)i,
                                 "the issuer of certificate %zu is not the subject of "
                                 "certificate %zu",
                                 i + 1, i);
            if (!p->propagate)
                return diag_fail(res, VPXI_ERR_NO_DELEGATION, (int)i - 1,
                                 "certificate %zu has no (propagate), so certificate %zu "
                                 "may not follow it",
                                 i, i + 1);
        }
        if ((r = vpxi_tag_intersect(s->sx, tag, c->tag, &tag)) != 0)
            return diag_fail(res, r, (int)i,
                             "certificate %zu: tag intersection with the chain is empty", i + 1);
        if ((r = vpxi_validity_intersect(&v, &c->valid, &v)) != 0)
            return diag_fail(res, r, (int)i, "certificate %zu: validity is disjoint from the chain",
                             i + 1);
    }
    if (s->target && req->certs[req->ncerts - 1]->subject.kind == VPXI_SUBJECT_PRINCIPAL &&
        !vpxi_principal_equal(&req->certs[req->ncerts - 1]->subject.p, s->target))
        return diag_fail(res, VPXI_ERR_NOT_AUTHORIZED, (int)req->ncerts - 1,
                         "the chain ends at a subject other than the requester");
    return 0;
}

/* ---- entry point ------------------------------------------------------------------ */

int vpxi_reduce(struct vpxi_sx *sx, const struct vpxi_reduce_req *req,
                struct vpxi_reduce_result *res)
{
    struct search s = { 0 };
    struct partial p;
    int r;

    memset(res, 0, sizeof(*res));
    res->entry = -1;
    res->bad_cert = -1;
    if (!req->acl || req->ncerts > VPXI_SEQ_ITEMS_MAX)
        vpxi_misuse("vpxi_reduce: no ACL or too many certificates");
    s.req = req;
    s.sx = sx;
    s.fail_depth = -1;
    s.target = req->subject;
    if (!s.target) {
        if (req->ncerts == 0 || req->certs[req->ncerts - 1]->subject.kind != VPXI_SUBJECT_PRINCIPAL)
            return diag_fail(res, VPXI_ERR_INVALID, -1,
                             "no final subject given and the last certificate has none");
        s.target = &req->certs[req->ncerts - 1]->subject.p;
    }
    if ((s.onpath = vpxi_sx_alloc(sx, (req->ncerts + 1) * sizeof(bool))) == NULL)
        return VPXI_ERR_NOMEM;
    memset(s.onpath, 0, (req->ncerts + 1) * sizeof(bool));
    for (size_t i = 0; i < req->acl->n; i++) {
        const struct vpxi_acl_entry *a = &req->acl->entries[i];
        struct edge e = { &a->subject, a->propagate, a->tag, a->valid, -1 };

        if (edge_reduce(&s, &e, 0, &p) != 0)
            continue;
        res->entry = (int)i;
        res->tuple.issuer = NULL; /* Self */
        res->tuple.subject = s.target;
        res->tuple.propagate = p.propagate;
        res->tuple.tag = p.tag;
        res->tuple.valid = p.valid;
        memcpy(res->used, p.used, p.nused * sizeof(p.used[0]));
        res->nused = p.nused;
        return 0;
    }
    /* A specific fault found on the way wins; a dead end is better explained
     * by walking the certificates in the order they were presented, and a
     * structural fault there (disjoint validity, say) outranks "not valid
     * now". */
    if (s.fail && !s.fail_dead_end && s.fail != VPXI_ERR_EXPIRED &&
        s.fail != VPXI_ERR_NOT_YET_VALID) {
        res->bad_cert = s.fail_cert;
        snprintf(res->why, sizeof(res->why), "%s", s.why);
        return s.fail;
    }
    if ((r = diagnose(&s, res)) != 0 && !(s.diag_weak && s.fail && !s.fail_dead_end))
        return r;
    if (s.fail) {
        res->bad_cert = s.fail_cert;
        snprintf(res->why, sizeof(res->why), "%s", s.why);
        return s.fail;
    }
    return diag_fail(res, VPXI_ERR_NOT_AUTHORIZED, -1,
                     "no ACL entry leads to the requester through these certificates");
}
