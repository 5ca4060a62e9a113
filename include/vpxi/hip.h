/*
 * hip.h - the HIPv2 control plane (RFC 7401, RFC 7402 ESP transport, SPKI
 * certificates in CERT parameters per RFC 6253), sans I/O.
 *
 * One struct vpxi_hip_host per local Host Identity. The caller (vpxid) owns
 * every socket, timer and the TUN device; this library only turns inputs into
 * outputs:
 *
 *   inputs   vpxi_hip_input()     a HIP packet received on UDP 10500, from the
 *                                 HIP header on (the 4-byte zero marker
 *                                 stripped by the caller)
 *            vpxi_hip_timer()     time passes (call at vpxi_hip_next_timeout())
 *            vpxi_hip_connect(), _close(), _rekey(), _renew_certs(),
 *            _set_locators(), _esp_seen()   local requests and data-plane news
 *   outputs  vpxi_hip_poll()      one output at a time, in order: a packet to
 *                                 send (prefix the 4 zero bytes) or an event
 *                                 (SAs to install, switch or delete, new
 *                                 validity, closure, failure)
 *
 * Outputs are produced in causal order: an event that installs SAs always
 * precedes the packet after which the peer may use them, so a caller that
 * handles outputs in order never drops the peer's first ESP packet.
 *
 * Times are int64 milliseconds on any clock the caller likes (monotonic is
 * best); only differences matter. Addresses are opaque struct
 * sockaddr_storage (AF_INET or AF_INET6 with the UDP port); the library
 * compares them, hashes them into the puzzle and copies them to outputs.
 *
 * Nothing is allocated for an unauthenticated peer: an I1 is answered from a
 * precomputed, pre-signed R1 (a memcpy, one HMAC for #I and the checksum);
 * an I2 creates an association only after the puzzle, HIP_MAC, signature and
 * the authorize() callback have all passed. Every dropped packet increments
 * one counter in vpxi_hip_stats.drops[], named by vpxi_hip_drop_name().
 *
 * Not thread-safe: one thread uses a host at a time. See docs/hip.md for the
 * protocol choices (KEYMAT layout, RHASH of suite 5, locators, ...).
 */
#ifndef VPXI_HIP_H
#define VPXI_HIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/err.h"
#include "vpxi/esp.h"
#include "vpxi/identity.h"

/* ---- wire constants ------------------------------------------------------ */

/* HIP packet types (RFC 7401 5.3, 7-bit field). */
enum vpxi_hip_packet_type {
    VPXI_HIP_I1 = 1,
    VPXI_HIP_R1 = 2,
    VPXI_HIP_I2 = 3,
    VPXI_HIP_R2 = 4,
    VPXI_HIP_UPDATE = 16,
    VPXI_HIP_NOTIFY = 17,
    VPXI_HIP_CLOSE = 18,
    VPXI_HIP_CLOSE_ACK = 19,
};

/* HIP parameter types; the low bit is the critical bit (RFC 7401 5.2). */
enum vpxi_hip_param_type {
    VPXI_HIP_P_ESP_INFO = 65, /* RFC 7402 */
    VPXI_HIP_P_R1_COUNTER = 129,
    VPXI_HIP_P_LOCATOR_SET = 193, /* RFC 8046 */
    VPXI_HIP_P_PUZZLE = 257,
    VPXI_HIP_P_SOLUTION = 321,
    VPXI_HIP_P_SEQ = 385,
    VPXI_HIP_P_ACK = 449,
    VPXI_HIP_P_DH_GROUP_LIST = 511,
    VPXI_HIP_P_DIFFIE_HELLMAN = 513,
    VPXI_HIP_P_HIP_CIPHER = 579,
    VPXI_HIP_P_ENCRYPTED = 641,
    VPXI_HIP_P_HOST_ID = 705,
    VPXI_HIP_P_HIT_SUITE_LIST = 715,
    VPXI_HIP_P_CERT = 768,         /* not critical */
    VPXI_HIP_P_NOTIFICATION = 832, /* not critical */
    VPXI_HIP_P_ECHO_REQUEST_SIGNED = 897,
    VPXI_HIP_P_ECHO_RESPONSE_SIGNED = 961,
    VPXI_HIP_P_TRANSPORT_FORMAT_LIST = 2049,
    VPXI_HIP_P_ESP_TRANSFORM = 4095, /* RFC 7402 */
    VPXI_HIP_P_HIP_MAC = 61505,
    VPXI_HIP_P_HIP_MAC_2 = 61569,
    VPXI_HIP_P_HIP_SIGNATURE_2 = 61633,
    VPXI_HIP_P_HIP_SIGNATURE = 61697,
    VPXI_HIP_P_ECHO_RESPONSE_UNSIGNED = 63425,
    VPXI_HIP_P_ECHO_REQUEST_UNSIGNED = 63661,
};

