/*
 * config.c - the vpxid configuration file: a keyword table (OpenSSH
 * keywords[], tinc variables[]) where one entry gives the parser, the
 * validation, the default and the output of `show`.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpxi/alloc.h"
#include "vpxi/esp.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

#include "config.h"
#include "log.h"

enum section {
    S_DAEMON = 1,
    S_OVERLAY = 2,
    S_PEER = 4,
    S_REGISTRAR = 8,
    S_HOSTAGENT = 16,
    S_EXEC = 32
};

enum kind {
    K_STR,      /* char[size] */
    K_PATH,     /* char[CFG_PATH_MAX] */
    K_UINT,     /* unsigned in [min, max] */
    K_U64,      /* uint64_t, with k/M/G suffixes */
    K_SECS,     /* unsigned seconds, with s/m/h/d suffixes */
    K_ADDR,     /* struct cfg_addr, default port 10500; sets has_* if flag_off >= 0 */
    K_IPV4,     /* struct in_addr in 100.64.0.0/10 */
    K_HIT,      /* uint8_t[16], an ORCHID */
    K_LEVEL,    /* log level name */
    K_ESP,      /* list of ESP suites */
    K_DH,       /* list of DH groups */
    K_CIPHER,   /* list of HIP ciphers */
    K_SEXP,     /* an S-expression, kept as text */
    K_CHAIN,    /* appended path (repeatable) */
    K_IFNAME,   /* interface name */
    K_LINK,     /* encrypt | integrity | clear */
    K_BOOL,     /* yes | no */
    K_HITS,     /* appended HIT (repeatable); size: offset of the count */
    K_CHOICE,   /* char[16], one of the words in help's first line: see choice_ok */
    K_PORTLINK, /* appended struct cfg_portlink (repeatable); size: offset of the count */
};

struct keyword {
    const char *name;
    unsigned sections;
    enum kind kind;
    size_t off;    /* into the section's struct */
    size_t size;   /* K_STR: buffer size; K_ESP..K_CIPHER: offset of the count */
    long flag_off; /* offset of a bool "has_" flag, or -1 */
    unsigned long min, max;
    const char *def; /* default, parsed like a value; NULL: none */
    const char *help;
};

#define D(f) offsetof(struct config, f)
#define O(f) offsetof(struct cfg_overlay, f)
#define P(f) offsetof(struct cfg_peer, f)
#define R(f) offsetof(struct cfg_registrar, f)
#define H(f) offsetof(struct cfg_hostagent, f)
#define X(f) offsetof(struct cfg_exec, f)

