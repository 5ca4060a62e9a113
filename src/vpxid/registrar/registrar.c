/*
 * registrar.c - the registrar role (docs/registrar.md): enrols users,
 * records host agents and their virtual resources, creates VPXIs by asking
 * host agents for nodes, and issues the certificates that make them one
 * overlay: a membership certificate per node, the owner's certificate, and
 * renewals before they expire. State lives in SQLite (store.c); a
 * certificate leaves the registrar only after it is recorded there.
 *
 * One request at a time (a VPXI creation talks to host agents and is
 * serialized with everything else); renewals and the end of VPXIs run
 * between requests.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/spec.h"

#include "common/svc.h"
#include "config.h"
#include "log.h"
#include "registrar/store.h"
#include "roles.h"

enum { REG_NODES_MAX = VPXI_SPEC_NODES_MAX, REG_CALL_MS = 60000, REG_CLOCK_SKEW_S = 60 };

struct registrar {
    const struct config *c;
    const struct cfg_registrar *rc;
    const struct cfg_overlay *ov;
    struct vpxi_key *key;
    uint8_t hit[16];
    struct store *db;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Signs a certificate from the registrar to subject, records it, and
 * returns the sequence (only once it is durable). */
/* The subject is a key, or (renewal) the subject expression of an earlier
 * certificate with the HIT it was recorded under. */
struct subject {
    struct vpxi_key *key;
    const struct vpxi_sexp *expr;
    const uint8_t *hit;
};

static int issue_to(struct registrar *rg, struct vpxi_sx *sx, const char *vpxi,
                    const struct subject *subj, const struct vpxi_sexp *tag, bool propagate,
                    int64_t nb, int64_t na, struct vpxi_sexp **out);

static int issue(struct registrar *rg, struct vpxi_sx *sx, const char *vpxi,
                 struct vpxi_key *subject, const struct vpxi_sexp *tag, bool propagate, int64_t nb,
                 int64_t na, struct vpxi_sexp **out)
{
    struct subject s = { .key = subject };

    return issue_to(rg, sx, vpxi, &s, tag, propagate, nb, na, out);
}

static int issue_to(struct registrar *rg, struct vpxi_sx *sx, const char *vpxi,
                    const struct subject *subj, const struct vpxi_sexp *tag, bool propagate,
                    int64_t nb, int64_t na, struct vpxi_sexp **out)
{
    struct vpxi_cert_params p = { 0 };
    struct store_issued in = { 0 };
    const uint8_t *cp;
    size_t clen;
    char tagtext[STORE_TEXT_MAX];
    struct vpxi_wr w;
    int64_t serial;
    int r;

    p.issuer = rg->key;
    p.subject_key = subj->key;
    p.subject = subj->expr;
    /* the subject proves its key in the HIP exchange: naming it by hash
     * keeps chains small enough for one HIP packet */
    p.subject_as_hash = true;
    p.propagate = propagate;
    p.tag = tag;
    p.valid.not_before = nb;
    p.valid.not_after = na;
    if ((r = vpxi_cert_issue(sx, &p, out)) != 0 ||
        (r = vpxi_sexp_canonical(sx, *out, &cp, &clen)) != 0)
        return r;
    vpxi_wr_init(&w, tagtext, sizeof(tagtext) - 1);
    if (vpxi_sexp_write_compact(tag, &w) != 0 || w.err)
        w.len = 0;
    tagtext[w.len] = 0;
    in.vpxi = vpxi;
    if (subj->key && (r = vpxi_hit_from_key(subj->key, in.subject_hit)) != 0)
        return r;
    if (!subj->key)
        memcpy(in.subject_hit, subj->hit, 16);
    in.tag = tagtext;
    in.not_before = nb;
    in.not_after = na;
    in.cert = cp;
    in.cert_len = clen;
    if ((r = store_issued_add(rg->db, &in, &serial)) != 0) {
        log_err("certificate not recorded, not handed out: %s", store_errmsg(rg->db));
        return r;
    }
    return 0;
}

/* Calls a host agent; 0 and an ok reply, or an error with why. */
static int call(struct registrar *rg, const uint8_t hit[16], uint16_t port, struct vpxi_sx *sx,
                const struct vpxi_sexp *req, struct vpxi_msg *rep, char *why, size_t wlen)
{
    int r = svc_call(hit, port, sx, req, rep, REG_CALL_MS);

    (void)rg;
    if (r != 0) {
        snprintf(why, wlen, "%s", svc_strerror(r));
        return r;
    }
    if (!rep->ok) {
        char msg[256] = "";
        if (rep->message)
            if (vpxi_sexp_get_str(rep->message, msg, sizeof(msg)) != 0)
                msg[0] = 0;
        snprintf(why, wlen, "%s", msg);
        return vpxi_msg_error_code(rep);
    }
    return 0;
}

/* ---- enrolment and registration ---------------------------------------------------------- */

static int key_of_request(const struct vpxi_msg *m, const uint8_t hit[16], struct vpxi_key **k,
                          struct vpxi_sx *sx, const uint8_t **canon, size_t *clen)
{
    const struct vpxi_sexp *kn = vpxi_msg_get(m, "public-key");
    uint8_t kh[16];
    int r;

    if (!kn)
        return VPXI_ERR_BAD_FORMAT;
    if ((r = vpxi_key_from_sexp(kn, k)) != 0)
        return r;
    if ((r = vpxi_hit_from_key(*k, kh)) != 0 || !vpxi_memeq_ct(kh, hit, 16)) {
        vpxi_key_put(*k);
        *k = NULL;
        return r ? r : VPXI_ERR_NOT_AUTHORIZED;
    }
    return vpxi_sexp_canonical(sx, kn, canon, clen);
}

static void op_enroll(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                      struct vpxi_sx *sx)
{
    struct store_user u = { 0 };
    struct vpxi_key *k = NULL;
    struct vpxi_sexp *rep, *x;
    char name[STORE_NAME_MAX], contact[STORE_NAME_MAX] = "", agreement[STORE_NAME_MAX],
                               hs[VPXI_HIT_STRLEN];
    int r;

    if (key_of_request(m, hit, &k, sx, &u.pubkey, &u.pubkey_len) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED,
                         "(public-key ...) missing or not the key of the requesting HIT");
        return;
    }
    vpxi_key_put(k);
    if (vpxi_msg_get_str(m, "name", name, sizeof(name)) != 0 || !name[0] ||
        vpxi_msg_get_str(m, "agreement", agreement, sizeof(agreement)) != 0 || !agreement[0]) {
        role_reply_error(
            fd, m->id, VPXI_ERR_BAD_FORMAT,
            "enroll needs (name NAME) and (agreement VERSION): the usage agreement accepted");
        return;
    }
    if (vpxi_msg_get_str(m, "contact", contact, sizeof(contact)) != 0)
        contact[0] = 0;
    memcpy(u.hit, hit, 16);
    u.name = name;
    u.contact = contact;
    u.agreement = agreement;
    u.status = strcmp(rg->rc->approve, "auto") ? STORE_USER_PENDING : STORE_USER_APPROVED;
    if ((r = store_user_enroll(rg->db, &u)) != 0) {
        role_reply_error(fd, m->id, r, "enrolment refused: %s", store_errmsg(rg->db));
        return;
    }
    vpxi_hit_to_str(hit, hs);
    log_info("user %s (%s) enrolled, %s", name, hs, store_user_status_name(u.status));
    if (vpxi_msg_reply_ok(sx, m->id, &rep) != 0 ||
        vpxi_sexp_build(sx, &x, "(user (hit %s) (status %s))", hs,
                        store_user_status_name(u.status)) != 0)
        return;
    vpxi_sexp_append(rep, x);
    (void)svc_send(fd, rep);
}

static bool is_admin(const struct registrar *rg, const uint8_t hit[16])
{
    for (size_t i = 0; i < rg->rc->nadmins; i++)
        if (vpxi_memeq_ct(rg->rc->admins[i], hit, 16))
            return true;
    return false;
}

static void op_approve(struct registrar *rg, int fd, const struct vpxi_msg *m,
                       const uint8_t hit[16], struct vpxi_sx *sx)
{
    char hs[64];
    uint8_t uh[16];
    struct vpxi_sexp *rep;
    int r;

    if (!is_admin(rg, hit)) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED,
                         "only an administrator approves users");
        return;
    }
    if (vpxi_msg_get_str(m, "hit", hs, sizeof(hs)) != 0 || vpxi_hit_from_str(hs, uh) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "approve needs (hit HIT)");
        return;
    }
    if ((r = store_user_set_status(rg->db, uh, STORE_USER_APPROVED)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0)
        (void)svc_send(fd, rep);
}

