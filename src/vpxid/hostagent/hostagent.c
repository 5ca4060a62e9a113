/*
 * hostagent.c - the host-agent role (docs/registrar.md): registers this
 * host's virtual resources with its registrar and, on the registrar's
 * request, creates and destroys virtual nodes (hostagent/vnode.c), each
 * with a fresh identity and its own vpxid in node role.
 *
 * Requests are accepted from the configured registrar's HIT only, one at a
 * time. On SIGTERM every node is destroyed and the bridge this process
 * created is removed: nothing is left behind.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"

#include "common/files.h"
#include "common/svc.h"
#include "config.h"
#include "hostagent/vnode.h"
#include "log.h"
#include "roles.h"

enum { HA_NODES_MAX = 250, HA_REGISTER_RETRY_S = 2 };

struct hnode {
    bool used;
    char vpxi[CFG_NAME_MAX];
    char name[CFG_NAME_MAX];
    char dir[CFG_PATH_MAX];
    struct vnode vn;
    pid_t vpxid;
    uint8_t hit[16];
    char underlay[32];
};

struct hostagent {
    const struct config *c;
    const struct cfg_hostagent *h;
    const struct cfg_overlay *ov;
    struct vpxi_key *key; /* the host agent's identity (its overlay key) */
    uint8_t hit[16];
    struct in_addr net;
    unsigned prefix;
    bool made_bridge;
    struct vpxi_provider *provider;
    struct hnode nodes[HA_NODES_MAX]; /* index = resource slot */
};

static volatile sig_atomic_t stop;

