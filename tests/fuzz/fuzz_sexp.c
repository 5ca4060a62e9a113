/*
 * fuzz_sexp.c - libFuzzer target for the S-expression parsers.
 *
 * Every input goes through the canonical parser, the advanced parser and
 * vpxi_sexp_read(). Whatever parses must round-trip: its canonical,
 * advanced and transport encodings read back to an equal expression, and
 * the canonical encoding is a fixed point. Any violation aborts.
 */
#include <stdlib.h>

#include "vpxi/buf.h"
#include "vpxi/sexp.h"

static void roundtrip(struct vpxi_sx *sx, const struct vpxi_sexp *n)
{
    static const enum vpxi_sexp_form forms[] = { VPXI_SEXP_CANONICAL, VPXI_SEXP_ADVANCED,
                                                 VPXI_SEXP_TRANSPORT };
    struct vpxi_sexp_limits lim = vpxi_sexp_limits_default;

    /* the printers may use more bytes than the input, never more nesting */
    lim.input_max = 64 * 1024 * 1024;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct vpxi_wr w;
        struct vpxi_sexp *back;

        vpxi_wr_init_dyn(&w, 0);
        if (vpxi_sexp_write(n, forms[i], &w) != 0)
            abort();
        if (vpxi_sexp_read(sx, w.p, w.len, &lim, &back, NULL) != 0)
            abort();
        if (!vpxi_sexp_equal(n, back))
            abort();
        if (forms[i] == VPXI_SEXP_CANONICAL &&
            (vpxi_sexp_canonical_len(n) != w.len || back->span_len != w.len))
            abort();
        vpxi_wr_clear(&w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n;
    struct vpxi_sexp_error e;

    if (!sx)
        return 0;
    if (vpxi_sexp_parse_canonical(sx, data, size, NULL, &n, &e) == 0) {
        /* canonical input is its own encoding */
        if (n->span_len != size)
            abort();
        roundtrip(sx, n);
    } else if (e.offset > size) {
        abort();
    }
    if (vpxi_sexp_parse_advanced(sx, data, size, NULL, &n, &e) == 0)
        roundtrip(sx, n);
    else if (e.offset > size)
        abort();
    if (vpxi_sexp_read(sx, data, size, NULL, &n, &e) == 0)
        roundtrip(sx, n);
    vpxi_sx_free(sx);
    return 0;
}
