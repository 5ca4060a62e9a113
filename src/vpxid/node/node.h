/*
 * node.h - internal structures of the node role, shared by overlay.c
 * (control thread), peer.c (tables, SAs, status) and datapath.c (threads).
 *
 * Threads and locks:
 *  - The control thread owns the HIP host, timers, configuration and peer
 *    life cycle. It is the only writer of the tables below.
 *  - The tx thread reads TUN queue 0, seals, sends (UDP GSO). The rx thread
 *    receives (UDP GRO), opens, coalesces and writes TUN queue 1. Each SA is
 *    used by one of them only (outbound by tx, inbound by rx).
 *  - ov->lock (a writer-preferring rwlock) guards the peer and SA tables,
 *    peer->out and peer->addr: datapath threads hold it for reading around
 *    one batch; the control thread takes it for writing to change them and
 *    frees removed objects only after releasing it.
 *  - Counters written by a datapath thread are relaxed atomics read by the
 *    control thread for status output.
 *  - Datapath threads talk to the control thread through ov->msgq (HIP
 *    packets, ESP seen on a new SA, need to connect, soft limit reached).
 */
#ifndef VPXID_NODE_H
#define VPXID_NODE_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vpxi/cert.h"
#include "vpxi/esp.h"
#include "vpxi/hip.h"
#include "vpxi/keycache.h"

#include "../config.h"
#include "../daemon.h"
#include "../loop.h"
#include "msgq.h"
#include "tun.h"
#include "udp.h"

enum node_limits {
    NODE_HASH_SIZE = 4096, /* slots of each lookup table (power of two) */
    NODE_CERTS_MAX = 16,
    NODE_RECONNECT_MIN_MS = 250,
    NODE_RECONNECT_MAX_MS = 30000,
    NODE_PENDING_MAX = 16,       /* packets held per peer while its association forms */
    NODE_PENDING_LEN = 2048,     /* bytes per held packet (MTU <= 1920) */
    NODE_RESPONDER_FLUSH_MS = 3, /* a responder holds its first packets this long after
                                    R2 (or until the initiator's first ESP): earlier,
                                    they could beat the R2 to an initiator without SAs */
};

typedef _Atomic uint64_t counter_t;