/* Formats a reason; long paths are cut, never overflow. */
static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* Runs argv (absolute path) and waits; 0 if it exited 0. */
static int run(char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static const char *ip_bin(void)
{
    return access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip";
}

static void addr_of_slot(const struct hostagent *ha, unsigned slot, char *buf, size_t len,
                         bool with_prefix)
{
    struct in_addr a = { .s_addr = htonl(ntohl(ha->net.s_addr) + 2 + slot) };
    char s[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &a, s, sizeof(s));
    if (with_prefix)
        snprintf(buf, len, "%s/%u", s, ha->prefix);
    else
        snprintf(buf, len, "%s", s);
}

static int setup_bridge(struct hostagent *ha)
{
    char gw[INET_ADDRSTRLEN + 4], link[64];
    struct in_addr a = { .s_addr = htonl(ntohl(ha->net.s_addr) + 1) };
    char s[INET_ADDRSTRLEN];
    const char *ip = ip_bin();
    FILE *f;

    snprintf(link, sizeof(link), "/sys/class/net/%s", ha->h->bridge);
    inet_ntop(AF_INET, &a, s, sizeof(s));
    snprintf(gw, sizeof(gw), "%s/%u", s, ha->prefix);
    if (access(link, F_OK) != 0) {
        char *add[] = { (char *)ip, "link", "add", (char *)ha->h->bridge, "type", "bridge", NULL };
        char *addr[] = { (char *)ip, "addr", "add", gw, "dev", (char *)ha->h->bridge, NULL };
        char *up[] = { (char *)ip, "link", "set", (char *)ha->h->bridge, "up", NULL };
        if (run(add) != 0 || run(addr) != 0 || run(up) != 0) {
            log_err("cannot create bridge %s with %s", ha->h->bridge, gw);
            return -1;
        }
        ha->made_bridge = true;
        log_info("bridge %s created with %s", ha->h->bridge, gw);
    }
    if ((f = fopen("/proc/sys/net/ipv4/ip_forward", "we")) != NULL) {
        fputs("1\n", f);
        fclose(f);
    }
    return 0;
}

static void remove_bridge(struct hostagent *ha)
{
    char *del[] = { (char *)ip_bin(), "link", "del", (char *)ha->h->bridge, NULL };

    if (ha->made_bridge && run(del) != 0)
        log_warn("could not remove bridge %s", ha->h->bridge);
}

static void node_destroy(struct hnode *n)
{
    char err[256] = "";

    if (!n->used)
        return;
    if (vnode_destroy(&n->vn, n->vpxid > 0 ? &n->vpxid : NULL, n->vpxid > 0 ? 1 : 0, err,
                      sizeof(err)) != 0) {
        log_err("node %s/%s: teardown incomplete: %s", n->vpxi, n->name, err);
    } else {
        /* the node's identity and configuration go with it */
        char *rm[] = { "/bin/rm", "-rf", "--", n->dir, NULL };
        if (n->dir[0] == '/' && run(rm) != 0)
            log_warn("node %s/%s: could not remove %s", n->vpxi, n->name, n->dir);
        log_info("node %s/%s destroyed", n->vpxi, n->name);
    }
    memset(n, 0, sizeof(*n));
}

/* ---- requests ---------------------------------------------------------------------- */

static struct hnode *node_find(struct hostagent *ha, const char *vpxi, const char *name)
{
    for (size_t i = 0; i < HA_NODES_MAX; i++)
        if (ha->nodes[i].used && !strcmp(ha->nodes[i].vpxi, vpxi) &&
            !strcmp(ha->nodes[i].name, name))
            return &ha->nodes[i];
    return NULL;
}

/* The image file for name: through the provider's policy when a catalogue
 * is configured, else NAME.tar in the images directory. */
static int image_for(struct hostagent *ha, const char *name, char *path, size_t plen,
                     char digest[65], char *why, size_t wlen)
{
    if (ha->provider) {
        int64_t now = (int64_t)time(NULL);
        int r = vpxi_provider_accept(ha->provider, name, now, path, plen, digest, why, wlen);
        char fwhy[256];
        /* endorsed but not fetched yet: fetch (verified while streaming), then decide again */
        if (r == VPXI_ERR_NOT_FOUND &&
            vpxi_provider_fetch(ha->provider, name, now, NULL, digest, fwhy, sizeof(fwhy)) == 0)
            r = vpxi_provider_accept(ha->provider, name, now, path, plen, digest, why, wlen);
        return r;
    }
    for (const char *s = name; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')) ||
            name[0] == '.') {
            say(why, wlen, "bad image name");
            return VPXI_ERR_BAD_FORMAT;
        }
    if (snprintf(path, plen, "%s/%s.tar", ha->h->images, name) >= (int)plen) {
        say(why, wlen, "image path too long");
        return VPXI_ERR_TOO_LARGE;
    }
    {
        uint8_t d[32];
        int r = file_sha256(path, d);
        if (r != 0) {
            say(why, wlen, "image %s: %s", path,
                r == VPXI_ERR_SYS ? strerror(errno) : vpxi_strerror(r));
            return VPXI_ERR_NOT_FOUND;
        }
        vpxi_hex_encode(digest, d, 32);
    }
    return 0;
}

/* (peer (name N) (hit H) (underlay ADDR) (link SEC) (port-link PROTO LO HI
 * SEC)...) -> a [peer] section. */
static int peer_section(const struct vpxi_sexp *p, const char *vpxi, FILE *f)
{
    char name[CFG_NAME_MAX], hit[64], addr[64], link[16];
    const struct vpxi_sexp *e;

    if ((e = vpxi_sexp_find(p, "name")) == NULL || e->len != 2 ||
        vpxi_sexp_get_str(e->child->next, name, sizeof(name)) != 0 ||
        (e = vpxi_sexp_find(p, "hit")) == NULL || e->len != 2 ||
        vpxi_sexp_get_str(e->child->next, hit, sizeof(hit)) != 0 ||
        (e = vpxi_sexp_find(p, "underlay")) == NULL || e->len != 2 ||
        vpxi_sexp_get_str(e->child->next, addr, sizeof(addr)) != 0 ||
        (e = vpxi_sexp_find(p, "link")) == NULL || e->len != 2 ||
        vpxi_sexp_get_str(e->child->next, link, sizeof(link)) != 0)
        return VPXI_ERR_BAD_FORMAT;
    for (const char *s = name; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return VPXI_ERR_BAD_FORMAT;
    if (strchr(hit, '\n') || strchr(addr, '\n') ||
        (strcmp(link, "encrypt") && strcmp(link, "integrity") && strcmp(link, "clear")))
        return VPXI_ERR_BAD_FORMAT;
    fprintf(f, "\n[peer %s %s]\nhit = %s\naddress = %s\nlink = %s\n", vpxi, name, hit, addr, link);
    /* (port-link PROTO LO HI SEC): port classes that differ from link */
    for (e = p->child; e; e = e->next) {
        char w[4][16];
        const struct vpxi_sexp *a;
        unsigned long lo, hi;
        char *end1, *end2;
        size_t i = 0;
        if (!vpxi_sexp_head_is(e, "port-link"))
            continue;
        if (e->len != 5)
            return VPXI_ERR_BAD_FORMAT;
        for (a = e->child->next; a && i < 4; a = a->next, i++)
            if (vpxi_sexp_get_str(a, w[i], sizeof(w[i])) != 0)
                return VPXI_ERR_BAD_FORMAT;
        lo = strtoul(w[1], &end1, 10);
        hi = strtoul(w[2], &end2, 10);
        if ((strcmp(w[0], "tcp") && strcmp(w[0], "udp")) || !w[1][0] || *end1 || !w[2][0] ||
            *end2 || w[1][0] == '-' || w[2][0] == '-' || lo < 1 || hi > 65535 || lo > hi ||
            (strcmp(w[3], "encrypt") && strcmp(w[3], "integrity") && strcmp(w[3], "clear")))
            return VPXI_ERR_BAD_FORMAT;
        fprintf(f, "port-link = %s/%lu-%lu %s\n", w[0], lo, hi, w[3]);
    }
    return 0;
}

/* Writes the node's vpxid.conf (peers from the request, chain if present). */
static int write_node_conf(struct hnode *n, const struct vpxi_msg *m, bool have_chain)
{
    char path[CFG_PATH_MAX + 32], *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int r = 0;

    if (!f)
        return VPXI_ERR_NOMEM;
    fprintf(f,
            "# written by the vpxi host agent for node %s of VPXI %s\n"
            "[daemon]\ncontrol = %s/vpxid.sock\nuser =\n\n"
            "[overlay %s]\nkey = %s/node.key\nacl = %s/acl\ntun = vx0\n"
            "listen = 0.0.0.0:10500\nrenew-check = 2s\ndh = p256\n",
            n->name, n->vpxi, n->dir, n->vpxi, n->dir, n->dir);
    if (have_chain)
        fprintf(f, "chain = %s/chain.seq\n", n->dir);
    fprintf(f, "\n[exec]\nnode = %s/vnode\n", n->dir);
    for (const struct vpxi_sexp *e = m->root->child; e && r == 0; e = e->next)
        if (vpxi_sexp_head_is(e, "peer"))
            r = peer_section(e, n->vpxi, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/vpxid.conf", n->dir);
    if (r == 0)
        r = file_write_atomic(path, buf, len, 0600);
    free(buf);
    return r;
}

/* The node's first chain, without new peers: "chain =" goes into the
 * overlay section of the configuration it has (after its acl line). */
static int add_chain_line(struct hnode *n)
{
    char path[CFG_PATH_MAX + 32], line[CFG_PATH_MAX + 32], *buf = NULL, *at;
    uint8_t *old = NULL;
    size_t len = 0, oldlen = 0;
    FILE *f;
    int r;

    snprintf(path, sizeof(path), "%s/vpxid.conf", n->dir);
    if ((f = fopen(path, "re")) == NULL)
        return VPXI_ERR_SYS;
    {
        char chunk[4096];
        size_t k;
        FILE *mem = open_memstream((char **)&old, &oldlen);
        if (!mem) {
            fclose(f);
            return VPXI_ERR_NOMEM;
        }
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fwrite(chunk, 1, k, mem);
        fclose(mem);
    }
    fclose(f);
    if (strstr((char *)old, "\nchain = ")) {
        free(old);
        return 0;
    }
    if ((at = strstr((char *)old, "\nacl = ")) == NULL || (at = strchr(at + 1, '\n')) == NULL) {
        free(old);
        return VPXI_ERR_BAD_FORMAT;
    }
    snprintf(line, sizeof(line), "chain = %s/chain.seq\n", n->dir);
    if ((f = open_memstream(&buf, &len)) == NULL) {
        free(old);
        return VPXI_ERR_NOMEM;
    }
    fwrite(old, 1, (size_t)(at + 1 - (char *)old), f);
    fputs(line, f);
    fputs(at + 1, f);
    fclose(f);
    r = file_write_atomic(path, buf, len, 0600);
    free(buf);
    free(old);
    return r == 0 ? 0 : VPXI_ERR_SYS;
}

static int get_name(const struct vpxi_msg *m, const char *key, char *buf, size_t cap)
{
    int r = vpxi_msg_get_str(m, key, buf, cap);

    if (r != 0)
        return r;
    for (const char *s = buf; *s; s++)
        if (!(*s == '-' || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return VPXI_ERR_BAD_FORMAT;
    return buf[0] ? 0 : VPXI_ERR_BAD_FORMAT;
}

static int wait_for_socket(const char *path, pid_t pid, int ms)
{
    struct timespec ts = { 0, 20 * 1000 * 1000 };

    for (int i = 0; i < ms / 20; i++) {
        if (access(path, F_OK) == 0)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void op_create(struct hostagent *ha, int fd, const struct vpxi_msg *m, struct vpxi_sx *sx)
{
    char vpxi[CFG_NAME_MAX], name[CFG_NAME_MAX], image[80], res[32], why[320] = "";
    char imgpath[CFG_PATH_MAX], digest[65], path[CFG_PATH_MAX + 32], conf[CFG_PATH_MAX + 32];
    char logf[CFG_PATH_MAX + 32], hs[VPXI_HIT_STRLEN], vname[64];
    const struct vpxi_sexp *trust = vpxi_msg_get(m, "trust"), *e;
    struct vpxi_sexp *acl, *rep, *x, *pub;
    struct vpxi_key *nk = NULL;
    struct hnode *n = NULL;
    unsigned slot;
    int r;

    if (get_name(m, "vpxi", vpxi, sizeof(vpxi)) != 0 || get_name(m, "node", name, sizeof(name)) ||
        vpxi_msg_get_str(m, "image", image, sizeof(image)) != 0 ||
        vpxi_msg_get_str(m, "resource", res, sizeof(res)) != 0 || !trust) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT,
                         "create-node needs (vpxi) (node) (image) (resource) (trust)");
        return;
    }
    /* resource ids are SITE-rN: the slot is N */
    {
        const char *d = strrchr(res, 'r');
        char *end;
        unsigned long v;
        if (!d || d == res || d[-1] != '-' || strncmp(res, ha->h->site, (size_t)(d - 1 - res)) ||
            (v = strtoul(d + 1, &end, 10), *end) || v >= ha->h->resources) {
            role_reply_error(fd, m->id, VPXI_ERR_NOT_FOUND, "no resource %s on this host", res);
            return;
        }
        slot = (unsigned)v;
    }
    if (ha->nodes[slot].used) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_STATE, "resource %s is in use by %s/%s", res,
                         ha->nodes[slot].vpxi, ha->nodes[slot].name);
        return;
    }
    if (node_find(ha, vpxi, name)) {
        role_reply_error(fd, m->id, VPXI_ERR_EXISTS, "node %s/%s exists", vpxi, name);
        return;
    }
    if ((r = image_for(ha, image, imgpath, sizeof(imgpath), digest, why, sizeof(why))) != 0) {
        role_reply_error(fd, m->id, r, "image %s refused: %s", image, why);
        return;
    }
    n = &ha->nodes[slot];
    memset(n, 0, sizeof(*n));
    n->used = true;
    snprintf(n->vpxi, sizeof(n->vpxi), "%s", vpxi);
    snprintf(n->name, sizeof(n->name), "%s", name);
    if (snprintf(n->dir, sizeof(n->dir), "%s/%s/%s", ha->h->statedir, vpxi, name) >=
        (int)sizeof(n->dir) - 16) {
        say(why, sizeof(why), "statedir path too long");
        r = VPXI_ERR_TOO_LARGE;
        goto fail;
    }
    addr_of_slot(ha, slot, n->underlay, sizeof(n->underlay), false);
    if ((r = file_mkdirs(n->dir, 0700)) != 0) {
        say(why, sizeof(why), "mkdir %s: %s", n->dir, strerror(-r));
        goto fail;
    }
    /* a fresh identity for the node */
    snprintf(path, sizeof(path), "%s/node.key", n->dir);
    if ((r = vpxi_key_generate(VPXI_KEY_ECDSA_P256, 0, &nk)) != 0 ||
        (r = vpxi_key_save_private(path, nk, true)) != 0 ||
        (r = vpxi_hit_from_key(nk, n->hit)) != 0) {
        say(why, sizeof(why), "node key: %s", vpxi_strerror(r));
        goto fail;
    }
    vpxi_hit_to_str(n->hit, hs);
    /* its ACL: what it grants the registrar(s), as given in (trust ...) */
    if ((r = vpxi_sexp_build(sx, &acl, "(acl)")) != 0)
        goto fail;
    for (e = m->root->child; e; e = e->next) {
        const struct vpxi_sexp *k, *t, *v;
        struct vpxi_sexp *entry;
        if (!vpxi_sexp_head_is(e, "trust"))
            continue;
        if ((k = vpxi_sexp_find(e, "public-key")) == NULL ||
            (t = vpxi_sexp_find(e, "tag")) == NULL) {
            say(why, sizeof(why), "(trust) needs (public-key) and (tag)");
            r = VPXI_ERR_BAD_FORMAT;
            goto fail;
        }
        v = vpxi_sexp_find(e, "valid");
        if ((r = vpxi_sexp_build(sx, &entry, "(entry (subject %S) (propagate) %S %S)", k, t, v)) !=
            0)
            goto fail;
        vpxi_sexp_append(acl, entry);
    }
    snprintf(path, sizeof(path), "%s/acl", n->dir);
    if ((r = file_write_sexp(path, acl, VPXI_SEXP_ADVANCED, 0644)) != 0) {
        say(why, sizeof(why), "ACL: %s", r < VPXI_ERR_MIN ? strerror(-r) : vpxi_strerror(r));
        goto fail;
    }
    if ((r = write_node_conf(n, m, false)) != 0) {
        say(why, sizeof(why), "node configuration: %s", vpxi_strerror(r));
        goto fail;
    }
    {
        struct vnode_params p = { 0 };
        if (snprintf(vname, sizeof(vname), "%s-%u", ha->h->site, slot) >= (int)sizeof(vname) ||
            snprintf(p.name, sizeof(p.name), "%s", vname) >= (int)sizeof(p.name) ||
            snprintf(p.statedir, sizeof(p.statedir), "%s/vnode", n->dir) >=
                (int)sizeof(p.statedir)) {
            say(why, sizeof(why), "node name or state path too long");
            r = VPXI_ERR_TOO_LARGE;
            goto fail;
        }
        snprintf(p.image, sizeof(p.image), "%s", imgpath);
        snprintf(p.bridge, sizeof(p.bridge), "%s", ha->h->bridge);
        addr_of_slot(ha, slot, p.address, sizeof(p.address), true);
        {
            struct in_addr g = { .s_addr = htonl(ntohl(ha->net.s_addr) + 1) };
            inet_ntop(AF_INET, &g, p.gateway, sizeof(p.gateway));
        }
        snprintf(p.hostname, sizeof(p.hostname), "%s", name);
        p.cpu_milli = ha->h->cpu_milli;
        p.memory_mb = ha->h->memory_mb;
        p.firewall = ha->h->firewall;
        if (vnode_create(&p, &n->vn, why, sizeof(why)) != 0) {
            r = VPXI_ERR_INTERNAL;
            goto fail;
        }
    }
    {
        char *argv[] = { conf, "-c", path, NULL };
        snprintf(conf, sizeof(conf), "%s", ha->h->vpxid[0] ? ha->h->vpxid : "/proc/self/exe");
        if (!ha->h->vpxid[0]) {
            ssize_t len = readlink("/proc/self/exe", conf, sizeof(conf) - 1);
            if (len <= 0) {
                say(why, sizeof(why), "cannot find the vpxid binary: %s", strerror(errno));
                r = VPXI_ERR_INTERNAL;
                goto fail;
            }
            conf[len] = 0;
        }
        snprintf(path, sizeof(path), "%s/vpxid.conf", n->dir);
        snprintf(logf, sizeof(logf), "%s/vpxid.log", n->dir);
        if (vnode_spawn_netns(&n->vn, argv, logf, &n->vpxid, why, sizeof(why)) != 0) {
            r = VPXI_ERR_INTERNAL;
            goto fail;
        }
        snprintf(path, sizeof(path), "%s/vpxid.sock", n->dir);
        if (wait_for_socket(path, n->vpxid, 10000) != 0) {
            say(why, sizeof(why), "the node's vpxid did not start (see %s)", logf);
            r = VPXI_ERR_INTERNAL;
            goto fail;
        }
    }
    if ((r = vpxi_msg_reply_ok(sx, m->id, &rep)) != 0 ||
        (r = vpxi_key_to_sexp(sx, nk, &pub)) != 0 ||
        (r = vpxi_sexp_build(sx, &x, "(node (name %s) (hit %s) (underlay %s) (image %s %s) %S)",
                             name, hs, n->underlay, image, digest, pub)) != 0)
        goto fail;
    vpxi_sexp_append(rep, x);
    log_info("node %s/%s created: %s at %s from %s (sha256 %.16s...)", vpxi, name, hs, n->underlay,
             image, digest);
    vpxi_key_put(nk);
    (void)svc_send(fd, rep);
    return;
fail:
    vpxi_key_put(nk);
    if (n) {
        if (n->vn.init_pid > 0 || n->vpxid > 0)
            node_destroy(n);
        else {
            char *rm[] = { "/bin/rm", "-rf", n->dir, NULL };
            (void)run(rm);
            memset(n, 0, sizeof(*n));
        }
    }
    role_reply_error(fd, m->id, r ? r : VPXI_ERR_INTERNAL, "node %s/%s not created: %s", vpxi, name,
                     why[0] ? why : vpxi_strerror(r));
}

static void op_update(struct hostagent *ha, int fd, const struct vpxi_msg *m, struct vpxi_sx *sx)
{
    char vpxi[CFG_NAME_MAX], name[CFG_NAME_MAX], path[CFG_PATH_MAX + 32];
    const struct vpxi_sexp *seq = vpxi_msg_get(m, "sequence");
    struct vpxi_sexp *rep, *x;
    struct hnode *n;
    int r;

    if (get_name(m, "vpxi", vpxi, sizeof(vpxi)) != 0 || get_name(m, "node", name, sizeof(name))) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "update-node needs (vpxi) (node)");
        return;
    }
    if ((n = node_find(ha, vpxi, name)) == NULL) {
        role_reply_error(fd, m->id, VPXI_ERR_NOT_FOUND, "no node %s/%s", vpxi, name);
        return;
    }
    if (seq) {
        struct vpxi_seq *parsed;
        if ((r = vpxi_seq_parse(sx, seq, &parsed)) != 0) {
            role_reply_error(fd, m->id, r, "chain: %s", vpxi_strerror(r));
            return;
        }
        snprintf(path, sizeof(path), "%s/chain.seq", n->dir);
        if ((r = file_write_sexp(path, seq, VPXI_SEXP_ADVANCED, 0644)) != 0) {
            role_reply_error(fd, m->id, VPXI_ERR_INTERNAL, "chain file: %s", strerror(-r));
            return;
        }
    }
    snprintf(path, sizeof(path), "%s/chain.seq", n->dir);
    if (seq && !vpxi_msg_get(m, "peer") && (r = add_chain_line(n)) != 0) {
        role_reply_error(fd, m->id, r, "configuration: %s", vpxi_strerror(r));
        return;
    }
    if (vpxi_msg_get(m, "peer") && (r = write_node_conf(n, m, access(path, F_OK) == 0)) != 0) {
        role_reply_error(fd, m->id, r, "peers: %s", vpxi_strerror(r));
        return;
    }
    if (n->vpxid > 0)
        kill(n->vpxid, SIGHUP);
    if ((r = vpxi_msg_reply_ok(sx, m->id, &rep)) != 0 ||
        (r = vpxi_sexp_build(sx, &x, "(updated %s)", name)) != 0)
        return;
    vpxi_sexp_append(rep, x);
    (void)svc_send(fd, rep);
}

static void op_destroy(struct hostagent *ha, int fd, const struct vpxi_msg *m, struct vpxi_sx *sx)
{
    char vpxi[CFG_NAME_MAX], name[CFG_NAME_MAX];
    struct vpxi_sexp *rep, *x;
    struct hnode *n;
    unsigned count = 0;

    if (get_name(m, "vpxi", vpxi, sizeof(vpxi)) != 0) {
        role_reply_error(fd, m->id, VPXI_ERR_BAD_FORMAT, "destroy-node needs (vpxi)");
        return;
    }
    if (get_name(m, "node", name, sizeof(name)) == 0) {
        if ((n = node_find(ha, vpxi, name)) != NULL) {
            node_destroy(n);
            count++;
        }
    } else {
        for (size_t i = 0; i < HA_NODES_MAX; i++)
            if (ha->nodes[i].used && !strcmp(ha->nodes[i].vpxi, vpxi)) {
                node_destroy(&ha->nodes[i]);
                count++;
            }
    }
    {
        char dir[CFG_PATH_MAX + 80];
        snprintf(dir, sizeof(dir), "%s/%s", ha->h->statedir, vpxi);
        (void)rmdir(dir);
    }
    if (vpxi_msg_reply_ok(sx, m->id, &rep) != 0 ||
        vpxi_sexp_build(sx, &x, "(destroyed %u)", (uint64_t)count) != 0)
        return;
    vpxi_sexp_append(rep, x);
    (void)svc_send(fd, rep);
}

static void op_status(struct hostagent *ha, int fd, const struct vpxi_msg *m, struct vpxi_sx *sx)
{
    struct vpxi_sexp *rep, *st, *x;
    unsigned free_slots = 0;
    char hs[VPXI_HIT_STRLEN];

    if (vpxi_msg_reply_ok(sx, m->id, &rep) != 0 ||
        vpxi_sexp_build(sx, &st, "(hostagent (site %s))", ha->h->site) != 0)
        return;
    for (size_t i = 0; i < ha->h->resources; i++) {
        struct hnode *n = &ha->nodes[i];
        if (!n->used) {
            free_slots++;
            continue;
        }
        vpxi_hit_to_str(n->hit, hs);
        if (vpxi_sexp_build(sx, &x, "(node (vpxi %s) (name %s) (hit %s) (underlay %s))", n->vpxi,
                            n->name, hs, n->underlay) != 0)
            return;
        vpxi_sexp_append(st, x);
    }
    if (vpxi_sexp_build(sx, &x, "(free %u)", (uint64_t)free_slots) != 0)
        return;
    vpxi_sexp_append(st, x);
    vpxi_sexp_append(rep, st);
    (void)svc_send(fd, rep);
}

static void serve(struct hostagent *ha, int fd, const uint8_t peer[16])
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m;
    char hs[VPXI_HIT_STRLEN];
    int r;

    if (!sx)
        return;
    vpxi_hit_to_str(peer, hs);
    if ((r = svc_recv(fd, sx, &m, 30000)) != 0) {
        log_warn("request from %s dropped: %s", hs, svc_strerror(r));
    } else if (m.is_reply) {
        log_warn("unexpected reply from %s", hs);
    } else if (!vpxi_memeq_ct(peer, ha->h->registrar, 16)) {
        role_reply_error(fd, m.id, VPXI_ERR_NOT_AUTHORIZED, "%s is not this host agent's registrar",
                         hs);
    } else if (!strcmp(m.op, "create-node")) {
        op_create(ha, fd, &m, sx);
    } else if (!strcmp(m.op, "update-node")) {
        op_update(ha, fd, &m, sx);
    } else if (!strcmp(m.op, "destroy-node")) {
        op_destroy(ha, fd, &m, sx);
    } else if (!strcmp(m.op, "status")) {
        op_status(ha, fd, &m, sx);
    } else {
        role_reply_error(fd, m.id, VPXI_ERR_UNSUPPORTED, "unknown op '%s'", m.op);
    }
    vpxi_sx_free(sx);
}

