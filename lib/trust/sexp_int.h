/*
 * sexp_int.h - internals shared by sexp.c and sexp_text.c.
 */
#ifndef VPXI_SEXP_INT_H
#define VPXI_SEXP_INT_H

#include "vpxi/sexp.h"

/* A zeroed node of the given type, in the arena. */
struct vpxi_sexp *sexp_node(struct vpxi_sx *sx, enum vpxi_sexp_type type);

#endif
