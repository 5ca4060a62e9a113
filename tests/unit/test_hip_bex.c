/*
 * test_hip_bex.c - two in-memory HIP hosts (lib/hip/): base exchanges for
 * every key type, DH group, HIP cipher and ESP suite; SPKI authorization
 * and its refusals; ESP policy; simultaneous opening; retransmission and
 * back-off; UPDATE rekeys with and without DH (also simultaneous, and up to
 * KEYMAT exhaustion); certificate renewal; locators and address changes;
 * CLOSE/CLOSE_ACK; and the attack cases: truncation at every length and
 * every header bit of every packet type, every byte of every authenticated
 * packet, reordered, duplicated and unknown critical parameters, bad
 * puzzle solutions, replayed I2s, forged signatures, wrong HMACs, unknown
 * R1 generations, wrong-state packets, oversize packets.
 *
 * The "network" is a loop that moves outputs of one host into the other
 * with vpxi_hip_input(); a hook may drop or rewrite packets on the way.
 * A small model of the daemon installs SAs from the events so that each
 * side's outbound keys can be compared with the other's inbound keys.
 *
 * With VPXI_HIP_CORPUS=<dir> the packets of one full run (I1, R1, I2, R2,
 * UPDATEs, NOTIFY, CLOSE, CLOSE_ACK) are written there (the fuzz corpus);
 * with VPXI_HIP_PCAP=<file> a pcap of a full exchange over UDP 10500
 * (Ethernet/IPv4/UDP, 4 zero bytes, HIP) is written
 * (tests/vectors/test_hip_tshark.sh).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "t.h"

#include "hip/hip_int.h"
#include "vpxi/alloc.h"
#include "vpxi/ct.h"

enum { MAXEV = 2048, MAXLOG = 4096, MAXSA = 32 };

struct sa_rec {
    uint32_t spi;
    struct vpxi_esp_keys k;
};

struct node {
    const char *keyfile;
    struct vpxi_hip_host *h;
    struct vpxi_key *key;
    uint8_t hit[VPXI_HIT_LEN];
    struct sockaddr_storage addr, addr2;
    struct vpxi_hip_config cfg;
    struct vpxi_hip_event ev[MAXEV];
    size_t nev;
    /* authorization model */
    int auth_result;
    uint16_t auth_notify;
    int64_t valid_end;
    size_t auth_calls, last_ncerts;
    uint8_t last_cert[512];
    size_t last_cert_len;
    unsigned esp_only; /* policy: only this suite (0: any) */
    /* daemon model: installed SAs */
    struct sa_rec in[MAXSA];
    size_t nin;
    struct sa_rec out[MAXSA];
    size_t nout;
    uint32_t cur_out;
};

struct pkt_rec {
    int from;
    int64_t t;
    struct sockaddr_storage src, dst;
    size_t len;
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
};

struct world;
/* Returns false to drop the packet; may rewrite it. */
typedef bool (*hook_fn)(struct world *w, int from, uint8_t *pkt, size_t *len,
                        struct sockaddr_storage *src, struct sockaddr_storage *dst);

struct world {
    struct node n[2];
    int64_t now;
    struct pkt_rec *log;
    size_t nlog;
    hook_fn hook;
    int hook_state;
    int hook_count;
};

static struct world W; /* one world at a time */

/* ---- setup --------------------------------------------------------------- */

static void addr4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    inet_pton(AF_INET, a, &s->sin_addr);
}

static struct vpxi_key *load_key(const char *name)
{
    struct vpxi_key *k = NULL;
    size_t len = 0;
    char *text = t_read_file(t_vector_path(name), &len);

    if (!text) {
        fprintf(stderr, "cannot read %s\n", t_vector_path(name));
        return NULL;
    }
    if (vpxi_key_parse((const uint8_t *)text, len, &k) != 0)
        k = NULL;
    vpxi_freezero(text, len);
    return k;
}

static int cb_authorize(void *ctx, const uint8_t hit[VPXI_HIT_LEN], struct vpxi_key *key,
                        const struct vpxi_iov *certs, size_t n, struct vpxi_validity *valid,
                        uint16_t *notify)
{
    struct node *nd = ctx;

    (void)hit;
    (void)key;
    nd->auth_calls++;
    nd->last_ncerts = n;
    nd->last_cert_len = 0;
    if (n && certs[0].len <= sizeof(nd->last_cert)) {
        memcpy(nd->last_cert, certs[0].p, certs[0].len);
        nd->last_cert_len = certs[0].len;
    }
    if (nd->auth_result) {
        if (nd->auth_notify)
            *notify = nd->auth_notify;
        return nd->auth_result;
    }
    valid->not_before = 1000;
    valid->not_after = nd->valid_end;
    return 0;
}

static bool cb_esp(void *ctx, const uint8_t hit[VPXI_HIT_LEN], const struct sockaddr_storage *p,
                   unsigned suite)
{
    struct node *nd = ctx;
    (void)hit;
    (void)p;
    return !nd->esp_only || suite == nd->esp_only;
}

typedef void (*tweak_fn)(struct vpxi_hip_config *c, int idx);

static void no_tweak(struct vpxi_hip_config *c, int idx)
{
    (void)c;
    (void)idx;
}

static bool world_init(const char *ka, const char *kb, tweak_fn tweak)
{
    const char *files[2] = { ka, kb };

    memset(&W, 0, sizeof(W));
    W.now = 1000000;
    W.log = calloc(MAXLOG, sizeof(*W.log));
    for (int i = 0; i < 2; i++) {
        struct node *nd = &W.n[i];
        struct vpxi_hip_callbacks cb = { nd, cb_authorize, cb_esp };

        nd->keyfile = files[i];
        if ((nd->key = load_key(files[i])) == NULL)
            return false;
        vpxi_hip_config_default(&nd->cfg);
        nd->cfg.i2_rate_threshold = 0;
        (tweak ? tweak : no_tweak)(&nd->cfg, i);
        nd->valid_end = 1000 + 3600;
        addr4(&nd->addr, i == 0 ? "198.18.0.1" : "198.18.0.2", VPXI_HIP_UDP_PORT);
        addr4(&nd->addr2, i == 0 ? "198.18.1.1" : "198.18.1.2", VPXI_HIP_UDP_PORT + 1);
        if (vpxi_hip_host_new(nd->key, &nd->cfg, &cb, W.now, &nd->h) != 0)
            return false;
        memcpy(nd->hit, vpxi_hip_host_hit(nd->h), VPXI_HIT_LEN);
    }
    return true;
}

static void world_free(void)
{
    for (int i = 0; i < 2; i++) {
        vpxi_hip_host_free(W.n[i].h);
        vpxi_key_put(W.n[i].key);
    }
    free(W.log);
    memset(&W, 0, sizeof(W));
}

/* ---- the daemon model ---------------------------------------------------- */

static void sa_add(struct sa_rec *v, size_t *n, uint32_t spi, const struct vpxi_esp_keys *k)
{
    if (*n < MAXSA)
        v[(*n)++] = (struct sa_rec){ spi, *k };
}

static void sa_del(struct sa_rec *v, size_t *n, uint32_t spi)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i].spi == spi) {
            v[i] = v[--*n];
            return;
        }
}

static const struct sa_rec *sa_find(const struct sa_rec *v, size_t n, uint32_t spi)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].spi == spi)
            return &v[i];
    return NULL;
}

static void model_event(struct node *nd, const struct vpxi_hip_event *ev)
{
    switch (ev->type) {
    case VPXI_HIP_EV_ESTABLISHED:
        nd->nin = nd->nout = 0;
        sa_add(nd->in, &nd->nin, ev->sa.spi_in, &ev->sa.in);
        sa_add(nd->out, &nd->nout, ev->sa.spi_out, &ev->sa.out);
        nd->cur_out = ev->sa.spi_out;
        break;
    case VPXI_HIP_EV_REKEYED:
        sa_add(nd->in, &nd->nin, ev->sa.spi_in, &ev->sa.in);
        sa_add(nd->out, &nd->nout, ev->sa.spi_out, &ev->sa.out);
        if (ev->activate) {
            nd->cur_out = ev->sa.spi_out;
            sa_del(nd->out, &nd->nout, ev->old_spi_out);
        }
        break;
    case VPXI_HIP_EV_SA_ACTIVATE:
        nd->cur_out = ev->sa.spi_out;
        sa_del(nd->out, &nd->nout, ev->old_spi_out);
        break;
    case VPXI_HIP_EV_SA_RETIRE: sa_del(nd->in, &nd->nin, ev->old_spi_in); break;
    case VPXI_HIP_EV_CLOSED:
        nd->nin = nd->nout = 0;
        nd->cur_out = 0;
        break;
    default: break;
    }
}

/* Every SA a node sends on exists at the peer with the same keys. */
static void check_sas(void)
{
    for (int i = 0; i < 2; i++) {
        const struct node *a = &W.n[i], *b = &W.n[1 - i];
        const struct sa_rec *o = sa_find(a->out, a->nout, a->cur_out);
        const struct sa_rec *in = sa_find(b->in, b->nin, a->cur_out);
        CHECK(o != NULL);
        CHECK(in != NULL);
        if (o && in) {
            CHECK_EQ(o->k.enc_len, in->k.enc_len);
            CHECK_EQ(o->k.auth_len, in->k.auth_len);
            CHECK(memcmp(&o->k, &in->k, sizeof(o->k)) == 0);
        }
    }
}

/* ---- the network ---------------------------------------------------------- */

static int node_of(const struct sockaddr_storage *dst)
{
    for (int i = 0; i < 2; i++)
        if (hip_addr_equal(dst, &W.n[i].addr) || hip_addr_equal(dst, &W.n[i].addr2))
            return i;
    return -1;
}

static int deliver(int to, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
                   const uint8_t *pkt, size_t len)
{
    return vpxi_hip_input(W.n[to].h, src, dst, pkt, len, W.now);
}

static void handle_output(int i, struct vpxi_hip_output *o)
{
    struct node *nd = &W.n[i];

    if (o->kind == VPXI_HIP_OUT_EVENT) {
        model_event(nd, &o->ev);
        if (nd->nev < MAXEV) {
            nd->ev[nd->nev] = o->ev;
            nd->ev[nd->nev++].peer_key = NULL;
        }
        CHECK(o->ev.type != VPXI_HIP_EV_ESTABLISHED || o->ev.peer_key != NULL);
        return;
    }
    {
        struct sockaddr_storage src = hip_addr_valid(&o->src) ? o->src : nd->addr;
        struct sockaddr_storage dst = o->dst;
        int to;

        CHECK(o->len >= VPXI_HIP_HDR_LEN && o->len <= VPXI_HIP_PACKET_MAX);
        if (W.nlog < MAXLOG) {
            struct pkt_rec *p = &W.log[W.nlog++];
            p->from = i;
            p->t = W.now;
            p->src = src;
            p->dst = dst;
            p->len = o->len;
            memcpy(p->pkt, o->pkt, o->len);
        }
        if (W.hook && !W.hook(&W, i, o->pkt, &o->len, &src, &dst))
            return;
        if ((to = node_of(&dst)) >= 0 && to != i)
            (void)deliver(to, &src, &dst, o->pkt, o->len);
    }
}

static void pump(void)
{
    struct vpxi_hip_output o;
    bool more = true;

    for (int rounds = 0; more && rounds < 10000; rounds++) {
        more = false;
        for (int i = 0; i < 2; i++)
            while (vpxi_hip_poll(W.n[i].h, &o) == 0) {
                more = true;
                handle_output(i, &o);
                vpxi_hip_output_clear(&o);
            }
    }
}

/* Discards pending outputs of node i without delivering them. */
static void discard(int i)
{
    struct vpxi_hip_output o;

    while (vpxi_hip_poll(W.n[i].h, &o) == 0)
        vpxi_hip_output_clear(&o);
}

/* Runs timers and the network until ms have passed. */
static void run_for(int64_t ms)
{
    int64_t end = W.now + ms;

    pump();
    for (int guard = 0; guard < 100000; guard++) {
        int64_t t = vpxi_hip_next_timeout(W.n[0].h), t2 = vpxi_hip_next_timeout(W.n[1].h);
        if (t2 < t)
            t = t2;
        if (t > end)
            break;
        if (t > W.now)
            W.now = t;
        vpxi_hip_timer(W.n[0].h, W.now);
        vpxi_hip_timer(W.n[1].h, W.now);
        pump();
    }
    W.now = end;
    vpxi_hip_timer(W.n[0].h, W.now);
    vpxi_hip_timer(W.n[1].h, W.now);
    pump();
}