/* Registers our resources; 0 once the registrar accepted them. */
static int register_resources(struct hostagent *ha)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *req, *x, *pub;
    struct vpxi_msg rep;
    char id[24], rid[CFG_NAME_MAX + 16], why[256] = "";
    int r;

    if (!sx)
        return VPXI_ERR_NOMEM;
    svc_next_id(id);
    if ((r = vpxi_msg_request(sx, id, "register", &req)) != 0 ||
        (r = vpxi_key_to_sexp(sx, ha->key, &pub)) != 0 ||
        (r = vpxi_sexp_build(sx, &x, "(site %s)", ha->h->site)) != 0)
        goto out;
    vpxi_sexp_append(req, x);
    if ((r = vpxi_sexp_build(sx, &x, "(community %s)", ha->h->community)) != 0)
        goto out;
    vpxi_sexp_append(req, x);
    vpxi_sexp_append(req, vpxi_sexp_copy(sx, pub));
    for (unsigned i = 0; i < ha->h->resources; i++) {
        snprintf(rid, sizeof(rid), "%s-r%u", ha->h->site, i);
        if ((r = vpxi_sexp_build(sx, &x, "(resource (id %s) (capacity (cpu %u) (memory %u)))", rid,
                                 (uint64_t)ha->h->cpu_milli, (uint64_t)ha->h->memory_mb)) != 0)
            goto out;
        vpxi_sexp_append(req, x);
    }
    if ((r = svc_call(ha->h->registrar, SVC_PORT_REGISTRAR, sx, req, &rep, 10000)) != 0) {
        say(why, sizeof(why), "%s", svc_strerror(r));
    } else if (!rep.ok) {
        r = vpxi_msg_error_code(&rep);
        if (rep.message)
            if (vpxi_sexp_get_str(rep.message, why, sizeof(why)) != 0)
                why[0] = 0;
    }
    if (r != 0)
        log_warn("registration with the registrar failed: %s (retrying)", why);
    else
        log_info("%u resources of site %s registered", ha->h->resources, ha->h->site);
