/*
 * roles.c - starting, supervising and stopping the role processes.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/svc.h"
#include "daemon.h"
#include "log.h"
#include "roles.h"

enum { ROLES_MAX = 3, RESTARTS_PER_MINUTE = 5 };

struct role {
    const char *name;
    int (*main)(const struct config *c);
    bool needs_root;
    pid_t pid;
    time_t starts[RESTARTS_PER_MINUTE];
    unsigned nstarts;
};

static struct role roles[ROLES_MAX];

int role_reply_error(int fd, const char *id, int code, const char *fmt, ...)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *rep;
    char msg[512];
    va_list ap;
    int r = VPXI_ERR_NOMEM;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("request %s refused: %s", id, msg);
    if (sx && (r = vpxi_msg_reply_error(sx, id, code, msg, &rep)) == 0)
        r = svc_send(fd, rep);
    vpxi_sx_free(sx);
    return r;
}
static size_t nroles;

static void child_signals(void)
{
    sigset_t all;

    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
}

/* A role without need for root runs as the daemon's user, with no
 * capabilities at all. */
static int drop_all(const char *user)
{
    struct passwd *pw;

    if (!user[0] || geteuid() != 0)
        return 0;
    if ((pw = getpwnam(user)) == NULL) {
        log_err("user '%s' does not exist", user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        log_err("cannot drop privileges to %s: %s", user, strerror(errno));
        return -1;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return 0;
}

static int spawn(struct daemon *d, struct role *r)
{
    time_t now = time(NULL);
    pid_t pid;

    if (r->nstarts == RESTARTS_PER_MINUTE && now - r->starts[0] < 60) {
        log_err("role %s died %d times within a minute: giving up", r->name, RESTARTS_PER_MINUTE);
        return -1;
    }
    if (r->needs_root && geteuid() != 0) {
        log_err("role %s needs root to restart, and the daemon has dropped its privileges",
                r->name);
        return -1;
    }
    if (r->nstarts == RESTARTS_PER_MINUTE)
        memmove(r->starts, r->starts + 1, sizeof(r->starts[0]) * (RESTARTS_PER_MINUTE - 1));
    else
        r->nstarts++;
    r->starts[r->nstarts - 1] = now;
    if ((pid = fork()) < 0) {
        log_err("role %s: fork: %s", r->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int status;
        child_signals();
        /* the role dies with the daemon, even if the daemon is killed */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(1);
        log_set_prefix(r->name);
        if (!r->needs_root && drop_all(d->cfg->user) != 0)
            _exit(1);
        status = r->main(d->cfg);
        _exit(status);
    }
    r->pid = pid;
    log_info("role %s started (pid %d)", r->name, (int)pid);
    return 0;
}

int roles_start(struct daemon *d)
{
    const struct config *c = d->cfg;

    nroles = 0;
    if (c->registrar.enabled)
        roles[nroles++] = (struct role){ .name = "registrar", .main = registrar_main };
    if (c->hostagent.enabled)
        roles[nroles++] =
            (struct role){ .name = "hostagent", .main = hostagent_main, .needs_root = true };
    if (c->exec.enabled)
        roles[nroles++] = (struct role){ .name = "exec", .main = execsvc_main, .needs_root = true };
    for (size_t i = 0; i < nroles; i++)
        if (spawn(d, &roles[i]) != 0)
            return -1;
    return 0;
}

void roles_reap(struct daemon *d)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < nroles; i++) {
            struct role *r = &roles[i];
            if (r->pid != pid)
                continue;
            r->pid = 0;
            if (d->stopping)
                break;
            if (WIFSIGNALED(status))
                log_err("role %s (pid %d) killed by signal %d: restarting", r->name, (int)pid,
                        WTERMSIG(status));
            else
                log_err("role %s (pid %d) exited with status %d: restarting", r->name, (int)pid,
                        WEXITSTATUS(status));
            if (spawn(d, r) != 0) {
                log_err("stopping the daemon: role %s cannot run", r->name);
                kill(getpid(), SIGTERM);
            }
        }
    }
}

void roles_stop(struct daemon *d)
{
    struct timespec ts = { 0, 50 * 1000 * 1000 };

    (void)d;
    for (size_t i = 0; i < nroles; i++)
        if (roles[i].pid > 0 && kill(roles[i].pid, SIGTERM) != 0 && errno == EPERM) {
            /* a root role of a daemon that dropped its privileges: it gets
             * SIGTERM from PR_SET_PDEATHSIG when we exit */
            roles[i].pid = 0;
        }
    for (int tries = 0; tries < 200; tries++) {
        bool alive = false;
        for (size_t i = 0; i < nroles; i++) {
            if (roles[i].pid <= 0)
                continue;
            if (waitpid(roles[i].pid, NULL, WNOHANG) == roles[i].pid)
                roles[i].pid = 0;
            else
                alive = true;
        }
        if (!alive)
            return;
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < nroles; i++)
        if (roles[i].pid > 0) {
            log_warn("role %s did not stop in 10 s: killing it", roles[i].name);
            kill(roles[i].pid, SIGKILL);
            waitpid(roles[i].pid, NULL, 0);
            roles[i].pid = 0;
        }
}
