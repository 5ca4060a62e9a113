/*
 * test_store.c - the registrar's SQLite store (src/vpxid/registrar/store.c,
 * included to reach the connection for PRAGMA checks and fault injection).
 *
 * Unit tests: opening (modes 0600, WAL, synchronous=FULL, foreign keys,
 * schema version), each table's calls and refusals, allocation as one
 * transaction, VPXI state changes and release, issuance and revocation,
 * caller transactions, a second writer timing out, store_verify finding
 * broken invariants, a full database (PRAGMA max_page_count), every write
 * and sync failing in turn (a fault-injecting VFS) and, as root, a full tmpfs.
 *
 * Modes used by tests/cli/test_store_crash.sh and for measurements:
 *   test_store --crash-child DB          loop creating VPXIs and issuing; print
 *                                        "serial len hash" of each durable issuance
 *   test_store --crash-verify DB FILE..  store_verify, then every complete line of
 *                                        the FILEs must be in DB with that content
 *   test_store --bench DIR [N]           durable issuances per second
 */
#include "t.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpxid/registrar/store.c"

static char tmpdir[] = "/tmp/test_store.XXXXXX";
static char dbpath[4096];
static unsigned db_seq;

static const char *const ids3[] = { "r1", "r2", "r3" };

static void hit_of(uint8_t hit[static VPXI_HIT_LEN], unsigned n)
{
    memset(hit, 0, VPXI_HIT_LEN);
    hit[0] = 0x20;
    hit[1] = 0x01;
    hit[2] = 0x00;
    hit[3] = 0x25;
    hit[14] = (uint8_t)(n >> 8);
    hit[15] = (uint8_t)n;
}

static void rm_db(const char *path)
{
    char p[4200];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* A fresh database path in the test directory. */
static const char *new_db(void)
{
    snprintf(dbpath, sizeof(dbpath), "%s/db%u.sqlite", tmpdir, ++db_seq);
    rm_db(dbpath);
    return dbpath;
}

static struct store *open_new(void)
{
    struct store *s = NULL;
    char err[256];
    int r = store_open(new_db(), &s, err, sizeof(err));

    if (r != 0) {
        fprintf(stderr, "store_open %s: %s: %s\n", dbpath, vpxi_errname(r), err);
        exit(2);
    }
    return s;
}

static struct store *reopen(struct store *s, const char *path)
{
    char err[256];
    int r;

    store_close(s);
    s = NULL;
    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "store_open %s: %s: %s\n", path, vpxi_errname(r), err);
        exit(2);
    }
    return s;
}

static int64_t pragma_int(struct store *s, const char *sql)
{
    int64_t v = -1;

    if (pragma(s, sql, NULL, 0, &v) != 0)
        return -1;
    return v;
}

/* PRAGMA max_page_count takes no bound value; the number is ours, not input. */
static void set_max_pages(struct store *s, int64_t pages)
{
    char sql[64];

    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
    CHECK_EQ(pragma_int(s, sql), pages);
}

static const uint8_t pubkey[] = "(10:public-key(3:ecc))";

/* Host agents 1 (site s1) and 2 (site s2); resources r1..r6:
 * r1..r3 on ha1 (s1, c1), r4, r5 on ha2 (s2, c1), r6 on ha2 (s2, c2). */
static void setup_world(struct store *s)
{
    static const struct {
        const char *id;
        unsigned ha;
        const char *site, *community;
        int64_t cpu, mem;
    } res[] = {
        { "r1", 1, "s1", "c1", 1000, 1024 }, { "r2", 1, "s1", "c1", 2000, 2048 },
        { "r3", 1, "s1", "c1", 4000, 4096 }, { "r4", 2, "s2", "c1", 1000, 512 },
        { "r5", 2, "s2", "c1", 2000, 8192 }, { "r6", 2, "s2", "c2", 8000, 16384 },
    };
    uint8_t ha[2][VPXI_HIT_LEN];
    struct store_hostagent h = { .pubkey = pubkey, .pubkey_len = sizeof(pubkey) - 1 };

    for (unsigned i = 0; i < 2; i++) {
        hit_of(h.hit, 100 + i + 1);
        memcpy(ha[i], h.hit, VPXI_HIT_LEN);
        h.site = i == 0 ? "s1" : "s2";
        h.community = "c1";
        CHECK_OK(store_hostagent_upsert(s, &h));
    }
    for (size_t i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
        uint8_t cert[64];
        struct store_resource r = {
            .id = res[i].id,
            .hostagent_hit = ha[res[i].ha - 1],
            .site = res[i].site,
            .community = res[i].community,
            .cpu_milli = res[i].cpu,
            .memory_mb = res[i].mem,
            .cert = cert,
            .cert_len = sizeof(cert),
            .not_after = 4000000000,
        };
        memset(cert, (int)i + 1, sizeof(cert));
        CHECK_OK(store_resource_register(s, &r));
    }
}

static struct store_vpxi vpxi_rec(const char *name, unsigned owner)
{
    struct store_vpxi v = {
        .name = name,
        .spec = "(vpxi (nodes 3))",
        .not_before = 1000,
        .not_after = 2000000000,
    };
    hit_of(v.owner_hit, owner);
    return v;
}

static int res_state_is(struct store *s, const char *id, enum store_resource_state st,
                        const char *vpxi)
{
    struct store_resource r;
    int ok;

    if (store_resource_get(s, id, &r) != 0)
        return 0;
    ok = r.state == st && ((!vpxi && !r.vpxi) || (vpxi && r.vpxi && !strcmp(vpxi, r.vpxi)));
    store_resource_clear(&r);
    return ok;
}

static int check_ok(struct store *s)
{
    char rep[2048];
    int r = store_verify(s, rep, sizeof(rep));

    if (r != 0)
        fprintf(stderr, "store_verify: %s: %s\n%s", vpxi_errname(r), store_errmsg(s), rep);
    return r;
}

static void add_nodes(struct store *s, const char *vpxi, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[32];
        struct store_node nd = {
            .vpxi = vpxi,
            .name = name,
            .resource = ids[i],
            .group_name = "g",
            .site = "s1",
            .role = "worker",
            .ipv4 = "100.64.0.2",
            .image = "debian-12",
            .state = STORE_NODE_PENDING,
        };
        snprintf(name, sizeof(name), "n%zu", i);
        CHECK_OK(store_node_add(s, &nd));
    }
}

/* ---- opening ----------------------------------------------------------------------------------
 */

