/*
 * test_tag.c - the SPKI tag algebra: grammar, the intersection table of
 * /work/notes/spki.md 3.4-3.5 row by row (with every example the notes end
 * with), the five orderings, implication, limits, allocation failures, and a
 * differential test against a deliberately naive membership function.
 *
 * Tags are written in a small test syntax (not the advanced form, so that
 * numbers and dates need no quoting): tokens separated by spaces, ( and ),
 * an optional [hint] glued to the front of a token, %HH for any octet and
 * "" for the empty atom. "(* range numeric ge 10 le 20)" is what it looks like.
 *
 * tag.c is included to reach its orderings directly (WireGuard selftest style).
 */
#include "t.h"

#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/sexp.h"
#include "vpxi/tag.h"

#include "../../lib/trust/tag.c"

#define NA    VPXI_ERR_NOT_AUTHORIZED
#define BAD   VPXI_ERR_BAD_TAG
#define EMPTY NULL

enum { T_TOKEN_MAX = 256, T_TEXT_MAX = 4096, T_DIFF_PAIRS = 30000 };

/* ---- test syntax ---------------------------------------------------------- */

static int t_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %HH escapes of s[0..n) into out; returns the length. */
static size_t t_decode(const char *s, size_t n, uint8_t *out)
{
    size_t i, k = 0;

    if (n == 2 && s[0] == '"' && s[1] == '"')
        return 0;
    for (i = 0; i < n && k < T_TOKEN_MAX; i++) {
        if (s[i] == '%' && i + 2 < n && t_hexval(s[i + 1]) >= 0 && t_hexval(s[i + 2]) >= 0) {
            out[k++] = (uint8_t)(t_hexval(s[i + 1]) << 4 | t_hexval(s[i + 2]));
            i += 2;
        } else {
            out[k++] = (uint8_t)s[i];
        }
    }
    return k;
}

static struct vpxi_sexp *t_value(struct vpxi_sx *sx, const char **s)
{
    struct vpxi_sexp *n;
    uint8_t buf[T_TOKEN_MAX];
    const char *p;

    while (**s == ' ')
        (*s)++;
    if (**s == '(') {
        (*s)++;
        n = vpxi_sexp_list(sx);
        for (;;) {
            while (**s == ' ')
                (*s)++;
            if (**s == ')' || !**s)
                break;
            vpxi_sexp_append(n, t_value(sx, s));
        }
        if (**s == ')')
            (*s)++;
        return n;
    }
    n = vpxi_sexp_atom(sx, "", 0);
    if (**s == '[') {
        for (p = ++*s; **s && **s != ']'; (*s)++)
            ;
        size_t hl = t_decode(p, (size_t)(*s - p), buf);
        n->hint = vpxi_sx_dup(sx, buf, hl);
        n->hint_len = (uint32_t)hl;
        if (**s == ']')
            (*s)++;
    }
    for (p = *s; **s && **s != ' ' && **s != '(' && **s != ')'; (*s)++)
        ;
    size_t len = t_decode(p, (size_t)(*s - p), buf);
    n->data = vpxi_sx_dup(sx, buf, len);
    n->len = (uint32_t)len;
    return n;
}

static struct vpxi_sexp *tp(struct vpxi_sx *sx, const char *text)
{
    return t_value(sx, &text);
}

static const char *t_str(const struct vpxi_sexp *n, char *buf, size_t cap)
{
    struct vpxi_wr w;

    if (!n)
        return "(none)";
    vpxi_wr_init(&w, buf, cap - 1);
    (void)vpxi_sexp_write_compact(n, &w);
    buf[w.err ? 0 : w.len] = 0;
    return buf;
}

static void t_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void t_fail(int line, const char *fmt, ...)
{
    va_list ap;

    t_failures++;
    fprintf(stderr, "%s:%d: ", __FILE__, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A deep copy with every set's members in canonical-byte order, so results
 * that differ only in member order compare equal. */
static int t_canon_cmp(const void *x, const void *y)
{
    const struct vpxi_sexp *a = *(struct vpxi_sexp *const *)x, *b = *(struct vpxi_sexp *const *)y;
    uint8_t ba[T_TEXT_MAX], bb[T_TEXT_MAX];
    struct vpxi_wr wa, wb;

    vpxi_wr_init(&wa, ba, sizeof(ba));
    vpxi_wr_init(&wb, bb, sizeof(bb));
    (void)vpxi_sexp_write_canonical(a, &wa);
    (void)vpxi_sexp_write_canonical(b, &wb);
    return bytes_cmp(ba, wa.len, bb, wb.len);
}

static struct vpxi_sexp *t_sorted(struct vpxi_sx *sx, const struct vpxi_sexp *n)
{
    struct vpxi_sexp *l, *e, *v[T_TOKEN_MAX];
    size_t k = 0, i;

    if (n->type == VPXI_SEXP_ATOM)
        return vpxi_sexp_copy(sx, n);
    l = vpxi_sexp_list(sx);
    for (e = n->child; e && k < T_TOKEN_MAX; e = e->next)
        v[k++] = t_sorted(sx, e);
    if (form_of(n) == F_SET)
        qsort(v + 2, k - 2, sizeof(v[0]), t_canon_cmp);
    for (i = 0; i < k; i++)
        vpxi_sexp_append(l, v[i]);
    return l;
}

/* ---- table helpers ----------------------------------------------------------- */

/* a ∩ b must be expect (NULL: empty) exactly; b ∩ a the same up to set member
 * order (sym) or just equally (non)empty. A result must pass the grammar and
 * be implied by both operands. */
static void t_isect(int line, const char *as, const char *bs, const char *es, bool sym)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *a = tp(sx, as), *b = tp(sx, bs), *e = es ? tp(sx, es) : NULL;
    struct vpxi_sexp *res = NULL, *res2 = NULL;
    char b1[T_TEXT_MAX], b2[T_TEXT_MAX];
    int r = vpxi_tag_intersect(sx, a, b, &res), r2 = vpxi_tag_intersect(sx, b, a, &res2);

    t_checks++;
    if (!e) {
        if (r != VPXI_ERR_TAG_EMPTY || r2 != VPXI_ERR_TAG_EMPTY)
            t_fail(line, "%s ∩ %s: got %s / %s, expected empty", as, bs,
                   r ? vpxi_errname(r) : t_str(res, b1, sizeof(b1)),
                   r2 ? vpxi_errname(r2) : t_str(res2, b2, sizeof(b2)));
        goto out;
    }
    if (r != 0 || !vpxi_sexp_equal(res, e))
        t_fail(line, "%s ∩ %s: got %s, expected %s", as, bs,
               r ? vpxi_errname(r) : t_str(res, b1, sizeof(b1)), es);
    else if (r2 != 0 || (sym && !vpxi_sexp_equal(t_sorted(sx, res2), t_sorted(sx, e))))
        t_fail(line, "%s ∩ %s: got %s, expected %s", bs, as,
               r2 ? vpxi_errname(r2) : t_str(res2, b2, sizeof(b2)), es);
    else if (vpxi_tag_check(res) != 0 || vpxi_tag_implies(a, res) != 0 ||
             vpxi_tag_implies(b, res) != 0)
        t_fail(line, "%s ∩ %s = %s: not a valid tag implied by both", as, bs, es);
out:
    vpxi_sx_free(sx);
}

#define T(a, b, e) t_isect(__LINE__, a, b, e, true)
/* Only one direction exact: on a tie the left operand's spelling is kept. */
#define T1(a, b, e) t_isect(__LINE__, a, b, e, false)

/* Malformed operands: BAD_TAG from every entry point, in both positions. */
static void t_bad(int line, const char *as)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *a = tp(sx, as), *star = tp(sx, "(*)"), *res;
    int r[5];

    r[0] = vpxi_tag_check(a);
    r[1] = vpxi_tag_intersect(sx, a, star, &res);
    r[2] = vpxi_tag_intersect(sx, star, a, &res);
    r[3] = vpxi_tag_implies(a, star);
    r[4] = vpxi_tag_implies(star, a);
    t_checks++;
    for (size_t i = 0; i < 5; i++)
        if (r[i] != BAD) {
            t_fail(line, "%s: call %zu returned %s, expected BAD_TAG", as, i, vpxi_errname(r[i]));
            break;
        }
    vpxi_sx_free(sx);
}

