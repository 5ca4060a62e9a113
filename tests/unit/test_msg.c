/*
 * test_msg.c - service messages (lib/policy/msg.c): builders, parsing,
 * error codes, and malformed messages.
 */
#include "t.h"
#include "vpxi/msg.h"

static int parse_str(struct vpxi_sx *sx, const char *s, struct vpxi_msg *m)
{
    return vpxi_msg_parse(sx, (const uint8_t *)s, strlen(s), m);
}

static void test_request_round_trip(void)
{
    struct vpxi_sx *sx = vpxi_sx_new(), *sx2 = vpxi_sx_new();
    struct vpxi_sexp *req, *arg;
    const uint8_t *p;
    size_t len;
    struct vpxi_msg m;
    char buf[64];

    CHECK_OK(vpxi_msg_request(sx, "42", "create-vpxi", &req));
    CHECK_OK(vpxi_sexp_build(sx, &arg, "(name %s)", "demo"));
    vpxi_sexp_append(req, arg);
    CHECK_OK(vpxi_sexp_build(sx, &arg, "(nodes %u)", (uint64_t)6));
    vpxi_sexp_append(req, arg);
    CHECK_OK(vpxi_sexp_canonical(sx, req, &p, &len));
    CHECK_OK(vpxi_msg_parse(sx2, p, len, &m));
    CHECK(!m.is_reply);
    CHECK_STR(m.id, "42");
    CHECK_STR(m.op, "create-vpxi");
    CHECK(m.first && vpxi_sexp_head_is(m.first, "name"));
    CHECK_OK(vpxi_msg_get_str(&m, "name", buf, sizeof(buf)));
    CHECK_STR(buf, "demo");
    CHECK_OK(vpxi_msg_get_str(&m, "nodes", buf, sizeof(buf)));
    CHECK_STR(buf, "6");
    CHECK_ERR(vpxi_msg_get_str(&m, "site", buf, sizeof(buf)), VPXI_ERR_NOT_FOUND);
    CHECK_STR(buf, "");
    CHECK(vpxi_msg_get(&m, "nodes") != NULL);
    CHECK(vpxi_msg_get(&m, "users") == NULL);
    vpxi_sx_free(sx);
    vpxi_sx_free(sx2);
}

static void test_reply_round_trip(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *rep, *res;
    const uint8_t *p;
    size_t len;
    struct vpxi_msg m;

    CHECK_OK(vpxi_msg_reply_ok(sx, "7", &rep));
    CHECK_OK(vpxi_sexp_build(sx, &res, "(vpxi %s)", "demo"));
    vpxi_sexp_append(rep, res);
    CHECK_OK(vpxi_sexp_canonical(sx, rep, &p, &len));
    CHECK_OK(vpxi_msg_parse(sx, p, len, &m));
    CHECK(m.is_reply && m.ok);
    CHECK_STR(m.id, "7");
    CHECK(m.first && vpxi_sexp_head_is(m.first, "vpxi"));

    CHECK_OK(vpxi_msg_reply_ok(sx, "8", &rep));
    CHECK_OK(vpxi_sexp_canonical(sx, rep, &p, &len));
    CHECK_OK(vpxi_msg_parse(sx, p, len, &m));
    CHECK(m.ok && m.first == NULL);
    vpxi_sx_free(sx);
}

static void test_error_reply(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *rep;
    const uint8_t *p;
    size_t len;
    struct vpxi_msg m;
    char buf[128];

    CHECK_OK(vpxi_msg_reply_error(sx, "9", VPXI_ERR_NOT_AUTHORIZED, "no chain grants exec", &rep));
    CHECK_OK(vpxi_sexp_canonical(sx, rep, &p, &len));
    CHECK_OK(vpxi_msg_parse(sx, p, len, &m));
    CHECK(m.is_reply && !m.ok);
    CHECK_STR(m.code, vpxi_errname(VPXI_ERR_NOT_AUTHORIZED));
    CHECK_EQ(vpxi_msg_error_code(&m), VPXI_ERR_NOT_AUTHORIZED);
    CHECK_OK(vpxi_sexp_get_str(m.message, buf, sizeof(buf)));
    CHECK_STR(buf, "no chain grants exec");

    /* every code survives the trip */
    for (int c = -1; c >= VPXI_ERR_MIN; c--) {
        CHECK_OK(vpxi_msg_reply_error(sx, "1", c, "x", &rep));
        CHECK_OK(vpxi_sexp_canonical(sx, rep, &p, &len));
        CHECK_OK(vpxi_msg_parse(sx, p, len, &m));
        CHECK_EQ(vpxi_msg_error_code(&m), c);
    }
    /* an unknown code maps to INTERNAL, not to success */
    CHECK_OK(parse_str(sx, "(5:reply(2:id1:1)(5:error7:NO_SUCH1:x))", &m));
    CHECK_EQ(vpxi_msg_error_code(&m), VPXI_ERR_INTERNAL);
    vpxi_sx_free(sx);
}

static void test_malformed(void)
{
    static const char *bad[] = {
        "",                                                   /* empty */
        "(7:request(2:id1:1)",                                /* unterminated */
        "7:request",                                          /* not a list */
        "(4:ping(2:id1:1)(2:op1:x))",                         /* unknown head */
        "(7:request(2:op4:list))",                            /* no id */
        "(7:request(2:id1:1))",                               /* no op */
        "(7:request(2:id2:1a)(2:op4:list))",                  /* id not digits */
        "(7:request(2:id0:)(2:op4:list))",                    /* empty id */
        "(7:request(2:id1:1)(2:op4:list)4:junk)",             /* argument not a list */
        "(7:request(2:id1:1)(2:op4:list)((1:a)))",            /* argument without a name */
        "(7:request(2:id1:1)(2:op[1:x]4:list))",              /* display hint on op */
        "(7:request(2:id1:1)(2:op4:list4:more))",             /* (op a b) */
        "(7:request(2:id21:123456789012345678901)(2:op1:x))", /* id too long */
        "(5:reply(2:id1:1))",                                 /* neither ok nor error */
        "(5:reply(2:id1:1)(5:error4:CODE))",                  /* error without message */
        "(5:reply(2:id1:1)(5:error(1:a)1:m))",                /* code not an atom */
        "(5:reply(2:id1:1)(2:ok)3:res)",                      /* result not a list */
        "(5:reply(2:ok))",                                    /* reply without id */
    };
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_str(sx, bad[i], &m);
        if (r == 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(r != 0);
    }
    vpxi_sx_free(sx);
}

static void test_limits(void)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m;
    char deep[256];
    size_t n = 0;

    /* depth 40 exceeds the message depth cap of 32 */
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "(7:request(2:id1:1)(2:op1:x)");
    for (int i = 0; i < 40; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    deep[n++] = ':';
    deep[n++] = 'a';
    for (int i = 0; i < 41; i++)
        deep[n++] = ')';
    CHECK_ERR(vpxi_msg_parse(sx, (const uint8_t *)deep, n, &m), VPXI_ERR_TOO_DEEP);
    vpxi_sx_free(sx);
}

int main(void)
{
    RUN(test_request_round_trip);
    RUN(test_reply_round_trip);
    RUN(test_error_reply);
    RUN(test_malformed);
    RUN(test_limits);
    T_DONE();
}