out:
    vpxi_sx_free(sx);
    return r;
}

/* Periodic refresh of the image catalogues (interval and jitter from the
 * provider's trust configuration): what changed, what was refused and what
 * expires soon is logged; a revoked image stops being startable now. */
static int64_t refresh_catalogs(struct hostagent *ha)
{
    struct vpxi_import_report rep = { 0 };
    int64_t now = (int64_t)time(NULL);
    int r = vpxi_provider_refresh(ha->provider, now, &rep);

    for (size_t i = 0; i < rep.nsources; i++) {
        const struct vpxi_import_source *src = &rep.sources[i];
        if (src->result != 0)
            log_warn("catalogue %s refused, previous state kept: %s", src->source, src->why);
        else if (!src->unchanged)
            log_info("catalogue %s: version %llu, %zu images (%zu added, %zu updated, %zu removed, "
                     "%zu revoked, %zu rejected)",
                     src->source, (unsigned long long)src->version, src->images, src->added,
                     src->updated, src->removed, src->revoked, src->rejected);
    }
    vpxi_provider_warnings(ha->provider, now, &rep);
    for (size_t i = 0; i < rep.nevents; i++)
        if (rep.events[i].kind == VPXI_IMPORT_WARNING || rep.events[i].kind == VPXI_IMPORT_REVOKED)
            log_warn("catalogue: %s%s%s", rep.events[i].name, rep.events[i].name[0] ? ": " : "",
                     rep.events[i].why);
    if (r != 0 && rep.nsources == 0)
        log_warn("catalogue refresh: %s", vpxi_strerror(r));
    vpxi_import_report_clear(&rep);
    return vpxi_provider_next_refresh(ha->provider, now);
}

