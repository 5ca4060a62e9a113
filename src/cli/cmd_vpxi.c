/*
 * cmd_vpxi.c - the VPXI lifecycle from a user's seat (docs/cli.md):
 *
 *   vpxi enroll --name NAME [--contact C] --agree VERSION
 *   vpxi up SPEC            ask the registrar for a VPXI, join it, wait until every node answers
 *   vpxi ls                 the VPXIs you belong to
 *   vpxi show NAME          nodes, HITs, underlay, your chain and when it expires
 *   vpxi down NAME          end it (owner), leave it locally
 *   vpxi user add NAME PUBKEY -o FILE    delegate access to another enrolled user
 *   vpxi join NAME --chain FILE          join a VPXI with a delegated chain
 *   vpxi exec [--vpxi NAME] NODE -- CMD [ARG...]
 *
 * The requests travel over the infrastructure overlay to the registrar
 * (docs/protocol.md), so a local vpxid must be a member of it; the user is
 * the key given by --key (VPXI_KEY), the same key as that vpxid's. Joining a
 * VPXI starts a second vpxid, in the user's namespaces, whose only overlay
 * is the VPXI: its state lives in STATE/NAME (VPXI_STATE, default
 * /var/lib/vpxi/user).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/spec.h"

#include "cli.h"
#include "common/files.h"
#include "common/svc.h"

enum { UP_WAIT_S = 60, CALL_MS = 120000 };

struct uctx {
    const char *keyfile;
    const char *state;
    uint8_t registrar[16];
    bool has_registrar;
    struct vpxi_key *key;
    uint8_t hit[16];
    const char *vpxi; /* exec --vpxi */
    const char *chain;
    const char *out;
    const char *name, *contact, *agree;
    bool no_wait;
    unsigned timeout;
};

static const char common_help[] =
    "  --key FILE        your private key (VPXI_KEY; default /etc/vpxi/user.key)\n"
    "  --registrar HIT   the registrar (VPXI_REGISTRAR)\n"
    "  --state DIR       where joined VPXIs are kept (VPXI_STATE; default /var/lib/vpxi/user)\n";

