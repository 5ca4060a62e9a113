/*
 * cmd_catalog.c - vpxi catalog: image catalogues for producers, endorsers
 * and providers (docs/catalog.md).
 *
 *   producer/endorser side (files):  add, endorse, sign, export, show, verify
 *   provider side (-d DIR):          trust, import, ls, fetch, verify
 *
 * A draft is an unsigned (catalog-draft ...) file in advanced form that add
 * and endorse edit and sign turns into a signed catalogue (canonical form).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

#include "cli.h"

static const char usage[] =
    "catalog COMMAND ...\n"
    "\n"
    "Producer and endorser (files):\n"
    "  add      -c DRAFT --name NAME --image FILE [--image-version V] [--url URL]...\n"
    "           [--producer TEXT] [--produced TIME] [--os T] [--arch T] [--runtime T]\n"
    "           [--purpose T] [--tags a,b] [--approved] [--shared] [--replace]\n"
    "           Hash FILE (SHA-256, SHA-512, size) and add it to the draft DRAFT.\n"
    "  endorse  -c DRAFT [--revoke | --unapprove] [--shared | --no-shared] NAME...\n"
    "           Mark entries approved (default), revoked or not approved.\n"
    "  sign     -c DRAFT --key KEY [--version N] [--expires TIME] [--label TEXT]\n"
    "           [--chain SEQFILE]... [--force] -o CATALOG\n"
    "           Sign the draft; --version defaults to the old CATALOG's + 1, or 1.\n"
    "  export   [--json | -s FORM] [-o OUT] CATALOG   Convert a signed catalogue.\n"
    "  show     [--json] CATALOG [NAME]                Check and print it (or one entry).\n"
    "  verify   CATALOG [--image FILE [--name NAME]]   Check its signature (and a file).\n"
    "\n"
    "Provider (a directory, see docs/catalog.md):\n"
    "  trust    -d DIR show | add | source | set | export ...   ('catalog trust --help')\n"
    "  import   -d DIR [--at TIME] [SOURCE...]   Import (default: the configured sources).\n"
    "  ls       -d DIR [--at TIME]               Catalogues and the decision for each image.\n"
    "  fetch    -d DIR [--at TIME] [NAME...]     Fetch and verify accepted images.\n"
    "  verify   -d DIR [--at TIME] [NAME...]     Decide and re-hash stored images.\n"
    "\n"
    "--json (before or after the command) prints JSON. TIME is an SPKI date,\n"
    "'now' or relative (+30d, -1h); VPXI_NOW overrides the clock.\n";

static const char usage_trust[] =
    "catalog trust -d DIR COMMAND ...\n"
    "\n"
    "  show\n"
    "  add     --endorser PUBFILE [--endorser PUBFILE]... [--threshold K]\n"
    "          [--scope PREFIX | --tag SEXP] [--not-before TIME] [--not-after TIME]\n"
    "          [--comment TEXT]\n"
    "          Trust one endorser, or K of several (default: all of them), to endorse\n"
    "          images named PREFIX... (default: any image); adds an ACL entry.\n"
    "  source  [--remove] SOURCE...   Add (remove) catalogue sources: URLs or paths.\n"
    "  set     [--interval S] [--jitter S] [--warn S] [--max-size OCTETS]\n"
    "  export  --key KEY [--expires TIME] [--version N] [--label TEXT] [--force] -o FILE\n"
    "          Sign this provider's list of trusted endorsers and sources (not its\n"
    "          images) for other providers to import: export chaining.\n";

enum {
    OPT_NAME = 256,
    OPT_IMAGE,
    OPT_IMAGE_VERSION,
    OPT_URL,
    OPT_PRODUCER,
    OPT_PRODUCED,
    OPT_OS,
    OPT_ARCH,
    OPT_RUNTIME,
    OPT_PURPOSE,
    OPT_TAGS,
    OPT_APPROVED,
    OPT_SHARED,
    OPT_NO_SHARED,
    OPT_REPLACE,
    OPT_REVOKE,
    OPT_UNAPPROVE,
    OPT_VERSION,
    OPT_EXPIRES,
    OPT_LABEL,
    OPT_CHAIN,
    OPT_JSON,
    OPT_AT,
    OPT_FORCE,
    OPT_ENDORSER,
    OPT_THRESHOLD,
    OPT_SCOPE,
    OPT_TAG,
    OPT_NB,
    OPT_NA,
    OPT_COMMENT,
    OPT_INTERVAL,
    OPT_JITTER,
    OPT_WARN,
    OPT_MAX_SIZE,
    OPT_REMOVE,
};

static const struct option long_opts[] = {
    { "draft", required_argument, NULL, 'c' },
    { "dir", required_argument, NULL, 'd' },
    { "key", required_argument, NULL, 'k' },
    { "output", required_argument, NULL, 'o' },
    { "syntax", required_argument, NULL, 's' },
    { "name", required_argument, NULL, OPT_NAME },
    { "image", required_argument, NULL, OPT_IMAGE },
    { "image-version", required_argument, NULL, OPT_IMAGE_VERSION },
    { "url", required_argument, NULL, OPT_URL },
    { "producer", required_argument, NULL, OPT_PRODUCER },
    { "produced", required_argument, NULL, OPT_PRODUCED },
    { "os", required_argument, NULL, OPT_OS },
    { "arch", required_argument, NULL, OPT_ARCH },
    { "runtime", required_argument, NULL, OPT_RUNTIME },
    { "purpose", required_argument, NULL, OPT_PURPOSE },
    { "tags", required_argument, NULL, OPT_TAGS },
    { "approved", no_argument, NULL, OPT_APPROVED },
    { "shared", no_argument, NULL, OPT_SHARED },
    { "no-shared", no_argument, NULL, OPT_NO_SHARED },
    { "replace", no_argument, NULL, OPT_REPLACE },
    { "revoke", no_argument, NULL, OPT_REVOKE },
    { "unapprove", no_argument, NULL, OPT_UNAPPROVE },
    { "version", required_argument, NULL, OPT_VERSION },
    { "expires", required_argument, NULL, OPT_EXPIRES },
    { "label", required_argument, NULL, OPT_LABEL },
    { "chain", required_argument, NULL, OPT_CHAIN },
    { "json", no_argument, NULL, OPT_JSON },
    { "at", required_argument, NULL, OPT_AT },
    { "force", no_argument, NULL, OPT_FORCE },
    { "endorser", required_argument, NULL, OPT_ENDORSER },
    { "threshold", required_argument, NULL, OPT_THRESHOLD },
    { "scope", required_argument, NULL, OPT_SCOPE },
    { "tag", required_argument, NULL, OPT_TAG },
    { "not-before", required_argument, NULL, OPT_NB },
    { "not-after", required_argument, NULL, OPT_NA },
    { "comment", required_argument, NULL, OPT_COMMENT },
    { "interval", required_argument, NULL, OPT_INTERVAL },
    { "jitter", required_argument, NULL, OPT_JITTER },
    { "warn", required_argument, NULL, OPT_WARN },
    { "max-size", required_argument, NULL, OPT_MAX_SIZE },
    { "remove", no_argument, NULL, OPT_REMOVE },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

enum { LIST_MAX = 32 };

struct cat_args {
    const char *draft, *dir, *key, *out, *name, *image, *image_version, *producer, *produced;
    const char *os, *arch, *runtime, *purpose, *tags, *version, *expires, *label, *at;
    const char *threshold, *scope, *tag, *nb, *na, *comment;
    const char *interval, *jitter, *warn, *max_size;
    const char *urls[LIST_MAX], *chain[LIST_MAX], *endorsers[LIST_MAX];
    size_t nurls, nchain, nendorsers;
    bool approved, shared, no_shared, replace, revoke, unapprove, force, remove;
    enum vpxi_sexp_form form;
    bool form_set;
    int nfiles;
    char **files;
    int64_t now;
};

static int push(const char **v, size_t *n, const char *s, const char *what)
{
    if (*n >= LIST_MAX)
        return cli_err("too many %s (at most %d)", what, LIST_MAX), CLI_USAGE;
    v[(*n)++] = s;
    return 0;
}

static int parse_args(int argc, char **argv, struct cat_args *a, const char *help)
{
    int c, r = 0;

    memset(a, 0, sizeof(*a));
    a->form = VPXI_SEXP_ADVANCED;
    optind = 1;
    while (r == 0 && (c = getopt_long(argc, argv, "c:d:k:o:s:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->draft = optarg; break;
        case 'd': a->dir = optarg; break;
        case 'k': a->key = optarg; break;
        case 'o': a->out = optarg; break;
        case 's':
            a->form_set = true;
            if ((a->form = cli_parse_form(optarg)) == 0)
                return cli_err("unknown form '%s' (canonical, advanced, transport)", optarg),
                       CLI_USAGE;
            break;
        case OPT_NAME: a->name = optarg; break;
        case OPT_IMAGE: a->image = optarg; break;
        case OPT_IMAGE_VERSION: a->image_version = optarg; break;
        case OPT_URL: r = push(a->urls, &a->nurls, optarg, "--url"); break;
        case OPT_PRODUCER: a->producer = optarg; break;
        case OPT_PRODUCED: a->produced = optarg; break;
        case OPT_OS: a->os = optarg; break;
        case OPT_ARCH: a->arch = optarg; break;
        case OPT_RUNTIME: a->runtime = optarg; break;
        case OPT_PURPOSE: a->purpose = optarg; break;
        case OPT_TAGS: a->tags = optarg; break;
        case OPT_APPROVED: a->approved = true; break;
        case OPT_SHARED: a->shared = true; break;
        case OPT_NO_SHARED: a->no_shared = true; break;
        case OPT_REPLACE: a->replace = true; break;
        case OPT_REVOKE: a->revoke = true; break;
        case OPT_UNAPPROVE: a->unapprove = true; break;
        case OPT_VERSION: a->version = optarg; break;
        case OPT_EXPIRES: a->expires = optarg; break;
        case OPT_LABEL: a->label = optarg; break;
        case OPT_CHAIN: r = push(a->chain, &a->nchain, optarg, "--chain"); break;
        case OPT_JSON: cli_opts.json = true; break;
        case OPT_AT: a->at = optarg; break;
        case OPT_FORCE: a->force = true; break;
        case OPT_ENDORSER: r = push(a->endorsers, &a->nendorsers, optarg, "--endorser"); break;
        case OPT_THRESHOLD: a->threshold = optarg; break;
        case OPT_SCOPE: a->scope = optarg; break;
        case OPT_TAG: a->tag = optarg; break;
        case OPT_NB: a->nb = optarg; break;
        case OPT_NA: a->na = optarg; break;
        case OPT_COMMENT: a->comment = optarg; break;
        case OPT_INTERVAL: a->interval = optarg; break;
        case OPT_JITTER: a->jitter = optarg; break;
        case OPT_WARN: a->warn = optarg; break;
        case OPT_MAX_SIZE: a->max_size = optarg; break;
        case OPT_REMOVE: a->remove = true; break;
        case 'h': printf("usage: %s %s", cli_prog, help); exit(CLI_OK);
        default: return CLI_USAGE;
        }
    }
    if (r)
        return r;
    a->nfiles = argc - optind;
    a->files = argv + optind;
    a->now = cli_now();
    if (a->at && vpxi_time_parse(a->at, a->now, &a->now) != 0)
        return cli_err("--at '%s': expected YYYY-MM-DD_HH:MM:SS, now, or +N[smhdw]", a->at),
               CLI_USAGE;
    return 0;
}

static int time_opt(const char *what, const char *s, int64_t now, int64_t *t)
{
    if (vpxi_time_parse(s, now, t) != 0)
        return cli_err("%s '%s': expected YYYY-MM-DD_HH:MM:SS, now, or +N[smhdw]", what, s),
               CLI_USAGE;
    return 0;
}

static int u64_opt(const char *what, const char *s, uint64_t *v)
{
    char *end;

    if (!*s || *s == '-' || (*v = strtoull(s, &end, 10), *end))
        return cli_err("%s '%s': expected a decimal number", what, s), CLI_USAGE;
    return 0;
}

static int load_key(const char *path, bool priv, struct vpxi_key **k)
{
    int r = priv ? vpxi_key_load_private(path, k) : vpxi_key_load(path, k);

    if (r == VPXI_ERR_KEY_PERMS)
        return cli_err("%s: private key file is accessible by group or others; run: chmod 600 %s",
                       path, path);
    if (r == VPXI_ERR_BAD_KEY && priv)
        return cli_err("%s: not a private key (signing needs the private key file)", path);
    if (r)
        return cli_err_r(r, "%s", path);
    return 0;
}

/* "in 29d03h" / "EXPIRED 2h ago" */
static void rel_time(int64_t t, int64_t now, char *buf, size_t cap)
{
    int64_t d = t - now, a = d < 0 ? -d : d;

    if (a >= 86400)
        snprintf(buf, cap, "%s%" PRId64 "d%02" PRId64 "h%s", d < 0 ? "EXPIRED " : "in ", a / 86400,
                 a % 86400 / 3600, d < 0 ? " ago" : "");
    else
        snprintf(buf, cap, "%s%" PRId64 "h%02" PRId64 "m%s", d < 0 ? "EXPIRED " : "in ", a / 3600,
                 a % 3600 / 60, d < 0 ? " ago" : "");
}

