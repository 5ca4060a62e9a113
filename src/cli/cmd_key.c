/*
 * cmd_key.c - vpxi key: generate key pairs; print public keys, HITs and key
 * ids.
 *
 * Every reader takes FILE or "-" (standard input) holding a private key
 * (PEM), a public key (PEM) or a (public-key ...) S-expression, so the
 * commands compose over pipes:
 *   vpxi key gen -o - | vpxi key pub - | vpxi key hit -
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

#include "cli.h"

static const char usage_key[] =
    "key COMMAND [OPTIONS] [FILE]\n"
    "\n"
    "Commands:\n"
    "  gen   generate a key pair; write the private key (PKCS#8 PEM, mode 0600)\n"
    "  pub   print the public key as an SPKI S-expression\n"
    "  hit   print the HIT (ORCHIDv2 host identity tag, RFC 7343)\n"
    "  id    print the key id: SHA-256 of the canonical (public-key ...)\n"
    "  show  print algorithm, size, HI algorithm, HIT and key id\n"
    "\n"
    "FILE is a private key (PEM), a public key (PEM) or a (public-key ...)\n"
    "S-expression in any form; '-' or no FILE reads standard input. A private\n"
    "key file must not be accessible by group or others (chmod 600).\n"
    "'vpxi key COMMAND --help' describes a command.\n";

static const char usage_gen[] =
    "key gen [--alg ecdsa-p256|ed25519|rsa] [--bits N] [--force] [--pub PUBFILE]\n"
    "        [--json] -o FILE\n"
    "\n"
    "Generates a key pair and writes the private key to FILE as PKCS#8 PEM with\n"
    "mode 0600 (atomically: a temporary file, fsync, rename). Prints the HIT.\n"
    "\n"
    "  -a, --alg ALG     ecdsa-p256 (default, HIT suite 2), ed25519 (suite 5)\n"
    "                    or rsa (suite 1, for interoperability only)\n"
    "  -b, --bits N      RSA modulus size, 2048..8192 (default 3072)\n"
    "  -o, --out FILE    private key file; '-' writes the PEM to standard output\n"
    "                    (refused when that is a terminal) and prints no HIT\n"
    "  -p, --pub FILE    also write the public key S-expression to FILE\n"
    "  -f, --force       replace existing files\n"
    "      --json        print {\"hit\": ..., \"key_id\": ...} instead of the HIT\n";

static const char usage_pub[] = "key pub [-s canonical|advanced|transport] [FILE]\n"
                                "\n"
                                "Prints the public key of FILE as an SPKI S-expression, e.g.\n"
                                "  (public-key (ecdsa-p256-sha256 (q #04...#)))\n"
                                "in the chosen form (default advanced).\n";

static const char usage_hit[] =
    "key hit [--json] [FILE]\n"
    "\n"
    "Prints the HIT of the key in FILE: 2001:2s::/32 where s is the HIT suite\n"
    "(1 RSA, 2 ECDSA, 5 EdDSA), then 96 bits of the suite's hash of the HIP\n"
    "context ID and the Host Identity field.\n";

static const char usage_id[] =
    "key id [--json] [FILE]\n"
    "\n"
    "Prints the key id of the key in FILE: the hex SHA-256 of the canonical\n"
    "encoding of its (public-key ...) S-expression, the key's hash principal.\n";

static const char usage_show[] =
    "key show [--json] [FILE]\n"
    "\n"
    "Prints the algorithm, size, whether FILE holds the private key, the HIP\n"
    "HI algorithm and HIT suite, the HIT and the key id.\n";

enum { OPT_JSON = 256 };

/* Options shared by the readers: --json, --help, -s for pub. */
static const struct option reader_opts[] = {
    { "syntax", required_argument, NULL, 's' },
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int help(const char *usage)
{
    printf("usage: %s %s", cli_prog, usage);
    return CLI_OK;
}

/* Loads any key file; a clear message on failure. */
static int load_key(const char *path, struct vpxi_key **k)
{
    const char *name = strcmp(path, "-") ? path : "standard input";
    int r = vpxi_key_load(path, k);

    if (r == VPXI_ERR_KEY_PERMS)
        return cli_err("%s: %s; refusing to use it (chmod 600 %s)", name, vpxi_strerror(r), path);
    if (r)
        return cli_err_r(r, "%s", name);
    return CLI_OK;
}

/* Key facts printed by gen, hit, id and show. */
struct key_info {
    char hit[VPXI_HIT_STRLEN];
    char id[2 * VPXI_KEY_ID_LEN + 1];
    uint16_t hi_alg;
};

static int key_info(const struct vpxi_key *k, struct key_info *ki)
{
    uint8_t hit[VPXI_HIT_LEN], id[VPXI_KEY_ID_LEN], hi[VPXI_HI_MAX];
    size_t hilen;
    int r;

    memset(ki, 0, sizeof(*ki));
    if ((r = vpxi_hi_encode(k, hi, sizeof(hi), &hilen, &ki->hi_alg)) != 0 ||
        (r = vpxi_hit_from_hi(ki->hi_alg, hi, hilen, hit)) != 0 || (r = vpxi_key_id(k, id)) != 0)
        return cli_err_r(r, "key");
    vpxi_hit_to_str(hit, ki->hit);
    vpxi_hex_encode(ki->id, id, sizeof(id));
    return CLI_OK;
}

/* Parses reader options; *path gets FILE or "-". */
static int reader_args(int argc, char **argv, const char *usage, bool allow_syntax,
                       enum vpxi_sexp_form *form, const char **path)
{
    int c;

    *path = "-";
    optind = 1;
    while ((c = getopt_long(argc, argv, allow_syntax ? "s:h" : "h", reader_opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!allow_syntax || (*form = cli_parse_form(optarg)) == 0)
                return cli_usage(usage);
            break;
        case OPT_JSON: cli_opts.json = true; break;
        case 'h': return help(usage) - 1; /* -1: done, exit 0 */
        default: return cli_usage(usage);
        }
    }
    if (argc - optind > 1)
        return cli_usage(usage);
    if (optind < argc)
        *path = argv[optind];
    return CLI_OK;
}

/* Runs reader_args and loads the key; returns -1 after --help. */
static int reader_start(int argc, char **argv, const char *usage, bool allow_syntax,
                        enum vpxi_sexp_form *form, const char **path, struct vpxi_key **k)
{
    int r;

    *k = NULL;
    if ((r = reader_args(argc, argv, usage, allow_syntax, form, path)) != 0)
        return r;
    return load_key(*path, k);
}

static int finish(int r)
{
    return r < 0 ? CLI_OK : r;
}

/* ---- gen ------------------------------------------------------------------- */

static int parse_bits(const char *s, unsigned *bits)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (!*s || *end || v < VPXI_RSA_BITS_MIN || v > VPXI_RSA_BITS_MAX || v % 8) {
        cli_err("--bits '%s': expected a multiple of 8 in %d..%d", s, VPXI_RSA_BITS_MIN,
                VPXI_RSA_BITS_MAX);
        return CLI_USAGE;
    }
    *bits = (unsigned)v;
    return CLI_OK;
}