/* Nodes left by a host agent that died without tearing them down: their
 * daemons and namespaces are destroyed, their state removed (the registrar
 * sees them gone at its next renewal). */
static void sweep_leftovers(struct hostagent *ha)
{
    DIR *top = opendir(ha->h->statedir), *sub;
    struct dirent *v, *n;
    char path[CFG_PATH_MAX + 160], err[256];

    if (!top)
        return;
    while ((v = readdir(top)) != NULL) {
        if (v->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", ha->h->statedir, v->d_name) >=
                (int)sizeof(path) ||
            (sub = opendir(path)) == NULL)
            continue;
        while ((n = readdir(sub)) != NULL) {
            struct vnode vn;
            if (n->d_name[0] == '.')
                continue;
            if (snprintf(path, sizeof(path), "%s/%s/%s/vnode", ha->h->statedir, v->d_name,
                         n->d_name) >= (int)sizeof(path) ||
                vnode_load(path, &vn) != 0)
                continue;
            if (vnode_destroy(&vn, NULL, 0, err, sizeof(err)) != 0)
                log_err("leftover node %s/%s: %s", v->d_name, n->d_name, err);
            else
                log_warn("leftover node %s/%s from an earlier run destroyed", v->d_name, n->d_name);
            path[strlen(path) - strlen("/vnode")] = 0;
            {
                char *rm[] = { "/bin/rm", "-rf", "--", path, NULL };
                (void)run(rm);
            }
        }
        closedir(sub);
        if (snprintf(path, sizeof(path), "%s/%s", ha->h->statedir, v->d_name) < (int)sizeof(path))
            (void)rmdir(path);
    }
    closedir(top);
}