static void op_register(struct registrar *rg, int fd, const struct vpxi_msg *m,
                        const uint8_t hit[16], struct vpxi_sx *sx)
{
    struct store_hostagent h = { 0 };
    struct vpxi_key *k = NULL;
    char site[STORE_NAME_MAX], community[STORE_NAME_MAX] = "hipernet";
    struct vpxi_sexp *rep, *x;
    unsigned count = 0;
    int r;

    if (key_of_request(m, hit, &k, sx, &h.pubkey, &h.pubkey_len) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED,
                         "(public-key ...) missing or not the key of the requesting HIT");
        return;
    }
    vpxi_key_put(k);
    if (vpxi_msg_get_str(m, "site", site, sizeof(site)) != 0 || !site[0]) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "register needs (site NAME)");
        return;
    }
    if (vpxi_msg_get_str(m, "community", community, sizeof(community)) != 0)
        community[0] = 0;
    if (!community[0])
        snprintf(community, sizeof(community), "hipernet");
    memcpy(h.hit, hit, 16);
    h.site = site;
    h.community = community;
    if ((r = store_tx_begin(rg->db)) != 0 || (r = store_hostagent_upsert(rg->db, &h)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        store_tx_rollback(rg->db);
        return;
    }
    for (const struct vpxi_sexp *e = m->root->child; e; e = e->next) {
        struct store_resource res = { 0 };
        char id[STORE_NAME_MAX];
        const struct vpxi_sexp *cap, *v;
        uint64_t cpu = 0, mem = 0;
        if (!vpxi_sexp_head_is(e, "resource"))
            continue;
        if ((v = vpxi_sexp_find(e, "id")) == NULL || v->len != 2 ||
            vpxi_sexp_get_str(v->child->next, id, sizeof(id)) != 0 ||
            strncmp(id, site, strlen(site)) != 0) {
            store_tx_rollback(rg->db);
            role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "resource ids are SITE-rN");
            return;
        }
        if ((cap = vpxi_sexp_find(e, "capacity")) != NULL) {
            if ((v = vpxi_sexp_find(cap, "cpu")) && v->len == 2)
                if (vpxi_sexp_get_u64(v->child->next, &cpu) != 0)
                    cpu = 0;
            if ((v = vpxi_sexp_find(cap, "memory")) && v->len == 2)
                if (vpxi_sexp_get_u64(v->child->next, &mem) != 0)
                    mem = 0;
        }
        res.id = id;
        res.hostagent_hit = hit;
        res.site = site;
        res.community = community;
        res.cpu_milli = (int64_t)cpu;
        res.memory_mb = (int64_t)mem;
        res.cert = (const uint8_t *)"(none)";
        res.cert_len = 6;
        res.not_after = now_s() + 365 * 86400;
        if ((r = store_resource_register(rg->db, &res)) != 0) {
            role_reply_error(fd, m->id, r, "resource %s: %s", id, store_errmsg(rg->db));
            store_tx_rollback(rg->db);
            return;
        }
        count++;
    }
    if ((r = store_tx_commit(rg->db)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    log_info("host agent of site %s registered %u resources", site, count);
    if (vpxi_msg_reply_ok(sx, m->id, &rep) != 0 ||
        vpxi_sexp_build(sx, &x, "(registered %u)", (uint64_t)count) != 0)
        return;
    vpxi_sexp_append(rep, x);
    (void)svc_send(fd, rep);
}

/* ---- VPXI creation -------------------------------------------------------------------------- */

struct plan_node {
    char name[64];
    const struct vpxi_spec_group *g;
    struct store_resource *res; /* points into the free list */
    uint8_t hit[16];
    bool has_hit;
    char underlay[64];
    struct vpxi_key *key;
    struct vpxi_sexp *chain;
    char digest[65];               /* SHA-256 of the image it started from, or "" */
    const uint8_t *lender;         /* peer registrar that lent the node, or NULL */
    const struct vpxi_sexp *deleg; /* its delegation to us, (sequence ...) */
};

/* A sequence made of the items of a and of b (either may be NULL). */
static int seq_join(struct vpxi_sx *sx, const struct vpxi_sexp *a, const struct vpxi_sexp *b,
                    struct vpxi_sexp **out)
{
    int r = vpxi_sexp_build(sx, out, "(sequence)");

    for (int k = 0; r == 0 && k < 2; k++) {
        const struct vpxi_sexp *s = k ? b : a;
        for (const struct vpxi_sexp *e = s ? s->child->next : NULL; e; e = e->next)
            vpxi_sexp_append(*out, vpxi_sexp_copy(sx, e));
    }
    return r;
}

/* The delegations of every lender of a plan, joined (NULL if none). */
static int plan_delegations(struct vpxi_sx *sx, const struct plan_node *pn, size_t nn,
                            struct vpxi_sexp **out)
{
    *out = NULL;
    for (size_t i = 0; i < nn; i++) {
        bool seen = false;
        if (!pn[i].deleg)
            continue;
        for (size_t j = 0; j < i; j++)
            seen |= pn[j].deleg && pn[j].lender && !memcmp(pn[j].lender, pn[i].lender, 16);
        if (seen)
            continue;
        int r = seq_join(sx, *out, pn[i].deleg, out);
        if (r != 0)
            return r;
    }
    return 0;
}

static enum vpxi_link_sec link_between(const struct vpxi_spec *s, const struct plan_node *a,
                                       const struct plan_node *b)
{
    return vpxi_spec_link_sec(s, a->g->name, b->g->name, 0, 0);
}

/* The port classes between two nodes whose security differs from the
 * pair's (vpxi_spec_port_classes), appended to peer as (port-link PROTO LO
 * HI SEC). More than CFG_PORTLINKS_MAX is refused. */
static int append_port_links(struct vpxi_sx *sx, struct vpxi_sexp *peer, const struct vpxi_spec *s,
                             const struct plan_node *a, const struct plan_node *b, char *why,
                             size_t wlen)
{
    struct vpxi_spec_port_class pc[CFG_PORTLINKS_MAX];
    size_t n;
    int r;

    if ((r = vpxi_spec_port_classes(s, a->g->name, b->g->name, pc, CFG_PORTLINKS_MAX, &n)) != 0)
        return r;
    if (n > CFG_PORTLINKS_MAX) {
        snprintf(why, wlen, "%zu port classes between %s and %s (at most %d)", n, a->name, b->name,
                 CFG_PORTLINKS_MAX);
        return VPXI_ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < n; i++) {
        struct vpxi_sexp *x;
        char l[8], h[8];
        snprintf(l, sizeof(l), "%u", pc[i].lo);
        snprintf(h, sizeof(h), "%u", pc[i].hi);
        if ((r = vpxi_sexp_build(sx, &x, "(port-link %s %s %s %s)",
                                 pc[i].proto == IPPROTO_TCP ? "tcp" : "udp", l, h,
                                 vpxi_link_sec_name(pc[i].sec))) != 0)
            return r;
        vpxi_sexp_append(peer, x);
    }
    return 0;
}

/* Asks a lending registrar to end its side of a VPXI (it destroys the
 * nodes it made); failures are logged. */
static void lender_end(struct registrar *rg, const uint8_t peer[16], const char *vpxi)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *req, *x;
    struct vpxi_msg rep;
    char id[24], w[256];

    if (!sx)
        return;
    svc_next_id(id);
    if (vpxi_msg_request(sx, id, "end-vpxi", &req) == 0 &&
        vpxi_sexp_build(sx, &x, "(vpxi %s)", vpxi) == 0) {
        vpxi_sexp_append(req, x);
        if (call(rg, peer, SVC_PORT_REGISTRAR, sx, req, &rep, w, sizeof(w)) != 0)
            log_warn("%s: the lending registrar did not end its side: %s", vpxi, w);
    }
    vpxi_sx_free(sx);
}