static size_t count_ev(int i, enum vpxi_hip_event_type t)
{
    size_t n = 0;
    for (size_t k = 0; k < W.n[i].nev; k++)
        n += W.n[i].ev[k].type == t;
    return n;
}

static const struct vpxi_hip_event *last_ev(int i, enum vpxi_hip_event_type t)
{
    for (size_t k = W.n[i].nev; k-- > 0;)
        if (W.n[i].ev[k].type == t)
            return &W.n[i].ev[k];
    return NULL;
}

static enum vpxi_hip_state state_of(int i)
{
    struct vpxi_hip_peer_info pi;
    if (vpxi_hip_peer_info(W.n[i].h, W.n[1 - i].hit, &pi) != 0)
        return VPXI_HS_UNASSOCIATED;
    return pi.state;
}

static uint64_t drops(int i, enum vpxi_hip_drop d)
{
    return vpxi_hip_host_stats(W.n[i].h)->drops[d];
}

static const struct pkt_rec *find_pkt(uint8_t type, int nth)
{
    for (size_t k = 0; k < W.nlog; k++)
        if ((W.log[k].pkt[2] & 0x7f) == type && nth-- == 0)
            return &W.log[k];
    return NULL;
}

static int connect_ab(void)
{
    return vpxi_hip_connect(W.n[0].h, W.n[1].hit, &W.n[1].addr, &W.n[0].addr, W.now);
}

/* A full base exchange A -> B; checks both ends. */
static bool bex_ok(void)
{
    const struct vpxi_hip_event *ea, *eb;

    CHECK_OK(connect_ab());
    run_for(100);
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    CHECK_EQ(state_of(1), VPXI_HS_R2_SENT);
    ea = last_ev(0, VPXI_HIP_EV_ESTABLISHED);
    eb = last_ev(1, VPXI_HIP_EV_ESTABLISHED);
    CHECK(ea && eb);
    if (!ea || !eb)
        return false;
    CHECK(ea->initiator && !eb->initiator);
    CHECK_EQ(ea->sa.spi_in, eb->sa.spi_out);
    CHECK_EQ(ea->sa.spi_out, eb->sa.spi_in);
    CHECK(memcmp(&ea->sa.out, &eb->sa.in, sizeof(ea->sa.out)) == 0);
    CHECK(memcmp(&ea->sa.in, &eb->sa.out, sizeof(ea->sa.in)) == 0);
    CHECK(memcmp(&ea->sa.in, &ea->sa.out, sizeof(ea->sa.in)) != 0);
    CHECK_EQ(ea->sa.suite, eb->sa.suite);
    CHECK_EQ(ea->sa.out.enc_len, vpxi_esp_enc_key_len(ea->sa.suite));
    CHECK_EQ(ea->sa.out.auth_len, vpxi_esp_auth_key_len(ea->sa.suite));
    CHECK_MEM(ea->peer_hit, W.n[1].hit, VPXI_HIT_LEN);
    CHECK_MEM(eb->peer_hit, W.n[0].hit, VPXI_HIT_LEN);
    CHECK_EQ(ea->valid.not_after, W.n[0].valid_end);
    CHECK_EQ(eb->valid.not_after, W.n[1].valid_end);
    check_sas();
    return state_of(0) == VPXI_HS_ESTABLISHED;
}

static void esp_on(int to, uint32_t spi_in)
{
    CHECK_OK(vpxi_hip_esp_seen(W.n[to].h, W.n[1 - to].hit, spi_in, &W.n[1 - to].addr, W.now));
    pump();
}

/* ---- output files: corpus and pcap ------------------------------------------ */

static const char *type_name(uint8_t t)
{
    switch (t) {
    case VPXI_HIP_I1: return "i1";
    case VPXI_HIP_R1: return "r1";
    case VPXI_HIP_I2: return "i2";
    case VPXI_HIP_R2: return "r2";
    case VPXI_HIP_UPDATE: return "update";
    case VPXI_HIP_NOTIFY: return "notify";
    case VPXI_HIP_CLOSE: return "close";
    case VPXI_HIP_CLOSE_ACK: return "close_ack";
    default: return "other";
    }
}

/* fuzz_hip input: a mode byte (0 parse only, 1 to B, 2 to A, 3/7 re-authenticated
 * to B/A), then the packet. */
static void write_corpus(const char *dir)
{
    char path[4096];
    int seq[32] = { 0 };

    for (size_t k = 0; k < W.nlog; k++) {
        uint8_t t = W.log[k].pkt[2] & 0x7f, mode = W.log[k].from == 0 ? 1 : 2;
        FILE *f;
        int n;
        if (seq[t & 31] >= 3)
            continue;
        n = seq[t & 31]++;
        for (int copy = 0; copy < 3; copy++) {
            static const char *const sfx[] = { "", "-parse", "-auth" };
            snprintf(path, sizeof(path), "%s/%s-%d%s", dir, type_name(t), n, sfx[copy]);
            if ((f = fopen(path, "wb")) != NULL) {
                /* mode 3: re-authenticated by the fuzzer as from A (bit 2: from B) */
                uint8_t m = copy == 0 ? mode : copy == 1 ? 0 : (uint8_t)(mode == 1 ? 3 : 7);
                fwrite(&m, 1, 1, f);
                fwrite(W.log[k].pkt, 1, W.log[k].len, f);
                fclose(f);
            }
        }
    }
}

static uint16_t csum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put32le(FILE *f, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    fwrite(b, 1, 4, f);
}

/* Ethernet / IPv4 / UDP 10500 / 4 zero bytes / HIP. */
static void write_pcap(const char *path)
{
    FILE *f = fopen(path, "wb");
    static uint8_t frame[14 + 20 + 8 + 4 + VPXI_HIP_PACKET_MAX];

    if (!f)
        return;
    put32le(f, 0xa1b2c3d4);
    fputc(2, f), fputc(0, f), fputc(4, f), fputc(0, f); /* version 2.4, little-endian */
    put32le(f, 0);
    put32le(f, 0);
    put32le(f, 65535);
    put32le(f, 1); /* Ethernet */
    for (size_t k = 0; k < W.nlog; k++) {
        const struct pkt_rec *p = &W.log[k];
        const struct sockaddr_in *s = (const struct sockaddr_in *)&p->src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)&p->dst;
        size_t ulen = 8 + 4 + p->len, ilen = 20 + ulen, flen = 14 + ilen;
        uint8_t *e = frame, *ip = frame + 14, *udp = ip + 20, ph[12];
        uint32_t sum;

        memset(frame, 0, 14 + 20 + 8 + 4);
        memcpy(e, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
        e[5] = (uint8_t)(p->from ? 1 : 2);
        e[11] = (uint8_t)(p->from ? 2 : 1);
        e[12] = 0x08;
        ip[0] = 0x45;
        vpxi_put_be16(ip + 2, (uint16_t)ilen);
        vpxi_put_be16(ip + 4, (uint16_t)k);
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 17;
        memcpy(ip + 12, &s->sin_addr, 4);
        memcpy(ip + 16, &d->sin_addr, 4);
        vpxi_put_be16(ip + 10, csum16(0, ip, 20));
        memcpy(udp, &s->sin_port, 2);
        memcpy(udp + 2, &d->sin_port, 2);
        vpxi_put_be16(udp + 4, (uint16_t)ulen);
        memcpy(udp + 12, p->pkt, p->len);
        memcpy(ph, ip + 12, 8);
        ph[8] = 0;
        ph[9] = 17;
        vpxi_put_be16(ph + 10, (uint16_t)ulen);
        sum = 0;
        for (size_t i = 0; i < 12; i += 2)
            sum += (uint32_t)ph[i] << 8 | ph[i + 1];
        vpxi_put_be16(udp + 6, csum16(sum, udp, ulen));
        put32le(f, (uint32_t)(1700000000 + p->t / 1000));
        put32le(f, (uint32_t)(p->t % 1000) * 1000 + (uint32_t)k);
        put32le(f, (uint32_t)flen);
        put32le(f, (uint32_t)flen);
        fwrite(frame, 1, flen, f);
    }
    fclose(f);
}

/* ---- base exchange ---------------------------------------------------------- */

static void test_bex_key_types(void)
{
    static const char *pairs[][2] = {
        { "keys/p256-1.pem", "keys/p256-2.pem" },
        { "keys/ed25519-1.pem", "keys/ed25519-2.pem" },
        { "keys/ed25519-1.pem", "keys/p256-2.pem" },
        { "keys/p256-1.pem", "keys/rsa3072-2.pem" },
        { "keys/rsa3072-1.pem", "keys/ed25519-2.pem" },
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        CHECK(world_init(pairs[i][0], pairs[i][1], NULL));
        if (W.n[1].h) {
            const struct vpxi_hip_stats *sb = vpxi_hip_host_stats(W.n[1].h);
            CHECK(bex_ok());
            /* I1, R1, I2, R2 and nothing else */
            CHECK_EQ(W.nlog, 4);
            CHECK_EQ(sb->i1_answered, 1);
            CHECK_EQ(sb->bex_completed, 1);
            CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->bex_completed, 1);
            for (int d = 0; d < VPXI_HIP_DROP_MAX; d++)
                CHECK_EQ(drops(0, d) + drops(1, d), 0);
            /* the Responder reaches ESTABLISHED on ESP or the EC timer */
            esp_on(1, W.n[1].in[0].spi);
            CHECK_EQ(state_of(1), VPXI_HS_ESTABLISHED);
        }
        world_free();
    }
}

static unsigned g_group, g_cipher, g_suite;
static bool g_encrypt, g_pseudo;

static void tweak_nego(struct vpxi_hip_config *c, int idx)
{
    if (idx == 0) {
        c->dh_groups[0] = (uint8_t)g_group;
        c->n_dh_groups = 1;
        c->hip_ciphers[0] = (uint16_t)g_cipher;
        c->n_hip_ciphers = 1;
        c->esp_suites[0] = (uint16_t)g_suite;
        c->n_esp_suites = 1;
    } else {
        c->hip_ciphers[2] = VPXI_HIP_CIPHER_NULL;
        c->n_hip_ciphers = 3;
    }
    c->encrypt_host_id = g_encrypt;
    c->checksum_pseudo = g_pseudo;
}

static void test_bex_negotiation(void)
{
    static const unsigned groups[] = { VPXI_DH_P256, VPXI_DH_MODP2048, VPXI_DH_MODP1536 };
    static const unsigned ciphers[] = { VPXI_HIP_CIPHER_AES128_CBC, VPXI_HIP_CIPHER_AES256_CBC,
                                        VPXI_HIP_CIPHER_NULL };
    static const unsigned suites[] = { VPXI_ESP_AES128GCM16, VPXI_ESP_AES128CBC_SHA256,
                                       VPXI_ESP_NULL_SHA256 };

    for (size_t g = 0; g < 3; g++)
        for (size_t c = 0; c < 3; c++) {
            g_group = groups[g];
            g_cipher = ciphers[c];
            g_suite = suites[(g + c) % 3];
            g_encrypt = (g + c) % 2 == 0;
            g_pseudo = c == 1;
            CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", tweak_nego));
            if (W.n[1].h && bex_ok()) {
                struct vpxi_hip_peer_info pa, pb;
                CHECK_OK(vpxi_hip_peer_info(W.n[0].h, W.n[1].hit, &pa));
                CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pb));
                CHECK_EQ(pa.dh_group, g_group);
                CHECK_EQ(pb.dh_group, g_group);
                CHECK_EQ(pa.hip_cipher, g_cipher);
                CHECK_EQ(pb.hip_cipher, g_cipher);
                CHECK_EQ(pa.esp_suite, g_suite);
                /* ENCRYPTED (641) instead of HOST_ID (705) in the I2 */
                {
                    const struct pkt_rec *i2 = find_pkt(VPXI_HIP_I2, 0);
                    struct hip_msg m;
                    CHECK(i2 != NULL);
                    if (i2) {
                        CHECK_OK(hip_msg_parse(&m, i2->pkt, i2->len));
                        CHECK_EQ(hip_msg_find(&m, VPXI_HIP_P_ENCRYPTED) != NULL, g_encrypt);
                        CHECK_EQ(hip_msg_find(&m, VPXI_HIP_P_HOST_ID) != NULL, !g_encrypt);
                        /* checksum: RFC 7401 pseudo-header, or 0 over UDP */
                        if (g_pseudo)
                            CHECK_EQ(vpxi_get_be16(i2->pkt + 4),
                                     hip_checksum(i2->pkt, i2->len, &i2->src, &i2->dst));
                        else
                            CHECK_EQ(vpxi_get_be16(i2->pkt + 4), 0);
                    }
                }
            }
            world_free();
        }
}