int hostagent_main(const struct config *c)
{
    static struct hostagent ha;
    struct sigaction sa = { .sa_handler = on_term };
    int lfd, r;
    time_t next_reg = 0;
    int64_t next_refresh = 0;
    bool registered = false;

    ha.c = c;
    ha.h = &c->hostagent;
    ha.ov = config_overlay(c, c->hostagent.overlay);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGCHLD, SIG_DFL);
    if (!ha.ov || config_parse_subnet(ha.h->subnet, &ha.net, &ha.prefix) != 0)
        return 1;
    if ((r = vpxi_key_load_private(ha.ov->keyfile, &ha.key)) != 0 ||
        (r = vpxi_hit_from_key(ha.key, ha.hit)) != 0) {
        log_err("key %s: %s", ha.ov->keyfile, vpxi_strerror(r));
        return 1;
    }
    if (ha.h->catalog[0]) {
        char err[256];
        if (vpxi_provider_open(ha.h->catalog, &ha.provider, err, sizeof(err)) != 0) {
            log_err("image provider %s: %s", ha.h->catalog, err);
            return 1;
        }
    }
    if ((r = file_mkdirs(ha.h->statedir, 0700)) != 0) {
        log_err("statedir %s: %s", ha.h->statedir, strerror(-r));
        return 1;
    }
    sweep_leftovers(&ha);
    if (setup_bridge(&ha) != 0)
        return 1;
    if ((lfd = svc_listen(ha.ov->tun, SVC_PORT_HOSTAGENT)) < 0) {
        log_err("listen on %s: %s", ha.ov->tun, strerror(-lfd));
        remove_bridge(&ha);
        return 1;
    }
    log_info("host agent of site %s: %u resources, nodes on %s (%s)", ha.h->site, ha.h->resources,
             ha.h->bridge, ha.h->subnet);
    while (!stop) {
        struct pollfd pf = { .fd = lfd, .events = POLLIN };
        uint8_t peer[16];
        int fd;

        if (!registered && time(NULL) >= next_reg) {
            registered = register_resources(&ha) == 0;
            next_reg = time(NULL) + HA_REGISTER_RETRY_S;
        }
        /* reap node daemons that died (they are restarted by nobody: logged) */
        for (size_t i = 0; i < HA_NODES_MAX; i++)
            if (ha.nodes[i].used && ha.nodes[i].vpxid > 0 &&
                waitpid(ha.nodes[i].vpxid, NULL, WNOHANG) == ha.nodes[i].vpxid) {
                log_err("node %s/%s: its vpxid exited", ha.nodes[i].vpxi, ha.nodes[i].name);
                ha.nodes[i].vpxid = 0;
            }
        if (ha.provider && time(NULL) >= next_refresh)
            next_refresh = refresh_catalogs(&ha);
        if (poll(&pf, 1, 500) <= 0)
            continue;
        if ((fd = svc_accept(lfd, peer)) < 0)
            continue;
        serve(&ha, fd, peer);
        close(fd);
    }
    log_info("stopping: destroying %s nodes", ha.h->site);
    for (size_t i = 0; i < HA_NODES_MAX; i++)
        node_destroy(&ha.nodes[i]);
    close(lfd);
    remove_bridge(&ha);
    if (ha.provider)
        vpxi_provider_close(ha.provider);
    vpxi_key_put(ha.key);
    return 0;
}
