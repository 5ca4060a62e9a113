/*
 * store.h - the registrar's persistent state in SQLite.
 *
 * One file, WAL journal, synchronous=FULL: when a call that writes returns
 * 0, its effect is on stable storage (the WAL is fsync'ed at every commit),
 * so it survives a crash of the process and a loss of power. Every call that
 * writes is one transaction (BEGIN IMMEDIATE ... COMMIT): it happens whole or
 * not at all, and on any error the database is left as it was before the
 * call. Foreign keys are enforced; the schema is versioned (PRAGMA
 * user_version) and migrated forward on open.
 *
 * Issuance order: the caller signs a certificate first, then records it with
 * store_issued_add(), and only when that returned 0 lets the certificate
 * leave the registrar. A crash between signing and recording loses a
 * certificate nobody has seen; a certificate somebody holds is always in the
 * database, with its serial, for renewal, audit and revocation.
 *
 * Errors: every call returns 0 or a negative VPXI_ERR_* (include/vpxi/err.h);
 * store_errmsg() then holds the detail (SQLite's message or the reason of a
 * refusal). SQLite result codes map as: FULL (and ENOSPC) -> NOSPACE,
 * IOERR -> IO, BUSY/LOCKED (after the busy timeout) -> TIMEOUT, NOMEM ->
 * NOMEM, READONLY/PERM/AUTH -> PERM, CORRUPT/NOTADB -> BAD_FORMAT, TOOBIG ->
 * TOO_LARGE, CANTOPEN -> SYS; constraint violations: primary key/unique ->
 * EXISTS, foreign key -> NOT_FOUND, check/not null -> INVALID; anything else
 * -> INTERNAL. If a COMMIT fails because the disk failed while syncing, the
 * transaction may or may not be on disk; it is never partly there.
 *
 * Records: the same struct carries input and output. As input the store
 * reads the fields a call documents and ignores the others (`owned`
 * included). As output every pointer in it points into one allocation held
 * by `owned`; release it with store_<record>_clear(); lists are arrays
 * released with store_<record>_list_free(). Pointers that may be NULL say so.
 * Times are seconds since the Unix epoch; a zero creation time means "now".
 *
 * Threads: a struct store is used by one thread at a time. Several
 * processes (or several struct store in one process) may open the same file:
 * readers never block, writers wait up to the busy timeout (5 s by default),
 * then fail with VPXI_ERR_TIMEOUT.
 */
#ifndef VPXID_REGISTRAR_STORE_H
#define VPXID_REGISTRAR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"
#include "vpxi/identity.h"

enum store_limits {
    STORE_SCHEMA_VERSION = 1,        /* PRAGMA user_version written by this code */
    STORE_NAME_MAX = 128,            /* bytes: names, ids, sites, communities, roles */
    STORE_TEXT_MAX = 4096,           /* bytes: contact, agreement, tag, reason, underlay, image */
    STORE_SPEC_MAX = 65536,          /* bytes: a VPXI's specification */
    STORE_BLOB_MAX = 65536,          /* bytes: keys, certificate sequences, offers */
    STORE_VPXI_RESOURCES_MAX = 4096, /* resources one VPXI may allocate */
    STORE_BUSY_TIMEOUT_MS = 5000,    /* default wait for another writer */
    STORE_ERRMSG_MAX = 256,          /* bytes of store_errmsg() */
};

struct store;

/* ---- opening, closing, checking ------------------------------------------------------------ */

/*
 * Opens (creating if needed, mode 0600) the database at `path`, sets WAL,
 * synchronous=FULL, foreign keys and the busy timeout, and migrates the schema
 * to STORE_SCHEMA_VERSION. A database written by a newer version
 * (user_version above ours) is refused with VPXI_ERR_UNSUPPORTED; a file that
 * is not a database gives VPXI_ERR_BAD_FORMAT. An existing file readable by
 * group or others is narrowed to 0600. On failure *out is NULL and `err`
 * (if errlen > 0) holds the reason.
 */
