/*
 * store.c - the registrar's state in SQLite (contract in store.h).
 *
 * Durability: WAL with synchronous=FULL fsyncs the WAL at every COMMIT, so a
 * call that returned 0 survives power loss. The database file is created
 * here, 0600, and its directory fsync'ed; SQLite gives the -wal and -shm files
 * the mode of the database and fsyncs the directory when it creates the WAL.
 *
 * Atomicity: every writing call runs between tx_begin() and tx_end(): BEGIN
 * IMMEDIATE ... COMMIT on its own, or SAVEPOINT ... RELEASE inside a caller
 * transaction (store_tx_begin). BEGIN IMMEDIATE takes the write lock at once,
 * so a call never fails half-way because another writer came first. On any
 * error tx_end() rolls back, unless SQLite already did (disk full, I/O error:
 * checked with sqlite3_get_autocommit).
 *
 * SQL: every statement is a constant in stmt_sql[], prepared once at open;
 * values are bound, never spliced into SQL text. Rows become records through
 * the column tables (struct rowdesc): one pass measures the text and blobs,
 * one allocation (the record's `owned`) receives them.
 *
 * Invariants kept by the schema itself (CHECK constraints) and re-verified by
 * store_verify(): a resource is allocated if and only if it names a VPXI; only
 * store_vpxi_create allocates and only the end of a VPXI releases.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

/* ---- schema ---------------------------------------------------------------------------------- */

/*
 * Version 1. STRICT tables (SQLite >= 3.37) refuse values of the wrong type.
 * Primary keys of rowid tables are NOT NULL explicitly (SQLite would accept
 * NULL keys otherwise). Nodes stay after their VPXI ends, as history;
 * resources are never deleted ('gone'), so serials, nodes and audit keep
 * their references. issued.serial is AUTOINCREMENT: never reused.
 */
static const char schema_v1[] =
    "CREATE TABLE users ("
    " hit BLOB PRIMARY KEY NOT NULL CHECK (length(hit) = 16),"
    " pubkey BLOB NOT NULL,"
    " name TEXT NOT NULL,"
    " contact TEXT NOT NULL,"
    " agreement TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),"
    " created INTEGER NOT NULL) STRICT;"
    "CREATE TABLE hostagents ("
    " hit BLOB PRIMARY KEY NOT NULL CHECK (length(hit) = 16),"
    " pubkey BLOB NOT NULL,"
    " site TEXT NOT NULL,"
    " community TEXT NOT NULL,"
    " registered INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL) STRICT;"
    "CREATE TABLE vpxis ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " owner_hit BLOB NOT NULL CHECK (length(owner_hit) = 16),"
    " spec TEXT NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('creating', 'active', 'ending', 'ended', 'failed')),"
    " created INTEGER NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " CHECK (not_before <= not_after)) STRICT;"
    "CREATE INDEX vpxis_state ON vpxis (state);"
    "CREATE TABLE resources ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " hostagent_hit BLOB REFERENCES hostagents (hit),"
    " site TEXT NOT NULL,"
    " community TEXT NOT NULL,"
    " cpu_milli INTEGER NOT NULL CHECK (cpu_milli >= 0),"
    " memory_mb INTEGER NOT NULL CHECK (memory_mb >= 0),"
    " cert BLOB NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('free', 'allocated', 'lent', 'gone')),"
    " vpxi TEXT REFERENCES vpxis (name),"
    " origin_registrar BLOB CHECK (origin_registrar IS NULL OR length(origin_registrar) = 16),"
    " CHECK ((state = 'allocated') = (vpxi IS NOT NULL)),"
    " CHECK (hostagent_hit IS NOT NULL OR origin_registrar IS NOT NULL)) STRICT;"
    "CREATE INDEX resources_free ON resources (state, site, community);"
    "CREATE INDEX resources_vpxi ON resources (vpxi);"
    "CREATE INDEX resources_hostagent ON resources (hostagent_hit);"
    "CREATE TABLE nodes ("
    " vpxi TEXT NOT NULL REFERENCES vpxis (name),"
    " name TEXT NOT NULL,"
    " resource TEXT NOT NULL REFERENCES resources (id),"
    " group_name TEXT NOT NULL,"
    " site TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " hit BLOB CHECK (hit IS NULL OR length(hit) = 16),"
    " ipv4 TEXT,"
    " underlay TEXT,"
    " image TEXT NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('pending', 'starting', 'running', 'stopped', 'failed')),"
    " PRIMARY KEY (vpxi, name)) STRICT;"
    "CREATE INDEX nodes_resource ON nodes (resource);"
    "CREATE TABLE members ("
    " vpxi TEXT NOT NULL REFERENCES vpxis (name),"
    " user_hit BLOB NOT NULL CHECK (length(user_hit) = 16),"
    " role TEXT NOT NULL CHECK (role IN ('owner', 'user')),"
    " added INTEGER NOT NULL,"
    " PRIMARY KEY (vpxi, user_hit)) STRICT;"
    "CREATE INDEX members_user ON members (user_hit);"
    "CREATE TABLE issued ("
    " serial INTEGER PRIMARY KEY AUTOINCREMENT,"
    " vpxi TEXT REFERENCES vpxis (name),"
    " subject_hit BLOB NOT NULL CHECK (length(subject_hit) = 16),"
    " tag TEXT NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " cert BLOB NOT NULL,"
    " issued_at INTEGER NOT NULL) STRICT;"
    "CREATE INDEX issued_vpxi ON issued (vpxi);"
    "CREATE INDEX issued_subject ON issued (subject_hit);"
    "CREATE TABLE revocations ("
    " serial INTEGER PRIMARY KEY NOT NULL REFERENCES issued (serial),"
    " at INTEGER NOT NULL,"
    " reason TEXT NOT NULL) STRICT;"
    "CREATE TABLE offers ("
    " peer_hit BLOB PRIMARY KEY NOT NULL CHECK (length(peer_hit) = 16),"
    " offer BLOB NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " received INTEGER NOT NULL) STRICT;"
    "PRAGMA user_version = 1;";

/*
 * The migration hook: migrations[i] brings a database from version
 * migrations[i].version - 1 to .version, in one transaction, and its SQL ends
 * by setting user_version (a constant of the script, not a value). Append an
 * entry (SQL, or a function for what SQL cannot do) for each new version and
 * raise STORE_SCHEMA_VERSION.
 */