static void date_str(int64_t t, char out[VPXI_DATE_LEN + 1])
{
    if (t == VPXI_TIME_MAX || t == VPXI_TIME_MIN)
        snprintf(out, VPXI_DATE_LEN + 1, "-");
    else
        vpxi_date_format(t, out);
}

static void print_wr(struct vpxi_wr *w)
{
    if (!w->err && w->len)
        fwrite(w->p, 1, w->len, stdout);
    vpxi_wr_clear(w);
}

static void bytes_print(const struct vpxi_bytes *b)
{
    printf("%.*s", (int)b->len, (const char *)b->p);
}

static const char *status_text(unsigned f);

/* ---- drafts -------------------------------------------------------------------------- */

static int read_draft(struct vpxi_sx *sx, const char *path, bool create, struct vpxi_sexp **out)
{
    int r;

    if (create && access(path, F_OK) != 0)
        return vpxi_sexp_build(sx, out, "(catalog-draft)") ? cli_err("out of memory") : 0;
    if ((r = cli_read_sexp(sx, path, NULL, out)) != 0)
        return r;
    if (!vpxi_sexp_head_is(*out, "catalog-draft"))
        return cli_err("%s: not a draft (expected (catalog-draft ...))", path);
    return 0;
}

static int write_draft(const char *path, const struct vpxi_sexp *d)
{
    int r = cli_write_sexp(path, d, VPXI_SEXP_ADVANCED, true);

    return r ? cli_err_r(r, "%s", path) : 0;
}

/* The (image ...) element of the draft named name, and the one before it. */
static struct vpxi_sexp *draft_find(struct vpxi_sexp *d, const char *name, struct vpxi_sexp **prev)
{
    struct vpxi_sexp *p = d->child;

    for (struct vpxi_sexp *e = d->child->next; e; p = e, e = e->next) {
        const struct vpxi_sexp *n = vpxi_sexp_find(e, "name");
        if (vpxi_sexp_head_is(e, "image") && n && vpxi_sexp_atom_is(vpxi_sexp_nth(n, 1), name)) {
            if (prev)
                *prev = p;
            return e;
        }
    }
    return NULL;
}

/* Replaces old (whose predecessor in list is prev) by new. */
static void list_replace(struct vpxi_sexp *list, struct vpxi_sexp *prev, struct vpxi_sexp *old,
                         struct vpxi_sexp *nw)
{
    nw->next = old->next;
    prev->next = nw;
    if (list->last == old)
        list->last = nw;
    old->next = NULL;
}

static void list_remove(struct vpxi_sexp *list, struct vpxi_sexp *prev, struct vpxi_sexp *old)
{
    prev->next = old->next;
    if (list->last == old)
        list->last = prev;
    list->len--;
    old->next = NULL;
}

static size_t split_commas(char *s, const char **out, size_t cap)
{
    size_t n = 0;

    for (char *t = strtok(s, ","); t && n < cap; t = strtok(NULL, ","))
        if (*t)
            out[n++] = t;
    return n;
}

static int cmd_add(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_image_info in = { 0 };
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *d, *im, *old, *prev;
    const char *tags[VPXI_CATALOG_TAGS_MAX];
    char tagbuf[4096], hex[65];
    uint64_t size;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.draft || !a.name || !a.image || a.nfiles)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "add");
    if ((r = read_draft(sx, a.draft, true, &d)) != 0)
        goto out;
    in.name = a.name;
    in.version = a.image_version;
    in.producer = a.producer;
    in.os = a.os;
    in.arch = a.arch;
    in.runtime = a.runtime;
    in.purpose = a.purpose;
    in.urls = a.urls;
    in.nurls = a.nurls;
    in.produced = VPXI_TIME_MIN;
    in.has_sha512 = true;
    in.flags = (a.approved ? VPXI_IMAGE_APPROVED : 0) | (a.shared ? VPXI_IMAGE_SHARED : 0);
    if (a.produced && (r = time_opt("--produced", a.produced, a.now, &in.produced)) != 0)
        goto out;
    if (a.tags) {
        snprintf(tagbuf, sizeof(tagbuf), "%s", a.tags);
        in.tags = tags;
        in.ntags = split_commas(tagbuf, tags, VPXI_CATALOG_TAGS_MAX);
    }
    if ((r = vpxi_image_hash_file(a.image, in.sha256, in.sha512, &size)) != 0) {
        r = cli_err_r(r, "%s", a.image);
        goto out;
    }
    in.size = size;
    if ((r = vpxi_image_build(sx, &in, &im)) != 0) {
        r = cli_err("%s: invalid entry (name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}; URLs http://, "
                    "https:// or file:///; text fields UTF-8 up to %d octets; tags letters, "
                    "digits and . _ - : +): %s",
                    a.name, VPXI_CATALOG_TEXT_MAX, vpxi_strerror(r));
        goto out;
    }
    if ((old = draft_find(d, a.name, &prev)) != NULL) {
        if (!a.replace) {
            r = cli_err("%s: %s is already in the draft (use --replace)", a.draft, a.name);
            goto out;
        }
        list_replace(d, prev, old, im);
    } else {
        vpxi_sexp_append(d, im);
    }
    if ((r = write_draft(a.draft, d)) != 0)
        goto out;
    vpxi_hex_encode(hex, in.sha256, sizeof(in.sha256));
    if (cli_opts.json)
        printf("{\"name\":\"%s\",\"replaced\":%s,\"sha256\":\"%s\",\"size\":%" PRIu64
               ",\"approved\":%s}\n",
               a.name, old ? "true" : "false", hex, size, a.approved ? "true" : "false");
    else if (!cli_opts.quiet)
        printf("%s %s: sha256 %s, %" PRIu64 " octets%s\n", old ? "replaced" : "added", a.name, hex,
               size, a.approved ? ", approved" : "");
    r = CLI_OK;
out:
    vpxi_sx_free(sx);
    return r;
}