int store_open(const char *path, struct store **out, char *err, size_t errlen) VPXI_WUR;
/* Closes (NULL is fine). A transaction left open by store_tx_begin is rolled back. */
void store_close(struct store *s);
/* Detail of the last error ("" after a success); valid until the next call. */
const char *store_errmsg(const struct store *s);
/* Milliseconds a writer waits for another connection's write transaction. */
void store_set_busy_timeout(struct store *s, int ms);

/*
 * Integrity check: PRAGMA integrity_check and foreign_key_check, then the
 * registrar's invariants:
 *   - a resource is 'allocated' if and only if it names a VPXI, and that VPXI is live
 *     (creating, active or ending);
 *   - no resource is used by nodes of two live VPXIs, and every node of a live VPXI
 *     runs on a resource allocated to that VPXI;
 *   - every active VPXI has a node on each of its resources;
 *   - every live VPXI has resources, and every VPXI its owner as a member.
 * Returns 0 if all hold, VPXI_ERR_BAD_FORMAT if SQLite finds the file damaged,
 * VPXI_ERR_BAD_STATE if an invariant is broken (or another error from
 * running the checks). `report` (if reportlen > 0) receives one line per
 * finding (at most 10 per check), truncated to fit, or "ok".
 */
int store_verify(struct store *s, char *report, size_t reportlen) VPXI_WUR;

/*
 * Caller transactions, to make several calls one atomic and durable unit
 * (e.g. store_vpxi_create and its store_node_add calls). Inside one, each call
 * is still atomic on its own (a failed call is undone through a savepoint and
 * the transaction goes on), but nothing is durable until store_tx_commit
 * returns 0. No nesting. If SQLite itself aborted the transaction (disk full,
 * I/O error), store_tx_commit returns VPXI_ERR_BAD_STATE and nothing of it
 * was kept.
 */
int store_tx_begin(struct store *s) VPXI_WUR;
int store_tx_commit(struct store *s) VPXI_WUR;
void store_tx_rollback(struct store *s);

/* ---- users ----------------------------------------------------------------------------------- */

enum store_user_status {
    STORE_USER_PENDING,  /* enrolled, waiting for an administrator */
    STORE_USER_APPROVED, /* may ask for VPXIs */
    STORE_USER_REFUSED,
};

struct store_user {
    uint8_t hit[VPXI_HIT_LEN];
    const uint8_t *pubkey; /* canonical S-expression of the public key */
    size_t pubkey_len;
    const char *name;      /* non-empty, up to STORE_NAME_MAX */
    const char *contact;   /* NULL (as input) or up to STORE_TEXT_MAX */
    const char *agreement; /* NULL (as input) or up to STORE_TEXT_MAX: what the user accepted */
    enum store_user_status status;
    int64_t created;
    void *owned;
};

/* Inserts a user with the given status; VPXI_ERR_EXISTS if the HIT is enrolled. */
int store_user_enroll(struct store *s, const struct store_user *u) VPXI_WUR;
/* VPXI_ERR_NOT_FOUND if unknown. */
int store_user_get(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                   struct store_user *out) VPXI_WUR;
/* Approve or refuse (or put back to pending). VPXI_ERR_NOT_FOUND if unknown. */
int store_user_set_status(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                          enum store_user_status status) VPXI_WUR;
/* All users, or those with `status` (pass -1 for all), in enrolment order. */
int store_user_list(struct store *s, int status, struct store_user **out, size_t *n) VPXI_WUR;
void store_user_clear(struct store_user *u);
void store_user_list_free(struct store_user *v, size_t n);

/* ---- host agents ----------------------------------------------------------------------------- */

struct store_hostagent {
    uint8_t hit[VPXI_HIT_LEN];
    const uint8_t *pubkey;
    size_t pubkey_len;
    const char *site, *community;
    int64_t registered; /* first seen */
    int64_t last_seen;  /* as input: 0 = now */
    void *owned;
};

/*
 * Records a host agent, or updates its site, community and last_seen. A
 * different public key under a known HIT is refused (VPXI_ERR_PERM).
 */
int store_hostagent_upsert(struct store *s, const struct store_hostagent *h) VPXI_WUR;
int store_hostagent_get(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                        struct store_hostagent *out) VPXI_WUR;
void store_hostagent_clear(struct store_hostagent *h);