struct store;
static const struct migration {
    int version;
    const char *sql;
    int (*fn)(struct store *s); /* runs after sql, inside the transaction; may be NULL */
} migrations[] = {
    { 1, schema_v1, NULL },
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- statements ------------------------------------------------------------------------------ */

#define USER_COLS      "hit, pubkey, name, contact, agreement, status, created"
#define HOSTAGENT_COLS "hit, pubkey, site, community, registered, last_seen"
#define RES_COLS                                                                                   \
    "id, hostagent_hit, origin_registrar, site, community, cpu_milli, memory_mb, cert, "           \
    "not_after, state, vpxi"
#define VPXI_COLS   "name, owner_hit, spec, not_before, not_after, state, created, reason"
#define NODE_COLS   "vpxi, name, resource, group_name, site, role, hit, ipv4, underlay, image, state"
#define MEMBER_COLS "vpxi, user_hit, role, added"
#define ISSUED_SELECT                                                                              \
    "SELECT i.serial, i.vpxi, i.subject_hit, i.tag, i.not_before, i.not_after, i.cert, "           \
    "i.issued_at, r.serial IS NOT NULL, coalesce(r.at, 0), r.reason "                              \
    "FROM issued i LEFT JOIN revocations r ON r.serial = i.serial "
#define OFFER_COLS "peer_hit, offer, not_after, received"
#define LIVE       "('creating', 'active', 'ending')"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_USER_INSERT,
    ST_USER_GET,
    ST_USER_SET_STATUS,
    ST_USER_LIST,
    ST_HOSTAGENT_UPSERT,
    ST_HOSTAGENT_GET,
    ST_RES_UPSERT,
    ST_RES_GET,
    ST_RES_STATE,
    ST_RES_SET_STATE,
    ST_RES_FIND_FREE,
    ST_RES_LIST_VPXI,
    ST_RES_ALLOCATE,
    ST_RES_RELEASE,
    ST_VPXI_INSERT,
    ST_VPXI_GET,
    ST_VPXI_STATE,
    ST_VPXI_SET_STATE,
    ST_VPXI_LIST,
    ST_VPXI_LIST_USER,
    ST_VPXI_MISSING_NODES,
    ST_NODE_INSERT,
    ST_NODE_UPDATE,
    ST_NODE_GET,
    ST_NODE_LIST,
    ST_MEMBER_INSERT,
    ST_MEMBER_ROLE,
    ST_MEMBER_DELETE,
    ST_MEMBER_LIST,
    ST_ISSUED_INSERT,
    ST_ISSUED_GET,
    ST_ISSUED_LIST_VPXI,
    ST_ISSUED_LIST_SUBJECT,
    ST_ISSUED_LIST_REVOKED,
    ST_REVOKE,
    ST_OFFER_PUT,
    ST_OFFER_GET,
    ST_OFFER_LIST,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT store_call",
    [ST_RELEASE] = "RELEASE store_call",
    [ST_ROLLBACK_TO] = "ROLLBACK TO store_call",

    [ST_USER_INSERT] = "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE hit = ?1",
    [ST_USER_SET_STATUS] = "UPDATE users SET status = ?2 WHERE hit = ?1",
    [ST_USER_LIST] = "SELECT " USER_COLS " FROM users WHERE ?1 IS NULL OR status = ?1 "
                     "ORDER BY created, hit",

    [ST_HOSTAGENT_UPSERT] = "INSERT INTO hostagents (" HOSTAGENT_COLS ") "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (hit) DO UPDATE SET "
                            "site = excluded.site, community = excluded.community, "
                            "last_seen = excluded.last_seen WHERE pubkey = excluded.pubkey",
    [ST_HOSTAGENT_GET] = "SELECT " HOSTAGENT_COLS " FROM hostagents WHERE hit = ?1",

    /* a known id keeps its owner: the update applies only if the owner matches */
    [ST_RES_UPSERT] = "INSERT INTO resources (" RES_COLS ") "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'free', NULL) "
                      "ON CONFLICT (id) DO UPDATE SET site = excluded.site, "
                      "community = excluded.community, cpu_milli = excluded.cpu_milli, "
                      "memory_mb = excluded.memory_mb, cert = excluded.cert, "
                      "not_after = excluded.not_after, "
                      "state = CASE state WHEN 'gone' THEN 'free' ELSE state END "
                      "WHERE hostagent_hit IS excluded.hostagent_hit "
                      "AND origin_registrar IS excluded.origin_registrar",
    [ST_RES_GET] = "SELECT " RES_COLS " FROM resources WHERE id = ?1",
    [ST_RES_STATE] = "SELECT state, vpxi FROM resources WHERE id = ?1",
    [ST_RES_SET_STATE] = "UPDATE resources SET state = ?2 WHERE id = ?1 AND state <> 'allocated'",
    [ST_RES_FIND_FREE] = "SELECT " RES_COLS " FROM resources WHERE state = 'free' "
                         "AND (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR community = ?2) "
                         "AND cpu_milli >= ?3 AND memory_mb >= ?4 AND not_after >= ?5 "
                         "ORDER BY cpu_milli, memory_mb, id LIMIT ?6",
    [ST_RES_LIST_VPXI] = "SELECT " RES_COLS " FROM resources WHERE vpxi = ?1 ORDER BY id",
    [ST_RES_ALLOCATE] = "UPDATE resources SET state = 'allocated', vpxi = ?2 "
                        "WHERE id = ?1 AND state = 'free'",
    [ST_RES_RELEASE] = "UPDATE resources SET state = 'free', vpxi = NULL WHERE vpxi = ?1",

    [ST_VPXI_INSERT] = "INSERT INTO vpxis (" VPXI_COLS ") "
                       "VALUES (?1, ?2, ?3, ?4, ?5, 'creating', ?6, '')",
    [ST_VPXI_GET] = "SELECT " VPXI_COLS " FROM vpxis WHERE name = ?1",
    [ST_VPXI_STATE] = "SELECT state FROM vpxis WHERE name = ?1",
    [ST_VPXI_SET_STATE] = "UPDATE vpxis SET state = ?2, reason = ?3 WHERE name = ?1",
    [ST_VPXI_LIST] = "SELECT " VPXI_COLS " FROM vpxis WHERE ?1 IS NULL OR state = ?1 "
                     "ORDER BY created, name",
    [ST_VPXI_LIST_USER] = "SELECT v.name, v.owner_hit, v.spec, v.not_before, v.not_after, "
                          "v.state, v.created, v.reason FROM vpxis v "
                          "JOIN members m ON m.vpxi = v.name WHERE m.user_hit = ?1 "
                          "ORDER BY v.created, v.name",
    [ST_VPXI_MISSING_NODES] = "SELECT count(*) FROM resources r WHERE r.vpxi = ?1 AND NOT EXISTS "
                              "(SELECT 1 FROM nodes n WHERE n.vpxi = ?1 AND n.resource = r.id)",

    [ST_NODE_INSERT] = "INSERT INTO nodes (" NODE_COLS ") "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_NODE_UPDATE] = "UPDATE nodes SET hit = coalesce(?3, hit), "
                       "underlay = coalesce(?4, underlay), state = ?5 "
                       "WHERE vpxi = ?1 AND name = ?2",
    [ST_NODE_GET] = "SELECT " NODE_COLS " FROM nodes WHERE vpxi = ?1 AND name = ?2",
    [ST_NODE_LIST] = "SELECT " NODE_COLS " FROM nodes WHERE vpxi = ?1 ORDER BY name",

    [ST_MEMBER_INSERT] = "INSERT INTO members (" MEMBER_COLS ") VALUES (?1, ?2, ?3, ?4)",
    [ST_MEMBER_ROLE] = "SELECT role FROM members WHERE vpxi = ?1 AND user_hit = ?2",
    [ST_MEMBER_DELETE] = "DELETE FROM members WHERE vpxi = ?1 AND user_hit = ?2",
    [ST_MEMBER_LIST] = "SELECT " MEMBER_COLS " FROM members WHERE vpxi = ?1 "
                       "ORDER BY added, user_hit",

    [ST_ISSUED_INSERT] = "INSERT INTO issued "
                         "(vpxi, subject_hit, tag, not_before, not_after, cert, issued_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_ISSUED_GET] = ISSUED_SELECT "WHERE i.serial = ?1",
    [ST_ISSUED_LIST_VPXI] = ISSUED_SELECT "WHERE i.vpxi = ?1 ORDER BY i.serial",
    [ST_ISSUED_LIST_SUBJECT] = ISSUED_SELECT "WHERE i.subject_hit = ?1 ORDER BY i.serial",
    [ST_ISSUED_LIST_REVOKED] = ISSUED_SELECT "WHERE r.serial IS NOT NULL AND i.not_after >= ?1 "
                                             "ORDER BY i.serial",
    [ST_REVOKE] = "INSERT INTO revocations (serial, at, reason) VALUES (?1, ?2, ?3)",

    [ST_OFFER_PUT] = "INSERT INTO offers (" OFFER_COLS ") VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (peer_hit) DO UPDATE SET offer = excluded.offer, "
                     "not_after = excluded.not_after, received = excluded.received",
    [ST_OFFER_GET] = "SELECT " OFFER_COLS " FROM offers WHERE peer_hit = ?1",
    [ST_OFFER_LIST] = "SELECT " OFFER_COLS " FROM offers WHERE not_after >= ?1 ORDER BY peer_hit",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    bool user_tx; /* inside store_tx_begin: calls use savepoints */
    char errmsg[STORE_ERRMSG_MAX];
};

/* ---- names of states ------------------------------------------------------------------------- */

struct names {
    const char *const *v;
    int n;
};

static const char *const user_status_names[] = {
    [STORE_USER_PENDING] = "pending",
    [STORE_USER_APPROVED] = "approved",
    [STORE_USER_REFUSED] = "refused",
};
static const char *const res_state_names[] = {
    [STORE_RES_FREE] = "free",
    [STORE_RES_ALLOCATED] = "allocated",
    [STORE_RES_LENT] = "lent",
    [STORE_RES_GONE] = "gone",
};
static const char *const vpxi_state_names[] = {
    [STORE_VPXI_CREATING] = "creating", [STORE_VPXI_ACTIVE] = "active",
    [STORE_VPXI_ENDING] = "ending",     [STORE_VPXI_ENDED] = "ended",
    [STORE_VPXI_FAILED] = "failed",
};
static const char *const node_state_names[] = {
    [STORE_NODE_PENDING] = "pending", [STORE_NODE_STARTING] = "starting",
    [STORE_NODE_RUNNING] = "running", [STORE_NODE_STOPPED] = "stopped",
    [STORE_NODE_FAILED] = "failed",
};
static const char *const member_role_names[] = {
    [STORE_MEMBER_OWNER] = "owner",
    [STORE_MEMBER_USER] = "user",
};

#define NAMES(a)                                                                                   \
    {                                                                                              \
        (a), (int)(sizeof(a) / sizeof((a)[0]))                                                     \
    }
static const struct names user_status = NAMES(user_status_names);
static const struct names res_state = NAMES(res_state_names);
static const struct names vpxi_state = NAMES(vpxi_state_names);
static const struct names node_state = NAMES(node_state_names);
static const struct names member_role = NAMES(member_role_names);

static const char *name_of(const struct names *nm, int v)
{
    return v >= 0 && v < nm->n ? nm->v[v] : NULL;
}

static int value_of(const struct names *nm, const unsigned char *text)
{
    for (int i = 0; text && i < nm->n; i++)
        if (!strcmp((const char *)text, nm->v[i]))
            return i;
    return -1;
}

const char *store_user_status_name(enum store_user_status st)
{
    const char *n = name_of(&user_status, (int)st);
    return n ? n : "?";
}

const char *store_resource_state_name(enum store_resource_state st)
{
    const char *n = name_of(&res_state, (int)st);
    return n ? n : "?";
}

const char *store_vpxi_state_name(enum store_vpxi_state st)
{
    const char *n = name_of(&vpxi_state, (int)st);
    return n ? n : "?";
}

const char *store_node_state_name(enum store_node_state st)
{
    const char *n = name_of(&node_state, (int)st);
    return n ? n : "?";
}

