/*
 * test_sexp.c - S-expression parser and writers: canonical round trips,
 * advanced-form decoding, limits, and every truncation of valid input.
 */
#include "t.h"

#include "vpxi/buf.h"
#include "vpxi/sexp.h"

/* Parses text (any form) and returns its canonical encoding in buf. */
static int to_canon(const char *in, char *buf, size_t cap, struct vpxi_sexp_error *err)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n;
    struct vpxi_wr w;
    int r;

    vpxi_wr_init(&w, buf, cap - 1);
    r = vpxi_sexp_read(sx, (const uint8_t *)in, strlen(in), NULL, &n, err);
    if (r == 0)
        r = vpxi_sexp_write_canonical(n, &w);
    buf[r == 0 ? w.len : 0] = 0;
    vpxi_sx_free(sx);
    return r;
}

#define T_CANON(in, expect)                                                                        \
    do {                                                                                           \
        char out_[1024];                                                                           \
        CHECK_OK(to_canon(in, out_, sizeof(out_), NULL));                                          \
        CHECK_STR(out_, expect);                                                                   \
    } while (0)

#define T_BAD(in, code)                                                                            \
    do {                                                                                           \
        char out_[1024];                                                                           \
        struct vpxi_sexp_error e_;                                                                 \
        CHECK_ERR(to_canon(in, out_, sizeof(out_), &e_), code);                                    \
    } while (0)

static void test_canonical(void)
{
    T_CANON("(3:abc)", "(3:abc)");
    T_CANON("()", "()");
    T_CANON("0:", "0:");
    T_CANON("(1:a())", "(1:a())");
    T_CANON("([10:text/plain]1:x)", "([10:text/plain]1:x)");
    T_BAD("(01:a)", VPXI_ERR_LEADING_ZERO);
    T_BAD("(3:ab", VPXI_ERR_TRUNCATED);
    T_BAD("(3:abc))", VPXI_ERR_TRAILING_DATA);
}

static void test_advanced(void)
{
    T_CANON("(a ())", "(1:a())");
    T_CANON("([\"text/plain\"]\"x\")", "([10:text/plain]1:x)");
    T_CANON("([ hint ] foo)", "([4:hint]3:foo)");
    T_CANON("(# 616263 #)", "(3:abc)");
    T_CANON("(3#616263#)", "(3:abc)");
    T_CANON("(|YWJjZA==|)", "(4:abcd)");
    T_CANON("(|YWJjZA|)", "(4:abcd)");
    T_CANON("(a1:b)", "(4:a1:b)");
    T_CANON("(a 1:b)", "(1:a1:b)");
    T_CANON("(\"a\\\nb\")", "(2:ab)");
    T_CANON("{KDE6YTE6YjE6Yyk=}", "(1:a1:b1:c)");
    T_CANON("(a{KDE6YSk=})", "(1:a(1:a))");
    T_CANON("(\"\\x41\\101\\t\")", "(3:AA\t)");
    T_CANON("  (a b)\n", "(1:a1:b)");
    T_BAD("(#616#)", VPXI_ERR_BAD_FORMAT);
    T_BAD("(4#616263#)", VPXI_ERR_BAD_FORMAT);
    T_BAD("(4\"abc\")", VPXI_ERR_BAD_FORMAT);
    T_BAD("(a!b)", VPXI_ERR_BAD_FORMAT);
    T_BAD("([h])", VPXI_ERR_BAD_FORMAT);
    T_BAD("(a [h](x))", VPXI_ERR_BAD_FORMAT);
    T_BAD("(a b) c", VPXI_ERR_TRAILING_DATA);
    T_BAD("(\"\\q\")", VPXI_ERR_BAD_FORMAT);
    T_BAD("(\"\\400\")", VPXI_ERR_BAD_FORMAT);
    T_BAD("", VPXI_ERR_TRUNCATED);
}

static void test_limits(void)
{
    struct vpxi_sexp_limits lim = vpxi_sexp_limits_default;
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n;
    struct vpxi_sexp_error e;
    char deep[200];
    size_t i;

    for (i = 0; i < 100; i++) {
        deep[i] = '(';
        deep[100 + i] = ')';
    }
    lim.depth_max = 99;
    CHECK_ERR(vpxi_sexp_parse_canonical(sx, (uint8_t *)deep, 200, &lim, &n, &e), VPXI_ERR_TOO_DEEP);
    CHECK_EQ(e.offset, 99);
    lim.depth_max = 100;
    CHECK_OK(vpxi_sexp_parse_canonical(sx, (uint8_t *)deep, 200, &lim, &n, &e));
    CHECK_ERR(vpxi_sexp_parse_advanced(sx, (uint8_t *)deep, 200, &lim, &n, &e), 0);
    lim.depth_max = 50;
    CHECK_ERR(vpxi_sexp_parse_advanced(sx, (uint8_t *)deep, 200, &lim, &n, &e), VPXI_ERR_TOO_DEEP);
    lim = vpxi_sexp_limits_default;
    lim.atom_max = 3;
    CHECK_ERR(vpxi_sexp_parse_canonical(sx, (uint8_t *)"(4:abcd)", 8, &lim, &n, &e),
              VPXI_ERR_TOO_LARGE);
    CHECK_EQ(e.offset, 1);
    CHECK_ERR(
        vpxi_sexp_parse_canonical(sx, (uint8_t *)"(99999999999999999999999:a)", 27, NULL, &n, &e),
        VPXI_ERR_TOO_LARGE);
    lim = vpxi_sexp_limits_default;
    lim.list_max = 2;
    CHECK_ERR(vpxi_sexp_parse_canonical(sx, (uint8_t *)"(1:a1:b1:c)", 11, &lim, &n, &e),
              VPXI_ERR_TOO_LARGE);
    CHECK_OK(vpxi_sexp_parse_canonical(sx, (uint8_t *)"(1:a1:b)", 8, &lim, &n, &e));
    vpxi_sx_free(sx);
}

