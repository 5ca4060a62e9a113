/*
 * hip_int.h - internals shared by the files of lib/hip/:
 *
 *   wire.c     header and TLV codec, per-packet parameter rules, parameter
 *              decoders and encoders, checksum
 *   auth.c     HIP_MAC, HIP_MAC_2, HIP_SIGNATURE, HIP_SIGNATURE_2 over packet spans
 *   puzzle.c   #I from the R1 secrets, solving and checking #J
 *   keymat.c   RHASH per HIT suite, HKDF KEYMAT, HIP and ESP key drawing
 *   r1.c       R1 generations: precomputed, pre-signed R1s, rotation, difficulty
 *   bex.c      I1, R1, I2, R2: one create_/consume_ pair per packet
 *   update.c   UPDATE: rekey, certificate renewal, locators, address checks
 *   close.c    CLOSE, CLOSE_ACK, NOTIFY
 *   host.c     host object, association table, input dispatch, timers,
 *              output queue, counters
 *
 * Nothing here is part of the public API; tests include it to reach the
 * codec and the crypto helpers directly.
 */
#ifndef VPXI_HIP_INT_H
#define VPXI_HIP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/buf.h"
#include "vpxi/hip.h"

enum hip_wire {
    HIP_NEXT_HEADER = 59, /* IPPROTO_NONE */
    HIP_VERSION = 2,
    HIP_VER_BYTE = 0x21,    /* version 2, RES 000, fixed bit 1 */
    HIP_CONTROL_A = 0x0001, /* anonymous HI */
    HIP_PROTO = 139,        /* IP protocol number (pseudo-header) */
    HIP_TLV_HDR = 4,        /* Type + Length */
    HIP_SIG_HDR = 2,        /* SIG alg */
    HIP_ESP_INFO_LEN = 12,
    HIP_R1_COUNTER_LEN = 12,
    HIP_SEQ_LEN = 4,
    HIP_PUZZLE_HDR = 4,  /* #K, Lifetime, Opaque */
    HIP_HOST_ID_HDR = 6, /* HI Length, DI-Type|DI Length, Algorithm */
    HIP_CERT_HDR = 4,    /* group, count, id, type */
    HIP_ENC_HDR = 4,     /* Reserved */
    HIP_NOTIFY_HDR = 4,  /* Reserved, type */
    HIP_AES_IV_LEN = 16,
    HIP_AES_BLOCK = 16,
    HIP_TF_ESP = 4095,     /* TRANSPORT_FORMAT_LIST entry for ESP */
    HIP_LOC_TYPE_IPV6 = 0, /* RFC 8046 locator types */
    HIP_LOC_TYPE_SPI_IPV6 = 1,
    HIP_LOC_TYPE_TRANSPORT = 2, /* RFC 5770 5.7 transport locator (port) */
    HIP_LOC_HDR = 8,
    HIP_LOC_T0_LEN = 8 + 16,
    HIP_LOC_T1_LEN = 8 + 4 + 16,
    HIP_LOC_T2_LEN = 8 + 28,
    HIP_LOC_PREFERRED = 0x01,
    HIP_UDP = 17,
};

enum hip_int_limits {
    HIP_PARAMS_MAX = 48,       /* TLVs kept per packet */
    HIP_UNSIGNED_ECHO_MAX = 1, /* ECHO_*_UNSIGNED per packet (middleboxes add them) */
    HIP_LIST_PARSE_MAX = 16,   /* entries accepted in a received list */
    HIP_ACK_MAX = 16,
    HIP_NOTIFICATIONS_MAX = 8,
    HIP_SECRET_LEN = 32,
    HIP_SPI_MIN = 256, /* RFC 4303: 1..255 reserved */
    HIP_ECHO_NONCE_LEN = 16,
    HIP_REPLAY_RING = 1024, /* accepted (#I, #J) remembered per host */
    HIP_REPLAY_TAG = 16,
    HIP_ADDR_BYTES_MAX = 19, /* family | port | IPv6 address */
    HIP_HOST_ID_TLV_MAX = 16 + VPXI_HI_MAX,
    HIP_HIP_ENC_MAX = 32,         /* AES-256 */
    HIP_KEYMAT_BLOCKS_MAX = 255,  /* HKDF */
    HIP_KEYMAT_INDEX_MAX = 65535, /* ESP_INFO KEYMAT Index is 16 bits */
    HIP_NOTIFY_DATA_WIRE_MAX = 512,
};

