/*
 * cmd_cert.c - vpxi cert: issue, show, verify, reduce, join SPKI
 * certificates, and build ACL entries.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

#include "cli.h"

static const char usage[] =
    "cert COMMAND ...\n"
    "\n"
    "  issue  --issuer KEYFILE (--subject PUBFILE | --subject-sexp SEXP) --tag SEXP\n"
    "         [--propagate] [--not-before TIME] [--not-after TIME] [--comment TEXT]\n"
    "         [--subject-hash] [--issuer-hash] [-s FORM] [--force] -o CERTFILE\n"
    "         Issue a certificate signed by KEYFILE; the output is a sequence\n"
    "         holding the certificate and its signature.\n"
    "  show   [--json] FILE...        Print certificates readably.\n"
    "  verify FILE...                 Check every signature; exit 1 on any failure.\n"
    "  reduce --acl ACLFILE [--tag SEXP] [--subject PUBFILE] [--at TIME] [--json] FILE...\n"
    "         Reduce the certificates against the ACL; print the 5-tuple and exit 0\n"
    "         only if the chain authorizes now (and grants --tag, when given).\n"
    "  join   [-s FORM] [--force] -o OUT FILE...  Concatenate sequences into one.\n"
    "  acl    (--subject PUBFILE | --subject-sexp SEXP) --tag SEXP [--propagate]\n"
    "         [--not-before TIME] [--not-after TIME] [--comment TEXT] [--append]\n"
    "         [-s FORM] [--force] -o ACLFILE\n"
    "         Write (or append to) an ACL with one entry for the subject.\n"
    "\n"
    "TIME is an SPKI date YYYY-MM-DD_HH:MM:SS (UTC), 'now', or relative to now:\n"
    "+2h, -1d, +30m, +90s, +1w. FORM is canonical, advanced or transport\n"
    "(default advanced). Input files may be in any of the three forms.\n";

/* Options shared by issue and acl. */
enum {
    OPT_ISSUER = 256,
    OPT_SUBJECT,
    OPT_SUBJECT_SEXP,
    OPT_TAG,
    OPT_PROPAGATE,
    OPT_NB,
    OPT_NA,
    OPT_COMMENT,
    OPT_SUBJECT_HASH,
    OPT_ISSUER_HASH,
    OPT_FORCE,
    OPT_ACL,
    OPT_AT,
    OPT_JSON,
    OPT_APPEND,
};

static const struct option long_opts[] = {
    { "issuer", required_argument, NULL, OPT_ISSUER },
    { "subject", required_argument, NULL, OPT_SUBJECT },
    { "subject-sexp", required_argument, NULL, OPT_SUBJECT_SEXP },
    { "tag", required_argument, NULL, OPT_TAG },
    { "propagate", no_argument, NULL, OPT_PROPAGATE },
    { "not-before", required_argument, NULL, OPT_NB },
    { "not-after", required_argument, NULL, OPT_NA },
    { "comment", required_argument, NULL, OPT_COMMENT },
    { "subject-hash", no_argument, NULL, OPT_SUBJECT_HASH },
    { "issuer-hash", no_argument, NULL, OPT_ISSUER_HASH },
    { "force", no_argument, NULL, OPT_FORCE },
    { "acl", required_argument, NULL, OPT_ACL },
    { "at", required_argument, NULL, OPT_AT },
    { "json", no_argument, NULL, OPT_JSON },
    { "append", no_argument, NULL, OPT_APPEND },
    { "syntax", required_argument, NULL, 's' },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct cert_args {
    const char *issuer, *subject, *subject_sexp, *tag, *nb, *na, *comment, *out, *acl, *at;
    bool propagate, subject_hash, issuer_hash, force, append;
    enum vpxi_sexp_form form;
    int nfiles;
    char **files;
};

static int parse_args(int argc, char **argv, struct cert_args *a)
{
    int c;

    memset(a, 0, sizeof(*a));
    a->form = VPXI_SEXP_ADVANCED;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_ISSUER: a->issuer = optarg; break;
        case OPT_SUBJECT: a->subject = optarg; break;
        case OPT_SUBJECT_SEXP: a->subject_sexp = optarg; break;
        case OPT_TAG: a->tag = optarg; break;
        case OPT_PROPAGATE: a->propagate = true; break;
        case OPT_NB: a->nb = optarg; break;
        case OPT_NA: a->na = optarg; break;
        case OPT_COMMENT: a->comment = optarg; break;
        case OPT_SUBJECT_HASH: a->subject_hash = true; break;
        case OPT_ISSUER_HASH: a->issuer_hash = true; break;
        case OPT_FORCE: a->force = true; break;
        case OPT_ACL: a->acl = optarg; break;
        case OPT_AT: a->at = optarg; break;
        case OPT_JSON: cli_opts.json = true; break;
        case OPT_APPEND: a->append = true; break;
        case 'o': a->out = optarg; break;
        case 's':
            if ((a->form = cli_parse_form(optarg)) == 0)
                return cli_err("unknown form '%s' (canonical, advanced, transport)", optarg),
                       CLI_USAGE;
            break;
        case 'h': printf("usage: %s %s", cli_prog, usage); exit(CLI_OK);
        default: return CLI_USAGE;
        }
    }
    a->nfiles = argc - optind;
    a->files = argv + optind;
    return 0;
}