/* NOTIFICATION message types (RFC 7401 5.2.19, RFC 7402, RFC 6253, RFC 8046). */
enum vpxi_hip_notify_type {
    VPXI_HIP_N_UNSUPPORTED_CRITICAL_PARAMETER_TYPE = 1,
    VPXI_HIP_N_INVALID_SYNTAX = 7,
    VPXI_HIP_N_NO_DH_PROPOSAL_CHOSEN = 14,
    VPXI_HIP_N_INVALID_DH_CHOSEN = 15,
    VPXI_HIP_N_NO_HIP_PROPOSAL_CHOSEN = 16,
    VPXI_HIP_N_INVALID_HIP_CIPHER_CHOSEN = 17,
    VPXI_HIP_N_NO_ESP_PROPOSAL_CHOSEN = 18,
    VPXI_HIP_N_INVALID_ESP_TRANSFORM_CHOSEN = 19,
    VPXI_HIP_N_UNSUPPORTED_HIT_SUITE = 20,
    VPXI_HIP_N_AUTHENTICATION_FAILED = 24,
    VPXI_HIP_N_CHECKSUM_FAILED = 26,
    VPXI_HIP_N_HIP_MAC_FAILED = 28,
    VPXI_HIP_N_ENCRYPTION_FAILED = 32,
    VPXI_HIP_N_INVALID_HIT = 40,
    VPXI_HIP_N_BLOCKED_BY_POLICY = 42,
    VPXI_HIP_N_RESPONDER_BUSY_PLEASE_RETRY = 44,
    VPXI_HIP_N_LOCATOR_TYPE_UNSUPPORTED = 46,
    VPXI_HIP_N_CREDENTIALS_REQUIRED = 48,
    VPXI_HIP_N_INVALID_CERTIFICATE = 50,
    VPXI_HIP_N_I2_ACKNOWLEDGEMENT = 16384,
};

/* HIP_CIPHER IDs (for the ENCRYPTED parameter only). */
enum vpxi_hip_cipher {
    VPXI_HIP_CIPHER_NULL = 1, /* testing only: offered/accepted only if configured */
    VPXI_HIP_CIPHER_AES128_CBC = 2,
    VPXI_HIP_CIPHER_AES256_CBC = 4,
};

/* CERT parameter certificate type: SPKI, RFC 6253 (obsoleted by RFC 8002,
 * which has no SPKI type; see docs/hip.md). */
enum { VPXI_HIP_CERT_SPKI = 2 };

enum vpxi_hip_limits {
    VPXI_HIP_HDR_LEN = 40,         /* fixed header, bytes */
    VPXI_HIP_PACKET_MAX = 2048,    /* (Header Length 255 + 1) * 8 */
    VPXI_HIP_UDP_PORT = 10500,     /* RFC 5770/9028 hip-nat-t */
    VPXI_HIP_UDP_MARKER_LEN = 4,   /* zero bytes before a HIP header on UDP */
    VPXI_HIP_LIST_MAX = 6,         /* entries of a DH/cipher/ESP/HIT-suite list we use */
    VPXI_HIP_CERTS_MAX = 16,       /* CERT parameters in one packet */
    VPXI_HIP_LOCATORS_MAX = 8,     /* locators in a LOCATOR_SET */
    VPXI_HIP_RHASH_MAX = 48,       /* bytes, SHA-384 */
    VPXI_HIP_ECHO_MAX = 64,        /* opaque bytes of an ECHO parameter we answer */
    VPXI_HIP_NOTIFY_DATA_MAX = 64, /* notification data bytes kept in an event */
};