const char *store_member_role_name(enum store_member_role role)
{
    const char *n = name_of(&member_role, (int)role);
    return n ? n : "?";
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Extended codes first: the first entry whose code equals the extended code,
 * else the first whose code equals the primary code, wins. */
static const struct {
    int rc;
    int err;
} rc_map[] = {
    { SQLITE_CONSTRAINT_PRIMARYKEY, VPXI_ERR_EXISTS },
    { SQLITE_CONSTRAINT_UNIQUE, VPXI_ERR_EXISTS },
    { SQLITE_CONSTRAINT_FOREIGNKEY, VPXI_ERR_NOT_FOUND },
    { SQLITE_IOERR_NOMEM, VPXI_ERR_NOMEM },
    { SQLITE_CONSTRAINT, VPXI_ERR_INVALID }, /* CHECK, NOT NULL, ... */
    { SQLITE_FULL, VPXI_ERR_NOSPACE },
    { SQLITE_IOERR, VPXI_ERR_IO },
    { SQLITE_PROTOCOL, VPXI_ERR_IO },
    { SQLITE_BUSY, VPXI_ERR_TIMEOUT },
    { SQLITE_LOCKED, VPXI_ERR_TIMEOUT },
    { SQLITE_NOMEM, VPXI_ERR_NOMEM },
    { SQLITE_READONLY, VPXI_ERR_PERM },
    { SQLITE_PERM, VPXI_ERR_PERM },
    { SQLITE_AUTH, VPXI_ERR_PERM },
    { SQLITE_CORRUPT, VPXI_ERR_BAD_FORMAT },
    { SQLITE_NOTADB, VPXI_ERR_BAD_FORMAT },
    { SQLITE_TOOBIG, VPXI_ERR_TOO_LARGE },
    { SQLITE_CANTOPEN, VPXI_ERR_SYS },
};

static int map_rc(sqlite3 *db, int rc)
{
    size_t i, n = sizeof(rc_map) / sizeof(rc_map[0]);

    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    /* a write that ran out of space may surface as an I/O error */
    if (db && (rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC)
        return VPXI_ERR_NOSPACE;
    for (i = 0; i < n; i++)
        if (rc_map[i].rc == rc)
            return rc_map[i].err;
    for (i = 0; i < n; i++)
        if (rc_map[i].rc == (rc & 0xff))
            return rc_map[i].err;
    return VPXI_ERR_INTERNAL;
}

__attribute__((format(printf, 3, 4))) static int set_err(struct store *s, int r, const char *fmt,
                                                         ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return r;
}

/* Maps a SQLite failure of `what` and keeps SQLite's message. Call it right
 * after the failing call, before anything else touches the connection. */
static int db_err(struct store *s, int rc, const char *what)
{
    return set_err(s, map_rc(s->db, rc), "%s: %s", what,
                   s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

const char *store_errmsg(const struct store *s)
{
    return s ? s->errmsg : "no store";
}

/* ---- binding and stepping -------------------------------------------------------------------- */

/* A statement being bound; the first failure sticks (like vpxi_rd). */
struct bind {
    sqlite3_stmt *st;
    int rc;
};

static struct bind bind_start(struct store *s, enum stmt_id id)
{
    return (struct bind){ s->st[id], SQLITE_OK };
}

static void b_int(struct bind *b, int i, int64_t v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, i, v);
}

/* NULL binds SQL NULL. The value must outlive the step (it does: we step
 * before returning). */
static void b_text(struct bind *b, int i, const char *v)
{
    if (b->rc == SQLITE_OK)
        b->rc = v ? sqlite3_bind_text(b->st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i);
}

static void b_blob(struct bind *b, int i, const void *p, size_t len)
{
    if (b->rc != SQLITE_OK)
        return;
    if (!p)
        b->rc = sqlite3_bind_null(b->st, i);
    else if (len == 0)
        b->rc = sqlite3_bind_zeroblob(b->st, i, 0);
    else
        b->rc = sqlite3_bind_blob64(b->st, i, p, len, SQLITE_STATIC);
}

static void b_hit(struct bind *b, int i, const uint8_t *hit)
{
    b_blob(b, i, hit, VPXI_HIT_LEN);
}

static void b_enum(struct bind *b, int i, const struct names *nm, int v)
{
    b_text(b, i, name_of(nm, v));
}

static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a bound statement that returns no rows. *changes (if not NULL) gets
 * the number of rows it changed. */
static int exec_bound(struct store *s, struct bind *b, const char *what, int *changes)
{
    int rc = b->rc, r;

    if (changes)
        *changes = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b->st);
    r = rc == SQLITE_DONE ? 0 : db_err(s, rc, what);
    if (r == 0 && changes)
        *changes = sqlite3_changes(s->db);
    stmt_done(b->st);
    return r;
}

/* Runs a bound statement whose first row's first column is an integer. */
static int query_int(struct store *s, struct bind *b, const char *what, int64_t *v)
{
    int rc = b->rc, r;

    *v = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b->st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(b->st, 0);
        r = 0;
    } else if (rc == SQLITE_DONE) {
        r = set_err(s, VPXI_ERR_NOT_FOUND, "%s: no row", what);
    } else {
        r = db_err(s, rc, what);
    }
    stmt_done(b->st);
    return r;
}

/* ---- rows into records ----------------------------------------------------------------------- */

enum col_kind {
    C_INT,  /* int64_t */
    C_BOOL, /* bool */
    C_TEXT, /* const char *, NULL for SQL NULL */
    C_BLOB, /* const uint8_t * and size_t at len_off */
    C_HIT,  /* uint8_t[VPXI_HIT_LEN], never NULL */
    C_HITP, /* const uint8_t * to VPXI_HIT_LEN bytes, or NULL */
    C_ENUM, /* an enum (int-sized) from its name */
};

struct col {
    enum col_kind kind;
    size_t off, len_off;
    const struct names *names;
};

struct rowdesc {
    const struct col *cols;
    int ncols;
    size_t size, owned_off;
};

enum { ROW_COLS_MAX = 16 };

_Static_assert(sizeof(enum store_user_status) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum store_resource_state) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum store_vpxi_state) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum store_node_state) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(enum store_member_role) == sizeof(int), "enums are int-sized");

#define FLD(type, f) offsetof(struct type, f)
#define ROWDESC(type, cols)                                                                        \
    {                                                                                              \
        (cols), (int)(sizeof(cols) / sizeof((cols)[0])), sizeof(struct type),                      \
            offsetof(struct type, owned)                                                           \
    }

static const struct col user_cols[] = {
    { C_HIT, FLD(store_user, hit), 0, NULL },
    { C_BLOB, FLD(store_user, pubkey), FLD(store_user, pubkey_len), NULL },
    { C_TEXT, FLD(store_user, name), 0, NULL },
    { C_TEXT, FLD(store_user, contact), 0, NULL },
    { C_TEXT, FLD(store_user, agreement), 0, NULL },
    { C_ENUM, FLD(store_user, status), 0, &user_status },
    { C_INT, FLD(store_user, created), 0, NULL },
};
static const struct col hostagent_cols[] = {
    { C_HIT, FLD(store_hostagent, hit), 0, NULL },
    { C_BLOB, FLD(store_hostagent, pubkey), FLD(store_hostagent, pubkey_len), NULL },
    { C_TEXT, FLD(store_hostagent, site), 0, NULL },
    { C_TEXT, FLD(store_hostagent, community), 0, NULL },
    { C_INT, FLD(store_hostagent, registered), 0, NULL },
    { C_INT, FLD(store_hostagent, last_seen), 0, NULL },
};
static const struct col res_cols[] = {
    { C_TEXT, FLD(store_resource, id), 0, NULL },
    { C_HITP, FLD(store_resource, hostagent_hit), 0, NULL },
    { C_HITP, FLD(store_resource, origin_registrar), 0, NULL },
    { C_TEXT, FLD(store_resource, site), 0, NULL },
    { C_TEXT, FLD(store_resource, community), 0, NULL },
    { C_INT, FLD(store_resource, cpu_milli), 0, NULL },
    { C_INT, FLD(store_resource, memory_mb), 0, NULL },
    { C_BLOB, FLD(store_resource, cert), FLD(store_resource, cert_len), NULL },
    { C_INT, FLD(store_resource, not_after), 0, NULL },
    { C_ENUM, FLD(store_resource, state), 0, &res_state },
    { C_TEXT, FLD(store_resource, vpxi), 0, NULL },
};
static const struct col vpxi_cols[] = {
    { C_TEXT, FLD(store_vpxi, name), 0, NULL },
    { C_HIT, FLD(store_vpxi, owner_hit), 0, NULL },
    { C_TEXT, FLD(store_vpxi, spec), 0, NULL },
    { C_INT, FLD(store_vpxi, not_before), 0, NULL },
    { C_INT, FLD(store_vpxi, not_after), 0, NULL },
    { C_ENUM, FLD(store_vpxi, state), 0, &vpxi_state },
    { C_INT, FLD(store_vpxi, created), 0, NULL },
    { C_TEXT, FLD(store_vpxi, reason), 0, NULL },
};
static const struct col node_cols[] = {
    { C_TEXT, FLD(store_node, vpxi), 0, NULL },
    { C_TEXT, FLD(store_node, name), 0, NULL },
    { C_TEXT, FLD(store_node, resource), 0, NULL },
    { C_TEXT, FLD(store_node, group_name), 0, NULL },
    { C_TEXT, FLD(store_node, site), 0, NULL },
    { C_TEXT, FLD(store_node, role), 0, NULL },
    { C_HITP, FLD(store_node, hit), 0, NULL },
    { C_TEXT, FLD(store_node, ipv4), 0, NULL },
    { C_TEXT, FLD(store_node, underlay), 0, NULL },
    { C_TEXT, FLD(store_node, image), 0, NULL },
    { C_ENUM, FLD(store_node, state), 0, &node_state },
};
static const struct col member_cols[] = {
    { C_TEXT, FLD(store_member, vpxi), 0, NULL },
    { C_HIT, FLD(store_member, user_hit), 0, NULL },
    { C_ENUM, FLD(store_member, role), 0, &member_role },
    { C_INT, FLD(store_member, added), 0, NULL },
};
static const struct col issued_cols[] = {
    { C_INT, FLD(store_issued, serial), 0, NULL },
    { C_TEXT, FLD(store_issued, vpxi), 0, NULL },
    { C_HIT, FLD(store_issued, subject_hit), 0, NULL },
    { C_TEXT, FLD(store_issued, tag), 0, NULL },
    { C_INT, FLD(store_issued, not_before), 0, NULL },
    { C_INT, FLD(store_issued, not_after), 0, NULL },
    { C_BLOB, FLD(store_issued, cert), FLD(store_issued, cert_len), NULL },
    { C_INT, FLD(store_issued, issued_at), 0, NULL },
    { C_BOOL, FLD(store_issued, revoked), 0, NULL },
    { C_INT, FLD(store_issued, revoked_at), 0, NULL },
    { C_TEXT, FLD(store_issued, revoke_reason), 0, NULL },
};
static const struct col offer_cols[] = {
    { C_HIT, FLD(store_offer, peer_hit), 0, NULL },
    { C_BLOB, FLD(store_offer, offer), FLD(store_offer, offer_len), NULL },
    { C_INT, FLD(store_offer, not_after), 0, NULL },
    { C_INT, FLD(store_offer, received), 0, NULL },
};

