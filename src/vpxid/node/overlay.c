/*
 * overlay.c - one VPXI overlay, control-thread side: set-up, the HIP host's
 * inputs and outputs, SPKI authorization of peers, ESP SA installation,
 * teardown at the instant an authorization ends, rekeying, renewal of our
 * own certificates, reload, status.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

#include "../log.h"
#include "direct.h"
#include "netlink.h"
#include "node.h"
#include "offload.h"
#include "overlay.h"

enum { HIP_MARKER_LEN = 4 };

static void pump(struct overlay *ov);

/* For calls whose failure needs no action (the state is already what we want). */
static inline void ignore_result(int r)
{
    (void)r;
}
static void peer_connect(struct overlay *ov, struct peer *p);

const char *overlay_name(const struct overlay *o)
{
    return o->name;
}

struct overlay *overlay_find(struct daemon *d, const char *name)
{
    for (size_t i = 0; i < d->nov; i++)
        if (!strcmp(d->ov[i]->name, name))
            return d->ov[i];
    return NULL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *hit_short(const uint8_t hit[16], char buf[static 64])
{
    vpxi_hit_to_str(hit, buf);
    return buf;
}

/* ---- policy: ACL, required tag, our chain ---------------------------------------- */

struct policy {
    struct vpxi_sx *sx;
    struct vpxi_acl *acl;
    struct vpxi_sexp *want;
    uint8_t *chain_buf;
    struct vpxi_iov chain[NODE_CERTS_MAX];
    size_t nchain;
    int64_t mtime[CFG_CHAIN_MAX];
    struct vpxi_validity valid;
};

static void policy_clear(struct policy *p)
{
    vpxi_sx_free(p->sx);
    vpxi_free(p->chain_buf);
    memset(p, 0, sizeof(*p));
}

static int read_whole(const char *path, uint8_t **out, size_t *len, int64_t *mtime)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
    ssize_t n;