/* No common DH group / cipher, or a downgraded DH choice. */
static int g_nego_case;

static void tweak_nomatch(struct vpxi_hip_config *c, int idx)
{
    if (g_nego_case == 0 && idx == 0) {
        c->dh_groups[0] = VPXI_DH_MODP1536;
        c->n_dh_groups = 1;
    }
    if (g_nego_case == 0 && idx == 1) {
        c->dh_groups[0] = VPXI_DH_P256;
        c->n_dh_groups = 1;
    }
    if (g_nego_case == 1) {
        c->hip_ciphers[0] = idx == 0 ? VPXI_HIP_CIPHER_AES256_CBC : VPXI_HIP_CIPHER_AES128_CBC;
        c->n_hip_ciphers = 1;
    }
}

static void test_bex_no_common(void)
{
    static const uint16_t want[] = { VPXI_HIP_N_NO_DH_PROPOSAL_CHOSEN,
                                     VPXI_HIP_N_NO_HIP_PROPOSAL_CHOSEN };

    for (g_nego_case = 0; g_nego_case < 2; g_nego_case++) {
        const struct vpxi_hip_event *ev;
        CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_nomatch));
        if (!W.n[1].h)
            continue;
        CHECK_OK(connect_ab());
        run_for(100);
        ev = last_ev(0, VPXI_HIP_EV_FAILED);
        CHECK(ev != NULL);
        if (ev) {
            CHECK_EQ(ev->reason, VPXI_HIP_R_NEGOTIATION);
            CHECK_EQ(ev->notify, want[g_nego_case]);
        }
        CHECK_EQ(state_of(0), VPXI_HS_E_FAILED);
        CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
        /* E-FAILED lingers, then goes */
        run_for(W.n[0].cfg.failed_ms + 1);
        CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
        world_free();
    }
}

/* A DH group downgrade: an attacker rewrites the I1's DH_GROUP_LIST so that
 * the Responder picks a weaker group; the Initiator sees that the R1's group
 * is not the first mutual one of the signed list and ignores the R1. */
static bool hook_downgrade(struct world *w, int from, uint8_t *pkt, size_t *len,
                           struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    (void)from, (void)len, (void)src, (void)dst;
    if (pkt[2] == VPXI_HIP_I1 && w->hook_state == 0) {
        w->hook_state = 1;
        memset(pkt + 40 + 4, VPXI_DH_MODP1536, 3); /* {7, 11, 3} -> {3, 3, 3} */
    }
    return true;
}

static void test_bex_downgrade(void)
{
    struct vpxi_hip_peer_info pi;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    W.hook = hook_downgrade;
    CHECK_OK(connect_ab());
    pump();
    CHECK_EQ(drops(0, VPXI_HIP_DROP_NEGOTIATION), 1);
    CHECK_EQ(state_of(0), VPXI_HS_I1_SENT);
    run_for(2000); /* the retransmitted I1 is not rewritten */
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    CHECK_OK(vpxi_hip_peer_info(W.n[0].h, W.n[1].hit, &pi));
    CHECK_EQ(pi.dh_group, VPXI_DH_P256);
    world_free();
}

/* ---- authorization ------------------------------------------------------------ */

static void test_bex_certs(void)
{
    static const char c1[] = "(8:sequence(4:cert(6:issuer3:A-1)))";
    static const char c2[] = "(8:sequence(4:cert(6:issuer3:A-2)))";
    struct vpxi_iov chain[2] = { { c1, sizeof(c1) - 1 }, { c2, sizeof(c2) - 1 } };
    static const char b1[] = "(8:sequence(4:cert(6:issuer3:B-1)))";
    struct vpxi_iov bchain[1] = { { b1, sizeof(b1) - 1 } };

    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    if (!W.n[1].h)
        return;
    CHECK_OK(vpxi_hip_set_certs(W.n[0].h, chain, 2));
    CHECK_OK(vpxi_hip_set_certs(W.n[1].h, bchain, 1));
    CHECK(bex_ok());
    CHECK_EQ(W.n[1].auth_calls, 1);
    CHECK_EQ(W.n[1].last_ncerts, 2);
    CHECK_EQ(W.n[1].last_cert_len, sizeof(c1) - 1);
    CHECK_MEM(W.n[1].last_cert, c1, sizeof(c1) - 1);
    CHECK_EQ(W.n[0].auth_calls, 1);
    CHECK_EQ(W.n[0].last_ncerts, 1);
    CHECK_MEM(W.n[0].last_cert, b1, sizeof(b1) - 1);
    /* CERT parameters: group 1, count 2, ids 1, 2, type 2 (SPKI) */
    {
        const struct pkt_rec *i2 = find_pkt(VPXI_HIP_I2, 0);
        const struct hip_param *p;
        struct hip_msg m;
        struct hip_cert c;
        CHECK_OK(hip_msg_parse(&m, i2->pkt, i2->len));
        CHECK_EQ(hip_msg_count(&m, VPXI_HIP_P_CERT, &p), 2);
        CHECK_OK(hip_get_cert(&p[1], &c));
        CHECK(c.group == 1 && c.count == 2 && c.id == 2 && c.type == VPXI_HIP_CERT_SPKI);
    }
    world_free();
}

/* The biggest chain that fits; one byte more is refused. */
static void test_certs_size(void)
{
    static uint8_t big[2048];
    struct vpxi_iov one = { big, 0 };
    size_t lo = 1, hi = sizeof(big);

    memset(big, 'x', sizeof(big));
    CHECK(world_init("keys/rsa3072-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    while (lo < hi) { /* largest accepted length */
        size_t mid = (lo + hi + 1) / 2;
        one.len = mid;
        if (vpxi_hip_set_certs(W.n[0].h, &one, 1) == 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    one.len = lo + 1;
    CHECK_ERR(vpxi_hip_set_certs(W.n[0].h, &one, 1), VPXI_ERR_TOO_LARGE);
    one.len = lo;
    CHECK_OK(vpxi_hip_set_certs(W.n[0].h, &one, 1));
    CHECK(lo > 200);
    CHECK(bex_ok());
    {
        const struct pkt_rec *i2 = find_pkt(VPXI_HIP_I2, 0);
        CHECK(i2 && i2->len <= VPXI_HIP_PACKET_MAX);
    }
    {
        struct vpxi_iov many[VPXI_HIP_CERTS_MAX + 1];
        for (size_t i = 0; i <= VPXI_HIP_CERTS_MAX; i++)
            many[i] = (struct vpxi_iov){ big, 8 };
        CHECK_ERR(vpxi_hip_set_certs(W.n[0].h, many, VPXI_HIP_CERTS_MAX + 1), VPXI_ERR_TOO_LARGE);
        CHECK_OK(vpxi_hip_set_certs(W.n[0].h, many, 0));
    }
    world_free();
}

static void test_bex_refused(void)
{
    static const struct {
        int side; /* who refuses */
        bool certs;
        int err;
        uint16_t notify, want;
    } cases[] = {
        { 1, false, VPXI_ERR_NO_CHAIN, 0, VPXI_HIP_N_CREDENTIALS_REQUIRED },
        { 1, true, VPXI_ERR_BAD_SIG, 0, VPXI_HIP_N_INVALID_CERTIFICATE },
        { 1, true, VPXI_ERR_NOT_AUTHORIZED, 0, VPXI_HIP_N_BLOCKED_BY_POLICY },
        { 1, true, VPXI_ERR_NOT_AUTHORIZED, VPXI_HIP_N_INVALID_CERTIFICATE,
          VPXI_HIP_N_INVALID_CERTIFICATE },
        { 0, true, VPXI_ERR_NOT_AUTHORIZED, 0, VPXI_HIP_N_BLOCKED_BY_POLICY },
        { 0, true, VPXI_ERR_EXPIRED, 0, VPXI_HIP_N_INVALID_CERTIFICATE },
    };
    static const char c1[] = "(8:sequence)";
    struct vpxi_iov chain = { c1, sizeof(c1) - 1 };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct vpxi_hip_event *ev;
        int r = cases[i].side;
        CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
        if (!W.n[1].h)
            continue;
        if (cases[i].certs) {
            CHECK_OK(vpxi_hip_set_certs(W.n[0].h, &chain, 1));
            CHECK_OK(vpxi_hip_set_certs(W.n[1].h, &chain, 1));
        }
        W.n[r].auth_result = cases[i].err;
        W.n[r].auth_notify = cases[i].notify;
        CHECK_OK(connect_ab());
        run_for(100);
        CHECK_EQ(drops(r, VPXI_HIP_DROP_AUTH_REFUSED), 1);
        ev = last_ev(0, VPXI_HIP_EV_FAILED);
        CHECK(ev != NULL);
        if (ev) {
            CHECK_EQ(ev->notify, cases[i].want);
            CHECK_EQ(ev->reason, r == 1 ? VPXI_HIP_R_NOTIFY : VPXI_HIP_R_REFUSED);
        }
        if (r == 1) {
            /* the Responder kept nothing */
            CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
            CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 0);
        } else {
            /* the Responder got the NOTIFY and the CLOSE: its SAs are gone */
            CHECK_EQ(count_ev(1, VPXI_HIP_EV_NOTIFY), 1);
            CHECK(last_ev(1, VPXI_HIP_EV_NOTIFY)->notify == cases[i].want);
            CHECK_EQ(count_ev(1, VPXI_HIP_EV_CLOSED), 1);
            CHECK_EQ(state_of(1), VPXI_HS_CLOSED);
            CHECK_EQ(count_ev(0, VPXI_HIP_EV_ESTABLISHED), 0);
        }
        CHECK_EQ(state_of(0), VPXI_HS_E_FAILED);
        world_free();
    }
    /* no callback at all: refused */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (W.n[1].h) {
        vpxi_hip_host_free(W.n[1].h);
        CHECK_OK(vpxi_hip_host_new(W.n[1].key, &W.n[1].cfg, NULL, W.now, &W.n[1].h));
        CHECK_OK(connect_ab());
        run_for(100);
        CHECK_EQ(drops(1, VPXI_HIP_DROP_AUTH_REFUSED), 1);
        CHECK(last_ev(0, VPXI_HIP_EV_FAILED) != NULL);
        world_free();
    }
}

/* ---- ESP policy ------------------------------------------------------------------ */

static void test_esp_policy(void)
{
    const struct vpxi_hip_event *ev;

    /* integrity-only link: the Initiator's policy picks 7 */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    W.n[0].esp_only = VPXI_ESP_NULL_SHA256;
    W.n[1].esp_only = VPXI_ESP_NULL_SHA256;
    CHECK(bex_ok());
    CHECK_EQ(last_ev(0, VPXI_HIP_EV_ESTABLISHED)->sa.suite, VPXI_ESP_NULL_SHA256);
    world_free();

    /* the Responder refuses the Initiator's choice */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    W.n[1].esp_only = VPXI_ESP_AES128CBC_SHA256;
    CHECK_OK(connect_ab());
    run_for(100);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_NEGOTIATION), 1);
    ev = last_ev(0, VPXI_HIP_EV_FAILED);
    CHECK(ev && ev->notify == VPXI_HIP_N_INVALID_ESP_TRANSFORM_CHOSEN);
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
    world_free();

    /* nothing acceptable offered */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    W.n[0].esp_only = 99;
    CHECK_OK(connect_ab());
    run_for(100);
    ev = last_ev(0, VPXI_HIP_EV_FAILED);
    CHECK(ev && ev->notify == VPXI_HIP_N_NO_ESP_PROPOSAL_CHOSEN &&
          ev->reason == VPXI_HIP_R_NEGOTIATION);
    world_free();
}

/* ---- simultaneous opening ------------------------------------------------------- */