/* ---- parsed packets (wire.c) ------------------------------------------------- */

struct hip_param {
    uint16_t type;
    uint16_t len;     /* Length field: contents only */
    const uint8_t *v; /* contents, borrowed from the packet */
    size_t off;       /* offset of the TLV in the packet */
    size_t size;      /* TLV size with Type, Length and padding */
};

struct hip_msg {
    const uint8_t *pkt;
    size_t len;
    uint8_t type;
    uint16_t controls;
    uint16_t csum;
    const uint8_t *shit, *rhit; /* sender's and receiver's HIT */
    struct hip_param p[HIP_PARAMS_MAX];
    size_t n;
    uint16_t bad_type; /* on VPXI_ERR_UNKNOWN_CRITICAL: the parameter type */
    int drop;          /* on failure: VPXI_HIP_DROP_* */
};

/* Header and TLV structure, version, fixed bits, lengths, order, padding
 * presence, which parameters this packet type may carry and how often,
 * per-type length rules. On failure m->drop says which counter. */
int hip_msg_parse(struct hip_msg *m, const uint8_t *pkt, size_t len) VPXI_WUR;
/* First parameter of a type, or NULL. */
const struct hip_param *hip_msg_find(const struct hip_msg *m, uint16_t type);
/* Number of parameters of a type; *first receives the first (or NULL). */
size_t hip_msg_count(const struct hip_msg *m, uint16_t type, const struct hip_param **first);

/* Parameter decoders (untrusted; exact lengths). */
struct hip_esp_info {
    uint16_t keymat_index;
    uint32_t old_spi, new_spi;
};
int hip_get_esp_info(const struct hip_param *p, struct hip_esp_info *out) VPXI_WUR;
int hip_get_r1_counter(const struct hip_param *p, uint64_t *counter) VPXI_WUR;
struct hip_puzzle {
    uint8_t k, lifetime;
    uint16_t opaque;
    const uint8_t *i; /* n bytes */
    const uint8_t *j; /* SOLUTION only */
};
/* n = RHASH length: the Length must be exactly 4 + n (PUZZLE), 4 + 2n (SOLUTION). */
int hip_get_puzzle(const struct hip_param *p, size_t n, struct hip_puzzle *out) VPXI_WUR;
int hip_get_solution(const struct hip_param *p, size_t n, struct hip_puzzle *out) VPXI_WUR;
int hip_get_dh(const struct hip_param *p, uint8_t *group, const uint8_t **pub,
               size_t *publen) VPXI_WUR;
int hip_get_host_id(const struct hip_param *p, uint16_t *alg, const uint8_t **hi,
                    size_t *hilen) VPXI_WUR;
/* A list of 8-bit values (DH_GROUP_LIST, HIT_SUITE_LIST). */
int hip_get_u8_list(const struct hip_param *p, uint8_t *out, size_t max, size_t *n);
/* A list of 16-bit values after reserved bytes (HIP_CIPHER 0, ESP_TRANSFORM 2,
 * TRANSPORT_FORMAT_LIST 0, ACK 0 with 32-bit entries: see hip_get_acks). */
int hip_get_u16_list(const struct hip_param *p, size_t reserved, uint16_t *out, size_t max,
                     size_t *n) VPXI_WUR;