/* New (status ...) for an entry from its current flags and the options. */
static int restatus(struct vpxi_sx *sx, struct vpxi_sexp *im, const struct cat_args *a)
{
    static const char *const names[] = { "approved", "shared", "revoked" };
    struct vpxi_sexp *st = vpxi_sexp_find(im, "status"), *ns, *prev = im->child;
    unsigned flags = 0;

    if (st) {
        for (struct vpxi_sexp *e = st->child->next; e; e = e->next)
            for (unsigned i = 0; i < 3; i++)
                if (vpxi_sexp_atom_is(e, names[i]))
                    flags |= 1u << i;
        while (prev->next != st)
            prev = prev->next;
    }
    if (a->revoke)
        flags |= VPXI_IMAGE_REVOKED;
    else if (a->unapprove)
        flags &= ~(unsigned)VPXI_IMAGE_APPROVED;
    else
        flags = (flags | VPXI_IMAGE_APPROVED) & ~(unsigned)VPXI_IMAGE_REVOKED;
    if (a->shared)
        flags |= VPXI_IMAGE_SHARED;
    if (a->no_shared)
        flags &= ~(unsigned)VPXI_IMAGE_SHARED;
    if (vpxi_sexp_build(sx, &ns, "(status)") != 0)
        return VPXI_ERR_NOMEM;
    for (unsigned i = 0; i < 3; i++) {
        struct vpxi_sexp *f;
        if (!(flags & (1u << i)))
            continue;
        if ((f = vpxi_sexp_atom_str(sx, names[i])) == NULL)
            return VPXI_ERR_NOMEM;
        vpxi_sexp_append(ns, f);
    }
    if (st)
        list_replace(im, prev, st, ns);
    else
        vpxi_sexp_append(im, ns);
    return 0;
}

/* The status flags of a draft entry. */
static unsigned restatus_flags(const struct vpxi_sexp *im)
{
    static const char *const names[] = { "approved", "shared", "revoked" };
    const struct vpxi_sexp *st = vpxi_sexp_find(im, "status");
    unsigned flags = 0;

    for (const struct vpxi_sexp *e = st ? st->child->next : NULL; e; e = e->next)
        for (unsigned i = 0; i < 3; i++)
            if (vpxi_sexp_atom_is(e, names[i]))
                flags |= 1u << i;
    return flags;
}

static int cmd_endorse(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_sx *sx;
    struct vpxi_sexp *d, *im;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.draft || a.nfiles == 0 ||
        (a.revoke && a.unapprove))
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "endorse");
    if ((r = read_draft(sx, a.draft, false, &d)) != 0)
        goto out;
    for (int i = 0; i < a.nfiles; i++) {
        if ((im = draft_find(d, a.files[i], NULL)) == NULL) {
            r = cli_err("%s: no image %s in the draft", a.draft, a.files[i]);
            goto out;
        }
        if ((r = restatus(sx, im, &a)) != 0) {
            r = cli_err_r(r, "endorse");
            goto out;
        }
        if (cli_opts.json)
            printf("{\"name\":\"%s\",\"status\":\"%s\"}\n", a.files[i],
                   status_text(restatus_flags(im)));
        else if (!cli_opts.quiet)
            printf("%s: %s\n", a.files[i],
                   a.revoke      ? "revoked"
                   : a.unapprove ? "not approved"
                                 : "approved");
    }
    r = write_draft(a.draft, d);
out:
    vpxi_sx_free(sx);
    return r;
}

/* ---- signing ------------------------------------------------------------------------- */

/* The elements of each --chain file (a sequence), canonical, concatenated. */
static int read_chain(struct vpxi_sx *sx, const struct cat_args *a, struct vpxi_wr *w)
{
    struct vpxi_sexp *n;
    struct vpxi_seq *check;
    int r;

    for (size_t i = 0; i < a->nchain; i++) {
        if ((r = cli_read_sexp(sx, a->chain[i], NULL, &n)) != 0)
            return r;
        if (!vpxi_sexp_head_is(n, "sequence") || vpxi_seq_parse(sx, n, &check) != 0)
            return cli_err("%s: not a certificate sequence (vpxi cert issue writes one)",
                           a->chain[i]);
        for (struct vpxi_sexp *e = n->child->next; e; e = e->next)
            vpxi_sexp_write_canonical(e, w);
    }
    return w->err ? cli_err_r(w->err, "--chain") : 0;
}

/* Version of an existing catalogue at path signed by k, or 0. */
static uint64_t previous_version(const char *path, struct vpxi_key *k)
{
    struct vpxi_catalog *c;
    uint8_t *buf, id[VPXI_KEY_ID_LEN];
    size_t len;
    uint64_t v = 0;

    if (access(path, F_OK) != 0 || cli_read_file(path, &buf, &len, 0) != 0)
        return 0;
    if (vpxi_catalog_parse(buf, len, len, &c, NULL) == 0) {
        if (vpxi_key_id(k, id) == 0 && memcmp(id, c->signer.hash, sizeof(id)) == 0)
            v = c->version;
        vpxi_catalog_free(c);
    }
    free(buf);
    return v;
}

static int sign_and_write(const struct cat_args *a, struct vpxi_catalog_draft *cd,
                          struct vpxi_key *k)
{
    struct vpxi_wr out;
    char why[256], d[VPXI_DATE_LEN + 1];
    int r;

    vpxi_wr_init_dyn(&out, 0);
    if ((r = vpxi_catalog_sign(cd, k, &out, why, sizeof(why))) != 0) {
        r = cli_err("cannot sign: %s (%s)", why, vpxi_errname(r));
        goto out;
    }
    if ((r = cli_write_file(a->out, out.p, out.len, 0644, true)) != 0) {
        r = cli_err_r(r, "%s", a->out);
        goto out;
    }
    vpxi_date_format(cd->expires, d);
    if (cli_opts.json && strcmp(a->out, "-") != 0)
        printf("{\"file\":\"%s\",\"version\":%" PRIu64 ",\"expires\":\"%s\"}\n", a->out,
               cd->version, d);
    else if (!cli_opts.quiet && strcmp(a->out, "-") != 0)
        printf("signed %s: version %" PRIu64 ", expires %s\n", a->out, cd->version, d);
    r = CLI_OK;
out:
    vpxi_wr_clear(&out);
    return r;
}

/* --version, --expires and --label shared by sign and trust export. */
static int draft_header(const struct cat_args *a, struct vpxi_key *k, int64_t def_life,
                        struct vpxi_catalog_draft *cd)
{
    int r;

    cd->issued = a->now;
    cd->expires = a->now + def_life;
    if (a->expires && (r = time_opt("--expires", a->expires, a->now, &cd->expires)) != 0)
        return r;
    if (a->version) {
        if ((r = u64_opt("--version", a->version, &cd->version)) != 0)
            return r;
    } else {
        cd->version = previous_version(a->out, k) + 1;
    }
    if (a->label)
        cd->label = a->label;
    if (a->out && strcmp(a->out, "-") != 0 && access(a->out, F_OK) == 0 && !a->force &&
        previous_version(a->out, k) == 0)
        return cli_err("%s exists and is not a catalogue signed by this key (use --force)", a->out);
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_catalog_draft cd = { 0 };
    struct vpxi_sx *sx;
    struct vpxi_sexp *d;
    struct vpxi_key *k = NULL;
    struct vpxi_wr images, chain;
    char why[200], label[VPXI_CATALOG_TEXT_MAX + 1];
    size_t n = 0;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.draft || !a.key || !a.out || a.nfiles)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "sign");
    vpxi_wr_init_dyn(&images, 0);
    vpxi_wr_init_dyn(&chain, 0);
    if ((r = read_draft(sx, a.draft, false, &d)) != 0 || (r = load_key(a.key, true, &k)) != 0 ||
        (r = read_chain(sx, &a, &chain)) != 0 || (r = draft_header(&a, k, 30 * 86400, &cd)) != 0)
        goto out;
    for (struct vpxi_sexp *e = d->child->next; e; e = e->next) {
        if (vpxi_sexp_head_is(e, "image")) {
            n++;
            if ((r = vpxi_image_check(e, why, sizeof(why))) != 0) {
                r = cli_err("%s: image %zu: %s", a.draft, n, why);
                goto out;
            }
            vpxi_sexp_write_canonical(e, &images);
        } else if (vpxi_sexp_head_is(e, "trust")) {
            cd.trust = e;
        } else if (vpxi_sexp_head_is(e, "label") && !a.label &&
                   vpxi_sexp_get_str(vpxi_sexp_nth(e, 1), label, sizeof(label)) == 0) {
            cd.label = label;
        } else {
            r = cli_err("%s: unexpected element in the draft (image, trust, label)", a.draft);
            goto out;
        }
    }
    cd.images = images.p;
    cd.images_len = images.len;
    cd.chain = chain.p;
    cd.chain_len = chain.len;
    r = sign_and_write(&a, &cd, k);
out:
    vpxi_wr_clear(&images);
    vpxi_wr_clear(&chain);
    vpxi_key_put(k);
    vpxi_sx_free(sx);
    return r;
}

/* ---- reading signed catalogues -------------------------------------------------------- */

static int read_catalog(const char *path, struct vpxi_catalog **c)
{
    struct vpxi_catalog_error e;
    uint8_t *buf;
    size_t len;
    int r;

    if ((r = cli_read_file(path, &buf, &len, VPXI_CATALOG_FILE_MAX)) != 0)
        return cli_err_r(r, "%s", path);
    r = vpxi_catalog_parse(buf, len, VPXI_CATALOG_FILE_MAX, c, &e);
    free(buf);
    if (r)
        return cli_err("%s: byte %zu: %s (%s)", path, e.offset, e.why, vpxi_errname(r));
    return 0;
}