static int parse_time_opt(const char *what, const char *s, int64_t *t)
{
    if (vpxi_time_parse(s, cli_now(), t) != 0) {
        cli_err("%s '%s': expected YYYY-MM-DD_HH:MM:SS, now, or +N[smhdw] / -N[smhdw]", what, s);
        return CLI_USAGE;
    }
    return 0;
}

static int read_validity(const struct cert_args *a, struct vpxi_validity *v)
{
    v->not_before = VPXI_TIME_MIN;
    v->not_after = VPXI_TIME_MAX;
    if (a->nb && parse_time_opt("--not-before", a->nb, &v->not_before))
        return CLI_USAGE;
    if (a->na && parse_time_opt("--not-after", a->na, &v->not_after))
        return CLI_USAGE;
    if (v->not_before > v->not_after)
        return cli_err("--not-before is later than --not-after");
    return 0;
}

static int load_key(const char *path, bool priv, struct vpxi_key **k)
{
    int r = priv ? vpxi_key_load_private(path, k) : vpxi_key_load(path, k);

    if (r == VPXI_ERR_KEY_PERMS)
        return cli_err("%s: private key file is accessible by group or others; "
                       "run: chmod 600 %s",
                       path, path);
    if (r == VPXI_ERR_UNSUPPORTED)
        return cli_err("%s: unsupported key (vpxi reads unencrypted PKCS#8 PEM and SPKI "
                       "public keys: ECDSA P-256, Ed25519, RSA)",
                       path);
    if (r == VPXI_ERR_BAD_KEY && priv)
        return cli_err("%s: not a private key (the issuer signs: give its private key file)", path);
    if (r)
        return cli_err_r(r, "%s", path);
    return 0;
}

static int read_tag(struct vpxi_sx *sx, const char *text, struct vpxi_sexp **tag)
{
    int r;

    if (cli_parse_sexp_arg(sx, "--tag", text, tag))
        return CLI_FAIL;
    /* accept both "(tag X)" and plain "X" */
    if (vpxi_sexp_head_is(*tag, "tag") && (*tag)->len == 2)
        *tag = (*tag)->child->next;
    if ((r = vpxi_tag_check(*tag)) != 0)
        return cli_err_r(r, "--tag '%s'", text);
    return 0;
}

/* ---- issue ---------------------------------------------------------------------- */

