/*
 * fuzz_msg.c - libFuzzer target for service messages (lib/policy/msg.c),
 * the first parser every registrar, host agent and exec request meets.
 *
 * Invariants checked (abort on violation):
 *   - an accepted request has a non-empty all-digit id and an op name;
 *   - an accepted reply is either ok or carries an error code and message,
 *     and the code maps to a negative VPXI error;
 *   - the accepted message re-encodes to exactly the input bytes (canonical
 *     form is unique) and parses again to the same fields;
 *   - vpxi_msg_get_str never returns 0 with a string longer than the buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INVARIANT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_msg: invariant failed at line %d: %s\n", __LINE__, #c);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void fields(const struct vpxi_msg *m)
{
    static const char *names[] = { "name", "vpxi", "user", "key", "cmd", "site", "nodes" };
    char buf[16];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (vpxi_msg_get_str(m, names[i], buf, sizeof(buf)) == 0)
            INVARIANT(strlen(buf) < sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_msg m, m2;
    const uint8_t *p;
    size_t len;

    if (!sx)
        return 0;
    if (vpxi_msg_parse(sx, data, size, &m) != 0)
        goto out;
    INVARIANT(m.id[0] != 0);
    for (const char *c = m.id; *c; c++)
        INVARIANT(*c >= '0' && *c <= '9');
    if (!m.is_reply)
        INVARIANT(m.op[0] != 0);
    else if (!m.ok)
        INVARIANT(m.message != NULL && vpxi_msg_error_code(&m) < 0);
    fields(&m);
    INVARIANT(vpxi_sexp_canonical(sx, m.root, &p, &len) == 0);
    INVARIANT(len == size && memcmp(p, data, size) == 0);
    INVARIANT(vpxi_msg_parse(sx, p, len, &m2) == 0);
    INVARIANT(m2.is_reply == m.is_reply && m2.ok == m.ok);
    INVARIANT(!strcmp(m2.id, m.id) && !strcmp(m2.op, m.op) && !strcmp(m2.code, m.code));
out:
    vpxi_sx_free(sx);
    return 0;
}