static void test_simultaneous_open(void)
{
    for (int variant = 0; variant < 2; variant++) {
        /* both ends connect at once; variant 1 swaps who calls first */
        CHECK(world_init(variant ? "keys/ed25519-2.pem" : "keys/p256-1.pem",
                         variant ? "keys/p256-1.pem" : "keys/ed25519-2.pem", NULL));
        if (!W.n[1].h)
            return;
        CHECK_OK(connect_ab());
        CHECK_OK(vpxi_hip_connect(W.n[1].h, W.n[0].hit, &W.n[0].addr, &W.n[1].addr, W.now));
        run_for(2000);
        CHECK_EQ(state_of(0) == VPXI_HS_ESTABLISHED || state_of(0) == VPXI_HS_R2_SENT, 1);
        CHECK_EQ(state_of(1) == VPXI_HS_ESTABLISHED || state_of(1) == VPXI_HS_R2_SENT, 1);
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_ESTABLISHED), 1);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 1);
        CHECK(last_ev(0, VPXI_HIP_EV_ESTABLISHED)->initiator !=
              last_ev(1, VPXI_HIP_EV_ESTABLISHED)->initiator);
        /* the smaller HIT initiated */
        {
            int g = hip_hit_greater(W.n[0].hit, W.n[1].hit) ? 0 : 1;
            CHECK(!last_ev(g, VPXI_HIP_EV_ESTABLISHED)->initiator);
        }
        check_sas();
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_FAILED) + count_ev(1, VPXI_HIP_EV_FAILED), 0);
        world_free();
    }
}

/* Crossed I2s: both sides got an R1 and sent an I2. */
static void test_crossed_i2(void)
{
    struct vpxi_hip_output o;
    uint8_t i2a[VPXI_HIP_PACKET_MAX], i2b[VPXI_HIP_PACKET_MAX];
    size_t la, lb;
    int greater;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    greater = hip_hit_greater(W.n[0].hit, W.n[1].hit) ? 0 : 1;
    /* make the smaller HIT also answer I1s in I1-SENT: deliver I1s while
     * the receivers are still UNASSOCIATED */
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o)); /* A's I1 */
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o)); /* B's R1 to A */
    CHECK_OK(deliver(0, &W.n[1].addr, &W.n[0].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o)); /* A's I2: hold it */
    memcpy(i2a, o.pkt, la = o.len);
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_connect(W.n[1].h, W.n[0].hit, &W.n[0].addr, &W.n[1].addr, W.now));
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o)); /* B's I1 */
    CHECK_OK(deliver(0, &W.n[1].addr, &W.n[0].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o)); /* A (I2-SENT) answers with R1 */
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o)); /* B's I2 */
    memcpy(i2b, o.pkt, lb = o.len);
    vpxi_hip_output_clear(&o);
    CHECK_EQ(state_of(0), VPXI_HS_I2_SENT);
    CHECK_EQ(state_of(1), VPXI_HS_I2_SENT);
    /* the I2s cross */
    {
        int ra = deliver(1, &W.n[0].addr, &W.n[1].addr, i2a, la);
        int rb = deliver(0, &W.n[1].addr, &W.n[0].addr, i2b, lb);
        /* the greater HIT processes the other's I2; the smaller drops it */
        CHECK_EQ(greater == 1 ? ra : rb, 0);
        CHECK_EQ(greater == 1 ? rb : ra, VPXI_ERR_BAD_STATE);
        CHECK_EQ(drops(1 - greater, VPXI_HIP_DROP_TIE_BREAK), 1);
    }
    run_for(100);
    CHECK_EQ(state_of(1 - greater), VPXI_HS_ESTABLISHED);
    CHECK_EQ(state_of(greater), VPXI_HS_R2_SENT);
    check_sas();
    world_free();
}

/* ---- retransmission ------------------------------------------------------------- */

static bool hook_drop_all(struct world *w, int from, uint8_t *pkt, size_t *len,
                          struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    (void)w, (void)from, (void)pkt, (void)len, (void)src, (void)dst;
    return false;
}

/* Drops the first hook_state packets of type hook_count. */
static bool hook_drop_first(struct world *w, int from, uint8_t *pkt, size_t *len,
                            struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    (void)from, (void)len, (void)src, (void)dst;
    if ((pkt[2] & 0x7f) == w->hook_count && w->hook_state > 0) {
        w->hook_state--;
        return false;
    }
    return true;
}

static void test_retransmission(void)
{
    const struct vpxi_hip_event *ev;
    int64_t t0, expect;

    /* I1 into the void: 500, 1000, 2000, 4000, 8000 ms, then E-FAILED */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    W.hook = hook_drop_all;
    t0 = W.now;
    CHECK_OK(connect_ab());
    CHECK_EQ(vpxi_hip_next_timeout(W.n[0].h), t0 + 500);
    run_for(60000);
    CHECK_EQ(W.nlog, 6);
    expect = t0;
    for (size_t k = 0; k < W.nlog; k++) {
        CHECK_EQ(W.log[k].t, expect);
        CHECK_EQ(W.log[k].pkt[2], VPXI_HIP_I1);
        expect += k == 0 ? 500 : (500 << k) > 8000 ? 8000 : (500 << k);
    }
    ev = last_ev(0, VPXI_HIP_EV_FAILED);
    CHECK(ev && ev->reason == VPXI_HIP_R_TIMEOUT && ev->err == VPXI_ERR_TIMEOUT);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0); /* lingered, then deleted */
    CHECK_EQ(vpxi_hip_next_timeout(W.n[0].h), W.n[0].h->next_rotate);
    world_free();

    /* lost I1, R1, I2 and R2 once each: the exchange completes */
    for (int t = 0; t < 4; t++) {
        static const uint8_t types[] = { VPXI_HIP_I1, VPXI_HIP_R1, VPXI_HIP_I2, VPXI_HIP_R2 };
        CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
        W.hook = hook_drop_first;
        W.hook_count = types[t];
        W.hook_state = 2;
        CHECK_OK(connect_ab());
        run_for(5000);
        CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 1);
        check_sas();
        if (types[t] == VPXI_HIP_R2) /* the duplicate I2s were answered from the R2 cache */
            CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->bex_completed, 1);
        world_free();
    }

    /* I2 retries exhausted */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    W.hook = hook_drop_first;
    W.hook_count = VPXI_HIP_I2;
    W.hook_state = 1000;
    CHECK_OK(connect_ab());
    run_for(60000);
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_FAILED), 1);
    CHECK_EQ(W.hook_state, 1000 - 6);
    world_free();

    /* R2-SENT -> ESTABLISHED by the EC timer */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    CHECK(bex_ok());
    run_for(W.n[1].cfg.r2_sent_ms + 1);
    CHECK_EQ(state_of(1), VPXI_HS_ESTABLISHED);
    world_free();
}

/* ---- UPDATE: rekey ---------------------------------------------------------------- */

static void rekey_once(int who, bool with_dh, bool traffic)
{
    size_t ra = count_ev(0, VPXI_HIP_EV_REKEYED), rb = count_ev(1, VPXI_HIP_EV_REKEYED);
    const struct vpxi_hip_event *e0, *e1;

    CHECK_OK(vpxi_hip_rekey(W.n[who].h, W.n[1 - who].hit, with_dh, W.now));
    pump();
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_REKEYED), ra + 1);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_REKEYED), rb + 1);
    e0 = last_ev(who, VPXI_HIP_EV_REKEYED);
    e1 = last_ev(1 - who, VPXI_HIP_EV_REKEYED);
    if (!e0 || !e1)
        return;
    CHECK(e0->activate);  /* the initiator of the rekey switches on the answer */
    CHECK(!e1->activate); /* the peer switches on the ACK */
    CHECK_EQ(e0->sa.spi_out, e1->sa.spi_in);
    CHECK_EQ(e0->sa.spi_in, e1->sa.spi_out);
    CHECK(memcmp(&e0->sa.out, &e1->sa.in, sizeof(e0->sa.out)) == 0);
    CHECK(memcmp(&e0->sa.in, &e1->sa.out, sizeof(e0->sa.in)) == 0);
    CHECK(e0->old_spi_in != e0->sa.spi_in && e0->old_spi_out != e0->sa.spi_out);
    CHECK(last_ev(1 - who, VPXI_HIP_EV_SA_ACTIVATE) != NULL);
    check_sas();
    if (traffic) {
        size_t n0 = count_ev(0, VPXI_HIP_EV_SA_RETIRE), n1 = count_ev(1, VPXI_HIP_EV_SA_RETIRE);
        esp_on(0, last_ev(0, VPXI_HIP_EV_REKEYED)->sa.spi_in);
        esp_on(1, last_ev(1, VPXI_HIP_EV_REKEYED)->sa.spi_in);
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_SA_RETIRE), n0 + 1);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_SA_RETIRE), n1 + 1);
        CHECK_EQ(W.n[0].nin, 1);
        CHECK_EQ(W.n[1].nin, 1);
    }
}

static void test_rekey(void)
{
    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    rekey_once(0, true, true);
    rekey_once(0, false, true);
    rekey_once(1, false, false);
    rekey_once(1, true, false);
    /* without traffic, the old inbound SAs retire on the timer */
    run_for(W.n[0].cfg.sa_retire_ms + 1);
    CHECK_EQ(W.n[0].nin, 1);
    CHECK_EQ(W.n[1].nin, 1);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->rekeys, 4);
    /* a rekey asked for while one is outstanding is folded in */
    CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, false, W.now));
    CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, true, W.now));
    pump();
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->rekeys, 5);
    check_sas();
    /* errors */
    {
        uint8_t nobody[VPXI_HIT_LEN] = { 0x20, 0x01, 0x00, 0x22 };
        CHECK_ERR(vpxi_hip_rekey(W.n[0].h, nobody, false, W.now), VPXI_ERR_NOT_FOUND);
    }
    for (int d = 0; d < VPXI_HIP_DROP_MAX; d++)
        CHECK_EQ(drops(0, d) + drops(1, d), 0);
    world_free();
}

/* Lost UPDATEs and ACKs: retransmitted, re-acknowledged, completed. */
static void test_rekey_loss(void)
{
    for (int lost = 1; lost <= 3; lost++) {
        CHECK(world_init("keys/ed25519-1.pem", "keys/p256-2.pem", NULL));
        if (!W.n[1].h || !bex_ok())
            return;
        esp_on(1, W.n[1].in[0].spi);
        W.hook = hook_drop_first;
        W.hook_count = VPXI_HIP_UPDATE;
        W.hook_state = lost;
        CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, lost != 2, W.now));
        run_for(20000);
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_REKEYED), 1);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_REKEYED), 1);
        CHECK(last_ev(0, VPXI_HIP_EV_REKEYED)->activate);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_SA_ACTIVATE), 1);
        check_sas();
        CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
        CHECK_EQ(state_of(1), VPXI_HS_ESTABLISHED);
        world_free();
    }
    /* UPDATE retries exhausted: the association is broken -> CLOSING */
    CHECK(world_init("keys/ed25519-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    W.hook = hook_drop_all;
    CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, false, W.now));
    run_for(60000);
    CHECK(last_ev(0, VPXI_HIP_EV_CLOSED) &&
          last_ev(0, VPXI_HIP_EV_CLOSED)->reason == VPXI_HIP_R_TIMEOUT);
    run_for(60000);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    world_free();
}

static void test_rekey_simultaneous(void)
{
    static const bool dh[][2] = {
        { true, true }, { false, false }, { true, false }, { false, true }
    };

    for (size_t c = 0; c < 4; c++) {
        const struct vpxi_hip_event *e0, *e1;
        CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
        if (!W.n[1].h || !bex_ok())
            return;
        esp_on(1, W.n[1].in[0].spi);
        CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, dh[c][0], W.now));
        CHECK_OK(vpxi_hip_rekey(W.n[1].h, W.n[0].hit, dh[c][1], W.now));
        pump();
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_REKEYED), 1);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_REKEYED), 1);
        CHECK_EQ(count_ev(0, VPXI_HIP_EV_SA_ACTIVATE), 1);
        CHECK_EQ(count_ev(1, VPXI_HIP_EV_SA_ACTIVATE), 1);
        e0 = last_ev(0, VPXI_HIP_EV_REKEYED);
        e1 = last_ev(1, VPXI_HIP_EV_REKEYED);
        if (e0 && e1) {
            CHECK(memcmp(&e0->sa.out, &e1->sa.in, sizeof(e0->sa.out)) == 0);
            CHECK(memcmp(&e0->sa.in, &e1->sa.out, sizeof(e0->sa.in)) == 0);
        }
        check_sas();
        /* and again, one side only, after the simultaneous one */
        rekey_once(0, true, false);
        for (int d = 0; d < VPXI_HIP_DROP_MAX; d++)
            CHECK_EQ(drops(0, d) + drops(1, d), 0);
        world_free();
    }
}