#define T_BAD(a) t_bad(__LINE__, a)

static void t_check(int line, const char *as, int code)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    int r = vpxi_tag_check(tp(sx, as));

    t_checks++;
    if (r != code)
        t_fail(line, "check %s: %s, expected %s", as, vpxi_errname(r), vpxi_errname(code));
    vpxi_sx_free(sx);
}

#define TC(a, code) t_check(__LINE__, a, code)

static void t_implies(int line, const char *gs, const char *qs, int code)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    int r = vpxi_tag_implies(tp(sx, gs), tp(sx, qs));

    t_checks++;
    if (r != code)
        t_fail(line, "%s => %s: %s, expected %s", gs, qs, vpxi_errname(r), vpxi_errname(code));
    vpxi_sx_free(sx);
}

#define TI(g, q, code) t_implies(__LINE__, g, q, code)

/* ---- grammar ------------------------------------------------------------------ */

static void test_grammar(void)
{
    TC("(*)", 0);
    TC("abc", 0);
    TC("[h]abc", 0);
    TC("\"\"", 0);
    TC("(h)", 0);
    TC("(h a (b c) (*) (* set))", 0);
    TC("(* set)", 0);
    TC("(* set a (* set b (*)))", 0);
    TC("(* prefix a)", 0);
    TC("(* prefix [h]a)", 0);
    TC("(* prefix \"\")", 0);
    TC("(* range alpha)", 0);
    TC("(* range numeric ge 10 le 20)", 0);
    TC("(* range numeric g -1.5)", 0);
    TC("(* range numeric l 3)", 0);
    TC("(* range binary ge \"\" l %ff)", 0);
    TC("(* range date ge 2020-01-01_00:00:00)", 0);
    TC("(* range time le 23:59:59)", 0);
    TC("(* range alpha ge [h]a le [h]b)", 0);
    TC("(* range alpha g l)", 0); /* the limit is the atom "l" */
    TC("([h]* foo)", 0);          /* a hinted * heads an ordinary list */
    TC("(h *)", 0);
    TC("*", 0);

    TC("()", BAD);
    TC("(())", BAD);
    TC("((a) b)", BAD);
    TC("(h ())", BAD);
    TC("(* set ())", BAD);
    TC("(* foo)", BAD);
    TC("(* [h]set a)", BAD);
    TC("(* (set) a)", BAD);
    TC("(* *)", BAD);
    TC("(* prefix)", BAD);
    TC("(* prefix a b)", BAD);
    TC("(* prefix (a))", BAD);
    TC("(* range)", BAD);
    TC("(* range foo)", BAD);
    TC("(* range [h]alpha)", BAD);
    TC("(* range (alpha))", BAD);
    TC("(* range numeric ge)", BAD);
    TC("(* range numeric ge 1 ge 2)", BAD);
    TC("(* range numeric le 1 ge 0)", BAD);
    TC("(* range numeric gt 1)", BAD);
    TC("(* range numeric ge (1))", BAD);
    TC("(* range numeric (ge 1) (le 2))", BAD); /* limits are flat (RFC 2693) */
    TC("(* range numeric [h]ge 1)", BAD);
    TC("(* range numeric ge 1 le 2 x)", BAD);
    TC("(* range numeric ge abc)", BAD);
    TC("(* range numeric ge 1e3)", BAD);
    TC("(* range numeric ge \"\")", BAD);
    TC("(* range date ge 2020-02-30_00:00:00)", BAD);
    TC("(* range time le 24:00:00)", BAD);
    TC("(* range alpha ge [h]a le b)", BAD); /* limits must share one hint */
    TC("(h (* range numeric ge x))", BAD);
    TC("(* set a (h (* prefix)))", BAD);

    T_BAD("()");
    T_BAD("(h (a) ())");
    T_BAD("(* set a (* foo))");
    T_BAD("(* range numeric ge 1.5.0)");

    CHECK(vpxi_tag_is_star(NULL) == false);
    struct vpxi_sx *sx = vpxi_sx_new();
    CHECK(vpxi_tag_is_star(tp(sx, "(*)")));
    CHECK(!vpxi_tag_is_star(tp(sx, "([h]*)")));
    CHECK(!vpxi_tag_is_star(tp(sx, "*")));
    CHECK(!vpxi_tag_is_star(tp(sx, "(* set)")));
    vpxi_sx_free(sx);
}

/* Nesting up to TAG_DEPTH_MAX lists is a tag; one more is not. Sets count. */
static void test_depth(void)
{
    static char text[10 * (TAG_DEPTH_MAX + 2) + 16];
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *res;
    size_t d, i, k;

    for (d = TAG_DEPTH_MAX - 1; d <= TAG_DEPTH_MAX + 1; d++) {
        for (k = 0, i = 0; i < d; i++)
            k += (size_t)sprintf(text + k, "(h ");
        k += (size_t)sprintf(text + k, "x");
        for (i = 0; i < d; i++)
            text[k++] = ')';
        text[k] = 0;
        struct vpxi_sexp *t = tp(sx, text);
        int want = d <= TAG_DEPTH_MAX ? 0 : BAD;
        CHECK_ERR(vpxi_tag_check(t), want);
        CHECK_ERR(vpxi_tag_intersect(sx, t, t, &res), want);
        CHECK_ERR(vpxi_tag_implies(t, t), want);
        /* the same depth through sets */
        for (k = 0, i = 0; i < d; i++)
            k += (size_t)sprintf(text + k, "(* set a ");
        k += (size_t)sprintf(text + k, "x");
        for (i = 0; i < d; i++)
            text[k++] = ')';
        text[k] = 0;
        t = tp(sx, text);
        CHECK_ERR(vpxi_tag_check(t), want);
        CHECK_ERR(vpxi_tag_intersect(sx, t, tp(sx, "x"), &res), want);
    }
    /* A set distributed over the deepest list nests one level more than
     * either operand: such a result is refused rather than returned. */
    for (d = TAG_DEPTH_MAX - 1; d <= TAG_DEPTH_MAX; d++) {
        for (k = 0, i = 0; i < d; i++)
            k += (size_t)sprintf(text + k, "(h ");
        k += (size_t)sprintf(text + k, "x");
        for (i = 0; i < d; i++)
            text[k++] = ')';
        text[k] = 0;
        struct vpxi_sexp *t = tp(sx, text), *s2 = tp(sx, "(* set (h (*) p) (h (*) q))");
        CHECK_ERR(vpxi_tag_intersect(sx, t, s2, &res), d < TAG_DEPTH_MAX ? 0 : VPXI_ERR_TOO_DEEP);
        CHECK(d < TAG_DEPTH_MAX ? vpxi_tag_check(res) == 0 : res == NULL);
        CHECK_ERR(vpxi_tag_implies(s2, t), NA);
    }
    vpxi_sx_free(sx);
}

static struct vpxi_sexp *t_big_set(struct vpxi_sx *sx, size_t n, size_t first)
{
    struct vpxi_sexp *s = vpxi_sexp_list(sx);
    char buf[32];

    vpxi_sexp_append(s, vpxi_sexp_atom_str(sx, "*"));
    vpxi_sexp_append(s, vpxi_sexp_atom_str(sx, "set"));
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "x%zu", first + i);
        vpxi_sexp_append(s, vpxi_sexp_atom_str(sx, buf));
    }
    return s;
}

