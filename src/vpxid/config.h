/*
 * config.h - vpxid configuration (format documented in docs/vpxid.conf.md).
 *
 *   [daemon]            control socket, user to run as, log level, key log
 *   [overlay NAME]      one VPXI: identity, policy, TUN, UDP port, crypto
 *   [peer OVERLAY NAME] a statically configured peer of that overlay
 *   [registrar]         the registrar role (docs/registrar.md)
 *   [hostagent]         the host-agent role: creates virtual nodes
 *   [exec]              the node exec service (authenticated process launch)
 *
 * A file is parsed into a fresh struct config and validated completely
 * before anything uses it; on reload the new struct replaces the old one as
 * a whole (never half applied). Errors name file:line, the key and the
 * quoted bad value.
 */
#ifndef VPXID_CONFIG_H
#define VPXID_CONFIG_H

#include <net/if.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum cfg_limits {
    CFG_NAME_MAX = 64,
    CFG_PATH_MAX = 512,
    CFG_SEXP_MAX = 2048,
    CFG_LIST_MAX = 8,
    CFG_PORTLINKS_MAX = 64,
    CFG_CHAIN_MAX = 8,
    CFG_PEERS_MAX = 1024,
    CFG_OVERLAYS_MAX = 16,
    CFG_LINE_MAX = 4096,
    CFG_ERR_MAX = 512,
};

struct cfg_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* One port class of a link: traffic of protocol proto (IPPROTO_TCP or
 * IPPROTO_UDP) from or to a port in [lo, hi] has security sec instead of
 * the link's (port-link = tcp/5000-5100 clear). */
enum cfg_sec { CFG_SEC_CLEAR = 0, CFG_SEC_INTEGRITY = 1, CFG_SEC_ENCRYPT = 2 };
struct cfg_portlink {
    uint8_t proto;
    uint16_t lo, hi;
    uint8_t sec; /* enum cfg_sec */
};

struct cfg_peer {
    char name[CFG_NAME_MAX];
    char overlay[CFG_NAME_MAX];
    bool has_hit;
    uint8_t hit[16];            /* from hit = or computed from key = */
    char keyfile[CFG_PATH_MAX]; /* public key file, optional when hit is given */
    struct cfg_addr address;    /* underlay locator (static for now) */
    bool has_address;
    struct in_addr ipv4; /* overlay IPv4 mapped to the peer's HIT */
    bool has_ipv4;
    uint16_t esp[CFG_LIST_MAX]; /* ESP suites allowed on this link (empty: overlay's) */
    size_t nesp;
    char link[16]; /* encrypt | integrity | clear (informational) */
    struct cfg_portlink portlinks[CFG_PORTLINKS_MAX]; /* disjoint, in file order */
    size_t nportlinks;
    int line;
};

struct cfg_overlay {
    char name[CFG_NAME_MAX];
    char keyfile[CFG_PATH_MAX];
    char aclfile[CFG_PATH_MAX];
    char chain[CFG_CHAIN_MAX][CFG_PATH_MAX];
    size_t nchain;
    char require[CFG_SEXP_MAX]; /* tag required from peers; "" = default */
    struct cfg_addr listen;
    char tun[IFNAMSIZ];
    struct in_addr ipv4;
    bool has_ipv4;
    unsigned prefix4; /* IPv4 prefix length of the overlay (default 10) */
    unsigned mtu;
    uint16_t esp[CFG_LIST_MAX];
    size_t nesp;
    uint16_t dh[CFG_LIST_MAX];
    size_t ndh;
    uint16_t cipher[CFG_LIST_MAX];
    size_t ncipher;
    unsigned puzzle_k;
    unsigned rekey_seconds;       /* rekey each SA after this age */
    uint64_t rekey_packets;       /* ... or this many packets */
    uint64_t rekey_bytes;         /* ... or this many bytes */
    unsigned renew_check_seconds; /* how often the chain files are checked for renewal */
    unsigned threads;             /* datapath threads (0 = auto) */
    bool esn;                     /* 64-bit ESP sequence numbers (RFC 7402); both ends agree */
    bool clear_direct;            /* clear links to on-link peers bypass ESP (direct.h) */
    struct cfg_peer *peers;
    size_t npeers;
    int line;
};