int hip_get_acks(const struct hip_param *p, uint32_t *out, size_t max, size_t *n) VPXI_WUR;
int hip_get_u32(const struct hip_param *p, uint32_t *v) VPXI_WUR; /* SEQ */
int hip_get_sig(const struct hip_param *p, uint16_t *alg, const uint8_t **sig,
                size_t *len) VPXI_WUR;
struct hip_cert {
    uint8_t group, count, id, type;
    const uint8_t *data;
    size_t len;
};
int hip_get_cert(const struct hip_param *p, struct hip_cert *out) VPXI_WUR;
int hip_get_notification(const struct hip_param *p, uint16_t *type, const uint8_t **data,
                         size_t *len) VPXI_WUR;
struct hip_locator {
    uint8_t traffic, type, preferred;
    uint32_t lifetime;
    struct sockaddr_storage addr; /* with port (10500 for types 0 and 1) */
};
int hip_get_locators(const struct hip_param *p, struct hip_locator *out, size_t max,
                     size_t *n) VPXI_WUR;

/* Encoders on a fixed writer over a VPXI_HIP_PACKET_MAX buffer. */
void hip_put_header(struct vpxi_wr *w, uint8_t type, uint16_t controls,
                    const uint8_t shit[static VPXI_HIT_LEN],
                    const uint8_t rhit[static VPXI_HIT_LEN]);
/* Writes a whole TLV with padding. */
void hip_put_param(struct vpxi_wr *w, uint16_t type, const void *v, size_t len);
/* Composite TLVs: begin returns the TLV offset; write the contents; end
 * patches the Length and pads. */
size_t hip_param_begin(struct vpxi_wr *w, uint16_t type);
void hip_param_end(struct vpxi_wr *w, size_t off);
void hip_put_esp_info(struct vpxi_wr *w, uint16_t index, uint32_t old_spi, uint32_t new_spi);
void hip_put_u8_list(struct vpxi_wr *w, uint16_t type, const uint8_t *v, size_t n);
void hip_put_u16_list(struct vpxi_wr *w, uint16_t type, size_t reserved, const uint16_t *v,
                      size_t n);
void hip_put_u32(struct vpxi_wr *w, uint16_t type, uint32_t v);
void hip_put_dh(struct vpxi_wr *w, uint8_t group, const uint8_t *pub, size_t len);
void hip_put_host_id(struct vpxi_wr *w, uint16_t alg, const uint8_t *hi, size_t len);
void hip_put_notification(struct vpxi_wr *w, uint16_t type, const uint8_t *data, size_t len);
void hip_put_locators(struct vpxi_wr *w, const struct sockaddr_storage *locs, size_t n,
                      uint32_t lifetime);
/* Sets Header Length from the writer's length (a multiple of 8), checksum 0.
 * VPXI_ERR_TOO_LARGE if the writer overflowed. */
int hip_finish(struct vpxi_wr *w) VPXI_WUR;
/* Size of a TLV with contents of len bytes. */
static inline size_t hip_tlv_size(size_t len)
{
    return (HIP_TLV_HDR + len + 7) & ~(size_t)7;
}

/* RFC 7401 5.1.1 checksum with the IPv4/IPv6 pseudo-header; 0 if the
 * addresses are missing or of different families. The checksum field of
 * pkt is taken as zero. */
uint16_t hip_checksum(const uint8_t *pkt, size_t len, const struct sockaddr_storage *src,
                      const struct sockaddr_storage *dst);

/* Address helpers: family | port | address bytes; equality of family, port
 * and address (scope and flow label ignored). */
size_t hip_addr_bytes(const struct sockaddr_storage *ss, uint8_t out[static HIP_ADDR_BYTES_MAX]);
bool hip_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool hip_addr_valid(const struct sockaddr_storage *ss);

/* ---- MAC and signatures (auth.c) ----------------------------------------------- */

/* Signature scheme for an HI algorithm (5 RSA-PSS-SHA256, 7 ECDSA-SHA256,
 * 13 Ed25519); 0 if unsupported. */