/* Set size cap; the work budget turns a product blow-up into TOO_LARGE. */
static void test_limits(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *a, *b, *res, *la, *lb;
    clock_t t0;
    size_t i;

    CHECK_OK(vpxi_tag_check(t_big_set(sx, TAG_SET_MAX, 0)));
    CHECK_ERR(vpxi_tag_check(t_big_set(sx, TAG_SET_MAX + 1, 0)), BAD);

    /* two full sets of distinct atoms: the largest flat intersection fits */
    a = t_big_set(sx, TAG_SET_MAX, 0);
    b = t_big_set(sx, TAG_SET_MAX, TAG_SET_MAX / 2);
    t0 = clock();
    CHECK_OK(vpxi_tag_intersect(sx, a, b, &res));
    CHECK_EQ(res ? res->len : 0, 2 + TAG_SET_MAX / 2);
    CHECK_OK(vpxi_tag_implies(a, res));
    fprintf(stderr, "  %dx%d set intersection: %.3f s\n", TAG_SET_MAX, TAG_SET_MAX,
            (double)(clock() - t0) / CLOCKS_PER_SEC);

    /* (h S S S S ...) against (h S' S' ...): each position costs |S|*|S'| */
    la = tp(sx, "(h)");
    lb = tp(sx, "(h)");
    for (i = 0; i < 8; i++) {
        vpxi_sexp_append(la, t_big_set(sx, TAG_SET_MAX, 0));
        vpxi_sexp_append(lb, t_big_set(sx, TAG_SET_MAX, 0));
    }
    t0 = clock();
    CHECK_ERR(vpxi_tag_intersect(sx, la, lb, &res), VPXI_ERR_TOO_LARGE);
    fprintf(stderr, "  over-budget intersection refused in %.3f s\n",
            (double)(clock() - t0) / CLOCKS_PER_SEC);
    vpxi_sx_free(sx);
}

/* ---- intersection table -------------------------------------------------------- */

static void test_notes_examples(void)
{
    /* the list at the end of /work/notes/spki.md, in order */
    T("(* set read write (foo bla) delete)", "(* set write read)", "(* set read write)");
    T("(ftp (host h))", "(ftp (host h) (dir /pub))", "(ftp (host h) (dir /pub))");
    T("(ftp a)", "(ftp b)", EMPTY);
    T("(* prefix /pub/)", "(* prefix /pub/cme/)", "(* prefix /pub/cme/)");
    T("(* prefix /pub/)", "/pub/x", "/pub/x");
    T("(* range numeric ge 10 le 20)", "(* range numeric g 15)", "(* range numeric g 15 le 20)");
    T("(* range numeric ge 10 l 15)", "(* range numeric ge 15)", EMPTY);
    T("(* range alpha ge a le z)", "(* range numeric ge 1 le 9)", EMPTY);
    T("[h]abc", "abc", EMPTY);
    /* RFC 2693's own example: ge #30# le #39# is "0".."9" */
    T("(* range numeric ge %30 le %39)", "7", "7");
}

static void test_star_atom_prefix(void)
{
    T("(*)", "abc", "abc");
    T("(*)", "(*)", "(*)");
    T("(*)", "(ftp (* prefix /pub/))", "(ftp (* prefix /pub/))");
    T("(*)", "(* set a b)", "(* set a b)");
    T("(*)", "(* set a a)", "a");
    T("(*)", "(* set a (* set b a))", "(* set a b)");
    T("(*)", "(* set)", EMPTY);
    T("(h (*) b)", "(h a (*))", "(h a b)");

    T("abc", "abc", "abc");
    T("abc", "abd", EMPTY);
    T("abc", "ab", EMPTY);
    T("\"\"", "\"\"", "\"\"");
    T("\"\"", "[h]\"\"", EMPTY);
    T("[h]abc", "[h]abc", "[h]abc");
    T("[h]abc", "[g]abc", EMPTY);
    T("[\"\"]abc", "abc", EMPTY); /* an empty hint is still a hint */
    T("*", "*", "*");             /* the atom *, not a star form */
    T("*", "(*)", "*");

    T("(* prefix /pub/)", "/pub/", "/pub/");
    T("(* prefix /pub/)", "/pu", EMPTY);
    T("(* prefix \"\")", "anything", "anything");
    T("(* prefix \"\")", "\"\"", "\"\"");
    T("(* prefix \"\")", "[h]x", EMPTY);
    T("(* prefix [h]ab)", "[h]abc", "[h]abc");
    T("(* prefix [h]ab)", "abc", EMPTY);
    T("(* prefix ab)", "[h]abc", EMPTY);

    T("ftp", "(ftp)", EMPTY);
    T("(* prefix ftp)", "(ftp)", EMPTY);
    T("(* range alpha)", "(ftp)", EMPTY);

    T("abc", "(* set x (* prefix ab))", "abc");
    T("abc", "(* set x y)", EMPTY);
    T("abc", "(* set (*))", "abc");
    T("abc", "(* set (* range alpha ge b) (abc))", EMPTY);

    T("(* prefix ab)", "(* prefix ab)", "(* prefix ab)");
    T("(* prefix ab)", "(* prefix ac)", EMPTY);
    T("(* prefix [h]a)", "(* prefix a)", EMPTY);
    T("(* prefix [h]a)", "(* prefix [h]ab)", "(* prefix [h]ab)");
}

static void test_prefix_range(void)
{
    /* not expressible in general: empty by decision */
    T("(* prefix a)", "(* range alpha ge b)", EMPTY);
    T("(* prefix ab)", "(* range alpha ge abc)", EMPTY);
    T("(* prefix a)", "(* range numeric)", EMPTY);
    T("(* prefix 1)", "(* range binary ge 1 le 1)", EMPTY);
    /* exact special case: the range lies inside the prefix */
    T("(* prefix ab)", "(* range alpha ge abc le abd)", "(* range alpha ge abc le abd)");
    T("(* prefix ab)", "(* range alpha g ab l ab%ff)", "(* range alpha g ab l ab%ff)");
    T("(* prefix 2020-)", "(* range date ge 2020-01-01_00:00:00 le 2020-12-31_23:59:59)",
      "(* range date ge 2020-01-01_00:00:00 le 2020-12-31_23:59:59)");
    T("(* prefix [h]ab)", "(* range alpha ge abc le abd)", EMPTY);
    T("(* prefix [h]ab)", "(* range alpha ge [h]abc le [h]abd)",
      "(* range alpha ge [h]abc le [h]abd)");
    T("(* prefix ab)", "(* range alpha ge abc le b)", EMPTY);
}

static void test_with_sets(void)
{
    T("(* prefix a)", "(* set ab b ac (* prefix aa) (* prefix b) (a))",
      "(* set ab ac (* prefix aa))");
    T("(* range numeric ge 1 le 5)", "(* set 0 1 3 7 abc (* range numeric g 4))",
      "(* set 1 3 (* range numeric g 4 le 5))");
    T("(ftp a)", "(* set (ftp (*)) (ftp a b) (http a) x)", "(* set (ftp a) (ftp a b))");
    T("(ftp a)", "(* set (ftp b) c)", EMPTY);
    T("(* set (h a) (h b))", "(h (* set a b))", "(* set (h a) (h b))");
    T("(* set a (* set b c))", "(* set c b a)", "(* set a b c)");
    T("(* set a a)", "(*)", "a");
    T("(* set (*) a)", "b", "b");
    T("(* set (*) a)", "a", "a");
    T("(* set (*) (* prefix a))", "ab", "ab");
    T("(* set)", "(* set)", EMPTY);
    T("(* set)", "a", EMPTY);
    T("(* set a b)", "(* set c d)", EMPTY);
    T("(* set (* prefix a) (* prefix ab))", "(* set abc ax)", "(* set abc ax)");
    T("(* set (* set (* set a)))", "a", "a");
    T("(* set [h]a a)", "(* set a [h]a)", "(* set [h]a a)");
    T("(* set (* set) (* range numeric ge 2 le 1) x)", "(*)", "x");
}