static int cmd_issue(int argc, char **argv)
{
    struct cert_args a;
    struct vpxi_cert_params p = { 0 };
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *tag, *seq, *subj = NULL;
    int r;

    if ((r = parse_args(argc, argv, &a)) != 0)
        goto usage;
    if (!a.issuer || !a.tag || !a.out || (!a.subject == !a.subject_sexp) || a.nfiles) {
        r = CLI_USAGE;
        goto usage;
    }
    if (!sx) {
        r = cli_err_r(VPXI_ERR_NOMEM, "issue");
        goto out;
    }
    if ((r = read_tag(sx, a.tag, &tag)) || (r = read_validity(&a, &p.valid)) ||
        (r = load_key(a.issuer, true, &p.issuer)))
        goto out;
    if (a.subject && (r = load_key(a.subject, false, &p.subject_key)))
        goto out;
    if (a.subject_sexp && (r = cli_parse_sexp_arg(sx, "--subject-sexp", a.subject_sexp, &subj)))
        goto out;
    p.subject = subj;
    p.tag = tag;
    p.propagate = a.propagate;
    p.subject_as_hash = a.subject_hash;
    p.issuer_as_hash = a.issuer_hash;
    p.comment = a.comment;
    if ((r = vpxi_cert_issue(sx, &p, &seq)) != 0) {
        r = cli_err_r(r, "issue");
        goto out;
    }
    if ((r = cli_write_sexp(a.out, seq, a.form, a.force)) != 0) {
        r = r == VPXI_ERR_EXISTS ? cli_err("%s exists (use --force to replace it)", a.out)
                                 : cli_err_r(r, "%s", a.out);
        goto out;
    }
    r = CLI_OK;
out:
    vpxi_key_put(p.issuer);
    vpxi_key_put(p.subject_key);
    vpxi_sx_free(sx);
    return r;
usage:
    vpxi_sx_free(sx);
    return r == CLI_USAGE ? cli_usage(usage) : r;
}

/* ---- reading chains --------------------------------------------------------------- */

/* Reads and merges the sequences in files into one. */
static int read_chain(struct vpxi_sx *sx, int nfiles, char **files, struct vpxi_seq **seq)
{
    struct vpxi_seq *one;
    struct vpxi_sexp *n;
    int r;

    *seq = NULL;
    for (int i = 0; i < nfiles; i++) {
        if ((r = cli_read_sexp(sx, files[i], NULL, &n)) != 0)
            return r;
        if ((r = vpxi_seq_parse(sx, n, &one)) != 0)
            return cli_err_r(r, "%s: not a certificate sequence", files[i]);
        if (!*seq)
            *seq = one;
        else if ((r = vpxi_seq_merge(sx, *seq, one)) != 0)
            return cli_err_r(r, "%s", files[i]);
    }
    return 0;
}

static void principal_text(const struct vpxi_principal *p, char *buf, size_t cap)
{
    char id[17];

    vpxi_principal_short(p, id);
    if (p->kind == VPXI_PRINCIPAL_KEY) {
        uint8_t hit[VPXI_HIT_LEN];
        char hs[VPXI_HIT_STRLEN];
        struct vpxi_key *k;
        if (vpxi_principal_get_key(p, NULL, 0, NULL, &k) == 0 && vpxi_hit_from_key(k, hit) == 0) {
            vpxi_hit_to_str(hit, hs);
            snprintf(buf, cap, "key %s (%s, HIT %s)", id, vpxi_key_alg_name(vpxi_key_alg(k)), hs);
            return;
        }
        snprintf(buf, cap, "key %s", id);
        return;
    }
    snprintf(buf, cap, "hash %s %s...", vpxi_hash_name(p->hash_alg), id);
}

static void subject_text(const struct vpxi_subject *s, char *buf, size_t cap)
{
    struct vpxi_wr w;

    if (s->kind == VPXI_SUBJECT_PRINCIPAL) {
        principal_text(&s->p, buf, cap);
        return;
    }
    vpxi_wr_init(&w, buf, cap - 1);
    vpxi_wr_printf(&w, "%u of %u:", s->k, s->n);
    for (unsigned i = 0; i < s->n && !w.err; i++) {
        char sub[160];
        subject_text(&s->subs[i], sub, sizeof(sub));
        vpxi_wr_printf(&w, " [%s]", sub);
    }
    buf[w.err ? 0 : w.len] = 0;
}