static const struct rowdesc user_row = ROWDESC(store_user, user_cols);
static const struct rowdesc hostagent_row = ROWDESC(store_hostagent, hostagent_cols);
static const struct rowdesc res_row = ROWDESC(store_resource, res_cols);
static const struct rowdesc vpxi_row = ROWDESC(store_vpxi, vpxi_cols);
static const struct rowdesc node_row = ROWDESC(store_node, node_cols);
static const struct rowdesc member_row = ROWDESC(store_member, member_cols);
static const struct rowdesc issued_row = ROWDESC(store_issued, issued_cols);
static const struct rowdesc offer_row = ROWDESC(store_offer, offer_cols);

#define AT(rec, off, type) ((type *)(void *)((char *)(rec) + (off)))

/* Fills `rec` (zeroed first) from the current row. Text and blobs are copied
 * into one allocation stored in rec's `owned`. */
static int read_row(struct store *s, sqlite3_stmt *st, const struct rowdesc *d, void *rec)
{
    const void *p[ROW_COLS_MAX];
    size_t len[ROW_COLS_MAX], total = 0;
    char *mem, *w;
    int i, v;

    memset(rec, 0, d->size);
    for (i = 0; i < d->ncols; i++) {
        const struct col *c = &d->cols[i];

        p[i] = NULL;
        len[i] = 0;
        if (c->kind == C_INT || c->kind == C_BOOL)
            continue;
        p[i] = c->kind == C_TEXT || c->kind == C_ENUM ? (const void *)sqlite3_column_text(st, i)
                                                      : sqlite3_column_blob(st, i);
        len[i] = (size_t)sqlite3_column_bytes(st, i);
        if (!p[i] && sqlite3_column_type(st, i) != SQLITE_NULL && (len[i] > 0 || c->kind == C_TEXT))
            return set_err(s, VPXI_ERR_NOMEM, "reading a row: out of memory");
        if ((c->kind == C_HIT || (c->kind == C_HITP && p[i])) && len[i] != VPXI_HIT_LEN)
            return set_err(s, VPXI_ERR_BAD_FORMAT, "stored HIT of %zu bytes", len[i]);
        if (c->kind == C_TEXT && p[i])
            total += len[i] + 1;
        else if (c->kind == C_BLOB || c->kind == C_HITP)
            total += len[i];
    }
    if (!(mem = malloc(total ? total : 1)))
        return set_err(s, VPXI_ERR_NOMEM, "reading a row: out of memory");
    w = mem;
    for (i = 0; i < d->ncols; i++) {
        const struct col *c = &d->cols[i];

        switch (c->kind) {
        case C_INT: *AT(rec, c->off, int64_t) = sqlite3_column_int64(st, i); break;
        case C_BOOL: *AT(rec, c->off, bool) = sqlite3_column_int(st, i) != 0; break;
        case C_HIT: memcpy(AT(rec, c->off, uint8_t), p[i], VPXI_HIT_LEN); break;
        case C_ENUM:
            if ((v = value_of(c->names, p[i])) < 0) {
                free(mem);
                memset(rec, 0, d->size);
                return set_err(s, VPXI_ERR_BAD_FORMAT, "unknown stored state '%s'",
                               p[i] ? (const char *)p[i] : "NULL");
            }
            *AT(rec, c->off, int) = v;
            break;
        case C_TEXT:
            if (p[i]) {
                memcpy(w, p[i], len[i]);
                w[len[i]] = '\0';
                *AT(rec, c->off, const char *) = w;
                w += len[i] + 1;
            }
            break;
        case C_BLOB:
        case C_HITP:
            if (p[i]) {
                memcpy(w, p[i], len[i]);
                *AT(rec, c->off, const uint8_t *) = (const uint8_t *)w;
                w += len[i];
            }
            if (c->kind == C_BLOB)
                *AT(rec, c->len_off, size_t) = len[i];
            break;
        }
    }
    *AT(rec, d->owned_off, void *) = mem;
    return 0;
}

static void free_rows(void *v, size_t n, const struct rowdesc *d)
{
    for (size_t i = 0; v && i < n; i++)
        free(*AT((char *)v + i * d->size, d->owned_off, void *));
    free(v);
}

/* Runs a bound query expected to return one row: VPXI_ERR_NOT_FOUND if none. */
static int read_one(struct store *s, struct bind *b, const struct rowdesc *d, void *rec,
                    const char *what)
{
    int rc = b->rc, r;

    memset(rec, 0, d->size);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b->st);
    if (rc == SQLITE_ROW)
        r = read_row(s, b->st, d, rec);
    else if (rc == SQLITE_DONE)
        r = set_err(s, VPXI_ERR_NOT_FOUND, "%s: not found", what);
    else
        r = db_err(s, rc, what);
    stmt_done(b->st);
    return r;
}

/* Runs a bound query into a malloc'd array of records. */
static int read_list(struct store *s, struct bind *b, const struct rowdesc *d, void **out,
                     size_t *n, const char *what)
{
    char *v = NULL, *nv;
    size_t cnt = 0, cap = 0;
    int rc = b->rc, r = VPXI_ERR_INTERNAL;

    *out = NULL;
    *n = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(b->st)) != SQLITE_ROW)
            break;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            if (cap > SIZE_MAX / d->size || !(nv = realloc(v, cap * d->size))) {
                r = set_err(s, VPXI_ERR_NOMEM, "%s: out of memory", what);
                goto out;
            }
            v = nv;
        }
        if ((r = read_row(s, b->st, d, v + cnt * d->size)) != 0)
            goto out;
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = db_err(s, rc, what);
        goto out;
    }
    *out = v;
    *n = cnt;
    v = NULL;
    r = 0;
out:
    stmt_done(b->st);
    if (v)
        free_rows(v, cnt, d);
    return r;
}

#define CLEAR_FN(type)                                                                             \
    void type##_clear(struct type *x)                                                              \
    {                                                                                              \
        if (x) {                                                                                   \
            free(x->owned);                                                                        \
            memset(x, 0, sizeof(*x));                                                              \
        }                                                                                          \
    }
#define LIST_FREE_FN(type, desc)                                                                   \
    void type##_list_free(struct type *v, size_t n)                                                \
    {                                                                                              \
        free_rows(v, n, &(desc));                                                                  \
    }

CLEAR_FN(store_user)
CLEAR_FN(store_hostagent)
CLEAR_FN(store_resource)
CLEAR_FN(store_vpxi)
CLEAR_FN(store_node)
CLEAR_FN(store_issued)
CLEAR_FN(store_offer)
LIST_FREE_FN(store_user, user_row)
LIST_FREE_FN(store_resource, res_row)
LIST_FREE_FN(store_vpxi, vpxi_row)
LIST_FREE_FN(store_node, node_row)
LIST_FREE_FN(store_member, member_row)
LIST_FREE_FN(store_issued, issued_row)
LIST_FREE_FN(store_offer, offer_row)

/* ---- transactions ---------------------------------------------------------------------------- */

/* Runs a statement without arguments; errors are reported only if `what`. */
static int run(struct store *s, enum stmt_id id, const char *what)
{
    int rc = sqlite3_step(s->st[id]), r = 0;

    if (rc != SQLITE_DONE)
        r = what ? db_err(s, rc, what) : map_rc(s->db, rc);
    sqlite3_reset(s->st[id]);
    return r;
}

static int tx_begin(struct store *s)
{
    if (s->user_tx) {
        if (sqlite3_get_autocommit(s->db))
            return set_err(s, VPXI_ERR_BAD_STATE, "the caller's transaction was rolled back");
        return run(s, ST_SAVEPOINT, "savepoint");
    }
    return run(s, ST_BEGIN, "begin transaction");
}

/* Ends the transaction of one call: commits if r == 0, else rolls back
 * (keeping the message of the first error). Returns the final result. */
static int tx_end(struct store *s, int r)
{
    if (r == 0 && (r = run(s, s->user_tx ? ST_RELEASE : ST_COMMIT, "commit")) == 0)
        return 0;
    if (sqlite3_get_autocommit(s->db))
        return r; /* SQLite rolled back already (or the commit never began) */
    if (s->user_tx) {
        (void)run(s, ST_ROLLBACK_TO, NULL);
        (void)run(s, ST_RELEASE, NULL);
    } else {
        (void)run(s, ST_ROLLBACK, NULL);
    }
    return r;
}

int store_tx_begin(struct store *s)
{
    int r;

    s->errmsg[0] = '\0';
    if (s->user_tx)
        return set_err(s, VPXI_ERR_BAD_STATE, "a transaction is already open");
    if ((r = run(s, ST_BEGIN, "begin transaction")) == 0)
        s->user_tx = true;
    return r;
}

int store_tx_commit(struct store *s)
{
    int r;

    s->errmsg[0] = '\0';
    if (!s->user_tx)
        return set_err(s, VPXI_ERR_BAD_STATE, "no transaction is open");
    s->user_tx = false;
    if (sqlite3_get_autocommit(s->db))
        return set_err(s, VPXI_ERR_BAD_STATE, "the transaction was rolled back by an error");
    if ((r = run(s, ST_COMMIT, "commit")) != 0 && !sqlite3_get_autocommit(s->db))
        (void)run(s, ST_ROLLBACK, NULL);
    return r;
}

void store_tx_rollback(struct store *s)
{
    if (!s->user_tx)
        return;
    s->user_tx = false;
    if (!sqlite3_get_autocommit(s->db))
        (void)run(s, ST_ROLLBACK, NULL);
}