static void test_lists(void)
{
    T("(ftp a b)", "(ftp a c)", EMPTY); /* libspki would drop b ∩ c and answer (ftp a) */
    T("(ftp a)", "(http a)", EMPTY);
    T("(ftp a)", "([h]ftp a)", EMPTY);
    T("(ftp)", "(ftp)", "(ftp)");
    T("(ftp)", "(ftp a b)", "(ftp a b)");
    T("(ftp (* prefix /pub/) (*))", "(ftp /pub/a (* set r w) extra)",
      "(ftp /pub/a (* set r w) extra)");
    T("(ftp (* set a b))", "(ftp (* set b c))", "(ftp b)");
    T("(ftp (* set a b) x)", "(ftp (* set c d))", EMPTY);
    T("(ftp (* set a b c))", "(ftp (* set c b) y)", "(ftp (* set b c) y)");
    T("(h (* set))", "(h)", EMPTY);
    T("(h (* range numeric ge 5 le 3))", "(*)", EMPTY);
    T("(h (* set a (* set)))", "(h)", "(h a)");
    T("([h]* set a)", "([h]* set a b)", "([h]* set a b)");
    T("(h * x)", "(h * x)", "(h * x)");
    T("(h (g (* prefix a)) z)", "(h (g ab c) (*) w)", "(h (g ab c) z w)");
    T("(h (g a))", "(h (g b))", EMPTY);
    T("(h (g a))", "(h g)", EMPTY);
}

/* ---- orderings ------------------------------------------------------------------- */

static const struct ord *t_ord(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(ords); i++)
        if (strcmp(ords[i].name, name) == 0)
            return &ords[i];
    return NULL;
}

static void test_ordering_cmp(void)
{
    static const struct {
        const char *ord, *x, *y;
        int cmp;
    } cmps[] = {
        { "numeric", "7", "007", 0 },
        { "numeric", "1.5", "1.50", 0 },
        { "numeric", "-0", "0", 0 },
        { "numeric", "-0.00", "0.0", 0 },
        { "numeric", "-1", "1", -1 },
        { "numeric", "-2", "-1", -1 },
        { "numeric", "-1.5", "-1.25", -1 },
        { "numeric", "10", "9", 1 },
        { "numeric", "9.99", "10", -1 },
        { "numeric", "0.1", "0.09", 1 },
        { "numeric", "0.1", "0.10001", -1 },
        { "numeric", "100000000000000000000000", "99999999999999999999999", 1 },
        { "numeric", "-100000000000000000000", "-99999999999999999999", -1 },
        { "numeric", "-0.5", "0", -1 },
        { "binary", "%00%01", "%01", 0 },
        { "binary", "\"\"", "%00%00", 0 },
        { "binary", "%01%00", "%ff", 1 },
        { "binary", "%00%00%ff", "%01%00", -1 },
        { "binary", "%80", "%7f", 1 },
        { "alpha", "a", "ab", -1 },
        { "alpha", "\"\"", "a", -1 },
        { "alpha", "b", "ab", 1 },
        { "alpha", "%ff", "z", 1 },
        { "alpha", "ab", "ab", 0 },
        { "alpha", "%00", "\"\"", 1 },
        { "date", "2020-01-01_00:00:00", "2019-12-31_23:59:59", 1 },
        { "date", "2020-01-01_00:00:00", "2020-01-01_00:00:00", 0 },
        { "time", "00:00:01", "00:00:00", 1 },
        { "time", "09:59:59", "10:00:00", -1 },
    };
    static const struct {
        const char *ord, *x;
        bool valid;
    } vals[] = {
        { "numeric", "0", true },
        { "numeric", "-0", true },
        { "numeric", "1.5", true },
        { "numeric", "007", true },
        { "numeric", "-12.250", true },
        { "numeric", "\"\"", false },
        { "numeric", "-", false },
        { "numeric", "+1", false },
        { "numeric", "1.", false },
        { "numeric", ".5", false },
        { "numeric", "1e3", false },
        { "numeric", "1.2.3", false },
        { "numeric", "--1", false },
        { "numeric", "%201", false },
        { "numeric", "1,5", false },
        { "numeric", "-.5", false },
        { "numeric", "0x10", false },
        { "numeric", "1%00", false },
        { "date", "2020-02-29_00:00:00", true },
        { "date", "2000-02-29_23:59:59", true },
        { "date", "2100-02-29_00:00:00", false },
        { "date", "2019-02-29_00:00:00", false },
        { "date", "2020-04-31_00:00:00", false },
        { "date", "2020-04-30_00:00:00", true },
        { "date", "2020-12-31_23:59:59", true },
        { "date", "2020-13-01_00:00:00", false },
        { "date", "2020-00-01_00:00:00", false },
        { "date", "2020-01-00_00:00:00", false },
        { "date", "2020-01-01%2000:00:00", false },
        { "date", "2020-01-01_24:00:00", false },
        { "date", "2020-01-01_00:60:00", false },
        { "date", "2020-01-01_00:00:60", false },
        { "date", "2020-1-01_00:00:00", false },
        { "date", "2020-01-01_00:00:00Z", false },
        { "date", "2020-01-01T00:00:00", false },
        { "date", "0000-01-01_00:00:00", true },
        { "date", "2020-01-01", false },
        { "time", "00:00:00", true },
        { "time", "23:59:59", true },
        { "time", "24:00:00", false },
        { "time", "7:00:00", false },
        { "time", "07:00", false },
        { "time", "07-00-00", false },
        { "time", "12:5a:00", false },
        { "alpha", "\"\"", true },
        { "binary", "%00", true },
    };
    struct vpxi_sx *sx = vpxi_sx_new();
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cmps); i++) {
        const struct ord *o = t_ord(cmps[i].ord);
        struct vpxi_sexp *x = tp(sx, cmps[i].x), *y = tp(sx, cmps[i].y);
        t_checks++;
        if (!o->valid(x) || !o->valid(y) || o->cmp(x, y) != cmps[i].cmp ||
            o->cmp(y, x) != -cmps[i].cmp)
            t_fail(__LINE__, "%s: cmp(%s, %s) != %d", cmps[i].ord, cmps[i].x, cmps[i].y,
                   cmps[i].cmp);
    }
    for (i = 0; i < ARRAY_SIZE(vals); i++) {
        const struct ord *o = t_ord(vals[i].ord);
        t_checks++;
        if (o->valid(tp(sx, vals[i].x)) != vals[i].valid)
            t_fail(__LINE__, "%s: valid(%s) != %d", vals[i].ord, vals[i].x, vals[i].valid);
    }
    vpxi_sx_free(sx);
}