/* Tears down what was created for a VPXI: nodes on their host agents. */
static void teardown(struct registrar *rg, const char *vpxi)
{
    struct store_resource *res = NULL;
    size_t n = 0;

    if (store_resource_list_vpxi(rg->db, vpxi, &res, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_sexp *req, *x;
        struct vpxi_msg rep;
        char id[24], why[256];
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= res[j].hostagent_hit && res[i].hostagent_hit &&
                    !memcmp(res[j].hostagent_hit, res[i].hostagent_hit, 16);
        for (size_t j = 0; j < i; j++)
            seen |= res[j].origin_registrar && res[i].origin_registrar &&
                    !memcmp(res[j].origin_registrar, res[i].origin_registrar, 16);
        if (!seen && !res[i].hostagent_hit && res[i].origin_registrar)
            lender_end(rg, res[i].origin_registrar, vpxi); /* it destroys what it made */
        if (!sx || seen || !res[i].hostagent_hit) {
            vpxi_sx_free(sx);
            continue;
        }
        svc_next_id(id);
        if (vpxi_msg_request(sx, id, "destroy-node", &req) == 0 &&
            vpxi_sexp_build(sx, &x, "(vpxi %s)", vpxi) == 0) {
            vpxi_sexp_append(req, x);
            if (call(rg, res[i].hostagent_hit, SVC_PORT_HOSTAGENT, sx, req, &rep, why,
                     sizeof(why)) != 0)
                log_warn("%s: host agent of %s: destroy failed: %s", vpxi, res[i].id, why);
        }
        vpxi_sx_free(sx);
    }
    store_resource_list_free(res, n);
}

static int create_nodes(struct registrar *rg, const struct vpxi_spec *spec, struct plan_node *pn,
                        size_t nn, char *why, size_t wlen)
{
    for (size_t i = 0; i < nn; i++) {
        struct vpxi_sx *sx;
        struct vpxi_sexp *req, *x, *pub;
        const struct vpxi_sexp *node, *e;
        struct vpxi_msg rep;
        char id[24], hs[64], vb[VPXI_DATE_LEN + 1], va[VPXI_DATE_LEN + 1], w[256];
        int r;

        if (pn[i].lender) { /* made by its lender already */
            if ((r = store_node_update(rg->db, spec->name, pn[i].name, pn[i].hit, pn[i].underlay,
                                       STORE_NODE_STARTING)) != 0) {
                snprintf(why, wlen, "%s", store_errmsg(rg->db));
                return r;
            }
            continue;
        }
        if ((sx = vpxi_sx_new()) == NULL)
            return VPXI_ERR_NOMEM;
        vpxi_date_format(spec->start - REG_CLOCK_SKEW_S, vb);
        vpxi_date_format(spec->end, va);
        svc_next_id(id);
        if ((r = vpxi_msg_request(sx, id, "create-node", &req)) != 0 ||
            (r = vpxi_key_to_sexp(sx, rg->key, &pub)) != 0 ||
            (r = vpxi_sexp_build(
                 sx, &x,
                 "((vpxi %s) (node %s) (resource %s) (group %s) (role %s) "
                 "(image %s) (trust %S (tag (vpxi %s (*) (* set member exec admin))) "
                 "(valid (not-before %s) (not-after %s))))",
                 spec->name, pn[i].name, pn[i].res->id, pn[i].g->name, pn[i].g->role,
                 pn[i].g->image, pub, spec->name, vb, va)) != 0) {
            vpxi_sx_free(sx);
            return r;
        }
        for (e = x->child; e; e = e->next)
            vpxi_sexp_append(req, vpxi_sexp_copy(sx, e));
        if ((r = call(rg, pn[i].res->hostagent_hit, SVC_PORT_HOSTAGENT, sx, req, &rep, w,
                      sizeof(w))) != 0) {
            snprintf(why, wlen, "node %s on %s: %s", pn[i].name, pn[i].res->id, w);
            vpxi_sx_free(sx);
            return r;
        }
        if ((node = vpxi_msg_get(&rep, "node")) == NULL ||
            (e = vpxi_sexp_find(node, "hit")) == NULL || e->len != 2 ||
            vpxi_sexp_get_str(e->child->next, hs, sizeof(hs)) != 0 ||
            vpxi_hit_from_str(hs, pn[i].hit) != 0 ||
            (e = vpxi_sexp_find(node, "underlay")) == NULL || e->len != 2 ||
            vpxi_sexp_get_str(e->child->next, pn[i].underlay, sizeof(pn[i].underlay)) != 0 ||
            (e = vpxi_sexp_find(node, "public-key")) == NULL ||
            vpxi_key_from_sexp(e, &pn[i].key) != 0) {
            snprintf(why, wlen, "node %s: malformed answer from its host agent", pn[i].name);
            vpxi_sx_free(sx);
            return VPXI_ERR_BAD_FORMAT;
        }
        {
            uint8_t kh[16];
            if (vpxi_hit_from_key(pn[i].key, kh) != 0 || memcmp(kh, pn[i].hit, 16)) {
                snprintf(why, wlen, "node %s: HIT and key disagree", pn[i].name);
                vpxi_sx_free(sx);
                return VPXI_ERR_BAD_FORMAT;
            }
        }
        pn[i].has_hit = true;
        if ((e = vpxi_sexp_find(node, "image")) != NULL && e->len == 3 &&
            vpxi_sexp_get_str(vpxi_sexp_nth(e, 2), pn[i].digest, sizeof(pn[i].digest)) != 0)
            pn[i].digest[0] = 0;
        vpxi_sx_free(sx);
        if ((r = store_node_update(rg->db, spec->name, pn[i].name, pn[i].hit, pn[i].underlay,
                                   STORE_NODE_STARTING)) != 0) {
            snprintf(why, wlen, "%s", store_errmsg(rg->db));
            return r;
        }
    }
    return 0;
}

/* ---- peer registrars (seed 000 4.2.2) -------------------------------------------------------- */

static int peer_index(const struct registrar *rg, const uint8_t hit[16])
{
    for (size_t i = 0; i < rg->rc->npeers; i++)
        if (vpxi_memeq_ct(rg->rc->peers[i], hit, 16))
            return (int)i;
    return -1;
}

/* Free resources a peer's latest valid offer lists at site. */
static unsigned offered(struct registrar *rg, const uint8_t peer[16], const char *site)
{
    struct store_offer o;
    struct vpxi_sx *sx;
    struct vpxi_sexp *n;
    struct vpxi_seq *seq;
    unsigned count = 0;

    if (store_offer_get(rg->db, peer, &o) != 0)
        return 0;
    if (o.not_after >= now_s() && (sx = vpxi_sx_new()) != NULL) {
        if (vpxi_sexp_read(sx, o.offer, o.offer_len, NULL, &n, NULL) == 0 &&
            vpxi_seq_parse(sx, n, &seq) == 0 && seq->ncerts == 1)
            for (const struct vpxi_sexp *e = seq->certs[0]->tag->child; e; e = e->next) {
                char s2[STORE_NAME_MAX];
                const struct vpxi_sexp *st = vpxi_sexp_nth(e, 2);
                if (vpxi_sexp_head_is(e, "resource") && st && vpxi_sexp_is_atom(st) &&
                    vpxi_sexp_get_str(st, s2, sizeof(s2)) == 0 && !strcmp(s2, site))
                    count++;
            }
        vpxi_sx_free(sx);
    }
    store_offer_clear(&o);
    return count;
}

/* Asks the peer registrars, those offering most at the site first, for the
 * nodes [first, count) of group gr; appends them to the plan. */
static int borrow(struct registrar *rg, struct vpxi_sx *sx, const struct vpxi_spec *spec,
                  const struct vpxi_spec_group *gr, unsigned first, struct plan_node *pn,
                  size_t *nn, const char **ids, char *why, size_t wlen)
{
    size_t order[CFG_LIST_MAX], np = rg->rc->npeers;
    unsigned offer[CFG_LIST_MAX];
    char vb[VPXI_DATE_LEN + 1], va[VPXI_DATE_LEN + 1];

    for (size_t i = 0; i < np; i++) {
        order[i] = i;
        offer[i] = offered(rg, rg->rc->peers[i], gr->site);
    }
    for (size_t i = 1; i < np; i++) /* insertion sort, most offered first */
        for (size_t j = i; j > 0 && offer[order[j]] > offer[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    vpxi_date_format(spec->start - REG_CLOCK_SKEW_S, vb);
    vpxi_date_format(spec->end, va);
    snprintf(why, wlen, "no peer registrar configured");
    for (size_t k = 0; k < np; k++) {
        const uint8_t *peer = rg->rc->peers[order[k]];
        struct vpxi_sexp *req, *x, *pub;
        const struct vpxi_sexp *deleg;
        struct vpxi_msg rep;
        char id[24], w[256];
        size_t got = 0, base = *nn;
        int r;

        svc_next_id(id);
        if ((r = vpxi_msg_request(sx, id, "borrow", &req)) != 0 ||
            (r = vpxi_key_to_sexp(sx, rg->key, &pub)) != 0 ||
            (r = vpxi_sexp_build(sx, &x,
                                 "(%S (vpxi %s) (valid (not-before %s) (not-after %s)) "
                                 "(group (name %s) (site %s) (role %s) (image %s) (cpu %u) "
                                 "(memory %u)))",
                                 pub, spec->name, vb, va, gr->name, gr->site, gr->role, gr->image,
                                 (uint64_t)gr->cpu_milli, (uint64_t)gr->memory_mb)) != 0)
            return r;
        for (const struct vpxi_sexp *e = x->child; e; e = e->next)
            vpxi_sexp_append(req, vpxi_sexp_copy(sx, e));
        for (unsigned i = first; i < gr->count; i++) {
            char nm[64];
            snprintf(nm, sizeof(nm), "%s-%u", gr->name, i + 1);
            if ((r = vpxi_sexp_build(sx, &x, "(node %s)", nm)) != 0)
                return r;
            vpxi_sexp_append(req, x);
        }
        if ((r = call(rg, peer, SVC_PORT_REGISTRAR, sx, req, &rep, w, sizeof(w))) != 0) {
            snprintf(why, wlen, "peer registrar refused: %s", w);
            log_warn("%s: borrowing %u nodes of group %s: %s", spec->name, gr->count - first,
                     gr->name, w);
            continue;
        }
        if ((deleg = vpxi_msg_get(&rep, "sequence")) == NULL) {
            snprintf(why, wlen, "peer registrar sent no delegation");
            continue;
        }
        deleg = vpxi_sexp_copy(sx, deleg);
        for (const struct vpxi_sexp *e = rep.root->child; e; e = e->next) {
            const struct vpxi_sexp *f;
            struct plan_node *p = &pn[*nn];
            struct store_resource *res;
            char hs[64], *rid;
            if (!vpxi_sexp_head_is(e, "node") || got >= gr->count - first)
                continue;
            memset(p, 0, sizeof(*p));
            snprintf(p->name, sizeof(p->name), "%s-%zu", gr->name, first + got + 1);
            if ((f = vpxi_sexp_find(e, "hit")) == NULL || f->len != 2 ||
                vpxi_sexp_get_str(f->child->next, hs, sizeof(hs)) != 0 ||
                vpxi_hit_from_str(hs, p->hit) != 0 || (f = vpxi_sexp_find(e, "underlay")) == NULL ||
                f->len != 2 ||
                vpxi_sexp_get_str(f->child->next, p->underlay, sizeof(p->underlay)) != 0 ||
                (f = vpxi_sexp_find(e, "public-key")) == NULL ||
                vpxi_key_from_sexp(f, &p->key) != 0)
                break;
            if ((f = vpxi_sexp_find(e, "image")) != NULL && f->len == 3 &&
                (vpxi_sexp_get_str(vpxi_sexp_nth(f, 2), p->digest, sizeof(p->digest)) != 0 ||
                 strlen(p->digest) != 64))
                p->digest[0] = 0;
            if ((res = vpxi_sx_alloc(sx, sizeof(*res))) == NULL ||
                (rid = vpxi_sx_alloc(sx, STORE_NAME_MAX)) == NULL)
                return VPXI_ERR_NOMEM;
            memset(res, 0, sizeof(*res));
            snprintf(rid, STORE_NAME_MAX, "lent:%02x%02x%02x%02x:%s:%s", peer[12], peer[13],
                     peer[14], peer[15], spec->name, p->name);
            res->id = rid;
            res->origin_registrar = peer;
            res->site = gr->site;
            res->community = spec->community[0] ? spec->community : "hipernet";
            res->cpu_milli = gr->cpu_milli;
            res->memory_mb = gr->memory_mb;
            if (vpxi_sexp_canonical(sx, deleg, &res->cert, &res->cert_len) != 0)
                return VPXI_ERR_NOMEM;
            res->not_after = spec->end;
            if ((r = store_resource_register(rg->db, res)) != 0) {
                snprintf(why, wlen, "%s", store_errmsg(rg->db));
                vpxi_key_put(p->key);
                p->key = NULL;
                break;
            }
            p->g = gr;
            p->res = res;
            p->has_hit = true;
            p->lender = peer;
            p->deleg = deleg;
            ids[*nn] = rid;
            (*nn)++;
            got++;
        }
        if (got == gr->count - first) {
            log_info("%s: %zu nodes of group %s borrowed from a peer registrar", spec->name, got,
                     gr->name);
            return 0;
        }
        snprintf(why, wlen, "peer registrar answered with %zu of %u nodes", got, gr->count - first);
        /* give back what this peer made */
        for (size_t i = base; i < *nn; i++)
            vpxi_key_put(pn[i].key);
        *nn = base;
        lender_end(rg, peer, spec->name);
    }
    return VPXI_ERR_LIMIT;
}

/* Gives borrowed nodes back to their lenders (creation failed early). */
static void give_back(struct registrar *rg, const char *vpxi, const struct plan_node *pn, size_t nn)
{
    for (size_t i = 0; i < nn; i++) {
        bool seen = false;
        if (!pn[i].lender)
            continue;
        for (size_t j = 0; j < i; j++)
            seen |= pn[j].lender && !memcmp(pn[j].lender, pn[i].lender, 16);
        if (!seen)
            lender_end(rg, pn[i].lender, vpxi);
    }
}

/* Records a VPXI, allocates its resources to it and adds its nodes, in one
 * transaction: all of it or nothing (why says what failed). */
static int allocate(struct registrar *rg, const struct store_vpxi *v, const char **ids,
                    const struct plan_node *pn, size_t nn, char *why, size_t wlen)
{
    int r;

    if ((r = store_tx_begin(rg->db)) != 0) {
        snprintf(why, wlen, "%s", store_errmsg(rg->db));
        return r;
    }
    if ((r = store_vpxi_create(rg->db, v, ids, nn)) != 0)
        goto fail;
    for (size_t i = 0; i < nn; i++) {
        struct store_node nd = { .vpxi = v->name,
                                 .name = pn[i].name,
                                 .resource = ids[i],
                                 .group_name = pn[i].g->name,
                                 .site = pn[i].g->site,
                                 .role = pn[i].g->role,
                                 .image = pn[i].g->image,
                                 .state = STORE_NODE_PENDING };
        if ((r = store_node_add(rg->db, &nd)) != 0)
            goto fail;
    }
    if ((r = store_tx_commit(rg->db)) != 0)
        snprintf(why, wlen, "%s", store_errmsg(rg->db));
    return r;
fail:
    snprintf(why, wlen, "%s", store_errmsg(rg->db));
    store_tx_rollback(rg->db);
    return r;
}

/* Membership certificates and peers for every node. */
static int connect_nodes(struct registrar *rg, const struct vpxi_spec *spec, struct plan_node *pn,
                         size_t nn, char *why, size_t wlen)
{
    int64_t now = now_s(), na = now + spec->renew_margin;

    if (na > spec->end)
        na = spec->end;
    for (size_t i = 0; i < nn; i++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_sexp *req, *x, *tag, *seq;
        struct vpxi_msg rep;
        char id[24], w[256];
        int r;

        if (!sx)
            return VPXI_ERR_NOMEM;
        struct vpxi_sexp *delegs;
        /* the membership also records the image the node started from, so
         * peers and the registrar can require one (authorization.md 9) */
        if ((r = pn[i].digest[0]
                     ? vpxi_sexp_build(sx, &tag, "(* set (vpxi %s (*) member) (image sha256 %s))",
                                       spec->name, pn[i].digest)
                     : vpxi_sexp_build(sx, &tag, "(vpxi %s (*) member)", spec->name)) != 0 ||
            (r = issue(rg, sx, spec->name, pn[i].key, tag, false, now - REG_CLOCK_SKEW_S, na,
                       &seq)) != 0 ||
            (r = plan_delegations(sx, pn, nn, &delegs)) != 0 ||
            (delegs && (r = seq_join(sx, delegs, seq, &seq)) != 0)) {
            snprintf(why, wlen, "certificate for %s: %s", pn[i].name, vpxi_strerror(r));
            vpxi_sx_free(sx);
            return r;
        }
        svc_next_id(id);
        if ((r = vpxi_msg_request(sx, id, pn[i].lender ? "update-lent" : "update-node", &req)) !=
                0 ||
            (r = vpxi_sexp_build(sx, &x, "((vpxi %s) (node %s) %S)", spec->name, pn[i].name,
                                 seq)) != 0) {
            vpxi_sx_free(sx);
            return r;
        }
        for (const struct vpxi_sexp *e = x->child; e; e = e->next)
            vpxi_sexp_append(req, vpxi_sexp_copy(sx, e));
        for (size_t j = 0; j < nn; j++) {
            char hs[VPXI_HIT_STRLEN], ul[80];
            if (j == i)
                continue;
            vpxi_hit_to_str(pn[j].hit, hs);
            snprintf(ul, sizeof(ul), "%s:10500", pn[j].underlay);
            if ((r = vpxi_sexp_build(
                     sx, &x, "(peer (name %s) (hit %s) (underlay %s) (link %s))", pn[j].name, hs,
                     ul, vpxi_link_sec_name(link_between(spec, &pn[i], &pn[j])))) != 0 ||
                (r = append_port_links(sx, x, spec, &pn[i], &pn[j], why, wlen)) != 0) {
                if (r == VPXI_ERR_NOMEM)
                    snprintf(why, wlen, "out of memory");
                vpxi_sx_free(sx);
                return r;
            }
            vpxi_sexp_append(req, x);
        }
        if ((r = pn[i].lender
                     ? call(rg, pn[i].lender, SVC_PORT_REGISTRAR, sx, req, &rep, w, sizeof(w))
                     : call(rg, pn[i].res->hostagent_hit, SVC_PORT_HOSTAGENT, sx, req, &rep, w,
                            sizeof(w))) != 0) {
            snprintf(why, wlen, "node %s: %s", pn[i].name, w);
            vpxi_sx_free(sx);
            return r;
        }
        vpxi_sx_free(sx);
        if ((r = store_node_update(rg->db, spec->name, pn[i].name, NULL, NULL,
                                   STORE_NODE_RUNNING)) != 0) {
            snprintf(why, wlen, "%s", store_errmsg(rg->db));
            return r;
        }
    }
    return 0;
}

/* (vpxi (name) (owner (hit)) (valid) (node ...)...) from the store. */
static int describe(struct registrar *rg, struct vpxi_sx *sx, const char *name,
                    struct vpxi_sexp **out)
{
    struct store_vpxi v;
    struct store_node *nodes = NULL;
    size_t n = 0;
    char hs[VPXI_HIT_STRLEN], nb[VPXI_DATE_LEN + 1], na[VPXI_DATE_LEN + 1];
    struct vpxi_sexp *x;
    int r;

    if ((r = store_vpxi_get(rg->db, name, &v)) != 0)
        return r;
    vpxi_hit_to_str(v.owner_hit, hs);
    vpxi_date_format(v.not_before, nb);
    vpxi_date_format(v.not_after, na);
    r = vpxi_sexp_build(sx, out,
                        "(vpxi (name %s) (state %s) (owner (hit %s)) (valid (not-before %s) "
                        "(not-after %s)))",
                        v.name, store_vpxi_state_name(v.state), hs, nb, na);
    store_vpxi_clear(&v);
    if (r != 0)
        return r;
    {
        struct vpxi_sexp *pub;
        if ((r = vpxi_key_to_sexp(sx, rg->key, &pub)) != 0 ||
            (r = vpxi_sexp_build(sx, &x, "(registrar %S)", pub)) != 0)
            return r;
        vpxi_sexp_append(*out, x);
    }
    if ((r = store_node_list(rg->db, name, &nodes, &n)) != 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        char nh[VPXI_HIT_STRLEN] = "-";
        if (nodes[i].hit)
            vpxi_hit_to_str(nodes[i].hit, nh);
        r = vpxi_sexp_build(sx, &x,
                            "(node (name %s) (group %s) (site %s) (role %s) (hit %s) "
                            "(underlay %s) (image %s) (state %s))",
                            nodes[i].name, nodes[i].group_name ? nodes[i].group_name : "",
                            nodes[i].site ? nodes[i].site : "", nodes[i].role ? nodes[i].role : "",
                            nh, nodes[i].underlay ? nodes[i].underlay : "",
                            nodes[i].image ? nodes[i].image : "",
                            store_node_state_name(nodes[i].state));
        if (r == 0)
            vpxi_sexp_append(*out, x);
    }
    store_node_list_free(nodes, n);
    return r;
}

static void op_create(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                      struct vpxi_sx *sx)
{
    struct store_user u;
    struct vpxi_spec *spec = NULL;
    struct plan_node *pn = NULL;
    struct store_resource **free_lists = NULL;
    size_t *free_n = NULL, nn = 0;
    const char **ids = NULL;
    const struct vpxi_sexp *st = vpxi_msg_get(m, "spec");
    char err[4096], why[512] = "";
    struct vpxi_key *ukey = NULL;
    struct vpxi_sexp *rep, *desc, *tag, *useq;
    bool created = false;
    int r;

    if ((r = store_user_get(rg->db, hit, &u)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "unknown user: enroll first");
        return;
    }
    r = u.status == STORE_USER_APPROVED ? 0 : VPXI_ERR_NOT_AUTHORIZED;
    if (r == 0)
        r = vpxi_key_parse(u.pubkey, u.pubkey_len, &ukey);
    store_user_clear(&u);
    if (r != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "user not approved");
        return;
    }
    if (!st || st->len != 2 || !vpxi_sexp_is_atom(st->child->next)) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "create-vpxi needs (spec TEXT)");
        goto out;
    }
    if ((r = vpxi_spec_parse((const char *)st->child->next->data, st->child->next->len, "spec",
                             now_s(), &spec, err, sizeof(err))) != 0) {
        role_reply_error(fd, m->id, r, "%s", err);
        goto out;
    }
    if (spec->end - (spec->start > now_s() ? spec->start : now_s()) >
        (int64_t)rg->rc->max_duration) {
        role_reply_error(fd, m->id, VPXI_ERR_INVALID,
                         "time window longer than this registrar allows (%u s)",
                         rg->rc->max_duration);
        goto out;
    }
    if ((pn = vpxi_calloc(spec->total_nodes, sizeof(*pn))) == NULL ||
        (ids = vpxi_calloc(spec->total_nodes, sizeof(*ids))) == NULL ||
        (free_lists = vpxi_calloc(spec->ngroups, sizeof(*free_lists))) == NULL ||
        (free_n = vpxi_calloc(spec->ngroups, sizeof(*free_n))) == NULL) {
        role_reply_error(fd, m->id, VPXI_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* select resources: group by group, best fit, never the same one twice */
    for (size_t g = 0; g < spec->ngroups; g++) {
        const struct vpxi_spec_group *gr = &spec->groups[g];
        struct store_resource_filter f = {
            .site = gr->site,
            .community = spec->community[0] ? spec->community : NULL,
            .min_cpu_milli = gr->cpu_milli,
            .min_memory_mb = gr->memory_mb,
        };
        size_t got = 0;
        if ((r = store_resource_find_free(rg->db, &f, &free_lists[g], &free_n[g])) != 0) {
            role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
            goto out;
        }
        for (size_t k = 0; k < free_n[g] && got < gr->count; k++) {
            bool taken = false;
            for (size_t j = 0; j < nn; j++)
                taken |= !strcmp(ids[j], free_lists[g][k].id);
            if (taken || !free_lists[g][k].hostagent_hit)
                continue;
            snprintf(pn[nn].name, sizeof(pn[nn].name), "%s-%zu", gr->name, got + 1);
            pn[nn].g = gr;
            pn[nn].res = &free_lists[g][k];
            ids[nn] = free_lists[g][k].id;
            nn++;
            got++;
        }
        if (got < gr->count && (rg->rc->npeers == 0 || borrow(rg, sx, spec, gr, (unsigned)got, pn,
                                                              &nn, ids, why, sizeof(why)) != 0)) {
            give_back(rg, spec->name, pn, nn);
            role_reply_error(fd, m->id, VPXI_ERR_LIMIT,
                             "group %s: %u nodes wanted at site %s, %zu free resources match%s%s",
                             gr->name, gr->count, gr->site, got, why[0] ? "; " : "", why);
            goto out;
        }
    }
    {
        struct store_vpxi v = { .name = spec->name,
                                .not_before = spec->start,
                                .not_after = spec->end };
        memcpy(v.owner_hit, hit, 16);
        v.spec = "";
        {
            char *text = vpxi_sx_alloc(sx, st->child->next->len + 1);
            if (text) {
                memcpy(text, st->child->next->data, st->child->next->len);
                text[st->child->next->len] = 0;
                v.spec = text;
            }
        }
        if ((r = allocate(rg, &v, ids, pn, nn, why, sizeof(why))) != 0) {
            role_reply_error(fd, m->id, r, "cannot allocate: %s", why);
            give_back(rg, spec->name, pn, nn);
            goto out;
        }
        created = true;
    }
    log_info("VPXI %s: %zu nodes allocated, creating them", spec->name, nn);
    if ((r = create_nodes(rg, spec, pn, nn, why, sizeof(why))) != 0 ||
        (r = connect_nodes(rg, spec, pn, nn, why, sizeof(why))) != 0)
        goto failed;
    /* the owner's certificate: every right on every node, for the window */
    if ((r = vpxi_sexp_build(sx, &tag, "(vpxi %s (*) (* set member exec))", spec->name)) != 0 ||
        (r = issue(rg, sx, spec->name, ukey, tag, false, spec->start - REG_CLOCK_SKEW_S, spec->end,
                   &useq)) != 0 ||
        (r = plan_delegations(sx, pn, nn, &desc)) != 0 ||
        (desc && (r = seq_join(sx, desc, useq, &useq)) != 0)) {
        snprintf(why, sizeof(why), "owner certificate: %s", vpxi_strerror(r));
        goto failed;
    }
    if ((r = store_vpxi_set_state(rg->db, spec->name, STORE_VPXI_ACTIVE, NULL)) != 0) {
        snprintf(why, sizeof(why), "%s", store_errmsg(rg->db));
        goto failed;
    }
    if ((r = vpxi_msg_reply_ok(sx, m->id, &rep)) != 0 ||
        (r = describe(rg, sx, spec->name, &desc)) != 0)
        goto failed;
    vpxi_sexp_append(rep, desc);
    vpxi_sexp_append(rep, useq);
    log_info("VPXI %s active: %zu nodes", spec->name, nn);
    (void)svc_send(fd, rep);
    goto out;
failed:
    log_err("VPXI %s failed: %s", spec->name, why);
    teardown(rg, spec->name);
    if (created && store_vpxi_set_state(rg->db, spec->name, STORE_VPXI_FAILED, why) != 0)
        log_err("VPXI %s: %s", spec->name, store_errmsg(rg->db));
    role_reply_error(fd, m->id, r ? r : VPXI_ERR_INTERNAL, "VPXI %s not created (rolled back): %s",
                     spec->name, why);
out:
    for (size_t i = 0; pn && i < nn; i++)
        vpxi_key_put(pn[i].key);
    for (size_t g = 0; spec && free_lists && g < spec->ngroups; g++)
        store_resource_list_free(free_lists[g], free_n[g]);
    vpxi_free(free_lists);
    vpxi_free(free_n);
    vpxi_free(pn);
    vpxi_free(ids);
    vpxi_key_put(ukey);
    vpxi_spec_free(spec);
}

static int owner_check(struct registrar *rg, const char *name, const uint8_t hit[16],
                       bool owner_only)
{
    struct store_vpxi v;
    struct store_member *mem = NULL;
    size_t n = 0;
    int r;

    if ((r = store_vpxi_get(rg->db, name, &v)) != 0)
        return r;
    r = vpxi_memeq_ct(v.owner_hit, hit, 16) ? 0 : VPXI_ERR_NOT_AUTHORIZED;
    store_vpxi_clear(&v);
    if (r == 0 || owner_only)
        return r;
    if (store_member_list(rg->db, name, &mem, &n) != 0)
        return VPXI_ERR_NOT_AUTHORIZED;
    for (size_t i = 0; i < n; i++)
        if (vpxi_memeq_ct(mem[i].user_hit, hit, 16))
            r = 0;
    store_member_list_free(mem, n);
    return r;
}

static void end_vpxi(struct registrar *rg, const char *name, const char *reason)
{
    struct store_vpxi v;
    int r;

    if (store_vpxi_get(rg->db, name, &v) == 0) {
        bool over = v.state == STORE_VPXI_ENDED || v.state == STORE_VPXI_FAILED;
        store_vpxi_clear(&v);
        if (over)
            return;
    }
    if (store_vpxi_set_state(rg->db, name, STORE_VPXI_ENDING, reason) != 0)
        log_warn("VPXI %s: %s", name, store_errmsg(rg->db));
    teardown(rg, name);
    if ((r = store_vpxi_end(rg->db, name, reason)) != 0)
        log_err("VPXI %s: %s", name, store_errmsg(rg->db));
    else
        log_info("VPXI %s ended: %s", name, reason);
}

/* The (vpxi NAME) a request is about, whose requester must be its owner
 * (owner_only) or a member; 0, or -1 with the refusal already sent. */
static int vpxi_arg(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                    bool owner_only, char name[STORE_NAME_MAX])
{
    int r;

    if (vpxi_msg_get_str(m, "vpxi", name, STORE_NAME_MAX) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "%s needs (vpxi NAME)", m->op);
        return -1;
    }
    if ((r = owner_check(rg, name, hit, owner_only)) != 0) {
        role_reply_error(fd, m->id, r, "%s: %s", name,
                         owner_only ? "only its owner may do this" : "not a member");
        return -1;
    }
    return 0;
}

static void op_end(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                   struct vpxi_sx *sx)
{
    char name[STORE_NAME_MAX];
    struct vpxi_sexp *rep, *x;

    if (vpxi_arg(rg, fd, m, hit, true, name) != 0)
        return;
    end_vpxi(rg, name, "ended by its owner");
    if (vpxi_msg_reply_ok(sx, m->id, &rep) != 0 || vpxi_sexp_build(sx, &x, "(ended %s)", name) != 0)
        return;
    vpxi_sexp_append(rep, x);
    (void)svc_send(fd, rep);
}

/*
 * Seed 000 4.2.3: the owner U1 asks for U2; the registrar consents only for
 * an enrolled, approved U2 and answers with a delegable certificate to U1;
 * U1 then issues its own, non-delegable, to U2.
 */
static void op_add_user(struct registrar *rg, int fd, const struct vpxi_msg *m,
                        const uint8_t hit[16], struct vpxi_sx *sx)
{
    char name[STORE_NAME_MAX], hs[VPXI_HIT_STRLEN];
    const struct vpxi_sexp *un = vpxi_msg_get(m, "user"), *kn;
    struct vpxi_key *owner = NULL, *u2 = NULL;
    struct store_user ou, nu;
    struct store_vpxi v;
    struct vpxi_sexp *rep, *tag, *seq;
    uint8_t h2[16];
    int r;

    if (vpxi_msg_get_str(m, "vpxi", name, sizeof(name)) != 0 || !un ||
        (kn = vpxi_sexp_find(un, "public-key")) == NULL) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT,
                         "add-user needs (vpxi NAME) (user (public-key ...))");
        return;
    }
    if ((r = owner_check(rg, name, hit, true)) != 0) {
        role_reply_error(fd, m->id, r, "%s: only its owner adds users", name);
        return;
    }
    if ((r = vpxi_key_from_sexp(kn, &u2)) != 0 || (r = vpxi_hit_from_key(u2, h2)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_KEY, "the new user's key: %s", vpxi_strerror(r));
        goto out;
    }
    vpxi_hit_to_str(h2, hs);
    if ((r = store_user_get(rg->db, h2, &nu)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "%s is not an enrolled user", hs);
        goto out;
    }
    r = nu.status == STORE_USER_APPROVED ? 0 : VPXI_ERR_NOT_AUTHORIZED;
    store_user_clear(&nu);
    if (r != 0) {
        role_reply_error(fd, m->id, r, "%s is not approved", hs);
        goto out;
    }
    if ((r = store_user_get(rg->db, hit, &ou)) != 0 ||
        (r = vpxi_key_parse(ou.pubkey, ou.pubkey_len, &owner)) != 0) {
        if (r == 0)
            store_user_clear(&ou);
        role_reply_error(fd, m->id, VPXI_ERR_INTERNAL, "owner record unreadable");
        goto out;
    }
    store_user_clear(&ou);
    if ((r = store_vpxi_get(rg->db, name, &v)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        goto out;
    }
    r = store_member_add(rg->db, name, h2, STORE_MEMBER_USER);
    if (r != 0 && r != VPXI_ERR_EXISTS) {
        store_vpxi_clear(&v);
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        goto out;
    }
    r = vpxi_sexp_build(sx, &tag, "(vpxi %s (*) (* set member exec))", name);
    if (r == 0)
        r = issue(rg, sx, name, owner, tag, true, now_s() - REG_CLOCK_SKEW_S, v.not_after, &seq);
    store_vpxi_clear(&v);
    if (r != 0) {
        role_reply_error(fd, m->id, r, "delegation certificate: %s", vpxi_strerror(r));
        goto out;
    }
    log_info("VPXI %s: user %s added by its owner", name, hs);
    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0) {
        vpxi_sexp_append(rep, seq);
        (void)svc_send(fd, rep);
    }