/* ---- opening --------------------------------------------------------------------------------- */

/* Creates the file 0600 if missing (and syncs its directory so that the
 * name survives a crash), narrows an existing one to 0600. */
static int prepare_file(struct store *s, const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    bool created = true;
    int fd, dfd, r = 0;

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return set_err(s, VPXI_ERR_SYS, "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        r = set_err(s, VPXI_ERR_SYS, "stat %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        r = set_err(s, VPXI_ERR_INVALID, "%s is not a regular file", path);
    } else if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
        r = set_err(s, VPXI_ERR_SYS, "chmod %s: %s", path, strerror(errno));
    }
    close(fd);
    if (r != 0 || !created)
        return r;
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return set_err(s, VPXI_ERR_TOO_LARGE, "path too long");
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        if (fsync(dfd) != 0)
            r = set_err(s, VPXI_ERR_IO, "fsync directory of %s: %s", path, strerror(errno));
        close(dfd);
    }
    return r;
}

/* Runs a constant PRAGMA and, if `text` is not NULL, returns its first
 * column as text (truncated to tlen) or its integer in *num. */
static int pragma(struct store *s, const char *sql, char *text, size_t tlen, int64_t *num)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return db_err(s, rc, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (text && tlen > 0)
            snprintf(text, tlen, "%s", t ? (const char *)t : "");
        if (num)
            *num = sqlite3_column_int64(st, 0);
    } else if (rc == SQLITE_DONE) {
        if (text || num)
            r = set_err(s, VPXI_ERR_UNSUPPORTED, "%s: no result", sql);
    } else {
        r = db_err(s, rc, sql);
    }
    sqlite3_finalize(st);
    return r;
}

static int configure(struct store *s)
{
    char mode[16] = "";
    int64_t fk = 0;
    int r;

    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    if ((r = pragma(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL)) != 0)
        return r;
    if (strcmp(mode, "wal") != 0)
        return set_err(s, VPXI_ERR_UNSUPPORTED, "journal_mode is '%s', not wal", mode);
    if ((r = pragma(s, "PRAGMA synchronous = FULL", NULL, 0, NULL)) != 0 ||
        (r = pragma(s, "PRAGMA foreign_keys = ON", NULL, 0, NULL)) != 0 ||
        (r = pragma(s, "PRAGMA foreign_keys", NULL, 0, &fk)) != 0)
        return r;
    if (fk != 1)
        return set_err(s, VPXI_ERR_UNSUPPORTED, "SQLite without foreign keys");
    return 0;
}

static int migrate(struct store *s)
{
    const struct migration *m;
    int64_t v = 0;
    char *msg = NULL;
    int r, rc;

    if ((r = pragma(s, "PRAGMA user_version", NULL, 0, &v)) != 0)
        return r;
    if (v > STORE_SCHEMA_VERSION)
        return set_err(s, VPXI_ERR_UNSUPPORTED, "schema version %lld is newer than ours (%d)",
                       (long long)v, STORE_SCHEMA_VERSION);
    for (m = migrations; m < migrations + STORE_SCHEMA_VERSION; m++) {
        if (m->version <= v)
            continue;
        if ((r = pragma(s, "BEGIN IMMEDIATE", NULL, 0, NULL)) != 0)
            return r;
        /* another process may have migrated while we waited for the lock */
        if ((r = pragma(s, "PRAGMA user_version", NULL, 0, &v)) == 0 && v < m->version) {
            if ((rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg)) != SQLITE_OK)
                r = set_err(s, map_rc(s->db, rc), "migration to %d: %s", m->version,
                            msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            msg = NULL;
            if (r == 0 && m->fn)
                r = m->fn(s);
            if (r == 0 && (r = pragma(s, "PRAGMA user_version", NULL, 0, &v)) == 0 &&
                v != m->version)
                r = set_err(s, VPXI_ERR_INTERNAL, "migration to %d left version %lld", m->version,
                            (long long)v);
        }
        if (r == 0)
            r = pragma(s, "COMMIT", NULL, 0, NULL);
        if (r != 0) {
            if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return r;
        }
    }
    return 0;
}

static int prepare_all(struct store *s)
{
    for (int i = 0; i < ST__COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return db_err(s, rc, stmt_sql[i]);
    }
    return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
    struct store *s = NULL;
    int r = VPXI_ERR_INTERNAL, rc;

    if (!path || !out)
        vpxi_misuse("store_open: NULL argument");
    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (!(s = calloc(1, sizeof(*s)))) {
        if (errlen > 0)
            snprintf(err, errlen, "out of memory");
        return VPXI_ERR_NOMEM;
    }
    if ((r = prepare_file(s, path)) != 0)
        goto out;
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
                             SQLITE_OPEN_EXRESCODE,
                         NULL);
    if (rc != SQLITE_OK) {
        r = db_err(s, rc, path);
        goto out;
    }
    if ((r = configure(s)) != 0 || (r = migrate(s)) != 0 || (r = prepare_all(s)) != 0)
        goto out;
    s->errmsg[0] = '\0';
    *out = s;
    s = NULL;
    r = 0;
out:
    if (s) {
        if (errlen > 0)
            snprintf(err, errlen, "%s", s->errmsg);
        store_close(s);
    }
    return r;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db); /* rolls back an open transaction */
    free(s);
}

void store_set_busy_timeout(struct store *s, int ms)
{
    sqlite3_busy_timeout(s->db, ms);
}

/* ---- argument checks ------------------------------------------------------------------------- */

static int check_str(struct store *s, const char *what, const char *v, size_t max, bool required)
{
    size_t len;

    if (!v)
        return required ? set_err(s, VPXI_ERR_INVALID, "%s missing", what) : 0;
    len = strnlen(v, max + 1);
    if (len > max)
        return set_err(s, VPXI_ERR_TOO_LARGE, "%s longer than %zu bytes", what, max);
    if (required && len == 0)
        return set_err(s, VPXI_ERR_INVALID, "%s empty", what);
    return 0;
}

static int check_blob(struct store *s, const char *what, const void *p, size_t len)
{
    if (!p || len == 0)
        return set_err(s, VPXI_ERR_INVALID, "%s missing", what);
    if (len > STORE_BLOB_MAX)
        return set_err(s, VPXI_ERR_TOO_LARGE, "%s of %zu bytes", what, len);
    return 0;
}

static int check_enum(struct store *s, const char *what, const struct names *nm, int v)
{
    return name_of(nm, v) ? 0 : set_err(s, VPXI_ERR_INVALID, "bad %s %d", what, v);
}

/* Every public call starts here: a NULL store or record is a caller bug. */
static void enter(struct store *s, const void *arg, const char *func)
{
    if (!s || !arg)
        vpxi_misuse(func);
    s->errmsg[0] = '\0';
}

static int64_t now_sec(void)
{
    return (int64_t)time(NULL);
}

/* ---- users ----------------------------------------------------------------------------------- */

int store_user_enroll(struct store *s, const struct store_user *u)
{
    struct bind b;
    int r;

    enter(s, u, __func__);
    if ((r = check_blob(s, "public key", u->pubkey, u->pubkey_len)) != 0 ||
        (r = check_str(s, "name", u->name, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "contact", u->contact, STORE_TEXT_MAX, false)) != 0 ||
        (r = check_str(s, "agreement", u->agreement, STORE_TEXT_MAX, false)) != 0 ||
        (r = check_enum(s, "status", &user_status, (int)u->status)) != 0)
        return r;
    if ((r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_USER_INSERT);
    b_hit(&b, 1, u->hit);
    b_blob(&b, 2, u->pubkey, u->pubkey_len);
    b_text(&b, 3, u->name);
    b_text(&b, 4, u->contact ? u->contact : "");
    b_text(&b, 5, u->agreement ? u->agreement : "");
    b_enum(&b, 6, &user_status, (int)u->status);
    b_int(&b, 7, u->created ? u->created : now_sec());
    r = exec_bound(s, &b, "enroll user", NULL);
    return tx_end(s, r);
}

int store_user_get(struct store *s, const uint8_t hit[static VPXI_HIT_LEN], struct store_user *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_USER_GET);
    b_hit(&b, 1, hit);
    return read_one(s, &b, &user_row, out, "user");
}