enum vpxi_sig_scheme hip_sig_scheme(uint16_t hi_alg);
/* Appends HIP_MAC (hostid NULL) or HIP_MAC_2 (hostid = the Responder's
 * HOST_ID TLV as sent in R1) over everything written so far. */
int hip_mac_put(struct vpxi_wr *w, enum vpxi_hash_alg alg, const uint8_t *key, size_t keylen,
                const uint8_t *hostid, size_t hostid_len) VPXI_WUR;
int hip_mac_check(const struct hip_msg *m, uint16_t type, enum vpxi_hash_alg alg,
                  const uint8_t *key, size_t keylen, const uint8_t *hostid,
                  size_t hostid_len) VPXI_WUR;
/* Appends HIP_SIGNATURE or HIP_SIGNATURE_2 (the caller has left the
 * receiver HIT, #I and Opaque zero for the latter). */
int hip_sig_put(struct vpxi_wr *w, uint16_t type, const struct vpxi_key *k,
                uint16_t hi_alg) VPXI_WUR;
int hip_sig_check(const struct hip_msg *m, uint16_t type, const struct vpxi_key *k,
                  uint16_t hi_alg) VPXI_WUR;

/* ---- puzzle (puzzle.c) --------------------------------------------------------- */

/* #I = HMAC-RHASH(secret, HIT-I | HIT-R | addr-I | addr-R), n = RHASH length. */
int hip_puzzle_make_i(enum vpxi_hash_alg alg, const uint8_t secret[static HIP_SECRET_LEN],
                      const uint8_t hit_i[static VPXI_HIT_LEN],
                      const uint8_t hit_r[static VPXI_HIT_LEN],
                      const struct sockaddr_storage *addr_i, const struct sockaddr_storage *addr_r,
                      uint8_t *i) VPXI_WUR;
/* True iff Ltrunc(RHASH(#I | HIT-I | HIT-R | #J), k) == 0. */
bool hip_puzzle_check(enum vpxi_hash_alg alg, const uint8_t *i, const uint8_t *j,
                      const uint8_t hit_i[static VPXI_HIT_LEN],
                      const uint8_t hit_r[static VPXI_HIT_LEN], unsigned k);
/* Finds #J (random start). VPXI_ERR_LIMIT after max_tries hashes. */
int hip_puzzle_solve(enum vpxi_hash_alg alg, const uint8_t *i,
                     const uint8_t hit_i[static VPXI_HIT_LEN],
                     const uint8_t hit_r[static VPXI_HIT_LEN], unsigned k, uint64_t max_tries,
                     uint8_t *j) VPXI_WUR;
/* Lifetime exponent covering ms milliseconds (2^(L-32) s >= ms). */
uint8_t hip_puzzle_lifetime(int64_t ms);

/* ---- KEYMAT (keymat.c) -------------------------------------------------------- */

/* RHASH of a HIT suite: 1 SHA-256, 2 SHA-384, 5 SHA-256 (our choice); NONE otherwise. */
enum vpxi_hash_alg hip_rhash(unsigned hit_suite);
/* Key length of a HIP_CIPHER (0 for NULL); -1 if unknown. */
int hip_cipher_key_len(uint16_t cipher);

struct hip_keymat {
    enum vpxi_hash_alg alg;
    size_t hlen;
    uint8_t prk[VPXI_HASH_MAX_LEN];
    uint8_t info[2 * VPXI_HIT_LEN]; /* sort(HIT-I | HIT-R) */
};
/* PRK = HKDF-Extract(salt = #I | #J, IKM = Kij), info = sorted HITs. */
int hip_keymat_init(struct hip_keymat *km, enum vpxi_hash_alg alg, const uint8_t *kij,
                    size_t kijlen, const uint8_t *i, const uint8_t *j,
                    const uint8_t hit_a[static VPXI_HIT_LEN],
                    const uint8_t hit_b[static VPXI_HIT_LEN]) VPXI_WUR;