/* ---- states ---------------------------------------------------------------- */

/* RFC 7401 4.4 association states. */
enum vpxi_hip_state {
    VPXI_HS_UNASSOCIATED = 0, /* no state: I1s are answered from the R1 cache */
    VPXI_HS_I1_SENT = 1,      /* we sent I1; waiting for R1 (I1 retransmitted) */
    VPXI_HS_I2_SENT = 2,      /* we sent I2; waiting for R2 (I2 retransmitted) */
    VPXI_HS_R2_SENT = 3,      /* we sent R2; SAs installed; waiting for the first
                                 UPDATE/ESP from the peer or the EC timer */
    VPXI_HS_ESTABLISHED = 4,  /* SAs in use; UPDATE/NOTIFY/CLOSE processed */
    VPXI_HS_CLOSING = 5,      /* we sent CLOSE; waiting for CLOSE_ACK */
    VPXI_HS_CLOSED = 6,       /* peer sent CLOSE, we acked; lingering to re-ack */
    VPXI_HS_E_FAILED = 7,     /* exchange failed; lingering before deletion */
};

const char *vpxi_hip_state_name(enum vpxi_hip_state s);

/* ---- configuration --------------------------------------------------------- */

struct vpxi_hip_config {
    /* Preference lists (first = most preferred). */
    uint8_t dh_groups[VPXI_HIP_LIST_MAX]; /* default 7, 11, 3 */
    size_t n_dh_groups;
    uint16_t hip_ciphers[VPXI_HIP_LIST_MAX]; /* default 2, 4 (1 only if listed) */
    size_t n_hip_ciphers;
    uint16_t esp_suites[VPXI_HIP_LIST_MAX]; /* default 13, 8, 7 */
    size_t n_esp_suites;

    bool encrypt_host_id;     /* send ENCRYPTED{HOST_ID} in I2 (default: HOST_ID in
                                 the clear); both forms are always accepted */
    bool checksum_pseudo;     /* true: compute and verify the RFC 7401 checksum with
                                 the IP pseudo-header (raw IP); false (default, UDP
                                 encapsulation): send 0 and ignore on receive */
    bool allow_opportunistic; /* answer I1s with a NULL receiver HIT (default no) */

    /* Puzzle (RFC 7401 4.1.2, Appendix A). */
    unsigned puzzle_k;          /* base difficulty in bits (default 0) */
    unsigned puzzle_k_max;      /* ceiling of automatic raising (default 20) */
    unsigned puzzle_k_step;     /* bits added per overloaded second (default 2) */
    unsigned i2_rate_threshold; /* I2/s above which K is raised; 0 = never (default 500) */
    unsigned solve_k_max;       /* refuse R1s asking more bits than this (default 20;
                                   solving is synchronous: about 2^K hashes, 2^20 ~ 1.5 s) */
    int64_t r1_rotate_ms;       /* new R1 generation (DH keys, secret) every (default 300000) */
    uint64_t r1_counter_start;  /* first R1 generation counter (default 1); the
                                   daemon may persist it across restarts */

    /* Retransmission (I1, I2, UPDATE, CLOSE): rto_initial_ms * rto_factor^n,
     * capped at rto_max_ms. */
    int64_t rto_initial_ms;  /* default 500 */
    unsigned rto_factor;     /* default 2 */
    int64_t rto_max_ms;      /* default 8000 */
    unsigned i1_retries;     /* transmissions after the first (default 5) */
    unsigned i2_retries;     /* default 5 */
    unsigned update_retries; /* default 5; exhausted: association broken -> CLOSING */
    unsigned close_retries;  /* default 5 */

    int64_t r2_sent_ms;      /* EC: R2-SENT -> ESTABLISHED without traffic (default 10000) */
    int64_t closed_ms;       /* CLOSED linger before deletion (default 10000) */
    int64_t failed_ms;       /* E-FAILED linger before deletion (default 5000) */
    int64_t sa_retire_ms;    /* after a rekey, delete the old inbound SA this long
                                after the switch if no packet arrived on the new
                                one earlier (default 10000) */
    unsigned notify_per_sec; /* NOTIFY packets we send per second, at most (default 20) */
    size_t queue_max;        /* packets held before vpxi_hip_poll() (default 256); more
                                are dropped and retransmitted later. Events are never
                                dropped: the queue grows for them. */
    size_t assoc_max;        /* associations, at most (default 65536) */
};