/* Rekeys without DH walk the KEYMAT until it runs out; then a DH is forced. */
static void tweak_suite8(struct vpxi_hip_config *c, int idx)
{
    (void)idx;
    c->esp_suites[0] = VPXI_ESP_AES128CBC_SHA256;
    c->n_esp_suites = 1;
}

static void test_rekey_keymat_exhaustion(void)
{
    size_t n = 0;

    /* Ed25519 (suite 5): RHASH SHA-256, KEYMAT 255 * 32 = 8160 bytes, 96 per rekey */
    CHECK(world_init("keys/ed25519-1.pem", "keys/ed25519-2.pem", tweak_suite8));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    for (n = 0; n < 90; n++) {
        struct hip_assoc *a = hip_assoc_find(W.n[0].h, W.n[1].hit);
        size_t before = a->keymat_next;
        rekey_once((int)(n % 2), false, false);
        a = hip_assoc_find(W.n[0].h, W.n[1].hit);
        if (a->keymat_next < before)
            break; /* a new KEYMAT: a DH was forced */
        CHECK_EQ(a->keymat_next, before + 96);
    }
    CHECK(n > 70 && n < 90);
    world_free();
}

/* ---- certificate renewal ------------------------------------------------------------ */

static void test_cert_renewal(void)
{
    static const char c1[] = "(8:sequence(4:cert(5:first)))";
    static const char c2[] = "(8:sequence(4:cert(6:second)))";
    struct vpxi_iov v1 = { c1, sizeof(c1) - 1 }, v2 = { c2, sizeof(c2) - 1 };
    const struct vpxi_hip_event *ev;

    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    if (!W.n[1].h)
        return;
    CHECK_OK(vpxi_hip_set_certs(W.n[0].h, &v1, 1));
    CHECK(bex_ok());
    esp_on(1, W.n[1].in[0].spi);
    CHECK_MEM(W.n[1].last_cert, c1, sizeof(c1) - 1);
    /* renewal: new chain, longer validity */
    CHECK_OK(vpxi_hip_set_certs(W.n[0].h, &v2, 1));
    W.n[1].valid_end = 1000 + 7200;
    CHECK_OK(vpxi_hip_renew_certs(W.n[0].h, W.n[1].hit, W.now));
    pump();
    CHECK_EQ(W.n[1].auth_calls, 2);
    CHECK_MEM(W.n[1].last_cert, c2, sizeof(c2) - 1);
    ev = last_ev(1, VPXI_HIP_EV_AUTH_UPDATED);
    CHECK(ev && ev->valid.not_after == 1000 + 7200);
    {
        struct vpxi_hip_peer_info pi;
        CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
        CHECK_EQ(pi.valid.not_after, 1000 + 7200);
    }
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->cert_renewals, 1);
    /* all peers at once, and a refusal: NOTIFY back, old validity kept */
    W.n[1].auth_result = VPXI_ERR_NOT_AUTHORIZED;
    CHECK_OK(vpxi_hip_renew_certs(W.n[0].h, NULL, W.now));
    pump();
    CHECK_EQ(W.n[1].auth_calls, 3);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_AUTH_UPDATED), 1);
    CHECK(last_ev(0, VPXI_HIP_EV_NOTIFY) &&
          last_ev(0, VPXI_HIP_EV_NOTIFY)->notify == VPXI_HIP_N_BLOCKED_BY_POLICY);
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED); /* informational only */
    {
        struct vpxi_hip_peer_info pi;
        CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
        CHECK_EQ(pi.valid.not_after, 1000 + 7200);
    }
    /* renewal combined with a rekey in flight */
    W.n[1].auth_result = 0;
    CHECK_OK(vpxi_hip_rekey(W.n[0].h, W.n[1].hit, true, W.now));
    CHECK_OK(vpxi_hip_renew_certs(W.n[0].h, W.n[1].hit, W.now));
    pump();
    CHECK_EQ(W.n[1].auth_calls, 4);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_REKEYED), 1);
    check_sas();
    world_free();
}

/* ---- addresses and locators ---------------------------------------------------------- */

/* Rewrites the source address of A's packets to A's second address. */
static bool hook_a_moves(struct world *w, int from, uint8_t *pkt, size_t *len,
                         struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    (void)pkt, (void)len, (void)dst;
    if (from == 0)
        *src = w->n[0].addr2;
    return true;
}

static void test_address_change(void)
{
    const struct vpxi_hip_event *ev;
    struct vpxi_hip_peer_info pi;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    /* ESP from a new address (reported by the data plane) */
    CHECK_OK(vpxi_hip_esp_seen(W.n[1].h, W.n[0].hit, W.n[1].in[0].spi, &W.n[0].addr2, W.now));
    pump();
    ev = last_ev(1, VPXI_HIP_EV_PEER_ADDRESS);
    CHECK(ev && hip_addr_equal(&ev->peer_addr, &W.n[0].addr2));
    CHECK_OK(vpxi_hip_esp_seen(W.n[1].h, W.n[0].hit, W.n[1].in[0].spi, &W.n[0].addr, W.now));
    pump();
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_PEER_ADDRESS), 2);
    /* an authenticated UPDATE from a new address */
    W.hook = hook_a_moves;
    rekey_once(0, false, false);
    CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
    CHECK(hip_addr_equal(&pi.peer_addr, &W.n[0].addr2));
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_PEER_ADDRESS), 3);
    W.hook = NULL;
    /* a replayed old UPDATE from elsewhere does not move the peer */
    {
        const struct pkt_rec *u = find_pkt(VPXI_HIP_UPDATE, 0);
        struct sockaddr_storage evil;
        addr4(&evil, "198.18.9.9", 10500);
        CHECK(u != NULL);
        if (u && u->from == 0) {
            (void)deliver(1, &evil, &W.n[1].addr, u->pkt, u->len);
            discard(1);
            CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
            CHECK(hip_addr_equal(&pi.peer_addr, &W.n[0].addr2));
        }
    }
    world_free();
}

static void test_locators(void)
{
    struct vpxi_hip_peer_info pi;
    struct sockaddr_storage locs[2];
    const struct pkt_rec *u;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    /* A announces its second address as preferred: B checks it, then uses it */
    locs[0] = W.n[0].addr2;
    locs[1] = W.n[0].addr;
    CHECK_OK(vpxi_hip_set_locators(W.n[0].h, locs, 2, W.now));
    pump();
    CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
    CHECK(hip_addr_equal(&pi.peer_addr, &W.n[0].addr2));
    CHECK(last_ev(1, VPXI_HIP_EV_PEER_ADDRESS) != NULL);
    /* the address check went to the candidate with an ECHO_REQUEST_SIGNED */
    u = NULL;
    for (size_t k = 0; k < W.nlog; k++)
        if (W.log[k].from == 1 && hip_addr_equal(&W.log[k].dst, &W.n[0].addr2))
            u = &W.log[k];
    CHECK(u != NULL);
    if (u) {
        struct hip_msg m;
        CHECK_OK(hip_msg_parse(&m, u->pkt, u->len));
        CHECK(hip_msg_find(&m, VPXI_HIP_P_ECHO_REQUEST_SIGNED) != NULL ||
              hip_msg_find(&m, VPXI_HIP_P_ACK) != NULL);
    }
    /* a candidate that never answers: the check gives up, the address stays */
    {
        struct sockaddr_storage dead;
        addr4(&dead, "198.18.7.7", 10500);
        locs[0] = dead;
        CHECK_OK(vpxi_hip_set_locators(W.n[0].h, locs, 1, W.now));
        run_for(60000);
        CHECK_OK(vpxi_hip_peer_info(W.n[1].h, W.n[0].hit, &pi));
        /* A sent that UPDATE from its first address (it replies from where it
         * was last reached), so B follows the authenticated source, never
         * the unverified locator */
        CHECK(!hip_addr_equal(&pi.peer_addr, &dead));
        CHECK(hip_addr_equal(&pi.peer_addr, &W.n[0].addr));
        CHECK_EQ(state_of(1), VPXI_HS_ESTABLISHED);
        CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
        /* and the association still works */
        rekey_once(1, false, false);
    }
    world_free();
}

/* ---- CLOSE -------------------------------------------------------------------------- */

static void test_close(void)
{
    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    pump();
    CHECK(last_ev(0, VPXI_HIP_EV_CLOSED) &&
          last_ev(0, VPXI_HIP_EV_CLOSED)->reason == VPXI_HIP_R_LOCAL);
    CHECK(last_ev(1, VPXI_HIP_EV_CLOSED) &&
          last_ev(1, VPXI_HIP_EV_CLOSED)->reason == VPXI_HIP_R_PEER);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0); /* CLOSE_ACK received */
    CHECK_EQ(state_of(1), VPXI_HS_CLOSED);
    CHECK_EQ(W.n[0].nin + W.n[0].nout + W.n[1].nin + W.n[1].nout, 0);
    run_for(W.n[1].cfg.closed_ms + 1);
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
    /* and a new exchange after it */
    CHECK(bex_ok());
    CHECK_ERR(vpxi_hip_connect(W.n[0].h, W.n[1].hit, &W.n[1].addr, NULL, W.now), VPXI_ERR_EXISTS);
    world_free();

    /* lost CLOSE_ACK: CLOSE retransmitted, acked again from CLOSED */
    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    CHECK(bex_ok());
    W.hook = hook_drop_first;
    W.hook_count = VPXI_HIP_CLOSE_ACK;
    W.hook_state = 1;
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    run_for(1000);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_CLOSED), 1);
    world_free();

    /* crossed CLOSEs */
    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    CHECK(bex_ok());
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    CHECK_OK(vpxi_hip_close(W.n[1].h, W.n[0].hit, W.now));
    run_for(30000);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_CLOSED), 1);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_CLOSED), 1);
    world_free();

    /* CLOSE into the void: retries, then gone */
    CHECK(world_init("keys/p256-1.pem", "keys/ed25519-2.pem", NULL));
    CHECK(bex_ok());
    W.hook = hook_drop_all;
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    run_for(60000);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    CHECK_ERR(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now), VPXI_ERR_NOT_FOUND);
    /* closing during I1-SENT */
    W.hook = NULL;
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    world_free();
}

/* ---- attacks and malformed packets ------------------------------------------------- */

/* Feeds pkt (and nothing else) to node to; its outputs are thrown away. */
static int probe(int to, const uint8_t *pkt, size_t len, const struct sockaddr_storage *src,
                 const struct sockaddr_storage *dst)
{
    int r = deliver(to, src, dst, pkt, len);
    discard(to);
    return r;
}

/* Before each first packet of a type is delivered: every truncation, every
 * header bit and (for authenticated packets) every byte flipped. */
static bool hook_mangle(struct world *w, int from, uint8_t *pkt, size_t *len,
                        struct sockaddr_storage *src, struct sockaddr_storage *dst)
{
    static uint8_t t[VPXI_HIP_PACKET_MAX + 8];
    uint8_t type = pkt[2] & 0x7f;
    int to = 1 - from;
    const struct vpxi_hip_stats *st = vpxi_hip_host_stats(w->n[to].h);
    size_t assoc = st->associations, n = *len;
    enum vpxi_hip_state s = state_of(to);
    bool authed = type != VPXI_HIP_I1;
    struct hip_msg m;
    size_t pz_lo = 0, pz_hi = 0;

    if (w->hook_state & (1 << (type & 31)))
        return true;
    w->hook_state |= 1 << (type & 31);
    if (type == VPXI_HIP_R1 && hip_msg_parse(&m, pkt, n) == 0) {
        const struct hip_param *p = hip_msg_find(&m, VPXI_HIP_P_PUZZLE);
        pz_lo = p->off + 6; /* Opaque and #I are not signed */
        pz_hi = p->off + 4 + p->len;
    }
    /* every truncation, and one byte too many */
    for (size_t l = 0; l < n; l++)
        CHECK(probe(to, pkt, l, src, dst) != 0);
    memcpy(t, pkt, n);
    t[n] = 0;
    CHECK(probe(to, t, n + 1, src, dst) != 0);
    /* every header bit */
    for (size_t b = 0; b < VPXI_HIP_HDR_LEN * 8; b++) {
        size_t byte = b / 8;
        int r;
        if (byte == 4 || byte == 5) /* checksum, ignored over UDP */
            continue;
        memcpy(t, pkt, n);
        t[byte] ^= (uint8_t)(1u << (b % 8));
        r = probe(to, t, n, src, dst);
        if (authed || !(byte == 6 || byte == 7 || (byte >= 8 && byte < 24) ||
                        (byte == 3 && b % 8 >= 1 && b % 8 <= 3)))
            CHECK(r != 0);
    }
    /* every byte of an authenticated packet */
    if (authed)
        for (size_t b = VPXI_HIP_HDR_LEN; b < n; b++) {
            if (b >= pz_lo && b < pz_hi)
                continue;
            memcpy(t, pkt, n);
            t[b] ^= 0x5a;
            CHECK(probe(to, t, n, src, dst) != 0);
        }
    /* nothing changed at the receiver */
    CHECK_EQ(st->associations, assoc);
    CHECK_EQ(state_of(to), s);
    w->hook_count++;
    return true;
}