static void test_open(void)
{
    struct store *s = NULL;
    char err[256], p[4200], mode[16];
    struct stat st;
    mode_t old = umask(0);
    FILE *f;

    s = open_new();
    CHECK_OK(store_user_enroll(
        s, &(struct store_user){ .pubkey = pubkey, .pubkey_len = 4, .name = "u" }));
    CHECK(stat(dbpath, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    umask(old);
    CHECK_OK(pragma(s, "PRAGMA journal_mode", mode, sizeof(mode), NULL));
    CHECK_STR(mode, "wal");
    CHECK_EQ(pragma_int(s, "PRAGMA synchronous"), 2); /* FULL */
    CHECK_EQ(pragma_int(s, "PRAGMA foreign_keys"), 1);
    CHECK_EQ(pragma_int(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    CHECK_OK(check_ok(s));

    /* reopening keeps the data and does not migrate again; a loose mode is narrowed */
    store_close(s);
    CHECK(chmod(dbpath, 0644) == 0);
    s = reopen(NULL, dbpath);
    CHECK(stat(dbpath, &st) == 0 && (st.st_mode & 0777) == 0600);
    {
        struct store_user *u = NULL;
        size_t n = 0;
        CHECK_OK(store_user_list(s, -1, &u, &n));
        CHECK_EQ(n, 1);
        store_user_list_free(u, n);
    }

    /* a newer schema is refused */
    CHECK_OK(pragma(s, "PRAGMA user_version = 99", NULL, 0, NULL));
    store_close(s);
    s = NULL;
    CHECK_ERR(store_open(dbpath, &s, err, sizeof(err)), VPXI_ERR_UNSUPPORTED);
    CHECK(s == NULL && strstr(err, "99") != NULL);

    /* not a database */
    new_db();
    CHECK((f = fopen(dbpath, "w")) != NULL);
    if (f) {
        for (int i = 0; i < 512; i++)
            fputs("this is not a database ", f);
        fclose(f);
    }
    CHECK_ERR(store_open(dbpath, &s, err, sizeof(err)), VPXI_ERR_BAD_FORMAT);
    CHECK(err[0] != '\0');

    /* no such directory */
    snprintf(p, sizeof(p), "%s/no/such/dir/db", tmpdir);
    CHECK_ERR(store_open(p, &s, err, sizeof(err)), VPXI_ERR_SYS);
    CHECK(strstr(err, "No such file") != NULL);
}

/* ---- users, host agents, resources ------------------------------------------------------------
 */

static void test_users(void)
{
    struct store *s = open_new();
    struct store_user u = { .pubkey = pubkey,
                            .pubkey_len = sizeof(pubkey) - 1,
                            .name = "alice",
                            .contact = "alice@example.org",
                            .agreement = "aup-v1" },
                      got;
    struct store_user *v = NULL;
    uint8_t h[VPXI_HIT_LEN];
    char longname[STORE_NAME_MAX + 2];
    size_t n = 0;

    hit_of(u.hit, 1);
    CHECK_OK(store_user_enroll(s, &u));
    CHECK_ERR(store_user_enroll(s, &u), VPXI_ERR_EXISTS);
    hit_of(u.hit, 2);
    u.name = "bob";
    u.contact = NULL;
    u.created = 5;
    CHECK_OK(store_user_enroll(s, &u));

    hit_of(h, 1);
    CHECK_OK(store_user_get(s, h, &got));
    CHECK_STR(got.name, "alice");
    CHECK_STR(got.contact, "alice@example.org");
    CHECK_STR(got.agreement, "aup-v1");
    CHECK_EQ(got.pubkey_len, sizeof(pubkey) - 1);
    CHECK(got.pubkey && memcmp(got.pubkey, pubkey, got.pubkey_len) == 0);
    CHECK_EQ(got.status, STORE_USER_PENDING);
    CHECK(got.created > 1000000000);
    CHECK_MEM(got.hit, h, VPXI_HIT_LEN);
    store_user_clear(&got);
    CHECK(got.owned == NULL && got.name == NULL);

    CHECK_OK(store_user_set_status(s, h, STORE_USER_APPROVED));
    hit_of(h, 9);
    CHECK_ERR(store_user_get(s, h, &got), VPXI_ERR_NOT_FOUND);
    CHECK_ERR(store_user_set_status(s, h, STORE_USER_APPROVED), VPXI_ERR_NOT_FOUND);
    CHECK_ERR(store_user_set_status(s, h, (enum store_user_status)7), VPXI_ERR_INVALID);

    CHECK_OK(store_user_list(s, -1, &v, &n));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(v[0].name, "bob"); /* created 5: enrolment order */
        CHECK_STR(v[0].contact, "");
        CHECK_STR(v[1].name, "alice");
    }
    store_user_list_free(v, n);
    CHECK_OK(store_user_list(s, STORE_USER_APPROVED, &v, &n));
    CHECK_EQ(n, 1);
    if (n == 1)
        CHECK_STR(v[0].name, "alice");
    store_user_list_free(v, n);
    CHECK_OK(store_user_list(s, STORE_USER_REFUSED, &v, &n));
    CHECK_EQ(n, 0);
    CHECK(v == NULL);

    /* limits and missing fields */
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    hit_of(u.hit, 3);
    u.name = longname;
    CHECK_ERR(store_user_enroll(s, &u), VPXI_ERR_TOO_LARGE);
    CHECK(strstr(store_errmsg(s), "name") != NULL);
    u.name = "";
    CHECK_ERR(store_user_enroll(s, &u), VPXI_ERR_INVALID);
    u.name = "carol";
    u.pubkey_len = 0;
    CHECK_ERR(store_user_enroll(s, &u), VPXI_ERR_INVALID);
    u.pubkey_len = STORE_BLOB_MAX + 1;
    CHECK_ERR(store_user_enroll(s, &u), VPXI_ERR_TOO_LARGE);
    store_close(s);
}

static void test_hostagents_resources(void)
{
    struct store *s = open_new();
    struct store_hostagent h = { .pubkey = pubkey, .pubkey_len = sizeof(pubkey) - 1, .site = "s9" },
                           hg;
    struct store_resource r, *v = NULL;
    struct store_resource_filter f = { 0 };
    uint8_t ha[VPXI_HIT_LEN], other[VPXI_HIT_LEN], peer[VPXI_HIT_LEN], cert[4] = { 1, 2, 3, 4 };
    size_t n = 0;

    setup_world(s);
    /* host agent: update site, refuse another key */
    hit_of(h.hit, 101);
    h.last_seen = 77;
    CHECK_OK(store_hostagent_upsert(s, &h));
    CHECK_OK(store_hostagent_get(s, h.hit, &hg));
    CHECK_STR(hg.site, "s9");
    CHECK_STR(hg.community, "");
    CHECK_EQ(hg.last_seen, 77);
    CHECK(hg.registered > 77);
    store_hostagent_clear(&hg);
    h.pubkey = (const uint8_t *)"another key";
    h.pubkey_len = 11;
    CHECK_ERR(store_hostagent_upsert(s, &h), VPXI_ERR_PERM);
    hit_of(other, 555);
    CHECK_ERR(store_hostagent_get(s, other, &hg), VPXI_ERR_NOT_FOUND);

    /* resource: unknown host agent, renewal, owner change, borrowed */
    hit_of(ha, 101);
    r = (struct store_resource){ .id = "r1",
                                 .hostagent_hit = ha,
                                 .site = "s1",
                                 .community = "c1",
                                 .cpu_milli = 1500,
                                 .memory_mb = 1024,
                                 .cert = cert,
                                 .cert_len = sizeof(cert),
                                 .not_after = 4100000000 };
    CHECK_OK(store_resource_register(s, &r));
    CHECK_OK(store_resource_get(s, "r1", &r));
    CHECK_EQ(r.cpu_milli, 1500);
    CHECK_EQ(r.not_after, 4100000000);
    CHECK_EQ(r.cert_len, 4);
    CHECK(r.hostagent_hit && memcmp(r.hostagent_hit, ha, VPXI_HIT_LEN) == 0);
    CHECK(r.origin_registrar == NULL && r.vpxi == NULL);
    CHECK_EQ(r.state, STORE_RES_FREE);
    store_resource_clear(&r);
    r = (struct store_resource){
        .id = "r9", .hostagent_hit = other, .site = "s1", .cert = cert, .cert_len = sizeof(cert)
    };
    CHECK_ERR(store_resource_register(s, &r), VPXI_ERR_NOT_FOUND); /* no such host agent */
    r.id = "r1";
    hit_of(other, 102);
    CHECK_ERR(store_resource_register(s, &r), VPXI_ERR_PERM); /* r1 belongs to 101 */
    CHECK(strstr(store_errmsg(s), "r1") != NULL);
    r.hostagent_hit = NULL;
    CHECK_ERR(store_resource_register(s, &r), VPXI_ERR_INVALID); /* no owner */
    hit_of(peer, 900);
    r = (struct store_resource){ .id = "b1",
                                 .origin_registrar = peer,
                                 .site = "far",
                                 .community = "c1",
                                 .cpu_milli = 500,
                                 .memory_mb = 256,
                                 .cert = cert,
                                 .cert_len = sizeof(cert),
                                 .not_after = 3000000000 };
    CHECK_OK(store_resource_register(s, &r));
    r.cpu_milli = -1;
    CHECK_ERR(store_resource_register(s, &r), VPXI_ERR_INVALID);

    /* state changes */
    CHECK_OK(store_resource_set_state(s, "r6", STORE_RES_LENT));
    CHECK(res_state_is(s, "r6", STORE_RES_LENT, NULL));
    CHECK_OK(store_resource_set_state(s, "r6", STORE_RES_GONE));
    CHECK_ERR(store_resource_set_state(s, "r6", STORE_RES_ALLOCATED), VPXI_ERR_INVALID);
    CHECK_ERR(store_resource_set_state(s, "nope", STORE_RES_FREE), VPXI_ERR_NOT_FOUND);
    /* re-registering a gone resource revives it */
    hit_of(ha, 102);
    r = (struct store_resource){ .id = "r6",
                                 .hostagent_hit = ha,
                                 .site = "s2",
                                 .community = "c2",
                                 .cpu_milli = 8000,
                                 .memory_mb = 16384,
                                 .cert = cert,
                                 .cert_len = sizeof(cert),
                                 .not_after = 4000000000 };
    CHECK_OK(store_resource_register(s, &r));
    CHECK(res_state_is(s, "r6", STORE_RES_FREE, NULL));

    /* find free: filters, best fit first, limit, validity */
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 7);
    if (n == 7) {
        CHECK_STR(v[0].id, "b1");
        CHECK_STR(v[1].id, "r4"); /* 1000/512 before 1500/1024 */
        CHECK_STR(v[2].id, "r1");
        CHECK_STR(v[6].id, "r6");
    }
    store_resource_list_free(v, n);
    f = (struct store_resource_filter){ .site = "s2", .community = "c1" };
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 2);
    store_resource_list_free(v, n);
    f = (struct store_resource_filter){ .min_cpu_milli = 2000, .min_memory_mb = 4096 };
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 3); /* r3, r5, r6 */
    if (n == 3) {
        CHECK_STR(v[0].id, "r5");
        CHECK_STR(v[1].id, "r3");
    }
    store_resource_list_free(v, n);
    f = (struct store_resource_filter){ .limit = 2 };
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 2);
    store_resource_list_free(v, n);
    f = (struct store_resource_filter){ .valid_until = 3500000000 };
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 6); /* b1 expires before */
    store_resource_list_free(v, n);
    f = (struct store_resource_filter){ .site = "nowhere" };
    CHECK_OK(store_resource_find_free(s, &f, &v, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(check_ok(s));
    store_close(s);
}

/* ---- VPXIs: allocation, nodes, states, members -------------------------------------------------
 */

static void test_allocation(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("alpha", 1), got;
    static const char *const busy[] = { "r4", "r2", "r5" };
    static const char *const dup[] = { "r4", "r4" };
    static const char *const unknown[] = { "r4", "zz" };
    struct store_resource *rv = NULL;
    size_t n = 0;

    setup_world(s);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    CHECK_OK(store_vpxi_get(s, "alpha", &got));
    CHECK_EQ(got.state, STORE_VPXI_CREATING);
    CHECK_STR(got.spec, "(vpxi (nodes 3))");
    CHECK_STR(got.reason, "");
    CHECK_EQ(got.not_after, 2000000000);
    store_vpxi_clear(&got);
    for (int i = 0; i < 3; i++)
        CHECK(res_state_is(s, ids3[i], STORE_RES_ALLOCATED, "alpha"));
    CHECK_OK(store_resource_list_vpxi(s, "alpha", &rv, &n));
    CHECK_EQ(n, 3);
    store_resource_list_free(rv, n);

    /* r2 is taken: nothing of beta may remain */
    v = vpxi_rec("beta", 2);
    CHECK_ERR(store_vpxi_create(s, &v, busy, 3), VPXI_ERR_BAD_STATE);
    CHECK(strstr(store_errmsg(s), "r2") != NULL && strstr(store_errmsg(s), "alpha") != NULL);
    CHECK_ERR(store_vpxi_get(s, "beta", &got), VPXI_ERR_NOT_FOUND);
    CHECK(res_state_is(s, "r4", STORE_RES_FREE, NULL));
    CHECK(res_state_is(s, "r5", STORE_RES_FREE, NULL));
    CHECK_ERR(store_vpxi_create(s, &v, dup, 2), VPXI_ERR_DUPLICATE);
    CHECK_ERR(store_vpxi_create(s, &v, unknown, 2), VPXI_ERR_NOT_FOUND);
    CHECK(res_state_is(s, "r4", STORE_RES_FREE, NULL));
    CHECK_ERR(store_vpxi_create(s, &v, busy, 0), VPXI_ERR_INVALID);
    v.not_after = 10;
    CHECK_ERR(store_vpxi_create(s, &v, busy + 2, 1), VPXI_ERR_VALIDITY_EMPTY);
    /* a name in use */
    v = vpxi_rec("alpha", 2);
    CHECK_ERR(store_vpxi_create(s, &v, busy + 2, 1), VPXI_ERR_EXISTS);
    CHECK(res_state_is(s, "r5", STORE_RES_FREE, NULL));
    /* a lent resource is not free */
    CHECK_OK(store_resource_set_state(s, "r6", STORE_RES_LENT));
    v = vpxi_rec("gamma", 2);
    {
        static const char *const lent[] = { "r6" };
        CHECK_ERR(store_vpxi_create(s, &v, lent, 1), VPXI_ERR_BAD_STATE);
    }
    /* an allocated resource cannot be lent or withdrawn */
    CHECK_ERR(store_resource_set_state(s, "r1", STORE_RES_GONE), VPXI_ERR_BAD_STATE);
    CHECK_OK(check_ok(s));
    store_vpxi_list_free(NULL, 0);
    store_close(s);
}

static void test_vpxi_life(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("alpha", 1), got, *vl = NULL;
    struct store_node nd, *nl = NULL;
    struct store_member *ml = NULL;
    uint8_t h[VPXI_HIT_LEN], u2[VPXI_HIT_LEN];
    size_t n = 0;

    setup_world(s);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    /* active needs all nodes */
    add_nodes(s, "alpha", ids3, 2);
    CHECK_ERR(store_vpxi_set_state(s, "alpha", STORE_VPXI_ACTIVE, NULL), VPXI_ERR_BAD_STATE);
    CHECK(strstr(store_errmsg(s), "1 resources without a node") != NULL);
    nd = (struct store_node){ .vpxi = "alpha", .name = "n0", .resource = "r3" };
    CHECK_ERR(store_node_add(s, &nd), VPXI_ERR_EXISTS);
    nd.name = "n9";
    nd.resource = "r4"; /* not allocated to alpha */
    CHECK_ERR(store_node_add(s, &nd), VPXI_ERR_BAD_STATE);
    nd.vpxi = "nope";
    CHECK_ERR(store_node_add(s, &nd), VPXI_ERR_NOT_FOUND);
    nd = (struct store_node){
        .vpxi = "alpha", .name = "n2", .resource = "r3", .state = STORE_NODE_STARTING
    };
    CHECK_OK(store_node_add(s, &nd));
    CHECK_OK(check_ok(s));
    CHECK_OK(store_vpxi_set_state(s, "alpha", STORE_VPXI_ACTIVE, NULL));
    CHECK_OK(check_ok(s));

    /* node updates */
    hit_of(h, 42);
    CHECK_OK(store_node_update(s, "alpha", "n2", h, "198.18.0.2:10500", STORE_NODE_RUNNING));
    CHECK_OK(store_node_update(s, "alpha", "n2", NULL, NULL, STORE_NODE_RUNNING));
    CHECK_OK(store_node_get(s, "alpha", "n2", &nd));
    CHECK(nd.hit && memcmp(nd.hit, h, VPXI_HIT_LEN) == 0);
    CHECK_STR(nd.underlay, "198.18.0.2:10500");
    CHECK_STR(nd.group_name, "");
    CHECK(nd.ipv4 == NULL);
    CHECK_EQ(nd.state, STORE_NODE_RUNNING);
    store_node_clear(&nd);
    CHECK_ERR(store_node_update(s, "alpha", "n7", NULL, NULL, STORE_NODE_RUNNING),
              VPXI_ERR_NOT_FOUND);
    CHECK_OK(store_node_list(s, "alpha", &nl, &n));
    CHECK_EQ(n, 3);
    if (n == 3) {
        CHECK_STR(nl[0].name, "n0");
        CHECK(nl[0].hit == NULL);
        CHECK_STR(nl[0].ipv4, "100.64.0.2");
        CHECK_STR(nl[0].image, "debian-12");
        CHECK_STR(nl[2].resource, "r3");
    }
    store_node_list_free(nl, n);

    /* members: the owner came with the VPXI */
    hit_of(u2, 2);
    CHECK_OK(store_member_add(s, "alpha", u2, STORE_MEMBER_USER));
    CHECK_ERR(store_member_add(s, "alpha", u2, STORE_MEMBER_USER), VPXI_ERR_EXISTS);
    CHECK_ERR(store_member_add(s, "nope", u2, STORE_MEMBER_USER), VPXI_ERR_NOT_FOUND);
    CHECK_OK(store_member_list(s, "alpha", &ml, &n));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_EQ(ml[0].role + ml[1].role, STORE_MEMBER_OWNER + STORE_MEMBER_USER);
        CHECK_STR(ml[0].vpxi, "alpha");
    }
    store_member_list_free(ml, n);
    CHECK_OK(store_vpxi_list_for_user(s, u2, &vl, &n));
    CHECK_EQ(n, 1);
    store_vpxi_list_free(vl, n);
    hit_of(h, 1);
    CHECK_ERR(store_member_remove(s, "alpha", h), VPXI_ERR_PERM);
    CHECK_OK(store_member_remove(s, "alpha", u2));
    CHECK_ERR(store_member_remove(s, "alpha", u2), VPXI_ERR_NOT_FOUND);
    CHECK_OK(store_vpxi_list_for_user(s, u2, &vl, &n));
    CHECK_EQ(n, 0);

    /* a second VPXI, then lists by state */
    v = vpxi_rec("beta", 1);
    {
        static const char *const b[] = { "r4", "r5" };
        CHECK_OK(store_vpxi_create(s, &v, b, 2));
    }
    CHECK_OK(store_vpxi_list_for_user(s, h, &vl, &n));
    CHECK_EQ(n, 2);
    store_vpxi_list_free(vl, n);
    CHECK_OK(store_vpxi_list(s, STORE_VPXI_CREATING, &vl, &n));
    CHECK_EQ(n, 1);
    if (n == 1)
        CHECK_STR(vl[0].name, "beta");
    store_vpxi_list_free(vl, n);

    /* transitions, release on end and failure */
    CHECK_OK(store_vpxi_set_state(s, "alpha", STORE_VPXI_ENDING, "owner asked"));
    nd = (struct store_node){ .vpxi = "alpha", .name = "late", .resource = "r1" };
    CHECK_ERR(store_node_add(s, &nd), VPXI_ERR_BAD_STATE); /* not while ending */
    CHECK_ERR(store_vpxi_set_state(s, "alpha", STORE_VPXI_ACTIVE, NULL), VPXI_ERR_BAD_STATE);
    CHECK(res_state_is(s, "r1", STORE_RES_ALLOCATED, "alpha"));
    CHECK_OK(store_vpxi_end(s, "alpha", "done"));
    for (int i = 0; i < 3; i++)
        CHECK(res_state_is(s, ids3[i], STORE_RES_FREE, NULL));
    CHECK_OK(store_vpxi_get(s, "alpha", &got));
    CHECK_EQ(got.state, STORE_VPXI_ENDED);
    CHECK_STR(got.reason, "done");
    store_vpxi_clear(&got);
    CHECK_ERR(store_vpxi_end(s, "alpha", "again"), VPXI_ERR_BAD_STATE);
    CHECK_ERR(store_vpxi_set_state(s, "alpha", STORE_VPXI_FAILED, NULL), VPXI_ERR_BAD_STATE);
    CHECK_ERR(store_vpxi_end(s, "nope", NULL), VPXI_ERR_NOT_FOUND);
    CHECK_OK(store_vpxi_set_state(s, "beta", STORE_VPXI_FAILED, "host agent lost"));
    CHECK(res_state_is(s, "r4", STORE_RES_FREE, NULL));
    /* the nodes stay as history, the resources can be allocated again */
    CHECK_OK(store_node_list(s, "alpha", &nl, &n));
    CHECK_EQ(n, 3);
    store_node_list_free(nl, n);
    v = vpxi_rec("gamma", 3);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    CHECK_OK(check_ok(s));
    store_close(s);
}