/* KEYMAT[off .. off+len) (HKDF-Expand). VPXI_ERR_LIMIT past 255 blocks. */
int hip_keymat_draw(const struct hip_keymat *km, size_t off, uint8_t *out, size_t len) VPXI_WUR;
void hip_keymat_clear(struct hip_keymat *km);
/* True iff a > b as unsigned 128-bit big-endian numbers. */
bool hip_hit_greater(const uint8_t a[static VPXI_HIT_LEN], const uint8_t b[static VPXI_HIT_LEN]);

/* The four HIP keys of one association, from our point of view. */
struct hip_keys {
    size_t enc_len, int_len;
    uint8_t enc_out[HIP_HIP_ENC_MAX], enc_in[HIP_HIP_ENC_MAX];
    uint8_t int_out[VPXI_HASH_MAX_LEN], int_in[VPXI_HASH_MAX_LEN];
};
/* HIP-gl enc, HIP-gl int, HIP-lg enc, HIP-lg int from offset 0; greater:
 * our HIT is the greater one. Returns the first unused offset in *next. */
int hip_keys_hip(const struct hip_keymat *km, bool greater, size_t enc_len, struct hip_keys *k,
                 size_t *next) VPXI_WUR;
/* SA-gl enc, SA-gl auth, SA-lg enc, SA-lg auth from index; *next = first
 * unused offset. */
int hip_keys_esp(const struct hip_keymat *km, size_t index, bool greater, unsigned suite,
                 struct vpxi_esp_keys *in, struct vpxi_esp_keys *out, size_t *next) VPXI_WUR;
/* Bytes the four ESP keys of suite take. */
size_t hip_esp_keymat_len(unsigned suite);

/* ---- the host and its associations ---------------------------------------------------- */

/* A DH key shared by an R1 generation and the associations created from it
 * (a rekey where only the peer sends a new DH value needs our old one). */
struct hip_dhref {
    struct vpxi_dh *dh;
    unsigned refs;
};
struct hip_dhref *hip_dhref_new(struct vpxi_dh *dh); /* takes dh; NULL on ENOMEM (dh freed) */
struct hip_dhref *hip_dhref_get(struct hip_dhref *d);
void hip_dhref_put(struct hip_dhref *d);

enum { HIP_DH_GROUPS_MAX = 3 };

/* One precomputed R1 per DH group of a generation. */
struct hip_r1 {
    uint8_t group;
    struct hip_dhref *dh;
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    size_t len;
    size_t puzzle_off; /* TLV offset of PUZZLE */
};

struct hip_r1gen {
    bool valid;
    uint64_t counter;
    uint8_t secret[HIP_SECRET_LEN];
    unsigned k;
    int64_t born;
    struct hip_r1 r1[HIP_DH_GROUPS_MAX];
    size_t n;
};

/* The single retransmission slot of an association. */
struct hip_rtx {
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    size_t len;
    unsigned tries; /* transmissions so far */
    unsigned max;   /* transmissions allowed after the first */
    int64_t next;   /* INT64_MAX: not armed (pkt kept for resending) */
    int64_t rto;
    bool to_candidate; /* an address check: sent to loc_candidate */
};

/* An UPDATE rekey in progress (RFC 7402 6.8-6.10). */
struct hip_rekey {
    bool active;          /* own ESP_INFO sent or to be sent */
    bool sent;            /* our UPDATE with ESP_INFO is out */
    bool acked;           /* ... and acknowledged */
    bool peer;            /* peer's ESP_INFO received */
    bool installed;       /* REKEYED emitted */
    bool with_dh;         /* we send a new DH value */
    struct hip_dhref *dh; /* our new DH key (with_dh) */
    uint8_t peer_dh[VPXI_DH_PUB_MAX];
    size_t peer_dh_len; /* 0: the peer sent none */
    uint32_t spi_in;    /* our new inbound SPI */
    uint32_t peer_spi;  /* peer's new inbound SPI = our new outbound */
    uint16_t idx_sent, idx_peer;
};