static void test_mangled_everything(void)
{
    uint64_t total;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    W.hook = hook_mangle;
    CHECK(bex_ok());
    esp_on(1, W.n[1].in[0].spi);
    rekey_once(0, true, false);
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    pump();
    CHECK_EQ(W.hook_count, 7); /* I1 R1 I2 R2 UPDATE CLOSE CLOSE_ACK */
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 0);
    total = 0;
    for (int d = 0; d < VPXI_HIP_DROP_MAX; d++)
        total += drops(0, d) + drops(1, d);
    CHECK(total > 5000);
    CHECK(drops(1, VPXI_HIP_DROP_TRUNCATED) > 0);
    CHECK(drops(1, VPXI_HIP_DROP_BAD_PUZZLE) > 0);
    CHECK(drops(1, VPXI_HIP_DROP_BAD_MAC) > 0);
    CHECK(drops(0, VPXI_HIP_DROP_BAD_SIG) > 0);
    CHECK(drops(1, VPXI_HIP_DROP_NOT_FOR_US) > 0);
    CHECK(drops(1, VPXI_HIP_DROP_BAD_VERSION) > 0);
    world_free();
}

/* Re-encodes a packet with its TLVs transformed. */
static size_t rebuild(const uint8_t *pkt, size_t len, uint8_t *out, int how)
{
    struct hip_msg m;
    struct vpxi_wr w;

    if (hip_msg_parse(&m, pkt, len) != 0)
        return 0;
    vpxi_wr_init(&w, out, VPXI_HIP_PACKET_MAX);
    vpxi_wr_bytes(&w, pkt, VPXI_HIP_HDR_LEN);
    for (size_t i = 0; i < m.n; i++) {
        size_t k = i;
        if (how == 0 && i + 1 < m.n && i == 1)
            k = 2; /* swap the second and third */
        else if (how == 0 && i == 2)
            k = 1;
        vpxi_wr_bytes(&w, pkt + m.p[k].off, m.p[k].size);
        if (how == 1 && i == 0)
            vpxi_wr_bytes(&w, pkt + m.p[0].off, m.p[0].size); /* duplicate the first */
        if (how == 2 && i == 0) {
            static const uint8_t crit[8] = { 0x10, 0x01, 0x00, 0x04, 1, 2, 3, 4 }; /* 4097 */
            vpxi_wr_bytes(&w, crit, sizeof(crit));
        }
    }
    if (how == 3) {
        static const uint8_t noncrit[8] = { 0xf7, 0xfe, 0x00, 0x02, 9, 9, 0, 0 }; /* 63486 */
        vpxi_wr_bytes(&w, noncrit, sizeof(noncrit));
    }
    if (w.err)
        return 0;
    out[1] = (uint8_t)(w.len / 8 - 1);
    return w.len;
}

static void test_i2_attacks(void)
{
    struct vpxi_hip_output o;
    uint8_t i2[VPXI_HIP_PACKET_MAX], t[VPXI_HIP_PACKET_MAX];
    size_t len, tl;
    const struct sockaddr_storage *sa, *sb;
    struct sockaddr_storage other;
    struct hip_msg m;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    sa = &W.n[0].addr;
    sb = &W.n[1].addr;
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o)); /* I1 */
    CHECK_OK(deliver(1, sa, sb, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o)); /* R1 */
    CHECK_OK(deliver(0, sb, sa, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o)); /* I2 */
    memcpy(i2, o.pkt, len = o.len);
    vpxi_hip_output_clear(&o);
    CHECK_OK(hip_msg_parse(&m, i2, len));

    /* reordered, duplicated, unknown critical parameters */
    CHECK((tl = rebuild(i2, len, t, 0)) > 0);
    CHECK_ERR(probe(1, t, tl, sa, sb), VPXI_ERR_ORDER);
    CHECK((tl = rebuild(i2, len, t, 1)) > 0);
    CHECK_ERR(probe(1, t, tl, sa, sb), VPXI_ERR_DUPLICATE);
    CHECK((tl = rebuild(i2, len, t, 2)) > 0);
    CHECK_ERR(probe(1, t, tl, sa, sb), VPXI_ERR_UNKNOWN_CRITICAL);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_ORDER), 1);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_DUPLICATE), 1);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_UNKNOWN_CRITICAL), 1);
    /* from another address: #I is bound to the path */
    addr4(&other, "198.18.0.99", 10500);
    CHECK_ERR(probe(1, i2, len, &other, sb), VPXI_ERR_BAD_PUZZLE);
    /* wrong #I, wrong HMAC, forged signature */
    {
        const struct hip_param *sol = hip_msg_find(&m, VPXI_HIP_P_SOLUTION);
        const struct hip_param *mac = hip_msg_find(&m, VPXI_HIP_P_HIP_MAC);
        const struct hip_param *sig = hip_msg_find(&m, VPXI_HIP_P_HIP_SIGNATURE);
        memcpy(t, i2, len);
        t[sol->off + 8] ^= 1;
        CHECK_ERR(probe(1, t, len, sa, sb), VPXI_ERR_BAD_PUZZLE);
        memcpy(t, i2, len);
        t[mac->off + 10] ^= 1;
        CHECK_ERR(probe(1, t, len, sa, sb), VPXI_ERR_BAD_MAC);
        memcpy(t, i2, len);
        t[sig->off + 20] ^= 1;
        CHECK_ERR(probe(1, t, len, sa, sb), VPXI_ERR_BAD_SIG);
        /* the R1 counter of a generation B does not know */
        memcpy(t, i2, len);
        t[hip_msg_find(&m, VPXI_HIP_P_R1_COUNTER)->off + 15] ^= 0x40;
        CHECK_ERR(probe(1, t, len, sa, sb), VPXI_ERR_ROLLBACK);
        CHECK_EQ(drops(1, VPXI_HIP_DROP_OLD_R1), 1);
    }
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->associations, 0);
    /* an unknown non-critical parameter after the signature is ignored */
    CHECK((tl = rebuild(i2, len, t, 3)) > 0);
    CHECK_OK(deliver(1, sa, sb, t, tl));
    pump();
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    CHECK_EQ(state_of(1), VPXI_HS_R2_SENT);
    /* replayed I2 in R2-SENT: R2 again; in ESTABLISHED: dropped */
    CHECK_OK(deliver(1, sa, sb, t, tl));
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o));
    CHECK_EQ(o.pkt[2], VPXI_HIP_R2);
    vpxi_hip_output_clear(&o);
    esp_on(1, W.n[1].in[0].spi);
    CHECK_ERR(probe(1, t, tl, sa, sb), VPXI_ERR_REPLAY);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_REPLAY), 1);
    /* the original I2 (same #I, #J) is a replay too */
    CHECK_ERR(probe(1, i2, len, sa, sb), VPXI_ERR_REPLAY);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 1);
    /* wrong-state packets */
    {
        const struct pkt_rec *r2 = find_pkt(VPXI_HIP_R2, 0);
        const struct pkt_rec *r1 = find_pkt(VPXI_HIP_R1, 0);
        if (r2)
            CHECK_ERR(probe(0, r2->pkt, r2->len, sb, sa), VPXI_ERR_BAD_STATE);
        if (r1)
            CHECK_ERR(probe(0, r1->pkt, r1->len, sb, sa), VPXI_ERR_BAD_STATE);
        CHECK_EQ(drops(0, VPXI_HIP_DROP_WRONG_STATE), (r1 != NULL) + (r2 != NULL));
    }
    /* oversize */
    {
        static uint8_t huge[VPXI_HIP_PACKET_MAX + 8];
        memcpy(huge, i2, len);
        CHECK_ERR(probe(1, huge, sizeof(huge), sa, sb), VPXI_ERR_TOO_LARGE);
    }
    world_free();
}

/* With K > 0 a wrong #J fails the puzzle before any DH or signature work. */
static void tweak_k8(struct vpxi_hip_config *c, int idx)
{
    (void)idx;
    c->puzzle_k = 8;
}

static void test_bad_solution(void)
{
    struct vpxi_hip_output o;
    uint8_t i2[VPXI_HIP_PACKET_MAX];
    size_t len;
    struct hip_msg m;
    const struct hip_param *sol;
    struct hip_puzzle pz;
    int bad = 0;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_k8));
    if (!W.n[1].h)
        return;
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o));
    CHECK_OK(deliver(0, &W.n[1].addr, &W.n[0].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    memcpy(i2, o.pkt, len = o.len);
    vpxi_hip_output_clear(&o);
    CHECK_OK(hip_msg_parse(&m, i2, len));
    sol = hip_msg_find(&m, VPXI_HIP_P_SOLUTION);
    CHECK_OK(hip_get_solution(sol, 48, &pz));
    CHECK_EQ(pz.k, 8);
    CHECK(hip_puzzle_check(VPXI_HASH_SHA384, pz.i, pz.j, W.n[0].hit, W.n[1].hit, 8));
    /* the last byte of #J, every other value: those that do not solve the
     * puzzle are refused as such */
    for (int v = 1; v < 256; v++) {
        uint8_t t[VPXI_HIP_PACKET_MAX];
        struct hip_msg tm;
        struct hip_puzzle tp;
        memcpy(t, i2, len);
        t[sol->off + 4 + 4 + 2 * 48 - 1] ^= (uint8_t)v;
        CHECK_OK(hip_msg_parse(&tm, t, len));
        CHECK_OK(hip_get_solution(hip_msg_find(&tm, VPXI_HIP_P_SOLUTION), 48, &tp));
        if (!hip_puzzle_check(VPXI_HASH_SHA384, tp.i, tp.j, W.n[0].hit, W.n[1].hit, 8)) {
            CHECK_ERR(probe(1, t, len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_BAD_PUZZLE);
            bad++;
        } else {
            CHECK(probe(1, t, len, &W.n[0].addr, &W.n[1].addr) != 0); /* HIP_MAC */
        }
    }
    CHECK(bad > 200);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_BAD_PUZZLE), bad);
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, i2, len));
    pump();
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    world_free();
}

/* A restarted Initiator's new exchange replaces the association; the old I2
 * cannot be replayed to bring back the old keys. */
static void test_i2_replay_after_restart(void)
{
    const struct pkt_rec *first;
    uint8_t i2[VPXI_HIP_PACKET_MAX];
    size_t len;
    const struct vpxi_hip_event *ev;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    first = find_pkt(VPXI_HIP_I2, 0);
    memcpy(i2, first->pkt, len = first->len);
    /* A restarts (loses its state) and connects again */
    {
        struct vpxi_hip_callbacks cb = { &W.n[0], cb_authorize, cb_esp };
        vpxi_hip_host_free(W.n[0].h);
        CHECK_OK(vpxi_hip_host_new(W.n[0].key, &W.n[0].cfg, &cb, W.now, &W.n[0].h));
    }
    CHECK_OK(connect_ab());
    run_for(100);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 2);
    ev = last_ev(1, VPXI_HIP_EV_ESTABLISHED);
    CHECK(ev && ev->old_spi_in != 0 && ev->old_spi_out != 0);
    check_sas();
    esp_on(1, last_ev(1, VPXI_HIP_EV_ESTABLISHED)->sa.spi_in);
    CHECK_ERR(probe(1, i2, len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_REPLAY);
    CHECK_EQ(count_ev(1, VPXI_HIP_EV_ESTABLISHED), 2);
    world_free();
}