/* Parses the common options; returns the index of the first operand, or -1. */
static int parse_common(int argc, char **argv, struct uctx *u, const char *usage)
{
    static const struct option opts[] = {
        { "key", required_argument, NULL, 'k' },
        { "registrar", required_argument, NULL, 'r' },
        { "state", required_argument, NULL, 's' },
        { "vpxi", required_argument, NULL, 'v' },
        { "chain", required_argument, NULL, 'c' },
        { "output", required_argument, NULL, 'o' },
        { "name", required_argument, NULL, 'n' },
        { "contact", required_argument, NULL, 'C' },
        { "agree", required_argument, NULL, 'a' },
        { "no-wait", no_argument, NULL, 'W' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *reg = getenv("VPXI_REGISTRAR");
    int c;

    u->keyfile = getenv("VPXI_KEY") ? getenv("VPXI_KEY") : "/etc/vpxi/user.key";
    u->state = getenv("VPXI_STATE") ? getenv("VPXI_STATE") : "/var/lib/vpxi/user";
    u->timeout = 600;
    optind = 1;
    /* exec stops at its first operand (the command's own options follow);
     * the others take options anywhere */
    while ((c = getopt_long(argc, argv,
                            strcmp(argv[0], "exec") ? "k:r:s:v:c:o:t:h" : "+k:r:s:v:c:o:t:h", opts,
                            NULL)) != -1) {
        switch (c) {
        case 'k': u->keyfile = optarg; break;
        case 'r': reg = optarg; break;
        case 's': u->state = optarg; break;
        case 'v': u->vpxi = optarg; break;
        case 'c': u->chain = optarg; break;
        case 'o': u->out = optarg; break;
        case 'n': u->name = optarg; break;
        case 'C': u->contact = optarg; break;
        case 'a': u->agree = optarg; break;
        case 'W': u->no_wait = true; break;
        case 't': u->timeout = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'h': printf("usage: %s %s\nOptions:\n%s", cli_prog, usage, common_help); return -2;
        default: cli_usage(usage); return -1;
        }
    }
    if (reg && *reg) {
        if (vpxi_hit_from_str(reg, u->registrar) != 0) {
            cli_err("--registrar '%s': not a HIT", reg);
            return -1;
        }
        u->has_registrar = true;
    }
    return optind;
}

static int load_key(struct uctx *u)
{
    int r = vpxi_key_load_private(u->keyfile, &u->key);

    if (r != 0)
        return cli_err_r(r, "key %s", u->keyfile);
    if ((r = vpxi_hit_from_key(u->key, u->hit)) != 0)
        return cli_err_r(r, "key %s", u->keyfile);
    return 0;
}

static int need_registrar(const struct uctx *u)
{
    if (!u->has_registrar)
        return cli_err("no registrar: give --registrar HIT or set VPXI_REGISTRAR");
    return 0;
}

/* Sends req to the registrar; prints the error reply. 0 or CLI_FAIL. */
static int reg_call(struct uctx *u, struct vpxi_sx *sx, const struct vpxi_sexp *req,
                    struct vpxi_msg *rep)
{
    int r = svc_call(u->registrar, SVC_PORT_REGISTRAR, sx, req, rep, CALL_MS);
    char msg[1024] = "";

    if (r != 0)
        return cli_err("registrar unreachable over the overlay: %s (is the local vpxid a member "
                       "of the registrar's overlay?)",
                       svc_strerror(r));
    if (!rep->ok) {
        if (rep->message)
            if (vpxi_sexp_get_str(rep->message, msg, sizeof(msg)) != 0)
                msg[0] = 0;
        return cli_err("registrar refused: %s (%s)", msg, rep->code);
    }
    return 0;
}

static int request(struct uctx *u, struct vpxi_sx *sx, const char *op, struct vpxi_sexp **req)
{
    char id[24];
    struct vpxi_sexp *pub;
    int r;

    svc_next_id(id);
    if ((r = vpxi_msg_request(sx, id, op, req)) != 0 ||
        (r = vpxi_key_to_sexp(sx, u->key, &pub)) != 0)
        return cli_err_r(r, "request");
    vpxi_sexp_append(*req, pub);
    return 0;
}

static void add_arg(struct vpxi_sx *sx, struct vpxi_sexp *req, const char *name, const char *val)
{
    struct vpxi_sexp *x;

    if (vpxi_sexp_build(sx, &x, "(%s %s)", name, val) == 0)
        vpxi_sexp_append(req, x);
}

static const char *str_of(const struct vpxi_sexp *list, const char *name, char *buf, size_t cap)
{
    const struct vpxi_sexp *e = vpxi_sexp_find(list, name);

    buf[0] = 0;
    if (e && e->len == 2 && vpxi_sexp_get_str(e->child->next, buf, cap) == 0)
        return buf;
    return buf;
}

/* ---- JSON of a reply (generic: lists become objects, repeated keys arrays) ---------- */

static void json_value(const struct vpxi_sexp *n);

static bool repeated(const struct vpxi_sexp *list, const struct vpxi_sexp *e)
{
    int count = 0;

    for (const struct vpxi_sexp *o = list->child->next; o; o = o->next)
        if (vpxi_sexp_is_list(o) && e->child && o->child && o->child->len == e->child->len &&
            !memcmp(o->child->data, e->child->data, e->child->len))
            count++;
    return count > 1 || (e->child->len == 4 && !memcmp(e->child->data, "node", 4));
}

static void json_object(const struct vpxi_sexp *list)
{
    bool first = true;

    putchar('{');
    for (const struct vpxi_sexp *e = list->child->next; e; e = e->next) {
        char key[64];
        bool done = false;
        if (!vpxi_sexp_is_list(e) || !vpxi_sexp_is_atom(e->child) ||
            vpxi_sexp_get_str(e->child, key, sizeof(key)) != 0)
            continue;
        for (const struct vpxi_sexp *p = list->child->next; p != e; p = p->next)
            if (vpxi_sexp_is_list(p) && p->child->len == e->child->len &&
                !memcmp(p->child->data, e->child->data, e->child->len))
                done = true;
        if (done)
            continue;
        printf("%s", first ? "" : ",");
        first = false;
        cli_json_str(key);
        putchar(':');
        if (repeated(list, e)) {
            bool f2 = true;
            putchar('[');
            for (const struct vpxi_sexp *o = e; o; o = o->next)
                if (vpxi_sexp_is_list(o) && o->child->len == e->child->len &&
                    !memcmp(o->child->data, e->child->data, e->child->len)) {
                    printf("%s", f2 ? "" : ",");
                    f2 = false;
                    json_value(o);
                }
            putchar(']');
        } else {
            json_value(e);
        }
    }
    putchar('}');
}

static void json_value(const struct vpxi_sexp *n)
{
    char buf[4096];

    if (vpxi_sexp_is_atom(n)) {
        if (vpxi_sexp_get_str(n, buf, sizeof(buf)) == 0)
            cli_json_str(buf);
        else
            cli_json_bytes_hex(n->data, n->len);
        return;
    }
    if (n->len == 2 && vpxi_sexp_is_atom(n->child->next)) {
        json_value(n->child->next);
        return;
    }
    if (vpxi_sexp_head_is(n, "public-key") || vpxi_sexp_head_is(n, "sequence")) {
        struct vpxi_wr w;
        vpxi_wr_init_dyn(&w, 1 << 20);
        if (vpxi_sexp_write(n, VPXI_SEXP_TRANSPORT, &w) == 0 && !w.err) {
            size_t slen;
            char *s = (char *)vpxi_wr_steal(&w, &slen);
            cli_json_str(s ? s : "");
            vpxi_free(s);
        } else {
            vpxi_wr_clear(&w);
            printf("null");
        }
        return;
    }
    json_object(n);
}

/* ---- state of a joined VPXI ------------------------------------------------------------ */

static int state_dir(const struct uctx *u, const char *name, char *buf, size_t cap)
{
    for (const char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return cli_err("'%s' is not a VPXI name", name);
    snprintf(buf, cap, "%s/%s", u->state, name);
    return 0;
}

static int free_udp_port(void)
{
    for (int port = 10501; port < 10600; port++) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;
        if (fd < 0)
            return -1;
        ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

/* Writes STATE/NAME/{vpxi.sexp,chain.seq,acl,vpxid.conf} and starts the
 * VPXI's vpxid. desc is (vpxi ...), seq the user's chain. */
static int join(struct uctx *u, struct vpxi_sx *sx, const struct vpxi_sexp *desc,
                const struct vpxi_sexp *seq)
{
    char name[64], dir[1024], path[1200], kpath[1024], hs[64], ul[80], nn[64];
    const struct vpxi_sexp *regk = vpxi_sexp_find(desc, "registrar");
    struct vpxi_key *rk = NULL;
    struct vpxi_sexp *acl;
    uint8_t rh[16];
    char *conf = NULL;
    size_t conflen = 0;
    FILE *f;
    int r, port;
    pid_t pid;

    str_of(desc, "name", name, sizeof(name));
    if (state_dir(u, name, dir, sizeof(dir)) != 0)
        return CLI_FAIL;
    /* the registrar's key must be the registrar we asked */
    if (!regk || !(regk = vpxi_sexp_find(regk, "public-key")) ||
        vpxi_key_from_sexp(regk, &rk) != 0 || vpxi_hit_from_key(rk, rh) != 0 ||
        memcmp(rh, u->registrar, 16) != 0) {
        vpxi_key_put(rk);
        return cli_err("the VPXI description names another registrar's key: refused");
    }
    vpxi_key_put(rk);
    if ((r = file_mkdirs(dir, 0700)) != 0)
        return cli_err("%s: %s", dir, strerror(-r));
    snprintf(path, sizeof(path), "%s/vpxi.sexp", dir);
    if ((r = file_write_sexp(path, desc, VPXI_SEXP_ADVANCED, 0600)) != 0)
        return cli_err("%s: cannot write", path);
    snprintf(path, sizeof(path), "%s/chain.seq", dir);
    if ((r = file_write_sexp(path, seq, VPXI_SEXP_ADVANCED, 0600)) != 0)
        return cli_err("%s: cannot write", path);
    if ((r = vpxi_sexp_build(sx, &acl,
                             "(acl (entry (subject %S) (propagate) (tag (vpxi %s (*) member))))",
                             regk, name)) != 0)
        return cli_err_r(r, "ACL");
    snprintf(path, sizeof(path), "%s/acl", dir);
    if ((r = file_write_sexp(path, acl, VPXI_SEXP_ADVANCED, 0600)) != 0)
        return cli_err("%s: cannot write", path);
    if ((port = free_udp_port()) < 0)
        return cli_err("no free UDP port in 10501-10599 for the VPXI's vpxid");
    if (u->keyfile[0] == '/')
        snprintf(kpath, sizeof(kpath), "%s", u->keyfile);
    else if (getcwd(kpath, sizeof(kpath) - 256))
        snprintf(kpath + strlen(kpath), 256, "/%s", u->keyfile);
    if ((f = open_memstream(&conf, &conflen)) == NULL)
        return cli_err("out of memory");
    fprintf(f,
            "# written by 'vpxi up/join' for VPXI %s\n[daemon]\ncontrol = %s/vpxid.sock\nuser =\n\n"
            "[overlay %s]\nkey = %s\nacl = %s/acl\nchain = %s/chain.seq\ntun = vu%.12s\n"
            "listen = 0.0.0.0:%d\nrenew-check = 2s\ndh = p256\n",
            name, dir, name, kpath, dir, dir, name, port);
    for (const struct vpxi_sexp *e = desc->child->next; e; e = e->next) {
        if (!vpxi_sexp_head_is(e, "node"))
            continue;
        str_of(e, "name", nn, sizeof(nn));
        str_of(e, "hit", hs, sizeof(hs));
        str_of(e, "underlay", ul, sizeof(ul));
        if (!nn[0] || !strcmp(hs, "-") || !ul[0])
            continue;
        fprintf(f, "\n[peer %s %s]\nhit = %s\naddress = %s:10500\nlink = encrypt\n", name, nn, hs,
                ul);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/vpxid.conf", dir);
    r = file_write_atomic(path, conf, conflen, 0600);
    free(conf);
    if (r != 0)
        return cli_err("%s: %s", path, strerror(-r));
    /* start the VPXI's own vpxid, detached */
    if ((pid = fork()) < 0)
        return cli_err("fork: %s", strerror(errno));
    if (pid == 0) {
        char logp[1200], vpxid[1024] = "vpxid";
        const char *self = getenv("VPXI_VPXID");
        int fd;
        setsid();
        snprintf(logp, sizeof(logp), "%s/vpxid.log", dir);
        if ((fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if ((fd = open("/dev/null", O_RDONLY)) >= 0)
            dup2(fd, 0);
        if (self && *self)
            snprintf(vpxid, sizeof(vpxid), "%s", self);
        execlp(vpxid, vpxid, "-c", path, (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof(path), "%s/vpxid.pid", dir);
    {
        char pb[32];
        int n = snprintf(pb, sizeof(pb), "%d\n", (int)pid);
        (void)file_write_atomic(path, pb, (size_t)n, 0600);
    }
    return 0;
}

/* Waits until every node accepts a TCP connection on its exec port through
 * the VPXI's overlay. */
static int wait_nodes(const struct vpxi_sexp *desc, unsigned seconds, unsigned *up, unsigned *total)
{
    time_t end = time(NULL) + seconds;

    *total = 0;
    for (const struct vpxi_sexp *e = desc->child->next; e; e = e->next)
        if (vpxi_sexp_head_is(e, "node"))
            (*total)++;
    do {
        *up = 0;
        for (const struct vpxi_sexp *e = desc->child->next; e; e = e->next) {
            char hs[64];
            uint8_t h[16];
            int fd;
            if (!vpxi_sexp_head_is(e, "node") ||
                vpxi_hit_from_str(str_of(e, "hit", hs, sizeof(hs)), h))
                continue;
            if ((fd = svc_connect(h, SVC_PORT_EXEC, 500)) >= 0) {
                close(fd);
                (*up)++;
            }
        }
        if (*up == *total)
            return 0;
        {
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    } while (time(NULL) < end);
    return -1;
}

static void print_desc(const struct vpxi_sexp *desc)
{
    char name[64], st[32], nb[32], na[32], buf[6][80];
    const struct vpxi_sexp *v = vpxi_sexp_find(desc, "valid");

    printf("VPXI %s  (%s)  valid %s .. %s UTC\n", str_of(desc, "name", name, sizeof(name)),
           str_of(desc, "state", st, sizeof(st)), v ? str_of(v, "not-before", nb, sizeof(nb)) : "?",
           v ? str_of(v, "not-after", na, sizeof(na)) : "?");
    printf("  %-16s %-12s %-8s %-40s %-15s %s\n", "node", "group", "site", "HIT", "underlay",
           "image");
    for (const struct vpxi_sexp *e = desc->child->next; e; e = e->next)
        if (vpxi_sexp_head_is(e, "node"))
            printf("  %-16s %-12s %-8s %-40s %-15s %s\n", str_of(e, "name", buf[0], 80),
                   str_of(e, "group", buf[1], 80), str_of(e, "site", buf[2], 80),
                   str_of(e, "hit", buf[3], 80), str_of(e, "underlay", buf[4], 80),
                   str_of(e, "image", buf[5], 80));
}

/* ---- commands ---------------------------------------------------------------------------- */

static int do_enroll(struct uctx *u, struct vpxi_sx *sx)
{
    struct vpxi_sexp *req;
    struct vpxi_msg rep;
    char st[32];

    if (!u->name || !u->agree)
        return cli_err(
            "enroll needs --name NAME and --agree VERSION (the usage agreement you accept)");
    if (request(u, sx, "enroll", &req) != 0)
        return CLI_FAIL;
    add_arg(sx, req, "name", u->name);
    add_arg(sx, req, "agreement", u->agree);
    if (u->contact)
        add_arg(sx, req, "contact", u->contact);
    if (reg_call(u, sx, req, &rep) != 0)
        return CLI_FAIL;
    if (cli_opts.json) {
        json_value(vpxi_msg_get(&rep, "user"));
        putchar('\n');
    } else {
        printf("enrolled: %s\n", str_of(vpxi_msg_get(&rep, "user"), "status", st, sizeof(st)));
    }
    return 0;
}

static int do_up(struct uctx *u, struct vpxi_sx *sx, const char *specfile)
{
    struct vpxi_spec *spec = NULL;
    struct vpxi_sexp *req, *x;
    struct vpxi_msg rep;
    const struct vpxi_sexp *desc, *seq;
    uint8_t *text;
    size_t len;
    char err[8192];
    unsigned up, total;
    struct timespec t0, t1;
    int r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((r = cli_read_file(specfile, &text, &len, VPXI_SPEC_FILE_MAX)) != 0)
        return cli_err_r(r, "%s", specfile);
    /* report every error of the file here, before asking anything */
    if ((r = vpxi_spec_parse((const char *)text, len, specfile, cli_now(), &spec, err,
                             sizeof(err))) != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        free(text);
        return cli_err("%s: specification refused, nothing created", specfile);
    }
    vpxi_spec_free(spec);
    if (request(u, sx, "create-vpxi", &req) != 0 ||
        vpxi_sexp_build(sx, &x, "(spec %b)", text, len) != 0) {
        free(text);
        return CLI_FAIL;
    }
    free(text);
    vpxi_sexp_append(req, x);
    if (reg_call(u, sx, req, &rep) != 0)
        return CLI_FAIL;
    if ((desc = vpxi_msg_get(&rep, "vpxi")) == NULL ||
        (seq = vpxi_msg_get(&rep, "sequence")) == NULL)
        return cli_err("the registrar's answer has no VPXI description or chain");
    if (join(u, sx, desc, seq) != 0)
        return CLI_FAIL;
    if (!u->no_wait && wait_nodes(desc, UP_WAIT_S, &up, &total) != 0)
        return cli_err("only %u of %u nodes answer through the overlay after %d s", up, total,
                       UP_WAIT_S);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (cli_opts.json) {
        json_value(desc);
        putchar('\n');
    } else {
        print_desc(desc);
        printf("up in %.1f s; your chain: %s/%s/chain.seq\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, u->state,
               str_of(desc, "name", err, 64));
    }
    return 0;
}

static int do_ls_show(struct uctx *u, struct vpxi_sx *sx, const char *name)
{
    struct vpxi_sexp *req;
    struct vpxi_msg rep;

    if (request(u, sx, name ? "show" : "list", &req) != 0)
        return CLI_FAIL;
    if (name)
        add_arg(sx, req, "vpxi", name);
    if (reg_call(u, sx, req, &rep) != 0)
        return CLI_FAIL;
    if (cli_opts.json) {
        bool first = true;
        printf("%s", name ? "" : "[");
        for (const struct vpxi_sexp *e = rep.root->child->next; e; e = e->next)
            if (vpxi_sexp_head_is(e, "vpxi")) {
                printf("%s", first ? "" : ",");
                first = false;
                json_value(e);
            }
        printf("%s\n", name ? "" : "]");
        return 0;
    }
    for (const struct vpxi_sexp *e = rep.root->child->next; e; e = e->next)
        if (vpxi_sexp_head_is(e, "vpxi")) {
            print_desc(e);
            if (name) {
                char dir[1024], path[1100];
                struct vpxi_sexp *seqn;
                struct vpxi_seq *seq;
                if (state_dir(u, name, dir, sizeof(dir)) == 0) {
                    snprintf(path, sizeof(path), "%s/chain.seq", dir);
                    if (access(path, R_OK) == 0 && cli_read_sexp(sx, path, NULL, &seqn) == 0 &&
                        vpxi_seq_parse(sx, seqn, &seq) == 0) {
                        printf("  your chain (%s):\n", path);
                        for (size_t i = 0; i < seq->ncerts; i++) {
                            char na[VPXI_DATE_LEN + 1] = "never";
                            struct vpxi_wr w;
                            char tb[512];
                            if (seq->certs[i]->valid.not_after != VPXI_TIME_MAX)
                                vpxi_date_format(seq->certs[i]->valid.not_after, na);
                            vpxi_wr_init(&w, tb, sizeof(tb) - 1);
                            if (vpxi_sexp_write_compact(seq->certs[i]->tag, &w) != 0 || w.err)
                                w.len = 0;
                            tb[w.len] = 0;
                            printf("    %zu. %s%s, expires %s UTC\n", i + 1, tb,
                                   seq->certs[i]->propagate ? " (may delegate)" : "", na);
                        }
                    }
                }
            }
        }
    return 0;
}

static void stop_local(struct uctx *u, const char *name)
{
    char dir[1024], path[1100], buf[32];
    FILE *f;

    if (state_dir(u, name, dir, sizeof(dir)) != 0)
        return;
    snprintf(path, sizeof(path), "%s/vpxid.pid", dir);
    if ((f = fopen(path, "re")) != NULL) {
        if (fgets(buf, sizeof(buf), f)) {
            pid_t pid = (pid_t)atoi(buf);
            if (pid > 1 && kill(pid, SIGTERM) == 0)
                for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
                    usleep(50000);
        }
        fclose(f);
    }
    {
        const char *files[] = { "vpxid.pid", "vpxid.conf", "acl",
                                "chain.seq", "vpxi.sexp",  "vpxid.log" };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
}

static int do_down(struct uctx *u, struct vpxi_sx *sx, const char *name)
{
    struct vpxi_sexp *req;
    struct vpxi_msg rep;

    if (request(u, sx, "end-vpxi", &req) != 0)
        return CLI_FAIL;
    add_arg(sx, req, "vpxi", name);
    if (reg_call(u, sx, req, &rep) != 0)
        return CLI_FAIL;
    stop_local(u, name);
    if (cli_opts.json) {
        printf("{\"ended\":");
        cli_json_str(name);
        printf("}\n");
    } else if (!cli_opts.quiet) {
        printf("VPXI %s ended; its nodes are destroyed\n", name);
    }
    return 0;
}

static int do_user_add(struct uctx *u, struct vpxi_sx *sx, const char *name, const char *pubfile)
{
    struct vpxi_key *u2 = NULL;
    struct vpxi_sexp *req, *x, *pub, *mine, *both;
    const struct vpxi_sexp *theirs;
    struct vpxi_msg rep;
    struct vpxi_cert_params p = { 0 };
    struct vpxi_seq *ps;
    int r;

    if (!u->out)
        return cli_err("user add needs -o FILE: where to write the new user's chain");
    if ((r = vpxi_key_load(pubfile, &u2)) != 0)
        return cli_err_r(r, "%s", pubfile);
    if (request(u, sx, "add-user", &req) != 0 || vpxi_key_to_sexp(sx, u2, &pub) != 0 ||
        vpxi_sexp_build(sx, &x, "(user %S)", pub) != 0)
        goto fail;
    vpxi_sexp_append(req, x);
    add_arg(sx, req, "vpxi", name);
    if (reg_call(u, sx, req, &rep) != 0)
        goto fail;
    if ((theirs = vpxi_msg_get(&rep, "sequence")) == NULL || vpxi_seq_parse(sx, theirs, &ps) != 0 ||
        ps->ncerts != 1 || !ps->certs[0]->propagate) {
        cli_err("the registrar's answer is not one delegable certificate");
        goto fail;
    }
    /* our own, non-delegable, to the new user: the tag and validity of the delegation */
    p.issuer = u->key;
    p.subject_key = u2;
    p.subject_as_hash = true; /* U2 shows its key in the HIP exchange */
    p.propagate = false;
    p.tag = ps->certs[0]->tag;
    p.valid = ps->certs[0]->valid;
    if ((r = vpxi_cert_issue(sx, &p, &mine)) != 0) {
        cli_err_r(r, "certificate to the new user");
        goto fail;
    }
    if ((r = vpxi_sexp_build(sx, &both, "(sequence)")) != 0)
        goto fail;
    for (const struct vpxi_sexp *e = theirs->child->next; e; e = e->next)
        vpxi_sexp_append(both, vpxi_sexp_copy(sx, e));
    for (const struct vpxi_sexp *e = mine->child->next; e; e = e->next)
        vpxi_sexp_append(both, vpxi_sexp_copy(sx, e));
    if (cli_write_sexp(u->out, both, VPXI_SEXP_ADVANCED, true) != 0)
        goto fail;
    vpxi_key_put(u2);
    if (cli_opts.json) {
        printf("{\"vpxi\":");
        cli_json_str(name);
        printf(",\"chain\":");
        cli_json_str(u->out);
        printf("}\n");
    } else if (!cli_opts.quiet) {
        printf("user added to %s; give %s to the new user (vpxi join %s --chain FILE)\n", name,
               u->out, name);
    }
    return 0;
fail:
    vpxi_key_put(u2);
    return CLI_FAIL;
}

static int do_join(struct uctx *u, struct vpxi_sx *sx, const char *name)
{
    struct vpxi_sexp *req, *seq;
    struct vpxi_msg rep;
    const struct vpxi_sexp *desc;
    unsigned up, total;

    if (!u->chain)
        return cli_err("join needs --chain FILE (from the VPXI's owner)");
    if (cli_read_sexp(sx, u->chain, NULL, &seq) != 0)
        return CLI_FAIL;
    if (request(u, sx, "show", &req) != 0)
        return CLI_FAIL;
    add_arg(sx, req, "vpxi", name);
    if (reg_call(u, sx, req, &rep) != 0)
        return CLI_FAIL;
    if ((desc = vpxi_msg_get(&rep, "vpxi")) == NULL)
        return cli_err("no VPXI description in the answer");
    if (join(u, sx, desc, seq) != 0)
        return CLI_FAIL;
    if (!u->no_wait && wait_nodes(desc, UP_WAIT_S, &up, &total) != 0)
        return cli_err("only %u of %u nodes answer through the overlay", up, total);
    if (cli_opts.json)
        printf("{\"joined\":\"%s\",\"nodes\":%u}\n", name, total);
    else if (!cli_opts.quiet)
        printf("joined %s: %u nodes reachable\n", name, total);
    return 0;
}

/* NODE (a name in a joined VPXI, or a HIT) -> HIT and the VPXI's state dir. */
static int resolve_node(struct uctx *u, struct vpxi_sx *sx, const char *node, uint8_t hit[16],
                        char *dir, size_t dlen)
{
    DIR *d;

    if (vpxi_hit_from_str(node, hit) == 0 && !u->vpxi)
        return cli_err("give --vpxi NAME with a HIT");
    if (u->vpxi) {
        char path[1200];
        struct vpxi_sexp *desc;
        if (state_dir(u, u->vpxi, dir, dlen) != 0)
            return CLI_FAIL;
        if (vpxi_hit_from_str(node, hit) == 0)
            return 0;
        snprintf(path, sizeof(path), "%s/vpxi.sexp", dir);
        if (cli_read_sexp(sx, path, NULL, &desc) != 0)
            return cli_err("VPXI %s is not joined here (no %s)", u->vpxi, path);
        for (const struct vpxi_sexp *e = desc->child->next; e; e = e->next) {
            char nn[64], hs[64];
            if (vpxi_sexp_head_is(e, "node") && !strcmp(str_of(e, "name", nn, sizeof(nn)), node) &&
                vpxi_hit_from_str(str_of(e, "hit", hs, sizeof(hs)), hit) == 0)
                return 0;
        }
        return cli_err("VPXI %s has no node %s", u->vpxi, node);
    }
    /* no --vpxi: the only joined VPXI */
    if ((d = opendir(u->state)) == NULL)
        return cli_err("no joined VPXI in %s: give --vpxi NAME", u->state);
    {
        struct dirent *de;
        char only[256] = "";
        int n = 0;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.' && strlen(de->d_name) < sizeof(only)) {
                snprintf(only, sizeof(only), "%s", de->d_name);
                n++;
            }
        closedir(d);
        if (n != 1)
            return cli_err("%d VPXIs joined here: give --vpxi NAME", n);
        u->vpxi = vpxi_sx_alloc(sx, strlen(only) + 1);
        if (!u->vpxi)
            return CLI_FAIL;
        memcpy((char *)u->vpxi, only, strlen(only) + 1);
    }
    return resolve_node(u, sx, node, hit, dir, dlen);
}

static int do_exec(struct uctx *u, struct vpxi_sx *sx, const char *node, char **cmd, int ncmd)
{
    uint8_t hit[16];
    char dir[1024], path[1200], id[24], code[32];
    struct vpxi_sexp *req, *x, *seq, *pub;
    struct vpxi_msg rep;
    const struct vpxi_sexp *e;
    long st = 1;
    int r;

    if (resolve_node(u, sx, node, hit, dir, sizeof(dir)) != 0)
        return CLI_FAIL;
    snprintf(path, sizeof(path), "%s/chain.seq", dir);
    if (cli_read_sexp(sx, path, NULL, &seq) != 0)
        return CLI_FAIL;
    svc_next_id(id);
    if ((r = vpxi_msg_request(sx, id, "exec", &req)) != 0 ||
        (r = vpxi_key_to_sexp(sx, u->key, &pub)) != 0 ||
        (r = vpxi_sexp_build(sx, &x, "(argv)")) != 0)
        return cli_err_r(r, "request");
    vpxi_sexp_append(req, pub);
    vpxi_sexp_append(req, seq);
    for (int i = 0; i < ncmd; i++)
        vpxi_sexp_append(x, vpxi_sexp_atom_str(sx, cmd[i]));
    vpxi_sexp_append(req, x);
    {
        char t[16];
        snprintf(t, sizeof(t), "%u", u->timeout);
        add_arg(sx, req, "timeout", t);
    }
    if (!isatty(STDIN_FILENO)) {
        uint8_t *in;
        size_t len;
        if (cli_read_file("-", &in, &len, 16 << 20) == 0) {
            if (len && vpxi_sexp_build(sx, &x, "(stdin %b)", in, len) == 0)
                vpxi_sexp_append(req, x);
            free(in);
        }
    }
    if ((r = svc_call(hit, SVC_PORT_EXEC, sx, req, &rep, (int)(u->timeout + 30) * 1000)) != 0)
        return cli_err("node %s unreachable over the VPXI: %s", node, svc_strerror(r));
    if (!rep.ok) {
        char msg[1024] = "";
        if (rep.message)
            if (vpxi_sexp_get_str(rep.message, msg, sizeof(msg)) != 0)
                msg[0] = 0;
        return cli_err("node %s refused: %s (%s)", node, msg, rep.code);
    }
    str_of(rep.root, "exit", code, sizeof(code));
    st = strtol(code, NULL, 10);
    if (cli_opts.json) {
        /* {"exit":N,"stdout":"...","stderr":"..."}: the outputs as strings */
        printf("{\"exit\":%ld", st);
        for (int k = 0; k < 2; k++) {
            const char *key = k ? "stderr" : "stdout";
            char *text;
            printf(",\"%s\":", key);
            if ((e = vpxi_msg_get(&rep, key)) && e->len == 2 &&
                (text = vpxi_sx_alloc(sx, e->child->next->len + 1)) != NULL) {
                memcpy(text, e->child->next->data, e->child->next->len);
                text[e->child->next->len] = 0;
                cli_json_str(text);
            } else {
                printf("\"\"");
            }
        }
        printf("}\n");
        return st < 0 ? 128 + (int)-st : (int)st;
    }
    if ((e = vpxi_msg_get(&rep, "stdout")) && e->len == 2)
        fwrite(e->child->next->data, 1, e->child->next->len, stdout);
    if ((e = vpxi_msg_get(&rep, "stderr")) && e->len == 2)
        fwrite(e->child->next->data, 1, e->child->next->len, stderr);
    if ((e = vpxi_msg_get(&rep, "note")) && e->len == 2) {
        char note[256];
        if (vpxi_sexp_get_str(e->child->next, note, sizeof(note)) == 0)
            fprintf(stderr, "%s: %s\n", cli_prog, note);
    }
    fflush(stdout);
    return st < 0 ? 128 + (int)-st : (int)st;
}

int cmd_vpxi(int argc, char **argv)
{
    static const char usage[] =
        "enroll|up|ls|show|down|user|join|exec ... (see 'vpxi help' and docs/cli.md)\n";
    const char *cmd = argv[0];
    struct uctx u = { 0 };
    struct vpxi_sx *sx = vpxi_sx_new();
    int first, r = CLI_FAIL, nargs;
    char **args;

    if (!sx)
        return cli_err("out of memory");
    first = parse_common(argc, argv, &u, usage);
    if (first == -2) {
        vpxi_sx_free(sx);
        return CLI_OK;
    }
    if (first < 0) {
        vpxi_sx_free(sx);
        return CLI_USAGE;
    }
    args = argv + first;
    nargs = argc - first;
    if (load_key(&u) != 0)
        goto out;
    if (strcmp(cmd, "exec") != 0 && need_registrar(&u) != 0)
        goto out;
    if (!strcmp(cmd, "enroll") && nargs == 0)
        r = do_enroll(&u, sx);
    else if (!strcmp(cmd, "up") && nargs == 1)
        r = do_up(&u, sx, args[0]);
    else if (!strcmp(cmd, "ls") && nargs == 0)
        r = do_ls_show(&u, sx, NULL);
    else if (!strcmp(cmd, "show") && nargs == 1)
        r = do_ls_show(&u, sx, args[0]);
    else if (!strcmp(cmd, "down") && nargs == 1)
        r = do_down(&u, sx, args[0]);
    else if (!strcmp(cmd, "user") && nargs == 3 && !strcmp(args[0], "add"))
        r = do_user_add(&u, sx, args[1], args[2]);
    else if (!strcmp(cmd, "join") && nargs == 1)
        r = do_join(&u, sx, args[0]);
    else if (!strcmp(cmd, "exec") && nargs >= 2) {
        int dash = !strcmp(args[1], "--") ? 2 : 1;
        if (nargs - dash < 1)
            r = cli_usage("exec [--vpxi NAME] NODE -- CMD [ARG...]\n");
        else
            r = do_exec(&u, sx, args[0], args + dash, nargs - dash);
    } else
        r = cli_usage(usage);
out:
    vpxi_key_put(u.key);
    vpxi_sx_free(sx);
    return r;
}