    *out = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || st.st_size > 16 * 1024 * 1024) {
        close(fd);
        return -EFBIG;
    }
    if ((*out = vpxi_malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (*len = 0; *len < (size_t)st.st_size; *len += (size_t)n)
        if ((n = read(fd, *out + *len, (size_t)st.st_size - *len)) <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
    if (mtime)
        *mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    close(fd);
    if (r) {
        vpxi_free(*out);
        *out = NULL;
    }
    return r;
}

/* Reads an S-expression file into p->sx. */
static int read_sexp(struct policy *p, const char *path, struct vpxi_sexp **n, int64_t *mtime,
                     char *err, size_t errlen)
{
    struct vpxi_sexp_error e;
    uint8_t *buf;
    size_t len = 0;
    int r;

    if ((r = read_whole(path, &buf, &len, mtime)) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return -1;
    }
    r = vpxi_sexp_read(p->sx, buf, len, NULL, n, &e);
    vpxi_free(buf);
    if (r) {
        snprintf(err, errlen, "%s: byte offset %zu: %s", path, e.offset, vpxi_strerror(r));
        return -1;
    }
    return 0;
}

/* Splits a chain file's sequence into one canonical (sequence cert signature)
 * per certificate (one per CERT parameter); the file's bare public keys ride
 * with its first certificate. */
static int add_chain_file(struct policy *p, struct vpxi_wr *all, size_t *lens,
                          const struct vpxi_sexp *seq, const char *path, char *err, size_t errlen)
{
    struct vpxi_seq *parsed;
    const struct vpxi_sexp *e, *keys = NULL;
    struct vpxi_sexp *one;
    bool first = true;
    int r;

    if ((r = vpxi_seq_parse(p->sx, seq, &parsed)) != 0) {
        snprintf(err, errlen, "%s: not a certificate sequence: %s", path, vpxi_strerror(r));
        return -1;
    }
    for (size_t i = 0; i < parsed->ncerts; i++) {
        if (parsed->certs[i]->valid.not_after < p->valid.not_after)
            p->valid.not_after = parsed->certs[i]->valid.not_after;
        if (parsed->certs[i]->valid.not_before > p->valid.not_before)
            p->valid.not_before = parsed->certs[i]->valid.not_before;
    }
    if (!vpxi_sexp_head_is(seq, "sequence"))
        return snprintf(err, errlen, "%s: expected a (sequence ...) with signatures", path), -1;
    (void)keys;
    for (e = seq->child->next; e; e = e->next) {
        if (!vpxi_sexp_head_is(e, "cert"))
            continue;
        if (!e->next || !vpxi_sexp_head_is(e->next, "signature")) {
            snprintf(err, errlen, "%s: a certificate without its signature", path);
            return -1;
        }
        if ((r = vpxi_sexp_build(p->sx, &one, "(sequence)")) != 0)
            return snprintf(err, errlen, "out of memory"), -1;
        if (first)
            for (const struct vpxi_sexp *k = seq->child->next; k; k = k->next)
                if (vpxi_sexp_head_is(k, "public-key"))
                    vpxi_sexp_append(one, vpxi_sexp_copy(p->sx, k));
        vpxi_sexp_append(one, vpxi_sexp_copy(p->sx, e));
        vpxi_sexp_append(one, vpxi_sexp_copy(p->sx, e->next));
        first = false;
        if (p->nchain >= NODE_CERTS_MAX) {
            snprintf(err, errlen, "more than %d certificates in the chain", NODE_CERTS_MAX);
            return -1;
        }
        lens[p->nchain++] = vpxi_sexp_canonical_len(one);
        if (vpxi_sexp_write_canonical(one, all) != 0)
            return snprintf(err, errlen, "out of memory"), -1;
    }
    return 0;
}

static int policy_load(const char *ovname, const char *hit_str, const struct cfg_overlay *c,
                       struct policy *p, char *err, size_t errlen)
{
    struct vpxi_sexp *n;
    struct vpxi_wr all;
    size_t lens[NODE_CERTS_MAX];
    char want[CFG_SEXP_MAX + 128];
    int r;

    memset(p, 0, sizeof(*p));
    p->valid.not_before = VPXI_TIME_MIN;
    p->valid.not_after = VPXI_TIME_MAX;
    if ((p->sx = vpxi_sx_new()) == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    if (read_sexp(p, c->aclfile, &n, NULL, err, errlen) != 0)
        goto fail;
    if ((r = vpxi_acl_parse(p->sx, n, &p->acl)) != 0) {
        snprintf(err, errlen, "%s: not a valid ACL: %s", c->aclfile, vpxi_strerror(r));
        goto fail;
    }
    if (c->require[0])
        snprintf(want, sizeof(want), "%s", c->require);
    else
        snprintf(want, sizeof(want), "(vpxi \"%s\" \"%s\" member)", ovname, hit_str);
    if ((r = vpxi_sexp_read(p->sx, (const uint8_t *)want, strlen(want), NULL, &p->want, NULL)) !=
        0) {
        snprintf(err, errlen, "require '%s': %s", want, vpxi_strerror(r));
        goto fail;
    }
    vpxi_wr_init_dyn(&all, 1 << 20);
    for (size_t i = 0; i < c->nchain; i++) {
        if (read_sexp(p, c->chain[i], &n, &p->mtime[i], err, errlen) != 0 ||
            add_chain_file(p, &all, lens, n, c->chain[i], err, errlen) != 0) {
            vpxi_wr_clear(&all);
            goto fail;
        }
    }
    p->chain_buf = vpxi_wr_steal(&all, &(size_t){ 0 });
    vpxi_wr_clear(&all);
    for (size_t i = 0, off = 0; i < p->nchain; off += lens[i], i++) {
        p->chain[i].p = p->chain_buf + off;
        p->chain[i].len = lens[i];
    }
    return 0;
fail:
    policy_clear(p);
    return -1;
}

static void policy_install(struct overlay *ov, struct policy *p)
{
    vpxi_sx_free(ov->pol_sx);
    vpxi_free(ov->chain_buf);
    ov->pol_sx = p->sx;
    ov->acl = p->acl;
    ov->want = p->want;
    ov->chain_buf = p->chain_buf;
    memcpy(ov->chain, p->chain, sizeof(ov->chain));
    ov->nchain = p->nchain;
    memcpy(ov->chain_mtime, p->mtime, sizeof(ov->chain_mtime));
    ov->chain_valid = p->valid;
    memset(p, 0, sizeof(*p));
}

/* ---- HIP callbacks ------------------------------------------------------------------ */

static struct peer *auth_peer_hint; /* set around vpxi_hip_input for authorize() */

static int authorize(void *ctx, const uint8_t peer_hit[VPXI_HIT_LEN], struct vpxi_key *peer_key,
                     const struct vpxi_iov *certs, size_t ncerts, struct vpxi_validity *valid,
                     uint16_t *notify)
{
    struct overlay *ov = ctx;
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_seq *pool = NULL, *one;
    struct vpxi_principal subj;
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    char hs[64], until[VPXI_DATE_LEN + 1];
    struct peer *p;
    int r;

    (void)notify;
    hit_short(peer_hit, hs);
    if (!sx)
        return VPXI_ERR_NOMEM;
    if (ncerts == 0) {
        log_warn("%s: refused %s: no certificate chain presented", ov->name, hs);
        r = VPXI_ERR_NO_CHAIN;
        goto out;
    }
    for (size_t i = 0; i < ncerts; i++) {
        struct vpxi_sexp *n;
        if ((r = vpxi_sexp_parse_canonical(sx, certs[i].p, certs[i].len, NULL, &n, NULL)) != 0 ||
            (r = vpxi_seq_parse(sx, n, &one)) != 0) {
            log_warn("%s: refused %s: certificate %zu malformed: %s", ov->name, hs, i + 1,
                     vpxi_strerror(r));
            goto out;
        }
        if (!pool)
            pool = one;
        else if ((r = vpxi_seq_merge(sx, pool, one)) != 0)
            goto out;
    }
    if ((r = vpxi_principal_from_key(sx, peer_key, &subj)) != 0)
        goto out;
    req.acl = ov->acl;
    req.certs = pool->certs;
    req.ncerts = pool->ncerts;
    req.keys = pool->keys;
    req.nkeys = pool->nkeys;
    req.subject = &subj;
    req.want = ov->want;
    req.now = wall_s();
    req.cache = ov->d->keys;
    if ((r = vpxi_reduce(sx, &req, &res)) != 0) {
        log_warn("%s: refused %s: %s (%s)", ov->name, hs, res.why, vpxi_errname(r));
        goto out;
    }
    *valid = res.tuple.valid;
    if (valid->not_after == VPXI_TIME_MAX)
        snprintf(until, sizeof(until), "forever");
    else
        vpxi_date_format(valid->not_after, until);
    log_info("%s: %s authorized until %s (%zu certificate%s)", ov->name, hs, until, pool->ncerts,
             pool->ncerts == 1 ? "" : "s");
    /* keep the chain to re-check it when our policy changes (reload); the
     * certificates may point into the old copy (a re-check): copy first */
    if ((p = peer_by_hit(ov, peer_hit)) != NULL || (p = auth_peer_hint) != NULL) {
        size_t total = 0, n = ncerts < NODE_CERTS_MAX ? ncerts : NODE_CERTS_MAX;
        uint8_t *copy;
        for (size_t i = 0; i < n; i++)
            total += certs[i].len;
        if ((copy = vpxi_malloc(total ? total : 1)) != NULL) {
            for (size_t i = 0, off = 0; i < n; off += certs[i].len, i++) {
                memcpy(copy + off, certs[i].p, certs[i].len);
                p->certs_len[i] = certs[i].len;
            }
            vpxi_free(p->certs);
            p->certs = copy;
            p->ncerts = n;
        }
    }
    r = 0;
out:
    vpxi_sx_free(sx);
    return r;
}

static bool esp_allowed(void *ctx, const uint8_t peer_hit[VPXI_HIT_LEN],
                        const struct sockaddr_storage *addr, unsigned suite)
{
    struct overlay *ov = ctx;
    struct peer *p = peer_by_hit(ov, peer_hit);
    const uint16_t *list = ov->cfg.esp;
    size_t n = ov->cfg.nesp;

    (void)addr;
    if (p && p->nesp) {
        list = p->esp;
        n = p->nesp;
    }
    for (size_t i = 0; i < n; i++)
        if (list[i] == suite)
            return true;
    return false;
}

/* ---- SA installation ------------------------------------------------------------------ */

static void keylog_sa(struct overlay *ov, struct peer *p, unsigned suite, uint32_t spi,
                      const struct vpxi_esp_keys *k)
{
    char line[512];

    if (!ov->d->keylog)
        return;
    if (vpxi_esp_keylog_line(p->addr.ss.ss_family == AF_INET6 ? "IPv6" : "IPv4", suite, spi, k,
                             line, sizeof(line)) == 0)
        daemon_keylog(ov->d, line);
}

static int make_sas(struct overlay *ov, struct peer *p, const struct vpxi_hip_sa *sa,
                    struct sa_in **in, struct sa_out **out)
{
    const struct cfg_overlay *c = &ov->cfg;

    *in = NULL;
    *out = NULL;
    if ((*in = vpxi_calloc(1, sizeof(**in))) == NULL ||
        (*out = vpxi_calloc(1, sizeof(**out))) == NULL)
        goto fail;
    if (vpxi_esp_in_new(sa->suite, sa->spi_in, &sa->in, &(*in)->esp) != 0 ||
        vpxi_esp_out_new(sa->suite, sa->spi_out, &sa->out, &(*out)->esp) != 0)
        goto fail;
    if (!c->esn) {
        vpxi_esp_out_set_esn((*out)->esp, false);
        vpxi_esp_in_set_esn((*in)->esp, false);
    }
    /* hard limit: four times the rekey point (config caps keep this in range) */
    vpxi_esp_out_set_limits((*out)->esp, c->rekey_packets, c->rekey_packets * 4, c->rekey_bytes,
                            c->rekey_bytes * 4);
    pthread_mutex_init(&(*out)->lock, NULL);
    (*in)->peer = p;
    (*in)->suite = (*out)->suite = sa->suite;
    (*in)->spi = sa->spi_in;
    (*out)->spi = sa->spi_out;
    keylog_sa(ov, p, sa->suite, sa->spi_in, &sa->in);
    keylog_sa(ov, p, sa->suite, sa->spi_out, &sa->out);
    return 0;
fail:
    if (*in)
        vpxi_esp_in_free((*in)->esp);
    vpxi_free(*in);
    if (*out)
        vpxi_esp_out_free((*out)->esp);
    vpxi_free(*out);
    *in = NULL;
    *out = NULL;
    return -1;
}

/* Deletes the inbound SA spi of p (if any), folding its drop counters. */
static void delete_in(struct overlay *ov, struct peer *p, uint32_t spi)
{
    struct sa_in *s;

    if (!spi)
        return;
    pthread_rwlock_wrlock(&ov->lock);
    s = sa_in_unlink(ov, spi);
    pthread_rwlock_unlock(&ov->lock);
    if (s) {
        peer_fold_stats(p, vpxi_esp_in_stats(s->esp));
        sa_in_free(s);
    }
}

static void delete_all_sas(struct overlay *ov, struct peer *p)
{
    struct sa_in *dead[64];
    size_t n = 0;
    struct sa_out *o1, *o2;

    pthread_rwlock_wrlock(&ov->lock);
    for (size_t i = 0; i < NODE_HASH_SIZE && n < 64; i++)
        if (ov->by_spi[i] && ov->by_spi[i]->peer == p)
            dead[n++] = ov->by_spi[i];
    for (size_t i = 0; i < n; i++)
        sa_in_unlink(ov, dead[i]->spi);
    o1 = p->out;
    o2 = p->next_out;
    p->out = p->next_out = NULL;
    pthread_rwlock_unlock(&ov->lock);
    for (size_t i = 0; i < n; i++) {
        peer_fold_stats(p, vpxi_esp_in_stats(dead[i]->esp));
        sa_in_free(dead[i]);
    }
    sa_out_free(o1);
    sa_out_free(o2);
    /* and off ESP: routes back on the TUN (where no SA is left), firewall
     * closed; in this order, so that nothing flows in between */
    direct_down(ov, p);
}

/* ---- peer timers ------------------------------------------------------------------------ */

static void peer_routes(struct overlay *ov, struct peer *p, bool add)
{
    int r;

    if (p->routes == add)
        return;
    if (!add) {
        p->routes = false;
        direct_down(ov, p);
    }
    if ((r = nl_route(add, ov->tun.name, AF_INET6, p->hit, 128)) != 0 && add)
        log_warn("%s: route to %s: %s", ov->name, p->name, strerror(-r));
    if (p->ipv4.s_addr && (r = nl_route(add, ov->tun.name, AF_INET, &p->ipv4, 32)) != 0 && add)
        log_warn("%s: IPv4 route to %s: %s", ov->name, p->name, strerror(-r));
    p->routes = add;
}

static void on_expire(struct loop *l, void *arg)
{
    struct peer *p = arg;
    struct overlay *ov = p->ov;
    char d[VPXI_DATE_LEN + 1];
    int64_t left = (p->valid.not_after + 1) * 1000 - wall_ms();

    if (left > 0) { /* the monotonic timer ran ahead of the wall clock */
        timer_arm(l, &p->expire, now_ms() + left);
        return;
    }
    vpxi_date_format(p->valid.not_after, d);
    log_warn("%s: authorization of %s ended at %s: closing the association", ov->name, p->name, d);
    snprintf(p->last_event, sizeof(p->last_event), "authorization ended at %s", d);
    if (vpxi_hip_close(ov->hip, p->hit, now_ms()) != 0)
        delete_all_sas(ov, p);
    /* traffic stops now, whatever the peer does with our CLOSE */
    delete_all_sas(ov, p);
    p->up = false;
    pump(ov);
}

static void arm_expire(struct overlay *ov, struct peer *p)
{
    int64_t delay;

    if (p->valid.not_after == VPXI_TIME_MAX) {
        timer_cancel(ov->d->loop, &p->expire);
        return;
    }
    /* valid through the whole second not_after: end at not_after + 1 */
    delay = (p->valid.not_after + 1) * 1000 - wall_ms();
    timer_arm(ov->d->loop, &p->expire, now_ms() + (delay > 0 ? delay : 0));
}

static void on_rekey(struct loop *l, void *arg)
{
    struct peer *p = arg;
    int r;

    (void)l;
    if (!p->up)
        return;
    if ((r = vpxi_hip_rekey(p->ov->hip, p->hit, true, now_ms())) != 0)
        log_warn("%s: rekey with %s: %s", p->ov->name, p->name, vpxi_strerror(r));
    timer_arm_in(p->ov->d->loop, &p->rekey, (int64_t)p->ov->cfg.rekey_seconds * 1000);
    pump(p->ov);
}

static void on_reconnect(struct loop *l, void *arg)
{
    struct peer *p = arg;

    (void)l;
    if (!p->up && !p->connecting && !p->ov->d->stopping)
        peer_connect(p->ov, p);
}

static void on_flush(struct loop *l, void *arg)
{
    struct peer *p = arg;

    (void)l;
    if (p->up)
        datapath_flush_pending(p->ov, p);
}

static void peer_init_timers(struct peer *p)
{
    timer_init(&p->flush, "peer.flush", on_flush, p);
    timer_init(&p->expire, "peer.expire", on_expire, p);
    timer_init(&p->rekey, "peer.rekey", on_rekey, p);
    timer_init(&p->reconnect, "overlay.connect", on_reconnect, p);
    p->reconnect_ms = NODE_RECONNECT_MIN_MS;
}

static void peer_cancel_timers(struct overlay *ov, struct peer *p)
{
    timer_cancel(ov->d->loop, &p->expire);
    timer_cancel(ov->d->loop, &p->rekey);
    timer_cancel(ov->d->loop, &p->reconnect);
    timer_cancel(ov->d->loop, &p->flush);
}

static void peer_connect(struct overlay *ov, struct peer *p)
{
    int r;

    if (!p->addr.len)
        return; /* a dynamic peer: it will come to us */
    r = vpxi_hip_connect(ov->hip, p->hit, &p->addr.ss, NULL, now_ms());
    if (r == 0 || r == VPXI_ERR_EXISTS) {
        p->connecting = r == 0;
        if (r == 0)
            log_proto("%s: I1 to %s", ov->name, p->name);
    } else {
        log_warn("%s: cannot connect to %s: %s", ov->name, p->name, vpxi_strerror(r));
    }
    pump(ov);
}

static void schedule_reconnect(struct overlay *ov, struct peer *p)
{
    if (!p->configured || ov->d->stopping)
        return;
    timer_arm_in(ov->d->loop, &p->reconnect, p->reconnect_ms);
    p->reconnect_ms =
        p->reconnect_ms * 2 > NODE_RECONNECT_MAX_MS ? NODE_RECONNECT_MAX_MS : p->reconnect_ms * 2;
}

/* ---- HIP events ---------------------------------------------------------------------------- */

static struct peer *peer_for_event(struct overlay *ov, const struct vpxi_hip_event *ev)
{
    struct peer *p = peer_by_hit(ov, ev->peer_hit);
    char name[CFG_NAME_MAX], hs[64];

    if (p)
        return p;
    /* a peer we did not configure, admitted by its certificate chain */
    hit_short(ev->peer_hit, hs);
    snprintf(name, sizeof(name), "%s", hs);
    if ((p = peer_add(ov, name, ev->peer_hit, NULL)) == NULL) {
        log_err("%s: cannot add peer %s", ov->name, hs);
        return NULL;
    }
    peer_init_timers(p);
    if (auth_peer_hint && !memcmp(auth_peer_hint->hit, ev->peer_hit, 16)) {
        p->certs = auth_peer_hint->certs;
        memcpy(p->certs_len, auth_peer_hint->certs_len, sizeof(p->certs_len));
        p->ncerts = auth_peer_hint->ncerts;
        auth_peer_hint->certs = NULL;
    }
    return p;
}

static void ev_established(struct overlay *ov, struct vpxi_hip_event *ev)
{
    struct peer *p = peer_for_event(ov, ev);
    struct sa_in *in;
    struct sa_out *out, *old_out;
    char d[VPXI_DATE_LEN + 1], addr[80];

    if (!p)
        return;
    if (make_sas(ov, p, &ev->sa, &in, &out) != 0) {
        log_err("%s: cannot create SAs for %s", ov->name, p->name);
        return;
    }
    delete_in(ov, p, ev->old_spi_in);
    pthread_rwlock_wrlock(&ov->lock);
    if (sa_in_insert(ov, in) != 0) {
        pthread_rwlock_unlock(&ov->lock);
        log_err("%s: SPI clash 0x%08x", ov->name, ev->sa.spi_in);
        sa_in_free(in);
        sa_out_free(out);
        return;
    }
    old_out = p->out;
    p->out = out;
    p->addr.ss = ev->peer_addr;
    p->addr.len = ev->peer_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in);
    pthread_rwlock_unlock(&ov->lock);
    sa_out_free(old_out);
    if (!p->key && ev->peer_key)
        p->key = vpxi_key_get(ev->peer_key);
    p->up = true;
    p->connecting = false;
    p->valid = ev->valid;
    p->up_since_ms = p->last_rekey_ms = now_ms();
    p->reconnect_ms = NODE_RECONNECT_MIN_MS;
    timer_cancel(ov->d->loop, &p->reconnect);
    peer_routes(ov, p, true);
    direct_up(ov, p);
    arm_expire(ov, p);
    timer_arm_in(ov->d->loop, &p->rekey, (int64_t)ov->cfg.rekey_seconds * 1000);
    if (p->valid.not_after == VPXI_TIME_MAX)
        snprintf(d, sizeof(d), "forever");
    else
        vpxi_date_format(p->valid.not_after, d);
    config_addr_str(&p->addr, addr, sizeof(addr));
    log_info("%s: association with %s (%s) up: %s, SPI in 0x%08x out 0x%08x, authorized until %s",
             ov->name, p->name, addr, vpxi_esp_suite_name(ev->sa.suite), ev->sa.spi_in,
             ev->sa.spi_out, d);
    snprintf(p->last_event, sizeof(p->last_event), "established (%s)",
             ev->initiator ? "we initiated" : "peer initiated");
    /* held packets: the initiator has R2, the peer has its SAs; the
     * responder waits until the R2 (queued after this event) has landed */
    timer_arm_in(ov->d->loop, &p->flush, ev->initiator ? 0 : NODE_RESPONDER_FLUSH_MS);
}

static void ev_rekeyed(struct overlay *ov, struct vpxi_hip_event *ev)
{
    struct peer *p = peer_by_hit(ov, ev->peer_hit);
    struct sa_in *in;
    struct sa_out *out, *old = NULL, *stale = NULL;

    if (!p || make_sas(ov, p, &ev->sa, &in, &out) != 0)
        return;
    pthread_rwlock_wrlock(&ov->lock);
    if (sa_in_insert(ov, in) != 0) {
        pthread_rwlock_unlock(&ov->lock);
        sa_in_free(in);
        sa_out_free(out);
        return;
    }
    if (ev->activate) {
        old = p->out;
        p->out = out;
    } else {
        stale = p->next_out;
        p->next_out = out;
    }
    pthread_rwlock_unlock(&ov->lock);
    sa_out_free(old);
    sa_out_free(stale);
    p->rekeys++;
    p->last_rekey_ms = now_ms();
    log_info("%s: rekeyed with %s: new SPI in 0x%08x out 0x%08x", ov->name, p->name, ev->sa.spi_in,
             ev->sa.spi_out);
}

static void ev_activate(struct overlay *ov, struct vpxi_hip_event *ev)
{
    struct peer *p = peer_by_hit(ov, ev->peer_hit);
    struct sa_out *old = NULL;

    if (!p)
        return;
    pthread_rwlock_wrlock(&ov->lock);
    if (p->next_out && p->next_out->spi == ev->sa.spi_out) {
        old = p->out;
        p->out = p->next_out;
        p->next_out = NULL;
    }
    pthread_rwlock_unlock(&ov->lock);
    sa_out_free(old);
}

static void ev_closed(struct overlay *ov, struct vpxi_hip_event *ev, bool failed)
{
    struct peer *p = peer_by_hit(ov, ev->peer_hit);
    char hs[64];

    if (!p) {
        if (failed)
            log_warn("%s: exchange with %s failed: %s", ov->name, hit_short(ev->peer_hit, hs),
                     vpxi_hip_reason_name(ev->reason));
        return;
    }
    delete_all_sas(ov, p);
    timer_cancel(ov->d->loop, &p->expire);
    timer_cancel(ov->d->loop, &p->rekey);
    if (p->up || failed)
        log_info("%s: association with %s %s: %s%s%s", ov->name, p->name,
                 failed ? "failed" : "closed", vpxi_hip_reason_name(ev->reason),
                 ev->notify ? ", notify " : "", ev->notify ? "received/sent" : "");
    snprintf(p->last_event, sizeof(p->last_event), "%s: %s (notify %u)",
             failed ? "failed" : "closed", vpxi_hip_reason_name(ev->reason), ev->notify);
    p->up = p->connecting = false;
    datapath_drop_pending(p);
    if (p->configured)
        schedule_reconnect(ov, p);
    else if (!failed)
        peer_routes(ov, p, false);
}

static void handle_event(struct overlay *ov, struct vpxi_hip_event *ev)
{
    struct peer *p;

    switch (ev->type) {
    case VPXI_HIP_EV_ESTABLISHED: ev_established(ov, ev); break;
    case VPXI_HIP_EV_REKEYED: ev_rekeyed(ov, ev); break;
    case VPXI_HIP_EV_SA_ACTIVATE: ev_activate(ov, ev); break;
    case VPXI_HIP_EV_SA_RETIRE:
        if ((p = peer_by_hit(ov, ev->peer_hit)) != NULL)
            delete_in(ov, p, ev->old_spi_in);
        break;
    case VPXI_HIP_EV_AUTH_UPDATED:
        if ((p = peer_by_hit(ov, ev->peer_hit)) != NULL) {
            char d[VPXI_DATE_LEN + 1] = "forever";
            p->valid = ev->valid;
            arm_expire(ov, p);
            if (p->valid.not_after != VPXI_TIME_MAX)
                vpxi_date_format(p->valid.not_after, d);
            log_info("%s: %s renewed its certificates: authorized until %s", ov->name, p->name, d);
            snprintf(p->last_event, sizeof(p->last_event), "certificates renewed");
        }
        break;
    case VPXI_HIP_EV_PEER_ADDRESS:
        if ((p = peer_by_hit(ov, ev->peer_hit)) != NULL) {
            char a[80];
            pthread_rwlock_wrlock(&ov->lock);
            p->addr.ss = ev->peer_addr;
            p->addr.len = ev->peer_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
            pthread_rwlock_unlock(&ov->lock);
            config_addr_str(&p->addr, a, sizeof(a));
            log_info("%s: %s moved to %s", ov->name, p->name, a);
        }
        break;
    case VPXI_HIP_EV_NOTIFY:
        log_info("%s: NOTIFY %u from %s", ov->name, ev->notify,
                 (p = peer_by_hit(ov, ev->peer_hit)) ? p->name : "?");
        break;
    case VPXI_HIP_EV_CLOSED: ev_closed(ov, ev, false); break;
    case VPXI_HIP_EV_FAILED: ev_closed(ov, ev, true); break;
    }
}

/* Drains the HIP host's outputs: packets go out (after the UDP marker),
 * events change the data plane. Then re-arms the HIP timer. */
static void pump(struct overlay *ov)
{
    static struct vpxi_hip_output out; /* large: not on the stack; control thread only */
    uint8_t buf[HIP_MARKER_LEN + VPXI_HIP_PACKET_MAX];
    int64_t next;

    while (vpxi_hip_poll(ov->hip, &out) == 0) {
        if (out.kind == VPXI_HIP_OUT_PACKET) {
            struct cfg_addr dst = { .ss = out.dst };
            int r;
            dst.len = out.dst.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in);
            memset(buf, 0, HIP_MARKER_LEN);
            memcpy(buf + HIP_MARKER_LEN, out.pkt, out.len);
            if ((r = udp_send(&ov->udp, &dst, buf, out.len + HIP_MARKER_LEN,
                              out.len + HIP_MARKER_LEN)) != 0)
                log_unauth("%s: HIP send: %s", ov->name, strerror(-r));
        } else {
            handle_event(ov, &out.ev);
        }
        vpxi_hip_output_clear(&out);
    }
    next = vpxi_hip_next_timeout(ov->hip);
    if (next == INT64_MAX)
        timer_cancel(ov->d->loop, &ov->hip_timer);
    else
        timer_arm(ov->d->loop, &ov->hip_timer, next);
}

static void on_hip_timer(struct loop *l, void *arg)
{
    struct overlay *ov = arg;

    (void)l;
    vpxi_hip_timer(ov->hip, now_ms());
    pump(ov);
}

/* ---- messages from the datapath ------------------------------------------------------------ */

static void on_msgs(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct overlay *ov = arg;
    static struct msg m; /* control thread only */
    uint64_t v;
    struct peer *p;

    (void)l;
    (void)events;
    (void)!read(fd, &v, sizeof(v));
    for (int budget = 0; budget < MSGQ_SLOTS && msgq_pop(&ov->q, &m); budget++) {
        switch (m.type) {
        case MSG_HIP: {
            struct peer tmp = { 0 };
            memcpy(tmp.hit, m.data + 8, 16); /* sender HIT: header bytes 8..23 */
            auth_peer_hint = m.len >= VPXI_HIP_HDR_LEN ? &tmp : NULL;
            (void)vpxi_hip_input(ov->hip, &m.src, &ov->local.ss, m.data, m.len, now_ms());
            pump(ov); /* a new peer's ESTABLISHED takes its chain from the hint */
            auth_peer_hint = NULL;
            vpxi_free(tmp.certs);
            break;
        }
        case MSG_ESP_SEEN:
            /* the peer sends on our SAs: it has them, release what we hold */
            if ((p = peer_by_hit(ov, m.hit)) != NULL && p->up && timer_armed(&p->flush)) {
                timer_cancel(ov->d->loop, &p->flush);
                datapath_flush_pending(ov, p);
            }
            /* fall through */
        case MSG_ADDR: (void)vpxi_hip_esp_seen(ov->hip, m.hit, m.spi, &m.src, now_ms()); break;
        case MSG_CONNECT:
            if ((p = peer_by_hit(ov, m.hit)) != NULL && !p->up && !p->connecting)
                peer_connect(ov, p);
            break;
        case MSG_REKEY:
            if ((p = peer_by_hit(ov, m.hit)) != NULL && p->up &&
                vpxi_hip_rekey(ov->hip, p->hit, true, now_ms()) == 0)
                log_info("%s: SA 0x%08x with %s reached its volume limit: rekeying", ov->name,
                         m.spi, p->name);
            break;
        }
        pump(ov);
    }
}

/* ---- renewal of our own chain ------------------------------------------------------------------
 */

static bool chain_changed(struct overlay *ov)
{
    for (size_t i = 0; i < ov->cfg.nchain; i++) {
        struct stat st;
        if (stat(ov->cfg.chain[i], &st) != 0)
            continue;
        if ((int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != ov->chain_mtime[i])
            return true;
    }
    return false;
}

static int reload_chain(struct overlay *ov, const struct cfg_overlay *c, const char *why)
{
    struct policy pol;
    char err[CFG_ERR_MAX];
    int r;

    if (policy_load(ov->name, ov->hit_str, c, &pol, err, sizeof(err)) != 0) {
        log_err("%s: %s: %s (keeping the previous policy)", ov->name, why, err);
        return -1;
    }
    if ((r = vpxi_hip_set_certs(ov->hip, pol.chain, pol.nchain)) != 0) {
        log_err("%s: %s: chain refused: %s", ov->name, why, vpxi_strerror(r));
        policy_clear(&pol);
        return -1;
    }
    policy_install(ov, &pol);
    if (ov->nchain == 0)
        log_warn("%s: %s: no certificate chain: peers will refuse us at the next exchange",
                 ov->name, why);
    else if ((r = vpxi_hip_renew_certs(ov->hip, NULL, now_ms())) != 0 && r != VPXI_ERR_NOT_FOUND)
        log_warn("%s: sending renewed certificates: %s", ov->name, vpxi_strerror(r));
    log_info("%s: %s: %zu certificate%s loaded and sent to peers", ov->name, why, ov->nchain,
             ov->nchain == 1 ? "" : "s");
    pump(ov);
    return 0;
}

static void on_renew_timer(struct loop *l, void *arg)
{
    struct overlay *ov = arg;

    if (chain_changed(ov))
        reload_chain(ov, &ov->cfg, "certificate chain changed");
    timer_arm_in(l, &ov->renew_timer, (int64_t)ov->cfg.renew_check_seconds * 1000);
}

/* ---- set-up and teardown ------------------------------------------------------------------------
 */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void hip_config(const struct cfg_overlay *c, struct vpxi_hip_config *hc)
{
    vpxi_hip_config_default(hc);
    hc->n_dh_groups = 0;
    for (size_t i = 0; i < c->ndh && i < VPXI_HIP_LIST_MAX; i++)
        hc->dh_groups[hc->n_dh_groups++] = (uint8_t)c->dh[i];
    hc->n_hip_ciphers = 0;
    for (size_t i = 0; i < c->ncipher && i < VPXI_HIP_LIST_MAX; i++)
        hc->hip_ciphers[hc->n_hip_ciphers++] = c->cipher[i];
    /* offer the overlay's suites, then integrity-only (accepted only on links
     * whose policy allows it, see esp_allowed) */
    hc->n_esp_suites = 0;
    for (size_t i = 0; i < c->nesp && hc->n_esp_suites < VPXI_HIP_LIST_MAX; i++)
        hc->esp_suites[hc->n_esp_suites++] = c->esp[i];
    /* integrity: AES-GMAC first (about twice as fast as HMAC-SHA-256),
     * NULL + HMAC-SHA-256 for peers without it */
    for (size_t k = 0; k < 2; k++) {
        uint16_t want = k == 0 ? VPXI_ESP_AES128GMAC : VPXI_ESP_NULL_SHA256;
        bool have = false;
        for (size_t i = 0; i < hc->n_esp_suites; i++)
            have |= hc->esp_suites[i] == want;
        if (!have && hc->n_esp_suites < VPXI_HIP_LIST_MAX)
            hc->esp_suites[hc->n_esp_suites++] = want;
    }
    /* and clear, for links a VPXI specification declares clear (only peers
     * configured with link = clear accept it) */
    if (hc->n_esp_suites < VPXI_HIP_LIST_MAX)
        hc->esp_suites[hc->n_esp_suites++] = VPXI_ESP_CLEAR;
    hc->puzzle_k = c->puzzle_k;
}

/* The link's security and its port classes; the association negotiates
 * the strongest of them (a class weaker than that but not clear is carried
 * with the stronger protection; clear classes take the direct path when
 * the peer is on-link, direct.c). */
static bool link_policy(struct peer *p, const struct cfg_peer *cp)
{
    const char *link = cp->link[0] ? cp->link : "encrypt";
    bool changed = strcmp(p->link, link) || p->nportlinks != cp->nportlinks ||
                   memcmp(p->portlinks, cp->portlinks, cp->nportlinks * sizeof(p->portlinks[0]));
    int strongest;

    snprintf(p->link, sizeof(p->link), "%s", link);
    memcpy(p->portlinks, cp->portlinks, cp->nportlinks * sizeof(p->portlinks[0]));
    p->nportlinks = cp->nportlinks;
    strongest = !strcmp(p->link, "clear")       ? CFG_SEC_CLEAR
                : !strcmp(p->link, "integrity") ? CFG_SEC_INTEGRITY
                                                : CFG_SEC_ENCRYPT;
    for (size_t i = 0; i < p->nportlinks; i++)
        if (p->portlinks[i].sec > strongest)
            strongest = p->portlinks[i].sec;
    if (cp->nesp) {
        memcpy(p->esp, cp->esp, cp->nesp * sizeof(p->esp[0]));
        p->nesp = cp->nesp;
    } else if (strongest == CFG_SEC_INTEGRITY) {
        p->esp[0] = VPXI_ESP_AES128GMAC;
        p->esp[1] = VPXI_ESP_NULL_SHA256;
        p->nesp = 2;
    } else if (strongest == CFG_SEC_CLEAR) {
        p->esp[0] = VPXI_ESP_CLEAR;
        p->nesp = 1;
    } else {
        p->esp[0] = VPXI_ESP_AES128GCM16;
        p->esp[1] = VPXI_ESP_AES128CBC_SHA256;
        p->nesp = 2;
    }
    return changed;
}

/* After a policy change of a peer that may be up: a new association if its
 * SA's suite is no longer allowed, else the direct path set up again for
 * the new classes. */
static void relink(struct overlay *ov, struct peer *p)
{
    bool allowed = false;

    if (!p->up || !p->out)
        return;
    for (size_t i = 0; i < p->nesp; i++)
        allowed |= p->esp[i] == p->out->suite;
    if (!allowed) {
        log_info("%s: %s: link policy %s: re-associating", ov->name, p->name, p->link);
        ignore_result(vpxi_hip_close(ov->hip, p->hit, now_ms()));
        pump(ov);
        schedule_reconnect(ov, p);
        return;
    }
    direct_down(ov, p);
    direct_up(ov, p);
}

static int static_peer(struct overlay *ov, const struct cfg_peer *cp, char *err, size_t errlen)
{
    uint8_t hit[16];
    struct peer *p;
    int r;

    if (cp->has_hit) {
        memcpy(hit, cp->hit, 16);
    } else {
        struct vpxi_key *k;
        if ((r = vpxi_key_load(cp->keyfile, &k)) != 0) {
            snprintf(err, errlen, "[peer %s %s] pubkey %s: %s", ov->name, cp->name, cp->keyfile,
                     vpxi_strerror(r));
            return -1;
        }
        r = vpxi_hit_from_key(k, hit);
        vpxi_key_put(k);
        if (r)
            return snprintf(err, errlen, "[peer %s]: HIT: %s", cp->name, vpxi_strerror(r)), -1;
    }
    if ((p = peer_by_hit(ov, hit)) != NULL) {
        if (p->configured)
            return snprintf(err, errlen, "[peer %s %s]: the same HIT as another peer", ov->name,
                            cp->name),
                   -1;
        /* a peer admitted by its chain before its [peer] section arrived (a
         * registrar configures a VPXI's nodes one by one): it becomes the
         * configured peer, with the link policy of the section */
        snprintf(p->name, sizeof(p->name), "%s", cp->name);
        p->configured = true;
        link_policy(p, cp);
        pthread_rwlock_wrlock(&ov->lock);
        if (!p->up)
            p->addr = cp->address;
        pthread_rwlock_unlock(&ov->lock);
        relink(ov, p);
        return 0;
    }
    if ((p = peer_add(ov, cp->name, hit, cp->has_ipv4 ? &cp->ipv4 : NULL)) == NULL)
        return snprintf(err, errlen, "out of memory"), -1;
    p->configured = true;
    p->addr = cp->address;
    link_policy(p, cp);
    peer_init_timers(p);
    peer_routes(ov, p, true);
    return 0;
}

struct overlay *overlay_new(struct daemon *d, const struct cfg_overlay *c, char *err, size_t errlen)
{
    struct overlay *ov;
    struct vpxi_hip_config hc;
    struct vpxi_hip_callbacks cb;
    struct policy pol;
    pthread_rwlockattr_t ra;
    int r;

    if ((ov = vpxi_calloc(1, sizeof(*ov))) == NULL)
        return snprintf(err, errlen, "out of memory"), NULL;
    ov->d = d;
    ov->cfg = *c;
    ov->cfg.peers = NULL;
    ov->cfg.npeers = 0;
    ov->stop_fd = -1;
    ov->udp.fd = -1;
    for (unsigned i = 0; i < TUN_QUEUES_MAX; i++)
        ov->tun.fd[i] = -1;
    snprintf(ov->name, sizeof(ov->name), "%s", c->name);
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ov->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    timer_init(&ov->hip_timer, "overlay.hip", on_hip_timer, ov);
    timer_init(&ov->renew_timer, "daemon.chain", on_renew_timer, ov);
    if (msgq_init(&ov->q) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((r = vpxi_key_load_private(c->keyfile, &ov->key)) != 0) {
        snprintf(err, errlen, "key %s: %s%s", c->keyfile, vpxi_strerror(r),
                 r == VPXI_ERR_KEY_PERMS ? " (chmod 600 it)" : "");
        goto fail;
    }
    if ((r = vpxi_hit_from_key(ov->key, ov->hit)) != 0) {
        snprintf(err, errlen, "HIT: %s", vpxi_strerror(r));
        goto fail;
    }
    vpxi_hit_to_str(ov->hit, ov->hit_str);
    ov->ipv4 = c->has_ipv4 ? c->ipv4 : peer_derive_ipv4(ov->hit);
    if (policy_load(ov->name, ov->hit_str, c, &pol, err, errlen) != 0)
        goto fail;
    policy_install(ov, &pol);
    /* TUN: two queues, one per datapath thread */
    if ((r = tun_open(&ov->tun, c->tun, 2)) != 0) {
        snprintf(err, errlen, "TUN %s: %s", c->tun, strerror(-r));
        goto fail;
    }
    for (unsigned i = 0; i < ov->tun.nqueues; i++)
        set_nonblock(ov->tun.fd[i]);
    if ((r = nl_link_up(ov->tun.name, c->mtu)) != 0 ||
        (r = nl_addr_add(ov->tun.name, AF_INET6, ov->hit, 128)) != 0 ||
        (r = nl_addr_add(ov->tun.name, AF_INET, &ov->ipv4, 32)) != 0) {
        snprintf(err, errlen, "configuring %s: %s", ov->tun.name, strerror(-r));
        goto fail;
    }
    if ((r = udp_open(&ov->udp, &c->listen)) != 0) {
        char a[80];
        config_addr_str(&c->listen, a, sizeof(a));
        snprintf(err, errlen, "UDP %s: %s", a, strerror(-r));
        goto fail;
    }
    ov->local = c->listen;
    /* HIP */
    hip_config(c, &hc);
    cb.ctx = ov;
    cb.authorize = authorize;
    cb.esp_allowed = esp_allowed;
    if ((r = vpxi_hip_host_new(ov->key, &hc, &cb, now_ms(), &ov->hip)) != 0) {
        snprintf(err, errlen, "HIP host: %s", vpxi_strerror(r));
        goto fail;
    }
    if ((r = vpxi_hip_set_certs(ov->hip, ov->chain, ov->nchain)) != 0) {
        snprintf(err, errlen, "certificate chain: %s%s", vpxi_strerror(r),
                 r == VPXI_ERR_TOO_LARGE ? " (a HIP packet holds at most 2048 bytes: name "
                                           "principals by hash, use ECDSA or Ed25519 keys)"
                                         : "");
        goto fail;
    }
    if (ov->nchain == 0)
        log_warn("%s: no certificate chain configured (chain =): peers will refuse us", ov->name);
    for (size_t i = 0; i < c->npeers; i++)
        if (static_peer(ov, &c->peers[i], err, errlen) != 0)
            goto fail;
    log_info("%s: HIT %s, %s %s/32, %zu static peer%s", ov->name, ov->hit_str, ov->tun.name,
             inet_ntoa(ov->ipv4), c->npeers, c->npeers == 1 ? "" : "s");
    return ov;
fail:
    overlay_free(ov);
    return NULL;
}

int overlay_start(struct overlay *ov)
{
    if (datapath_start(ov) != 0) {
        log_err("%s: cannot start datapath threads: %s", ov->name, strerror(errno));
        return -1;
    }
    if (loop_add_fd(ov->d->loop, ov->q.efd, EPOLLIN, on_msgs, ov) != 0)
        return -1;
    timer_arm_in(ov->d->loop, &ov->renew_timer, (int64_t)ov->cfg.renew_check_seconds * 1000);
    for (size_t i = 0; i < ov->npeers; i++)
        if (ov->peers[i]->configured)
            peer_connect(ov, ov->peers[i]);
    pump(ov);
    return 0;
}

void overlay_shutdown(struct overlay *ov)
{
    size_t closed = 0;

    for (size_t i = 0; i < ov->npeers; i++) {
        struct peer *p = ov->peers[i];
        peer_cancel_timers(ov, p);
        direct_down(ov, p);
        if (vpxi_hip_close(ov->hip, p->hit, now_ms()) == 0)
            closed++;
    }
    pump(ov);
    log_info("%s: CLOSE sent to %zu peer%s", ov->name, closed, closed == 1 ? "" : "s");
}

void overlay_free(struct overlay *ov)
{
    if (!ov)
        return;
    datapath_stop(ov);
    if (ov->q.slots)
        loop_del_fd(ov->d->loop, ov->q.efd);
    timer_cancel(ov->d->loop, &ov->hip_timer);
    timer_cancel(ov->d->loop, &ov->renew_timer);
    while (ov->npeers) {
        struct peer *p = ov->peers[ov->npeers - 1];
        peer_cancel_timers(ov, p);
        p->routes = false; /* the TUN goes: only direct routes must be removed */
        direct_down(ov, p);
        peer_remove(ov, p);
    }
    vpxi_free(ov->peers);
    vpxi_hip_host_free(ov->hip);
    udp_close(&ov->udp);
    tun_close(&ov->tun);
    msgq_clear(&ov->q);
    vpxi_sx_free(ov->pol_sx);
    vpxi_free(ov->chain_buf);
    vpxi_key_put(ov->key);
    pthread_rwlock_destroy(&ov->lock);
    vpxi_free(ov);
}

/* ---- reload -------------------------------------------------------------------------------------
 */

#define SAME(f) (memcmp(&o->cfg.f, &c->f, sizeof(c->f)) == 0)

int overlay_reload_check(struct overlay *o, const struct cfg_overlay *c, char *err, size_t errlen)
{
    struct policy pol;
    const char *what = NULL;

    if (strcmp(o->cfg.keyfile, c->keyfile))
        what = "key";
    else if (strcmp(o->cfg.tun, c->tun))
        what = "tun";
    else if (!SAME(listen))
        what = "listen";
    else if (!SAME(ipv4) || o->cfg.has_ipv4 != c->has_ipv4)
        what = "ipv4";
    else if (!SAME(mtu))
        what = "mtu";
    else if (!SAME(dh) || !SAME(ndh) || !SAME(cipher) || !SAME(ncipher) || !SAME(esp) ||
             !SAME(nesp))
        what = "dh, hip-cipher or esp";
    else if (!SAME(esn))
        what = "esp-esn";
    else if (!SAME(clear_direct))
        what = "clear-direct";
    if (what) {
        snprintf(err, errlen, "[overlay %s]: %s changed: restart vpxid to apply it", o->name, what);
        return -1;
    }
    if (policy_load(o->name, o->hit_str, c, &pol, err, errlen) != 0)
        return -1;
    policy_clear(&pol);
    for (size_t i = 0; i < c->npeers; i++)
        if (!c->peers[i].has_hit) {
            struct vpxi_key *k;
            int r = vpxi_key_load(c->peers[i].keyfile, &k);
            if (r) {
                snprintf(err, errlen, "[peer %s %s] pubkey %s: %s", o->name, c->peers[i].name,
                         c->peers[i].keyfile, vpxi_strerror(r));
                return -1;
            }
            vpxi_key_put(k);
        }
    return 0;
}

/* Re-reduces a connected peer's last chain under the new policy. */
static void recheck_peer(struct overlay *ov, struct peer *p)
{
    struct vpxi_iov certs[NODE_CERTS_MAX];
    struct vpxi_validity v;
    uint16_t notify = 0;

    if (!p->up || !p->key)
        return;
    for (size_t i = 0, off = 0; i < p->ncerts; off += p->certs_len[i], i++) {
        certs[i].p = p->certs + off;
        certs[i].len = p->certs_len[i];
    }
    if (authorize(ov, p->hit, p->key, certs, p->ncerts, &v, &notify) != 0) {
        log_warn("%s: %s is no longer authorized under the new policy: closing", ov->name, p->name);
        ignore_result(vpxi_hip_close(ov->hip, p->hit, now_ms()));
        delete_all_sas(ov, p);
        p->up = false;
        return;
    }
    p->valid = v;
    arm_expire(ov, p);
}

void overlay_reload(struct overlay *ov, const struct cfg_overlay *c)
{
    char err[CFG_ERR_MAX];
    struct cfg_peer *peers = c->peers;

    /* policy and chain (sent to peers if it changed) */
    ov->cfg = *c;
    ov->cfg.peers = NULL;
    ov->cfg.npeers = 0;
    reload_chain(ov, &ov->cfg, "reload");
    /* peers that disappeared from the file */
    for (size_t i = 0; i < ov->npeers;) {
        struct peer *p = ov->peers[i];
        bool keep = !p->configured;
        for (size_t j = 0; j < c->npeers && !keep; j++)
            keep = !strcmp(peers[j].name, p->name);
        if (keep) {
            i++;
            continue;
        }
        log_info("%s: peer %s removed from the configuration: closing", ov->name, p->name);
        peer_cancel_timers(ov, p);
        ignore_result(vpxi_hip_close(ov->hip, p->hit, now_ms()));
        pump(ov);
        peer_routes(ov, p, false);
        peer_remove(ov, p);
    }
    /* new peers, and link policy of the others */
    for (size_t j = 0; j < c->npeers; j++) {
        struct peer *p = NULL;
        for (size_t i = 0; i < ov->npeers && !p; i++)
            if (ov->peers[i]->configured && !strcmp(ov->peers[i]->name, peers[j].name))
                p = ov->peers[i];
        if (p) {
            if (link_policy(p, &peers[j]))
                relink(ov, p);
            if (!p->up) {
                pthread_rwlock_wrlock(&ov->lock);
                p->addr = peers[j].address;
                pthread_rwlock_unlock(&ov->lock);
                /* what failed may work now (our chain or its policy just
                 * arrived, as when a registrar configures a VPXI node by
                 * node): try again at once, from the shortest back-off */
                timer_cancel(ov->d->loop, &p->reconnect);
                p->reconnect_ms = NODE_RECONNECT_MIN_MS;
                peer_connect(ov, p);
            }
            continue;
        }
        if (static_peer(ov, &peers[j], err, sizeof(err)) != 0) {
            log_err("%s: %s", ov->name, err);
            continue;
        }
        log_info("%s: new peer %s", ov->name, peers[j].name);
        {
            struct peer *np = NULL;
            for (size_t i = 0; i < ov->npeers && !np; i++)
                if (ov->peers[i]->configured && !strcmp(ov->peers[i]->name, peers[j].name))
                    np = ov->peers[i];
            if (np && !np->up)
                peer_connect(ov, np);
        }
    }
    for (size_t i = 0; i < ov->npeers; i++)
        recheck_peer(ov, ov->peers[i]);
    pump(ov);
}

/* ---- commands and status
 * -------------------------------------------------------------------------- */

static struct peer *find_peer(struct overlay *ov, const char *s)
{
    uint8_t hit[16];

    for (size_t i = 0; i < ov->npeers; i++)
        if (!strcmp(ov->peers[i]->name, s))
            return ov->peers[i];
    if (vpxi_hit_from_str(s, hit) == 0)
        return peer_by_hit(ov, hit);
    return NULL;
}

int overlay_peer_cmd(struct overlay *ov, const char *cmd, const char *name, char *err,
                     size_t errlen)
{
    struct peer *p = find_peer(ov, name);
    int r = 0;

    if (!p) {
        snprintf(err, errlen, "no peer '%s' in overlay %s", name, ov->name);
        return VPXI_ERR_NOT_FOUND;
    }
    if (!strcmp(cmd, "connect")) {
        peer_connect(ov, p);
    } else if (!strcmp(cmd, "close")) {
        timer_cancel(ov->d->loop, &p->reconnect);
        r = vpxi_hip_close(ov->hip, p->hit, now_ms());
    } else if (!strcmp(cmd, "rekey")) {
        r = vpxi_hip_rekey(ov->hip, p->hit, true, now_ms());
    } else if (!strcmp(cmd, "renew")) {
        r = vpxi_hip_renew_certs(ov->hip, p->hit, now_ms());
    } else {
        snprintf(err, errlen, "unknown peer command '%s'", cmd);
        return VPXI_ERR_INVALID;
    }
    if (r)
        snprintf(err, errlen, "%s %s: %s", cmd, p->name, vpxi_strerror(r));
    pump(ov);
    return r;
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

int overlay_status_json(struct overlay *ov, struct vpxi_wr *w)
{
    const struct vpxi_hip_stats *hs = vpxi_hip_host_stats(ov->hip);
    struct dp_stats *dp = &ov->dp;
    char a[80], d[VPXI_DATE_LEN + 1];

    vpxi_wr_printf(w, "{\"name\":\"%s\",\"hit\":\"%s\",\"tun\":\"%s\",\"ipv4\":\"%s\",", ov->name,
                   ov->hit_str, ov->tun.name, inet_ntoa(ov->ipv4));
    config_addr_str(&ov->local, a, sizeof(a));
    vpxi_wr_printf(w, "\"listen\":\"%s\",\"key\":\"%s\",\"certificates\":%zu,", a,
                   vpxi_key_alg_name(vpxi_key_alg(ov->key)), ov->nchain);
    if (ov->chain_valid.not_after != VPXI_TIME_MAX) {
        vpxi_date_format(ov->chain_valid.not_after, d);
        vpxi_wr_printf(w, "\"our_chain_expires\":\"%s\",\"our_chain_expires_in_s\":%lld,", d,
                       (long long)(ov->chain_valid.not_after - wall_s()));
    }
    vpxi_wr_printf(
        w,
        "\"offloads\":{\"tun\":%s,\"udp_gso\":%s,\"udp_gro\":%s},"
        "\"datapath\":{\"tun_reads\":%" PRIu64 ",\"tun_read_packets\":%" PRIu64
        ",\"udp_sends\":%" PRIu64 ",\"udp_send_packets\":%" PRIu64 ",\"udp_recvs\":%" PRIu64
        ",\"udp_recv_packets\":%" PRIu64 ",\"tun_writes\":%" PRIu64
        ",\"tun_write_packets\":%" PRIu64 ",",
        ov->tun.offload ? "true" : "false", ov->udp.gso ? "true" : "false",
        ov->udp.gro ? "true" : "false", ctr_get(&dp->tun_reads), ctr_get(&dp->tun_read_pkts),
        ctr_get(&dp->udp_sends), ctr_get(&dp->udp_send_pkts), ctr_get(&dp->udp_recvs),
        ctr_get(&dp->udp_recv_pkts), ctr_get(&dp->tun_writes), ctr_get(&dp->tun_write_pkts));
    vpxi_wr_printf(w,
                   "\"packets_per_syscall\":{\"tun_read\":%.2f,\"udp_send\":%.2f,"
                   "\"udp_recv\":%.2f,\"tun_write\":%.2f},",
                   ratio(ctr_get(&dp->tun_read_pkts), ctr_get(&dp->tun_reads)),
                   ratio(ctr_get(&dp->udp_send_pkts), ctr_get(&dp->udp_sends)),
                   ratio(ctr_get(&dp->udp_recv_pkts), ctr_get(&dp->udp_recvs)),
                   ratio(ctr_get(&dp->tun_write_pkts), ctr_get(&dp->tun_writes)));
    vpxi_wr_printf(w,
                   "\"drops\":{\"tx_no_route\":%" PRIu64 ",\"tx_bad_frame\":%" PRIu64
                   ",\"tx_send_error\":%" PRIu64 ",\"rx_unknown_spi\":%" PRIu64
                   ",\"rx_short\":%" PRIu64 ",\"rx_hip_queue_full\":%" PRIu64
                   ",\"rx_tun_error\":%" PRIu64 "}},",
                   ctr_get(&dp->tx_no_route), ctr_get(&dp->tx_bad_frame), ctr_get(&dp->tx_send_err),
                   ctr_get(&dp->rx_unknown_spi), ctr_get(&dp->rx_short),
                   ctr_get(&dp->rx_hip_dropped), ctr_get(&dp->rx_tun_err));
    vpxi_wr_printf(w,
                   "\"hip\":{\"rx\":%" PRIu64 ",\"tx\":%" PRIu64 ",\"r1_sent\":%" PRIu64
                   ",\"bex_completed\":%" PRIu64 ",\"bex_failed\":%" PRIu64 ",\"rekeys\":%" PRIu64
                   ",\"puzzle_k\":%u,\"r1_counter\":%" PRIu64 ",\"drops\":{",
                   hs->rx, hs->tx, hs->i1_answered, hs->bex_completed, hs->bex_failed, hs->rekeys,
                   hs->puzzle_k, hs->r1_counter);
    for (unsigned i = 0; i < VPXI_HIP_DROP_MAX; i++)
        vpxi_wr_printf(w, "%s\"%s\":%" PRIu64, i ? "," : "", vpxi_hip_drop_name(i), hs->drops[i]);
    vpxi_wr_str(w, "}},\"peers\":[");
    for (size_t i = 0; i < ov->npeers; i++) {
        if (i)
            vpxi_wr_u8(w, ',');
        peer_status_json(ov, ov->peers[i], w);
    }
    return vpxi_wr_str(w, "]}");
}