out:
    vpxi_key_put(u2);
    vpxi_key_put(owner);
}

static void op_show(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                    struct vpxi_sx *sx)
{
    char name[STORE_NAME_MAX];
    struct vpxi_sexp *rep, *desc;
    int r;

    if (vpxi_arg(rg, fd, m, hit, false, name) != 0)
        return;
    if ((r = vpxi_msg_reply_ok(sx, m->id, &rep)) != 0 || (r = describe(rg, sx, name, &desc)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    vpxi_sexp_append(rep, desc);
    (void)svc_send(fd, rep);
}

static void op_list(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                    struct vpxi_sx *sx)
{
    struct store_vpxi *v = NULL;
    struct vpxi_sexp *rep, *desc;
    size_t n = 0;
    int r;

    if ((r = store_vpxi_list_for_user(rg->db, hit, &v, &n)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0) {
        for (size_t i = 0; i < n; i++)
            if (describe(rg, sx, v[i].name, &desc) == 0)
                vpxi_sexp_append(rep, desc);
        (void)svc_send(fd, rep);
    }
    store_vpxi_list_free(v, n);
}

/* ---- the lender's side -------------------------------------------------------------------- */

/* borrow (from a peer registrar): make nodes for its VPXI from our free
 * resources, trusting us; delegate the VPXI's rights on them to the peer. */
static void op_borrow(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                      struct vpxi_sx *sx)
{
    const struct vpxi_sexp *gn = vpxi_msg_get(m, "group"), *vn = vpxi_msg_get(m, "valid"), *f;
    struct vpxi_spec fs = { 0 };
    struct vpxi_spec_group g = { 0 };
    struct store_resource *fl = NULL;
    struct plan_node *pn = NULL;
    const char **ids = NULL;
    struct vpxi_key *r1 = NULL;
    struct vpxi_sexp *rep, *tag, *deleg, *x, *pub;
    const uint8_t *kc;
    size_t kl, nfree = 0, nn = 0, want = 0;
    char why[512] = "", buf[80];
    bool created = false;
    int r;

    if (peer_index(rg, hit) < 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "borrow is for peer registrars only");
        return;
    }
    if (key_of_request(m, hit, &r1, sx, &kc, &kl) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "(public-key) is not the requester's");
        return;
    }
#define FIELD(list, name, dst)                                                                     \
    ((f = vpxi_sexp_find(list, name)) != NULL && f->len == 2 &&                                    \
     vpxi_sexp_get_str(f->child->next, dst, sizeof(dst)) == 0)
    {
        char nb[32], na[32], cpu[16] = "0", mem[16] = "0";
        if (vpxi_msg_get_str(m, "vpxi", fs.name, sizeof(fs.name)) != 0 || !gn || !vn ||
            !FIELD(vn, "not-before", nb) || !FIELD(vn, "not-after", na) ||
            vpxi_date_parse((const uint8_t *)nb, strlen(nb), &fs.start) != 0 ||
            vpxi_date_parse((const uint8_t *)na, strlen(na), &fs.end) != 0 ||
            !FIELD(gn, "name", g.name) || !FIELD(gn, "site", g.site) ||
            !FIELD(gn, "role", g.role) || !FIELD(gn, "image", g.image) || !FIELD(gn, "cpu", cpu) ||
            !FIELD(gn, "memory", mem)) {
            role_reply_error(
                fd, m->id, VPXI_ERR_BAD_FORMAT,
                "borrow needs (vpxi) (valid) (group (name) (site) (role) (image) (cpu) "
                "(memory)) (node NAME)...");
            goto out;
        }
        g.cpu_milli = (unsigned)strtoul(cpu, NULL, 10);
        g.memory_mb = (unsigned)strtoul(mem, NULL, 10);
        fs.start += REG_CLOCK_SKEW_S;
    }
#undef FIELD
    for (const struct vpxi_sexp *e = m->root->child; e; e = e->next)
        want += vpxi_sexp_head_is(e, "node");
    if (want == 0 || want > VPXI_SPEC_COUNT_MAX || fs.end <= now_s()) {
        role_reply_error(fd, m->id, VPXI_ERR_INVALID, "bad node count or time window");
        goto out;
    }
    g.count = (unsigned)want;
    {
        struct store_resource_filter flt = { .site = g.site,
                                             .min_cpu_milli = g.cpu_milli,
                                             .min_memory_mb = g.memory_mb };
        if ((r = store_resource_find_free(rg->db, &flt, &fl, &nfree)) != 0) {
            role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
            goto out;
        }
    }
    if ((pn = vpxi_calloc(want, sizeof(*pn))) == NULL ||
        (ids = vpxi_calloc(want, sizeof(*ids))) == NULL) {
        role_reply_error(fd, m->id, VPXI_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (const struct vpxi_sexp *e = m->root->child; e && nn < want; e = e->next) {
        if (!vpxi_sexp_head_is(e, "node") || e->len != 2 ||
            vpxi_sexp_get_str(e->child->next, pn[nn].name, sizeof(pn[nn].name)) != 0)
            continue;
        for (size_t k = 0; k < nfree; k++) {
            bool taken = false;
            for (size_t j = 0; j < nn; j++)
                taken |= pn[j].res == &fl[k];
            if (taken || !fl[k].hostagent_hit)
                continue;
            pn[nn].res = &fl[k];
            pn[nn].g = &g;
            ids[nn] = fl[k].id;
            nn++;
            break;
        }
    }
    if (nn < want) {
        role_reply_error(fd, m->id, VPXI_ERR_LIMIT, "only %zu of %zu resources free at site %s", nn,
                         want, g.site);
        goto out;
    }
    {
        struct store_vpxi v = { .name = fs.name, .not_before = fs.start, .not_after = fs.end };
        memcpy(v.owner_hit, hit, 16);
        vpxi_hit_to_str(hit, buf);
        v.spec = "";
        if ((r = allocate(rg, &v, ids, pn, nn, why, sizeof(why))) != 0) {
            role_reply_error(fd, m->id, r, "cannot lend: %s", why);
            goto out;
        }
        created = true;
    }
    log_info("lending %zu nodes at site %s to peer registrar %s for VPXI %s", nn, g.site, buf,
             fs.name);
    if ((r = create_nodes(rg, &fs, pn, nn, why, sizeof(why))) != 0)
        goto failed;
    for (size_t i = 0; i < nn; i++)
        if ((r = store_node_update(rg->db, fs.name, pn[i].name, NULL, NULL, STORE_NODE_RUNNING)) !=
            0) {
            snprintf(why, sizeof(why), "%s", store_errmsg(rg->db));
            goto failed;
        }
    if ((r = store_vpxi_set_state(rg->db, fs.name, STORE_VPXI_ACTIVE, NULL)) != 0) {
        snprintf(why, sizeof(why), "%s", store_errmsg(rg->db));
        goto failed;
    }
    /* R2 -> R1: may delegate the VPXI's rights on these nodes */
    if ((r = vpxi_sexp_build(sx, &tag, "(vpxi %s (*) (* set member exec admin))", fs.name)) != 0 ||
        (r = issue(rg, sx, fs.name, r1, tag, true, now_s() - REG_CLOCK_SKEW_S, fs.end, &deleg)) !=
            0) {
        snprintf(why, sizeof(why), "delegation: %s", vpxi_strerror(r));
        goto failed;
    }
    if ((r = vpxi_msg_reply_ok(sx, m->id, &rep)) != 0)
        goto failed;
    vpxi_sexp_append(rep, deleg);
    for (size_t i = 0; i < nn; i++) {
        char hs[VPXI_HIT_STRLEN];
        vpxi_hit_to_str(pn[i].hit, hs);
        if ((r = vpxi_key_to_sexp(sx, pn[i].key, &pub)) != 0 ||
            (r = vpxi_sexp_build(sx, &x, "(node (name %s) (hit %s) (underlay %s) (image %s %s) %S)",
                                 pn[i].name, hs, pn[i].underlay, g.image,
                                 pn[i].digest[0] ? pn[i].digest : "-", pub)) != 0)
            goto failed;
        vpxi_sexp_append(rep, x);
    }
    (void)svc_send(fd, rep);
    goto out;
failed:
    log_err("lending for VPXI %s failed: %s", fs.name, why);
    teardown(rg, fs.name);
    if (created && store_vpxi_set_state(rg->db, fs.name, STORE_VPXI_FAILED, why) != 0)
        log_err("VPXI %s: %s", fs.name, store_errmsg(rg->db));
    role_reply_error(fd, m->id, r ? r : VPXI_ERR_INTERNAL, "nodes not lent: %s", why);
out:
    for (size_t i = 0; pn && i < nn; i++)
        vpxi_key_put(pn[i].key);
    vpxi_free(pn);
    vpxi_free(ids);
    store_resource_list_free(fl, nfree);
    vpxi_key_put(r1);
}

/* update-lent (from the borrowing registrar): passed on to the node's host agent. */
static void op_update_lent(struct registrar *rg, int fd, const struct vpxi_msg *m,
                           const uint8_t hit[16], struct vpxi_sx *sx)
{
    char vpxi[STORE_NAME_MAX], node[STORE_NAME_MAX], id[24], w[256];
    struct store_node nd;
    struct store_resource res;
    struct vpxi_sexp *req, *rep;
    struct vpxi_msg hrep;
    int r;

    if (vpxi_msg_get_str(m, "vpxi", vpxi, sizeof(vpxi)) != 0 ||
        vpxi_msg_get_str(m, "node", node, sizeof(node)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "update-lent needs (vpxi) (node)");
        return;
    }
    if (peer_index(rg, hit) < 0 || (r = owner_check(rg, vpxi, hit, true)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED, "%s was not lent to you", vpxi);
        return;
    }
    if ((r = store_node_get(rg->db, vpxi, node, &nd)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    r = store_resource_get(rg->db, nd.resource, &res);
    store_node_clear(&nd);
    if (r != 0 || !res.hostagent_hit) {
        if (r == 0)
            store_resource_clear(&res);
        role_reply_error(fd, m->id, VPXI_ERR_NOT_FOUND, "node %s has no host agent here", node);
        return;
    }
    svc_next_id(id);
    if ((r = vpxi_msg_request(sx, id, "update-node", &req)) == 0) {
        for (const struct vpxi_sexp *e = m->root->child->next; e; e = e->next)
            if (!vpxi_sexp_head_is(e, "id") && !vpxi_sexp_head_is(e, "op"))
                vpxi_sexp_append(req, vpxi_sexp_copy(sx, e));
        r = call(rg, res.hostagent_hit, SVC_PORT_HOSTAGENT, sx, req, &hrep, w, sizeof(w));
    }
    store_resource_clear(&res);
    if (r != 0) {
        role_reply_error(fd, m->id, r, "host agent: %s", w);
        return;
    }
    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0)
        (void)svc_send(fd, rep);
}

/* offer (from a peer registrar): an SPKI certificate peer -> us whose tag
 * lists its free resources; kept until it expires. */
static void op_offer(struct registrar *rg, int fd, const struct vpxi_msg *m, const uint8_t hit[16],
                     struct vpxi_sx *sx)
{
    const struct vpxi_sexp *seqn = vpxi_msg_get(m, "sequence");
    struct vpxi_seq *seq;
    struct vpxi_key *ik = NULL;
    struct store_offer o = { 0 };
    struct vpxi_sexp *rep;
    uint8_t ih[16];
    int r;

    if (peer_index(rg, hit) < 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED,
                         "offers are taken from peer registrars only");
        return;
    }
    if (!seqn || (r = vpxi_seq_parse(sx, seqn, &seq)) != 0 || seq->ncerts != 1 ||
        (r = vpxi_cert_verify(seq->certs[0], seq->keys, seq->nkeys, NULL)) != 0 ||
        (r = vpxi_principal_get_key(&seq->certs[0]->issuer, seq->keys, seq->nkeys, NULL, &ik)) !=
            0 ||
        (r = vpxi_hit_from_key(ik, ih)) != 0 || !vpxi_memeq_ct(ih, hit, 16) ||
        !vpxi_sexp_head_is(seq->certs[0]->tag, "registrar") ||
        (r = vpxi_validity_check(&seq->certs[0]->valid, now_s())) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_AUTHORIZED,
                         "offer refused: not a valid, signed offer");
        return;
    }
    memcpy(o.peer_hit, hit, 16);
    if ((r = vpxi_sexp_canonical(sx, seqn, &o.offer, &o.offer_len)) != 0)
        return;
    o.not_after = seq->certs[0]->valid.not_after;
    if ((r = store_offer_put(rg->db, &o)) != 0) {
        role_reply_error(fd, m->id, r, "%s", store_errmsg(rg->db));
        return;
    }
    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0)
        (void)svc_send(fd, rep);
}

/* key: our public key, for peers that issue to us. */
static void op_key(struct registrar *rg, int fd, const struct vpxi_msg *m, struct vpxi_sx *sx)
{
    struct vpxi_sexp *rep, *pub;

    if (vpxi_msg_reply_ok(sx, m->id, &rep) == 0 && vpxi_key_to_sexp(sx, rg->key, &pub) == 0) {
        vpxi_sexp_append(rep, pub);
        (void)svc_send(fd, rep);
    }
}

/* Offers our free resources to every peer registrar (a certificate to it,
 * valid for two offer intervals). */
static void send_offers(struct registrar *rg)
{
    struct store_resource_filter f = { 0 };
    struct store_resource *fr = NULL;
    size_t n = 0;

    if (rg->rc->npeers == 0 || store_resource_find_free(rg->db, &f, &fr, &n) != 0)
        return;
    for (size_t p = 0; p < rg->rc->npeers; p++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_sexp *req, *tag, *x, *seq;
        const struct vpxi_sexp *kn;
        struct vpxi_key *pk = NULL;
        struct vpxi_msg rep;
        struct vpxi_cert_params cp = { 0 };
        char id[24], w[256];
        uint8_t kh[16];

        if (!sx)
            break;
        svc_next_id(id);
        /* the peer's key, checked against its HIT */
        if (vpxi_msg_request(sx, id, "key", &req) != 0 ||
            call(rg, rg->rc->peers[p], SVC_PORT_REGISTRAR, sx, req, &rep, w, sizeof(w)) != 0 ||
            (kn = vpxi_msg_get(&rep, "public-key")) == NULL || vpxi_key_from_sexp(kn, &pk) != 0 ||
            vpxi_hit_from_key(pk, kh) != 0 || memcmp(kh, rg->rc->peers[p], 16) != 0) {
            vpxi_key_put(pk);
            vpxi_sx_free(sx);
            continue;
        }
        if (vpxi_sexp_build(sx, &tag, "(registrar offer)") == 0) {
            for (size_t i = 0; i < n; i++)
                if (fr[i].hostagent_hit &&
                    vpxi_sexp_build(sx, &x, "(resource %s %s (cpu %u) (memory %u))", fr[i].id,
                                    fr[i].site, (uint64_t)fr[i].cpu_milli,
                                    (uint64_t)fr[i].memory_mb) == 0)
                    vpxi_sexp_append(tag, x);
            cp.issuer = rg->key;
            cp.subject_key = pk;
            cp.subject_as_hash = true;
            cp.tag = tag;
            cp.valid.not_before = now_s() - REG_CLOCK_SKEW_S;
            cp.valid.not_after = now_s() + 2 * (int64_t)rg->rc->offer_interval;
            svc_next_id(id);
            if (vpxi_cert_issue(sx, &cp, &seq) == 0 &&
                vpxi_msg_request(sx, id, "offer", &req) == 0) {
                vpxi_sexp_append(req, seq);
                if (call(rg, rg->rc->peers[p], SVC_PORT_REGISTRAR, sx, req, &rep, w, sizeof(w)) !=
                    0)
                    log_warn("offer to a peer registrar refused: %s", w);
            }
        }
        vpxi_key_put(pk);
        vpxi_sx_free(sx);
    }
    store_resource_list_free(fr, n);
}

/* Sends a renewed chain to a node's host agent. */
static int push_chain(struct registrar *rg, struct vpxi_sx *sx, const struct store_node *nd,
                      const struct vpxi_sexp *seq, char *why, size_t wlen)
{
    struct store_resource res;
    struct vpxi_sexp *req, *x;
    struct vpxi_msg rep;
    char id[24];
    int r;

    if ((r = store_resource_get(rg->db, nd->resource, &res)) != 0) {
        snprintf(why, wlen, "%s", store_errmsg(rg->db));
        return r;
    }
    svc_next_id(id);
    if ((r = vpxi_msg_request(sx, id, res.hostagent_hit ? "update-node" : "update-lent", &req)) ==
            0 &&
        (r = vpxi_sexp_build(sx, &x, "((vpxi %s) (node %s) %S)", nd->vpxi, nd->name, seq)) == 0) {
        for (const struct vpxi_sexp *e = x->child; e; e = e->next)
            vpxi_sexp_append(req, vpxi_sexp_copy(sx, e));
        if (res.hostagent_hit)
            r = call(rg, res.hostagent_hit, SVC_PORT_HOSTAGENT, sx, req, &rep, why, wlen);
        else if (res.origin_registrar)
            r = call(rg, res.origin_registrar, SVC_PORT_REGISTRAR, sx, req, &rep, why, wlen);
        else
            r = VPXI_ERR_NOT_FOUND;
    }
    store_resource_clear(&res);
    return r;
}

/*
 * Renewal: a node's membership certificate is re-issued once the newest one
 * is renew-period old, valid until now + renew-margin (never past the
 * window). With margin > period, a lost certificate or a registrar that is
 * down for less than margin - period never interrupts the VPXI.
 */
static void renew_vpxi(struct registrar *rg, const struct store_vpxi *v, int64_t now)
{
    unsigned period = rg->rc->renew_period, margin = rg->rc->renew_margin;
    struct store_node *nodes = NULL;
    struct store_issued *iss = NULL;
    struct store_resource *res = NULL;
    size_t nn = 0, ni = 0, nres = 0;
    struct vpxi_spec *spec;
    char err[256];

    if (vpxi_spec_parse(v->spec, strlen(v->spec), "spec", now, &spec, err, sizeof(err)) == 0) {
        period = spec->renew_period;
        margin = spec->renew_margin;
        vpxi_spec_free(spec);
    }
    if (store_node_list(rg->db, v->name, &nodes, &nn) != 0 ||
        store_issued_list_vpxi(rg->db, v->name, &iss, &ni) != 0 ||
        store_resource_list_vpxi(rg->db, v->name, &res, &nres) != 0)
        goto out;
    for (size_t i = 0; i < nn; i++) {
        const struct store_issued *last = NULL;
        struct vpxi_sx *sx;
        struct vpxi_sexp *old, *tag, *seq;
        struct vpxi_seq *ps;
        char why[256] = "";
        int64_t na = now + margin;
        int r;

        if (!nodes[i].hit || nodes[i].state != STORE_NODE_RUNNING)
            continue;
        for (size_t j = 0; j < ni; j++)
            if (!memcmp(iss[j].subject_hit, nodes[i].hit, 16) && !iss[j].revoked)
                last = &iss[j];
        if (!last || now - last->issued_at < (int64_t)period || last->not_after >= v->not_after)
            continue;
        if (na > v->not_after)
            na = v->not_after;
        if ((sx = vpxi_sx_new()) == NULL)
            break;
        if ((r = vpxi_sexp_read(sx, last->cert, last->cert_len, NULL, &old, NULL)) != 0 ||
            (r = vpxi_seq_parse(sx, old, &ps)) != 0 || ps->ncerts != 1) {
            log_err("%s/%s: recorded certificate %lld unreadable", v->name, nodes[i].name,
                    (long long)last->serial);
            vpxi_sx_free(sx);
            continue;
        }
        {
            struct subject subj = { .expr = ps->certs[0]->subject.node, .hit = nodes[i].hit };
            tag = vpxi_sexp_copy(sx, ps->certs[0]->tag);
            r = issue_to(rg, sx, v->name, &subj, tag, false, now - REG_CLOCK_SKEW_S, na, &seq);
        }
        /* the lenders' delegations travel with every node's chain */
        for (size_t k = 0; r == 0 && k < nres; k++) {
            struct vpxi_sexp *d;
            bool seen = false;
            if (!res[k].origin_registrar)
                continue;
            for (size_t j = 0; j < k; j++)
                seen |= res[j].origin_registrar &&
                        !memcmp(res[j].origin_registrar, res[k].origin_registrar, 16);
            if (!seen &&
                (r = vpxi_sexp_read(sx, res[k].cert, res[k].cert_len, NULL, &d, NULL)) == 0)
                r = seq_join(sx, d, seq, &seq);
        }
        if (r == 0)
            r = push_chain(rg, sx, &nodes[i], seq, why, sizeof(why));
        if (r != 0)
            log_warn("%s/%s: renewal not delivered (%s); retried next round", v->name,
                     nodes[i].name, why[0] ? why : vpxi_strerror(r));
        else
            log_info("%s/%s: membership renewed until %lld", v->name, nodes[i].name, (long long)na);
        vpxi_sx_free(sx);
    }
out:
    store_node_list_free(nodes, nn);
    store_issued_list_free(iss, ni);
    store_resource_list_free(res, nres);
}

/* Ends VPXIs whose window is over. (Renewal of node certificates: see
 * docs/registrar.md; issued with the margin, re-issued by renew_nodes.) */
static void maintain(struct registrar *rg)
{
    static int64_t next_offer;
    struct store_vpxi *v = NULL;
    size_t n = 0;
    int64_t now = now_s();

    static pid_t offering;

    if (offering > 0 && waitpid(offering, NULL, WNOHANG) == offering)
        offering = 0;
    if (now >= next_offer && offering == 0 && rg->rc->npeers > 0) {
        /* a child process with its own connection to the database: a peer
         * that is calling us at the same moment must never wait on us */
        next_offer = now + rg->rc->offer_interval;
        if ((offering = fork()) == 0) {
            struct registrar child = *rg;
            char err[256];
            if (store_open(rg->rc->database, &child.db, err, sizeof(err)) != 0)
                _exit(1);
            send_offers(&child);
            store_close(child.db);
            _exit(0);
        }
        if (offering < 0)
            offering = 0;
    }
    if (store_vpxi_list(rg->db, STORE_VPXI_ACTIVE, &v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (now >= v[i].not_after)
            end_vpxi(rg, v[i].name, "its time window ended");
        else
            renew_vpxi(rg, &v[i], now);
    }
    store_vpxi_list_free(v, n);
}

static void serve(struct registrar *rg, int fd, const uint8_t peer[16])
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m;
    char hs[VPXI_HIT_STRLEN];
    int r;

    if (!sx)
        return;
    vpxi_hit_to_str(peer, hs);
    if ((r = svc_recv(fd, sx, &m, 30000)) != 0)
        log_warn("request from %s dropped: %s", hs, svc_strerror(r));
    else if (m.is_reply)
        log_warn("unexpected reply from %s", hs);
    else if (!strcmp(m.op, "enroll"))
        op_enroll(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "approve"))
        op_approve(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "register"))
        op_register(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "create-vpxi"))
        op_create(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "borrow"))
        op_borrow(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "update-lent"))
        op_update_lent(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "offer"))
        op_offer(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "key"))
        op_key(rg, fd, &m, sx);
    else if (!strcmp(m.op, "add-user"))
        op_add_user(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "end-vpxi"))
        op_end(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "show"))
        op_show(rg, fd, &m, peer, sx);
    else if (!strcmp(m.op, "list"))
        op_list(rg, fd, &m, peer, sx);
    else
        role_reply_error(fd, m.id, VPXI_ERR_UNSUPPORTED, "unknown op '%s'", m.op);
    vpxi_sx_free(sx);
}