static void sexp_text(const struct vpxi_sexp *n, char *buf, size_t cap)
{
    struct vpxi_wr w;

    vpxi_wr_init(&w, buf, cap - 1);
    vpxi_sexp_write_compact(n, &w);
    buf[w.err ? 0 : w.len] = 0;
    if (w.err)
        snprintf(buf, cap, "(too long to show)");
}

static void validity_text(const struct vpxi_validity *v, int64_t now, char *buf, size_t cap)
{
    char nb[VPXI_DATE_LEN + 1] = "-", na[VPXI_DATE_LEN + 1] = "-", rel[64] = "";

    if (v->not_before != VPXI_TIME_MIN)
        vpxi_date_format(v->not_before, nb);
    if (v->not_after != VPXI_TIME_MAX) {
        int64_t d = v->not_after - now;
        vpxi_date_format(v->not_after, na);
        if (d >= 0)
            snprintf(rel, sizeof(rel), " (expires in %lldh%02lldm%02llds)", (long long)(d / 3600),
                     (long long)(d % 3600 / 60), (long long)(d % 60));
        else
            snprintf(rel, sizeof(rel), " (EXPIRED %lld s ago)", (long long)-d);
    }
    if (v->not_before != VPXI_TIME_MIN && now < v->not_before)
        snprintf(rel, sizeof(rel), " (NOT YET VALID for %lld s)", (long long)(v->not_before - now));
    snprintf(buf, cap, "%s .. %s%s", nb, na, rel);
}

/* ---- show and verify ---------------------------------------------------------------- */

static void json_validity(const struct vpxi_validity *v)
{
    char d[VPXI_DATE_LEN + 1];

    printf("{\"not_before\":");
    if (v->not_before == VPXI_TIME_MIN) {
        printf("null");
    } else {
        vpxi_date_format(v->not_before, d);
        cli_json_str(d);
    }
    printf(",\"not_after\":");
    if (v->not_after == VPXI_TIME_MAX) {
        printf("null");
    } else {
        vpxi_date_format(v->not_after, d);
        cli_json_str(d);
    }
    printf("}");
}

static void show_cert(struct vpxi_cert *c, size_t idx, struct vpxi_seq *seq, int64_t now,
                      bool first)
{
    char iss[256], sub[1024], tag[1024], val[128];
    int v = vpxi_cert_verify(c, seq->keys, seq->nkeys, NULL);

    principal_text(&c->issuer, iss, sizeof(iss));
    subject_text(&c->subject, sub, sizeof(sub));
    sexp_text(c->tag, tag, sizeof(tag));
    validity_text(&c->valid, now, val, sizeof(val));
    if (cli_opts.json) {
        printf("%s{\"index\":%zu,\"issuer\":", first ? "" : ",", idx + 1);
        cli_json_str(iss);
        printf(",\"subject\":");
        cli_json_str(sub);
        printf(",\"propagate\":%s,\"tag\":", c->propagate ? "true" : "false");
        cli_json_str(tag);
        printf(",\"valid\":");
        json_validity(&c->valid);
        printf(",\"signature\":");
        cli_json_str(v == 0 ? "ok" : vpxi_errname(v));
        printf("}");
        return;
    }
    printf("certificate %zu\n", idx + 1);
    printf("  issuer:    %s\n", iss);
    printf("  subject:   %s\n", sub);
    printf("  propagate: %s\n", c->propagate ? "yes (may delegate)" : "no");
    printf("  tag:       %s\n", tag);
    printf("  valid:     %s\n", val);
    if (c->comment)
        printf("  comment:   %.*s\n", (int)c->comment->len, (const char *)c->comment->data);
    printf("  signature: %s\n", v == 0 ? "good" : vpxi_strerror(v));
}