/* R1 generations: an I2 for the previous one is fine, older ones are not. */
static void test_r1_generations(void)
{
    struct vpxi_hip_output o;
    uint8_t i2[VPXI_HIP_PACKET_MAX];
    size_t len;
    uint64_t c0;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    c0 = vpxi_hip_host_stats(W.n[1].h)->r1_counter;
    CHECK_EQ(c0, 1);
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o));
    CHECK_OK(deliver(0, &W.n[1].addr, &W.n[0].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    memcpy(i2, o.pkt, len = o.len);
    vpxi_hip_output_clear(&o);
    /* two rotations later the generation is gone */
    W.now += W.n[1].cfg.r1_rotate_ms;
    vpxi_hip_timer(W.n[1].h, W.now);
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->r1_counter, c0 + 1);
    W.now += W.n[1].cfg.r1_rotate_ms;
    vpxi_hip_timer(W.n[1].h, W.now);
    CHECK_EQ(vpxi_hip_host_stats(W.n[1].h)->r1_counter, c0 + 2);
    CHECK_ERR(probe(1, i2, len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_ROLLBACK);
    world_free();

    /* one rotation: still accepted */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    W.now += W.n[1].cfg.r1_rotate_ms;
    vpxi_hip_timer(W.n[1].h, W.now);
    run_for(100);
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    world_free();
}

/* An I2 flood raises K; the exchange still completes; calm lowers it. */
static void tweak_flood(struct vpxi_hip_config *c, int idx)
{
    (void)idx;
    c->i2_rate_threshold = 10;
    c->puzzle_k_step = 3;
    c->puzzle_k_max = 9;
}

static void test_puzzle_difficulty(void)
{
    struct vpxi_hip_output o;
    uint8_t i2[VPXI_HIP_PACKET_MAX];
    size_t len;
    const struct vpxi_hip_stats *sb;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_flood));
    if (!W.n[1].h)
        return;
    sb = vpxi_hip_host_stats(W.n[1].h);
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[1].h, &o));
    CHECK_OK(deliver(0, &W.n[1].addr, &W.n[0].addr, o.pkt, o.len));
    vpxi_hip_output_clear(&o);
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    memcpy(i2, o.pkt, len = o.len);
    vpxi_hip_output_clear(&o);
    i2[len - 20] ^= 1; /* a bad signature: each costs the Responder */
    for (int k = 0; k < 40; k++)
        (void)probe(1, i2, len, &W.n[0].addr, &W.n[1].addr);
    CHECK_EQ(sb->puzzle_k, 3);
    CHECK_EQ(sb->r1_counter, 2);
    W.now += 1000;
    for (int k = 0; k < 40; k++)
        (void)probe(1, i2, len, &W.n[0].addr, &W.n[1].addr);
    CHECK_EQ(sb->puzzle_k, 6);
    W.now += 1000;
    for (int k = 0; k < 40; k++)
        (void)probe(1, i2, len, &W.n[0].addr, &W.n[1].addr);
    CHECK_EQ(sb->puzzle_k, 9);
    W.now += 1000;
    for (int k = 0; k < 40; k++)
        (void)probe(1, i2, len, &W.n[0].addr, &W.n[1].addr);
    CHECK_EQ(sb->puzzle_k, 9); /* capped */
    /* a new exchange solves K = 9 */
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    discard(0);
    CHECK_OK(connect_ab());
    run_for(100);
    CHECK_EQ(state_of(0), VPXI_HS_ESTABLISHED);
    {
        const struct pkt_rec *r1 = find_pkt(VPXI_HIP_R1, 0);
        struct hip_msg m;
        struct hip_puzzle pz;
        CHECK(r1 != NULL);
        if (r1) {
            CHECK_OK(hip_msg_parse(&m, r1->pkt, r1->len));
            CHECK_OK(hip_get_puzzle(hip_msg_find(&m, VPXI_HIP_P_PUZZLE), 48, &pz));
            CHECK_EQ(pz.k, 9);
            CHECK_EQ(pz.lifetime, hip_puzzle_lifetime(2 * W.n[1].cfg.r1_rotate_ms));
        }
    }
    /* calm seconds bring K back down one bit at a time */
    run_for(20000);
    CHECK_EQ(sb->puzzle_k, 0);
    world_free();
}

/* A Responder asking more puzzle bits than we solve: refused at once. */
static void tweak_hard(struct vpxi_hip_config *c, int idx)
{
    if (idx == 1) {
        c->puzzle_k = 30;
        c->puzzle_k_max = 30;
    }
}

static void test_puzzle_too_hard(void)
{
    const struct vpxi_hip_event *ev;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_hard));
    if (!W.n[1].h)
        return;
    CHECK_OK(connect_ab());
    run_for(100);
    ev = last_ev(0, VPXI_HIP_EV_FAILED);
    CHECK(ev && ev->reason == VPXI_HIP_R_NEGOTIATION && ev->notify == 0);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->notify_sent, 0);
    world_free();
}

/* Nothing is kept for I1s, and I1 answers are cheap copies. */
static void test_i1_stateless(void)
{
    const struct vpxi_hip_stats *sb;
    struct vpxi_hip_output o;
    uint8_t i1[VPXI_HIP_PACKET_MAX];
    size_t len;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    sb = vpxi_hip_host_stats(W.n[1].h);
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    memcpy(i1, o.pkt, len = o.len);
    vpxi_hip_output_clear(&o);
    for (int k = 0; k < 1000; k++) {
        struct sockaddr_storage src;
        char a[32];
        snprintf(a, sizeof(a), "198.18.%d.%d", 2 + k / 250, k % 250 + 1);
        addr4(&src, a, 10500);
        CHECK_OK(deliver(1, &src, &W.n[1].addr, i1, len));
        CHECK_OK(vpxi_hip_poll(W.n[1].h, &o));
        CHECK(hip_addr_equal(&o.dst, &src));
        vpxi_hip_output_clear(&o);
    }
    CHECK_EQ(sb->associations, 0);
    CHECK_EQ(sb->i1_answered, 1000);
    /* opportunistic I1 (NULL receiver HIT): refused unless allowed */
    memset(i1 + 24, 0, 16);
    CHECK_ERR(probe(1, i1, len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_NOT_FOUND);
    /* packets for another host, or from ourselves */
    memcpy(i1 + 24, W.n[0].hit, 16);
    CHECK_ERR(probe(1, i1, len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_NOT_FOUND);
    memcpy(i1 + 8, W.n[1].hit, 16);
    memcpy(i1 + 24, W.n[1].hit, 16);
    CHECK(probe(1, i1, len, &W.n[0].addr, &W.n[1].addr) != 0);
    world_free();
}

/* UPDATE, NOTIFY, CLOSE from strangers or in the wrong state. */
static void test_wrong_state(void)
{
    const struct pkt_rec *u, *c, *ca;
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    size_t len;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    rekey_once(0, false, false);
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    pump();
    u = find_pkt(VPXI_HIP_UPDATE, 0);
    c = find_pkt(VPXI_HIP_CLOSE, 0);
    ca = find_pkt(VPXI_HIP_CLOSE_ACK, 0);
    CHECK(u && c && ca);
    if (!u || !c || !ca)
        return;
    /* B is CLOSED: an UPDATE is in the wrong state; A has no association */
    CHECK_ERR(probe(1, u->pkt, u->len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_BAD_STATE);
    CHECK_ERR(probe(0, ca->pkt, ca->len, &W.n[1].addr, &W.n[0].addr), VPXI_ERR_NOT_FOUND);
    CHECK_EQ(drops(0, VPXI_HIP_DROP_NO_ASSOC), 1);
    /* a CLOSE_ACK to B (CLOSED) with an echo that is not its own */
    memcpy(pkt, ca->pkt, len = ca->len);
    CHECK(probe(1, pkt, len, &W.n[0].addr, &W.n[1].addr) != 0);
    /* a retransmitted CLOSE in CLOSED is acked again */
    CHECK_OK(deliver(1, &W.n[0].addr, &W.n[1].addr, c->pkt, c->len));
    discard(1);
    world_free();
}

/* A critical parameter we do not know, from a known peer: NOTIFY back. */
static void test_unknown_critical_notify(void)
{
    uint8_t pkt[VPXI_HIP_PACKET_MAX], t[VPXI_HIP_PACKET_MAX];
    size_t len, tl;
    const struct pkt_rec *u;
    const struct vpxi_hip_event *ev;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    esp_on(1, W.n[1].in[0].spi);
    rekey_once(0, false, false);
    u = find_pkt(VPXI_HIP_UPDATE, 0);
    memcpy(pkt, u->pkt, len = u->len);
    CHECK((tl = rebuild(pkt, len, t, 2)) > 0);
    CHECK_ERR(deliver(u->from == 0 ? 1 : 0, &u->src, &u->dst, t, tl), VPXI_ERR_UNKNOWN_CRITICAL);
    pump();
    ev = last_ev(u->from, VPXI_HIP_EV_NOTIFY);
    CHECK(ev && ev->notify == VPXI_HIP_N_UNSUPPORTED_CRITICAL_PARAMETER_TYPE &&
          ev->notify_data_len == 2 && vpxi_get_be16(ev->notify_data) == 4097);
    world_free();
}

/* The pseudo-header checksum, when configured, is verified. */
static void tweak_pseudo(struct vpxi_hip_config *c, int idx)
{
    (void)idx;
    c->checksum_pseudo = true;
}

static void test_checksum_pseudo(void)
{
    struct vpxi_hip_output o;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_pseudo));
    if (!W.n[1].h)
        return;
    CHECK_OK(connect_ab());
    CHECK_OK(vpxi_hip_poll(W.n[0].h, &o));
    CHECK(vpxi_get_be16(o.pkt + 4) != 0);
    CHECK_EQ(vpxi_get_be16(o.pkt + 4), hip_checksum(o.pkt, o.len, &W.n[0].addr, &W.n[1].addr));
    o.pkt[5] ^= 1;
    CHECK_ERR(probe(1, o.pkt, o.len, &W.n[0].addr, &W.n[1].addr), VPXI_ERR_BAD_CHECKSUM);
    o.pkt[5] ^= 1;
    /* from another address: the pseudo-header differs */
    CHECK_ERR(probe(1, o.pkt, o.len, &W.n[1].addr2, &W.n[1].addr), VPXI_ERR_BAD_CHECKSUM);
    /* no local address known: cannot verify */
    CHECK_ERR(probe(1, o.pkt, o.len, &W.n[0].addr, NULL), VPXI_ERR_BAD_CHECKSUM);
    CHECK_EQ(drops(1, VPXI_HIP_DROP_BAD_CHECKSUM), 3);
    CHECK_OK(probe(1, o.pkt, o.len, &W.n[0].addr, &W.n[1].addr));
    vpxi_hip_output_clear(&o);
    world_free();
}

/* Many associations: the table grows; each is found again. */
static void test_many_associations(void)
{
    enum { N = 600 };
    static uint8_t hits[N][VPXI_HIT_LEN];
    struct vpxi_hip_peer_info pi;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    for (int i = 0; i < N; i++) {
        hits[i][0] = 0x20;
        hits[i][1] = 0x01;
        hits[i][2] = 0x00;
        hits[i][3] = 0x22;
        vpxi_put_be32(hits[i] + 12, (uint32_t)i * 2654435761u);
        hits[i][4] = (uint8_t)i;
        CHECK_OK(vpxi_hip_connect(W.n[0].h, hits[i], &W.n[1].addr2, NULL, W.now));
        discard(0);
    }
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, N);
    CHECK(W.n[0].h->nbuckets > 64);
    for (int i = 0; i < N; i++) {
        CHECK_OK(vpxi_hip_peer_info(W.n[0].h, hits[i], &pi));
        CHECK_EQ(pi.state, VPXI_HS_I1_SENT);
        CHECK_ERR(vpxi_hip_connect(W.n[0].h, hits[i], &W.n[1].addr2, NULL, W.now), VPXI_ERR_EXISTS);
    }
    /* and the real peer among them */
    CHECK(bex_ok());
    for (int i = 0; i < N; i += 2)
        CHECK_OK(vpxi_hip_close(W.n[0].h, hits[i], W.now));
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, N / 2 + 1);
    /* the rest fail after their retries, in one timer sweep each time */
    run_for(60000);
    CHECK_EQ(vpxi_hip_host_stats(W.n[0].h)->associations, 1);
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_FAILED), N / 2);
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_CLOSED), N / 2);
    CHECK_EQ(drops(0, VPXI_HIP_DROP_LIMIT), 0);
    world_free();
}