static void test_range_membership(void)
{
    /* numeric: inclusive and exclusive ties, spellings, negatives, fractions */
    T("(* range numeric ge 10 le 20)", "10", "10");
    T("(* range numeric ge 10 le 20)", "20", "20");
    T("(* range numeric ge 10 le 20)", "010", "010");
    T("(* range numeric ge 10 le 20)", "20.000", "20.000");
    T("(* range numeric ge 10 le 20)", "9.999", EMPTY);
    T("(* range numeric ge 10 le 20)", "20.0001", EMPTY);
    T("(* range numeric g 10)", "10", EMPTY);
    T("(* range numeric g 10)", "10.0", EMPTY);
    T("(* range numeric g 10)", "10.01", "10.01");
    T("(* range numeric l 10)", "9.9999999999999999999", "9.9999999999999999999");
    T("(* range numeric ge -5 l 0)", "-5", "-5");
    T("(* range numeric ge -5 l 0)", "-0", EMPTY);
    T("(* range numeric ge -5 l 0)", "-0.5", "-0.5");
    T("(* range numeric ge -5 l 0)", "-5.1", EMPTY);
    T("(* range numeric ge -5 l 0)", "-4.99", "-4.99");
    T("(* range numeric ge 1.5 le 1.50)", "01.500", "01.500");
    T("(* range numeric ge 99999999999999999999999)", "100000000000000000000000",
      "100000000000000000000000");
    T("(* range numeric)", "7", "7");
    T("(* range numeric)", "x", EMPTY);
    T("(* range numeric)", "1e3", EMPTY);
    T("(* range numeric)", "+5", EMPTY);
    T("(* range numeric)", "1.", EMPTY);
    T("(* range numeric)", ".5", EMPTY);
    T("(* range numeric)", "\"\"", EMPTY);
    T("(* range numeric)", "[h]5", EMPTY);
    T("(* range numeric ge [h]1)", "[h]5", "[h]5");
    T("(* range numeric ge [h]1)", "5", EMPTY);
    /* alpha */
    T("(* range alpha ge b l d)", "b", "b");
    T("(* range alpha ge b l d)", "czzz", "czzz");
    T("(* range alpha ge b l d)", "d", EMPTY);
    T("(* range alpha ge b l d)", "a", EMPTY);
    T("(* range alpha ge b l d)", "\"\"", EMPTY);
    T("(* range alpha g ab)", "ab", EMPTY);
    T("(* range alpha g ab)", "ab%00", "ab%00");
    T("(* range alpha g ab)", "aa", EMPTY);
    T("(* range alpha le ab)", "\"\"", "\"\"");
    T("(* range alpha le ab)", "ab%00", EMPTY);
    T("(* range alpha ge z)", "%ff", "%ff");
    T("(* range alpha)", "(a)", EMPTY);
    /* binary: unsigned big-endian, leading zero octets ignored */
    T("(* range binary ge %01 le %00%ff)", "%05", "%05");
    T("(* range binary ge %01 le %00%ff)", "%00%00%05", "%00%00%05");
    T("(* range binary ge %01 le %00%ff)", "%ff", "%ff");
    T("(* range binary ge %01 le %00%ff)", "%01%00", EMPTY);
    T("(* range binary ge %01 le %00%ff)", "\"\"", EMPTY);
    T("(* range binary ge %01 le %00%ff)", "%00", EMPTY);
    T("(* range binary g %00)", "%00%00", EMPTY);
    T("(* range binary ge \"\")", "anything", "anything");
    /* date */
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-06-15_12:30:00",
      "2020-06-15_12:30:00");
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-01-01_00:00:00",
      "2020-01-01_00:00:00");
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2021-01-01_00:00:00", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2019-12-31_23:59:59", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-02-29_00:00:00",
      "2020-02-29_00:00:00");
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-02-30_00:00:00", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-13-01_00:00:00", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-06-15%2012:30:00",
      EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-06-15_24:00:00", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00 l 2021-01-01_00:00:00)", "2020-6-15_12:30:00", EMPTY);
    T("(* range date)", "2020-06-15", EMPTY);
    /* time */
    T("(* range time ge 08:00:00 le 17:00:00)", "12:00:00", "12:00:00");
    T("(* range time ge 08:00:00 le 17:00:00)", "17:00:00", "17:00:00");
    T("(* range time ge 08:00:00 le 17:00:00)", "17:00:01", EMPTY);
    T("(* range time ge 08:00:00 le 17:00:00)", "7:59:59", EMPTY);
    T("(* range time ge 08:00:00 le 17:00:00)", "12:60:00", EMPTY);
    T("(* range time)", "25:00:00", EMPTY);
}

static void test_range_range(void)
{
    T("(* range numeric ge 5)", "(* range numeric g 5)", "(* range numeric g 5)");
    T("(* range numeric le 5)", "(* range numeric l 5)", "(* range numeric l 5)");
    T("(* range numeric ge 5)", "(* range numeric le 5)", "(* range numeric ge 5 le 5)");
    T("(* range numeric g 5)", "(* range numeric le 5)", EMPTY);
    T("(* range numeric ge 5)", "(* range numeric l 5)", EMPTY);
    T("(* range numeric ge 6)", "(* range numeric le 5)", EMPTY);
    T("(* range numeric)", "(* range numeric ge 1 l 2)", "(* range numeric ge 1 l 2)");
    T("(* range numeric)", "(* range numeric)", "(* range numeric)");
    T("(* range numeric ge -1.5 le 2)", "(* range numeric g -2 l 1.25)",
      "(* range numeric ge -1.5 l 1.25)");
    T("(* range numeric ge 1 le 9)", "(* range numeric ge 2 le 3)", "(* range numeric ge 2 le 3)");
    T1("(* range numeric ge 05)", "(* range numeric ge 5.0)", "(* range numeric ge 05)");
    T1("(* range numeric ge 5 le 5)", "(* range numeric ge 5.0 le 005)",
       "(* range numeric ge 5 le 5)");
    T("(* range alpha ge [h]a)", "(* range alpha le [h]c)", "(* range alpha ge [h]a le [h]c)");
    T("(* range alpha ge [h]a)", "(* range alpha le c)", EMPTY);
    T("(* range alpha)", "(* range alpha ge [h]a)", EMPTY); /* no limits: unhinted values */
    T("(* range alpha ge a)", "(* range alpha l a%00)", "(* range alpha ge a l a%00)");
    T("(* range binary ge %00%01)", "(* range binary g %01)", "(* range binary g %01)");
    T("(* range date ge 2020-01-01_00:00:00)", "(* range time ge 00:00:00)", EMPTY);
    T("(* range date ge 2020-01-01_00:00:00)", "(* range date l 2020-01-01_00:00:01)",
      "(* range date ge 2020-01-01_00:00:00 l 2020-01-01_00:00:01)");
    /* discrete orderings: this admits no value but is not "empty" by the table */
    T("(* range binary g %01 l %02)", "(*)", "(* range binary g %01 l %02)");
    /* crossing bounds are empty by the table, and normalize away */
    T("(* range numeric ge 5 le 3)", "(*)", EMPTY);
    T("(* range numeric g 5 le 5)", "(* range numeric)", EMPTY);
}

/* ---- implication ----------------------------------------------------------------- */