/* [registrar]: holds resource certificates, issues user certificates. */
struct cfg_registrar {
    bool enabled;
    int line;
    char overlay[CFG_NAME_MAX];       /* overlay whose HIT the service listens on */
    char database[CFG_PATH_MAX];      /* SQLite file (WAL) */
    char approve[16];                 /* auto | manual: enrolment of new users */
    uint8_t admins[CFG_LIST_MAX][16]; /* HITs allowed to approve users */
    size_t nadmins;
    uint8_t peers[CFG_LIST_MAX][16]; /* peer registrars (offers, borrowing) */
    size_t npeers;
    unsigned renew_period;   /* default certificate renewal period */
    unsigned renew_margin;   /* issued certificates outlive now by this */
    unsigned max_duration;   /* longest VPXI time window accepted */
    unsigned offer_interval; /* how often free resources are offered to peers */
};

/* [hostagent]: registers virtual resources and creates virtual nodes. */
struct cfg_hostagent {
    bool enabled;
    int line;
    char overlay[CFG_NAME_MAX];
    uint8_t registrar[16];
    bool has_registrar;
    char site[CFG_NAME_MAX];
    char community[CFG_NAME_MAX];
    char statedir[CFG_PATH_MAX]; /* one directory per node */
    char images[CFG_PATH_MAX];   /* NAME.tar images (when no catalogue) */
    char catalog[CFG_PATH_MAX];  /* image provider directory ("" = images dir) */
    char bridge[IFNAMSIZ];       /* host bridge the nodes attach to */
    char subnet[64];             /* node underlay addresses, e.g. 198.19.1.0/24 */
    unsigned resources;          /* virtual resources offered */
    unsigned cpu_milli;          /* capacity of each resource */
    unsigned memory_mb;
    bool firewall;            /* nodes' underlay carries only HIP/ESP */
    char vpxid[CFG_PATH_MAX]; /* vpxid binary for the nodes ("" = this one) */
};

/* [exec]: runs authorized commands inside this node (docs/protocol.md). */
struct cfg_exec {
    bool enabled;
    int line;
    char overlay[CFG_NAME_MAX];
    char node[CFG_PATH_MAX]; /* vnode state directory ("" = run in our namespaces) */
    unsigned uid, gid;       /* commands run as */
    unsigned timeout;        /* longest run of one command */
};

struct config {
    char path[CFG_PATH_MAX];
    char control[CFG_PATH_MAX];
    char user[CFG_NAME_MAX]; /* "" = stay root (not recommended) */
    int log_level;
    char keylog[CFG_PATH_MAX]; /* "" = off */
    struct cfg_overlay *overlays;
    size_t noverlays;
    struct cfg_registrar registrar;
    struct cfg_hostagent hostagent;
    struct cfg_exec exec;
};

/* Parses and validates path. On error returns NULL and writes
 * "FILE:LINE: key 'value': reason" into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *c);
/* Prints the effective configuration (defaults included) in the file format. */
void config_show(const struct config *c, FILE *f);
const struct cfg_overlay *config_overlay(const struct config *c, const char *name);
/* Parses "198.18.0.1:10500", "[fd00::1]:10500" or an address alone with a default port. */
int config_parse_addr(const char *s, uint16_t default_port, struct cfg_addr *out);
/* Parses "a.b.c.d/N" (N in 8..30, host bits zero). */
int config_parse_subnet(const char *s, struct in_addr *net, unsigned *prefix);
/* Formats an address as "ip:port" / "[ip]:port". */
void config_addr_str(const struct cfg_addr *a, char *buf, size_t len);

#endif