static const struct keyword keywords[] = {
    { "control", S_DAEMON, K_PATH, D(control), 0, -1, 0, 0, "/run/vpxid.sock",
      "control socket (vpxi status, ...)" },
    { "user", S_DAEMON, K_STR, D(user), CFG_NAME_MAX, -1, 0, 0, "nobody",
      "user to run as after set-up (empty: stay root)" },
    { "log-level", S_DAEMON, K_LEVEL, D(log_level), 0, -1, 0, 0, "info",
      "err, warn, info, proto or debug" },
    { "keylog", S_DAEMON, K_PATH, D(keylog), 0, -1, 0, 0, "",
      "write ESP keys per SA in tshark esp_sa form (off when empty)" },

    { "key", S_OVERLAY, K_PATH, O(keyfile), 0, -1, 0, 0, NULL, "private key (host identity)" },
    { "acl", S_OVERLAY, K_PATH, O(aclfile), 0, -1, 0, 0, NULL, "ACL file: whom we trust" },
    { "chain", S_OVERLAY, K_CHAIN, O(chain), 0, -1, 0, 0, NULL,
      "certificate sequence presented to peers (repeatable)" },
    { "require", S_OVERLAY, K_SEXP, O(require), CFG_SEXP_MAX, -1, 0, 0, "",
      "tag a peer's chain must grant (default: (vpxi NAME \"OUR-HIT\" member))" },
    { "listen", S_OVERLAY, K_ADDR, O(listen), 0, -1, 0, 0, "0.0.0.0:10500",
      "UDP address for HIP and ESP" },
    { "tun", S_OVERLAY, K_IFNAME, O(tun), 0, -1, 0, 0, NULL, "TUN interface name" },
    { "ipv4", S_OVERLAY, K_IPV4, O(ipv4), 0, O(has_ipv4), 0, 0, NULL,
      "overlay IPv4 address (100.64.0.0/10)" },
    { "ipv4-prefix", S_OVERLAY, K_UINT, O(prefix4), 0, -1, 10, 32, "10",
      "prefix length of the overlay IPv4 network" },
    { "mtu", S_OVERLAY, K_UINT, O(mtu), 0, -1, 576, 9000, "1420", "TUN MTU" },
    { "esp", S_OVERLAY | S_PEER, K_ESP, 0, 0, -1, 0, 0, "aes128-gcm16 aes128-cbc-sha256",
      "ESP suites, preferred first" },
    { "dh", S_OVERLAY, K_DH, O(dh), O(ndh), -1, 0, 0, "p256 modp2048", "DH groups" },
    { "hip-cipher", S_OVERLAY, K_CIPHER, O(cipher), O(ncipher), -1, 0, 0, "aes128-cbc aes256-cbc",
      "HIP_CIPHER suites" },
    { "puzzle-k", S_OVERLAY, K_UINT, O(puzzle_k), 0, -1, 0, 40, "0",
      "puzzle difficulty (raised automatically under load)" },
    { "rekey-time", S_OVERLAY, K_SECS, O(rekey_seconds), 0, -1, 10, 86400 * 30, "1h",
      "rekey an SA after this age" },
    { "rekey-packets", S_OVERLAY, K_U64, O(rekey_packets), 0, -1, 1000, 1ULL << 48, "1G",
      "rekey an SA after this many packets" },
    { "rekey-bytes", S_OVERLAY, K_U64, O(rekey_bytes), 0, -1, 1000000, 1ULL << 56, "1T",
      "rekey an SA after this many bytes" },
    { "renew-check", S_OVERLAY, K_SECS, O(renew_check_seconds), 0, -1, 1, 86400, "5s",
      "how often chain files are checked for renewed certificates" },
    { "threads", S_OVERLAY, K_UINT, O(threads), 0, -1, 0, 64, "0",
      "datapath threads per direction (0: automatic)" },
    { "esp-esn", S_OVERLAY, K_BOOL, O(esn), 0, -1, 0, 0, "yes",
      "64-bit ESP sequence numbers (RFC 7402); 'no' for peers or tools without ESN" },
    { "clear-direct", S_OVERLAY, K_BOOL, O(clear_direct), 0, -1, 0, 0, "yes",
      "our traffic on clear links to peers on the same layer-2 segment goes as plain IP on "
      "the underlay device instead of ESP (no protection either way); their direct traffic "
      "is accepted whatever this says" },

    { "hit", S_PEER, K_HIT, P(hit), 0, P(has_hit), 0, 0, NULL, "peer HIT" },
    { "pubkey", S_PEER, K_PATH, P(keyfile), 0, -1, 0, 0, "", "peer public key file" },
    { "address", S_PEER, K_ADDR, P(address), 0, P(has_address), 0, 0, NULL,
      "peer underlay address (ip[:port])" },
    { "ipv4", S_PEER, K_IPV4, P(ipv4), 0, P(has_ipv4), 0, 0, NULL,
      "overlay IPv4 address of the peer" },
    { "link", S_PEER, K_LINK, P(link), 0, -1, 0, 0, "encrypt",
      "link security: encrypt, integrity or clear (no protection: one trusted site only)" },
    { "port-link", S_PEER, K_PORTLINK, P(portlinks), P(nportlinks), -1, 0, 0, NULL,
      "security of one port class instead of link's: PROTO/PORT[-PORT] encrypt|integrity|clear "
      "(repeatable; classes must not overlap)" },

    { "overlay", S_REGISTRAR, K_STR, R(overlay), CFG_NAME_MAX, -1, 0, 0, NULL,
      "overlay whose HIT the registrar listens on (default: the first)" },
    { "database", S_REGISTRAR, K_PATH, R(database), 0, -1, 0, 0, "/var/lib/vpxi/registrar.db",
      "SQLite database (WAL, created 0600)" },
    { "approve", S_REGISTRAR, K_CHOICE, R(approve), 0, -1, 0, 0, "auto",
      "auto or manual: whether enrolled users are approved at once" },
    { "admin", S_REGISTRAR, K_HITS, R(admins), R(nadmins), -1, 0, 0, NULL,
      "HIT of an administrator (repeatable)" },
    { "peer-registrar", S_REGISTRAR, K_HITS, R(peers), R(npeers), -1, 0, 0, NULL,
      "HIT of a peer registrar to exchange offers with (repeatable)" },
    { "renew-period", S_REGISTRAR, K_SECS, R(renew_period), 0, -1, 5, 86400, "10m",
      "default certificate renewal period of a VPXI" },
    { "renew-margin", S_REGISTRAR, K_SECS, R(renew_margin), 0, -1, 10, 7 * 86400, "30m",
      "issued certificates outlive the time of issue by this much" },
    { "max-duration", S_REGISTRAR, K_SECS, R(max_duration), 0, -1, 60, 365 * 86400, "30d",
      "longest VPXI time window accepted" },
    { "offer-interval", S_REGISTRAR, K_SECS, R(offer_interval), 0, -1, 1, 86400, "30s",
      "how often free resources are offered to peer registrars" },

    { "overlay", S_HOSTAGENT, K_STR, H(overlay), CFG_NAME_MAX, -1, 0, 0, NULL,
      "overlay the host agent talks to its registrar on (default: the first)" },
    { "registrar", S_HOSTAGENT, K_HIT, H(registrar), 0, H(has_registrar), 0, 0, NULL,
      "HIT of the registrar to register with" },
    { "site", S_HOSTAGENT, K_STR, H(site), CFG_NAME_MAX, -1, 0, 0, NULL, "site name" },
    { "community", S_HOSTAGENT, K_STR, H(community), CFG_NAME_MAX, -1, 0, 0, "hipernet",
      "trusted community the resources belong to" },
    { "statedir", S_HOSTAGENT, K_PATH, H(statedir), 0, -1, 0, 0, "/var/lib/vpxi/nodes",
      "one directory per virtual node" },
    { "images", S_HOSTAGENT, K_PATH, H(images), 0, -1, 0, 0, "/var/lib/vpxi/images",
      "directory of NAME.tar images (used when catalog is empty)" },
    { "catalog", S_HOSTAGENT, K_PATH, H(catalog), 0, -1, 0, 0, "",
      "image provider directory: only endorsed images start nodes" },
    { "bridge", S_HOSTAGENT, K_IFNAME, H(bridge), 0, -1, 0, 0, "vxbr0",
      "host bridge the nodes attach to (its address is the nodes' gateway)" },
    { "node-subnet", S_HOSTAGENT, K_STR, H(subnet), 64, -1, 0, 0, NULL,
      "underlay addresses of the nodes, e.g. 198.19.1.0/24 (.1 is the bridge)" },
    { "resources", S_HOSTAGENT, K_UINT, H(resources), 0, -1, 1, 250, "4",
      "virtual resources (node slots) offered" },
    { "cpu-milli", S_HOSTAGENT, K_UINT, H(cpu_milli), 0, -1, 0, 256000, "1000",
      "CPU of each resource, in thousandths of a core (0: no limit)" },
    { "memory", S_HOSTAGENT, K_UINT, H(memory_mb), 0, -1, 0, 1048576, "256",
      "memory of each resource, MiB (0: no limit)" },
    { "firewall", S_HOSTAGENT, K_BOOL, H(firewall), 0, -1, 0, 0, "yes",
      "node underlay carries only HIP/ESP (UDP 10500)" },
    { "vpxid", S_HOSTAGENT, K_PATH, H(vpxid), 0, -1, 0, 0, "",
      "vpxid binary run in each node (empty: this daemon's binary)" },

    { "overlay", S_EXEC, K_STR, X(overlay), CFG_NAME_MAX, -1, 0, 0, NULL,
      "overlay the exec service listens on (default: the first)" },
    { "node", S_EXEC, K_PATH, X(node), 0, -1, 0, 0, "",
      "virtual node state directory: commands run in its namespaces" },
    { "uid", S_EXEC, K_UINT, X(uid), 0, -1, 0, 65535, "1000", "user id commands run as" },
    { "gid", S_EXEC, K_UINT, X(gid), 0, -1, 0, 65535, "1000", "group id commands run as" },
    { "timeout", S_EXEC, K_SECS, X(timeout), 0, -1, 1, 86400, "10m", "longest run of one command" },
};