static void test_implies(void)
{
    TI("(*)", "abc", 0);
    TI("(*)", "(*)", 0);
    TI("(*)", "(h (* set a b))", 0);
    TI("abc", "(*)", NA);
    TI("(h)", "(*)", NA);
    TI("(* set a (*))", "(*)", 0);

    TI("abc", "abc", 0);
    TI("abc", "[h]abc", NA);
    TI("abc", "(abc)", NA);
    TI("abc", "(* prefix abc)", NA);
    TI("abc", "(* range alpha ge abc le abc)", 0);
    TI("[h]abc", "(* range alpha ge abc le abc)", NA);
    TI("5", "(* range numeric ge 5 le 5)", NA); /* 05 is in it too */
    TI("2020-01-01_00:00:00", "(* range date ge 2020-01-01_00:00:00 le 2020-01-01_00:00:00)", 0);

    TI("(* prefix ab)", "abc", 0);
    TI("(* prefix ab)", "ab", 0);
    TI("(* prefix ab)", "a", NA);
    TI("(* prefix ab)", "[h]abc", NA);
    TI("(* prefix ab)", "(ab)", NA);
    TI("(* prefix ab)", "(* prefix abc)", 0);
    TI("(* prefix ab)", "(* prefix ab)", 0);
    TI("(* prefix abc)", "(* prefix ab)", NA);
    TI("(* prefix [h]ab)", "(* prefix abc)", NA);
    TI("(* prefix ab)", "(* range alpha ge abc le abz)", 0);
    TI("(* prefix ab)", "(* range alpha ge abc)", NA);
    TI("(* prefix ab)", "(* range alpha ge abc le b)", NA);
    TI("(* prefix 1)", "(* range numeric ge 1 le 1)", NA);

    TI("(* range numeric ge 1 le 10)", "5", 0);
    TI("(* range numeric ge 1 le 10)", "05.000", 0);
    TI("(* range numeric ge 1 le 10)", "11", NA);
    TI("(* range numeric ge 1 le 10)", "x", NA);
    TI("(* range numeric ge 1 le 10)", "[h]5", NA);
    TI("(* range numeric ge 1 le 10)", "(* range numeric ge 2 l 10)", 0);
    TI("(* range numeric ge 1 le 10)", "(* range numeric ge 1 le 10)", 0);
    TI("(* range numeric ge 1 le 10)", "(* range numeric ge 1.0 le 010)", 0);
    TI("(* range numeric g 1 le 10)", "(* range numeric ge 1 le 5)", NA);
    TI("(* range numeric g 1 le 10)", "(* range numeric g 1 le 5)", 0);
    TI("(* range numeric ge 1 le 10)", "(* range numeric g 1)", NA);
    TI("(* range numeric)", "(* range numeric ge 1)", 0);
    TI("(* range numeric)", "(* range alpha ge 1)", NA);
    TI("(* range numeric ge 1)", "(* prefix 1)", NA);
    TI("(* range alpha)", "(* prefix a)", NA); /* by decision, although it holds */
    TI("(* range alpha ge [h]a)", "(* range alpha ge [h]b)", 0);
    TI("(* range alpha ge [h]a)", "(* range alpha ge b)", NA);

    TI("(ftp (host h))", "(ftp (host h) (dir /pub))", 0);
    TI("(ftp (host h) (dir /pub))", "(ftp (host h))", NA);
    TI("(ftp)", "(ftp a)", 0);
    TI("(ftp a)", "(http a)", NA);
    TI("(ftp a)", "ftp", NA);
    TI("(ftp (* set a b))", "(ftp a)", 0);
    TI("(ftp a)", "(ftp (* set a b))", NA);
    TI("(ftp (* set a b))", "(ftp (* set b a))", 0);
    TI("(ftp (*))", "(ftp (* prefix x) y)", 0);
    TI("(ftp (* prefix /pub/))", "(ftp (* prefix /pub/cme/))", 0);

    TI("(* set a b)", "a", 0);
    TI("(* set a b)", "c", NA);
    TI("(* set a b)", "(* set b a)", 0);
    TI("(* set a b)", "(* set a c)", NA);
    TI("(* set (* prefix a) b)", "(* set ab b)", 0);
    TI("(* set (* prefix a) (* prefix b))", "(* prefix ab)", 0);
    TI("(* set (h a) (h b))", "(* set (h a) (h b))", 0);
    /* sound, not complete, for star-form requests: each member alone fails */
    TI("(* set (h a) (h b))", "(h (* set a b))", NA);

    /* a request that admits nothing is vacuously granted */
    TI("a", "(* set)", 0);
    TI("a", "(* set a a)", 0);
    TI("(* set)", "(* set)", 0);
    TI("abc", "(* range numeric ge 5 le 3)", 0);
    TI("abc", "(h (* set))", 0);
    TI("(* set)", "a", NA);
    TI("(* range numeric ge 5 le 3)", "4", NA);

    TI("()", "a", BAD);
    TI("a", "(* foo)", BAD);
}

/* ---- allocation failures ------------------------------------------------------------ */

/* Fail the Nth allocation for every N until the call succeeds: each failure
 * must come back as NOMEM (ASan checks that nothing leaks or crashes). */
static void test_alloc_failures(void)
{
    static const char *const pairs[][2] = {
        { "(* set a b c d (* prefix x) (h (* set p q)))", "(* set (* prefix x) d (h (*) z) c)" },
        { "(h (* set a b) (* range numeric ge 1))", "(h (* set b a) (* range numeric le 9) t)" },
    };
    size_t i;
    long n;

    for (i = 0; i < ARRAY_SIZE(pairs); i++) {
        int r = VPXI_ERR_NOMEM, ri = VPXI_ERR_NOMEM;
        for (n = 0; n < 1000 && (r == VPXI_ERR_NOMEM || ri == VPXI_ERR_NOMEM); n++) {
            struct vpxi_sx *sx = vpxi_sx_new();
            struct vpxi_sexp *a = tp(sx, pairs[i][0]), *b = tp(sx, pairs[i][1]), *res;
            struct vpxi_sx *out = vpxi_sx_new();
            vpxi_alloc_fail_after(n);
            r = vpxi_tag_intersect(out, a, b, &res);
            ri = vpxi_tag_implies(a, b);
            vpxi_alloc_fail_after(-1);
            CHECK(r == 0 || r == VPXI_ERR_NOMEM);
            CHECK(ri == NA || ri == VPXI_ERR_NOMEM);
            CHECK(r == 0 ? res != NULL : res == NULL);
            vpxi_sx_free(out);
            vpxi_sx_free(sx);
        }
        CHECK_OK(r);
        CHECK_ERR(ri, NA);
        CHECK(n > 1);
    }
}

/* ---- differential test --------------------------------------------------------------
 *
 * ref_member(v, t) decides "constant v is in tag t" straight from the
 * definitions, with its own number parsing (scaled 64-bit integers, enough
 * for the small alphabet) and its own date checks. For random tags a, b and
 * every v of a finite universe of constants:
 *   member(v, a ∩ b) == member(v, a) && member(v, b)
 * The "⇐" half only holds where the table is exact: not for a prefix against
 * a range, nor for ranges under different orderings (both empty by
 * decision). So pairs come in three kinds: no ranges; ranges of one ordering
 * and no prefixes (both exact); anything (soundness "⇒" only).
 */

static bool ref_is(const struct vpxi_sexp *n, const char *s)
{
    return n && n->type == VPXI_SEXP_ATOM && !n->hint && n->len == strlen(s) &&
           memcmp(n->data, s, n->len) == 0;
}

static bool ref_bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static bool ref_hint_eq(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    if (!x->hint || !y->hint)
        return !x->hint && !y->hint;
    return ref_bytes_eq(x->hint, x->hint_len, y->hint, y->hint_len);
}

static bool ref_atom_eq(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    return x->type == VPXI_SEXP_ATOM && y->type == VPXI_SEXP_ATOM && ref_hint_eq(x, y) &&
           ref_bytes_eq(x->data, x->len, y->data, y->len);
}

/* A decimal as value * 10^6 in an int64; false if not a decimal (or too
 * long for this reference, which the alphabet avoids). */
static bool ref_num(const struct vpxi_sexp *x, long long *v)
{
    size_t i = 0, d = 0, f = 0;
    bool neg = false, frac = false;
    long long acc = 0;

    if (x->len && x->data[0] == '-') {
        neg = true;
        i = 1;
    }
    for (; i < x->len; i++) {
        uint8_t c = x->data[i];
        if (c == '.' && !frac && d > 0) {
            frac = true;
            continue;
        }
        if (c < '0' || c > '9')
            return false;
        if (frac && ++f > 6)
            return false;
        if (!frac && ++d > 12)
            return false;
        acc = acc * 10 + (c - '0');
    }
    if (d == 0 || (frac && f == 0))
        return false;
    for (; f < 6; f++)
        acc *= 10;
    *v = neg ? -acc : acc;
    return true;
}

/* Unsigned big-endian of any length: skip zero octets, then the longer
 * number is larger, then the first differing octet decides. */
static int ref_bin_cmp(const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    size_t i = 0, j = 0, k;

    while (i < x->len && x->data[i] == 0)
        i++;
    while (j < y->len && y->data[j] == 0)
        j++;
    if (x->len - i != y->len - j)
        return x->len - i > y->len - j ? 1 : -1;
    for (k = 0; i + k < x->len; k++)
        if (x->data[i + k] != y->data[j + k])
            return x->data[i + k] > y->data[j + k] ? 1 : -1;
    return 0;
}

static bool ref_pattern(const struct vpxi_sexp *x, const char *pat)
{
    if (x->len != strlen(pat))
        return false;
    for (size_t i = 0; i < x->len; i++)
        if (pat[i] == 'd' ? !(x->data[i] >= '0' && x->data[i] <= '9') : x->data[i] != pat[i])
            return false;
    return true;
}