int registrar_main(const struct config *c)
{
    struct registrar rg = { .c = c, .rc = &c->registrar };
    char err[256];
    int lfd, r;

    signal(SIGCHLD, SIG_DFL);
    if ((rg.ov = config_overlay(c, c->registrar.overlay)) == NULL)
        return 1;
    if ((r = vpxi_key_load_private(rg.ov->keyfile, &rg.key)) != 0 ||
        (r = vpxi_hit_from_key(rg.key, rg.hit)) != 0) {
        log_err("key %s: %s", rg.ov->keyfile, vpxi_strerror(r));
        return 1;
    }
    if ((r = store_open(rg.rc->database, &rg.db, err, sizeof(err))) != 0) {
        log_err("database %s: %s", rg.rc->database, err);
        return 1;
    }
    if ((lfd = svc_listen(rg.ov->tun, SVC_PORT_REGISTRAR)) < 0) {
        log_err("listen on %s: %s", rg.ov->tun, strerror(-lfd));
        store_close(rg.db);
        return 1;
    }
    log_info("registrar listening (database %s, approval %s)", rg.rc->database, rg.rc->approve);
    for (;;) {
        struct pollfd pf = { .fd = lfd, .events = POLLIN };
        uint8_t peer[16];
        int fd;

        maintain(&rg);
        if (poll(&pf, 1, 1000) <= 0)
            continue;
        if ((fd = svc_accept(lfd, peer)) < 0)
            continue;
        serve(&rg, fd, peer);
        close(fd);
    }
}