/* ---- issuance ---------------------------------------------------------------------------------
 */

static void test_issuance(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("alpha", 1);
    struct store_issued in = { .vpxi = "alpha",
                               .tag = "(vpxi alpha (member))",
                               .not_before = 100,
                               .not_after = 5000000000 },
                        got, *l = NULL;
    uint8_t cert[300];
    int64_t serial[4] = { 0 };
    size_t n = 0;

    setup_world(s);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    for (int i = 0; i < 4; i++) {
        memset(cert, 'a' + i, sizeof(cert));
        hit_of(in.subject_hit, i < 3 ? 1 : 2);
        in.cert = cert;
        in.cert_len = sizeof(cert) - (size_t)i;
        in.vpxi = i < 2 ? "alpha" : NULL;
        CHECK_OK(store_issued_add(s, &in, &serial[i]));
        CHECK(i == 0 || serial[i] > serial[i - 1]);
    }
    CHECK_OK(store_issued_get(s, serial[1], &got));
    CHECK_EQ(got.serial, serial[1]);
    CHECK_STR(got.vpxi, "alpha");
    CHECK_STR(got.tag, "(vpxi alpha (member))");
    CHECK_EQ(got.cert_len, 299);
    CHECK(got.cert && got.cert[0] == 'b' && got.cert[298] == 'b');
    CHECK_EQ(got.not_after, 5000000000);
    CHECK(!got.revoked && got.revoke_reason == NULL);
    store_issued_clear(&got);
    CHECK_ERR(store_issued_get(s, 9999, &got), VPXI_ERR_NOT_FOUND);

    CHECK_OK(store_issued_list_vpxi(s, "alpha", &l, &n));
    CHECK_EQ(n, 2);
    store_issued_list_free(l, n);
    hit_of(in.subject_hit, 1);
    CHECK_OK(store_issued_list_subject(s, in.subject_hit, &l, &n));
    CHECK_EQ(n, 3);
    if (n == 3)
        CHECK(l[2].vpxi == NULL);
    store_issued_list_free(l, n);

    /* refusals */
    in.vpxi = "nope";
    CHECK_ERR(store_issued_add(s, &in, &serial[0]), VPXI_ERR_NOT_FOUND);
    CHECK_EQ(serial[0], 0);
    in.vpxi = NULL;
    in.not_before = in.not_after + 1;
    CHECK_ERR(store_issued_add(s, &in, &serial[0]), VPXI_ERR_VALIDITY_EMPTY);
    in.not_before = 0;
    in.cert_len = 0;
    CHECK_ERR(store_issued_add(s, &in, &serial[0]), VPXI_ERR_INVALID);

    /* revocation */
    CHECK_OK(store_revoke(s, serial[2], "key compromise"));
    CHECK_ERR(store_revoke(s, serial[2], "again"), VPXI_ERR_EXISTS);
    CHECK_ERR(store_revoke(s, 9999, NULL), VPXI_ERR_NOT_FOUND);
    CHECK_OK(store_issued_get(s, serial[2], &got));
    CHECK(got.revoked && got.revoked_at > 0);
    CHECK_STR(got.revoke_reason, "key compromise");
    store_issued_clear(&got);
    CHECK_OK(store_issued_list_revoked(s, 4000000000, &l, &n));
    CHECK_EQ(n, 1);
    store_issued_list_free(l, n);
    CHECK_OK(store_issued_list_revoked(s, 6000000000, &l, &n)); /* expired: nothing to tell */
    CHECK_EQ(n, 0);

    /* serials are never reused, even after a restart */
    s = reopen(s, dbpath);
    in.cert_len = 10;
    CHECK_OK(store_issued_add(s, &in, &serial[0]));
    CHECK(serial[0] > serial[3]);
    CHECK_OK(check_ok(s));
    store_close(s);
}