static int ref_2(const uint8_t *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool ref_clock(const uint8_t *p)
{
    return ref_2(p) < 24 && ref_2(p + 3) < 60 && ref_2(p + 6) < 60;
}

static bool ref_date(const struct vpxi_sexp *x)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;

    if (!ref_pattern(x, "dddd-dd-dd_dd:dd:dd"))
        return false;
    y = ref_2(x->data) * 100 + ref_2(x->data + 2);
    m = ref_2(x->data + 5);
    d = ref_2(x->data + 8);
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !(y % 400 == 0 || (y % 4 == 0 && y % 100 != 0)))
        return false;
    return ref_clock(x->data + 11);
}

/* -2 if x does not parse under ord, else the sign of x - y (y parses). */
static int ref_cmp(const char *ord, const struct vpxi_sexp *x, const struct vpxi_sexp *y)
{
    long long a, b;
    size_t i;

    if (!strcmp(ord, "numeric")) {
        if (!ref_num(x, &a) || !ref_num(y, &b))
            return -2;
        return (a > b) - (a < b);
    }
    if (!strcmp(ord, "binary"))
        return ref_bin_cmp(x, y);
    if (!strcmp(ord, "date") && (!ref_date(x) || !ref_date(y)))
        return -2;
    if (!strcmp(ord, "time") && (!ref_pattern(x, "dd:dd:dd") || !ref_clock(x->data)))
        return -2;
    for (i = 0; i < x->len && i < y->len; i++)
        if (x->data[i] != y->data[i])
            return x->data[i] < y->data[i] ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

static bool ref_in_range(const struct vpxi_sexp *v, const struct vpxi_sexp *t)
{
    const struct vpxi_sexp *e = t->child->next->next, *lo = NULL, *hi = NULL;
    char ord[16];
    bool lo_incl = false, hi_incl = false;
    int c;

    snprintf(ord, sizeof(ord), "%.*s", (int)e->len, (const char *)e->data);
    for (e = e->next; e; e = e->next->next) {
        if (ref_is(e, "g") || ref_is(e, "ge")) {
            lo = e->next;
            lo_incl = ref_is(e, "ge");
        } else {
            hi = e->next;
            hi_incl = ref_is(e, "le");
        }
    }
    if (v->type != VPXI_SEXP_ATOM)
        return false;
    if (lo || hi) {
        if (!ref_hint_eq(v, lo ? lo : hi))
            return false;
    } else if (v->hint) {
        return false;
    }
    if (ref_cmp(ord, v, v) == -2)
        return false;
    if (lo && ((c = ref_cmp(ord, v, lo)) < 0 || (c == 0 && !lo_incl)))
        return false;
    if (hi && ((c = ref_cmp(ord, v, hi)) > 0 || (c == 0 && !hi_incl)))
        return false;
    return true;
}

static bool ref_member(const struct vpxi_sexp *v, const struct vpxi_sexp *t)
{
    const struct vpxi_sexp *x, *y;

    if (t->type == VPXI_SEXP_ATOM)
        return ref_atom_eq(v, t);
    if (ref_is(t->child, "*")) {
        x = t->child->next;
        if (!x)
            return true;
        if (ref_is(x, "set")) {
            for (y = x->next; y; y = y->next)
                if (ref_member(v, y))
                    return true;
            return false;
        }
        if (ref_is(x, "prefix")) {
            y = x->next;
            return v->type == VPXI_SEXP_ATOM && ref_hint_eq(v, y) && v->len >= y->len &&
                   ref_bytes_eq(v->data, y->len, y->data, y->len);
        }
        return ref_in_range(v, t);
    }
    if (v->type != VPXI_SEXP_LIST || v->len < t->len || !ref_atom_eq(v->child, t->child))
        return false;
    for (x = v->child->next, y = t->child->next; y; x = x->next, y = y->next)
        if (!ref_member(x, y))
            return false;
    return true;
}

/* ---- random tags ---- */

enum gen_mode { GEN_NO_RANGE, GEN_ONE_ORD, GEN_ANY, GEN_MODES };

struct gen {
    uint64_t s;
    enum gen_mode mode;
    const char *ord; /* GEN_ONE_ORD */
    char *p, *end;
};

static uint32_t gen_rand(struct gen *g, uint32_t n)
{
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return (uint32_t)((g->s * 2685821657736338717ULL) >> 33) % n;
}

static void gen_put(struct gen *g, const char *s)
{
    size_t n = strlen(s);

    if (n < (size_t)(g->end - g->p)) {
        memcpy(g->p, s, n);
        g->p += n;
        *g->p = 0;
    }
}

#define PICK(g, arr) ((arr)[gen_rand(g, ARRAY_SIZE(arr))])

static const char *const gen_atoms[] = {
    "a",        "ab", "abc", "b",  "ba",  "\"\"", "[h]a", "[h]ab",  "1",
    "5",        "10", "007", "-1", "1.5", "1.50", "%01",  "%00%01", "2020-01-01_00:00:00",
    "12:00:00", "*",
};
static const char *const gen_prefixes[] = { "\"\"", "a", "ab", "b", "[h]a", "1", "2020-", "%00" };
static const char *const gen_ords[] = { "alpha", "numeric", "binary", "date", "time" };
static const char *const pool_alpha[] = { "a", "ab", "abc", "b", "ba" };
static const char *const pool_numeric[] = { "0", "1", "01", "5", "10", "-1", "1.5", "1.50", "-0" };
static const char *const pool_binary[] = { "%01", "%00%01", "%02", "%05", "\"\"" };
static const char *const pool_date[] = { "2020-01-01_00:00:00", "2020-06-30_12:00:00",
                                         "2021-01-01_00:00:00" };
static const char *const pool_time[] = { "00:00:00", "12:00:00", "23:59:59" };

static const char *gen_limit(struct gen *g, const char *ord)
{
    if (!strcmp(ord, "alpha"))
        return PICK(g, pool_alpha);
    if (!strcmp(ord, "numeric"))
        return PICK(g, pool_numeric);
    if (!strcmp(ord, "binary"))
        return PICK(g, pool_binary);
    if (!strcmp(ord, "date"))
        return PICK(g, pool_date);
    return PICK(g, pool_time);
}

static void gen_range(struct gen *g)
{
    const char *ord = g->mode == GEN_ONE_ORD ? g->ord : PICK(g, gen_ords);
    const char *hint = gen_rand(g, 4) == 0 ? "[h]" : "";

    gen_put(g, "(* range ");
    gen_put(g, ord);
    if (gen_rand(g, 2)) {
        gen_put(g, gen_rand(g, 2) ? " g " : " ge ");
        gen_put(g, hint);
        gen_put(g, gen_limit(g, ord));
    }
    if (gen_rand(g, 2)) {
        gen_put(g, gen_rand(g, 2) ? " l " : " le ");
        gen_put(g, hint);
        gen_put(g, gen_limit(g, ord));
    }
    gen_put(g, ")");
}

static void gen_tag(struct gen *g, int depth)
{
    uint32_t k = gen_rand(g, depth < 3 ? 100 : 55), i, n;

    if (k < 30) {
        gen_put(g, PICK(g, gen_atoms));
    } else if (k < 34) {
        gen_put(g, "(*)");
    } else if (k < 44 && g->mode != GEN_ONE_ORD) {
        gen_put(g, "(* prefix ");
        gen_put(g, PICK(g, gen_prefixes));
        gen_put(g, ")");
    } else if (k < 55 && g->mode != GEN_NO_RANGE) {
        gen_range(g);
    } else if (k < 70 && depth < 3) {
        gen_put(g, "(* set");
        for (i = 0, n = gen_rand(g, 4); i < n; i++) {
            gen_put(g, " ");
            gen_tag(g, depth + 1);
        }
        gen_put(g, ")");
    } else if (depth < 3) {
        gen_put(g, gen_rand(g, 5) ? "(h" : "(g");
        for (i = 0, n = gen_rand(g, 3); i < n; i++) {
            gen_put(g, " ");
            gen_tag(g, depth + 1);
        }
        gen_put(g, ")");
    } else {
        gen_put(g, PICK(g, gen_atoms));
    }
}

/* The constants the tags are tested on. */
static size_t universe(struct vpxi_sx *sx, struct vpxi_sexp **u, size_t cap)
{
    static const char *const extra[] = {
        "abd",
        "c",
        "[h]b",
        "[g]a",
        "[h]abc",
        "0",
        "-0",
        "20",
        "1.2",
        "x1",
        "%00%05",
        "%02",
        "%05",
        "%00",
        "2020-06-30_12:00:00",
        "2020-02-30_00:00:00",
        "2021-01-01_00:00:00",
        "2020-06-30",
        "00:00:00",
        "23:59:59",
        "24:00:00",
        "set",
        "h",
        "01",
        "-1.0",
    };
    static const char *const small[] = { "a", "ab", "b", "5", "[h]a" };
    char buf[64];
    size_t n = 0, i, j;

    for (i = 0; i < ARRAY_SIZE(gen_atoms) && n < cap; i++)
        u[n++] = tp(sx, gen_atoms[i]);
    for (i = 0; i < ARRAY_SIZE(extra) && n < cap; i++)
        u[n++] = tp(sx, extra[i]);
    u[n++] = tp(sx, "(h)");
    u[n++] = tp(sx, "(g)");
    for (i = 0; i < ARRAY_SIZE(small); i++) {
        snprintf(buf, sizeof(buf), "(h %s)", small[i]);
        u[n++] = tp(sx, buf);
        snprintf(buf, sizeof(buf), "(g %s)", small[i]);
        u[n++] = tp(sx, buf);
        snprintf(buf, sizeof(buf), "(h (g %s))", small[i]);
        u[n++] = tp(sx, buf);
        for (j = 0; j < ARRAY_SIZE(small) && n < cap; j++) {
            snprintf(buf, sizeof(buf), "(h %s %s)", small[i], small[j]);
            u[n++] = tp(sx, buf);
        }
    }
    return n;
}

struct diff_stats {
    size_t pairs[GEN_MODES], empty, members, implies_nonconst;
};

/* All checks for one pair; returns false (after reporting) on the first
 * disagreement so that one bug does not print thousands of lines. */
static bool diff_pair(struct vpxi_sexp *const *u, size_t nu, const char *as, const char *bs,
                      bool exact, struct diff_stats *st)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *a = tp(sx, as), *b = tp(sx, bs), *ab = NULL, *ba = NULL;
    char buf[T_TEXT_MAX];
    int r1, r2, ia, ib;
    bool ok = false;
    size_t i;

    t_checks++;
    r1 = vpxi_tag_intersect(sx, a, b, &ab);
    r2 = vpxi_tag_intersect(sx, b, a, &ba);
    if ((r1 != 0 && r1 != VPXI_ERR_TAG_EMPTY) || (r1 == 0) != (r2 == 0)) {
        t_fail(__LINE__, "%s ∩ %s: %s vs reverse %s", as, bs, vpxi_errname(r1), vpxi_errname(r2));
        goto out;
    }
    st->empty += r1 != 0;
    if (r1 == 0 &&
        (vpxi_tag_check(ab) != 0 || vpxi_tag_implies(a, ab) != 0 || vpxi_tag_implies(b, ab) != 0)) {
        t_fail(__LINE__, "%s ∩ %s = %s: bad tag or not implied by both", as, bs,
               t_str(ab, buf, sizeof(buf)));
        goto out;
    }
    ia = vpxi_tag_implies(a, b);
    ib = vpxi_tag_implies(b, a);
    st->implies_nonconst += (ia == 0) + (ib == 0);
    for (i = 0; i < nu; i++) {
        bool ma = ref_member(u[i], a), mb = ref_member(u[i], b);
        bool mab = r1 == 0 && ref_member(u[i], ab), mba = r2 == 0 && ref_member(u[i], ba);
        st->members += ma && mb;
        if (mab && !(ma && mb)) {
            t_fail(__LINE__, "%s in %s ∩ %s = %s, but not in both", t_str(u[i], buf, 256), as, bs,
                   t_str(ab, buf + 256, sizeof(buf) - 256));
            goto out;
        }
        if (mba != mab || (exact && mab != (ma && mb))) {
            t_fail(__LINE__, "%s: in a %d, b %d, a∩b %d, b∩a %d; a = %s, b = %s, a∩b = %s",
                   t_str(u[i], buf, 256), ma, mb, mab, mba, as, bs,
                   t_str(ab, buf + 256, sizeof(buf) - 256));
            goto out;
        }
        if ((vpxi_tag_implies(a, u[i]) == 0) != ma || (vpxi_tag_implies(b, u[i]) == 0) != mb) {
            t_fail(__LINE__, "implies(%s or %s, %s) disagrees with membership %d %d", as, bs,
                   t_str(u[i], buf, 256), ma, mb);
            goto out;
        }
        /* implication between star forms may be incomplete, never unsound */
        if ((ia == 0 && mb && !ma) || (ib == 0 && ma && !mb)) {
            t_fail(__LINE__, "implies between %s and %s unsound at %s", as, bs,
                   t_str(u[i], buf, 256));
            goto out;
        }
    }
    ok = true;
out:
    vpxi_sx_free(sx);
    return ok;
}