static void signer_text(const struct vpxi_catalog *c, char *buf, size_t cap)
{
    char id[17], hs[VPXI_HIT_STRLEN];
    uint8_t hit[VPXI_HIT_LEN];
    struct vpxi_key *k;

    vpxi_principal_short(&c->signer, id);
    if (vpxi_principal_get_key(&c->signer, NULL, 0, NULL, &k) == 0 &&
        vpxi_hit_from_key(k, hit) == 0) {
        vpxi_hit_to_str(hit, hs);
        snprintf(buf, cap, "key %s (%s, HIT %s)", id, vpxi_key_alg_name(vpxi_key_alg(k)), hs);
    } else {
        snprintf(buf, cap, "key %s", id);
    }
}

static void sexp_line(const struct vpxi_sexp *n, char *buf, size_t cap)
{
    struct vpxi_wr w;

    vpxi_wr_init(&w, buf, cap - 1);
    vpxi_sexp_write_compact(n, &w);
    buf[w.err ? 0 : w.len] = '\0';
    if (w.err)
        snprintf(buf, cap, "(too long to show)");
}

static const char *status_text(unsigned f)
{
    if (f & VPXI_IMAGE_REVOKED)
        return "revoked";
    if (!(f & VPXI_IMAGE_APPROVED))
        return "not-approved";
    return f & VPXI_IMAGE_SHARED ? "approved,shared" : "approved";
}

static void show_entry(const struct vpxi_image *im)
{
    struct vpxi_image_meta m;
    char hex[2 * VPXI_SHA512_LEN + 1], d[VPXI_DATE_LEN + 1];

    if (vpxi_image_details(im, &m) != 0)
        return;
    printf("image ");
    bytes_print(&im->name);
    printf("\n  version:   ");
    im->version.len ? bytes_print(&im->version) : (void)printf("-");
    vpxi_hex_encode(hex, im->sha256, VPXI_SHA256_LEN);
    printf("\n  sha256:    %s\n", hex);
    if (im->sha512) {
        vpxi_hex_encode(hex, im->sha512, VPXI_SHA512_LEN);
        printf("  sha512:    %s\n", hex);
    }
    printf("  size:      %" PRIu64 "\n  status:    %s\n", im->size, status_text(im->flags));
    for (size_t i = 0; i < m.nurls; i++) {
        printf("  url:       ");
        bytes_print(&m.urls[i]);
        printf("\n");
    }
    if (m.producer.len) {
        printf("  producer:  ");
        bytes_print(&m.producer);
        printf("\n");
    }
    if (m.produced != VPXI_TIME_MIN) {
        vpxi_date_format(m.produced, d);
        printf("  produced:  %s\n", d);
    }
    const struct vpxi_bytes *meta[] = { &m.os, &m.arch, &m.runtime, &m.purpose };
    const char *labels[] = { "os", "arch", "runtime", "purpose" };
    for (int i = 0; i < 4; i++) {
        if (!meta[i]->len)
            continue;
        printf("  %-10s ", labels[i]);
        bytes_print(meta[i]);
        printf("\n");
    }
    if (m.ntags) {
        printf("  tags:      ");
        for (size_t i = 0; i < m.ntags; i++) {
            printf(i ? " " : "");
            bytes_print(&m.tags[i]);
        }
        printf("\n");
    }
}

static void show_header(struct vpxi_catalog *c, int64_t now)
{
    char who[160], d1[VPXI_DATE_LEN + 1], d2[VPXI_DATE_LEN + 1], rel[48], line[512];
    int v = vpxi_catalog_verify(c);

    signer_text(c, who, sizeof(who));
    date_str(c->issued, d1);
    date_str(c->expires, d2);
    rel_time(c->expires, now, rel, sizeof(rel));
    printf("catalogue");
    if (c->label.len) {
        printf(" \"");
        bytes_print(&c->label);
        printf("\"");
    }
    printf("\n  endorser:  %s\n", who);
    printf("  version:   %" PRIu64 "\n  valid:     %s .. %s (%s)\n", c->version, d1, d2, rel);
    printf("  signature: %s\n", v == 0 ? "good" : vpxi_strerror(v));
    for (size_t i = 0; i < c->nchain; i++) {
        sexp_line(c->chain[i]->tag, line, sizeof(line));
        date_str(c->chain[i]->valid.not_after, d2);
        printf("  delegation %zu: tag %s, until %s%s\n", i + 1, line, d2,
               c->chain[i]->propagate ? ", may delegate" : "");
    }
    if (c->trust) {
        for (size_t i = 0; i < c->trust->n; i++) {
            sexp_line(c->trust->entries[i].tag, line, sizeof(line));
            printf("  trusts %zu:  %s%s\n", i + 1, line,
                   c->trust->entries[i].subject.kind == VPXI_SUBJECT_THRESHOLD ? " (threshold)"
                                                                               : "");
        }
        for (size_t i = 0; i < c->nsources; i++) {
            printf("  source:    ");
            bytes_print(&c->sources[i]);
            printf("\n");
        }
    }
    printf("  images:    %zu\n", c->nimages);
}

static int cmd_show(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_catalog *c;
    struct vpxi_wr w;
    char hex[65];
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || a.nfiles < 1 || a.nfiles > 2)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((r = read_catalog(a.files[0], &c)) != 0)
        return r;
    vpxi_wr_init_dyn(&w, 0);
    if (a.nfiles == 2) {
        const struct vpxi_image *im = vpxi_catalog_find(c, a.files[1]);
        if (!im) {
            r = cli_err("%s: no image %s", a.files[0], a.files[1]);
        } else if (cli_opts.json) {
            if ((r = vpxi_image_write_json(im, &w)) == 0 && (r = vpxi_wr_u8(&w, '\n')) == 0)
                print_wr(&w);
        } else {
            show_entry(im);
        }
    } else if (cli_opts.json) {
        if ((r = vpxi_catalog_write_json(c, &w)) == 0 && (r = vpxi_wr_u8(&w, '\n')) == 0)
            print_wr(&w);
    } else {
        show_header(c, a.now);
        for (size_t i = 0; i < c->nimages; i++) {
            const struct vpxi_image *im = &c->images[i];
            vpxi_image_hex(im, hex);
            printf("  %-32.*s %-12.*s %-16s %12" PRIu64 "  sha256:%.16s\n", (int)im->name.len,
                   (const char *)im->name.p, (int)im->version.len,
                   im->version.len ? (const char *)im->version.p : "-", status_text(im->flags),
                   im->size, hex);
        }
    }
    vpxi_wr_clear(&w);
    r = r ? (r < 0 ? cli_err_r(r, "show") : r) : (vpxi_catalog_verify(c) ? CLI_FAIL : CLI_OK);
    vpxi_catalog_free(c);
    return r;
}

static int cmd_export(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_catalog *c;
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    struct vpxi_wr w;
    const char *out;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || a.nfiles != 1)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    out = a.out ? a.out : "-";
    if ((r = read_catalog(a.files[0], &c)) != 0)
        return r;
    vpxi_wr_init_dyn(&w, 0);
    if (cli_opts.json) {
        if ((r = vpxi_catalog_write_json(c, &w)) == 0)
            r = vpxi_wr_u8(&w, '\n');
    } else {
        struct vpxi_sexp_limits lim = vpxi_sexp_limits_default;
        lim.list_max = VPXI_CATALOG_IMAGES_MAX + 16;
        lim.nodes_max = 1 << 24;
        lim.input_max = VPXI_CATALOG_FILE_MAX;
        if ((sx = vpxi_sx_new()) == NULL) {
            r = VPXI_ERR_NOMEM;
        } else if (!a.form_set || a.form == VPXI_SEXP_CANONICAL) {
            r = vpxi_wr_bytes(&w, c->buf, c->len); /* the signed bytes as they are */
        } else if ((r = vpxi_sexp_parse_canonical(sx, c->buf, c->len, &lim, &n, NULL)) == 0) {
            vpxi_sexp_write(n, a.form, &w);
            r = a.form == VPXI_SEXP_ADVANCED ? vpxi_wr_u8(&w, '\n') : w.err;
        }
    }
    if (r == 0 && (r = cli_write_file(out, w.p, w.len, 0644, true)) != 0)
        r = cli_err_r(r, "%s", out);
    else if (r)
        r = cli_err_r(r, "export");
    vpxi_wr_clear(&w);
    vpxi_sx_free(sx);
    vpxi_catalog_free(c);
    return r;
}

/* verify CATALOG [--image FILE [--name NAME]] */
static int verify_file(const struct cat_args *a)
{
    struct vpxi_catalog *c;
    const struct vpxi_image *im = NULL;
    uint8_t s256[32], s512[64];
    uint64_t size;
    int r;

    if ((r = read_catalog(a->files[0], &c)) != 0)
        return r;
    if ((r = vpxi_catalog_verify(c)) != 0) {
        r = cli_err("%s: signature: %s (%s)", a->files[0], vpxi_strerror(r), vpxi_errname(r));
        goto out;
    }
    if (!a->image) {
        if (cli_opts.json)
            printf("{\"signature\":\"good\",\"version\":%" PRIu64 ",\"images\":%zu}\n", c->version,
                   c->nimages);
        else if (!cli_opts.quiet)
            printf("%s: signature good, version %" PRIu64 ", %zu images\n", a->files[0], c->version,
                   c->nimages);
        r = CLI_OK;
        goto out;
    }
    if ((r = vpxi_image_hash_file(a->image, s256, s512, &size)) != 0) {
        r = cli_err_r(r, "%s", a->image);
        goto out;
    }
    if (a->name)
        im = vpxi_catalog_find(c, a->name);
    for (size_t i = 0; !a->name && i < c->nimages && !im; i++)
        if (memcmp(c->images[i].sha256, s256, 32) == 0)
            im = &c->images[i];
    if (!im) {
        r = cli_err("%s: %s", a->image,
                    a->name ? "no such image in the catalogue" : "its SHA-256 is not listed");
        goto out;
    }
    if (memcmp(im->sha256, s256, 32) != 0 || (im->sha512 && memcmp(im->sha512, s512, 64) != 0) ||
        im->size != size) {
        r = cli_err("%s: does not match the entry %.*s (%s differs) (VPXI_ERR_HASH_MISMATCH)",
                    a->image, (int)im->name.len, (const char *)im->name.p,
                    memcmp(im->sha256, s256, 32) ? "SHA-256"
                    : im->size != size           ? "size"
                                                 : "SHA-512");
        goto out;
    }
    if (cli_opts.json)
        printf("{\"signature\":\"good\",\"matches\":\"%.*s\",\"size\":%" PRIu64
               ",\"status\":\"%s\"}\n",
               (int)im->name.len, (const char *)im->name.p, size, status_text(im->flags));
    else if (!cli_opts.quiet)
        printf("%s: matches %.*s (SHA-256%s, %" PRIu64 " octets); entry %s\n", a->image,
               (int)im->name.len, (const char *)im->name.p, im->sha512 ? ", SHA-512" : "", size,
               status_text(im->flags));
    r = CLI_OK;
out:
    vpxi_catalog_free(c);
    return r;
}