struct hip_assoc {
    struct hip_assoc *next; /* hash chain */
    uint8_t peer_hit[VPXI_HIT_LEN];
    enum vpxi_hip_state state;
    bool initiator;
    bool announced; /* ESTABLISHED event emitted */
    struct sockaddr_storage peer, local;
    int64_t state_timer; /* R2-SENT EC, CLOSED / E-FAILED linger; INT64_MAX: none */

    struct vpxi_key *peer_key;
    uint16_t peer_hi_alg;
    uint8_t *r1_host_id; /* Initiator: Responder's HOST_ID TLV from R1 (HIP_MAC_2) */
    size_t r1_host_id_len;
    uint64_t r1_counter; /* Initiator: counter of the R1 answered */
    bool have_r1_counter;

    /* negotiated */
    enum vpxi_hash_alg rhash;
    size_t hlen;
    uint8_t I[VPXI_HIP_RHASH_MAX], J[VPXI_HIP_RHASH_MAX];
    uint8_t dh_group;
    struct hip_dhref *dh; /* our current DH key */
    uint8_t peer_dh[VPXI_DH_PUB_MAX];
    size_t peer_dh_len;
    uint16_t hip_cipher;
    unsigned esp_suite;
    struct hip_keymat km;
    struct hip_keys keys;
    size_t keymat_next; /* first unused KEYMAT byte */
    uint32_t spi_in, spi_out;
    struct vpxi_validity valid;
    uint8_t i2_digest[32]; /* Responder: SHA-256 of the accepted I2 */

    struct hip_rtx rtx;

    /* UPDATE (RFC 7401 6.12) */
    uint32_t upd_next; /* Update ID for our next new UPDATE */
    bool upd_out;      /* an UPDATE with SEQ is outstanding */
    uint32_t upd_seq;  /* its Update ID */
    bool peer_seq_valid;
    uint32_t peer_seq_next; /* next expected peer Update ID */
    bool pend_rekey, pend_rekey_dh, pend_certs, pend_locators, pend_echo;
    bool upd_rekey, upd_check; /* what the outstanding UPDATE carries */
    bool ack_pending;          /* a peer SEQ to acknowledge */
    uint32_t ack_seq;
    uint8_t ack_echo[VPXI_HIP_ECHO_MAX]; /* ECHO_REQUEST_SIGNED to answer with it */
    size_t ack_echo_len;
    struct sockaddr_storage ack_dst;
    struct hip_rekey rk;
    uint32_t retire_spi_in, retire_spi_out; /* SAs replaced by the last rekey */
    uint32_t activate_spi;                  /* nonzero: SA_ACTIVATE pending until ACK/ESP */
    int64_t retire_at;
    /* locator check: ECHO_REQUEST_SIGNED sent to a candidate peer address */
    bool loc_check;
    struct sockaddr_storage loc_candidate;
    uint8_t echo[HIP_ECHO_NONCE_LEN]; /* CLOSE or locator-check nonce */
};

struct hip_out_q {
    struct vpxi_hip_output *v;
    size_t cap, head, len;
};

struct vpxi_hip_host {
    struct vpxi_key *key;
    uint8_t hit[VPXI_HIT_LEN];
    uint16_t hi_alg;
    unsigned suite;
    uint8_t host_id[HIP_HOST_ID_TLV_MAX]; /* our HOST_ID TLV */
    size_t host_id_len;
    size_t sig_len;
    struct vpxi_hip_config cfg;
    struct vpxi_hip_callbacks cb;

