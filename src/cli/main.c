/*
 * main.c - the vpxi command: a table of subcommands (as wg.c and tincctl.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cli_opts cli_opts;
const char *cli_prog = "vpxi";

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "key", cmd_key, "generate keys; print public keys and HITs" },
    { "cert", cmd_cert, "issue, show, verify and reduce SPKI certificates" },
    { "sexp", cmd_sexp, "convert S-expressions between canonical, advanced and transport" },
    { "catalog", cmd_catalog, "image catalogues: add, endorse, sign, import, fetch, verify" },
    { "status", cmd_status, "show the overlays and peers of the local vpxid" },
    { "peer", cmd_peer, "connect, close, rekey or renew one peer" },
    { "reload", cmd_daemon, "make vpxid reload its configuration" },
    { "stop", cmd_daemon, "make vpxid close every association and exit" },
    { "enroll", cmd_vpxi, "enrol with a registrar (accepting its usage agreement)" },
    { "up", cmd_vpxi, "create a VPXI from a specification file and join it" },
    { "ls", cmd_vpxi, "list the VPXIs you belong to" },
    { "show", cmd_vpxi, "show a VPXI: nodes, HITs, addresses, your chain" },
    { "down", cmd_vpxi, "end a VPXI (its owner) and leave it" },
    { "user", cmd_vpxi, "user add VPXI PUBKEY -o FILE: delegate access to another user" },
    { "join", cmd_vpxi, "join a VPXI with a chain delegated to you" },
    { "exec", cmd_vpxi, "run a command on a node, authorized by your chain" },
};

static void help(FILE *f)
{
    size_t i;

    fprintf(f,
            "usage: %s [--json] [-q] COMMAND [ARGS...]\n"
            "\n"
            "vpxi builds Virtual Private eXecution Infrastructures: nodes identified by\n"
            "their public keys (HIP host identities), authorized by SPKI certificates.\n"
            "\n"
            "Commands:\n",
            cli_prog);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'%s COMMAND --help' describes a command. Version %s.\n", cli_prog, VPXI_VERSION);
}

int main(int argc, char **argv)
{
    size_t i;

    while (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "--json")) {
            cli_opts.json = true;
        } else if (!strcmp(argv[1], "-q") || !strcmp(argv[1], "--quiet")) {
            cli_opts.quiet = true;
        } else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
            help(stdout);
            return CLI_OK;
        } else if (!strcmp(argv[1], "--version")) {
            printf("vpxi %s\n", VPXI_VERSION);
            return CLI_OK;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", cli_prog, argv[1]);
            help(stderr);
            return CLI_USAGE;
        }
        argc--;
        argv++;
    }
    if (argc < 2) {
        help(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "help")) {
        help(stdout);
        return CLI_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s' (try '%s help')\n", cli_prog, argv[1], cli_prog);
    return CLI_USAGE;
}