static int cmd_show(int argc, char **argv)
{
    struct cert_args a;
    struct vpxi_sx *sx;
    struct vpxi_seq *seq;
    int r;

    if ((r = parse_args(argc, argv, &a)) != 0 || a.nfiles == 0)
        return cli_usage(usage);
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "show");
    if ((r = read_chain(sx, a.nfiles, a.files, &seq)) == 0) {
        if (cli_opts.json)
            printf("[");
        for (size_t i = 0; i < seq->ncerts; i++)
            show_cert(seq->certs[i], i, seq, cli_now(), i == 0);
        if (cli_opts.json)
            printf("]\n");
    }
    vpxi_sx_free(sx);
    return r;
}

static int cmd_verify(int argc, char **argv)
{
    struct cert_args a;
    int r, bad = 0;

    if ((r = parse_args(argc, argv, &a)) != 0 || a.nfiles == 0)
        return cli_usage(usage);
    for (int f = 0; f < a.nfiles; f++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_seq *seq;

        if (!sx)
            return cli_err_r(VPXI_ERR_NOMEM, "verify");
        if (read_chain(sx, 1, &a.files[f], &seq) != 0) {
            bad++;
            vpxi_sx_free(sx);
            continue;
        }
        for (size_t i = 0; i < seq->ncerts; i++) {
            int v = vpxi_cert_verify(seq->certs[i], seq->keys, seq->nkeys, NULL);
            if (v)
                bad++;
            if (v || !cli_opts.quiet)
                printf("%s: certificate %zu: %s\n", a.files[f], i + 1,
                       v == 0 ? "signature good" : vpxi_strerror(v));
        }
        if (seq->ncerts == 0) {
            printf("%s: no certificates\n", a.files[f]);
            bad++;
        }
        vpxi_sx_free(sx);
    }
    return bad ? CLI_FAIL : CLI_OK;
}

/* ---- reduce ----------------------------------------------------------------------- */

static void print_tuple(const struct vpxi_reduce_result *res, const struct vpxi_seq *seq,
                        int64_t now)
{
    char sub[256], tag[1024], val[160];

    principal_text(res->tuple.subject, sub, sizeof(sub));
    sexp_text(res->tuple.tag, tag, sizeof(tag));
    validity_text(&res->tuple.valid, now, val, sizeof(val));
    if (cli_opts.json) {
        printf("{\"authorized\":true,\"issuer\":\"Self\",\"subject\":");
        cli_json_str(sub);
        printf(",\"propagate\":%s,\"tag\":", res->tuple.propagate ? "true" : "false");
        cli_json_str(tag);
        printf(",\"valid\":");
        json_validity(&res->tuple.valid);
        printf(",\"acl_entry\":%d,\"path\":[", res->entry + 1);
        for (size_t i = 0; i < res->nused; i++)
            printf("%s%zu", i ? "," : "", res->used[i] + 1);
        printf("]}\n");
        return;
    }
    printf("5-tuple (authorized)\n");
    printf("  issuer:    Self\n");
    printf("  subject:   %s\n", sub);
    printf("  propagate: %s\n", res->tuple.propagate ? "yes" : "no");
    printf("  tag:       %s\n", tag);
    printf("  valid:     %s\n", val);
    printf("  path:      ACL entry %d", res->entry + 1);
    for (size_t i = 0; i < res->nused; i++)
        printf(" -> certificate %zu", res->used[i] + 1);
    printf("\n");
    (void)seq;
}