int store_user_set_status(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                          enum store_user_status status)
{
    struct bind b;
    int r, changes = 0;

    enter(s, hit, __func__);
    if ((r = check_enum(s, "status", &user_status, (int)status)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_USER_SET_STATUS);
    b_hit(&b, 1, hit);
    b_enum(&b, 2, &user_status, (int)status);
    if ((r = exec_bound(s, &b, "set user status", &changes)) == 0 && changes == 0)
        r = set_err(s, VPXI_ERR_NOT_FOUND, "no such user");
    return tx_end(s, r);
}

int store_user_list(struct store *s, int status, struct store_user **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    *out = NULL;
    *n = 0;
    if (status != -1 && (r = check_enum(s, "status", &user_status, status)) != 0)
        return r;
    b = bind_start(s, ST_USER_LIST);
    b_text(&b, 1, name_of(&user_status, status));
    r = read_list(s, &b, &user_row, &v, n, "list users");
    *out = v;
    return r;
}

/* ---- host agents ----------------------------------------------------------------------------- */

int store_hostagent_upsert(struct store *s, const struct store_hostagent *h)
{
    struct bind b;
    int r, changes = 0;

    enter(s, h, __func__);
    if ((r = check_blob(s, "public key", h->pubkey, h->pubkey_len)) != 0 ||
        (r = check_str(s, "site", h->site, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "community", h->community, STORE_NAME_MAX, false)) != 0 ||
        (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_HOSTAGENT_UPSERT);
    b_hit(&b, 1, h->hit);
    b_blob(&b, 2, h->pubkey, h->pubkey_len);
    b_text(&b, 3, h->site);
    b_text(&b, 4, h->community ? h->community : "");
    b_int(&b, 5, h->last_seen ? h->last_seen : now_sec());
    if ((r = exec_bound(s, &b, "record host agent", &changes)) == 0 && changes == 0)
        r = set_err(s, VPXI_ERR_PERM, "host agent known with another public key");
    return tx_end(s, r);
}

int store_hostagent_get(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                        struct store_hostagent *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_HOSTAGENT_GET);
    b_hit(&b, 1, hit);
    return read_one(s, &b, &hostagent_row, out, "host agent");
}

/* ---- resources ------------------------------------------------------------------------------- */

/* State of a resource and the VPXI it is allocated to (vpxi: "" if none). */
static int resource_state(struct store *s, const char *id, int *state,
                          char vpxi[static STORE_NAME_MAX + 1])
{
    struct bind b = bind_start(s, ST_RES_STATE);
    int rc, r = 0;

    *state = -1;
    vpxi[0] = '\0';
    b_text(&b, 1, id);
    rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(b.st, 1);
        *state = value_of(&res_state, sqlite3_column_text(b.st, 0));
        snprintf(vpxi, STORE_NAME_MAX + 1, "%s", v ? (const char *)v : "");
        if (*state < 0)
            r = set_err(s, VPXI_ERR_BAD_FORMAT, "resource %s: unknown stored state", id);
    } else if (rc == SQLITE_DONE) {
        r = set_err(s, VPXI_ERR_NOT_FOUND, "no resource %s", id);
    } else {
        r = db_err(s, rc, "resource state");
    }
    stmt_done(b.st);
    return r;
}

int store_resource_register(struct store *s, const struct store_resource *res)
{
    struct bind b;
    int r, changes = 0;

    enter(s, res, __func__);
    if ((r = check_str(s, "resource id", res->id, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "site", res->site, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "community", res->community, STORE_NAME_MAX, false)) != 0 ||
        (r = check_blob(s, "resource certificate", res->cert, res->cert_len)) != 0)
        return r;
    if (!res->hostagent_hit && !res->origin_registrar)
        return set_err(s, VPXI_ERR_INVALID, "resource %s has no owner", res->id);
    if (res->cpu_milli < 0 || res->memory_mb < 0)
        return set_err(s, VPXI_ERR_INVALID, "resource %s: negative capacity", res->id);
    if ((r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_RES_UPSERT);
    b_text(&b, 1, res->id);
    b_blob(&b, 2, res->hostagent_hit, VPXI_HIT_LEN);
    b_blob(&b, 3, res->origin_registrar, VPXI_HIT_LEN);
    b_text(&b, 4, res->site);
    b_text(&b, 5, res->community ? res->community : "");
    b_int(&b, 6, res->cpu_milli);
    b_int(&b, 7, res->memory_mb);
    b_blob(&b, 8, res->cert, res->cert_len);
    b_int(&b, 9, res->not_after);
    if ((r = exec_bound(s, &b, "register resource", &changes)) == 0 && changes == 0)
        r = set_err(s, VPXI_ERR_PERM, "resource %s belongs to another owner", res->id);
    return tx_end(s, r);
}

int store_resource_get(struct store *s, const char *id, struct store_resource *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_RES_GET);
    b_text(&b, 1, id);
    return read_one(s, &b, &res_row, out, "resource");
}

int store_resource_set_state(struct store *s, const char *id, enum store_resource_state state)
{
    char vpxi[STORE_NAME_MAX + 1];
    struct bind b;
    int r, cur;

    enter(s, id, __func__);
    if ((r = check_enum(s, "resource state", &res_state, (int)state)) != 0)
        return r;
    if (state == STORE_RES_ALLOCATED)
        return set_err(s, VPXI_ERR_INVALID, "resources are allocated by creating a VPXI");
    if ((r = tx_begin(s)) != 0)
        return r;
    if ((r = resource_state(s, id, &cur, vpxi)) == 0 && cur == STORE_RES_ALLOCATED)
        r = set_err(s, VPXI_ERR_BAD_STATE, "resource %s is allocated to %s", id, vpxi);
    if (r == 0) {
        b = bind_start(s, ST_RES_SET_STATE);
        b_text(&b, 1, id);
        b_enum(&b, 2, &res_state, (int)state);
        r = exec_bound(s, &b, "set resource state", NULL);
    }
    return tx_end(s, r);
}

int store_resource_find_free(struct store *s, const struct store_resource_filter *f,
                             struct store_resource **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, f, __func__);
    *out = NULL;
    *n = 0;
    b = bind_start(s, ST_RES_FIND_FREE);
    b_text(&b, 1, f->site);
    b_text(&b, 2, f->community);
    b_int(&b, 3, f->min_cpu_milli);
    b_int(&b, 4, f->min_memory_mb);
    b_int(&b, 5, f->valid_until);
    b_int(&b, 6, f->limit && f->limit < INT64_MAX ? (int64_t)f->limit : -1);
    r = read_list(s, &b, &res_row, &v, n, "find free resources");
    *out = v;
    return r;
}

int store_resource_list_vpxi(struct store *s, const char *vpxi, struct store_resource **out,
                             size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, vpxi, __func__);
    *out = NULL;
    *n = 0;
    b = bind_start(s, ST_RES_LIST_VPXI);
    b_text(&b, 1, vpxi);
    r = read_list(s, &b, &res_row, &v, n, "list resources of a VPXI");
    *out = v;
    return r;
}

/* ---- VPXIs ----------------------------------------------------------------------------------- */

static int vpxi_state_of(struct store *s, const char *name, int *state)
{
    struct bind b = bind_start(s, ST_VPXI_STATE);
    int rc, r = 0;

    *state = -1;
    b_text(&b, 1, name);
    rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    if (rc == SQLITE_ROW) {
        if ((*state = value_of(&vpxi_state, sqlite3_column_text(b.st, 0))) < 0)
            r = set_err(s, VPXI_ERR_BAD_FORMAT, "VPXI %s: unknown stored state", name);
    } else if (rc == SQLITE_DONE) {
        r = set_err(s, VPXI_ERR_NOT_FOUND, "no VPXI %s", name);
    } else {
        r = db_err(s, rc, "VPXI state");
    }
    stmt_done(b.st);
    return r;
}

/* Marks one resource allocated to `vpxi`, or says why it cannot be. */
static int allocate_one(struct store *s, const char *vpxi, const char *id)
{
    char holder[STORE_NAME_MAX + 1];
    struct bind b = bind_start(s, ST_RES_ALLOCATE);
    int r, changes = 0, state;

    b_text(&b, 1, id);
    b_text(&b, 2, vpxi);
    if ((r = exec_bound(s, &b, "allocate resource", &changes)) != 0 || changes == 1)
        return r;
    if ((r = resource_state(s, id, &state, holder)) != 0)
        return r;
    if (state == STORE_RES_ALLOCATED && !strcmp(holder, vpxi))
        return set_err(s, VPXI_ERR_DUPLICATE, "resource %s listed twice", id);
    if (state == STORE_RES_ALLOCATED)
        return set_err(s, VPXI_ERR_BAD_STATE, "resource %s is allocated to %s", id, holder);
    return set_err(s, VPXI_ERR_BAD_STATE, "resource %s is %s", id, name_of(&res_state, state));
}

int store_vpxi_create(struct store *s, const struct store_vpxi *v, const char *const *resource_ids,
                      size_t n)
{
    struct bind b;
    int64_t now = now_sec();
    size_t i;
    int r;

    enter(s, v, __func__);
    if (n > 0 && !resource_ids)
        vpxi_misuse("store_vpxi_create: NULL resource list");
    if ((r = check_str(s, "VPXI name", v->name, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "VPXI spec", v->spec, STORE_SPEC_MAX, false)) != 0)
        return r;
    if (v->not_before > v->not_after)
        return set_err(s, VPXI_ERR_VALIDITY_EMPTY, "VPXI %s ends before it begins", v->name);
    if (n == 0)
        return set_err(s, VPXI_ERR_INVALID, "VPXI %s without resources", v->name);
    if (n > STORE_VPXI_RESOURCES_MAX)
        return set_err(s, VPXI_ERR_TOO_LARGE, "VPXI %s: %zu resources", v->name, n);
    for (i = 0; i < n; i++)
        if ((r = check_str(s, "resource id", resource_ids[i], STORE_NAME_MAX, true)) != 0)
            return r;
    if ((r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_VPXI_INSERT);
    b_text(&b, 1, v->name);
    b_hit(&b, 2, v->owner_hit);
    b_text(&b, 3, v->spec ? v->spec : "");
    b_int(&b, 4, v->not_before);
    b_int(&b, 5, v->not_after);
    b_int(&b, 6, v->created ? v->created : now);
    if ((r = exec_bound(s, &b, "create VPXI", NULL)) == VPXI_ERR_EXISTS)
        set_err(s, r, "VPXI %s exists", v->name);
    for (i = 0; r == 0 && i < n; i++)
        r = allocate_one(s, v->name, resource_ids[i]);
    if (r == 0) {
        b = bind_start(s, ST_MEMBER_INSERT);
        b_text(&b, 1, v->name);
        b_hit(&b, 2, v->owner_hit);
        b_enum(&b, 3, &member_role, STORE_MEMBER_OWNER);
        b_int(&b, 4, now);
        r = exec_bound(s, &b, "add owner", NULL);
    }
    return tx_end(s, r);
}

int store_vpxi_get(struct store *s, const char *name, struct store_vpxi *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_VPXI_GET);
    b_text(&b, 1, name);
    return read_one(s, &b, &vpxi_row, out, "VPXI");
}