static inline void ctr_add(counter_t *c, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}
static inline uint64_t ctr_get(const counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

struct sa_out {
    pthread_mutex_t lock; /* sealing: the tx thread, and the rx thread for
                             replies it finds right after a TUN write */
    struct vpxi_esp_out *esp;
    unsigned suite;
    uint32_t spi;
    atomic_bool rekey_asked; /* soft limit reported to the control thread */
};

struct sa_in {
    struct vpxi_esp_in *esp;
    struct peer *peer;
    unsigned suite;
    uint32_t spi;
    atomic_bool seen; /* first packet reported to the control thread */
};

struct peer_stats {
    counter_t tx_packets, tx_bytes, rx_packets, rx_bytes;
    counter_t tx_queued;   /* held while the association formed, sent after */
    counter_t tx_no_sa;    /* packets to this peer dropped: no SA, queue full */
    counter_t tx_seal_err; /* SA at its hard limit or sealing failed */
    counter_t rx_spoofed;  /* inner source address not the peer's */
    counter_t rx_not_ours; /* inner destination not our address */
    /* ESP drops of retired SAs, folded in when they are deleted */
    uint64_t esp_truncated, esp_replay, esp_old, esp_auth, esp_padding, esp_dummy;
};

struct peer {
    struct overlay *ov;
    char name[CFG_NAME_MAX];
    bool configured; /* a [peer] section, reconnected when lost */
    uint8_t hit[16];
    struct in_addr ipv4;
    struct cfg_addr addr;       /* current locator */
    uint16_t esp[CFG_LIST_MAX]; /* suites allowed on this link (none: overlay's) */
    size_t nesp;
    char link[16];
    struct cfg_portlink portlinks[CFG_PORTLINKS_MAX]; /* port classes unlike link */
    size_t nportlinks;
    struct vpxi_key *key; /* the peer's HI once known */

    struct sa_out *out;      /* current outbound SA (NULL: none) */
    struct sa_out *next_out; /* after a rekey, until SA_ACTIVATE */
    struct peer_stats st;
    atomic_int_fast64_t connect_asked_ms; /* last time the datapath asked to connect */

    /* packets that arrived before the association: sent when it is up (the
     * first ping or TCP SYN is not lost to the base exchange) */
    pthread_mutex_t pend_lock;
    uint8_t *pend; /* NODE_PENDING_MAX * NODE_PENDING_LEN, on first use */
    uint16_t pend_len[NODE_PENDING_MAX];
    unsigned pend_n;

    /* control thread only */
    bool up; /* association established */
    bool connecting;
    struct vpxi_validity valid; /* the peer's authorization (reduced) */
    uint8_t *certs;             /* the peer's chain as last authorized, for re-checks */
    size_t certs_len[NODE_CERTS_MAX];
    size_t ncerts;
    struct timer expire; /* fires when valid.not_after passes */
    struct timer rekey;  /* age-based rekey */
    struct timer reconnect;
    struct timer flush; /* responder: send held packets once R2 has landed */
    int64_t reconnect_ms;
    int64_t up_since_ms, last_rekey_ms;
    uint64_t rekeys;
    bool routes;         /* routes to the peer installed on the TUN */
    bool direct;         /* clear link: firewall open for its direct path (direct.h) */
    bool direct_routes;  /* and our traffic to it routed on that path */
    bool direct_fw;      /* the node firewall's sets hold it */
    uint8_t direct_mode; /* how (direct.c) */
    unsigned direct_if;
    uint8_t direct_mac[6];
    char last_event[160];
};

struct dp_stats {
    counter_t tun_reads, tun_read_pkts;   /* read() calls and IP packets they carried */
    counter_t udp_sends, udp_send_pkts;   /* sendmsg() calls and datagrams */
    counter_t udp_recvs, udp_recv_pkts;   /* recvmsg() calls and datagrams */
    counter_t tun_writes, tun_write_pkts; /* write() calls and IP packets */
    counter_t tx_no_route;                /* no peer for the destination */
    counter_t tx_bad_frame;               /* TUN frame offload_split refused */
    counter_t tx_send_err;
    counter_t rx_unknown_spi, rx_short, rx_hip_queued, rx_hip_dropped, rx_keepalive;
    counter_t rx_tun_err;
};

struct overlay {
    struct daemon *d;
    struct cfg_overlay cfg; /* copy of the section in force (peers not copied) */
    char name[CFG_NAME_MAX];
    struct vpxi_key *key;
    uint8_t hit[16];
    char hit_str[64];
    struct in_addr ipv4;

    /* policy (replaced as a whole on reload) */
    struct vpxi_sx *pol_sx; /* arena of the ACL and the required tag */
    struct vpxi_acl *acl;
    struct vpxi_sexp *want; /* the tag peers must be granted */
    uint8_t *chain_buf;     /* our certificates, concatenated */
    struct vpxi_iov chain[NODE_CERTS_MAX];
    size_t nchain;
    int64_t chain_mtime[CFG_CHAIN_MAX];
    struct vpxi_validity chain_valid; /* our own chain's span, for warnings */

    struct vpxi_hip_host *hip;
    struct timer hip_timer;
    struct timer renew_timer;

    struct tun tun;
    struct udp udp;
    struct cfg_addr local; /* bound address */

    pthread_rwlock_t lock; /* tables, peer->out, peer->addr */
    struct peer **peers;   /* all peers (control thread's list) */
    size_t npeers, cap_peers;
    struct peer *by_hit[NODE_HASH_SIZE];
    struct peer *by_ipv4[NODE_HASH_SIZE];
    struct sa_in *by_spi[NODE_HASH_SIZE];

    struct msgq q;
    pthread_t tx_thread, rx_thread;
    bool threads;
    int stop_fd; /* eventfd: datapath threads stop */
    struct dp_stats dp;
};

/* peer.c: tables (call with ov->lock held for writing, or from the control
 * thread for lookups) */
struct peer *peer_by_hit(struct overlay *ov, const uint8_t hit[16]);
struct peer *peer_by_ipv4(struct overlay *ov, uint32_t addr_be);
struct sa_in *sa_by_spi(struct overlay *ov, uint32_t spi);
struct peer *peer_add(struct overlay *ov, const char *name, const uint8_t hit[16],
                      const struct in_addr *ipv4);     /* control thread, takes the write lock */
void peer_remove(struct overlay *ov, struct peer *p);  /* control thread */
int sa_in_insert(struct overlay *ov, struct sa_in *s); /* write lock held */
struct sa_in *sa_in_unlink(struct overlay *ov, uint32_t spi); /* write lock held */
void sa_in_free(struct sa_in *s);
void sa_out_free(struct sa_out *s);
void peer_fold_stats(struct peer *p, const struct vpxi_esp_stats *st);
/* Derived overlay IPv4 of a HIT when none is configured: 100.64.0.0/10
 * plus 22 bits of SHA-256(HIT) (0 and the broadcast-like .255 avoided). */
struct in_addr peer_derive_ipv4(const uint8_t hit[16]);
int peer_status_json(struct overlay *ov, struct peer *p, struct vpxi_wr *w);

/* datapath.c */
int datapath_start(struct overlay *ov);
void datapath_stop(struct overlay *ov);
/* Seals and sends p's held packets on its new outbound SA (control thread,
 * after installing SAs), or drops them (association failed). */
void datapath_flush_pending(struct overlay *ov, struct peer *p);
void datapath_drop_pending(struct peer *p);

#endif