static int refuse_existing(const char *path, bool force)
{
    if (!path || force || !strcmp(path, "-") || access(path, F_OK) != 0)
        return CLI_OK;
    return cli_err("%s: already exists (use --force to replace it)", path);
}

/* write(2) rather than stdio, so that no copy of the PEM stays behind in a
 * stdio buffer we cannot wipe. */
static int write_stdout(const uint8_t *p, size_t n)
{
    ssize_t w;

    fflush(stdout);
    while (n) {
        w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return VPXI_ERR_SYS;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The PEM goes to a pipe or file, never to a terminal. */
static int private_to_stdout(const struct vpxi_key *k)
{
    struct vpxi_wr w;
    int r;

    if (isatty(STDOUT_FILENO))
        return cli_err("refusing to write a private key to a terminal");
    vpxi_wr_init_dyn(&w, VPXI_KEYFILE_MAX);
    if ((r = vpxi_key_private_to_pem(k, &w)) == 0)
        r = write_stdout(w.p, w.len);
    vpxi_wr_clear(&w); /* wipes the PEM */
    return r ? cli_err_r(r, "standard output") : CLI_OK;
}

static int key_gen(int argc, char **argv)
{
    static const struct option opts[] = {
        { "alg", required_argument, NULL, 'a' }, { "bits", required_argument, NULL, 'b' },
        { "out", required_argument, NULL, 'o' }, { "pub", required_argument, NULL, 'p' },
        { "force", no_argument, NULL, 'f' },     { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
    };
    enum vpxi_key_alg alg = VPXI_KEY_ECDSA_P256;
    const char *out = NULL, *pub = NULL;
    struct vpxi_key *k = NULL;
    struct key_info ki;
    unsigned bits = 0;
    bool force = false;
    int c, r;

    optind = 1;
    while ((c = getopt_long(argc, argv, "a:b:o:p:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if ((alg = vpxi_key_alg_from_name(optarg)) == VPXI_KEY_NONE) {
                cli_err("unknown algorithm '%s' (ecdsa-p256, ed25519 or rsa)", optarg);
                return CLI_USAGE;
            }
            break;
        case 'b':
            if ((r = parse_bits(optarg, &bits)) != 0)
                return r;
            break;
        case 'o': out = optarg; break;
        case 'p': pub = optarg; break;
        case 'f': force = true; break;
        case OPT_JSON: cli_opts.json = true; break;
        case 'h': return help(usage_gen);
        default: return cli_usage(usage_gen);
        }
    }
    if (optind != argc || !out)
        return cli_usage(usage_gen);
    if (bits && alg != VPXI_KEY_RSA) {
        cli_err("--bits applies to rsa only");
        return CLI_USAGE;
    }
    if (pub && (!strcmp(pub, "-") || !strcmp(pub, out))) {
        cli_err("--pub needs a file name other than the private key's");
        return CLI_USAGE;
    }
    if ((r = refuse_existing(out, force)) != 0 || (r = refuse_existing(pub, force)) != 0)
        return r;
    if ((r = vpxi_key_generate(alg, bits, &k)) != 0)
        return cli_err_r(r, "generating a %s key", vpxi_key_alg_name(alg));
    if (!strcmp(out, "-")) {
        r = private_to_stdout(k);
    } else if ((r = vpxi_key_save_private(out, k, force)) != 0) {
        r = cli_err_r(r, "%s", out);
    }
    if (r == 0 && pub && (r = vpxi_key_save_public(pub, k, force)) != 0)
        r = cli_err_r(r, "%s", pub);
    if (r != 0 || !strcmp(out, "-") || (r = key_info(k, &ki)) != 0)
        goto out;
    if (cli_opts.json) {
        printf("{\"file\": ");
        cli_json_str(out);
        printf(", \"algorithm\": \"%s\", \"hit\": \"%s\", \"key_id\": \"%s\"}\n",
               vpxi_key_alg_name(alg), ki.hit, ki.id);
    } else {
        printf("%s\n", ki.hit);
    }
out:
    vpxi_key_put(k);
    return r;
}

/* ---- readers --------------------------------------------------------------- */

static int key_pub(int argc, char **argv)
{
    enum vpxi_sexp_form form = VPXI_SEXP_ADVANCED;
    struct vpxi_key *k = NULL;
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    const char *path;
    int r;

    if ((r = reader_start(argc, argv, usage_pub, true, &form, &path, &k)) != 0)
        return finish(r);
    if ((sx = vpxi_sx_new()) == NULL) {
        r = cli_err_r(VPXI_ERR_NOMEM, "%s", path);
        goto out;
    }
    if ((r = vpxi_key_to_sexp(sx, k, &n)) != 0) {
        r = cli_err_r(r, "%s", path);
        goto out;
    }
    if ((r = cli_write_sexp("-", n, form, true)) != 0)
        r = cli_err_r(r, "standard output");
out:
    vpxi_sx_free(sx);
    vpxi_key_put(k);
    return r;
}

static int key_hit(int argc, char **argv)
{
    struct vpxi_key *k = NULL;
    struct key_info ki;
    const char *path;
    int r;

    if ((r = reader_start(argc, argv, usage_hit, false, NULL, &path, &k)) != 0)
        return finish(r);
    if ((r = key_info(k, &ki)) == 0) {
        if (cli_opts.json)
            printf("{\"hit\": \"%s\"}\n", ki.hit);
        else
            printf("%s\n", ki.hit);
    }
    vpxi_key_put(k);
    return r;
}

static int key_id(int argc, char **argv)
{
    struct vpxi_key *k = NULL;
    struct key_info ki;
    const char *path;
    int r;

    if ((r = reader_start(argc, argv, usage_id, false, NULL, &path, &k)) != 0)
        return finish(r);
    if ((r = key_info(k, &ki)) == 0) {
        if (cli_opts.json)
            printf("{\"key_id\": \"%s\"}\n", ki.id);
        else
            printf("%s\n", ki.id);
    }
    vpxi_key_put(k);
    return r;
}

static int key_show(int argc, char **argv)
{
    struct vpxi_key *k = NULL;
    struct key_info ki;
    const char *path, *alg;
    int r;

    if ((r = reader_start(argc, argv, usage_show, false, NULL, &path, &k)) != 0)
        return finish(r);
    if ((r = key_info(k, &ki)) != 0)
        goto out;
    alg = vpxi_key_alg_name(vpxi_key_alg(k));
    if (cli_opts.json) {
        printf("{\"file\": ");
        cli_json_str(path);
        printf(", \"algorithm\": \"%s\", \"bits\": %u, \"private\": %s, \"hi_algorithm\": %u, "
               "\"hit_suite\": %u, \"hit\": \"%s\", \"key_id\": \"%s\"}\n",
               alg, vpxi_key_bits(k), vpxi_key_is_private(k) ? "true" : "false",
               (unsigned)ki.hi_alg, (unsigned)vpxi_hit_suite_of_key(k), ki.hit, ki.id);
    } else {
        printf("algorithm:    %s\n"
               "bits:         %u\n"
               "private:      %s\n"
               "hi-algorithm: %u\n"
               "hit-suite:    %u\n"
               "hit:          %s\n"
               "key-id:       %s\n",
               alg, vpxi_key_bits(k), vpxi_key_is_private(k) ? "yes" : "no", (unsigned)ki.hi_alg,
               (unsigned)vpxi_hit_suite_of_key(k), ki.hit, ki.id);
    }
out:
    vpxi_key_put(k);
    return r;
}

/* ---- dispatch -------------------------------------------------------------- */

int cmd_key(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        { "gen", key_gen }, { "pub", key_pub },   { "hit", key_hit },
        { "id", key_id },   { "show", key_show },
    };

    return cli_dispatch("key", subs, sizeof(subs) / sizeof(subs[0]), usage_key, argc, argv);
}