/* allowed[from][to]; the final states allow nothing */
static const bool vpxi_allowed[5][5] = {
    [STORE_VPXI_CREATING] = { [STORE_VPXI_CREATING] = true,
                              [STORE_VPXI_ACTIVE] = true,
                              [STORE_VPXI_ENDING] = true,
                              [STORE_VPXI_ENDED] = true,
                              [STORE_VPXI_FAILED] = true },
    [STORE_VPXI_ACTIVE] = { [STORE_VPXI_ACTIVE] = true,
                            [STORE_VPXI_ENDING] = true,
                            [STORE_VPXI_ENDED] = true,
                            [STORE_VPXI_FAILED] = true },
    [STORE_VPXI_ENDING] = { [STORE_VPXI_ENDING] = true,
                            [STORE_VPXI_ENDED] = true,
                            [STORE_VPXI_FAILED] = true },
};

int store_vpxi_set_state(struct store *s, const char *name, enum store_vpxi_state state,
                         const char *reason)
{
    struct bind b;
    int64_t missing = 0;
    int r, cur = -1;

    enter(s, name, __func__);
    if ((r = check_enum(s, "VPXI state", &vpxi_state, (int)state)) != 0 ||
        (r = check_str(s, "reason", reason, STORE_TEXT_MAX, false)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    if ((r = vpxi_state_of(s, name, &cur)) == 0 && !vpxi_allowed[cur][state])
        r = set_err(s, VPXI_ERR_BAD_STATE, "VPXI %s: %s -> %s not allowed", name,
                    name_of(&vpxi_state, cur), name_of(&vpxi_state, (int)state));
    if (r == 0 && state == STORE_VPXI_ACTIVE) {
        b = bind_start(s, ST_VPXI_MISSING_NODES);
        b_text(&b, 1, name);
        if ((r = query_int(s, &b, "count missing nodes", &missing)) == 0 && missing > 0)
            r = set_err(s, VPXI_ERR_BAD_STATE, "VPXI %s: %lld resources without a node", name,
                        (long long)missing);
    }
    if (r == 0) {
        b = bind_start(s, ST_VPXI_SET_STATE);
        b_text(&b, 1, name);
        b_enum(&b, 2, &vpxi_state, (int)state);
        b_text(&b, 3, reason ? reason : "");
        r = exec_bound(s, &b, "set VPXI state", NULL);
    }
    if (r == 0 && (state == STORE_VPXI_ENDED || state == STORE_VPXI_FAILED)) {
        b = bind_start(s, ST_RES_RELEASE);
        b_text(&b, 1, name);
        r = exec_bound(s, &b, "release resources", NULL);
    }
    return tx_end(s, r);
}

int store_vpxi_end(struct store *s, const char *name, const char *reason)
{
    return store_vpxi_set_state(s, name, STORE_VPXI_ENDED, reason);
}

int store_vpxi_list(struct store *s, int state, struct store_vpxi **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    *out = NULL;
    *n = 0;
    if (state != -1 && (r = check_enum(s, "VPXI state", &vpxi_state, state)) != 0)
        return r;
    b = bind_start(s, ST_VPXI_LIST);
    b_text(&b, 1, name_of(&vpxi_state, state));
    r = read_list(s, &b, &vpxi_row, &v, n, "list VPXIs");
    *out = v;
    return r;
}

int store_vpxi_list_for_user(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                             struct store_vpxi **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    *out = NULL;
    *n = 0;
    b = bind_start(s, ST_VPXI_LIST_USER);
    b_hit(&b, 1, hit);
    r = read_list(s, &b, &vpxi_row, &v, n, "list VPXIs of a user");
    *out = v;
    return r;
}

/* ---- nodes ----------------------------------------------------------------------------------- */

static int check_node(struct store *s, const struct store_node *nd)
{
    int r;

    if ((r = check_str(s, "VPXI name", nd->vpxi, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "node name", nd->name, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "resource id", nd->resource, STORE_NAME_MAX, true)) != 0 ||
        (r = check_str(s, "group", nd->group_name, STORE_NAME_MAX, false)) != 0 ||
        (r = check_str(s, "site", nd->site, STORE_NAME_MAX, false)) != 0 ||
        (r = check_str(s, "role", nd->role, STORE_NAME_MAX, false)) != 0 ||
        (r = check_str(s, "ipv4", nd->ipv4, STORE_NAME_MAX, false)) != 0 ||
        (r = check_str(s, "underlay", nd->underlay, STORE_TEXT_MAX, false)) != 0 ||
        (r = check_str(s, "image", nd->image, STORE_TEXT_MAX, false)) != 0)
        return r;
    return check_enum(s, "node state", &node_state, (int)nd->state);
}

int store_node_add(struct store *s, const struct store_node *nd)
{
    char holder[STORE_NAME_MAX + 1];
    struct bind b;
    int r, vstate = -1, rstate = -1;

    enter(s, nd, __func__);
    if ((r = check_node(s, nd)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    if ((r = vpxi_state_of(s, nd->vpxi, &vstate)) == 0 && vstate != STORE_VPXI_CREATING &&
        vstate != STORE_VPXI_ACTIVE)
        r = set_err(s, VPXI_ERR_BAD_STATE, "VPXI %s is %s", nd->vpxi, name_of(&vpxi_state, vstate));
    if (r == 0 && (r = resource_state(s, nd->resource, &rstate, holder)) == 0 &&
        (rstate != STORE_RES_ALLOCATED || strcmp(holder, nd->vpxi) != 0))
        r = set_err(s, VPXI_ERR_BAD_STATE, "resource %s is not allocated to %s", nd->resource,
                    nd->vpxi);
    if (r == 0) {
        b = bind_start(s, ST_NODE_INSERT);
        b_text(&b, 1, nd->vpxi);
        b_text(&b, 2, nd->name);
        b_text(&b, 3, nd->resource);
        b_text(&b, 4, nd->group_name ? nd->group_name : "");
        b_text(&b, 5, nd->site ? nd->site : "");
        b_text(&b, 6, nd->role ? nd->role : "");
        b_blob(&b, 7, nd->hit, VPXI_HIT_LEN);
        b_text(&b, 8, nd->ipv4);
        b_text(&b, 9, nd->underlay);
        b_text(&b, 10, nd->image ? nd->image : "");
        b_enum(&b, 11, &node_state, (int)nd->state);
        if ((r = exec_bound(s, &b, "add node", NULL)) == VPXI_ERR_EXISTS)
            set_err(s, r, "node %s/%s exists", nd->vpxi, nd->name);
    }
    return tx_end(s, r);
}

int store_node_update(struct store *s, const char *vpxi, const char *name, const uint8_t *hit,
                      const char *underlay, enum store_node_state state)
{
    struct bind b;
    int r, changes = 0;

    enter(s, vpxi, __func__);
    if (!name)
        vpxi_misuse("store_node_update: NULL name");
    if ((r = check_str(s, "underlay", underlay, STORE_TEXT_MAX, false)) != 0 ||
        (r = check_enum(s, "node state", &node_state, (int)state)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_NODE_UPDATE);
    b_text(&b, 1, vpxi);
    b_text(&b, 2, name);
    b_blob(&b, 3, hit, VPXI_HIT_LEN);
    b_text(&b, 4, underlay);
    b_enum(&b, 5, &node_state, (int)state);
    if ((r = exec_bound(s, &b, "update node", &changes)) == 0 && changes == 0)
        r = set_err(s, VPXI_ERR_NOT_FOUND, "no node %s/%s", vpxi, name);
    return tx_end(s, r);
}

int store_node_get(struct store *s, const char *vpxi, const char *name, struct store_node *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_NODE_GET);
    b_text(&b, 1, vpxi);
    b_text(&b, 2, name);
    return read_one(s, &b, &node_row, out, "node");
}

int store_node_list(struct store *s, const char *vpxi, struct store_node **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    *out = NULL;
    *n = 0;
    b = bind_start(s, ST_NODE_LIST);
    b_text(&b, 1, vpxi);
    r = read_list(s, &b, &node_row, &v, n, "list nodes");
    *out = v;
    return r;
}

/* ---- members --------------------------------------------------------------------------------- */

int store_member_add(struct store *s, const char *vpxi, const uint8_t hit[static VPXI_HIT_LEN],
                     enum store_member_role role)
{
    struct bind b;
    int r;

    enter(s, vpxi, __func__);
    if ((r = check_enum(s, "member role", &member_role, (int)role)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_MEMBER_INSERT);
    b_text(&b, 1, vpxi);
    b_hit(&b, 2, hit);
    b_enum(&b, 3, &member_role, (int)role);
    b_int(&b, 4, now_sec());
    r = exec_bound(s, &b, "add member", NULL);
    return tx_end(s, r);
}

int store_member_remove(struct store *s, const char *vpxi, const uint8_t hit[static VPXI_HIT_LEN])
{
    struct bind b;
    int rc, r = 0;

    enter(s, vpxi, __func__);
    if ((r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_MEMBER_ROLE);
    b_text(&b, 1, vpxi);
    b_hit(&b, 2, hit);
    rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    if (rc == SQLITE_DONE)
        r = set_err(s, VPXI_ERR_NOT_FOUND, "not a member of %s", vpxi);
    else if (rc != SQLITE_ROW)
        r = db_err(s, rc, "member role");
    else if (value_of(&member_role, sqlite3_column_text(b.st, 0)) != STORE_MEMBER_USER)
        r = set_err(s, VPXI_ERR_PERM, "the owner of %s stays a member", vpxi);
    stmt_done(b.st);
    if (r == 0) {
        b = bind_start(s, ST_MEMBER_DELETE);
        b_text(&b, 1, vpxi);
        b_hit(&b, 2, hit);
        r = exec_bound(s, &b, "remove member", NULL);
    }
    return tx_end(s, r);
}

int store_member_list(struct store *s, const char *vpxi, struct store_member **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    *out = NULL;
    *n = 0;
    b = bind_start(s, ST_MEMBER_LIST);
    b_text(&b, 1, vpxi);
    r = read_list(s, &b, &member_row, &v, n, "list members");
    *out = v;
    return r;
}

/* ---- issued certificates --------------------------------------------------------------------- */

int store_issued_add(struct store *s, const struct store_issued *in, int64_t *serial)
{
    struct bind b;
    int r;

    enter(s, in, __func__);
    if (!serial)
        vpxi_misuse("store_issued_add: NULL serial");
    *serial = 0;
    if ((r = check_str(s, "VPXI name", in->vpxi, STORE_NAME_MAX, false)) != 0 ||
        (r = check_str(s, "tag", in->tag, STORE_TEXT_MAX, true)) != 0 ||
        (r = check_blob(s, "certificate", in->cert, in->cert_len)) != 0)
        return r;
    if (in->not_before > in->not_after)
        return set_err(s, VPXI_ERR_VALIDITY_EMPTY, "certificate ends before it begins");
    if ((r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_ISSUED_INSERT);
    b_text(&b, 1, in->vpxi);
    b_hit(&b, 2, in->subject_hit);
    b_text(&b, 3, in->tag);
    b_int(&b, 4, in->not_before);
    b_int(&b, 5, in->not_after);
    b_blob(&b, 6, in->cert, in->cert_len);
    b_int(&b, 7, in->issued_at ? in->issued_at : now_sec());
    r = exec_bound(s, &b, "record issued certificate", NULL);
    if (r == 0)
        *serial = sqlite3_last_insert_rowid(s->db);
    if ((r = tx_end(s, r)) != 0)
        *serial = 0;
    return r;
}

int store_issued_get(struct store *s, int64_t serial, struct store_issued *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_ISSUED_GET);
    b_int(&b, 1, serial);
    return read_one(s, &b, &issued_row, out, "issued certificate");
}

static int issued_list(struct store *s, struct bind *b, struct store_issued **out, size_t *n)
{
    void *v = NULL;
    int r = read_list(s, b, &issued_row, &v, n, "list issued certificates");

    *out = v;
    return r;
}

int store_issued_list_vpxi(struct store *s, const char *vpxi, struct store_issued **out, size_t *n)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_ISSUED_LIST_VPXI);
    b_text(&b, 1, vpxi);
    return issued_list(s, &b, out, n);
}

int store_issued_list_subject(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                              struct store_issued **out, size_t *n)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_ISSUED_LIST_SUBJECT);
    b_hit(&b, 1, hit);
    return issued_list(s, &b, out, n);
}

int store_issued_list_revoked(struct store *s, int64_t now, struct store_issued **out, size_t *n)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_ISSUED_LIST_REVOKED);
    b_int(&b, 1, now);
    return issued_list(s, &b, out, n);
}