/* Fills in the defaults above. */
void vpxi_hip_config_default(struct vpxi_hip_config *c);

/* ---- callbacks ------------------------------------------------------------- */

struct vpxi_hip_callbacks {
    void *ctx;
    /*
     * SPKI authorization of a peer whose HIP signature has just verified
     * (consume_i2, consume_r2, and certificate renewal in UPDATE), called
     * before any state is committed. certs[] are the peer's CERT parameter
     * contents in CERT ID order (each one canonical
     * (sequence (cert ..) (signature ..)) byte string); they live only during
     * the call. Return 0 and set *valid (the reduced validity, seconds as in
     * cert.h) to accept; return a VPXI_ERR_* to refuse, optionally setting
     * *notify (otherwise: CREDENTIALS_REQUIRED when ncerts is 0,
     * INVALID_CERTIFICATE for VPXI_ERR_BAD_SIG/BAD_FORMAT/EXPIRED/
     * NOT_YET_VALID/UNKNOWN_KEY/TRUNCATED, BLOCKED_BY_POLICY for anything
     * else). A NULL callback refuses everyone (fail closed).
     */
    int (*authorize)(void *ctx, const uint8_t peer_hit[VPXI_HIT_LEN], struct vpxi_key *peer_key,
                     const struct vpxi_iov *certs, size_t ncerts, struct vpxi_validity *valid,
                     uint16_t *notify);
    /*
     * Per-peer ESP transform policy (per-link security): true if suite may be
     * used with this peer. The Initiator picks its most preferred offered
     * suite that passes; the Responder refuses an I2 whose choice fails
     * (NOTIFY INVALID_ESP_TRANSFORM_CHOSEN). NULL allows every configured
     * suite.
     */
    bool (*esp_allowed)(void *ctx, const uint8_t peer_hit[VPXI_HIT_LEN],
                        const struct sockaddr_storage *peer, unsigned suite);
};

/* ---- outputs ---------------------------------------------------------------- */

enum vpxi_hip_event_type {
    /* The association is up: install sa (inbound spi_in with keys in, outbound
     * spi_out with keys out) and start sending. Emitted by the Responder when
     * it sends R2 (before the R2 in the queue), by the Initiator on R2. If
     * old_spi_in/old_spi_out are not 0 they belong to a previous incarnation
     * of this association: delete them. */
    VPXI_HIP_EV_ESTABLISHED = 1,
    /* UPDATE rekey: install the new inbound SA now (keep the old one). If
     * activate, send on the new outbound SA from now on and delete the old
     * outbound SA old_spi_out; otherwise an SA_ACTIVATE follows. The old
     * inbound SA old_spi_in is deleted on SA_RETIRE. */
    VPXI_HIP_EV_REKEYED = 2,
    /* Send on sa.spi_out from now on; delete the outbound SA old_spi_out. */
    VPXI_HIP_EV_SA_ACTIVATE = 3,
    /* Delete the inbound SA old_spi_in (a packet arrived on the new one, or
     * sa_retire_ms passed). */
    VPXI_HIP_EV_SA_RETIRE = 4,
    /* Certificates renewed by the peer were authorized: new validity. */
    VPXI_HIP_EV_AUTH_UPDATED = 5,
    /* The peer's address changed (authenticated packet or verified
     * locator): send to peer_addr from now on. */
    VPXI_HIP_EV_PEER_ADDRESS = 6,
    /* An authenticated NOTIFY arrived (informational). */
    VPXI_HIP_EV_NOTIFY = 7,
    /* The association is gone: delete all its SAs. */
    VPXI_HIP_EV_CLOSED = 8,
    /* The exchange failed (retries exhausted, refused, negotiation failure). */
    VPXI_HIP_EV_FAILED = 9,
};

