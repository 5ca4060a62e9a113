/*
 * files.h - crash-safe small files: written to a temporary name, fsync'ed,
 * renamed over the target, directory fsync'ed. A crash leaves the old file
 * or the new one, never a mix.
 */
#ifndef VPXI_FILES_H
#define VPXI_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vpxi/sexp.h"

/* 0 or -errno. */
int file_write_atomic(const char *path, const void *p, size_t len, mode_t mode);
/* n in the given form (canonical, advanced, transport); 0, -errno or VPXI_ERR_*. */
int file_write_sexp(const char *path, const struct vpxi_sexp *n, enum vpxi_sexp_form form,
                    mode_t mode);
/* mkdir -p with mode for the directories it creates. 0 or -errno. */
int file_mkdirs(const char *path, mode_t mode);

/* SHA-256 of a file's contents. 0 or VPXI_ERR_* (VPXI_ERR_SYS with errno set). */
int file_sha256(const char *path, uint8_t out[32]);

#endif