/* ---- virtual resources ----------------------------------------------------------------------- */

enum store_resource_state {
    STORE_RES_FREE,      /* may be allocated */
    STORE_RES_ALLOCATED, /* to the VPXI in `vpxi` */
    STORE_RES_LENT,      /* delegated to a peer registrar */
    STORE_RES_GONE,      /* withdrawn by its host agent (or expired) */
};

struct store_resource {
    const char *id;                  /* unique, up to STORE_NAME_MAX */
    const uint8_t *hostagent_hit;    /* VPXI_HIT_LEN bytes, or NULL for a borrowed resource */
    const uint8_t *origin_registrar; /* HIT of the peer registrar it was borrowed from, or NULL */
    const char *site, *community;
    int64_t cpu_milli, memory_mb;
    const uint8_t *cert; /* the certificate sequence delegating the resource to us */
    size_t cert_len;
    int64_t not_after; /* end of that delegation */
    enum store_resource_state state;
    const char *vpxi; /* the VPXI it is allocated to, or NULL */
    void *owned;
};

/*
 * Registers a resource, or renews it (site, community, capacities, cert,
 * not_after). A new resource starts free; a known one keeps its state, except
 * that a 'gone' one becomes free again. The owner (hostagent_hit and
 * origin_registrar) of a known id never changes: VPXI_ERR_PERM. The host agent
 * must be recorded first (VPXI_ERR_NOT_FOUND). At least one of hostagent_hit
 * and origin_registrar is set.
 */
int store_resource_register(struct store *s, const struct store_resource *r) VPXI_WUR;
int store_resource_get(struct store *s, const char *id, struct store_resource *out) VPXI_WUR;
/*
 * Moves a resource between free, lent and gone. Allocation goes through
 * store_vpxi_create and release through the end of its VPXI: an allocated
 * resource gives VPXI_ERR_BAD_STATE, asking for ALLOCATED VPXI_ERR_INVALID.
 */
int store_resource_set_state(struct store *s, const char *id,
                             enum store_resource_state state) VPXI_WUR;

struct store_resource_filter {
    const char *site;      /* NULL: any */
    const char *community; /* NULL: any */
    int64_t min_cpu_milli, min_memory_mb;
    int64_t valid_until; /* the delegation must last at least until then (0: any) */
    size_t limit;        /* at most this many (0: no limit) */
};

/* Free resources matching `f`, smallest first (cpu, memory, id): best fit. */
int store_resource_find_free(struct store *s, const struct store_resource_filter *f,
                             struct store_resource **out, size_t *n) VPXI_WUR;
/* The resources allocated to a VPXI, by id. */
int store_resource_list_vpxi(struct store *s, const char *vpxi, struct store_resource **out,
                             size_t *n) VPXI_WUR;
void store_resource_clear(struct store_resource *r);
void store_resource_list_free(struct store_resource *v, size_t n);

/* ---- VPXIs ----------------------------------------------------------------------------------- */

enum store_vpxi_state {
    STORE_VPXI_CREATING, /* resources allocated, nodes being set up */
    STORE_VPXI_ACTIVE,   /* every resource has its node */
    STORE_VPXI_ENDING,   /* nodes being torn down; resources still held */
    STORE_VPXI_ENDED,    /* over; resources released */
    STORE_VPXI_FAILED,   /* over after an error; resources released */
};

struct store_vpxi {
    const char *name; /* unique, up to STORE_NAME_MAX */
    uint8_t owner_hit[VPXI_HIT_LEN];
    const char *spec; /* the request as accepted, up to STORE_SPEC_MAX */
    int64_t not_before, not_after;
    enum store_vpxi_state state;
    int64_t created;
    const char *reason; /* why it ended or failed ("" otherwise) */
    void *owned;
};