/* Why an association closed or failed. */
enum vpxi_hip_reason {
    VPXI_HIP_R_NONE = 0,
    VPXI_HIP_R_LOCAL = 1,       /* vpxi_hip_close() */
    VPXI_HIP_R_PEER = 2,        /* the peer sent CLOSE */
    VPXI_HIP_R_TIMEOUT = 3,     /* retransmissions exhausted */
    VPXI_HIP_R_NOTIFY = 4,      /* the peer refused with an error NOTIFY (notify) */
    VPXI_HIP_R_REFUSED = 5,     /* we refused the peer (notify says why) */
    VPXI_HIP_R_NEGOTIATION = 6, /* no common DH group / cipher / ESP suite / HIT suite */
    VPXI_HIP_R_REPLACED = 7,    /* a new base exchange replaced it */
};

const char *vpxi_hip_reason_name(enum vpxi_hip_reason r);

/* The two SAs of an association (or of a rekey). */
struct vpxi_hip_sa {
    unsigned suite; /* ESP_TRANSFORM suite (esp.h) */
    uint32_t spi_in, spi_out;
    struct vpxi_esp_keys in, out; /* inbound (peer -> us) and outbound keys */
};

struct vpxi_hip_event {
    enum vpxi_hip_event_type type;
    uint8_t peer_hit[VPXI_HIT_LEN];
    struct vpxi_key *peer_key; /* ESTABLISHED: a reference owned by the output
                                  (released by vpxi_hip_output_clear; take
                                  your own with vpxi_key_get) */
    struct sockaddr_storage peer_addr, local_addr;
    bool initiator;                   /* we started the base exchange */
    struct vpxi_hip_sa sa;            /* ESTABLISHED, REKEYED, SA_ACTIVATE (spi_out) */
    bool activate;                    /* REKEYED: switch outbound now */
    uint32_t old_spi_in, old_spi_out; /* SAs to delete (0: none) */
    struct vpxi_validity valid;       /* ESTABLISHED, AUTH_UPDATED */
    enum vpxi_hip_reason reason;      /* CLOSED, FAILED */
    int err;                          /* FAILED: VPXI_ERR_* detail (or 0) */
    uint16_t notify;                  /* NOTIFY, FAILED/CLOSED by NOTIFY or refusal */
    uint8_t notify_data[VPXI_HIP_NOTIFY_DATA_MAX];
    size_t notify_data_len;
};

enum vpxi_hip_output_kind {
    VPXI_HIP_OUT_PACKET = 1,
    VPXI_HIP_OUT_EVENT = 2,
};

struct vpxi_hip_output {
    enum vpxi_hip_output_kind kind;
    /* PACKET: send pkt[0..len) to dst (from src unless src is AF_UNSPEC),
     * after the 4-byte zero marker. */
    struct sockaddr_storage dst, src;
    size_t len;
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    /* EVENT */
    struct vpxi_hip_event ev;
};

/* ---- statistics -------------------------------------------------------------- */

/* Why a received packet was dropped: one counter each. */
enum vpxi_hip_drop {
    VPXI_HIP_DROP_TRUNCATED = 0, /* shorter than its header/lengths say */
    VPXI_HIP_DROP_MALFORMED,     /* bad header bits, lengths, padding, grammar */
    VPXI_HIP_DROP_BAD_VERSION,   /* not HIP version 2 */
    VPXI_HIP_DROP_BAD_CHECKSUM,
    VPXI_HIP_DROP_UNKNOWN_CRITICAL, /* unknown or unexpected critical parameter */
    VPXI_HIP_DROP_ORDER,            /* parameters not in ascending type order */
    VPXI_HIP_DROP_DUPLICATE,        /* a parameter that may appear once appears twice */
    VPXI_HIP_DROP_NOT_FOR_US,       /* receiver HIT is not ours */
    VPXI_HIP_DROP_UNSUPPORTED,      /* HIT suite, algorithm, group we do not support */
    VPXI_HIP_DROP_BAD_PUZZLE,
    VPXI_HIP_DROP_BAD_SIG,
    VPXI_HIP_DROP_BAD_MAC,
    VPXI_HIP_DROP_BAD_HIT,      /* HIT does not match the HOST_ID */
    VPXI_HIP_DROP_BAD_KEY,      /* HOST_ID or DH public value unusable */
    VPXI_HIP_DROP_REPLAY,       /* replayed I2, old UPDATE, unmatched ACK/echo */
    VPXI_HIP_DROP_OLD_R1,       /* I2 for an R1 generation we no longer know */
    VPXI_HIP_DROP_NO_ASSOC,     /* no association with the sender */
    VPXI_HIP_DROP_WRONG_STATE,  /* packet type not acceptable in this state */
    VPXI_HIP_DROP_NEGOTIATION,  /* cipher/DH/ESP choice refused, downgrade */
    VPXI_HIP_DROP_AUTH_REFUSED, /* authorize() refused */
    VPXI_HIP_DROP_TIE_BREAK,    /* lost a simultaneous-open tie-break */
    VPXI_HIP_DROP_LIMIT,        /* queue full, association table full */
    VPXI_HIP_DROP_INTERNAL,     /* our own failure (allocation, crypto library) */
    VPXI_HIP_DROP_MAX
};