static void test_offers(void)
{
    struct store *s = open_new();
    struct store_offer o = { .offer = (const uint8_t *)"(offer 1)",
                             .offer_len = 9,
                             .not_after = 3000 },
                       got, *l = NULL;
    size_t n = 0;

    hit_of(o.peer_hit, 900);
    CHECK_OK(store_offer_put(s, &o));
    o.offer = (const uint8_t *)"(offer 22)";
    o.offer_len = 10;
    o.not_after = 4000;
    CHECK_OK(store_offer_put(s, &o));
    CHECK_OK(store_offer_get(s, o.peer_hit, &got));
    CHECK_EQ(got.offer_len, 10);
    CHECK(got.offer && memcmp(got.offer, "(offer 22)", 10) == 0);
    CHECK_EQ(got.not_after, 4000);
    CHECK(got.received > 0);
    store_offer_clear(&got);
    hit_of(o.peer_hit, 901);
    o.not_after = 2000;
    CHECK_OK(store_offer_put(s, &o));
    CHECK_OK(store_offer_list(s, 2500, &l, &n));
    CHECK_EQ(n, 1);
    store_offer_list_free(l, n);
    CHECK_OK(store_offer_list(s, 0, &l, &n));
    CHECK_EQ(n, 2);
    store_offer_list_free(l, n);
    hit_of(o.peer_hit, 902);
    CHECK_ERR(store_offer_get(s, o.peer_hit, &got), VPXI_ERR_NOT_FOUND);
    store_close(s);
}

/* ---- transactions and concurrency -------------------------------------------------------------
 */

static void test_caller_tx(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("alpha", 1), got;
    struct store_issued in = { .tag = "(vpxi)", .cert = (const uint8_t *)"c", .cert_len = 1 };
    struct store_node bad = { .vpxi = "alpha", .name = "x", .resource = "r6" };
    int64_t serial = 0;

    setup_world(s);
    /* several calls, one unit */
    CHECK_OK(store_tx_begin(s));
    CHECK_ERR(store_tx_begin(s), VPXI_ERR_BAD_STATE);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    add_nodes(s, "alpha", ids3, 3);
    CHECK_ERR(store_node_add(s, &bad), VPXI_ERR_BAD_STATE); /* undone alone */
    CHECK_OK(store_vpxi_set_state(s, "alpha", STORE_VPXI_ACTIVE, NULL));
    hit_of(in.subject_hit, 1);
    in.vpxi = "alpha";
    CHECK_OK(store_issued_add(s, &in, &serial));
    CHECK_OK(store_tx_commit(s));
    CHECK_ERR(store_tx_commit(s), VPXI_ERR_BAD_STATE);
    s = reopen(s, dbpath);
    CHECK_OK(store_vpxi_get(s, "alpha", &got));
    CHECK_EQ(got.state, STORE_VPXI_ACTIVE);
    store_vpxi_clear(&got);
    {
        struct store_issued ig;
        CHECK_OK(store_issued_get(s, serial, &ig));
        store_issued_clear(&ig);
    }
    CHECK_OK(check_ok(s));

    /* rolled back: nothing remains */
    v = vpxi_rec("beta", 2);
    CHECK_OK(store_tx_begin(s));
    {
        static const char *const b[] = { "r4", "r5" };
        CHECK_OK(store_vpxi_create(s, &v, b, 2));
    }
    store_tx_rollback(s);
    CHECK_ERR(store_vpxi_get(s, "beta", &got), VPXI_ERR_NOT_FOUND);
    CHECK(res_state_is(s, "r4", STORE_RES_FREE, NULL));
    /* closing with an open transaction rolls it back */
    CHECK_OK(store_tx_begin(s));
    CHECK_OK(store_user_enroll(
        s, &(struct store_user){ .pubkey = pubkey, .pubkey_len = 3, .name = "ghost" }));
    s = reopen(s, dbpath);
    {
        struct store_user *u = NULL;
        size_t n = 9;
        CHECK_OK(store_user_list(s, -1, &u, &n));
        CHECK_EQ(n, 0);
    }
    store_close(s);
}

