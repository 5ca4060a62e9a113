/*
 * cmd_status.c - vpxi status (like `wg show`) and vpxi peer / reload / stop:
 * the commands that talk to a running vpxid.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl_client.h"
#include "json.h"

static const char status_usage[] =
    "status [--json] [--socket PATH] [OVERLAY]\n"
    "\n"
    "Shows the overlays of the local vpxid: identity, TUN, listening address,\n"
    "datapath batching (packets per system call), HIP counters, and for every\n"
    "peer its HIT, state, endpoint, ESP transform and SPIs, traffic, drops by\n"
    "reason, last rekey and the time until its authorization expires.\n";

static void human_bytes(double b, char *buf, size_t n)
{
    static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;

    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(buf, n, i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

static void human_secs(double s, char *buf, size_t n)
{
    long v = (long)s;

    if (v < 120)
        snprintf(buf, n, "%lds", v);
    else if (v < 7200)
        snprintf(buf, n, "%ldm%02lds", v / 60, v % 60);
    else if (v < 172800)
        snprintf(buf, n, "%ldh%02ldm", v / 3600, v % 3600 / 60);
    else
        snprintf(buf, n, "%ldd%02ldh", v / 86400, v % 86400 / 3600);
}

static void print_drops(const struct json *drops, const char *indent)
{
    bool any = false;

    if (!drops || drops->type != J_OBJ)
        return;
    for (const struct json *e = drops->child; e; e = e->next) {
        if (e->type != J_NUM || e->num == 0)
            continue;
        printf("%s%s%s %.0f", any ? ", " : indent, any ? "" : "drops: ", e->key, e->num);
        any = true;
    }
    if (any)
        printf("\n");
}

static void print_peer(const struct json *p)
{
    char b1[32], b2[32], t[32];

    printf("\n  peer: %s\n", json_str(p, "name", "?"));
    printf("    hit: %s\n", json_str(p, "hit", "?"));
    printf("    state: %s\n", json_str(p, "state", "?"));
    printf("    endpoint: %s (%s)\n", json_str(p, "endpoint", "-"), json_str(p, "path", "direct"));
    printf("    overlay addresses: %s, %s\n", json_str(p, "ipv4", "-"), json_str(p, "hit", "?"));
    printf("    link: %s, transform: %s, spi in %s out %s\n", json_str(p, "link", "-"),
           json_str(p, "transform", "-"), json_str(p, "spi_in", "-"), json_str(p, "spi_out", "-"));
    if (strcmp(json_str(p, "data_path", "esp"), "esp")) {
        printf("    data path: %s, plain IP on %s (clear traffic to an on-link peer)\n",
               json_str(p, "data_path", "?"), json_str(p, "data_path_device", "?"));
        if (json_get(p, "direct_tx_bytes")) {
            human_bytes(json_num(p, "direct_rx_bytes", 0), b1, sizeof(b1));
            human_bytes(json_num(p, "direct_tx_bytes", 0), b2, sizeof(b2));
            printf("    direct path (node firewall's counters): %s received (%.0f packets), %s "
                   "sent (%.0f packets)\n",
                   b1, json_num(p, "direct_rx_packets", 0), b2,
                   json_num(p, "direct_tx_packets", 0));
        }
    }
    {
        const struct json *pl = json_get(p, "port_links");
        if (pl && pl->type == J_ARR && pl->child) {
            printf("    port classes:");
            for (const struct json *e = pl->child; e; e = e->next)
                printf(" %s/%.0f-%.0f %s%s", json_str(e, "proto", "?"), json_num(e, "lo", 0),
                       json_num(e, "hi", 0), json_str(e, "link", "?"), e->next ? "," : "");
            printf("\n");
        }
    }
    human_bytes(json_num(p, "rx_bytes", 0), b1, sizeof(b1));
    human_bytes(json_num(p, "tx_bytes", 0), b2, sizeof(b2));
    printf("    transfer: %s received (%.0f packets), %s sent (%.0f packets)\n", b1,
           json_num(p, "rx_packets", 0), b2, json_num(p, "tx_packets", 0));
    if (json_get(p, "last_rekey_s_ago")) {
        human_secs(json_num(p, "last_rekey_s_ago", 0), t, sizeof(t));
        printf("    last rekey: %s ago (%.0f rekeys)\n", t, json_num(p, "rekeys", 0));
    }
    if (json_get(p, "authorized_until")) {
        double left = json_num(p, "authorization_expires_in_s", 0);
        human_secs(left > 0 ? left : 0, t, sizeof(t));
        printf("    authorized until: %s (in %s)\n", json_str(p, "authorized_until", "?"), t);
    }
    print_drops(json_get(p, "drops"), "    ");
    if (*json_str(p, "last_event", ""))
        printf("    last event: %s\n", json_str(p, "last_event", ""));
}

static void print_overlay(const struct json *o)
{
    const struct json *dp = json_get(o, "datapath"), *pps, *hip, *peers;

    printf("overlay: %s\n", json_str(o, "name", "?"));
    printf("  hit: %s (%s key)\n", json_str(o, "hit", "?"), json_str(o, "key", "?"));
    printf("  interface: %s, %s\n", json_str(o, "tun", "?"), json_str(o, "ipv4", "?"));
    printf("  listening: %s/udp\n", json_str(o, "listen", "?"));
    if (json_get(o, "our_chain_expires"))
        printf("  our certificates expire: %s\n", json_str(o, "our_chain_expires", "?"));
    if (dp && (pps = json_get(dp, "packets_per_syscall")) != NULL)
        printf("  packets per syscall: tun read %.1f, udp send %.1f, udp recv %.1f, tun write "
               "%.1f\n",
               json_num(pps, "tun_read", 0), json_num(pps, "udp_send", 0),
               json_num(pps, "udp_recv", 0), json_num(pps, "tun_write", 0));
    print_drops(json_get(dp, "drops"), "  datapath ");
    if ((hip = json_get(o, "hip")) != NULL) {
        printf("  hip: %.0f packets in, %.0f out, %.0f exchanges, puzzle K %.0f\n",
               json_num(hip, "rx", 0), json_num(hip, "tx", 0), json_num(hip, "bex_completed", 0),
               json_num(hip, "puzzle_k", 0));
        print_drops(json_get(hip, "drops"), "  hip ");
    }
    if ((peers = json_get(o, "peers")) != NULL)
        for (const struct json *p = peers->child; p; p = p->next)
            print_peer(p);
}

/* Calls the daemon; prints errors; returns CLI status. */
static int call(const char *sock, int argc, const char *const *argv, struct json_doc **doc,
                char **raw)
{
    char err[512], *body;
    size_t len;
    int r = ctl_call(ctl_socket_path(sock), argc, argv, &body, &len, err, sizeof(err));

    *doc = NULL;
    if (raw)
        *raw = NULL;
    if (r != 0)
        return cli_err("%s", err);
    if (raw) {
        *raw = body;
        return CLI_OK;
    }
    *doc = json_parse(body, len, err, sizeof(err));
    free(body);
    if (!*doc)
        return cli_err("unreadable reply from vpxid: %s", err);
    return CLI_OK;
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "socket", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sock = NULL, *args[2] = { "status", NULL };
    struct json_doc *doc;
    char *raw;
    int c, r;

    optind = 1;
    while ((c = getopt_long(argc, argv, "jS:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': cli_opts.json = true; break;
        case 'S': sock = optarg; break;
        case 'h': printf("usage: %s %s", cli_prog, status_usage); return CLI_OK;
        default: return cli_usage(status_usage);
        }
    }
    if (argc - optind > 1)
        return cli_usage(status_usage);
    args[1] = optind < argc ? argv[optind] : NULL;
    if (cli_opts.json) {
        if ((r = call(sock, args[1] ? 2 : 1, args, &doc, &raw)) != 0)
            return r;
        fputs(raw, stdout);
        free(raw);
        return CLI_OK;
    }
    if ((r = call(sock, args[1] ? 2 : 1, args, &doc, NULL)) != 0)
        return r;
    {
        const struct json *ovs = json_get(doc->root, "overlays");
        printf("vpxid %s, up %.0f s\n\n", json_str(doc->root, "version", "?"),
               json_num(doc->root, "uptime_s", 0));
        for (const struct json *o = ovs ? ovs->child : NULL; o; o = o->next) {
            print_overlay(o);
            if (o->next)
                printf("\n");
        }
    }
    json_free(doc);
    return CLI_OK;
}

static const char peer_usage[] =
    "peer OVERLAY PEER connect|close|rekey|renew [--socket PATH]\n"
    "\n"
    "Asks vpxid to start a base exchange with a peer, close its association,\n"
    "rekey its ESP SAs (UPDATE with a fresh DH), or send it our renewed\n"
    "certificates. PEER is a peer name from the configuration or a HIT.\n";

int cmd_peer(int argc, char **argv)
{
    const char *sock = NULL;
    const char *args[4];
    struct json_doc *doc;
    int i, n = 0, r;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
            sock = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: %s %s", cli_prog, peer_usage);
            return CLI_OK;
        } else if (n < 3) {
            args[1 + n++] = argv[i];
        } else {
            return cli_usage(peer_usage);
        }
    }
    if (n != 3)
        return cli_usage(peer_usage);
    args[0] = "peer";
    /* the daemon takes: peer OVERLAY PEER ACTION */
    if ((r = call(sock, 4, args, &doc, NULL)) != 0)
        return r;
    if (!cli_opts.quiet)
        printf("%s %s: %s\n", args[3], args[2], json_str(doc->root, "result", "?"));
    json_free(doc);
    return CLI_OK;
}

int cmd_daemon(int argc, char **argv)
{
    const char *sock = NULL, *what = argv[0];
    struct json_doc *doc;
    int r;

    if (argc == 3 && !strcmp(argv[1], "--socket"))
        sock = argv[2];
    else if (argc != 1)
        return cli_err("usage: %s %s [--socket PATH]", cli_prog, what);
    if ((r = call(sock, 1, &what, &doc, NULL)) != 0)
        return r;
    if (!cli_opts.quiet)
        printf("%s requested\n", what);
    json_free(doc);
    return CLI_OK;
}