const char *vpxi_hip_drop_name(unsigned reason);

struct vpxi_hip_stats {
    uint64_t rx, tx;      /* HIP packets in (all) and out */
    uint64_t i1_answered; /* R1s sent */
    uint64_t bex_initiated, bex_completed, bex_failed;
    uint64_t rekeys, cert_renewals, closes;
    uint64_t notify_sent, notify_rate_limited;
    uint64_t drops[VPXI_HIP_DROP_MAX];
    unsigned puzzle_k;   /* difficulty in force now */
    uint64_t r1_counter; /* current R1 generation */
    size_t associations;
};

/* ---- the host ---------------------------------------------------------------- */

struct vpxi_hip_host;

/*
 * Creates a host for the private key key (a reference is taken): computes
 * the HIT and HI, and the first R1 generation (one signature per DH group).
 * cfg NULL = defaults; cb may be NULL (then every peer is refused).
 */
int vpxi_hip_host_new(struct vpxi_key *key, const struct vpxi_hip_config *cfg,
                      const struct vpxi_hip_callbacks *cb, int64_t now,
                      struct vpxi_hip_host **out) VPXI_WUR;
/* Wipes all keys and frees everything (queued outputs too). */
void vpxi_hip_host_free(struct vpxi_hip_host *h);

const uint8_t *vpxi_hip_host_hit(const struct vpxi_hip_host *h);
const struct vpxi_hip_stats *vpxi_hip_host_stats(const struct vpxi_hip_host *h);

/*
 * Sets our SPKI chain, sent in CERT parameters (type 2 = SPKI, one group,
 * count n, IDs 1..n) in I2, R2 and certificate-renewal UPDATEs. certs[i] are
 * canonical (sequence (cert ..) (signature ..)) byte strings; they are
 * copied. VPXI_ERR_TOO_LARGE if the largest packet that carries them (an I2
 * with the largest configured DH group, our key, SHA-384 puzzle and MAC,
 * ENCRYPTED{HOST_ID}) would exceed 2048 bytes, or n > VPXI_HIP_CERTS_MAX.
 * Does not send anything: see vpxi_hip_renew_certs().
 */
int vpxi_hip_set_certs(struct vpxi_hip_host *h, const struct vpxi_iov *certs, size_t n) VPXI_WUR;

/*
 * Starts a base exchange with peer_hit at peer (local: the address to send
 * from, or NULL). Sends I1 (queued) -> I1-SENT. VPXI_ERR_EXISTS if an
 * association is already being set up or established; VPXI_ERR_LIMIT if the
 * table is full.
 */
int vpxi_hip_connect(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                     const struct sockaddr_storage *peer, const struct sockaddr_storage *local,
                     int64_t now) VPXI_WUR;

/*
 * One received HIP packet (from the HIP header; the UDP zero marker
 * stripped), from src to dst (dst: our address the packet arrived on, or
 * NULL if unknown; it enters the puzzle #I and the pseudo-header checksum).
 * Returns 0 if the packet was processed, or the VPXI_ERR_* for which it was
 * dropped (already counted in the stats: the caller need not act on it).
 */