/*
 * Creates a VPXI in state CREATING (v->state and v->reason are ignored),
 * allocates exactly the n resources listed to it and adds its owner as a
 * member with role owner, in one transaction. If any resource is not free
 * (any more), nothing changes and the call fails with VPXI_ERR_BAD_STATE
 * (VPXI_ERR_NOT_FOUND for an unknown id, VPXI_ERR_DUPLICATE for an id listed
 * twice, VPXI_ERR_EXISTS for a name in use); store_errmsg() names the
 * resource. n is 1..STORE_VPXI_RESOURCES_MAX. The resources' own validity is
 * not looked at here: choose them with store_resource_find_free and
 * valid_until = v->not_after.
 */
int store_vpxi_create(struct store *s, const struct store_vpxi *v, const char *const *resource_ids,
                      size_t n) VPXI_WUR;
int store_vpxi_get(struct store *s, const char *name, struct store_vpxi *out) VPXI_WUR;
/*
 * Changes the state and records `reason` (NULL: ""). Allowed: creating ->
 * active | ending | ended | failed; active -> ending | ended | failed;
 * ending -> ended | failed; ended and failed are final (VPXI_ERR_BAD_STATE).
 * Becoming active needs a node on every allocated resource
 * (VPXI_ERR_BAD_STATE otherwise). Becoming ended or failed releases the
 * VPXI's resources (free again) in the same transaction.
 */
int store_vpxi_set_state(struct store *s, const char *name, enum store_vpxi_state state,
                         const char *reason) VPXI_WUR;
/* store_vpxi_set_state(s, name, STORE_VPXI_ENDED, reason). */
int store_vpxi_end(struct store *s, const char *name, const char *reason) VPXI_WUR;
/* All VPXIs, or those in `state` (pass -1 for all), oldest first. */
int store_vpxi_list(struct store *s, int state, struct store_vpxi **out, size_t *n) VPXI_WUR;
/* The VPXIs the user is a member of (owner included), oldest first. */
int store_vpxi_list_for_user(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                             struct store_vpxi **out, size_t *n) VPXI_WUR;
void store_vpxi_clear(struct store_vpxi *v);
void store_vpxi_list_free(struct store_vpxi *v, size_t n);

/* ---- nodes ----------------------------------------------------------------------------------- */

enum store_node_state {
    STORE_NODE_PENDING,  /* asked of its host agent */
    STORE_NODE_STARTING, /* host agent creating it */
    STORE_NODE_RUNNING,
    STORE_NODE_STOPPED,
    STORE_NODE_FAILED,
};

struct store_node {
    const char *vpxi, *name; /* together unique */
    const char *resource;    /* the resource it runs on */
    const char *group_name, *site, *role;
    const uint8_t *hit;   /* VPXI_HIT_LEN bytes once the node has an identity, or NULL */
    const char *ipv4;     /* overlay address, or NULL */
    const char *underlay; /* underlay locator "addr:port", or NULL */
    const char *image;
    enum store_node_state state;
    void *owned;
};

/*
 * Adds a node of a creating or active VPXI (else VPXI_ERR_BAD_STATE; unknown
 * VPXI: VPXI_ERR_NOT_FOUND) on a resource allocated to that VPXI (else
 * VPXI_ERR_BAD_STATE). group_name, site, role and image may be NULL ("").
 */
int store_node_add(struct store *s, const struct store_node *nd) VPXI_WUR;
/* Sets the node's state, and its HIT and underlay unless NULL. VPXI_ERR_NOT_FOUND if unknown. */
int store_node_update(struct store *s, const char *vpxi, const char *name,
                      const uint8_t *hit /* VPXI_HIT_LEN or NULL */, const char *underlay,
                      enum store_node_state state) VPXI_WUR;
int store_node_get(struct store *s, const char *vpxi, const char *name,
                   struct store_node *out) VPXI_WUR;
/* The nodes of a VPXI, by name. */
int store_node_list(struct store *s, const char *vpxi, struct store_node **out, size_t *n) VPXI_WUR;
void store_node_clear(struct store_node *nd);
void store_node_list_free(struct store_node *v, size_t n);

/* ---- members --------------------------------------------------------------------------------- */

enum store_member_role {
    STORE_MEMBER_OWNER, /* asked for the VPXI; added by store_vpxi_create */
    STORE_MEMBER_USER,
};

struct store_member {
    const char *vpxi;
    uint8_t user_hit[VPXI_HIT_LEN];
    enum store_member_role role;
    int64_t added;
    void *owned;
};