/* ---- the provider ------------------------------------------------------------------- */

static int open_provider(const struct cat_args *a, struct vpxi_provider **p)
{
    char err[512];
    int r;

    if ((r = vpxi_provider_open(a->dir, p, err, sizeof(err))) != 0)
        return cli_err("%s (%s)", err, vpxi_errname(r));
    if (!cli_opts.json && !cli_opts.quiet && vpxi_provider_notes(*p)[0])
        fprintf(stderr, "%s", vpxi_provider_notes(*p));
    return 0;
}

static const char *event_mark(enum vpxi_import_event_kind k)
{
    switch (k) {
    case VPXI_IMPORT_ADDED: return "+";
    case VPXI_IMPORT_UPDATED: return "~";
    case VPXI_IMPORT_REMOVED: return "-";
    case VPXI_IMPORT_REVOKED: return "x";
    case VPXI_IMPORT_REJECTED: return "!";
    default: return "*";
    }
}

static const char *event_name(enum vpxi_import_event_kind k)
{
    static const char *const names[] = { "",        "added",    "updated", "removed",
                                         "revoked", "rejected", "warning" };
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static void report_json(const struct vpxi_import_report *rep)
{
    struct vpxi_wr w;

    vpxi_wr_init_dyn(&w, 0);
    vpxi_wr_str(&w, "{\"sources\":[");
    for (size_t i = 0; i < rep->nsources; i++) {
        const struct vpxi_import_source *s = &rep->sources[i];
        char d[VPXI_DATE_LEN + 1];
        vpxi_wr_str(&w, i ? ",{\"source\":" : "{\"source\":");
        vpxi_json_string(&w, (const uint8_t *)s->source, strlen(s->source));
        vpxi_wr_printf(&w, ",\"imported\":%s,\"error\":", s->result ? "false" : "true");
        if (s->result)
            vpxi_wr_printf(&w, "\"%s\"", vpxi_errname(s->result));
        else
            vpxi_wr_str(&w, "null");
        vpxi_wr_str(&w, ",\"reason\":");
        vpxi_json_string(&w, (const uint8_t *)s->why, strlen(s->why));
        vpxi_wr_printf(&w,
                       ",\"endorser\":\"%s\",\"unchanged\":%s,\"old_version\":%" PRIu64
                       ",\"version\":%" PRIu64 ",\"expires\":",
                       s->endorser, s->unchanged ? "true" : "false", s->old_version, s->version);
        if (s->expires) {
            vpxi_date_format(s->expires, d);
            vpxi_wr_printf(&w, "\"%s\"", d);
        } else {
            vpxi_wr_str(&w, "null");
        }
        vpxi_wr_printf(&w,
                       ",\"images\":%zu,\"added\":%zu,\"updated\":%zu,\"removed\":%zu,"
                       "\"revoked\":%zu,\"rejected\":%zu}",
                       s->images, s->added, s->updated, s->removed, s->revoked, s->rejected);
    }
    vpxi_wr_str(&w, "],\"events\":[");
    for (size_t i = 0; i < rep->nevents; i++) {
        const struct vpxi_import_event *e = &rep->events[i];
        vpxi_wr_printf(&w, "%s{\"kind\":\"%s\",\"source\":", i ? "," : "", event_name(e->kind));
        if (e->source == SIZE_MAX)
            vpxi_wr_str(&w, "null");
        else
            vpxi_wr_printf(&w, "%zu", e->source + 1);
        vpxi_wr_str(&w, ",\"name\":");
        vpxi_json_string(&w, (const uint8_t *)e->name, strlen(e->name));
        vpxi_wr_str(&w, ",\"error\":");
        if (e->code)
            vpxi_wr_printf(&w, "\"%s\"", vpxi_errname(e->code));
        else
            vpxi_wr_str(&w, "null");
        vpxi_wr_str(&w, ",\"reason\":");
        vpxi_json_string(&w, (const uint8_t *)e->why, strlen(e->why));
        vpxi_wr_str(&w, "}");
    }
    vpxi_wr_printf(&w, "],\"events_dropped\":%zu,\"warnings\":%zu}\n", rep->events_dropped,
                   rep->warnings);
    print_wr(&w);
}

enum { ADDED_SHOWN = 20 }; /* "added" lines printed per source; the rest are counted */

static void report_text(const struct vpxi_import_report *rep)
{
    size_t refused = 0;

    for (size_t i = 0; i < rep->nsources; i++) {
        const struct vpxi_import_source *s = &rep->sources[i];
        size_t added_shown = 0;
        char d[VPXI_DATE_LEN + 1];

        printf("Loading: %s\n", s->source);
        if (s->endorser[0]) {
            date_str(s->expires, d);
            printf("  endorser %s, version %" PRIu64, s->endorser, s->version);
            if (s->old_version)
                printf(" (had %" PRIu64 ")", s->old_version);
            printf(", %zu images, expires %s\n", s->images, d);
        }
        if (s->result) {
            refused++;
            printf("  REFUSED: %s (%s); the previous state is kept\n", s->why,
                   vpxi_errname(s->result));
            continue;
        }
        if (s->why[0])
            printf("  %s\n", s->why);
        if (s->unchanged) {
            printf("  unchanged\n");
            continue;
        }
        printf("  Imported %zu new image%s, updated %zu, removed %zu old image%s, revoked %zu, "
               "rejected %zu.\n",
               s->added, s->added == 1 ? "" : "s", s->updated, s->removed,
               s->removed == 1 ? "" : "s", s->revoked, s->rejected);
        for (size_t j = 0; j < rep->nevents; j++) {
            const struct vpxi_import_event *e = &rep->events[j];
            if (e->source != i)
                continue;
            if (e->kind == VPXI_IMPORT_ADDED && added_shown++ >= ADDED_SHOWN)
                continue;
            printf("    %s %s: %s%s%s%s\n", event_mark(e->kind), e->name, e->why,
                   e->code ? " (" : "", e->code ? vpxi_errname(e->code) : "", e->code ? ")" : "");
        }
        if (added_shown > ADDED_SHOWN)
            printf("    + ... and %zu more\n", added_shown - ADDED_SHOWN);
    }
    for (size_t j = 0; j < rep->nevents; j++)
        if (rep->events[j].kind == VPXI_IMPORT_WARNING)
            printf("warning: %s\n", rep->events[j].why);
    if (rep->events_dropped)
        printf("(%zu more events not listed)\n", rep->events_dropped);
    printf("Import complete: %zu source%s, %zu refused.\n", rep->nsources,
           rep->nsources == 1 ? "" : "s", refused);
}

static int cmd_import(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_provider *p;
    struct vpxi_import_report rep;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.dir)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    for (int i = 0; i < a.nfiles; i++)
        if (!vpxi_source_ok(a.files[i]))
            return cli_err("%s: expected http://, https://, file:/// or an absolute path",
                           a.files[i]);
    if ((r = open_provider(&a, &p)) != 0)
        return r;
    if (a.nfiles)
        r = vpxi_provider_import(p, (const char *const *)a.files, (size_t)a.nfiles, a.now, &rep);
    else
        r = vpxi_provider_refresh(p, a.now, &rep);
    if (cli_opts.json)
        report_json(&rep);
    else if (!cli_opts.quiet || r)
        report_text(&rep);
    if (rep.nsources == 0 && r == 0 && !cli_opts.json)
        printf("no sources (vpxi catalog trust -d %s source URL)\n", a.dir);
    vpxi_import_report_clear(&rep);
    vpxi_provider_close(p);
    return r ? CLI_FAIL : CLI_OK;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Every image name listed by the provider's catalogues, sorted, unique. */
static int all_names(struct vpxi_provider *p, char ***out, size_t *n)
{
    size_t cap = 0, k = 0, u = 0;
    char **v;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < vpxi_provider_ncatalogs(p); i++)
        cap += vpxi_provider_catalog(p, i)->nimages;
    if ((v = calloc(cap + 1, sizeof(*v))) == NULL)
        return VPXI_ERR_NOMEM;
    for (size_t i = 0; i < vpxi_provider_ncatalogs(p); i++) {
        const struct vpxi_catalog *c = vpxi_provider_catalog(p, i);
        for (size_t j = 0; j < c->nimages; j++) {
            if ((v[k] = strndup((const char *)c->images[j].name.p, c->images[j].name.len)) ==
                NULL) {
                free_names(v, k);
                return VPXI_ERR_NOMEM;
            }
            k++;
        }
    }
    qsort(v, k, sizeof(*v), str_cmp);
    for (size_t i = 0; i < k; i++) {
        if (u && strcmp(v[u - 1], v[i]) == 0)
            free(v[i]);
        else
            v[u++] = v[i];
    }
    *out = v;
    *n = u;
    return 0;
}

