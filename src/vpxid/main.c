/*
 * main.c - vpxid: set-up with privileges, then the control thread's loop.
 *
 * Order: parse and validate the configuration; open every privileged
 * resource (key files, TUN devices, UDP sockets, control socket, key log);
 * drop privileges (keep CAP_NET_ADMIN only, for routes of peers added on
 * reload); start the datapath threads; run the loop. SIGTERM/SIGINT close
 * every association (CLOSE sent) and exit; SIGHUP reloads the configuration
 * without touching healthy associations.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpxi/alloc.h"

#include "daemon.h"
#include "hostagent/vnode.h"
#include "log.h"
#include "registrar/store.h"
#include "roles.h"
#include "node/overlay.h"

static const char usage[] =
    "usage: vpxid [-c CONFIG] [--check] [--show-config] [-d LEVEL] [-h] [--version]\n"
    "       vpxid --check-database FILE\n"
    "\n"
    "  -c, --config FILE   configuration (default /etc/vpxi/vpxid.conf)\n"
    "      --check         validate the configuration and exit\n"
    "      --show-config   print the effective configuration (defaults included)\n"
    "      --show-node-firewall\n"
    "                      print the nft ruleset a host agent loads into its nodes\n"
    "      --check-database FILE\n"
    "                      check a registrar database (integrity and invariants),\n"
    "                      print what it holds; exit 0 only if it is consistent\n"
    "  -d, --debug LEVEL   log level: err, warn, info, proto, debug\n"
    "\n"
    "Runs in the foreground and logs to standard error. Signals: TERM/INT close\n"
    "every association and exit, HUP reloads the configuration.\n"
    "See docs/vpxid.conf.md and docs/registrar.md.\n";

void daemon_keylog(struct daemon *d, const char *line)
{
    if (!d->keylog)
        return;
    fprintf(d->keylog, "%s\n", line);
    fflush(d->keylog);
}

/* ---- privileges ---------------------------------------------------------------- */

static int keep_net_admin_only(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = 1u << CAP_NET_ADMIN;
    return (int)syscall(SYS_capset, &hdr, data);
}

static int drop_privileges(const char *user)
{
    struct passwd *pw;

    if (!user[0] || getuid() != 0)
        return 0;
    if ((pw = getpwnam(user)) == NULL) {
        log_err("user '%s' does not exist (set user = in [daemon])", user);
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        log_err("cannot drop privileges to %s: %s", user, strerror(errno));
        return -1;
    }
    if (keep_net_admin_only() != 0) {
        log_err("cannot keep CAP_NET_ADMIN: %s", strerror(errno));
        return -1;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    log_info("running as %s with CAP_NET_ADMIN only", user);
    return 0;
}

/* ---- signals and reload ---------------------------------------------------------- */

static void shutdown_all(struct daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    roles_stop(d);
    log_info("shutting down: closing associations");
    for (size_t i = 0; i < d->nov; i++)
        overlay_shutdown(d->ov[i]);
    loop_stop(d->loop);
}

static void reload(struct daemon *d)
{
    char err[CFG_ERR_MAX];
    struct config *nc = config_load(d->cfg->path, err, sizeof(err));

    if (!nc) {
        log_err("reload refused, configuration unchanged: %s", err);
        return;
    }
    /* Validate every overlay's new section first; apply only if all pass. */
    for (size_t i = 0; i < d->nov; i++) {
        const struct cfg_overlay *o = config_overlay(nc, overlay_name(d->ov[i]));
        if (!o || overlay_reload_check(d->ov[i], o, err, sizeof(err)) != 0) {
            log_err("reload refused, configuration unchanged: %s",
                    o ? err : "an overlay disappeared (restart to remove overlays)");
            config_free(nc);
            return;
        }
    }
    for (size_t i = 0; i < nc->noverlays; i++)
        if (!overlay_find(d, nc->overlays[i].name))
            log_warn("reload: new overlay %s needs a restart", nc->overlays[i].name);
    for (size_t i = 0; i < d->nov; i++)
        overlay_reload(d->ov[i], config_overlay(nc, overlay_name(d->ov[i])));
    log_set_level(nc->log_level);
    config_free(d->cfg);
    d->cfg = nc;
    log_info("configuration reloaded");
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *arg)
{
    struct daemon *d = arg;
    struct signalfd_siginfo si;

    (void)l;
    (void)events;
    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP)
            reload(d);
        else if (si.ssi_signo == SIGCHLD)
            roles_reap(d);
        else
            shutdown_all(d);
    }
}