    struct hip_r1gen gen[2]; /* gen[cur] current, gen[cur ^ 1] previous */
    unsigned cur;
    int64_t next_rotate;
    unsigned k_now;
    int64_t rate_start; /* current one-second window of I2 arrivals */
    unsigned rate_count, rate_last;
    uint8_t replay[HIP_REPLAY_RING][HIP_REPLAY_TAG];
    uint64_t replay_gen[HIP_REPLAY_RING]; /* R1 counter of each entry */
    size_t replay_pos;

    uint8_t **certs;
    size_t *cert_lens;
    size_t ncerts;
    struct sockaddr_storage locs[VPXI_HIP_LOCATORS_MAX];
    size_t nlocs;

    struct hip_assoc **buckets;
    size_t nbuckets;
    uint64_t hash_key;

    struct hip_out_q q;
    int drop_hint; /* VPXI_HIP_DROP_* chosen by a consume_, or -1 */
    int64_t notify_window;
    unsigned notify_count;
    struct vpxi_hip_stats stats;
};

/* host.c */
/* Records a specific drop reason for the packet being processed; returns err. */
int hip_drop(struct vpxi_hip_host *h, int reason, int err);
struct hip_assoc *hip_assoc_find(const struct vpxi_hip_host *h,
                                 const uint8_t hit[static VPXI_HIT_LEN]);
int hip_assoc_new(struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN],
                  struct hip_assoc **out) VPXI_WUR;
void hip_assoc_free(struct vpxi_hip_host *h, struct hip_assoc *a);
/* Resets an association's negotiated state (keys wiped, timers off). */
void hip_assoc_reset(struct hip_assoc *a);
bool hip_spi_in_use(const struct vpxi_hip_host *h, uint32_t spi);
int hip_new_spi(const struct vpxi_hip_host *h, uint32_t *spi) VPXI_WUR;
/* Output queue: a slot to fill. Packets are refused (NULL, counted as
 * drops[LIMIT]) when queue_max outputs wait; events grow the queue. */
struct vpxi_hip_output *hip_out_push(struct vpxi_hip_host *h, bool event);
/* Packets that still fit under queue_max. */
size_t hip_out_space(const struct vpxi_hip_host *h);
/* Queues pkt to dst from src (checksum filled per config). A full queue is
 * counted (drops[LIMIT]) and returns VPXI_ERR_LIMIT; callers whose packet
 * is retransmitted or answered again later may ignore it. */
int hip_send(struct vpxi_hip_host *h, const uint8_t *pkt, size_t len,
             const struct sockaddr_storage *dst, const struct sockaddr_storage *src);
/* Queues an event for a; returns it for the caller to complete (NULL if full). */
struct vpxi_hip_event *hip_event(struct vpxi_hip_host *h, const struct hip_assoc *a,
                                 enum vpxi_hip_event_type type);
void hip_event_sa(struct vpxi_hip_event *ev, const struct hip_assoc *a, uint32_t spi_in,
                  uint32_t spi_out, const struct vpxi_esp_keys *in,
                  const struct vpxi_esp_keys *out);
/* Starts the retransmission slot with the packet just built. */
void hip_rtx_arm(struct vpxi_hip_host *h, struct hip_assoc *a, const uint8_t *pkt, size_t len,
                 unsigned max, int64_t now);
void hip_rtx_stop(struct hip_assoc *a);
void hip_set_state(struct hip_assoc *a, enum vpxi_hip_state s);
/* Sets the peer address after an authenticated packet from src (event if changed). */
void hip_peer_address(struct vpxi_hip_host *h, struct hip_assoc *a,
                      const struct sockaddr_storage *src, const struct sockaddr_storage *dst);
/* Authorization through the callback; fills *valid, *notify. */
int hip_authorize(struct vpxi_hip_host *h, const uint8_t hit[static VPXI_HIT_LEN],
                  struct vpxi_key *peer_key, const struct hip_msg *m, struct vpxi_validity *valid,
                  uint16_t *notify) VPXI_WUR;