static void test_differential(void)
{
    static char as[T_TEXT_MAX], bs[T_TEXT_MAX];
    struct vpxi_sx *usx = vpxi_sx_new();
    struct vpxi_sexp *u[128];
    struct diff_stats st = { 0 };
    struct gen g = { .s = 0x9e3779b97f4a7c15ULL };
    size_t nu = universe(usx, u, ARRAY_SIZE(u)), i;
    clock_t t0 = clock();

    for (i = 0; i < T_DIFF_PAIRS; i++) {
        g.mode = (enum gen_mode)(i % GEN_MODES);
        g.ord = PICK(&g, gen_ords);
        g.p = as;
        g.end = as + sizeof(as);
        gen_tag(&g, 0);
        g.p = bs;
        g.end = bs + sizeof(bs);
        /* every fourth b contains a, so that intersections are not mostly empty */
        if (i % 4 == 3) {
            gen_put(&g, "(* set ");
            gen_put(&g, as);
            gen_put(&g, " ");
        }
        gen_tag(&g, 0);
        if (i % 4 == 3)
            gen_put(&g, ")");
        st.pairs[g.mode]++;
        if (!diff_pair(u, nu, as, bs, g.mode != GEN_ANY, &st))
            break;
    }
    fprintf(stderr,
            "  %zu universe constants; pairs: %zu no-range, %zu one-ordering, %zu any; "
            "%zu empty, %zu shared memberships, %zu star-form implications; %.2f s\n",
            nu, st.pairs[GEN_NO_RANGE], st.pairs[GEN_ONE_ORD], st.pairs[GEN_ANY], st.empty,
            st.members, st.implies_nonconst, (double)(clock() - t0) / CLOCKS_PER_SEC);
    CHECK(i == T_DIFF_PAIRS);
    vpxi_sx_free(usx);
}

int main(void)
{
    RUN(test_grammar);
    RUN(test_depth);
    RUN(test_notes_examples);
    RUN(test_star_atom_prefix);
    RUN(test_prefix_range);
    RUN(test_with_sets);
    RUN(test_lists);
    RUN(test_ordering_cmp);
    RUN(test_range_membership);
    RUN(test_range_range);
    RUN(test_implies);
    RUN(test_limits);
    RUN(test_alloc_failures);
    RUN(test_differential);
    T_DONE();
}