int store_revoke(struct store *s, int64_t serial, const char *reason)
{
    struct bind b;
    int r;

    enter(s, s, __func__);
    if ((r = check_str(s, "reason", reason, STORE_TEXT_MAX, false)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_REVOKE);
    b_int(&b, 1, serial);
    b_int(&b, 2, now_sec());
    b_text(&b, 3, reason ? reason : "");
    if ((r = exec_bound(s, &b, "revoke", NULL)) == VPXI_ERR_EXISTS)
        set_err(s, r, "serial %lld is already revoked", (long long)serial);
    else if (r == VPXI_ERR_NOT_FOUND)
        set_err(s, r, "no serial %lld", (long long)serial);
    return tx_end(s, r);
}

/* ---- offers ---------------------------------------------------------------------------------- */

int store_offer_put(struct store *s, const struct store_offer *o)
{
    struct bind b;
    int r;

    enter(s, o, __func__);
    if ((r = check_blob(s, "offer", o->offer, o->offer_len)) != 0 || (r = tx_begin(s)) != 0)
        return r;
    b = bind_start(s, ST_OFFER_PUT);
    b_hit(&b, 1, o->peer_hit);
    b_blob(&b, 2, o->offer, o->offer_len);
    b_int(&b, 3, o->not_after);
    b_int(&b, 4, o->received ? o->received : now_sec());
    r = exec_bound(s, &b, "store offer", NULL);
    return tx_end(s, r);
}

int store_offer_get(struct store *s, const uint8_t peer_hit[static VPXI_HIT_LEN],
                    struct store_offer *out)
{
    struct bind b;

    enter(s, out, __func__);
    b = bind_start(s, ST_OFFER_GET);
    b_hit(&b, 1, peer_hit);
    return read_one(s, &b, &offer_row, out, "offer");
}

int store_offer_list(struct store *s, int64_t now, struct store_offer **out, size_t *n)
{
    struct bind b;
    void *v = NULL;
    int r;

    enter(s, out, __func__);
    b = bind_start(s, ST_OFFER_LIST);
    b_int(&b, 1, now);
    r = read_list(s, &b, &offer_row, &v, n, "list offers");
    *out = v;
    return r;
}

/* ---- integrity check ------------------------------------------------------------------------- */

/*
 * Each check is a constant query whose rows (first column, as text) are
 * findings. The invariants are those of store.h; the CHECK constraints make
 * most of them impossible through this API, so a finding means the file was
 * changed by something else (or a bug here).
 */
static const struct check {
    const char *what;
    const char *sql;
} checks[] = {
    { "foreign key", "SELECT \"table\" || ' rowid ' || coalesce(rowid, '?') || ' -> ' || "
                     "parent FROM pragma_foreign_key_check" },
    { "allocated resource without a VPXI",
      "SELECT id FROM resources WHERE state = 'allocated' AND vpxi IS NULL" },
    { "resource bound to a VPXI but not allocated",
      "SELECT id || ' (' || state || ') -> ' || vpxi FROM resources "
      "WHERE state <> 'allocated' AND vpxi IS NOT NULL" },
    { "resource allocated to a VPXI that is not live",
      "SELECT r.id || ' -> ' || r.vpxi || ' (' || coalesce(v.state, 'missing') || ')' "
      "FROM resources r LEFT JOIN vpxis v ON v.name = r.vpxi "
      "WHERE r.vpxi IS NOT NULL AND (v.state IS NULL OR v.state NOT IN " LIVE ")" },
    { "resource used by nodes of two live VPXIs",
      "SELECT n.resource || ': ' || group_concat(DISTINCT n.vpxi) FROM nodes n "
      "JOIN vpxis v ON v.name = n.vpxi WHERE v.state IN " LIVE " "
      "GROUP BY n.resource HAVING count(DISTINCT n.vpxi) > 1" },
    { "node of a live VPXI on a resource not allocated to it",
      "SELECT n.vpxi || '/' || n.name || ' on ' || n.resource FROM nodes n "
      "JOIN vpxis v ON v.name = n.vpxi WHERE v.state IN " LIVE " AND NOT EXISTS "
      "(SELECT 1 FROM resources r WHERE r.id = n.resource AND r.state = 'allocated' "
      "AND r.vpxi = n.vpxi)" },
    { "active VPXI without a node on one of its resources",
      "SELECT r.vpxi || ': ' || r.id FROM resources r JOIN vpxis v ON v.name = r.vpxi "
      "WHERE v.state = 'active' AND NOT EXISTS "
      "(SELECT 1 FROM nodes n WHERE n.vpxi = r.vpxi AND n.resource = r.id)" },
    { "live VPXI without resources",
      "SELECT name FROM vpxis v WHERE state IN " LIVE " AND NOT EXISTS "
      "(SELECT 1 FROM resources r WHERE r.vpxi = v.name)" },
    { "VPXI whose owner is not a member",
      "SELECT name FROM vpxis v WHERE NOT EXISTS (SELECT 1 FROM members m "
      "WHERE m.vpxi = v.name AND m.user_hit = v.owner_hit AND m.role = 'owner')" },
};

enum { CHECK_ROWS_MAX = 10 };

__attribute__((format(printf, 3, 4))) static void report_add(char *rep, size_t len, const char *fmt,
                                                             ...)
{
    size_t used;
    va_list ap;

    if (len == 0)
        return;
    used = strnlen(rep, len);
    if (used + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(rep + used, len - used, fmt, ap);
    va_end(ap);
}

/* Runs one check query; *found counts its rows. */
static int run_check(struct store *s, const char *what, const char *sql, bool integrity, char *rep,
                     size_t replen, unsigned *found)
{
    sqlite3_stmt *st = NULL;
    unsigned rows = 0;
    int rc;

    *found = 0;
    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return db_err(s, rc, what);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (integrity && t && !strcmp((const char *)t, "ok"))
            continue;
        if (rows++ < CHECK_ROWS_MAX)
            report_add(rep, replen, "%s: %s\n", what, t ? (const char *)t : "NULL");
    }
    if (rc != SQLITE_DONE) {
        int r = db_err(s, rc, what);
        sqlite3_finalize(st);
        return r;
    }
    sqlite3_finalize(st);
    if (rows > CHECK_ROWS_MAX)
        report_add(rep, replen, "%s: ... %u in all\n", what, rows);
    *found = rows;
    return 0;
}

int store_verify(struct store *s, char *report, size_t reportlen)
{
    unsigned found = 0, bad = 0;
    size_t i;
    int r;

    enter(s, s, __func__);
    if (reportlen > 0)
        report[0] = '\0';
    if ((r = run_check(s, "integrity", "PRAGMA integrity_check", true, report, reportlen,
                       &found)) != 0)
        return r;
    if (found > 0)
        return set_err(s, VPXI_ERR_BAD_FORMAT, "database damaged");
    for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if ((r = run_check(s, checks[i].what, checks[i].sql, false, report, reportlen, &found)) !=
            0)
            return r;
        bad += found;
    }
    if (bad > 0)
        return set_err(s, VPXI_ERR_BAD_STATE, "%u invariant violations", bad);
    report_add(report, reportlen, "ok");
    return 0;
}