static void test_busy(void)
{
    struct store *s1 = open_new(), *s2 = NULL;
    struct store_user u = { .pubkey = pubkey, .pubkey_len = 3, .name = "u" }, *l = NULL;
    char err[256];
    size_t n = 0;

    CHECK_OK(store_open(dbpath, &s2, err, sizeof(err)));
    if (!s2) {
        store_close(s1);
        return;
    }
    store_set_busy_timeout(s2, 50);
    CHECK_OK(store_tx_begin(s1));
    hit_of(u.hit, 1);
    CHECK_OK(store_user_enroll(s1, &u));
    hit_of(u.hit, 2);
    CHECK_ERR(store_user_enroll(s2, &u), VPXI_ERR_TIMEOUT);
    CHECK(strstr(store_errmsg(s2), "locked") != NULL);
    CHECK_OK(store_user_list(s2, -1, &l, &n)); /* readers are not blocked */
    CHECK_EQ(n, 0);
    CHECK_OK(store_tx_commit(s1));
    CHECK_OK(store_user_enroll(s2, &u));
    CHECK_OK(store_user_list(s1, -1, &l, &n));
    CHECK_EQ(n, 2);
    store_user_list_free(l, n);
    store_close(s1);
    store_close(s2);
}

/* ---- store_verify finds what the API cannot produce --------------------------------------------
 */

static void expect_finding(struct store *s, const char *sql, const char *finding)
{
    char rep[2048];
    int r;

    CHECK_EQ(sqlite3_exec(s->db, sql, NULL, NULL, NULL), SQLITE_OK);
    r = store_verify(s, rep, sizeof(rep));
    CHECK_ERR(r, VPXI_ERR_BAD_STATE);
    if (!strstr(rep, finding)) {
        t_failures++;
        fprintf(stderr, "store_verify report lacks '%s':\n%s", finding, rep);
    }
}

static void test_check_finds(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("alpha", 1);
    static const char *const b[] = { "r4" };
    char rep[256];

    setup_world(s);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    add_nodes(s, "alpha", ids3, 3);
    CHECK_OK(store_vpxi_set_state(s, "alpha", STORE_VPXI_ACTIVE, NULL));
    v = vpxi_rec("beta", 2);
    CHECK_OK(store_vpxi_create(s, &v, b, 1));
    CHECK_OK(check_ok(s));
    CHECK_EQ(sqlite3_exec(s->db, "PRAGMA ignore_check_constraints = ON", NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_exec(s->db, "SAVEPOINT t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s,
                   "UPDATE resources SET vpxi = NULL WHERE id = 'r5' OR id = 'r6';"
                   "UPDATE resources SET state = 'allocated' WHERE id = 'r6'",
                   "allocated resource without a VPXI: r6");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s, "UPDATE resources SET state = 'lent' WHERE id = 'r4'",
                   "resource bound to a VPXI but not allocated: r4 (lent) -> beta");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    /* r1 given to beta as well: alpha's node now runs on a resource it does not hold */
    expect_finding(s,
                   "UPDATE resources SET vpxi = 'beta' WHERE id = 'r1';"
                   "INSERT INTO nodes VALUES ('beta', 'b0', 'r1', '', '', '', NULL, NULL, NULL, "
                   "'', 'pending')",
                   "resource used by nodes of two live VPXIs: r1");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s, "DELETE FROM nodes WHERE name = 'n1'",
                   "active VPXI without a node on one of its resources: alpha: r2");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s, "UPDATE vpxis SET state = 'ended' WHERE name = 'beta'",
                   "resource allocated to a VPXI that is not live: r4 -> beta (ended)");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s, "UPDATE resources SET state = 'free', vpxi = NULL WHERE id = 'r4'",
                   "live VPXI without resources: beta");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    expect_finding(s, "DELETE FROM members WHERE vpxi = 'beta'",
                   "VPXI whose owner is not a member: beta");
    CHECK_EQ(sqlite3_exec(s->db, "ROLLBACK TO t", NULL, NULL, NULL), SQLITE_OK);
    /* foreign_keys cannot change inside a transaction */
    CHECK_EQ(
        sqlite3_exec(s->db, "RELEASE t; PRAGMA foreign_keys = OFF; SAVEPOINT t", NULL, NULL, NULL),
        SQLITE_OK);
    expect_finding(s, "DELETE FROM hostagents", "foreign key: resources rowid");
    CHECK_EQ(
        sqlite3_exec(s->db, "ROLLBACK TO t; RELEASE t; PRAGMA foreign_keys = ON", NULL, NULL, NULL),
        SQLITE_OK);
    CHECK_EQ(store_verify(s, rep, sizeof(rep)), 0);
    CHECK_STR(rep, "ok");
    store_close(s);
}

/* ---- full database ----------------------------------------------------------------------------
 */

/* After a failed or successful vpxi_create of `name` over ids3: all or nothing. */
static bool vpxi_atomic(struct store *s, const char *name, bool *present)
{
    struct store_vpxi got;
    struct store_member *ml = NULL;
    size_t n = 0;
    bool ok = true;
    int r = store_vpxi_get(s, name, &got);

    *present = r == 0;
    if (r != 0 && r != VPXI_ERR_NOT_FOUND)
        return false;
    store_vpxi_clear(&got);
    for (int i = 0; i < 3; i++)
        ok = ok && (*present ? res_state_is(s, ids3[i], STORE_RES_ALLOCATED, name)
                             : res_state_is(s, ids3[i], STORE_RES_FREE, NULL));
    if (store_member_list(s, name, &ml, &n) != 0)
        return false;
    store_member_list_free(ml, n);
    return ok && n == (*present ? 1u : 0u) && check_ok(s) == 0;
}

static void test_full_page_count(void)
{
    struct store *s = open_new();
    struct store_issued in = { .tag = "(vpxi)" };
    static uint8_t cert[3000];
    int64_t serial = 0, pages, acked = 0;
    char spec[6000], name[32];
    bool present = false;
    int r, extra, failures = 0;

    setup_world(s);
    memset(cert, 0x5a, sizeof(cert));
    in.cert = cert;
    in.cert_len = sizeof(cert);
    hit_of(in.subject_hit, 1);
    pages = pragma_int(s, "SELECT page_count FROM pragma_page_count");
    CHECK(pages > 0);
    /* a budget of 20 more pages: issue until it is exhausted */
    set_max_pages(s, pages + 20);
    for (int i = 0; i < 100; i++) {
        if ((r = store_issued_add(s, &in, &serial)) != 0)
            break;
        acked = serial;
    }
    CHECK_ERR(r, VPXI_ERR_NOSPACE);
    CHECK(strstr(store_errmsg(s), "full") != NULL);
    CHECK(acked > 0);
    CHECK_OK(check_ok(s));

    /* a VPXI with a large spec in a database that grows one page at a time: every attempt is
     * all or nothing, whatever statement hits the limit */
    memset(spec, 's', sizeof(spec) - 1);
    spec[sizeof(spec) - 1] = '\0';
    for (extra = 0; extra < 40; extra++) {
        struct store_vpxi v = vpxi_rec(name, 1);

        snprintf(name, sizeof(name), "full%d", extra);
        v.spec = spec;
        pages = pragma_int(s, "SELECT page_count FROM pragma_page_count");
        set_max_pages(s, pages + extra / 4);
        r = store_vpxi_create(s, &v, ids3, 3);
        CHECK(r == 0 || r == VPXI_ERR_NOSPACE);
        if (r != 0)
            failures++;
        CHECK(vpxi_atomic(s, name, &present));
        CHECK(present == (r == 0));
        if (r == 0)
            break;
    }
    CHECK(failures > 0 && present);
    /* the earlier issuances are still there after a restart */
    s = reopen(s, dbpath);
    CHECK_OK(store_issued_get(s, acked, &in));
    CHECK_EQ(in.cert_len, sizeof(cert));
    store_issued_clear(&in);
    CHECK_OK(check_ok(s));
    store_close(s);
}

/* A statement failing half-way through a call (a TEMP trigger raising an error): the statements
 * before it in the same call are undone too. */