/* The names given on the command line, or every listed one. */
static int names_of(const struct cat_args *a, struct vpxi_provider *p, char ***v, size_t *n)
{
    int r;

    if (a->nfiles == 0)
        return (r = all_names(p, v, n)) != 0 ? cli_err_r(r, "names") : 0;
    if ((*v = calloc((size_t)a->nfiles, sizeof(**v))) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "names");
    for (int i = 0; i < a->nfiles; i++)
        if (((*v)[i] = strdup(a->files[i])) == NULL)
            return cli_err_r(VPXI_ERR_NOMEM, "names");
    *n = (size_t)a->nfiles;
    return 0;
}

static void ls_catalogs_text(struct vpxi_provider *p, int64_t now)
{
    printf("catalogues in %s:\n", vpxi_provider_dir(p));
    if (vpxi_provider_ncatalogs(p) == 0)
        printf("  (none imported)\n");
    for (size_t i = 0; i < vpxi_provider_ncatalogs(p); i++) {
        struct vpxi_catalog *c = vpxi_provider_catalog(p, i);
        char id[17], d[VPXI_DATE_LEN + 1], rel[48];
        vpxi_principal_short(&c->signer, id);
        date_str(c->expires, d);
        rel_time(c->expires, now, rel, sizeof(rel));
        printf("  %s  version %-6" PRIu64 " expires %s (%s)  %zu images%s", id, c->version, d, rel,
               c->nimages, c->trust ? ", trust export" : "");
        if (c->label.len) {
            printf("  \"");
            bytes_print(&c->label);
            printf("\"");
        }
        printf("\n");
    }
}

static void ls_catalogs_json(struct vpxi_provider *p, struct vpxi_wr *w)
{
    vpxi_wr_str(w, "{\"catalogs\":[");
    for (size_t i = 0; i < vpxi_provider_ncatalogs(p); i++) {
        struct vpxi_catalog *c = vpxi_provider_catalog(p, i);
        char hex[65], d[VPXI_DATE_LEN + 1];
        vpxi_hex_encode(hex, c->signer.hash, 32);
        date_str(c->expires, d);
        vpxi_wr_printf(w,
                       "%s{\"endorser\":\"%s\",\"version\":%" PRIu64
                       ",\"expires\":\"%s\",\"images\":%zu,\"trust_export\":%s,\"label\":",
                       i ? "," : "", hex, c->version, d, c->nimages, c->trust ? "true" : "false");
        if (c->label.len)
            vpxi_json_string(w, c->label.p, c->label.len);
        else
            vpxi_wr_str(w, "null");
        vpxi_wr_str(w, "}");
    }
    vpxi_wr_str(w, "],\"images\":[");
}

static void decision_json(struct vpxi_wr *w, const char *name, const struct vpxi_decision *d,
                          bool first)
{
    char hex[65], dt[VPXI_DATE_LEN + 1];

    vpxi_wr_str(w, first ? "{\"name\":" : ",{\"name\":");
    vpxi_json_string(w, (const uint8_t *)name, strlen(name));
    vpxi_wr_printf(w, ",\"accepted\":%s", d->code ? "false" : "true");
    if (d->code) {
        vpxi_wr_printf(w, ",\"error\":\"%s\",\"reason\":", vpxi_errname(d->code));
        vpxi_json_string(w, (const uint8_t *)d->why, strlen(d->why));
    } else {
        vpxi_hex_encode(hex, d->sha256, 32);
        date_str(d->valid_until, dt);
        vpxi_wr_printf(w,
                       ",\"sha256\":\"%s\",\"size\":%" PRIu64
                       ",\"endorsements\":%zu,\"stored\":%s,\"valid_until\":",
                       hex, d->size, d->endorsements, d->stored ? "true" : "false");
        if (d->valid_until == VPXI_TIME_MAX)
            vpxi_wr_str(w, "null");
        else
            vpxi_wr_printf(w, "\"%s\"", dt);
    }
    vpxi_wr_str(w, "}");
}

static int cmd_ls(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_provider *p;
    struct vpxi_wr w;
    char **names = NULL;
    size_t n = 0;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.dir)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((r = open_provider(&a, &p)) != 0)
        return r;
    if ((r = names_of(&a, p, &names, &n)) != 0)
        goto out;
    vpxi_wr_init_dyn(&w, 0);
    if (cli_opts.json)
        ls_catalogs_json(p, &w);
    else
        ls_catalogs_text(p, a.now);
    if (!cli_opts.json)
        printf("images at %s:\n", a.at ? a.at : "now");
    for (size_t i = 0; i < n; i++) {
        struct vpxi_decision d;
        char hex[65];
        int dr = vpxi_provider_decide(p, names[i], a.now, &d);
        if (cli_opts.json) {
            decision_json(&w, names[i], &d, i == 0);
            continue;
        }
        if (dr) {
            printf("  %-32s REFUSED   %s (%s)\n", names[i], d.why, vpxi_errname(dr));
            continue;
        }
        vpxi_hex_encode(hex, d.sha256, 32);
        printf("  %-32s ACCEPTED  sha256:%.16s  %zu endorsement%s, %s\n", names[i], hex,
               d.endorsements, d.endorsements == 1 ? "" : "s", d.stored ? "stored" : "not fetched");
    }
    if (cli_opts.json) {
        vpxi_wr_str(&w, "],\"notes\":");
        vpxi_json_string(&w, (const uint8_t *)vpxi_provider_notes(p),
                         strlen(vpxi_provider_notes(p)));
        vpxi_wr_str(&w, "}\n");
    }
    print_wr(&w);
    r = CLI_OK;
out:
    free_names(names, n);
    vpxi_provider_close(p);
    return r;
}

/* ---- fetch and verify ------------------------------------------------------------------ */

struct bar {
    double start, last;
};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A progress bar on standard error, redrawn at most 10 times a second. */
static void bar_draw(void *arg, const char *what, uint64_t done, uint64_t total)
{
    struct bar *b = arg;
    double t = mono(), rate;
    int fill, pct;
    char line[41];

    if (t - b->last < 0.1 && done < total)
        return;
    b->last = t;
    pct = total ? (int)(done * 100 / total) : 0;
    fill = total ? (int)(done * 40 / total) : 0;
    memset(line, '#', (size_t)fill);
    memset(line + fill, '.', (size_t)(40 - fill));
    line[40] = '\0';
    rate = t > b->start ? (double)done / (t - b->start) / 1e6 : 0;
    fprintf(stderr, "\r  %-24.24s [%s] %3d%% %8.1f MB/s", what, line, pct, rate);
}

static int cmd_fetch(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_provider *p;
    struct vpxi_wr w;
    char **names = NULL, digest[65], why[512];
    size_t n = 0, failed = 0;
    bool tty = isatty(STDERR_FILENO) && !cli_opts.quiet && !cli_opts.json;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0 || !a.dir)
        return r == CLI_USAGE || !r ? cli_usage(usage) : r;
    if ((r = open_provider(&a, &p)) != 0)
        return r;
    if ((r = names_of(&a, p, &names, &n)) != 0)
        goto out;
    vpxi_wr_init_dyn(&w, 0);
    vpxi_wr_str(&w, "[");
    for (size_t i = 0; i < n; i++) {
        struct bar b = { mono(), 0 };
        struct vpxi_progress prog = { tty ? bar_draw : NULL, &b };
        struct vpxi_decision d;
        int fr;

        /* without names: only what the policy accepts now */
        if (a.nfiles == 0 && vpxi_provider_decide(p, names[i], a.now, &d) != 0)
            continue;
        fr = vpxi_provider_fetch(p, names[i], a.now, &prog, digest, why, sizeof(why));
        if (tty)
            fprintf(stderr, "\r%*s\r", 90, "");
        if (fr)
            failed++;
        if (cli_opts.json) {
            vpxi_wr_printf(&w, "%s{\"name\":", w.len > 1 ? "," : "");
            vpxi_json_string(&w, (const uint8_t *)names[i], strlen(names[i]));
            vpxi_wr_printf(&w, ",\"fetched\":%s,\"sha256\":", fr ? "false" : "true");
            if (digest[0])
                vpxi_wr_printf(&w, "\"%s\"", digest);
            else
                vpxi_wr_str(&w, "null");
            vpxi_wr_str(&w, ",\"error\":");
            if (fr)
                vpxi_wr_printf(&w, "\"%s\"", vpxi_errname(fr));
            else
                vpxi_wr_str(&w, "null");
            vpxi_wr_str(&w, ",\"reason\":");
            vpxi_json_string(&w, (const uint8_t *)why, strlen(why));
            vpxi_wr_str(&w, "}");
        } else if (fr) {
            fprintf(stderr, "%s: %s: not fetched: %s (%s)\n", cli_prog, names[i], why,
                    vpxi_errname(fr));
        } else if (!cli_opts.quiet) {
            printf("%s: sha256:%s %s\n", names[i], digest,
                   strcmp(why, "already in the store") ? "fetched and verified" : why);
        }
    }
    if (cli_opts.json) {
        vpxi_wr_str(&w, "]\n");
        print_wr(&w);
    } else {
        vpxi_wr_clear(&w);
    }
    r = failed ? CLI_FAIL : CLI_OK;
out:
    free_names(names, n);
    vpxi_provider_close(p);
    return r;
}