/* CERT groups that are not one complete SPKI group. */
static void test_cert_shape(void)
{
    static const struct {
        uint8_t group, count, id, type;
    } bad[][2] = {
        { { 1, 2, 1, 2 }, { 1, 2, 3, 2 } }, /* ids not 1..n */
        { { 1, 3, 1, 2 }, { 1, 3, 2, 2 } }, /* count != n */
        { { 1, 2, 1, 2 }, { 2, 2, 2, 2 } }, /* two groups */
        { { 1, 2, 1, 1 }, { 1, 2, 2, 1 } }, /* X.509 */
    };
    uint8_t pkt[VPXI_HIP_PACKET_MAX];
    struct vpxi_validity v;
    uint16_t notify;

    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h)
        return;
    for (size_t c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
        struct vpxi_wr w;
        struct hip_msg m;
        vpxi_wr_init(&w, pkt, sizeof(pkt));
        hip_put_header(&w, VPXI_HIP_R2, 0, W.n[0].hit, W.n[1].hit);
        hip_put_esp_info(&w, 0, 0, 1000);
        for (int k = 0; k < 2; k++) {
            size_t off = hip_param_begin(&w, VPXI_HIP_P_CERT);
            vpxi_wr_u8(&w, bad[c][k].group);
            vpxi_wr_u8(&w, bad[c][k].count);
            vpxi_wr_u8(&w, bad[c][k].id);
            vpxi_wr_u8(&w, bad[c][k].type);
            vpxi_wr_bytes(&w, "(1:x)", 5);
            hip_param_end(&w, off);
        }
        hip_put_param(&w, VPXI_HIP_P_HIP_MAC_2, pkt, 48);
        hip_put_param(&w, VPXI_HIP_P_HIP_SIGNATURE, pkt, 66);
        memset(pkt + w.len - 72, 0, 72);
        memset(pkt + w.len - 128, 0, 56);
        vpxi_put_be16(pkt + w.len - 128, VPXI_HIP_P_HIP_MAC_2);
        vpxi_put_be16(pkt + w.len - 126, 48);
        vpxi_put_be16(pkt + w.len - 72, VPXI_HIP_P_HIP_SIGNATURE);
        vpxi_put_be16(pkt + w.len - 70, 66);
        CHECK_OK(hip_finish(&w));
        CHECK_OK(hip_msg_parse(&m, pkt, w.len));
        CHECK_ERR(hip_authorize(W.n[1].h, W.n[0].hit, W.n[0].key, &m, &v, &notify),
                  VPXI_ERR_BAD_FORMAT);
        CHECK_EQ(notify, VPXI_HIP_N_INVALID_CERTIFICATE);
    }
    CHECK_EQ(W.n[1].auth_calls, 0);
    world_free();
}

/* An UPDATE reaching the Responder before any ESP moves it to ESTABLISHED;
 * local requests in R2-SENT wait for it. */
static void test_update_in_r2_sent(void)
{
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", NULL));
    if (!W.n[1].h || !bex_ok())
        return;
    CHECK_EQ(state_of(1), VPXI_HS_R2_SENT);
    CHECK_ERR(vpxi_hip_renew_certs(W.n[1].h, W.n[0].hit, W.now), VPXI_ERR_NO_CHAIN);
    {
        static const char c[] = "(8:sequence)";
        struct vpxi_iov v = { c, sizeof(c) - 1 };
        CHECK_OK(vpxi_hip_set_certs(W.n[1].h, &v, 1));
    }
    /* B asks first: queued */
    CHECK_OK(vpxi_hip_renew_certs(W.n[1].h, W.n[0].hit, W.now));
    pump();
    CHECK_EQ(W.nlog, 4);
    /* A's rekey reaches B in R2-SENT: B is established and sends its renewal too */
    rekey_once(0, true, false);
    CHECK_EQ(state_of(1), VPXI_HS_ESTABLISHED);
    CHECK_EQ(W.n[0].auth_calls, 2);
    CHECK_EQ(count_ev(0, VPXI_HIP_EV_AUTH_UPDATED), 1);
    /* API errors */
    {
        uint8_t nobody[VPXI_HIT_LEN] = { 0x20, 0x01, 0x00, 0x22, 9 };
        struct sockaddr_storage bad;
        memset(&bad, 0, sizeof(bad));
        CHECK_ERR(vpxi_hip_renew_certs(W.n[1].h, nobody, W.now), VPXI_ERR_NOT_FOUND);
        CHECK_ERR(vpxi_hip_esp_seen(W.n[1].h, nobody, 1, NULL, W.now), VPXI_ERR_NOT_FOUND);
        CHECK_ERR(vpxi_hip_set_locators(W.n[1].h, &bad, 1, W.now), VPXI_ERR_INVALID);
        CHECK_ERR(vpxi_hip_set_locators(W.n[1].h, &bad, 0, W.now), VPXI_ERR_INVALID);
        CHECK_ERR(vpxi_hip_input(W.n[1].h, &bad, NULL, (const uint8_t *)"", 0, W.now),
                  VPXI_ERR_INVALID);
    }
    world_free();
}

static void tweak_fuzz(struct vpxi_hip_config *c, int idx)
{
    (void)idx;
    c->dh_groups[0] = VPXI_DH_P256; /* as fuzz_hip's hosts */
    c->n_dh_groups = 1;
}

/* A full run written out for the fuzz corpus and the tshark check. */
static void test_write_artifacts(void)
{
    const char *corpus = getenv("VPXI_HIP_CORPUS"), *pcap = getenv("VPXI_HIP_PCAP");
    static const char c1[] = "(8:sequence(4:cert(6:issuer3:A-1))(9:signature))";
    struct vpxi_iov chain = { c1, sizeof(c1) - 1 };

    if (!corpus && !pcap)
        return;
    /* the fuzzer's keys (tests/vectors/keys/p256-1.pem, p256-2.pem),
     * addresses, DH group and zero puzzle secrets */
    CHECK(world_init("keys/p256-1.pem", "keys/p256-2.pem", tweak_fuzz));
    if (!W.n[1].h)
        return;
    memset(W.n[1].h->gen[0].secret, 0, HIP_SECRET_LEN);
    memset(W.n[1].h->gen[1].secret, 0, HIP_SECRET_LEN);
    CHECK_OK(vpxi_hip_set_certs(W.n[0].h, &chain, 1));
    CHECK(bex_ok());
    esp_on(1, W.n[1].in[0].spi);
    rekey_once(0, true, false);
    W.n[1].auth_result = VPXI_ERR_NOT_AUTHORIZED; /* a NOTIFY */
    CHECK_OK(vpxi_hip_renew_certs(W.n[0].h, W.n[1].hit, W.now));
    pump();
    CHECK_OK(vpxi_hip_close(W.n[0].h, W.n[1].hit, W.now));
    pump();
    if (corpus)
        write_corpus(corpus);
    if (pcap)
        write_pcap(pcap);
    world_free();
}

static void test_api_misc(void)
{
    struct vpxi_hip_config c;
    struct vpxi_hip_host *h = NULL;
    struct vpxi_key *k = load_key("keys/p256-1.pem"), *pub = NULL;
    uint8_t buf[VPXI_PUBRAW_MAX];
    struct vpxi_pubraw raw;

    if (!k)
        return;
    vpxi_hip_config_default(&c);
    c.n_dh_groups = 0;
    CHECK_ERR(vpxi_hip_host_new(k, &c, NULL, 0, &h), VPXI_ERR_INVALID);
    vpxi_hip_config_default(&c);
    c.dh_groups[0] = 4; /* MODP-3072: not supported */
    CHECK_ERR(vpxi_hip_host_new(k, &c, NULL, 0, &h), VPXI_ERR_UNSUPPORTED);
    vpxi_hip_config_default(&c);
    c.esp_suites[0] = 12;
    CHECK_ERR(vpxi_hip_host_new(k, &c, NULL, 0, &h), VPXI_ERR_UNSUPPORTED);
    /* a public key cannot be a host */
    CHECK_OK(vpxi_key_export_public(k, buf, sizeof(buf), &raw));
    CHECK_OK(vpxi_key_import_public(&raw, &pub));
    CHECK_ERR(vpxi_hip_host_new(pub, NULL, NULL, 0, &h), VPXI_ERR_INVALID);
    CHECK_OK(vpxi_hip_host_new(k, NULL, NULL, 0, &h));
    if (h) {
        struct sockaddr_storage a;
        uint8_t bad[VPXI_HIT_LEN] = { 0xfd };
        addr4(&a, "198.18.0.2", 10500);
        CHECK_ERR(vpxi_hip_connect(h, bad, &a, NULL, 0), VPXI_ERR_INVALID);
        CHECK_ERR(vpxi_hip_connect(h, vpxi_hip_host_hit(h), &a, NULL, 0), VPXI_ERR_INVALID);
        CHECK_STR(vpxi_hip_state_name(VPXI_HS_R2_SENT), "R2-SENT");
        CHECK_STR(vpxi_hip_drop_name(VPXI_HIP_DROP_BAD_PUZZLE), "bad_puzzle");
        CHECK_STR(vpxi_hip_reason_name(VPXI_HIP_R_TIMEOUT), "timeout");
        for (unsigned d = 0; d < VPXI_HIP_DROP_MAX; d++)
            CHECK(vpxi_hip_drop_name(d) != NULL);
        vpxi_hip_host_free(h);
    }
    vpxi_key_put(pub);
    vpxi_key_put(k);
}

/* Allocation failures while setting up hosts and exchanges: no leak, no crash. */
static void test_alloc_failures(void)
{
    for (long n = 0; n < 60; n++) {
        struct vpxi_key *ka = load_key("keys/p256-1.pem"), *kb = load_key("keys/p256-2.pem");
        struct vpxi_hip_host *a = NULL, *b = NULL;
        struct vpxi_hip_callbacks cb = { &W.n[0], cb_authorize, cb_esp };
        struct vpxi_hip_output o;
        struct sockaddr_storage aa, ab;

        addr4(&aa, "198.18.0.1", 10500);
        addr4(&ab, "198.18.0.2", 10500);
        vpxi_alloc_fail_after(n);
        if (vpxi_hip_host_new(ka, NULL, &cb, 0, &a) == 0 &&
            vpxi_hip_host_new(kb, NULL, &cb, 0, &b) == 0 &&
            vpxi_hip_connect(a, vpxi_hip_host_hit(b), &ab, NULL, 0) == 0) {
            for (int round = 0; round < 6; round++) {
                while (vpxi_hip_poll(a, &o) == 0) {
                    if (o.kind == VPXI_HIP_OUT_PACKET)
                        (void)vpxi_hip_input(b, &aa, &ab, o.pkt, o.len, 0);
                    vpxi_hip_output_clear(&o);
                }
                while (vpxi_hip_poll(b, &o) == 0) {
                    if (o.kind == VPXI_HIP_OUT_PACKET)
                        (void)vpxi_hip_input(a, &ab, &aa, o.pkt, o.len, 0);
                    vpxi_hip_output_clear(&o);
                }
            }
        }
        vpxi_alloc_fail_after(-1);
        vpxi_hip_host_free(a);
        vpxi_hip_host_free(b);
        vpxi_key_put(ka);
        vpxi_key_put(kb);
    }
}

int main(void)
{
    RUN(test_api_misc);
    RUN(test_bex_key_types);
    RUN(test_bex_negotiation);
    RUN(test_bex_no_common);
    RUN(test_bex_downgrade);
    RUN(test_bex_certs);
    RUN(test_certs_size);
    RUN(test_bex_refused);
    RUN(test_esp_policy);
    RUN(test_simultaneous_open);
    RUN(test_crossed_i2);
    RUN(test_retransmission);
    RUN(test_rekey);
    RUN(test_rekey_loss);
    RUN(test_rekey_simultaneous);
    RUN(test_rekey_keymat_exhaustion);
    RUN(test_cert_renewal);
    RUN(test_address_change);
    RUN(test_locators);
    RUN(test_close);
    RUN(test_mangled_everything);
    RUN(test_i2_attacks);
    RUN(test_bad_solution);
    RUN(test_i2_replay_after_restart);
    RUN(test_r1_generations);
    RUN(test_puzzle_difficulty);
    RUN(test_puzzle_too_hard);
    RUN(test_i1_stateless);
    RUN(test_wrong_state);
    RUN(test_unknown_critical_notify);
    RUN(test_checksum_pseudo);
    RUN(test_many_associations);
    RUN(test_cert_shape);
    RUN(test_update_in_r2_sent);
    RUN(test_alloc_failures);
    RUN(test_write_artifacts);
    T_DONE();
}