static void test_midway_failure(void)
{
    struct store *s = open_new();
    struct store_vpxi v = vpxi_rec("boom", 1), got;
    bool present = true;

    setup_world(s);
    /* the last statement of store_vpxi_create fails (after the VPXI and all allocations) */
    CHECK_EQ(sqlite3_exec(s->db,
                          "CREATE TEMP TRIGGER boom BEFORE INSERT ON members "
                          "WHEN NEW.vpxi = 'boom' BEGIN SELECT RAISE(ABORT, 'injected'); END",
                          NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_ERR(store_vpxi_create(s, &v, ids3, 3), VPXI_ERR_INVALID);
    CHECK(strstr(store_errmsg(s), "injected") != NULL);
    CHECK(vpxi_atomic(s, "boom", &present));
    CHECK(!present);
    /* the third allocation fails after two succeeded */
    CHECK_EQ(sqlite3_exec(s->db,
                          "DROP TRIGGER boom; CREATE TEMP TRIGGER boom BEFORE UPDATE ON resources "
                          "WHEN NEW.id = 'r3' AND NEW.state = 'allocated' "
                          "BEGIN SELECT RAISE(ABORT, 'injected'); END",
                          NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_ERR(store_vpxi_create(s, &v, ids3, 3), VPXI_ERR_INVALID);
    CHECK(vpxi_atomic(s, "boom", &present));
    CHECK(!present);
    /* releasing fails: the VPXI keeps its state and its resources */
    CHECK_EQ(sqlite3_exec(s->db,
                          "DROP TRIGGER boom; CREATE TEMP TRIGGER boom BEFORE UPDATE ON resources "
                          "WHEN NEW.id = 'r3' AND NEW.state = 'free' "
                          "BEGIN SELECT RAISE(ABORT, 'injected'); END",
                          NULL, NULL, NULL),
             SQLITE_OK);
    CHECK_OK(store_vpxi_create(s, &v, ids3, 3));
    CHECK_ERR(store_vpxi_end(s, "boom", "bye"), VPXI_ERR_INVALID);
    CHECK_OK(store_vpxi_get(s, "boom", &got));
    CHECK_EQ(got.state, STORE_VPXI_CREATING);
    CHECK_STR(got.reason, "");
    store_vpxi_clear(&got);
    CHECK(vpxi_atomic(s, "boom", &present));
    CHECK(present);
    /* and inside a caller transaction only the failed call is undone */
    CHECK_OK(store_tx_begin(s));
    CHECK_ERR(store_vpxi_end(s, "boom", "bye"), VPXI_ERR_INVALID);
    CHECK_OK(store_issued_add(
        s, &(struct store_issued){ .tag = "(t)", .cert = (const uint8_t *)"c", .cert_len = 1 },
        &(int64_t){ 0 }));
    CHECK_OK(store_tx_commit(s));
    CHECK(vpxi_atomic(s, "boom", &present));
    CHECK(present);
    CHECK_EQ(sqlite3_exec(s->db, "DROP TRIGGER boom", NULL, NULL, NULL), SQLITE_OK);
    CHECK_OK(store_vpxi_end(s, "boom", "bye"));
    CHECK(res_state_is(s, "r3", STORE_RES_FREE, NULL));
    store_close(s);
}

/* ---- fault injection: a VFS that fails the Nth write or sync ----------------------------------
 */

struct fault_file {
    sqlite3_file base;
    sqlite3_file *real;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static struct {
    int countdown; /* fail when it reaches 0; < 0: off */
    bool sticky;   /* once failed, every later write and sync fails too */
    bool failing;
    int rc; /* SQLITE_IOERR_WRITE or SQLITE_FULL */
    int fired;
} fault = { .countdown = -1 };

static int fault_now(void)
{
    if (fault.failing)
        return 1;
    if (fault.countdown < 0 || fault.countdown-- > 0)
        return 0;
    fault.fired++;
    fault.failing = fault.sticky;
    return 1;
}

static void fault_arm(int n, bool sticky, int rc)
{
    fault.countdown = n;
    fault.sticky = sticky;
    fault.failing = false;
    fault.rc = rc;
    fault.fired = 0;
}

static void fault_off(void)
{
    fault.countdown = -1;
    fault.failing = false;
}

#define REAL(f) (((struct fault_file *)(void *)(f))->real)

/*
 * Power loss: in this mode every write and truncate first saves what it
 * overwrites; a sync of a file forgets that file's saved data (it is on
 * disk now). power_cut() puts back everything not synced, newest first, as
 * if the machine had lost its page cache, and ends the process at once.
 */
struct undo {
    sqlite3_file *real;
    sqlite3_int64 off, size_before;
    int len;
    unsigned char *old;
    struct undo *next; /* older */
};
static struct {
    bool on;
    int countdown; /* cut at this write (0 = the next one) */
    struct undo *log;
} power = { .countdown = -1 };

static void undo_save(sqlite3_file *real, sqlite3_int64 off, sqlite3_int64 n)
{
    struct undo *u = calloc(1, sizeof(*u));
    sqlite3_int64 size = 0;

    if (!u || real->pMethods->xFileSize(real, &size) != SQLITE_OK)
        abort();
    u->real = real;
    u->off = off;
    u->size_before = size;
    if (off < size) {
        u->len = (int)(size - off < n ? size - off : n);
        if (!(u->old = malloc((size_t)u->len)) ||
            real->pMethods->xRead(real, u->old, u->len, off) != SQLITE_OK)
            abort();
    }
    u->next = power.log;
    power.log = u;
}

static void undo_forget(sqlite3_file *real)
{
    struct undo **pp = &power.log, *u;

    while ((u = *pp) != NULL) {
        if (u->real == real) {
            *pp = u->next;
            free(u->old);
            free(u);
        } else {
            pp = &u->next;
        }
    }
}

__attribute__((noreturn)) static void power_cut(void)
{
    for (struct undo *u = power.log; u; u = u->next) {
        if (u->len > 0)
            u->real->pMethods->xWrite(u->real, u->old, u->len, u->off);
        u->real->pMethods->xTruncate(u->real, u->size_before);
    }
    _exit(0);
}

static int f_close(sqlite3_file *f)
{
    undo_forget(REAL(f)); /* temporary files: the database and WAL stay open */
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (fault_now())
        return fault.rc;
    if (power.on) {
        if (power.countdown >= 0 && power.countdown-- == 0)
            power_cut();
        undo_save(REAL(f), off, n);
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    sqlite3_int64 cur = 0;

    if (fault_now())
        return SQLITE_IOERR_TRUNCATE;
    if (power.on && REAL(f)->pMethods->xFileSize(REAL(f), &cur) == SQLITE_OK && cur > size)
        undo_save(REAL(f), size, cur - size);
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    int rc;

    if (fault_now())
        return SQLITE_IOERR_FSYNC;
    if ((rc = REAL(f)->pMethods->xSync(REAL(f), flags)) == SQLITE_OK && power.on)
        undo_forget(REAL(f));
    return rc;
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shmmap(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p);
}
static int f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shmbarrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shmunmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_reserved,
    .xFileControl = f_fcntl,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_devchar,
    .xShmMap = f_shmmap,
    .xShmLock = f_shmlock,
    .xShmBarrier = f_shmbarrier,
    .xShmUnmap = f_shmunmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct fault_file *ff = (struct fault_file *)(void *)f;
    int rc;

    ff->real = (sqlite3_file *)(ff + 1);
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    f->pMethods = ff->real->pMethods ? &fault_io : NULL;
    return rc;
}

static void fault_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    fault_vfs = *real_vfs;
    fault_vfs.zName = "fault";
    fault_vfs.szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile;
    fault_vfs.xOpen = f_open;
    sqlite3_vfs_register(&fault_vfs, 1);
}

static void fault_uninstall(void)
{
    sqlite3_vfs_register(real_vfs, 1);
    sqlite3_vfs_unregister(&fault_vfs);
}

/*
 * For each N: the Nth write/truncate/sync of vpxi_create (and then of
 * issued_add) fails, transiently or for good. The call fails with IO or
 * NOSPACE or succeeds; either way the same connection (and, after a restart,
 * a new one) sees all of it or nothing, and a success is never lost. A
 * failure may still be on disk after the restart when only the sync failed
 * (the frames were written): counted as "ambiguous", never partial.
 */
static void test_fault_injection(void)
{
    static const struct {
        bool sticky;
        int rc;
    } modes[] = {
        { false, SQLITE_IOERR_WRITE },
        { true, SQLITE_IOERR_WRITE },
        { true, SQLITE_FULL },
    };
    unsigned runs = 0, failed = 0, ambiguous = 0;
    struct store *s;

    fault_install();
    s = open_new();
    setup_world(s);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        for (int n = 0; n < 200; n++) {
            struct store_vpxi v;
            struct store_issued in = { .tag = "(t)",
                                       .cert = (const uint8_t *)"cert",
                                       .cert_len = 4 },
                                got;
            char name[32];
            bool present = false, present2 = false, fired;
            int64_t serial = 0;
            int r, r2;

            snprintf(name, sizeof(name), "f%zu-%d", m, n);
            v = vpxi_rec(name, 1);
            fault_arm(n, modes[m].sticky, modes[m].rc);
            r = store_vpxi_create(s, &v, ids3, 3);
            fired = fault.fired > 0;
            fault_off();
            runs++;
            if (r != 0) {
                failed++;
                CHECK(fired);
                if (r != VPXI_ERR_IO && r != VPXI_ERR_NOSPACE)
                    fprintf(stderr, "mode %zu n %d: %s: %s\n", m, n, vpxi_errname(r),
                            store_errmsg(s));
                CHECK(r == VPXI_ERR_IO || r == VPXI_ERR_NOSPACE);
            }
            CHECK(vpxi_atomic(s, name, &present));
            CHECK(present == (r == 0));
            s = reopen(s, dbpath);
            CHECK(vpxi_atomic(s, name, &present2));
            CHECK(present2 || r != 0);
            if (present2 && r != 0)
                ambiguous++;
            if (present2)
                CHECK_OK(store_vpxi_end(s, name, "fault test"));

            /* issuance: a success is durable */
            hit_of(in.subject_hit, 1);
            fault_arm(n, modes[m].sticky, modes[m].rc);
            r2 = store_issued_add(s, &in, &serial);
            fault_off();
            s = reopen(s, dbpath);
            if (r2 == 0) {
                CHECK_OK(store_issued_get(s, serial, &got));
                store_issued_clear(&got);
            } else {
                CHECK(serial == 0);
            }
            if (!fired && r == 0)
                break; /* N beyond the last write: every point was tried */
        }
    }
    store_close(s);
    fault_uninstall();
    fprintf(stderr, "  %u runs, %u failed cleanly, %u ambiguous (failed sync, kept whole)\n", runs,
            failed, ambiguous);
    CHECK(failed > 10);
}

/* ---- power loss: unsynced writes vanish ------------------------------------------------------ */

static void crash_setup(struct store *s);
static uint64_t fnv(const uint8_t *p, size_t n);
static void crash_cycle(struct store *s, unsigned long id, unsigned *seed);

enum { POWER_CYCLES = 3, POWER_NO_CUT = 10 };

/* The child: a few VPXI cycles through the recording VFS; the power goes at its Nth write. */
__attribute__((noreturn)) static void power_child(const char *path, int n, bool normal, int fd)
{
    struct store *s = NULL;
    unsigned seed = (unsigned)n;
    char err[256];

    if (dup2(fd, STDOUT_FILENO) < 0)
        _exit(3);
    setvbuf(stdout, NULL, _IOLBF, 0);
    fault_install();
    power.on = true;
    power.countdown = n;
    if (store_open(path, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "power child: %s\n", err);
        _exit(3);
    }
    if (normal && pragma(s, "PRAGMA synchronous = NORMAL", NULL, 0, NULL) != 0)
        _exit(3);
    crash_setup(s);
    for (int i = 0; i < POWER_CYCLES; i++)
        crash_cycle(s, (unsigned long)n * 100 + (unsigned long)i, &seed);
    _exit(POWER_NO_CUT);
}

/* Runs children cutting the power at write 0, 1, 2, ... until one finishes
 * first; returns the acknowledged issuances lost in all. */
static unsigned power_runs(const char *path, bool normal, unsigned *runs, unsigned *acked)
{
    unsigned lost = 0;

    *runs = *acked = 0;
    for (int n = 0; n < 100000; n += 1 + n / 10) {
        static char buf[1 << 16];
        size_t len = 0;
        ssize_t got;
        int fds[2], status = 0;
        pid_t pid;
        struct store *s;

        fflush(NULL);
        if (pipe(fds) != 0 || (pid = fork()) < 0) {
            t_failures++;
            return lost;
        }
        if (pid == 0) {
            close(fds[0]);
            power_child(path, n, normal, fds[1]);
        }
        close(fds[1]);
        while ((got = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)got;
        buf[len] = '\0';
        close(fds[0]);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == POWER_NO_CUT);
        (*runs)++;
        s = reopen(NULL, path);
        CHECK_OK(check_ok(s));
        for (char *line = buf, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
            long long serial;
            size_t clen;
            unsigned long long hash;
            struct store_issued ig;

            *end = '\0';
            if (sscanf(line, "%lld %zu %llx", &serial, &clen, &hash) != 3)
                continue;
            (*acked)++;
            if (store_issued_get(s, serial, &ig) != 0 || ig.cert_len != clen ||
                fnv(ig.cert, ig.cert_len) != hash)
                lost++;
            store_issued_clear(&ig);
        }
        store_close(s);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            break;
    }
    return lost;
}

/*
 * The machine loses power at the Nth write, for every N up to a few VPXI
 * cycles: every issuance acknowledged before is there afterwards, and
 * store_verify passes. The control run with synchronous=NORMAL (no fsync at
 * commit in WAL mode) does lose acknowledged issuances: the test can tell.
 */
static void test_power_loss(void)
{
    unsigned runs, acked, lost;
    char path[4200];

    snprintf(path, sizeof(path), "%s/power-full.db", tmpdir);
    lost = power_runs(path, false, &runs, &acked);
    fprintf(stderr, "  synchronous=FULL:   %u power cuts, %u acknowledged issuances, %u lost\n",
            runs, acked, lost);
    CHECK_EQ(lost, 0);
    CHECK(runs > 20 && acked > 20);
    snprintf(path, sizeof(path), "%s/power-normal.db", tmpdir);
    lost = power_runs(path, true, &runs, &acked);
    fprintf(stderr, "  synchronous=NORMAL: %u power cuts, %u acknowledged issuances, %u lost\n",
            runs, acked, lost);
    CHECK(lost > 0);
}

/* ---- full file system (root: a tiny tmpfs in a private mount namespace) ---------------------- */

static int tmpfs_scenario(const char *dir)
{
    struct store *s = NULL;
    struct store_issued in = { .tag = "(vpxi)" }, got;
    static uint8_t cert[2000];
    int64_t serial = 0, acked[1000];
    char path[4096], err[256];
    bool present = false;
    size_t nacked = 0;
    int r = 0;

    if (snprintf(path, sizeof(path), "%s/reg.db", dir) >= (int)sizeof(path))
        return 1;
    if (store_open(path, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "open on tmpfs: %s\n", err);
        return 1;
    }
    setup_world(s);
    memset(cert, 0x33, sizeof(cert));
    in.cert = cert;
    in.cert_len = sizeof(cert);
    hit_of(in.subject_hit, 1);
    while (nacked < sizeof(acked) / sizeof(acked[0])) {
        if ((r = store_issued_add(s, &in, &serial)) != 0)
            break;
        acked[nacked++] = serial;
    }
    if (r != VPXI_ERR_NOSPACE)
        fprintf(stderr, "issuing on a full tmpfs: %s: %s\n", vpxi_errname(r), store_errmsg(s));
    CHECK_ERR(r, VPXI_ERR_NOSPACE);
    CHECK(nacked > 10);
    /* allocation on a full disk: all or nothing */
    {
        struct store_vpxi v = vpxi_rec("onfull", 1);
        r = store_vpxi_create(s, &v, ids3, 3);
        CHECK(r == 0 || r == VPXI_ERR_NOSPACE);
        CHECK(vpxi_atomic(s, "onfull", &present));
        CHECK(present == (r == 0));
    }
    store_close(s);
    s = NULL;
    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "reopen on a full tmpfs: %s\n", err);
        CHECK_OK(r);
        return 1;
    }
    CHECK_OK(check_ok(s));
    for (size_t i = 0; i < nacked; i++) {
        CHECK_OK(store_issued_get(s, acked[i], &got));
        store_issued_clear(&got);
    }
    store_close(s);
    fprintf(stderr, "  %zu issuances fit, then VPXI_ERR_NOSPACE; all kept\n", nacked);
    return t_failures ? 1 : 0;
}

static void test_full_tmpfs(void)
{
    char dir[4200];
    int status = 0;
    pid_t pid;

    if (geteuid() != 0) {
        fprintf(stderr, "  skipped: not root\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/tmpfs", tmpdir);
    if (mkdir(dir, 0700) != 0) {
        t_failures++;
        return;
    }
    fflush(NULL);
    if ((pid = fork()) == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("vpxi-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0700") != 0) {
            fprintf(stderr, "  skipped: %s\n", strerror(errno));
            _exit(77);
        }
        _exit(tmpfs_scenario(dir));
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77)
        t_failures++;
    rmdir(dir);
}

/* ---- the crash child, its verifier and the benchmark ------------------------------------------
 */

enum { CRASH_RESOURCES = 8 };

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#define DIE(what, r)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "crash-child: %s: %s: %s\n", (what), vpxi_errname(r), store_errmsg(s));    \
        exit(3);                                                                                   \
    } while (0)