/* Every proper prefix of a valid canonical expression is rejected without
 * a crash; the full input is accepted. */
static void test_truncation(void)
{
    static const char *const inputs[] = {
        "(4:cert(6:issuer(10:public-key3:abc))(7:subject3:xyz)(3:tag(1:*)))",
        "([4:text]5:hello(0:)())",
    };
    size_t i, k;

    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t len = strlen(inputs[i]);
        for (k = 0; k <= len; k++) {
            struct vpxi_sx *sx = vpxi_sx_new();
            struct vpxi_sexp *n;
            struct vpxi_sexp_error e;
            int r = vpxi_sexp_parse_canonical(sx, (const uint8_t *)inputs[i], k, NULL, &n, &e);
            if (k < len)
                CHECK(r == VPXI_ERR_TRUNCATED || r == VPXI_ERR_BAD_FORMAT);
            else
                CHECK_OK(r);
            r = vpxi_sexp_parse_advanced(sx, (const uint8_t *)inputs[i], k, NULL, &n, &e);
            CHECK(k == len ? r == 0 : r != 0);
            vpxi_sx_free(sx);
        }
    }
}

static void test_spans_and_print(void)
{
    static const char text[] = "(cert (issuer \"bob smith\") (tag (ftp #00ff#)) [h]x)";
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *n, *tag, *n2;
    struct vpxi_wr w;
    char buf[512];

    CHECK_OK(vpxi_sexp_read(sx, (const uint8_t *)text, strlen(text), NULL, &n, NULL));
    tag = vpxi_sexp_find(n, "tag");
    CHECK(tag != NULL);
    CHECK(tag && tag->span && tag->span_len == sizeof("(3:tag(3:ftp2:\x00\xff))") - 1);
    vpxi_wr_init(&w, buf, sizeof(buf) - 1);
    CHECK_OK(vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &w));
    buf[w.len] = 0;
    CHECK_STR(buf, "(cert (issuer \"bob smith\") (tag (ftp #00ff#)) [h]x)");
    /* the advanced output reads back to the same expression */
    CHECK_OK(vpxi_sexp_read(sx, (uint8_t *)buf, w.len, NULL, &n2, NULL));
    CHECK(vpxi_sexp_equal(n, n2));
    vpxi_wr_init(&w, buf, sizeof(buf) - 1);
    CHECK_OK(vpxi_sexp_write(n, VPXI_SEXP_TRANSPORT, &w));
    buf[w.len] = 0;
    CHECK_OK(vpxi_sexp_read(sx, (uint8_t *)buf, w.len, NULL, &n2, NULL));
    CHECK(vpxi_sexp_equal(n, n2));
    vpxi_sx_free(sx);
}

static void test_build(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *inner, *n;
    char buf[256];
    struct vpxi_wr w;
    static const uint8_t bin[3] = { 0, 1, 2 };

    CHECK_OK(vpxi_sexp_build(sx, &inner, "(a b c)"));
    CHECK_OK(vpxi_sexp_build(sx, &n, "(x %s %b %u %S (l %L) %S)", "str", bin, sizeof(bin),
                             (uint64_t)42, inner, inner, (struct vpxi_sexp *)NULL));
    vpxi_wr_init(&w, buf, sizeof(buf) - 1);
    CHECK_OK(vpxi_sexp_write_canonical(n, &w));
    buf[w.len] = 0;
    CHECK_EQ(w.len, strlen("(1:x3:str3:\x01\x02"
                           "2:42(1:a1:b1:c)(1:l1:a1:b1:c))") +
                        1);
    CHECK_EQ(vpxi_sexp_canonical_len(n), w.len);
    vpxi_sx_free(sx);
}

int main(void)
{
    RUN(test_canonical);
    RUN(test_advanced);
    RUN(test_limits);
    RUN(test_truncation);
    RUN(test_spans_and_print);
    RUN(test_build);
    T_DONE();
}