static int verify_store(const struct cat_args *a)
{
    struct vpxi_provider *p;
    struct vpxi_wr w;
    char **names = NULL, digest[65], why[512], path[4096];
    size_t n = 0, failed = 0;
    int r;

    if ((r = open_provider(a, &p)) != 0)
        return r;
    if ((r = names_of(a, p, &names, &n)) != 0)
        goto out;
    vpxi_wr_init_dyn(&w, 0);
    vpxi_wr_str(&w, "[");
    for (size_t i = 0; i < n; i++) {
        int vr =
            vpxi_provider_verify(p, names[i], a->now, path, sizeof(path), digest, why, sizeof(why));
        if (vr)
            failed++;
        if (cli_opts.json) {
            vpxi_wr_printf(&w, "%s{\"name\":", i ? "," : "");
            vpxi_json_string(&w, (const uint8_t *)names[i], strlen(names[i]));
            vpxi_wr_printf(&w, ",\"accepted\":%s", vr ? "false" : "true");
            if (vr) {
                vpxi_wr_printf(&w, ",\"error\":\"%s\",\"reason\":", vpxi_errname(vr));
                vpxi_json_string(&w, (const uint8_t *)why, strlen(why));
            } else {
                vpxi_wr_printf(&w, ",\"sha256\":\"%s\",\"path\":", digest);
                vpxi_json_string(&w, (const uint8_t *)path, strlen(path));
            }
            vpxi_wr_str(&w, "}");
        } else if (vr) {
            printf("%-32s REFUSED  %s (%s)\n", names[i], why, vpxi_errname(vr));
        } else if (!cli_opts.quiet) {
            printf("%-32s OK       sha256:%s %s\n", names[i], digest, path);
        }
    }
    if (cli_opts.json) {
        vpxi_wr_str(&w, "]\n");
        print_wr(&w);
    } else {
        vpxi_wr_clear(&w);
    }
    r = failed ? CLI_FAIL : CLI_OK;
out:
    free_names(names, n);
    vpxi_provider_close(p);
    return r;
}

static int cmd_verify(int argc, char **argv)
{
    struct cat_args a;
    int r;

    if ((r = parse_args(argc, argv, &a, usage)) != 0)
        return r;
    if (a.dir)
        return verify_store(&a);
    if (a.nfiles != 1)
        return cli_usage(usage);
    return verify_file(&a);
}

/* ---- trust ----------------------------------------------------------------------------- */

static int trust_path(const struct cat_args *a, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s/trust", a->dir) >= (int)cap)
        return cli_err("%s: path too long", a->dir);
    return 0;
}

static int trust_read(struct vpxi_sx *sx, const char *path, struct vpxi_sexp **t)
{
    if (access(path, F_OK) != 0)
        return vpxi_sexp_build(sx, t, "(catalog-trust (acl))") ? cli_err("out of memory") : 0;
    if (cli_read_sexp(sx, path, NULL, t) != 0)
        return CLI_FAIL;
    if (!vpxi_sexp_head_is(*t, "catalog-trust"))
        return cli_err("%s: not a trust configuration", path);
    return 0;
}

/* Checks the new configuration as the provider will read it, then writes it. */
static int trust_write(const struct cat_args *a, const char *path, const struct vpxi_sexp *t)
{
    struct vpxi_trust *chk;
    struct vpxi_wr w;
    char why[256];
    int r;

    vpxi_wr_init_dyn(&w, 0);
    vpxi_sexp_write(t, VPXI_SEXP_ADVANCED, &w);
    vpxi_wr_u8(&w, '\n');
    if ((r = w.err) != 0) {
        vpxi_wr_clear(&w);
        return cli_err_r(r, "trust");
    }
    if ((r = vpxi_trust_parse(w.p, w.len, &chk, why, sizeof(why))) != 0) {
        vpxi_wr_clear(&w);
        return cli_err("the new trust configuration would be invalid: %s", why);
    }
    vpxi_trust_free(chk);
    if (mkdir(a->dir, 0755) != 0 && access(a->dir, F_OK) != 0) {
        vpxi_wr_clear(&w);
        return cli_err("%s: cannot create", a->dir);
    }
    r = cli_write_file(path, w.p, w.len, 0644, true);
    vpxi_wr_clear(&w);
    return r ? cli_err_r(r, "%s", path) : 0;
}

static int trust_subject(struct vpxi_sx *sx, const struct cat_args *a, struct vpxi_sexp **subj)
{
    struct vpxi_sexp *pub[LIST_MAX];
    uint64_t k = a->nendorsers;
    int r;

    for (size_t i = 0; i < a->nendorsers; i++) {
        struct vpxi_key *key;
        if ((r = load_key(a->endorsers[i], false, &key)) != 0)
            return r;
        r = vpxi_key_to_sexp(sx, key, &pub[i]);
        vpxi_key_put(key);
        if (r)
            return cli_err_r(r, "%s", a->endorsers[i]);
    }
    if (a->threshold && (r = u64_opt("--threshold", a->threshold, &k)) != 0)
        return r;
    if (k < 1 || k > a->nendorsers)
        return cli_err("--threshold %" PRIu64 ": between 1 and the number of endorsers (%zu)", k,
                       a->nendorsers);
    if (a->nendorsers == 1) {
        *subj = pub[0];
        return 0;
    }
    if (vpxi_sexp_build(sx, subj, "(k-of-n %u %u)", k, (uint64_t)a->nendorsers) != 0)
        return cli_err("out of memory");
    for (size_t i = 0; i < a->nendorsers; i++)
        vpxi_sexp_append(*subj, pub[i]);
    return 0;
}

static int trust_tag(struct vpxi_sx *sx, const struct cat_args *a, struct vpxi_sexp **tag)
{
    int r;

    if (a->scope && a->tag)
        return cli_err("give --scope or --tag, not both"), CLI_USAGE;
    if (a->tag) {
        if (cli_parse_sexp_arg(sx, "--tag", a->tag, tag) != 0)
            return CLI_FAIL;
        if (vpxi_sexp_head_is(*tag, "tag") && (*tag)->len == 2)
            *tag = (*tag)->child->next;
        if ((r = vpxi_tag_check(*tag)) != 0)
            return cli_err_r(r, "--tag '%s'", a->tag);
        return 0;
    }
    if (a->scope)
        r = vpxi_sexp_build(sx, tag, "(endorse (* prefix %s))", a->scope);
    else
        r = vpxi_sexp_build(sx, tag, "(endorse (*))");
    return r ? cli_err_r(r, "tag") : 0;
}

static int valid_elem(struct vpxi_sx *sx, const struct cat_args *a, struct vpxi_sexp **out)
{
    char d[VPXI_DATE_LEN + 1];
    struct vpxi_sexp *e;
    int64_t t;
    int r;

    *out = NULL;
    if (!a->nb && !a->na)
        return 0;
    if (vpxi_sexp_build(sx, out, "(valid)") != 0)
        return cli_err("out of memory");
    if (a->nb) {
        if ((r = time_opt("--not-before", a->nb, a->now, &t)) != 0)
            return r;
        vpxi_date_format(t, d);
        if (vpxi_sexp_build(sx, &e, "(not-before %s)", d) != 0)
            return cli_err("out of memory");
        vpxi_sexp_append(*out, e);
    }
    if (a->na) {
        if ((r = time_opt("--not-after", a->na, a->now, &t)) != 0)
            return r;
        vpxi_date_format(t, d);
        if (vpxi_sexp_build(sx, &e, "(not-after %s)", d) != 0)
            return cli_err("out of memory");
        vpxi_sexp_append(*out, e);
    }
    return 0;
}

static int trust_add(const struct cat_args *a, struct vpxi_sx *sx, struct vpxi_sexp *t)
{
    struct vpxi_sexp *acl = vpxi_sexp_find(t, "acl"), *subj, *tag, *valid, *entry, *e;
    int r;

    if (a->nendorsers == 0)
        return cli_err("trust add needs --endorser PUBFILE"), CLI_USAGE;
    if ((r = trust_subject(sx, a, &subj)) != 0 || (r = trust_tag(sx, a, &tag)) != 0 ||
        (r = valid_elem(sx, a, &valid)) != 0)
        return r;
    if (!acl) {
        if (vpxi_sexp_build(sx, &acl, "(acl)") != 0)
            return cli_err("out of memory");
        vpxi_sexp_append(t, acl);
    }
    if (vpxi_sexp_build(sx, &entry, "(entry (subject %S) (propagate) (tag %S) %S)", subj, tag,
                        valid) != 0)
        return cli_err("out of memory");
    if (a->comment) {
        if (vpxi_sexp_build(sx, &e, "(comment %s)", a->comment) != 0)
            return cli_err("out of memory");
        vpxi_sexp_append(entry, e);
    }
    vpxi_sexp_append(acl, entry);
    return 0;
}

static int trust_source(const struct cat_args *a, struct vpxi_sx *sx, struct vpxi_sexp *t)
{
    if (a->nfiles == 0)
        return cli_err("trust source needs at least one SOURCE"), CLI_USAGE;
    for (int i = 0; i < a->nfiles; i++) {
        struct vpxi_sexp *prev = t->child, *found = NULL, *e;
        for (e = t->child->next; e && !found; prev = found ? prev : e, e = e->next)
            if (vpxi_sexp_head_is(e, "source") &&
                vpxi_sexp_atom_is(vpxi_sexp_nth(e, 1), a->files[i]))
                found = e;
        if (a->remove) {
            if (!found)
                return cli_err("%s is not a source", a->files[i]);
            list_remove(t, prev, found);
            continue;
        }
        if (found)
            continue;
        if (!vpxi_source_ok(a->files[i]))
            return cli_err("%s: expected http://, https://, file:/// or an absolute path",
                           a->files[i]);
        if (vpxi_sexp_build(sx, &e, "(source %s)", a->files[i]) != 0)
            return cli_err("out of memory");
        vpxi_sexp_append(t, e);
    }
    return 0;
}