enum { NKEYWORDS = sizeof(keywords) / sizeof(keywords[0]) };

/* ---- value parsers ----------------------------------------------------------- */

struct names {
    const char *name;
    uint16_t value;
};

static const struct names esp_names[] = {
    { "aes128-gcm16", VPXI_ESP_AES128GCM16 },
    { "aes128-cbc-sha256", VPXI_ESP_AES128CBC_SHA256 },
    { "null-sha256", VPXI_ESP_NULL_SHA256 },
    { "aes128-gmac", VPXI_ESP_AES128GMAC },
    { "clear", VPXI_ESP_CLEAR },
    { NULL, 0 },
};
static const struct names dh_names[] = {
    { "p256", 7 },
    { "modp2048", 11 },
    { "modp1536", 3 },
    { NULL, 0 },
};
static const struct names cipher_names[] = {
    { "aes128-cbc", 2 },
    { "aes256-cbc", 4 },
    { "null", 1 },
    { NULL, 0 },
};

static const char *name_of(const struct names *t, uint16_t v)
{
    for (; t->name; t++)
        if (t->value == v)
            return t->name;
    return "?";
}

int config_parse_addr(const char *s, uint16_t default_port, struct cfg_addr *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port = NULL;
    unsigned long p = default_port;
    char *end;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (size_t)(close - s - 1) >= sizeof(host))
            return -1;
        n = (size_t)(close - s - 1);
        memcpy(host, s + 1, n);
        host[n] = 0;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return -1;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon && strchr(s, ':') == colon) {
            n = (size_t)(colon - s);
            port = colon + 1;
        } else {
            n = strlen(s);
        }
        if (n >= sizeof(host))
            return -1;
        memcpy(host, s, n);
        host[n] = 0;
    }
    if (port) {
        errno = 0;
        p = strtoul(port, &end, 10);
        if (errno || *end || !*port || p == 0 || p > 65535)
            return -1;
    }
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)p);
            out->len = sizeof(*a4);
            return 0;
        }
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)p);
            out->len = sizeof(*a6);
            return 0;
        }
    }
    return -1;
}

void config_addr_str(const struct cfg_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
    } else {
        snprintf(buf, len, "-");
    }
}