int vpxi_hip_input(struct vpxi_hip_host *h, const struct sockaddr_storage *src,
                   const struct sockaddr_storage *dst, const uint8_t *pkt, size_t len, int64_t now);

/* Runs what is due at now: retransmissions, state timers, R1 rotation,
 * puzzle difficulty, SA retirement. */
void vpxi_hip_timer(struct vpxi_hip_host *h, int64_t now);
/* When vpxi_hip_timer() should next be called (INT64_MAX: nothing pending).
 * May be <= now if outputs are waiting for queue space: poll, then call. */
int64_t vpxi_hip_next_timeout(const struct vpxi_hip_host *h);

/* Closes the association: CLOSE -> CLOSING (or deletion if no keys yet).
 * Emits CLOSED at once. VPXI_ERR_NOT_FOUND if there is none. */
int vpxi_hip_close(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                   int64_t now) VPXI_WUR;

/*
 * Rekeys the ESP SAs with an UPDATE (RFC 7402 6.8): with_dh draws a fresh
 * KEYMAT from a new DH exchange (same group), otherwise the next unused
 * KEYMAT bytes (a DH is forced when the KEYMAT is exhausted). If an UPDATE
 * is outstanding the rekey is queued behind it. VPXI_ERR_NOT_FOUND,
 * VPXI_ERR_BAD_STATE (not established).
 */
int vpxi_hip_rekey(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN], bool with_dh,
                   int64_t now) VPXI_WUR;

/*
 * Sends our current chain (vpxi_hip_set_certs) in an UPDATE to peer_hit, or
 * to every established peer if peer_hit is NULL (peers in R2-SENT get it
 * once ESTABLISHED). The peer re-authorizes and its authorize() result
 * extends the validity it holds for us. VPXI_ERR_NO_CHAIN if no chain is
 * set; VPXI_ERR_NOT_FOUND / VPXI_ERR_BAD_STATE for an unknown or not yet
 * established peer_hit.
 */
int vpxi_hip_renew_certs(struct vpxi_hip_host *h, const uint8_t *peer_hit, int64_t now) VPXI_WUR;

/*
 * Announces our locators (addresses with UDP ports; the first is preferred)
 * to every established peer in an UPDATE with LOCATOR_SET. A peer checks a
 * new preferred locator with an ECHO_REQUEST_SIGNED before using it.
 */
int vpxi_hip_set_locators(struct vpxi_hip_host *h, const struct sockaddr_storage *locs, size_t n,
                          int64_t now) VPXI_WUR;

/*
 * The data plane authenticated an ESP packet from peer_hit on our inbound
 * SPI spi_in, coming from src. Moves R2-SENT to ESTABLISHED, updates the
 * peer address (PEER_ADDRESS event) if src differs, completes a pending
 * rekey switch (SA_ACTIVATE) and retires the previous inbound SA
 * (SA_RETIRE) when spi_in is the new one. Cheap when nothing changes.
 */
int vpxi_hip_esp_seen(struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                      uint32_t spi_in, const struct sockaddr_storage *src, int64_t now);

/* Takes the oldest output: 0, or VPXI_ERR_NOT_FOUND when there is none.
 * Call vpxi_hip_output_clear() when done with it (it holds keys). Drain
 * the outputs after every call into the library. */
int vpxi_hip_poll(struct vpxi_hip_host *h, struct vpxi_hip_output *out);
/* Wipes the keys in an output and releases its key reference. */
void vpxi_hip_output_clear(struct vpxi_hip_output *out);

/* Snapshot of one association, for status displays. */
struct vpxi_hip_peer_info {
    enum vpxi_hip_state state;
    bool initiator;
    struct sockaddr_storage peer_addr, local_addr;
    unsigned esp_suite, dh_group, hip_cipher;
    uint32_t spi_in, spi_out;
    struct vpxi_validity valid;
    uint32_t update_id; /* our next Update ID */
};

int vpxi_hip_peer_info(const struct vpxi_hip_host *h, const uint8_t peer_hit[VPXI_HIT_LEN],
                       struct vpxi_hip_peer_info *out) VPXI_WUR;

#endif