static void crash_setup(struct store *s)
{
    struct store_hostagent h = { .pubkey = pubkey, .pubkey_len = 8, .site = "s1" };
    struct store_vpxi *live = NULL;
    uint8_t cert[32];
    size_t n = 0;
    int r;

    hit_of(h.hit, 101);
    if ((r = store_hostagent_upsert(s, &h)) != 0)
        DIE("host agent", r);
    memset(cert, 7, sizeof(cert));
    for (int i = 0; i < CRASH_RESOURCES; i++) {
        char id[16];
        struct store_resource res = { .id = id,
                                      .hostagent_hit = h.hit,
                                      .site = "s1",
                                      .cpu_milli = 1000,
                                      .memory_mb = 1024,
                                      .cert = cert,
                                      .cert_len = sizeof(cert),
                                      .not_after = 4000000000 };
        snprintf(id, sizeof(id), "r%d", i);
        if ((r = store_resource_register(s, &res)) != 0)
            DIE("resource", r);
    }
    /* what a registrar does at start: VPXIs left half-way by the crash fail */
    for (int st = STORE_VPXI_CREATING; st <= STORE_VPXI_ENDING; st++) {
        if ((r = store_vpxi_list(s, st, &live, &n)) != 0)
            DIE("list", r);
        for (size_t i = 0; i < n; i++)
            if ((r = store_vpxi_set_state(s, live[i].name, STORE_VPXI_FAILED, "crash")) != 0)
                DIE("recover", r);
        store_vpxi_list_free(live, n);
    }
}