/* Replaces (or adds) the element headed by name. */
static void set_elem(struct vpxi_sexp *t, const char *name, struct vpxi_sexp *nw)
{
    struct vpxi_sexp *prev = t->child;

    for (struct vpxi_sexp *e = t->child->next; e; prev = e, e = e->next)
        if (vpxi_sexp_head_is(e, name)) {
            list_replace(t, prev, e, nw);
            return;
        }
    vpxi_sexp_append(t, nw);
}

static int trust_set(const struct cat_args *a, struct vpxi_sx *sx, struct vpxi_sexp *t)
{
    const char *names[] = { "interval", "jitter", "warn" };
    const char *vals[] = { a->interval, a->jitter, a->warn };
    struct vpxi_sexp *old = vpxi_sexp_find(t, "refresh"), *nr, *e;
    uint64_t v;
    int r;

    if (vpxi_sexp_build(sx, &nr, "(refresh)") != 0)
        return cli_err("out of memory");
    for (int i = 0; i < 3; i++) {
        const struct vpxi_sexp *cur = old ? vpxi_sexp_find(old, names[i]) : NULL;
        if (vals[i]) {
            if ((r = u64_opt(names[i], vals[i], &v)) != 0)
                return r;
            if (vpxi_sexp_build(sx, &e, "(%s %u)", names[i], v) != 0)
                return cli_err("out of memory");
        } else if (cur) {
            e = vpxi_sexp_copy(sx, cur);
        } else {
            continue;
        }
        vpxi_sexp_append(nr, e);
    }
    set_elem(t, "refresh", nr);
    if (a->max_size) {
        if ((r = u64_opt("--max-size", a->max_size, &v)) != 0)
            return r;
        if (vpxi_sexp_build(sx, &e, "(max-size %u)", v) != 0)
            return cli_err("out of memory");
        set_elem(t, "max-size", e);
    }
    return 0;
}

static void trust_show_json(const struct vpxi_trust *t)
{
    char line[1024], d[VPXI_DATE_LEN + 1], id[17];
    struct vpxi_wr w;

    vpxi_wr_init_dyn(&w, 0);
    vpxi_wr_str(&w, "{\"acl\":[");
    for (size_t i = 0; i < t->acl->n; i++) {
        const struct vpxi_acl_entry *e = &t->acl->entries[i];
        const struct vpxi_subject *subs = &e->subject;
        unsigned n = 1, k = 1;
        if (e->subject.kind == VPXI_SUBJECT_THRESHOLD) {
            subs = e->subject.subs;
            n = e->subject.n;
            k = e->subject.k;
        }
        sexp_line(e->tag, line, sizeof(line));
        vpxi_wr_printf(&w, "%s{\"tag\":", i ? "," : "");
        vpxi_json_string(&w, (const uint8_t *)line, strlen(line));
        vpxi_wr_printf(&w, ",\"threshold\":%u,\"endorsers\":[", k);
        for (unsigned j = 0; j < n; j++) {
            if (subs[j].kind == VPXI_SUBJECT_PRINCIPAL) {
                vpxi_principal_short(&subs[j].p, id);
                vpxi_wr_printf(&w, "%s\"%s\"", j ? "," : "", id);
            } else {
                vpxi_wr_printf(&w, "%snull", j ? "," : "");
            }
        }
        date_str(e->valid.not_after, d);
        vpxi_wr_str(&w, "],\"not_after\":");
        if (e->valid.not_after == VPXI_TIME_MAX)
            vpxi_wr_str(&w, "null}");
        else
            vpxi_wr_printf(&w, "\"%s\"}", d);
    }
    vpxi_wr_str(&w, "],\"sources\":[");
    for (size_t i = 0; i < t->nsources; i++) {
        if (i)
            vpxi_wr_u8(&w, ',');
        vpxi_json_string(&w, (const uint8_t *)t->sources[i], strlen(t->sources[i]));
    }
    vpxi_wr_printf(&w,
                   "],\"interval\":%" PRId64 ",\"jitter\":%" PRId64 ",\"warn\":%" PRId64
                   ",\"max_size\":%zu}\n",
                   t->interval, t->jitter, t->warn, t->max_size);
    print_wr(&w);
}

static void trust_show(const struct cat_args *a)
{
    struct vpxi_provider *p;
    const struct vpxi_trust *t;
    char line[1024], d[VPXI_DATE_LEN + 1];

    if (open_provider(a, &p) != 0)
        return;
    t = vpxi_provider_trust(p);
    if (cli_opts.json) {
        trust_show_json(t);
        vpxi_provider_close(p);
        return;
    }
    printf("trust configuration of %s\n", a->dir);
    for (size_t i = 0; i < t->acl->n; i++) {
        const struct vpxi_acl_entry *e = &t->acl->entries[i];
        sexp_line(e->tag, line, sizeof(line));
        printf("  entry %zu: %s\n", i + 1, line);
        if (e->subject.kind == VPXI_SUBJECT_THRESHOLD) {
            printf("    endorsers: %u of", e->subject.k);
            for (unsigned j = 0; j < e->subject.n; j++) {
                char id[17];
                if (e->subject.subs[j].kind == VPXI_SUBJECT_PRINCIPAL) {
                    vpxi_principal_short(&e->subject.subs[j].p, id);
                    printf(" %s", id);
                } else {
                    printf(" (threshold)");
                }
            }
            printf("\n");
        } else {
            char id[17];
            vpxi_principal_short(&e->subject.p, id);
            printf("    endorser:  %s\n", id);
        }
        if (e->valid.not_after != VPXI_TIME_MAX) {
            date_str(e->valid.not_after, d);
            printf("    until:     %s\n", d);
        }
    }
    for (size_t i = 0; i < t->nsources; i++)
        printf("  source: %s\n", t->sources[i]);
    printf("  refresh every %" PRId64 " s (+ up to %" PRId64 " s jitter), warn %" PRId64
           " s ahead, max-size %zu\n",
           t->interval, t->jitter, t->warn, t->max_size);
    vpxi_provider_close(p);
}

/* A catalogue with this provider's trust element and no images. */
static int trust_export(const struct cat_args *a)
{
    struct vpxi_provider *p = NULL;
    struct vpxi_catalog_draft cd = { 0 };
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *te, *e;
    struct vpxi_key *k = NULL;
    const struct vpxi_trust *t;
    int r;

    if (!a->key || !a->out) {
        vpxi_sx_free(sx);
        cli_err("trust export needs --key and -o");
        return CLI_USAGE;
    }
    if (!sx)
        return cli_err_r(VPXI_ERR_NOMEM, "export");
    if ((r = open_provider(a, &p)) != 0 || (r = load_key(a->key, true, &k)) != 0 ||
        (r = draft_header(a, k, 7 * 86400, &cd)) != 0)
        goto out;
    t = vpxi_provider_trust(p);
    if (vpxi_sexp_build(sx, &te, "(trust %S)", vpxi_sexp_find(t->node, "acl")) != 0) {
        r = cli_err("out of memory");
        goto out;
    }
    if (!vpxi_sexp_find(t->node, "acl") && vpxi_sexp_build(sx, &te, "(trust (acl))") != 0) {
        r = cli_err("out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->nsources; i++) {
        if (t->sources[i][0] == '/')
            continue; /* local paths mean nothing elsewhere */
        if (vpxi_sexp_build(sx, &e, "(source %s)", t->sources[i]) != 0) {
            r = cli_err("out of memory");
            goto out;
        }
        vpxi_sexp_append(te, e);
    }
    cd.trust = te;
    r = sign_and_write(a, &cd, k);
out:
    vpxi_key_put(k);
    vpxi_provider_close(p);
    vpxi_sx_free(sx);
    return r;
}

static int cmd_trust(int argc, char **argv)
{
    struct cat_args a;
    struct vpxi_sx *sx;
    struct vpxi_sexp *t;
    char path[4096];
    const char *sub;
    int r;

    if (argc < 2)
        return cli_usage(usage_trust);
    if ((r = parse_args(argc, argv, &a, usage_trust)) != 0)
        return r == CLI_USAGE ? cli_usage(usage_trust) : r;
    if (!a.dir || a.nfiles < 1)
        return cli_usage(usage_trust);
    sub = a.files[0];
    a.files++;
    a.nfiles--;
    if (!strcmp(sub, "show"))
        return trust_show(&a), CLI_OK;
    if (!strcmp(sub, "export"))
        return trust_export(&a);
    if ((r = trust_path(&a, path, sizeof(path))) != 0)
        return r;
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "trust");
    if ((r = trust_read(sx, path, &t)) != 0)
        goto out;
    if (!strcmp(sub, "add"))
        r = trust_add(&a, sx, t);
    else if (!strcmp(sub, "source"))
        r = trust_source(&a, sx, t);
    else if (!strcmp(sub, "set"))
        r = trust_set(&a, sx, t);
    else {
        cli_err("unknown trust command '%s'", sub);
        r = CLI_USAGE;
    }
    if (r == 0)
        r = trust_write(&a, path, t);
    if (r == 0 && !cli_opts.quiet)
        printf("%s updated\n", path);
out:
    vpxi_sx_free(sx);
    return r == CLI_USAGE ? cli_usage(usage_trust) : r;
}

int cmd_catalog(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        { "add", cmd_add },       { "endorse", cmd_endorse }, { "sign", cmd_sign },
        { "export", cmd_export }, { "show", cmd_show },       { "verify", cmd_verify },
        { "import", cmd_import }, { "ls", cmd_ls },           { "fetch", cmd_fetch },
        { "trust", cmd_trust },
    };

    return cli_dispatch("catalog", subs, sizeof(subs) / sizeof(subs[0]), usage, argc, argv);
}