static int setup_signals(struct daemon *d)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGCHLD);
    /* blocked in every thread (threads inherit the mask) */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    sigdelset(&set, SIGPIPE);
    if ((d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
        return -1;
    return loop_add_fd(d->loop, d->sigfd, EPOLLIN, on_signal, d);
}

/* ---- registrar database check ---------------------------------------------------- */

static int check_database(const char *path)
{
    struct store *s;
    struct store_vpxi *v = NULL;
    char err[256], report[4096];
    size_t n = 0;
    int r;

    if ((r = store_open(path, &s, err, sizeof(err))) != 0) {
        fprintf(stderr, "vpxid: %s: %s\n", path, err);
        return 1;
    }
    r = store_verify(s, report, sizeof(report));
    printf("%s: %s\n", path, r == 0 ? "consistent" : "INCONSISTENT");
    if (r != 0)
        printf("%s\n", report);
    if (store_vpxi_list(s, -1, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            struct store_issued *iss = NULL;
            size_t ni = 0;
            if (store_issued_list_vpxi(s, v[i].name, &iss, &ni) != 0)
                ni = 0;
            printf("vpxi %s %s issued %zu\n", v[i].name, store_vpxi_state_name(v[i].state), ni);
            store_issued_list_free(iss, ni);
        }
        store_vpxi_list_free(v, n);
    }
    store_close(s);
    return r == 0 ? 0 : 1;
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, 'C' },
        { "show-config", no_argument, NULL, 'S' },
        { "show-node-firewall", no_argument, NULL, 'F' },
        { "check-database", required_argument, NULL, 'D' },
        { "debug", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = "/etc/vpxi/vpxid.conf";
    struct daemon d = { .sigfd = -1 };
    char err[CFG_ERR_MAX];
    bool check = false, show = false;
    int c, level = -1, status = 1;

    while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'C': check = true; break;
        case 'S': show = true; break;
        case 'D': return check_database(optarg);
        case 'F': {
            char rules[8192];
            if (vnode_firewall_rules(rules, sizeof(rules)) != 0)
                return 1;
            fputs(rules, stdout);
            return 0;
        }
        case 'd':
            if ((level = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "vpxid: unknown log level '%s'\n%s", optarg, usage);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("vpxid %s\n", VPXI_VERSION); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    log_init(LOG_INFO, true);
    if ((d.cfg = config_load(path, err, sizeof(err))) == NULL) {
        fprintf(stderr, "vpxid: %s\n", err);
        return 1;
    }
    if (show)
        config_show(d.cfg, stdout);
    if (check || show) {
        if (check)
            printf("%s: configuration OK (%zu overlay%s)\n", path, d.cfg->noverlays,
                   d.cfg->noverlays == 1 ? "" : "s");
        config_free(d.cfg);
        return 0;
    }
    log_set_level(level >= 0 ? level : d.cfg->log_level);
    /* long-term private keys live in OpenSSL's locked secure heap */
    if (CRYPTO_secure_malloc_init(1 << 20, 64) != 1)
        log_warn("secure heap unavailable: private keys are not in locked memory");
    d.started_ms = now_ms();
    if ((d.loop = loop_new()) == NULL || (d.keys = vpxi_keycache_new(0)) == NULL ||
        setup_signals(&d) != 0) {
        log_err("set-up failed: %s", strerror(errno));
        goto out;
    }
    if (d.cfg->keylog[0]) {
        if ((d.keylog = fopen(d.cfg->keylog, "ae")) == NULL) {
            log_err("keylog %s: %s", d.cfg->keylog, strerror(errno));
            goto out;
        }
        log_warn("ESP keys are being written to %s (keylog): captures can be decrypted",
                 d.cfg->keylog);
    }
    for (size_t i = 0; i < d.cfg->noverlays; i++) {
        if ((d.ov[d.nov] = overlay_new(&d, &d.cfg->overlays[i], err, sizeof(err))) == NULL) {
            log_err("overlay %s: %s", d.cfg->overlays[i].name, err);
            goto out;
        }
        d.nov++;
    }
    if ((d.ctl = control_open(d.loop, d.cfg->control, daemon_commands, daemon_ncommands, &d)) ==
        NULL)
        goto out;
    /* roles fork before the privilege drop: the host agent and the exec
     * service need root (namespaces), the registrar drops its own */
    if (roles_start(&d) != 0)
        goto out;
    if (drop_privileges(d.cfg->user) != 0)
        goto out;
    for (size_t i = 0; i < d.nov; i++)
        if (overlay_start(d.ov[i]) != 0)
            goto out;
    log_info("vpxid %s ready: %zu overlay%s, control %s", VPXI_VERSION, d.nov,
             d.nov == 1 ? "" : "s", d.cfg->control);
    loop_run(d.loop);
    status = 0;
out:
    if (!d.stopping)
        roles_stop(&d);
    for (size_t i = 0; i < d.nov; i++)
        overlay_free(d.ov[i]);
    control_close(d.ctl);
    if (d.keylog)
        fclose(d.keylog);
    if (d.sigfd >= 0)
        close(d.sigfd);
    vpxi_keycache_free(d.keys);
    loop_free(d.loop);
    config_free(d.cfg);
    return status;
}