static int cmd_reduce(int argc, char **argv)
{
    struct cert_args a;
    struct vpxi_sx *sx;
    struct vpxi_sexp *acl_node, *want = NULL;
    struct vpxi_acl *acl;
    struct vpxi_seq *seq = NULL;
    struct vpxi_principal subj;
    struct vpxi_key *sk = NULL;
    struct vpxi_reduce_req req = { 0 };
    struct vpxi_reduce_result res;
    int64_t now = cli_now();
    int r;

    if ((r = parse_args(argc, argv, &a)) != 0 || !a.acl || a.nfiles == 0)
        return cli_usage(usage);
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "reduce");
    if (a.at && (r = parse_time_opt("--at", a.at, &now)) != 0)
        goto out;
    if ((r = cli_read_sexp(sx, a.acl, NULL, &acl_node)) != 0)
        goto out;
    if ((r = vpxi_acl_parse(sx, acl_node, &acl)) != 0) {
        r = cli_err_r(r, "%s: not a valid ACL", a.acl);
        goto out;
    }
    if (a.tag && (r = read_tag(sx, a.tag, &want)) != 0)
        goto out;
    if ((r = read_chain(sx, a.nfiles, a.files, &seq)) != 0)
        goto out;
    if (a.subject) {
        if ((r = load_key(a.subject, false, &sk)) != 0)
            goto out;
        if ((r = vpxi_principal_from_key(sx, sk, &subj)) != 0) {
            r = cli_err_r(r, "%s", a.subject);
            goto out;
        }
        req.subject = &subj;
    }
    req.acl = acl;
    req.certs = seq->certs;
    req.ncerts = seq->ncerts;
    req.keys = seq->keys;
    req.nkeys = seq->nkeys;
    req.want = want;
    req.now = now;
    if ((r = vpxi_reduce(sx, &req, &res)) != 0) {
        if (cli_opts.json) {
            printf("{\"authorized\":false,\"error\":");
            cli_json_str(vpxi_errname(r));
            printf(",\"reason\":");
            cli_json_str(res.why);
            printf(",\"certificate\":%d}\n", res.bad_cert + 1);
        }
        r = cli_err("not authorized: %s (%s)", res.why, vpxi_errname(r));
        goto out;
    }
    print_tuple(&res, seq, now);
    r = CLI_OK;
out:
    vpxi_key_put(sk);
    vpxi_sx_free(sx);
    return r;
}

/* ---- join and acl ----------------------------------------------------------------- */

static int cmd_join(int argc, char **argv)
{
    struct cert_args a;
    struct vpxi_sx *sx;
    struct vpxi_sexp *n, *seq;
    int r;

    if ((r = parse_args(argc, argv, &a)) != 0 || !a.out || a.nfiles == 0)
        return cli_usage(usage);
    if ((sx = vpxi_sx_new()) == NULL || (seq = vpxi_sexp_list(sx)) == NULL ||
        (n = vpxi_sexp_atom_str(sx, "sequence")) == NULL) {
        vpxi_sx_free(sx);
        return cli_err_r(VPXI_ERR_NOMEM, "join");
    }
    vpxi_sexp_append(seq, n);
    for (int i = 0; i < a.nfiles; i++) {
        struct vpxi_seq *check;
        if ((r = cli_read_sexp(sx, a.files[i], NULL, &n)) != 0)
            goto out;
        if ((r = vpxi_seq_parse(sx, n, &check)) != 0) {
            r = cli_err_r(r, "%s: not a certificate sequence", a.files[i]);
            goto out;
        }
        if (vpxi_sexp_head_is(n, "sequence")) {
            for (struct vpxi_sexp *e = n->child->next; e; e = e->next) {
                struct vpxi_sexp *c = vpxi_sexp_copy(sx, e);
                if (!c) {
                    r = cli_err_r(VPXI_ERR_NOMEM, "join");
                    goto out;
                }
                vpxi_sexp_append(seq, c);
            }
        } else {
            vpxi_sexp_append(seq, vpxi_sexp_copy(sx, n));
        }
    }
    if ((r = cli_write_sexp(a.out, seq, a.form, a.force)) != 0)
        r = r == VPXI_ERR_EXISTS ? cli_err("%s exists (use --force to replace it)", a.out)
                                 : cli_err_r(r, "%s", a.out);
out:
    vpxi_sx_free(sx);
    return r;
}

