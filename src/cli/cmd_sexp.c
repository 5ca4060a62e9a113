/*
 * cmd_sexp.c - vpxi sexp: convert S-expressions between forms, hash them.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vpxi/buf.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/sexp.h"

#include "cli.h"

static const char usage[] =
    "sexp [-s canonical|advanced|transport] [--hash sha256|sha384|sha512|sha1] [FILE]\n"
    "\n"
    "Reads one S-expression in any form (canonical, advanced or {transport})\n"
    "from FILE or standard input and writes it in the chosen form (default\n"
    "advanced), or prints the hex digest of its canonical encoding.\n";

int cmd_sexp(int argc, char **argv)
{
    static const struct option opts[] = {
        { "syntax", required_argument, NULL, 's' },
        { "hash", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum vpxi_sexp_form form = VPXI_SEXP_ADVANCED;
    enum vpxi_hash_alg halg = VPXI_HASH_NONE;
    struct vpxi_sx *sx = NULL;
    struct vpxi_sexp *n;
    const char *path = "-";
    const uint8_t *canon;
    uint8_t digest[VPXI_HASH_MAX_LEN];
    size_t clen;
    int c, r;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:H:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if ((form = cli_parse_form(optarg)) == 0)
                return cli_usage(usage);
            break;
        case 'H':
            halg = vpxi_hash_from_name((const uint8_t *)optarg, strlen(optarg));
            if (halg == VPXI_HASH_NONE) {
                cli_err("unknown hash '%s' (sha256, sha384, sha512, sha1)", optarg);
                return CLI_USAGE;
            }
            break;
        case 'h': printf("usage: %s %s", cli_prog, usage); return CLI_OK;
        default: return cli_usage(usage);
        }
    }
    if (argc - optind > 1)
        return cli_usage(usage);
    if (optind < argc)
        path = argv[optind];
    if ((sx = vpxi_sx_new()) == NULL)
        return cli_err_r(VPXI_ERR_NOMEM, "sexp");
    if ((r = cli_read_sexp(sx, path, NULL, &n)) != 0)
        goto out;
    if (halg != VPXI_HASH_NONE) {
        char hex[2 * VPXI_HASH_MAX_LEN + 1];
        if ((r = vpxi_sexp_canonical(sx, n, &canon, &clen)) != 0 ||
            (r = vpxi_hash(halg, canon, clen, digest)) != 0) {
            r = cli_err_r(r, "hash");
            goto out;
        }
        vpxi_hex_encode(hex, digest, vpxi_hash_len(halg));
        printf("%s\n", hex);
        r = CLI_OK;
        goto out;
    }
    if ((r = cli_write_sexp("-", n, form, true)) != 0)
        r = cli_err_r(r, "write");
out:
    vpxi_sx_free(sx);
    return r;
}
