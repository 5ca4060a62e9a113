/*
 * cli.h - shared helpers of the vpxi command-line tool.
 *
 * Commands live in cmd_<name>.c and export int cmd_<name>(int argc, char **argv),
 * where argv[0] is the command name. They return the process exit status:
 * 0 success, 1 failure (a message was printed), 2 usage error.
 */
#ifndef VPXI_CLI_H
#define VPXI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/sexp.h"

enum cli_exit {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2,
};

/* Global options (set by main before dispatch). */
struct cli_opts {
    bool json;  /* --json output where supported */
    bool quiet; /* -q: only errors */
};
extern struct cli_opts cli_opts;
extern const char *cli_prog; /* "vpxi" */

/* Prints "vpxi: <msg>" to stderr; returns CLI_FAIL. */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vpxi: <msg>: <vpxi_strerror(r)>" to stderr; returns CLI_FAIL. */
int cli_err_r(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a usage message to stderr; returns CLI_USAGE. */
int cli_usage(const char *usage);

/* A subcommand table and its dispatch: "help", "-h" and "--help" print
 * usage on stdout; an unknown name is an error with the usage on stderr. */
struct cli_sub {
    const char *name;
    int (*fn)(int argc, char **argv);
};
int cli_dispatch(const char *what, const struct cli_sub *subs, size_t n, const char *usage,
                 int argc, char **argv);

/* Reads a whole file ("-" = stdin) into a malloc'd NUL-terminated buffer.
 * Returns 0 or a VPXI_ERR_* (errno preserved for VPXI_ERR_SYS). */
int cli_read_file(const char *path, uint8_t **out, size_t *len, size_t max);
/* Writes data to path ("-" = stdout) atomically (temp file + fsync + rename),
 * with the given mode; refuses to overwrite unless force. */
int cli_write_file(const char *path, const void *p, size_t len, unsigned mode, bool force);

/* Reads an S-expression file in any form; the arena owns the result. Prints
 * "FILE: offset N: reason" on error and returns CLI_FAIL. */
int cli_read_sexp(struct vpxi_sx *sx, const char *path, const struct vpxi_sexp_limits *lim,
                  struct vpxi_sexp **out);
/* Parses an S-expression given on the command line (advanced form). */
int cli_parse_sexp_arg(struct vpxi_sx *sx, const char *what, const char *text,
                       struct vpxi_sexp **out);
/* Writes an S-expression to path in the given form (advanced adds a newline). */
int cli_write_sexp(const char *path, const struct vpxi_sexp *n, enum vpxi_sexp_form form,
                   bool force);
/* Prints an S-expression to stdout in advanced form with a trailing newline. */
void cli_print_sexp(const struct vpxi_sexp *n);
/* Parses "canonical", "advanced" or "transport"; 0 if unknown. */
enum vpxi_sexp_form cli_parse_form(const char *s);

/* JSON string output (escaped), for --json. */
void cli_json_str(const char *s);
void cli_json_bytes_hex(const uint8_t *p, size_t n);

/* Current time (UTC seconds); VPXI_NOW in the environment overrides it for
 * reproducible tests and demonstrations. */
int64_t cli_now(void);

int cmd_key(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_sexp(int argc, char **argv);
int cmd_catalog(int argc, char **argv); /* image catalogues (cmd_catalog.c) */
int cmd_status(int argc, char **argv);
int cmd_peer(int argc, char **argv);
int cmd_daemon(int argc, char **argv); /* reload, stop */
int cmd_vpxi(int argc, char **argv);   /* enroll, up, ls, show, down, user, join, exec */

#endif