static int cmd_acl(int argc, char **argv)
{
    struct cert_args a;
    struct vpxi_sx *sx;
    struct vpxi_sexp *tag, *subj, *acl = NULL, *entry, *e;
    struct vpxi_validity v;
    struct vpxi_key *k = NULL;
    struct vpxi_acl *check;
    char d[VPXI_DATE_LEN + 1];
    int r;

    if ((r = parse_args(argc, argv, &a)) != 0 || !a.out || !a.tag ||
        (!a.subject == !a.subject_sexp) || a.nfiles)
        return cli_usage(usage);
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "acl");
    if ((r = read_tag(sx, a.tag, &tag)) || (r = read_validity(&a, &v)))
        goto out;
    if (a.subject) {
        if ((r = load_key(a.subject, false, &k)) != 0)
            goto out;
        if ((r = vpxi_key_to_sexp(sx, k, &subj)) != 0) {
            r = cli_err_r(r, "%s", a.subject);
            goto out;
        }
    } else if ((r = cli_parse_sexp_arg(sx, "--subject-sexp", a.subject_sexp, &subj)) != 0) {
        goto out;
    }
    if (a.append && (r = cli_read_sexp(sx, a.out, NULL, &acl)) != 0)
        goto out;
    if (acl && !vpxi_sexp_head_is(acl, "acl")) {
        r = cli_err("%s: not an ACL", a.out);
        goto out;
    }
    if (!acl && (r = vpxi_sexp_build(sx, &acl, "(acl)")) != 0)
        goto nomem;
    if ((r = vpxi_sexp_build(sx, &entry, "(entry (subject %S))", subj)) != 0)
        goto nomem;
    if (a.propagate) {
        if ((r = vpxi_sexp_build(sx, &e, "(propagate)")) != 0)
            goto nomem;
        vpxi_sexp_append(entry, e);
    }
    if ((r = vpxi_sexp_build(sx, &e, "(tag %S)", tag)) != 0)
        goto nomem;
    vpxi_sexp_append(entry, e);
    if (v.not_before != VPXI_TIME_MIN || v.not_after != VPXI_TIME_MAX) {
        if ((r = vpxi_sexp_build(sx, &e, "(valid)")) != 0)
            goto nomem;
        vpxi_sexp_append(entry, e);
        if (v.not_before != VPXI_TIME_MIN) {
            struct vpxi_sexp *b;
            vpxi_date_format(v.not_before, d);
            if ((r = vpxi_sexp_build(sx, &b, "(not-before %s)", d)) != 0)
                goto nomem;
            vpxi_sexp_append(e, b);
        }
        if (v.not_after != VPXI_TIME_MAX) {
            struct vpxi_sexp *b;
            vpxi_date_format(v.not_after, d);
            if ((r = vpxi_sexp_build(sx, &b, "(not-after %s)", d)) != 0)
                goto nomem;
            vpxi_sexp_append(e, b);
        }
    }
    if (a.comment) {
        if ((r = vpxi_sexp_build(sx, &e, "(comment %s)", a.comment)) != 0)
            goto nomem;
        vpxi_sexp_append(entry, e);
    }
    vpxi_sexp_append(acl, entry);
    if ((r = vpxi_acl_parse(sx, acl, &check)) != 0) {
        r = cli_err_r(r, "resulting ACL is invalid");
        goto out;
    }
    if ((r = cli_write_sexp(a.out, acl, a.form, a.force || a.append)) != 0)
        r = r == VPXI_ERR_EXISTS ? cli_err("%s exists (use --force or --append)", a.out)
                                 : cli_err_r(r, "%s", a.out);
    goto out;
nomem:
    r = cli_err_r(r, "acl");
out:
    vpxi_key_put(k);
    vpxi_sx_free(sx);
    return r;
}

int cmd_cert(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        { "issue", cmd_issue },   { "show", cmd_show }, { "verify", cmd_verify },
        { "reduce", cmd_reduce }, { "join", cmd_join }, { "acl", cmd_acl },
    };

    return cli_dispatch("cert", subs, sizeof(subs) / sizeof(subs[0]), usage, argc, argv);
}