/* One VPXI's life; prints each serial once it is durable. */
static void crash_cycle(struct store *s, unsigned long id, unsigned *seed)
{
    struct store_resource_filter f = { .limit = 1 + (size_t)(rand_r(seed) % 3) };
    struct store_resource *res = NULL;
    const char *ids[3];
    struct store_vpxi v;
    struct store_issued in = { .tag = "(vpxi (member))", .not_after = 4000000000 };
    static uint8_t cert[4096];
    int64_t serial[2];
    uint64_t hash[2];
    size_t len[2], n = 0;
    bool in_tx = rand_r(seed) % 2;
    char name[48];
    int r;

    snprintf(name, sizeof(name), "v%lu", id);
    v = vpxi_rec(name, 1);
    if ((r = store_resource_find_free(s, &f, &res, &n)) != 0 || n == 0)
        DIE("find free", r ? r : VPXI_ERR_NOT_FOUND);
    for (size_t i = 0; i < n; i++)
        ids[i] = res[i].id;
    if (in_tx && (r = store_tx_begin(s)) != 0)
        DIE("begin", r);
    if ((r = store_vpxi_create(s, &v, ids, n)) != 0)
        DIE("create", r);
    add_nodes(s, name, ids, n);
    if ((r = store_vpxi_set_state(s, name, STORE_VPXI_ACTIVE, NULL)) != 0)
        DIE("activate", r);
    for (int k = 0; k < 2; k++) {
        len[k] = 64 + (size_t)(rand_r(seed) % (sizeof(cert) - 64));
        for (size_t i = 0; i < len[k]; i++)
            cert[i] = (uint8_t)rand_r(seed);
        hash[k] = fnv(cert, len[k]);
        hit_of(in.subject_hit, 1 + (unsigned)k);
        in.vpxi = name;
        in.cert = cert;
        in.cert_len = len[k];
        if ((r = store_issued_add(s, &in, &serial[k])) != 0)
            DIE("issue", r);
        if (!in_tx)
            printf("%lld %zu %016llx\n", (long long)serial[k], len[k], (unsigned long long)hash[k]);
    }
    if (in_tx) {
        if ((r = store_tx_commit(s)) != 0)
            DIE("commit", r);
        for (int k = 0; k < 2; k++)
            printf("%lld %zu %016llx\n", (long long)serial[k], len[k], (unsigned long long)hash[k]);
    }
    if (rand_r(seed) % 4 == 0 && (r = store_revoke(s, serial[0], "test")) != 0)
        DIE("revoke", r);
    if ((r = store_vpxi_end(s, name, "done")) != 0)
        DIE("end", r);
    store_resource_list_free(res, n);
}

static int crash_child(const char *path)
{
    struct store *s = NULL;
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    char err[256];
    int r;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "crash-child: open: %s\n", err);
        return 3;
    }
    crash_setup(s);
    for (unsigned long i = 0;; i++)
        crash_cycle(s, (unsigned long)getpid() * 1000000ul + i, &seed);
}

/* Every complete line "serial len hash" of each file must be in the database. */
static int crash_verify(const char *path, int nfiles, char **files)
{
    struct store *s = NULL;
    struct store_resource *res = NULL;
    struct store_resource_filter f = { 0 };
    char err[256], rep[4096];
    size_t total = 0, n = 0;
    int r, bad = 0;

    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "crash-verify: open: %s\n", err);
        return 1;
    }
    if ((r = store_verify(s, rep, sizeof(rep))) != 0) {
        fprintf(stderr, "crash-verify: store_verify: %s\n%s", vpxi_errname(r), rep);
        bad++;
    }
    for (int i = 0; i < nfiles; i++) {
        size_t len = 0;
        char *text = t_read_file(files[i], &len), *line, *end;

        if (!text) {
            fprintf(stderr, "crash-verify: %s: %s\n", files[i], strerror(errno));
            bad++;
            continue;
        }
        /* only complete lines: the kill may cut the last one */
        for (line = text; (end = memchr(line, '\n', len - (size_t)(line - text))) != NULL;
             line = end + 1) {
            long long serial;
            size_t clen;
            unsigned long long hash;
            struct store_issued got;

            *end = '\0';
            if (sscanf(line, "%lld %zu %llx", &serial, &clen, &hash) != 3) {
                fprintf(stderr, "crash-verify: %s: bad line '%s'\n", files[i], line);
                bad++;
                continue;
            }
            total++;
            if ((r = store_issued_get(s, serial, &got)) != 0) {
                fprintf(stderr, "crash-verify: serial %lld acknowledged but %s\n", serial,
                        vpxi_errname(r));
                bad++;
                continue;
            }
            if (got.cert_len != clen || fnv(got.cert, got.cert_len) != hash) {
                fprintf(stderr, "crash-verify: serial %lld has other content\n", serial);
                bad++;
            }
            store_issued_clear(&got);
        }
        free(text);
    }
    /* informational: the killed child may have left one VPXI holding resources (the next
     * child fails it at start); store_verify above proved none is held twice */
    if ((r = store_resource_find_free(s, &f, &res, &n)) != 0)
        bad++;
    store_resource_list_free(res, n);
    store_close(s);
    printf("crash-verify: %zu acknowledged serials present, %zu resources free, check %s\n", total,
           n, bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Durable store_issued_add calls per second: `batch` per commit. */
static double bench_issue(struct store *s, int n, int batch)
{
    struct store_issued in = { .tag = "(vpxi bench (member))", .not_after = 4000000000 };
    static uint8_t cert[1024];
    int64_t serial;
    double t0 = now_mono();
    int r;

    memset(cert, 0x42, sizeof(cert));
    in.cert = cert;
    in.cert_len = sizeof(cert);
    hit_of(in.subject_hit, 1);
    for (int i = 0; i < n; i += batch) {
        if (batch > 1 && (r = store_tx_begin(s)) != 0)
            DIE("begin", r);
        for (int k = 0; k < batch; k++)
            if ((r = store_issued_add(s, &in, &serial)) != 0)
                DIE("issue", r);
        if (batch > 1 && (r = store_tx_commit(s)) != 0)
            DIE("commit", r);
    }
    return n / (now_mono() - t0);
}

static int bench(const char *dir, int n)
{
    struct store *s = NULL;
    char path[4096], err[256];
    unsigned seed = 1;
    double one, batched, cycles, normal, t0;
    int r, ncycles = n / 10 > 0 ? n / 10 : 1;

    snprintf(path, sizeof(path), "%s/bench.db", dir);
    rm_db(path);
    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    crash_setup(s);
    one = bench_issue(s, n, 1);
    batched = bench_issue(s, n, 50);
    if (freopen("/dev/null", "w", stdout) == NULL)
        return 1;
    t0 = now_mono();
    for (int i = 0; i < ncycles; i++)
        crash_cycle(s, (unsigned long)i, &seed);
    cycles = ncycles / (now_mono() - t0);
    /* for comparison only: WAL without fsync at commit loses commits on power loss */
    if ((r = pragma(s, "PRAGMA synchronous = NORMAL", NULL, 0, NULL)) != 0)
        DIE("pragma", r);
    normal = bench_issue(s, n, 1);
    store_close(s);
    rm_db(path);
    fprintf(stderr,
            "store bench: %s, WAL, 1 KiB certificates, %d issuances per row\n"
            "  store_issued_add, synchronous=FULL, a commit each  %8.0f /s  %6.2f ms\n"
            "  store_issued_add, FULL, 50 per store_tx            %8.0f /s  %6.2f ms\n"
            "  VPXI cycle (create 1-3 resources, nodes, active,\n"
            "    2 issuances, end), FULL                          %8.0f /s  %6.2f ms\n"
            "  store_issued_add, synchronous=NORMAL (not durable) %8.0f /s  %6.2f ms\n",
            dir, n, one, 1e3 / one, batched, 1e3 / batched, cycles, 1e3 / cycles, normal,
            1e3 / normal);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------
 */

static void cleanup_tmpdir(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--crash-child"))
        return crash_child(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "--crash-verify"))
        return crash_verify(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && !strcmp(argv[1], "--bench"))
        return bench(argv[2], argc >= 4 ? atoi(argv[3]) : 2000);
    if (argc > 1) {
        fprintf(stderr, "usage: test_store [--crash-child DB | --crash-verify DB FILE... | "
                        "--bench DIR [N]]\n");
        return 2;
    }
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_open);
    RUN(test_users);
    RUN(test_hostagents_resources);
    RUN(test_allocation);
    RUN(test_vpxi_life);
    RUN(test_issuance);
    RUN(test_offers);
    RUN(test_caller_tx);
    RUN(test_busy);
    RUN(test_check_finds);
    RUN(test_full_page_count);
    RUN(test_midway_failure);
    RUN(test_fault_injection);
    RUN(test_power_loss);
    RUN(test_full_tmpfs);
    cleanup_tmpdir();
    T_DONE();
}