static int parse_list(const struct names *t, const char *v, uint16_t *out, size_t *n, char *why,
                      size_t wlen)
{
    char buf[CFG_LINE_MAX], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", v);
    *n = 0;
    for (tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
        const struct names *e;
        for (e = t; e->name && strcmp(e->name, tok); e++)
            ;
        if (!e->name) {
            snprintf(why, wlen, "unknown name '%s' (one of:", tok);
            for (e = t; e->name; e++)
                snprintf(why + strlen(why), wlen - strlen(why), " %s", e->name);
            snprintf(why + strlen(why), wlen - strlen(why), ")");
            return -1;
        }
        if (*n >= CFG_LIST_MAX) {
            snprintf(why, wlen, "at most %d entries", CFG_LIST_MAX);
            return -1;
        }
        for (size_t i = 0; i < *n; i++)
            if (out[i] == e->value) {
                snprintf(why, wlen, "'%s' listed twice", tok);
                return -1;
            }
        out[(*n)++] = e->value;
    }
    if (*n == 0) {
        snprintf(why, wlen, "empty list");
        return -1;
    }
    return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    if (!isdigit((unsigned char)v[0]))
        return -1;
    x = strtoull(v, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 0: break;
    case 'k':
        x *= 1000ULL;
        end++;
        break;
    case 'M':
        x *= 1000000ULL;
        end++;
        break;
    case 'G':
        x *= 1000000000ULL;
        end++;
        break;
    case 'T':
        x *= 1000000000000ULL;
        end++;
        break;
    default: return -1;
    }
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static int parse_secs(const char *v, uint64_t *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    if (!isdigit((unsigned char)v[0]))
        return -1;
    x = strtoull(v, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case 0:
    case 's': break;
    case 'm': x *= 60; break;
    case 'h': x *= 3600; break;
    case 'd': x *= 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    *out = x;
    return 0;
}

/* Parses v into the field described by k inside base. */
static int set_value(const struct keyword *k, void *base, const char *v, char *why, size_t wlen)
{
    uint8_t *field = (uint8_t *)base + k->off;
    uint64_t x;

    switch (k->kind) {
    case K_STR:
    case K_PATH: {
        size_t cap = k->kind == K_PATH ? CFG_PATH_MAX : k->size;
        if (strlen(v) >= cap) {
            snprintf(why, wlen, "longer than %zu characters", cap - 1);
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    case K_IFNAME:
        if (!*v || strlen(v) >= IFNAMSIZ || strchr(v, '/') || strchr(v, ' ')) {
            snprintf(why, wlen, "not an interface name (1-%d characters)", IFNAMSIZ - 1);
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case K_UINT:
        if (parse_u64(v, &x) != 0 || x < k->min || x > k->max) {
            snprintf(why, wlen, "expected an integer from %lu to %lu", k->min, k->max);
            return -1;
        }
        *(unsigned *)field = (unsigned)x;
        return 0;
    case K_U64:
        if (parse_u64(v, &x) != 0 || x < k->min || (k->max && x > k->max)) {
            snprintf(why, wlen, "expected a count from %lu to %lu (suffixes k, M, G, T)", k->min,
                     k->max);
            return -1;
        }
        *(uint64_t *)field = x;
        return 0;
    case K_SECS:
        if (parse_secs(v, &x) != 0 || x < k->min || x > k->max) {
            snprintf(why, wlen, "expected a duration from %lus to %lus (suffixes s, m, h, d)",
                     k->min, k->max);
            return -1;
        }
        *(unsigned *)field = (unsigned)x;
        return 0;
    case K_ADDR:
        if (config_parse_addr(v, 10500, (struct cfg_addr *)field) != 0) {
            snprintf(why, wlen, "expected IPv4[:port] or [IPv6][:port]");
            return -1;
        }
        return 0;
    case K_IPV4: {
        struct in_addr a;
        if (inet_pton(AF_INET, v, &a) != 1 || (ntohl(a.s_addr) & 0xffc00000u) != 0x64400000u) {
            snprintf(why, wlen, "expected an IPv4 address in 100.64.0.0/10");
            return -1;
        }
        *(struct in_addr *)field = a;
        return 0;
    }
    case K_HIT:
        if (vpxi_hit_from_str(v, field) != 0) {
            snprintf(why, wlen, "expected a HIT (an IPv6 ORCHID in 2001:20::/28)");
            return -1;
        }
        return 0;
    case K_LEVEL: {
        int lv = log_level_parse(v);
        if (lv < 0) {
            snprintf(why, wlen, "expected err, warn, info, proto or debug");
            return -1;
        }
        *(int *)field = lv;
        return 0;
    }
    case K_ESP:
        /* "esp" lives at different offsets in overlays and peers */
        return -2;
    case K_DH:
        return parse_list(dh_names, v, (uint16_t *)field, (size_t *)((uint8_t *)base + k->size),
                          why, wlen);
    case K_CIPHER:
        return parse_list(cipher_names, v, (uint16_t *)field, (size_t *)((uint8_t *)base + k->size),
                          why, wlen);
    case K_SEXP: {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_sexp *n;
        struct vpxi_sexp_error e;
        int r = sx ? vpxi_sexp_read(sx, (const uint8_t *)v, strlen(v), NULL, &n, &e) : -1;
        vpxi_sx_free(sx);
        if (*v && r != 0) {
            snprintf(why, wlen, "not an S-expression (byte %zu: %s)", e.offset, vpxi_strerror(r));
            return -1;
        }
        if (strlen(v) >= k->size) {
            snprintf(why, wlen, "too long");
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    case K_CHAIN: {
        struct cfg_overlay *o = base;
        if (o->nchain >= CFG_CHAIN_MAX) {
            snprintf(why, wlen, "at most %d chain files", CFG_CHAIN_MAX);
            return -1;
        }
        if (strlen(v) >= CFG_PATH_MAX) {
            snprintf(why, wlen, "path too long");
            return -1;
        }
        memcpy(o->chain[o->nchain++], v, strlen(v) + 1);
        return 0;
    }
    case K_HITS: {
        size_t *n = (size_t *)((uint8_t *)base + k->size);
        if (!*v)
            return 0; /* "admin =": none (what config_show prints for none) */
        if (*n >= CFG_LIST_MAX) {
            snprintf(why, wlen, "at most %d", CFG_LIST_MAX);
            return -1;
        }
        if (vpxi_hit_from_str(v, (uint8_t *)field + 16 * *n) != 0) {
            snprintf(why, wlen, "expected a HIT (an IPv6 ORCHID in 2001:20::/28)");
            return -1;
        }
        (*n)++;
        return 0;
    }
    case K_PORTLINK: {
        size_t *n = (size_t *)((uint8_t *)base + k->size);
        struct cfg_portlink pl, *all = (struct cfg_portlink *)(void *)field;
        char proto[4], sec[16], extra;
        unsigned lo, hi;
        int got;
        if (!*v)
            return 0; /* "port-link =": none */
        if (*n >= CFG_PORTLINKS_MAX) {
            snprintf(why, wlen, "at most %d", CFG_PORTLINKS_MAX);
            return -1;
        }
        got = sscanf(v, "%3[a-z]/%u-%u %15s %c", proto, &lo, &hi, sec, &extra);
        if (got != 4) {
            got = sscanf(v, "%3[a-z]/%u %15s %c", proto, &lo, sec, &extra);
            hi = lo;
            if (got != 3)
                got = -1;
        }
        if (got < 0 || (strcmp(proto, "tcp") && strcmp(proto, "udp")) || lo < 1 || hi > 65535 ||
            lo > hi) {
            snprintf(why, wlen, "expected tcp|udp/PORT[-PORT] encrypt|integrity|clear (1-65535)");
            return -1;
        }
        pl.proto = !strcmp(proto, "tcp") ? IPPROTO_TCP : IPPROTO_UDP;
        pl.lo = (uint16_t)lo;
        pl.hi = (uint16_t)hi;
        if (!strcmp(sec, "clear"))
            pl.sec = CFG_SEC_CLEAR;
        else if (!strcmp(sec, "integrity"))
            pl.sec = CFG_SEC_INTEGRITY;
        else if (!strcmp(sec, "encrypt"))
            pl.sec = CFG_SEC_ENCRYPT;
        else {
            snprintf(why, wlen, "expected encrypt, integrity or clear after the ports");
            return -1;
        }
        for (size_t i = 0; i < *n; i++)
            if (all[i].proto == pl.proto && all[i].lo <= pl.hi && pl.lo <= all[i].hi) {
                snprintf(why, wlen, "overlaps %s/%u-%u", proto, all[i].lo, all[i].hi);
                return -1;
            }
        all[(*n)++] = pl;
        return 0;
    }
    case K_CHOICE:
        if (strcmp(v, "auto") && strcmp(v, "manual")) {
            snprintf(why, wlen, "expected auto or manual");
            return -1;
        }
        snprintf((char *)field, 16, "%s", v);
        return 0;
    case K_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on")) {
            *(bool *)field = true;
            return 0;
        }
        if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off")) {
            *(bool *)field = false;
            return 0;
        }
        snprintf(why, wlen, "expected yes or no");
        return -1;
    case K_LINK:
        if (strcmp(v, "encrypt") && strcmp(v, "integrity") && strcmp(v, "clear")) {
            snprintf(why, wlen, "expected encrypt, integrity or clear");
            return -1;
        }
        snprintf((char *)field, 16, "%s", v);
        return 0;
    }
    snprintf(why, wlen, "internal: unknown kind");
    return -1;
}

static int set_esp(unsigned section, void *base, const char *v, char *why, size_t wlen)
{
    if (section == S_OVERLAY) {
        struct cfg_overlay *o = base;
        return parse_list(esp_names, v, o->esp, &o->nesp, why, wlen);
    }
    struct cfg_peer *p = base;
    return parse_list(esp_names, v, p->esp, &p->nesp, why, wlen);
}

static int apply(const struct keyword *k, unsigned section, void *base, const char *v, char *why,
                 size_t wlen)
{
    int r =
        k->kind == K_ESP ? set_esp(section, base, v, why, wlen) : set_value(k, base, v, why, wlen);

    if (r == 0 && k->flag_off >= 0)
        *(bool *)((uint8_t *)base + k->flag_off) = true;
    return r;
}

/* ---- the file --------------------------------------------------------------- */

struct parser {
    const char *path;
    int line;
    char *err;
    size_t errlen;
    struct config *c;
    unsigned section;
    void *base;
    bool seen[NKEYWORDS];
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, p->line);

    va_start(ap, fmt);
    if (n > 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void apply_defaults(unsigned section, void *base)
{
    char why[CFG_ERR_MAX];

    for (size_t i = 0; i < NKEYWORDS; i++)
        if ((keywords[i].sections & section) && keywords[i].def &&
            !(keywords[i].kind == K_ESP && section == S_PEER) && keywords[i].def[0] != '\0')
            (void)apply(&keywords[i], section, base, keywords[i].def, why, sizeof(why));
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= CFG_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int open_section(struct parser *p, char *hdr)
{
    char *words[4], *save = NULL, *tok;
    int n = 0;

    for (tok = strtok_r(hdr, " \t", &save); tok && n < 4; tok = strtok_r(NULL, " \t", &save))
        words[n++] = tok;
    memset(p->seen, 0, sizeof(p->seen));
    if (n == 1 && !strcmp(words[0], "daemon")) {
        p->section = S_DAEMON;
        p->base = p->c;
        return 0;
    }
    if (n == 2 && !strcmp(words[0], "overlay")) {
        struct cfg_overlay *o;
        if (!valid_name(words[1]))
            return fail(p, "[overlay %s]: names use letters, digits, '-', '_' and '.'", words[1]);
        if (config_overlay(p->c, words[1]))
            return fail(p, "[overlay %s] defined twice", words[1]);
        if (p->c->noverlays >= CFG_OVERLAYS_MAX)
            return fail(p, "at most %d overlays", CFG_OVERLAYS_MAX);
        o = &p->c->overlays[p->c->noverlays++];
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", words[1]);
        o->line = p->line;
        apply_defaults(S_OVERLAY, o);
        p->section = S_OVERLAY;
        p->base = o;
        return 0;
    }
    if (n == 3 && !strcmp(words[0], "peer")) {
        struct cfg_overlay *o = (struct cfg_overlay *)config_overlay(p->c, words[1]);
        struct cfg_peer *peer, *np;
        if (!o)
            return fail(p, "[peer %s %s]: no [overlay %s] before it", words[1], words[2], words[1]);
        if (!valid_name(words[2]))
            return fail(p, "[peer %s %s]: bad peer name", words[1], words[2]);
        for (size_t i = 0; i < o->npeers; i++)
            if (!strcmp(o->peers[i].name, words[2]))
                return fail(p, "[peer %s %s] defined twice", words[1], words[2]);
        if (o->npeers >= CFG_PEERS_MAX)
            return fail(p, "at most %d peers per overlay", CFG_PEERS_MAX);
        if ((np = vpxi_realloc(o->peers, (o->npeers + 1) * sizeof(*np))) == NULL)
            return fail(p, "out of memory");
        o->peers = np;
        peer = &o->peers[o->npeers++];
        memset(peer, 0, sizeof(*peer));
        snprintf(peer->name, sizeof(peer->name), "%s", words[2]);
        snprintf(peer->overlay, sizeof(peer->overlay), "%s", words[1]);
        peer->line = p->line;
        apply_defaults(S_PEER, peer);
        p->section = S_PEER;
        p->base = peer;
        return 0;
    }
    if (n == 1 && (!strcmp(words[0], "registrar") || !strcmp(words[0], "hostagent") ||
                   !strcmp(words[0], "exec"))) {
        bool *enabled;
        int *line;
        if (!strcmp(words[0], "registrar")) {
            p->section = S_REGISTRAR;
            p->base = &p->c->registrar;
            enabled = &p->c->registrar.enabled;
            line = &p->c->registrar.line;
        } else if (!strcmp(words[0], "hostagent")) {
            p->section = S_HOSTAGENT;
            p->base = &p->c->hostagent;
            enabled = &p->c->hostagent.enabled;
            line = &p->c->hostagent.line;
        } else {
            p->section = S_EXEC;
            p->base = &p->c->exec;
            enabled = &p->c->exec.enabled;
            line = &p->c->exec.line;
        }
        if (*enabled)
            return fail(p, "[%s] defined twice", words[0]);
        *enabled = true;
        *line = p->line;
        return 0;
    }
    return fail(p,
                "unknown section [%s] (expected [daemon], [overlay NAME], [peer OVERLAY NAME], "
                "[registrar], [hostagent], [exec])",
                hdr);
}

static int parse_line(struct parser *p, char *line)
{
    char *eq, *key, *val, why[CFG_ERR_MAX] = "";

    line = trim(line);
    if (!*line || *line == '#' || *line == ';')
        return 0;
    if (*line == '[') {
        char *end = strchr(line, ']');
        if (!end || trim(end + 1)[0])
            return fail(p, "malformed section header '%s'", line);
        *end = 0;
        return open_section(p, trim(line + 1));
    }
    if (!p->section)
        return fail(p, "'%s' outside a section", line);
    if ((eq = strchr(line, '=')) == NULL)
        return fail(p, "expected 'key = value', got '%s'", line);
    *eq = 0;
    key = trim(line);
    val = trim(eq + 1);
    for (size_t i = 0; i < NKEYWORDS; i++) {
        const struct keyword *k = &keywords[i];
        if (strcmp(k->name, key) || !(k->sections & p->section))
            continue;
        if (p->seen[i] && k->kind != K_CHAIN && k->kind != K_HITS && k->kind != K_PORTLINK)
            return fail(p, "%s given twice in this section", key);
        p->seen[i] = true;
        if (apply(k, p->section, p->base, val, why, sizeof(why)) != 0)
            return fail(p, "%s '%s': %s", key, val, why);
        return 0;
    }
    for (size_t i = 0; i < NKEYWORDS; i++)
        if (!strcmp(keywords[i].name, key))
            return fail(p, "%s is not valid in this section", key);
    return fail(p, "unknown key '%s'", key);
}

/* A role's overlay: named, or the first one. */
static int role_overlay(struct parser *p, const char *role, int line, char *name)
{
    p->line = line;
    if (!name[0]) {
        snprintf(name, CFG_NAME_MAX, "%s", p->c->overlays[0].name);
        return 0;
    }
    if (!config_overlay(p->c, name))
        return fail(p, "[%s]: overlay '%s' is not defined", role, name);
    return 0;
}

int config_parse_subnet(const char *s, struct in_addr *net, unsigned *prefix)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    char *end;
    unsigned long n;
    uint32_t mask;

    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    errno = 0;
    n = strtoul(slash + 1, &end, 10);
    if (errno || *end || !slash[1] || n < 8 || n > 30 || inet_pton(AF_INET, buf, net) != 1)
        return -1;
    mask = htonl(~0u << (32 - n));
    if ((net->s_addr & ~mask) != 0)
        return -1;
    *prefix = (unsigned)n;
    return 0;
}

static int validate_roles(struct parser *p)
{
    struct config *c = p->c;
    struct in_addr net;
    unsigned prefix;

    if (c->registrar.enabled &&
        role_overlay(p, "registrar", c->registrar.line, c->registrar.overlay) != 0)
        return -1;
    if (c->exec.enabled && role_overlay(p, "exec", c->exec.line, c->exec.overlay) != 0)
        return -1;
    if (!c->hostagent.enabled)
        return 0;
    if (role_overlay(p, "hostagent", c->hostagent.line, c->hostagent.overlay) != 0)
        return -1;
    if (!c->hostagent.has_registrar)
        return fail(p, "[hostagent]: registrar (its HIT) is required");
    if (!c->hostagent.site[0] || !valid_name(c->hostagent.site))
        return fail(p, "[hostagent]: site is required (letters, digits, '-', '_', '.')");
    if (!c->hostagent.subnet[0])
        return fail(p, "[hostagent]: node-subnet is required (e.g. 198.19.1.0/24)");
    if (config_parse_subnet(c->hostagent.subnet, &net, &prefix) != 0)
        return fail(p, "[hostagent]: node-subnet '%s': expected an IPv4 network a.b.c.d/8..30",
                    c->hostagent.subnet);
    if (c->hostagent.resources + 2 >= (1u << (32 - prefix)))
        return fail(p, "[hostagent]: node-subnet %s has room for fewer than %u nodes",
                    c->hostagent.subnet, c->hostagent.resources);
    return 0;
}

/* Checks that need the whole file. */
static int validate(struct parser *p)
{
    struct config *c = p->c;

    p->line = 0;
    if (c->noverlays == 0)
        return fail(p, "no [overlay NAME] section: nothing to do");
    for (size_t i = 0; i < c->noverlays; i++) {
        struct cfg_overlay *o = &c->overlays[i];
        p->line = o->line;
        if (!o->keyfile[0])
            return fail(p, "[overlay %s]: key is required", o->name);
        if (!o->aclfile[0])
            return fail(p, "[overlay %s]: acl is required", o->name);
        if (!o->tun[0])
            snprintf(o->tun, sizeof(o->tun), "vpxi%u", (unsigned)(i % CFG_OVERLAYS_MAX));
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->overlays[j].tun, o->tun))
                return fail(p, "[overlay %s]: tun %s already used by [overlay %s]", o->name, o->tun,
                            c->overlays[j].name);
            if (c->overlays[j].listen.len == o->listen.len &&
                !memcmp(&c->overlays[j].listen.ss, &o->listen.ss, o->listen.len))
                return fail(p, "[overlay %s]: listen address already used by [overlay %s]", o->name,
                            c->overlays[j].name);
        }
        for (size_t k = 0; k < o->npeers; k++) {
            struct cfg_peer *pe = &o->peers[k];
            p->line = pe->line;
            if (!pe->has_hit && !pe->keyfile[0])
                return fail(p, "[peer %s %s]: hit or pubkey is required", o->name, pe->name);
            if (!pe->has_address)
                return fail(p, "[peer %s %s]: address is required (static peers)", o->name,
                            pe->name);
            if (pe->has_ipv4 && o->has_ipv4 && pe->ipv4.s_addr == o->ipv4.s_addr)
                return fail(p, "[peer %s %s]: ipv4 equals the overlay's own", o->name, pe->name);
            for (size_t m = 0; m < k; m++)
                if (pe->has_ipv4 && o->peers[m].has_ipv4 &&
                    o->peers[m].ipv4.s_addr == pe->ipv4.s_addr)
                    return fail(p, "[peer %s %s]: ipv4 already used by peer %s", o->name, pe->name,
                                o->peers[m].name);
        }
    }
    return validate_roles(p);
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    struct parser p = { 0 };
    char line[CFG_LINE_MAX];
    FILE *f;
    struct config *c;
    int r = 0;

    err[0] = 0;
    if ((c = vpxi_calloc(1, sizeof(*c))) == NULL ||
        (c->overlays = vpxi_calloc(CFG_OVERLAYS_MAX, sizeof(*c->overlays))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        config_free(c);
        return NULL;
    }
    snprintf(c->path, sizeof(c->path), "%s", path);
    apply_defaults(S_DAEMON, c);
    apply_defaults(S_REGISTRAR, &c->registrar);
    apply_defaults(S_HOSTAGENT, &c->hostagent);
    apply_defaults(S_EXEC, &c->exec);
    p.path = path;
    p.err = err;
    p.errlen = errlen;
    p.c = c;
    if ((f = fopen(path, "re")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        config_free(c);
        return NULL;
    }
    while (r == 0 && fgets(line, sizeof(line), f)) {
        p.line++;
        if (!strchr(line, '\n') && !feof(f)) {
            r = fail(&p, "line longer than %d characters", CFG_LINE_MAX - 2);
            break;
        }
        r = parse_line(&p, line);
    }
    if (r == 0 && ferror(f))
        r = fail(&p, "read error");
    fclose(f);
    if (r == 0)
        r = validate(&p);
    if (r) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->overlays && i < c->noverlays; i++)
        vpxi_free(c->overlays[i].peers);
    vpxi_free(c->overlays);
    vpxi_free(c);
}

const struct cfg_overlay *config_overlay(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->noverlays; i++)
        if (!strcmp(c->overlays[i].name, name))
            return &c->overlays[i];
    return NULL;
}

/* ---- show ----------------------------------------------------------------------- */

static void show_list(FILE *f, const struct names *t, const uint16_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? " " : "", name_of(t, v[i]));
}

static void show_value(FILE *f, const struct keyword *k, unsigned section, const void *base)
{
    const uint8_t *field = (const uint8_t *)base + k->off;
    char buf[INET6_ADDRSTRLEN + 16];

    switch (k->kind) {
    case K_STR:
    case K_PATH:
    case K_SEXP:
    case K_IFNAME:
    case K_CHOICE:
    case K_LINK: fprintf(f, "%s", (const char *)field); break;
    case K_HITS:
        for (size_t i = 0; i < *(const size_t *)((const uint8_t *)base + k->size); i++) {
            vpxi_hit_to_str(field + 16 * i, buf);
            fprintf(f, "%s", buf);
            if (i + 1 < *(const size_t *)((const uint8_t *)base + k->size))
                fprintf(f, "\n%s = ", k->name);
        }
        break;
    case K_PORTLINK: {
        static const char *const secs[] = { "clear", "integrity", "encrypt" };
        const struct cfg_portlink *pl = (const void *)field;
        size_t n = *(const size_t *)((const uint8_t *)base + k->size);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s/%u", pl[i].proto == IPPROTO_TCP ? "tcp" : "udp", pl[i].lo);
            if (pl[i].hi != pl[i].lo)
                fprintf(f, "-%u", pl[i].hi);
            fprintf(f, " %s", secs[pl[i].sec <= 2 ? pl[i].sec : 2]);
            if (i + 1 < n)
                fprintf(f, "\n%s = ", k->name);
        }
        break;
    }
    case K_BOOL: fprintf(f, "%s", *(const bool *)field ? "yes" : "no"); break;
    case K_UINT:
    case K_SECS: fprintf(f, "%u", *(const unsigned *)field); break;
    case K_U64: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case K_ADDR:
        config_addr_str((const struct cfg_addr *)field, buf, sizeof(buf));
        fprintf(f, "%s", buf);
        break;
    case K_IPV4: fprintf(f, "%s", inet_ntop(AF_INET, field, buf, sizeof(buf)) ? buf : ""); break;
    case K_HIT:
        vpxi_hit_to_str(field, buf);
        fprintf(f, "%s", buf);
        break;
    case K_LEVEL: {
        static const char *const lv[] = { "err", "warn", "info", "proto", "debug" };
        int v = *(const int *)field;
        fprintf(f, "%s", v >= 0 && v <= 4 ? lv[v] : "?");
        break;
    }
    case K_ESP:
        if (section == S_OVERLAY)
            show_list(f, esp_names, ((const struct cfg_overlay *)base)->esp,
                      ((const struct cfg_overlay *)base)->nesp);
        else
            show_list(f, esp_names, ((const struct cfg_peer *)base)->esp,
                      ((const struct cfg_peer *)base)->nesp);
        break;
    case K_DH:
        show_list(f, dh_names, (const uint16_t *)field,
                  *(const size_t *)((const uint8_t *)base + k->size));
        break;
    case K_CIPHER:
        show_list(f, cipher_names, (const uint16_t *)field,
                  *(const size_t *)((const uint8_t *)base + k->size));
        break;
    case K_CHAIN: {
        const struct cfg_overlay *o = base;
        for (size_t i = 0; i < o->nchain; i++)
            fprintf(f, "%s%s", i ? "\nchain = " : "", o->chain[i]);
        break;
    }
    }
}

static void show_section(FILE *f, unsigned section, const void *base)
{
    for (size_t i = 0; i < NKEYWORDS; i++) {
        const struct keyword *k = &keywords[i];
        if (!(k->sections & section))
            continue;
        if (k->flag_off >= 0 && !*(const bool *)((const uint8_t *)base + k->flag_off))
            continue;
        if (k->kind == K_CHAIN && ((const struct cfg_overlay *)base)->nchain == 0)
            continue;
        if (k->kind == K_ESP && section == S_PEER && ((const struct cfg_peer *)base)->nesp == 0)
            continue;
        if (k->kind == K_PORTLINK && ((const struct cfg_peer *)base)->nportlinks == 0)
            continue;
        fprintf(f, "%s = ", k->name);
        show_value(f, k, section, base);
        fprintf(f, "\n");
    }
}

void config_show(const struct config *c, FILE *f)
{
    fprintf(f, "[daemon]\n");
    show_section(f, S_DAEMON, c);
    for (size_t i = 0; i < c->noverlays; i++) {
        const struct cfg_overlay *o = &c->overlays[i];
        fprintf(f, "\n[overlay %s]\n", o->name);
        show_section(f, S_OVERLAY, o);
        for (size_t j = 0; j < o->npeers; j++) {
            fprintf(f, "\n[peer %s %s]\n", o->name, o->peers[j].name);
            show_section(f, S_PEER, &o->peers[j]);
        }
    }
    if (c->registrar.enabled) {
        fprintf(f, "\n[registrar]\n");
        show_section(f, S_REGISTRAR, &c->registrar);
    }
    if (c->hostagent.enabled) {
        fprintf(f, "\n[hostagent]\n");
        show_section(f, S_HOSTAGENT, &c->hostagent);
    }
    if (c->exec.enabled) {
        fprintf(f, "\n[exec]\n");
        show_section(f, S_EXEC, &c->exec);
    }
}