/* Adds our CERT parameters. */
void hip_put_certs(const struct vpxi_hip_host *h, struct vpxi_wr *w);
/* Fails or closes an association: event, state change. */
void hip_fail(struct vpxi_hip_host *h, struct hip_assoc *a, enum vpxi_hip_reason reason, int err,
              uint16_t notify, int64_t now);

/* r1.c */
/* New generation; on failure the old ones stay and a retry is scheduled. */
int hip_r1_rotate(struct vpxi_hip_host *h, int64_t now);
void hip_r1_clear(struct hip_r1gen *g);
/* Generation with this counter (current or previous), or NULL. */
struct hip_r1gen *hip_r1_gen(struct vpxi_hip_host *h, uint64_t counter);
/* Records one I2 arrival for the difficulty controller. */
void hip_r1_count_i2(struct vpxi_hip_host *h, int64_t now);
/* Rotation and difficulty steps due at now; when they are next due. */
void hip_r1_timer(struct vpxi_hip_host *h, int64_t now);
int64_t hip_r1_next_timeout(const struct vpxi_hip_host *h);
/* Replay cache of accepted (#I, #J). */
bool hip_replay_seen(const struct vpxi_hip_host *h, const uint8_t *i, const uint8_t *j, size_t n);
void hip_replay_add(struct vpxi_hip_host *h, uint64_t gen, const uint8_t *i, const uint8_t *j,
                    size_t n);

/* bex.c */
int hip_create_i1(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now) VPXI_WUR;
int hip_consume_i1(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now) VPXI_WUR;
int hip_consume_r1(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now) VPXI_WUR;
int hip_consume_i2(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now) VPXI_WUR;
int hip_consume_r2(struct vpxi_hip_host *h, const struct hip_msg *m,
                   const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   int64_t now) VPXI_WUR;

/* update.c */
/* Sends the next UPDATE if one is due and none is outstanding (0 if none). */
int hip_update_send(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now);
int hip_consume_update(struct vpxi_hip_host *h, const struct hip_msg *m,
                       const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int64_t now) VPXI_WUR;
void hip_rekey_clear(struct hip_rekey *rk);
/* ESP seen on spi_in: rekey switch and retirement. */
void hip_update_esp_seen(struct vpxi_hip_host *h, struct hip_assoc *a, uint32_t spi_in,
                         int64_t now);
/* The retire timer. */
void hip_update_timer(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now);
/* The outstanding UPDATE ran out of retries: true if that only ends an
 * address check (the association stays). */
bool hip_update_gave_up(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now);
/* R2-SENT -> ESTABLISHED, then sends what local requests queued meanwhile. */
void hip_established(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now);

/* close.c */
/* CLOSE -> CLOSING (retransmitted); VPXI_ERR_BAD_STATE without HIP keys. */
int hip_create_close(struct vpxi_hip_host *h, struct hip_assoc *a, int64_t now);
int hip_consume_close(struct vpxi_hip_host *h, const struct hip_msg *m,
                      const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                      int64_t now) VPXI_WUR;
int hip_consume_close_ack(struct vpxi_hip_host *h, const struct hip_msg *m,
                          const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                          int64_t now) VPXI_WUR;
/* Signed NOTIFY to peer_hit at dst (rate-limited; no error if suppressed). */
void hip_create_notify(struct vpxi_hip_host *h, const uint8_t peer_hit[static VPXI_HIT_LEN],
                       const struct sockaddr_storage *dst, const struct sockaddr_storage *src,
                       uint16_t type, const uint8_t *data, size_t len, int64_t now);
/* A packet from a known peer carried an unknown critical parameter:
 * NOTIFY UNSUPPORTED_CRITICAL_PARAMETER_TYPE to the peer's known address. */
void hip_unknown_critical(struct vpxi_hip_host *h, const struct hip_msg *m,
                          const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                          int64_t now);
int hip_consume_notify(struct vpxi_hip_host *h, const struct hip_msg *m,
                       const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                       int64_t now) VPXI_WUR;

#endif