/* VPXI_ERR_EXISTS if already a member, VPXI_ERR_NOT_FOUND if no such VPXI. */
int store_member_add(struct store *s, const char *vpxi, const uint8_t hit[static VPXI_HIT_LEN],
                     enum store_member_role role) VPXI_WUR;
/* Removes a user member (the owner stays: VPXI_ERR_PERM). VPXI_ERR_NOT_FOUND if none. */
int store_member_remove(struct store *s, const char *vpxi,
                        const uint8_t hit[static VPXI_HIT_LEN]) VPXI_WUR;
int store_member_list(struct store *s, const char *vpxi, struct store_member **out,
                      size_t *n) VPXI_WUR;
void store_member_list_free(struct store_member *v, size_t n);

/* ---- issued certificates and revocations ---------------------------------------------------- */

struct store_issued {
    int64_t serial;   /* assigned by the store, never reused */
    const char *vpxi; /* the VPXI it belongs to, or NULL */
    uint8_t subject_hit[VPXI_HIT_LEN];
    const char *tag; /* the granted tag in advanced form, for listing and audit */
    int64_t not_before, not_after;
    const uint8_t *cert; /* the full certificate sequence as handed out */
    size_t cert_len;
    int64_t issued_at;
    bool revoked;              /* output only */
    int64_t revoked_at;        /* output only */
    const char *revoke_reason; /* output only; NULL unless revoked */
    void *owned;
};

/*
 * Records a signed certificate (in->serial, issued_at when 0, and the
 * revocation fields are ignored) and returns its serial. When it returns 0 the
 * record is durable, and only then may the certificate be sent (see the top
 * of this file); inside a caller transaction, only after store_tx_commit.
 */
int store_issued_add(struct store *s, const struct store_issued *in, int64_t *serial) VPXI_WUR;
int store_issued_get(struct store *s, int64_t serial, struct store_issued *out) VPXI_WUR;
/* By serial. */
int store_issued_list_vpxi(struct store *s, const char *vpxi, struct store_issued **out,
                           size_t *n) VPXI_WUR;
int store_issued_list_subject(struct store *s, const uint8_t hit[static VPXI_HIT_LEN],
                              struct store_issued **out, size_t *n) VPXI_WUR;
/* Revoked certificates still valid at `now`: what resources must be told. */
int store_issued_list_revoked(struct store *s, int64_t now, struct store_issued **out,
                              size_t *n) VPXI_WUR;
/* VPXI_ERR_NOT_FOUND for an unknown serial, VPXI_ERR_EXISTS if already revoked. */
int store_revoke(struct store *s, int64_t serial, const char *reason) VPXI_WUR;
void store_issued_clear(struct store_issued *i);
void store_issued_list_free(struct store_issued *v, size_t n);

/* ---- offers from peer registrars ------------------------------------------------------------ */

struct store_offer {
    uint8_t peer_hit[VPXI_HIT_LEN];
    const uint8_t *offer; /* the peer's signed offer as received */
    size_t offer_len;
    int64_t not_after;
    int64_t received; /* as input: 0 = now */
    void *owned;
};

/* Keeps the latest offer of each peer (replacing the previous one). */
int store_offer_put(struct store *s, const struct store_offer *o) VPXI_WUR;
int store_offer_get(struct store *s, const uint8_t peer_hit[static VPXI_HIT_LEN],
                    struct store_offer *out) VPXI_WUR;
/* Offers still valid at `now`, by peer HIT. */
int store_offer_list(struct store *s, int64_t now, struct store_offer **out, size_t *n) VPXI_WUR;
void store_offer_clear(struct store_offer *o);
void store_offer_list_free(struct store_offer *v, size_t n);

/* ---- names of states, as stored ------------------------------------------------------------ */

const char *store_user_status_name(enum store_user_status st);
const char *store_resource_state_name(enum store_resource_state st);
const char *store_vpxi_state_name(enum store_vpxi_state st);
const char *store_node_state_name(enum store_node_state st);
const char *store_member_role_name(enum store_member_role role);

#endif
