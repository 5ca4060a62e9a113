/*
 * vnode.c - virtual nodes on Linux (see vnode.h for the shape of a node).
 *
 * Creation, in this order; each resource is recorded in struct vnode and in
 * statedir/vnode.state as soon as it exists and only if we made it, so that
 * vnode_destroy, which is also the rollback, undoes exactly what exists and
 * nothing that belongs to someone else (a name clash fails before it):
 *   1. statedir (mkdir: must not exist), lower (unpacked tarball), upper,
 *      work, merged, the caller's files in upper
 *   2. init: forked into a new PID namespace (the calling thread unshares
 *      its pid_for_children for the fork, then returns to its own); init
 *      unshares mnt/uts/net/ipc, makes every mount private, says NS
 *   3. cgroup <cgroup2>/vpxi/NAME with cpu.max, memory.max; init moved in
 *   4. /run/netns/vx-NAME: bind mount of init's network namespace
 *   5. veth vh-HASH (host, on the bridge) <-> eth0 (node); nft firewall,
 *      addresses and route inside, all before the node runs anything
 *   6. "go": init mounts the overlay root, proc, sysfs and a small /dev,
 *      sets the hostname, pivots, says READY, and from then on only reaps
 *
 * Destruction is the reverse, processes first (vnode_destroy):
 *   spawned daemons (TERM, grace, KILL) -> init (KILL: the kernel empties
 *   its PID namespace; the mount namespace and the overlay go with the last
 *   process) -> stragglers in the netns (KILL) -> veth -> netns mount ->
 *   cgroup -> statedir (only when all else is gone: it holds the record).
 *
 * Processes are addressed through pidfds, and init also through its start
 * time, so that a recycled pid is never signalled. Children forked here run
 * only async-signal-safe-enough code (they come from fork(), not a raw
 * clone, so libc is consistent) and report failures to the parent as
 * {errno, step} through a close-on-exec pipe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostagent/vnode.h"
#include "node/direct.h"
#include "log.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define NETNS_DIR       "/run/netns"
#define NETNS_PREFIX    "vx-"
#define VETH_PREFIX     "vh-"
#define UNDERLAY_IF     "eth0"
#define CGROUP_PARENT   "vpxi"
#define STATE_FILE      "vnode.state"
#define INIT_COMM       "vnode-init"
#define TOOL_PATH       "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define NODE_PATH       "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define CPU_PERIOD_USEC 100000
#define SHM_SIZE        "64m" /* /dev/shm in a node */

enum {
    INIT_NS_TIMEOUT_MS = 10000,    /* init made its namespaces */
    INIT_READY_TIMEOUT_MS = 30000, /* init mounted its root */
    INIT_EXIT_TIMEOUT_MS = 5000,   /* a SIGKILLed init is gone (its PID namespace emptied) */
    CHILD_TIMEOUT_MS = 30000,      /* a vnode_exec/spawn child reached exec */
    STRAY_TIMEOUT_MS = 2000,       /* processes left in the netns are gone */
    CGROUP_RMDIR_TIMEOUT_MS = 2000,
    STATE_MAX = 4096,   /* bytes of vnode.state */
    TOOL_ERR_MAX = 400, /* bytes of a tool's stderr kept for the error text */
    STEP_MAX = 240,     /* a child's failed step */
    RM_DEPTH_MAX = 128, /* directory depth removed from a statedir */
    CPU_MILLI_MIN = 10, /* cpu.max quota >= 1 ms */
    CPU_MILLI_MAX = 1000000,
    RUNFILE_MAX = 4096, /* net.ip, firewall.nft */
};

/* Messages from forked children to the parent: one write each (atomic). */
enum child_msg_kind {
    MSG_NS = 1, /* init: namespaces made, mounts private */
    MSG_READY,  /* init: root fs mounted, node running */
    MSG_ERR,    /* any child: step failed with err */
};
struct child_msg {
    int kind;
    int err;
    char step[STEP_MAX];
};

static atomic_bool warned_nocgroup, warned_nolimits;

/* ---- errors ------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static int seterr(char *err, size_t errlen, int r,
                                                        const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        if (vsnprintf(err, errlen, fmt, ap) < 0)
            err[0] = '\0';
        va_end(ap);
    }
    return r;
}

static int sys_code(int e)
{
    switch (e) {
    case EEXIST: return VPXI_ERR_EXISTS;
    case ENOENT: return VPXI_ERR_NOT_FOUND;
    case EPERM:
    case EACCES: return VPXI_ERR_PERM;
    case ENOMEM: return VPXI_ERR_NOMEM;
    case ENOSPC:
    case EDQUOT: return VPXI_ERR_NOSPACE;
    case ETIMEDOUT: return VPXI_ERR_TIMEOUT;
    case ENAMETOOLONG: return VPXI_ERR_TOO_LARGE;
    default: return VPXI_ERR_SYS;
    }
}

/* "<step>: <strerror(e)>" into err; the VPXI code for e. */
__attribute__((format(printf, 4, 5))) static int sysfail(char *err, size_t errlen, int e,
                                                         const char *fmt, ...)
{
    va_list ap;
    int k;

    if (err && errlen) {
        va_start(ap, fmt);
        k = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (k < 0)
            err[0] = '\0';
        else if ((size_t)k < errlen &&
                 snprintf(err + k, errlen - (size_t)k, ": %s", strerror(e)) < 0)
            err[k] = '\0';
    }
    return sys_code(e);
}

/* Formats a path; false if it does not fit. */
__attribute__((format(printf, 3, 4))) static bool mkpath(char *buf, size_t size, const char *fmt,
                                                         ...)
{
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return k >= 0 && (size_t)k < size;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- parameters ---------------------------------------------------------------- */

static bool valid_name(const char *s)
{
    size_t len = strnlen(s, VNODE_NAME_MAX);

    if (len == 0 || len >= VNODE_NAME_MAX || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Absolute, no empty, "." or ".." component, no control characters. */
static bool clean_abs_path(const char *s, size_t max)
{
    size_t len = strnlen(s, max);
    const char *c = s;

    if (len < 2 || len >= max || s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    while (c) {
        const char *start = c + 1, *end = strchr(start, '/');
        size_t cl = end ? (size_t)(end - start) : strlen(start);

        if (cl == 0 || (cl == 1 && start[0] == '.') ||
            (cl == 2 && start[0] == '.' && start[1] == '.'))
            return false;
        c = end;
    }
    return true;
}

/* A host path that goes into overlayfs options and our suffixes. */
static bool valid_host_path(const char *s)
{
    return clean_abs_path(s, VNODE_PATH_MAX - 32) && !strpbrk(s, ",:\\");
}

static bool valid_ifname(const char *s)
{
    size_t len = strnlen(s, VNODE_IFNAME_MAX);

    if (len == 0 || len >= VNODE_IFNAME_MAX || s[0] == '-' || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == '/' || s[i] == ':' || s[i] == 0x7f)
            return false;
    return true;
}

static bool valid_addr(const char *s, bool prefix)
{
    size_t len = strnlen(s, VNODE_ADDR_MAX);

    if (len == 0 || len >= VNODE_ADDR_MAX || (prefix && !strchr(s, '/')))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F') || s[i] == '.' || s[i] == ':' ||
              (prefix && s[i] == '/')))
            return false;
    return true;
}

static bool valid_hostname(const char *s)
{
    size_t len = strnlen(s, VNODE_HOSTNAME_MAX);

    if (len >= VNODE_HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

static int check_params(const struct vnode_params *p, char *err, size_t errlen)
{
    const int bad = VPXI_ERR_INVALID;

    if (!valid_name(p->name))
        return seterr(err, errlen, bad, "name: 1-%d characters [a-z0-9-] expected",
                      VNODE_NAME_MAX - 1);
    if (!valid_host_path(p->statedir))
        return seterr(err, errlen, bad, "statedir: a clean absolute path without ',:\\' expected");
    if (!valid_host_path(p->image))
        return seterr(err, errlen, bad, "image: a clean absolute path without ',:\\' expected");
    if (p->bridge[0] && !valid_ifname(p->bridge))
        return seterr(err, errlen, bad, "bridge: an interface name expected");
    if (p->bridge[0] && !valid_addr(p->address, true))
        return seterr(err, errlen, bad, "address: ADDRESS/PREFIX expected");
    if (!p->bridge[0] && (p->address[0] || p->gateway[0]))
        return seterr(err, errlen, bad, "address and gateway need a bridge");
    if (p->gateway[0] && !valid_addr(p->gateway, false))
        return seterr(err, errlen, bad, "gateway: an address expected");
    if (!valid_hostname(p->hostname))
        return seterr(err, errlen, bad, "hostname: [A-Za-z0-9.-] expected");
    if (p->cpu_milli && (p->cpu_milli < CPU_MILLI_MIN || p->cpu_milli > CPU_MILLI_MAX))
        return seterr(err, errlen, bad, "cpu_milli: 0 or %d..%d expected", CPU_MILLI_MIN,
                      CPU_MILLI_MAX);
    if (p->nfiles > VNODE_FILES_MAX || (p->nfiles && !p->files))
        return seterr(err, errlen, bad, "files: at most %d", VNODE_FILES_MAX);
    for (size_t i = 0; i < p->nfiles; i++) {
        const struct vnode_file *f = &p->files[i];

        if (!f->path || !clean_abs_path(f->path, 256))
            return seterr(err, errlen, bad, "file %zu: a clean absolute path expected", i);
        if ((f->len && !f->data) || f->len > VNODE_FILE_MAX || (f->mode & ~(mode_t)07777))
            return seterr(err, errlen, bad, "file %s: bad data, length or mode", f->path);
    }
    return 0;
}

/* ---- processes ------------------------------------------------------------------ */

static int open_pidfd(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int signal_pidfd(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

/* Waits until the process behind pidfd has exited, at most until deadline. */
static bool wait_exit(int pidfd, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
        int k = poll(&pfd, 1, left > 0 ? (int)left : 0);

        if (k > 0)
            return true;
        if (k == 0 || errno != EINTR)
            return false;
    }
}

/* Reaps pid if it is our child and has exited (anything else: no-op). */
static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
        ;
}

/* Field `field` (1-based, >= 3) of /proc/PID/stat; pid 0 = ourselves. */
static int proc_stat_field(pid_t pid, int field, unsigned long long *value)
{
    char path[64], buf[1024], *p, *end;
    ssize_t k;
    int fd, e;

    if (!(pid ? mkpath(path, sizeof(path), "/proc/%d/stat", (int)pid)
              : mkpath(path, sizeof(path), "/proc/self/stat")))
        return -ENAMETOOLONG;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    k = read(fd, buf, sizeof(buf) - 1);
    e = errno;
    close(fd);
    if (k < 0)
        return -e;
    buf[k] = '\0';
    /* the command name may contain anything: fields are counted after its ')' */
    if ((p = strrchr(buf, ')')) == NULL)
        return -EINVAL;
    for (int f = 2; f < field; f++) /* to the space before `field` */
        if ((p = strchr(p + 1, ' ')) == NULL)
            return -EINVAL;
    errno = 0;
    *value = strtoull(p + 1, &end, 10);
    return (errno || end == p + 1) ? -EINVAL : 0;
}

/* Start time of pid in clock ticks since boot (field 22). */
static int proc_start_time(pid_t pid, unsigned long long *start)
{
    return proc_stat_field(pid, 22, start);
}

/* A pidfd for the node's init if it is still the process we started; -errno otherwise. */
static int init_pidfd(const struct vnode *n)
{
    unsigned long long start;
    int fd, e;

    if (n->init_pid <= 0)
        return -ESRCH;
    if ((fd = open_pidfd(n->init_pid)) < 0)
        return -errno;
    /* checked after opening: the pidfd cannot refer to a later process */
    if ((e = proc_start_time(n->init_pid, &start)) != 0 || start != n->init_start) {
        close(fd);
        return e == 0 || e == -ENOENT ? -ESRCH : e;
    }
    return fd;
}

/* Is pid in the network namespace identified by ref (an nsfs inode)? */
static bool in_netns(pid_t pid, const struct stat *ref)
{
    char path[64];
    struct stat st;

    return mkpath(path, sizeof(path), "/proc/%d/ns/net", (int)pid) && stat(path, &st) == 0 &&
           st.st_dev == ref->st_dev && st.st_ino == ref->st_ino;
}

/* In a forked child: default dispositions, nothing blocked. */
static void child_reset_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &sa, NULL); /* fails for KILL, STOP and libc's own: fine */
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* A close-on-exec copy at 10 or above, clear of 0-2 and of each other. */
static int fd_high(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* Marks every descriptor from lowfd up close-on-exec. */
static int cloexec_from(int lowfd)
{
    long max;

    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowfd; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0)
            return -1;
    }
    return 0;
}

/* Closes every descriptor from 3 up except a and b. */
static void close_all_but(int a, int b)
{
    unsigned lo = (unsigned)(a < b ? a : b), hi = (unsigned)(a < b ? b : a);
    const unsigned range[3][2] = { { 3, lo - 1 }, { lo + 1, hi - 1 }, { hi + 1, ~0U } };

    for (int i = 0; i < 3; i++) {
        if (range[i][0] > range[i][1] || lo < 3)
            continue;
        if (syscall(SYS_close_range, range[i][0], range[i][1], 0) != 0)
            for (unsigned fd = range[i][0]; fd <= range[i][1] && fd < 65536; fd++)
                close((int)fd);
    }
}

static void child_report(int fd, int kind, int e, const char *step)
{
    struct child_msg m;

    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.err = e;
    if (step && snprintf(m.step, sizeof(m.step), "%s", step) < 0)
        m.step[0] = '\0';
    while (write(fd, &m, sizeof(m)) < 0 && errno == EINTR)
        ;
}

/* In a forked child: reports "<step>: errno" to the parent and exits. */
__attribute__((noreturn, format(printf, 2, 3))) static void child_fail(int fd, const char *fmt, ...)
{
    char step[STEP_MAX];
    int e = errno;
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(step, sizeof(step), fmt, ap) < 0)
        step[0] = '\0';
    va_end(ap);
    child_report(fd, MSG_ERR, e, step);
    _exit(127);
}

/* Reads one message: 1, 0 at end of file, or -errno (-ETIMEDOUT after deadline). */
static int read_msg(int fd, int64_t deadline, struct child_msg *m)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ssize_t k;

    for (;;) {
        int64_t left = deadline - now_ms();
        int pk = poll(&pfd, 1, left > 0 ? (int)left : 0);

        if (pk == 0)
            return -ETIMEDOUT;
        if (pk > 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    while ((k = read(fd, m, sizeof(*m))) < 0 && errno == EINTR)
        ;
    if (k < 0)
        return -errno;
    if (k == 0)
        return 0;
    if ((size_t)k != sizeof(*m))
        return -EPROTO;
    m->step[sizeof(m->step) - 1] = '\0';
    return 1;
}

/* Expects message `kind` from a child; its MSG_ERR or silence becomes the error. */
static int expect_msg(int fd, int kind, int timeout_ms, const char *what, char *err, size_t errlen)
{
    struct child_msg m;
    int k = read_msg(fd, now_ms() + timeout_ms, &m);

    if (k == -ETIMEDOUT)
        return seterr(err, errlen, VPXI_ERR_TIMEOUT, "%s: no answer within %d ms", what,
                      timeout_ms);
    if (k < 0)
        return sysfail(err, errlen, -k, "%s: reading its report", what);
    if (k == 0)
        return seterr(err, errlen, VPXI_ERR_INTERNAL, "%s: exited without a report", what);
    if (m.kind == MSG_ERR)
        return sysfail(err, errlen, m.err, "%s: %s", what, m.step);
    if (m.kind != kind)
        return seterr(err, errlen, VPXI_ERR_PROTOCOL, "%s: unexpected report %d", what, m.kind);
    return 0;
}

/* ---- host tools (ip, nft, tar) ----------------------------------------------------- */

static int find_tool(const char *name, char *path, size_t size)
{
    static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkpath(path, size, "%s/%s", dirs[i], name) && access(path, X_OK) == 0)
            return 0;
    return -ENOENT;
}

/* Keeps the first line-joined TOOL_ERR_MAX bytes of a tool's stderr. */
static void drain(int fd, char *out, size_t size)
{
    size_t got = 0;
    char tmp[512];
    ssize_t k;

    out[0] = '\0';
    while ((k = read(fd, tmp, sizeof(tmp))) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (ssize_t i = 0; i < k && got + 3 < size; i++) {
            if (tmp[i] == '\n') {
                out[got++] = ';';
                out[got++] = ' ';
            } else if ((unsigned char)tmp[i] >= ' ') {
                out[got++] = tmp[i];
            }
        }
    }
    while (got > 0 && (out[got - 1] == ' ' || out[got - 1] == ';'))
        got--;
    out[got] = '\0';
}

/*
 * Runs a host tool found in the system directories (never through the
 * caller's PATH), in the network namespace netfd when >= 0, stdin and stdout
 * on /dev/null, a fixed environment. A failure is reported as
 * "<what>: <the tool's stderr>".
 */
static int run_tool(const char *what, char *const argv[], int netfd, char *err, size_t errlen)
{
    static char *const env[] = { TOOL_PATH, "LC_ALL=C", NULL };
    char path[64], out[TOOL_ERR_MAX];
    int ep[2], status;
    pid_t pid, w;

    if (find_tool(argv[0], path, sizeof(path)) != 0)
        return seterr(err, errlen, VPXI_ERR_NOT_FOUND,
                      "%s: %s not found in /usr/sbin, /usr/bin, /sbin, /bin", what, argv[0]);
    if (pipe2(ep, O_CLOEXEC) != 0)
        return sysfail(err, errlen, errno, "%s: pipe", what);
    if ((pid = fork()) < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        return sysfail(err, errlen, e, "%s: fork", what);
    }
    if (pid == 0) {
        int efd = fd_high(ep[1]), nul = open("/dev/null", O_RDWR | O_CLOEXEC);

        child_reset_signals();
        if (efd < 0 || nul < 0 || (nul = fd_high(nul)) < 0)
            _exit(127);
        if (netfd >= 0 && setns(netfd, CLONE_NEWNET) != 0) {
            dprintf(efd, "entering the node's network namespace: %s", strerror(errno));
            _exit(127);
        }
        if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(efd, 2) < 0 || cloexec_from(3) != 0)
            _exit(127);
        execve(path, argv, env);
        dprintf(2, "exec %s: %s", path, strerror(errno));
        _exit(127);
    }
    close(ep[1]);
    drain(ep[0], out, sizeof(out));
    close(ep[0]);
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0)
        return sysfail(err, errlen, errno, "%s: waiting for %s", what, path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (out[0])
        return seterr(err, errlen, VPXI_ERR_SYS, "%s: %s", what, out);
    if (WIFEXITED(status))
        return seterr(err, errlen, VPXI_ERR_SYS, "%s: %s exited with %d", what, path,
                      WEXITSTATUS(status));
    return seterr(err, errlen, VPXI_ERR_SYS, "%s: %s killed by signal %d", what, path,
                  WTERMSIG(status));
}

/* ---- files ---------------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Creates path (O_EXCL, no symlink followed) with mode and contents. */
static int create_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd, r;

    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return -errno;
    if ((r = write_all(fd, data, len)) == 0 && fchmod(fd, mode) != 0)
        r = -errno;
    if (close(fd) != 0 && r == 0)
        r = -errno;
    return r;
}

/* Replaces path atomically (tmp + rename). */
static int replace_file(const char *path, const char *text)
{
    char tmp[VNODE_PATH_MAX + 8];
    int r;

    if (!mkpath(tmp, sizeof(tmp), "%s.tmp", path))
        return -ENAMETOOLONG;
    if (unlink(tmp) != 0 && errno != ENOENT)
        return -errno;
    if ((r = create_file(tmp, text, strlen(text), 0600)) != 0)
        return r;
    if (rename(tmp, path) != 0) {
        r = -errno;
        unlink(tmp);
    }
    return r;
}

static int read_small(const char *path, char *buf, size_t size)
{
    ssize_t k;
    int fd, e;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return -errno;
    k = read(fd, buf, size - 1);
    e = errno;
    close(fd);
    if (k < 0)
        return -e;
    buf[k] = '\0';
    return 0;
}

static int write_str(const char *path, const char *s)
{
    int fd, r;

    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
        return -errno;
    r = write_all(fd, s, strlen(s));
    if (close(fd) != 0 && r == 0)
        r = -errno;
    return r;
}

/* The caller's files, into upper (parents 0755, owned by root). */
static int write_files(const char *upper, const struct vnode_params *p, char *err, size_t errlen)
{
    char path[VNODE_PATH_MAX + 256];

    for (size_t i = 0; i < p->nfiles; i++) {
        const struct vnode_file *f = &p->files[i];
        size_t base = strlen(upper);
        int r;

        if (!mkpath(path, sizeof(path), "%s%s", upper, f->path))
            return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "file %s: path too long", f->path);
        for (char *s = strchr(path + base + 1, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            r = mkdir(path, 0755) != 0 && errno != EEXIST ? errno : 0;
            *s = '/';
            if (r)
                return sysfail(err, errlen, r, "file %s: mkdir", f->path);
        }
        if ((r = create_file(path, f->data, f->len, f->mode)) != 0)
            return sysfail(err, errlen, -r, "file %s", f->path);
    }
    return 0;
}

/* Removes name under dirfd, never following a symlink nor crossing a mount. */
static int rm_tree_at(int dirfd, const char *name, dev_t dev, int depth)
{
    struct dirent *e;
    struct stat st;
    DIR *d;
    int fd, r = 0;

    if (depth > RM_DEPTH_MAX)
        return -ELOOP;
    if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) != 0 || st.st_dev != dev) {
        r = st.st_dev != dev ? -EXDEV : -errno;
        close(fd);
        return r;
    }
    if ((d = fdopendir(fd)) == NULL) {
        r = -errno;
        close(fd);
        return r;
    }
    for (;;) {
        errno = 0;
        if ((e = readdir(d)) == NULL) {
            r = -errno;
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue;
            r = -errno;
            break;
        }
        if (S_ISDIR(st.st_mode))
            r = rm_tree_at(fd, e->d_name, dev, depth + 1);
        else if (unlinkat(fd, e->d_name, 0) != 0 && errno != ENOENT)
            r = -errno;
        if (r)
            break;
    }
    closedir(d);
    if (r == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        r = -errno;
    return r;
}

static int remove_tree(const char *dir)
{
    char parent[VNODE_PATH_MAX];
    const char *base = strrchr(dir, '/');
    struct stat st;
    int pfd, r;

    if (!base || !base[1] || (size_t)(base - dir) >= sizeof(parent))
        return -EINVAL;
    memcpy(parent, dir, (size_t)(base - dir));
    parent[base == dir ? 1 : base - dir] = '\0';
    if (base == dir)
        parent[0] = '/';
    if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstatat(pfd, base + 1, &st, AT_SYMLINK_NOFOLLOW) != 0)
        r = errno == ENOENT ? 0 : -errno;
    else if (!S_ISDIR(st.st_mode))
        r = -ENOTDIR;
    else
        r = rm_tree_at(pfd, base + 1, st.st_dev, 0);
    close(pfd);
    return r;
}

/* ---- state file ----------------------------------------------------------------- */

static int state_save(const struct vnode *n)
{
    char text[STATE_MAX], path[VNODE_PATH_MAX + 16];

    if (!mkpath(path, sizeof(path), "%s/" STATE_FILE, n->statedir) ||
        !mkpath(text, sizeof(text),
                "# vpxi virtual node (src/vpxid/hostagent/vnode.c): what exists\n"
                "name=%s\nstatedir=%s\ninit_pid=%d\ninit_start=%llu\nnetns=%s\ncgroup=%s\n"
                "veth=%s\ncgroup_ok=%d\nlimits_ok=%d\nmounted=%d\n",
                n->name, n->statedir, (int)n->init_pid, n->init_start, n->netns_path, n->cgroup,
                n->veth, n->cgroup_ok, n->limits_ok, n->mounted))
        return -ENAMETOOLONG;
    return replace_file(path, text);
}

/* state_save with the error text for vnode_create. */
static int record(const struct vnode *n, char *err, size_t errlen)
{
    int r = state_save(n);

    return r ? sysfail(err, errlen, -r, "recording %s/" STATE_FILE, n->statedir) : 0;
}

static int state_value(struct vnode *n, const char *key, const char *val)
{
    char *end;

#define STR(field)                                                                                 \
    (strlen(val) < sizeof(n->field) ? (memcpy(n->field, val, strlen(val) + 1), 0) : -1)
    if (!strcmp(key, "name"))
        return valid_name(val) ? STR(name) : -1;
    if (!strcmp(key, "netns"))
        return !val[0] || !strncmp(val, NETNS_DIR "/" NETNS_PREFIX, 14) ? STR(netns_path) : -1;
    if (!strcmp(key, "cgroup"))
        return !val[0] || (!strncmp(val, "/sys/fs/cgroup/", 15) && !strstr(val, "/..") &&
                           strstr(val, "/" CGROUP_PARENT "/"))
                   ? STR(cgroup)
                   : -1;
    if (!strcmp(key, "veth"))
        return !val[0] || (!strncmp(val, VETH_PREFIX, 3) && valid_ifname(val)) ? STR(veth) : -1;
#undef STR
    errno = 0;
    if (!strcmp(key, "init_pid")) {
        long v = strtol(val, &end, 10);
        n->init_pid = (pid_t)v;
        return errno || *end || v < 0 || v > INT32_MAX ? -1 : 0;
    }
    if (!strcmp(key, "init_start")) {
        n->init_start = strtoull(val, &end, 10);
        return errno || *end ? -1 : 0;
    }
    if (!strcmp(key, "cgroup_ok"))
        n->cgroup_ok = !strcmp(val, "1");
    else if (!strcmp(key, "limits_ok"))
        n->limits_ok = !strcmp(val, "1");
    else if (!strcmp(key, "mounted"))
        n->mounted = !strcmp(val, "1");
    /* statedir: the caller's path wins (the directory may have moved); unknown keys: newer */
    return 0;
}

int vnode_load(const char *statedir, struct vnode *out)
{
    char text[STATE_MAX], path[VNODE_PATH_MAX + 16], *line, *save = NULL;
    int r, fd;

    if (!statedir || !out)
        vpxi_misuse("vnode_load: NULL argument");
    memset(out, 0, sizeof(*out));
    if (!valid_host_path(statedir) || !mkpath(path, sizeof(path), "%s/" STATE_FILE, statedir))
        return VPXI_ERR_INVALID;
    if ((r = read_small(path, text, sizeof(text))) != 0)
        return r == -ENOENT ? VPXI_ERR_NOT_FOUND : sys_code(-r);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');

        if (line[0] == '#')
            continue;
        if (!eq)
            goto bad;
        *eq = '\0';
        if (state_value(out, line, eq + 1) != 0)
            goto bad;
    }
    if (!out->name[0])
        goto bad;
    snprintf(out->statedir, sizeof(out->statedir), "%s", statedir);
    out->owns_statedir = true; /* the state file in it says we made it */
    if ((fd = init_pidfd(out)) >= 0 && !wait_exit(fd, 0)) {
        close(fd);
    } else {
        if (fd >= 0)
            close(fd);
        out->init_pid = 0;
        out->init_start = 0;
        out->mounted = false;
    }
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    return VPXI_ERR_BAD_FORMAT;
}

/* ---- cgroup --------------------------------------------------------------------- */

/* The cgroup2 hierarchy: /sys/fs/cgroup, or the "unified" one of a hybrid
 * (systemd) layout, which groups and kills but has no cpu/memory control. */
static const char *cgroup_root(void)
{
    static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
    struct statfs sf;

    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
        if (statfs(roots[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
            return roots[i];
    return NULL;
}

static bool has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);

    for (const char *s = strstr(list, word); s; s = strstr(s + 1, word))
        if ((s == list || s[-1] == ' ') && (s[wl] == ' ' || s[wl] == '\n' || s[wl] == '\0'))
            return true;
    return false;
}

/* "+cpu", "+memory" into dir/cgroup.subtree_control for those that exist. */
static bool enable_controllers(const char *root, const char *dir, bool cpu, bool mem)
{
    char path[VNODE_CGROUP_MAX + 32], have[256];
    bool ok = true;

    if (!mkpath(path, sizeof(path), "%s/cgroup.controllers", root) ||
        read_small(path, have, sizeof(have)) != 0)
        return false;
    if ((cpu && !has_word(have, "cpu")) || (mem && !has_word(have, "memory")))
        ok = false;
    if (!mkpath(path, sizeof(path), "%s/cgroup.subtree_control", dir))
        return false;
    if (cpu && has_word(have, "cpu") && write_str(path, "+cpu") != 0)
        ok = false;
    if (mem && has_word(have, "memory") && write_str(path, "+memory") != 0)
        ok = false;
    return ok;
}

/* Writes one limit; 1 when the controller's file is missing. */
static int write_limit(const char *cg, const char *file, const char *value, char *err,
                       size_t errlen)
{
    char path[VNODE_CGROUP_MAX + 32];
    int r;

    if (!mkpath(path, sizeof(path), "%s/%s", cg, file))
        return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "cgroup path too long");
    if ((r = write_str(path, value)) == -ENOENT)
        return 1;
    return r ? sysfail(err, errlen, -r, "write %s to %s", value, path) : 0;
}

static int setup_cgroup(struct vnode *n, const struct vnode_params *p, char *err, size_t errlen)
{
    const char *root = cgroup_root();
    char parent[VNODE_CGROUP_MAX], cg[VNODE_CGROUP_MAX], val[64];
    bool cpu = p->cpu_milli != 0, mem = p->memory_mb != 0, ctl;
    int r, missing = 0;

    n->limits_ok = !cpu && !mem;
    if (!root) {
        if (!atomic_exchange(&warned_nocgroup, true))
            log_warn("no cgroup v2 hierarchy: virtual nodes run without cpu/memory limits");
        return 0;
    }
    if (!mkpath(parent, sizeof(parent), "%s/" CGROUP_PARENT, root) ||
        !mkpath(cg, sizeof(cg), "%s/%s", parent, n->name))
        return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "cgroup path too long");
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        if (errno != EROFS && errno != EACCES && errno != EPERM)
            return sysfail(err, errlen, errno, "mkdir %s", parent);
        if (!atomic_exchange(&warned_nocgroup, true))
            log_warn("cgroup %s not writable (%s): virtual nodes run without cpu/memory limits",
                     root, strerror(errno));
        return 0;
    }
    ctl = enable_controllers(root, root, cpu, mem) && enable_controllers(parent, parent, cpu, mem);
    if (mkdir(cg, 0755) != 0)
        return sysfail(err, errlen, errno, "mkdir cgroup %s", cg);
    snprintf(n->cgroup, sizeof(n->cgroup), "%s", cg);
    n->cgroup_ok = true;
    if (cpu) {
        if (!mkpath(val, sizeof(val), "%llu %d", (unsigned long long)p->cpu_milli * 100,
                    CPU_PERIOD_USEC))
            return seterr(err, errlen, VPXI_ERR_INTERNAL, "cpu.max");
        if ((r = write_limit(cg, "cpu.max", val, err, errlen)) < 0)
            return r;
        missing += r;
    }
    if (mem) {
        if (!mkpath(val, sizeof(val), "%llu", (unsigned long long)p->memory_mb << 20))
            return seterr(err, errlen, VPXI_ERR_INTERNAL, "memory.max");
        if ((r = write_limit(cg, "memory.max", val, err, errlen)) < 0)
            return r;
        missing += r;
    }
    n->limits_ok = missing == 0;
    if ((!ctl || missing) && (cpu || mem) && !atomic_exchange(&warned_nolimits, true))
        log_warn("cgroup %s lacks the cpu/memory controllers (hybrid hierarchy?): virtual node "
                 "limits are not enforced",
                 root);
    if (!mkpath(val, sizeof(val), "%d", (int)n->init_pid))
        return seterr(err, errlen, VPXI_ERR_INTERNAL, "init pid");
    if ((r = write_limit(cg, "cgroup.procs", val, err, errlen)) != 0)
        return r > 0 ? seterr(err, errlen, VPXI_ERR_SYS, "%s: no cgroup.procs", cg) : r;
    return 0;
}

static int remove_cgroup(struct vnode *n, char *err, size_t errlen)
{
    char path[VNODE_CGROUP_MAX + 16];
    int64_t deadline = now_ms() + CGROUP_RMDIR_TIMEOUT_MS;

    if (!n->cgroup[0])
        return 0;
    /* belt and braces: everything in it is in the node's PID namespace, dead by now */
    if (mkpath(path, sizeof(path), "%s/cgroup.kill", n->cgroup))
        (void)write_str(path, "1");
    while (rmdir(n->cgroup) != 0 && errno != ENOENT) {
        if (errno != EBUSY || now_ms() > deadline)
            return sysfail(err, errlen, errno, "rmdir cgroup %s", n->cgroup);
        sleep_ms(10);
    }
    n->cgroup[0] = '\0';
    n->cgroup_ok = false;
    return 0;
}

/* ---- network -------------------------------------------------------------------- */

/* As iproute2: /run/netns is a shared mount, so that the bind mounts made
 * in it reach mount namespaces made later (ip netns exec). */
static int netns_dir_ready(char *err, size_t errlen)
{
    if (mkdir(NETNS_DIR, 0755) != 0 && errno != EEXIST)
        return sysfail(err, errlen, errno, "mkdir " NETNS_DIR);
    for (int tries = 0;; tries++) {
        if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
            return 0;
        if (errno != EINVAL || tries > 0)
            return sysfail(err, errlen, errno, "make " NETNS_DIR " a shared mount");
        if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) != 0)
            return sysfail(err, errlen, errno, "bind " NETNS_DIR " on itself");
    }
}

static int bind_netns(struct vnode *n, char *err, size_t errlen)
{
    char path[VNODE_NETNS_MAX], src[64];
    int fd, r;

    if ((r = netns_dir_ready(err, errlen)) != 0)
        return r;
    if (!mkpath(path, sizeof(path), NETNS_DIR "/" NETNS_PREFIX "%s", n->name) ||
        !mkpath(src, sizeof(src), "/proc/%d/ns/net", (int)n->init_pid))
        return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "netns path too long");
    if ((fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)) < 0)
        return sysfail(err, errlen, errno, "create %s", path);
    close(fd);
    snprintf(n->netns_path, sizeof(n->netns_path), "%s", path);
    if (mount(src, path, "none", MS_BIND, NULL) != 0)
        return sysfail(err, errlen, errno, "bind %s on %s", src, path);
    return 0;
}

static int unbind_netns(struct vnode *n, char *err, size_t errlen)
{
    if (!n->netns_path[0])
        return 0;
    if (umount2(n->netns_path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        return sysfail(err, errlen, errno, "umount %s", n->netns_path);
    if (unlink(n->netns_path) != 0 && errno != ENOENT)
        return sysfail(err, errlen, errno, "unlink %s", n->netns_path);
    n->netns_path[0] = '\0';
    return 0;
}

/* vh-<FNV-1a of the name>: stable across restarts, fits IFNAMSIZ. */
static void veth_name(const char *name, char out[static VNODE_IFNAME_MAX])
{
    uint32_t h = 2166136261u;

    for (const char *s = name; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    snprintf(out, VNODE_IFNAME_MAX, VETH_PREFIX "%08x", (unsigned)h);
}

static int make_veth(struct vnode *n, const struct vnode_params *p, char *err, size_t errlen)
{
    char vname[VNODE_IFNAME_MAX], pid[16], what[96];
    int r;

    veth_name(p->name, vname);
    snprintf(pid, sizeof(pid), "%d", (int)n->init_pid);
    {
        char *add[] = { "ip",   "link", "add",       vname,   "type", "veth",
                        "peer", "name", UNDERLAY_IF, "netns", pid,    NULL };
        snprintf(what, sizeof(what), "create veth %s", vname);
        if ((r = run_tool(what, add, -1, err, errlen)) != 0)
            return r; /* not ours (a name clash) or not made: not recorded */
    }
    snprintf(n->veth, sizeof(n->veth), "%s", vname);
    if ((r = record(n, err, errlen)) != 0)
        return r;
    {
        char *set[] = { "ip", "link", "set", vname, "master", (char *)p->bridge, "up", NULL };
        snprintf(what, sizeof(what), "attach %s to bridge %s", vname, p->bridge);
        return run_tool(what, set, -1, err, errlen);
    }
}

static int remove_veth(struct vnode *n, char *err, size_t errlen)
{
    char *del[] = { "ip", "link", "del", n->veth, NULL };
    int r;

    if (!n->veth[0])
        return 0;
    if (if_nametoindex(n->veth) != 0 && (r = run_tool("delete veth", del, -1, err, errlen)) != 0 &&
        if_nametoindex(n->veth) != 0)
        return r;
    n->veth[0] = '\0';
    return 0;
}

/* port classes of the direct path (node/direct.h): intervals of
 * (address, MAC, protocol, port) */
#define PORTSET4        "type ipv4_addr . ether_addr . inet_proto . inet_service; flags interval; counter;"
#define PORTSET6        "type ipv6_addr . ether_addr . inet_proto . inet_service; flags interval; counter;"
#define PORTMATCH4(dir) "ip saddr . ether saddr . meta l4proto . th " dir
#define PORTMATCH6(dir) "ip6 saddr . ether saddr . meta l4proto . th " dir

/* The firewall: only the underlay (eth0) is restricted: HIP and ESP, ICMP
 * errors and neighbour discovery, and the direct path of clear links to
 * exactly the peers the node's vpxid puts in the sets (node/direct.h). The
 * set rules come first so that their per-element counters see every packet
 * of the direct path (vpxi status), not only the first of each flow. */
int vnode_firewall_rules(char *buf, size_t size)
{
    static const char icmp4[] = "icmp type { destination-unreachable, time-exceeded, "
                                "parameter-problem } accept";
    static const char icmp6[] = "icmpv6 type { destination-unreachable, packet-too-big, "
                                "time-exceeded, parameter-problem, nd-router-solicit, "
                                "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } "
                                "accept";

    return mkpath(
               buf, size,
               "table inet " VPXI_FW_TABLE " {\n"
               "\tset " VPXI_FW_SET_IN4 " { type ipv4_addr . ether_addr; counter; }\n"
               "\tset " VPXI_FW_SET_IN6 " { type ipv6_addr . ether_addr; counter; }\n"
               "\tset " VPXI_FW_SET_OUT4 " { type ipv4_addr; counter; }\n"
               "\tset " VPXI_FW_SET_OUT6 " { type ipv6_addr; counter; }\n"
               "\tset " VPXI_FW_SET_PORTS4 " { " PORTSET4 " }\n"
               "\tset " VPXI_FW_SET_PORTS6 " { " PORTSET6 " }\n"
               "\tset " VPXI_FW_SET_DENY4 " { " PORTSET4 " }\n"
               "\tset " VPXI_FW_SET_DENY6 " { " PORTSET6 " }\n"
               "\tchain input {\n"
               "\t\ttype filter hook input priority filter; policy drop;\n"
               "\t\tiifname != \"" UNDERLAY_IF "\" accept\n"
               "\t\t" PORTMATCH4(
                   "dport") " @" VPXI_FW_SET_DENY4 " drop\n"
                            "\t\t" PORTMATCH4(
                                "sport") " @" VPXI_FW_SET_DENY4 " drop\n"
                                         "\t\t" PORTMATCH6(
                                             "dport") " @" VPXI_FW_SET_DENY6 " drop\n"
                                                      "\t\t" PORTMATCH6(
                                                          "sport") " @" VPXI_FW_SET_DENY6 " drop\n"
                                                                   "\t\tip saddr . ether saddr "
                                                                   "@" VPXI_FW_SET_IN4 " accept\n"
                                                                   "\t\tip6 saddr . ether saddr "
                                                                   "@" VPXI_FW_SET_IN6 " accept\n"
                                                                   "\t\t" PORTMATCH4(
                                                                       "dport") " "
                                                                                "@" VPXI_FW_SET_PORTS4
                                                                                " accept\n"
                                                                                "\t\t" PORTMATCH4(
                                                                                    "sport") " "
                                                                                             "@" VPXI_FW_SET_PORTS4
                                                                                             " acce"
                                                                                             "pt\n"
                                                                                             "\t"
                                                                                             "\t" PORTMATCH6(
                                                                                                 "d"
                                                                                                 "p"
                                                                                                 "o"
                                                                                                 "r"
                                                                                                 "t") " @" VPXI_FW_SET_PORTS6
                                                                                                      " accept\n"
                                                                                                      "\t\t" PORTMATCH6(
                                                                                                          "sport") " @" VPXI_FW_SET_PORTS6
                                                                                                                   " accept\n"
                                                                                                                   "\t\tct state established,related accept\n"
                                                                                                                   "\t\tudp dport %d accept\n"
                                                                                                                   "\t\t%s\n\t\t%s\n"
                                                                                                                   "\t}\n"
                                                                                                                   "\tchain output {\n"
                                                                                                                   "\t\ttype filter hook output priority filter; policy drop;\n"
                                                                                                                   "\t\toifname != \"" UNDERLAY_IF
                                                                                                                   "\" accept\n"
                                                                                                                   "\t\tip daddr @" VPXI_FW_SET_OUT4
                                                                                                                   " accept\n"
                                                                                                                   "\t\tip6 daddr @" VPXI_FW_SET_OUT6
                                                                                                                   " accept\n"
                                                                                                                   "\t\tct state established,related accept\n"
                                                                                                                   "\t\tudp sport %d accept\n"
                                                                                                                   "\t\tudp dport %d accept\n"
                                                                                                                   "\t\t%s\n\t\t%s\n"
                                                                                                                   "\t}\n"
                                                                                                                   "}\n",
               VNODE_UDP_PORT, icmp4, icmp6, VNODE_UDP_PORT, VNODE_UDP_PORT, icmp4, icmp6)
               ? 0
               : -ENAMETOOLONG;
}

/* Inside the node's netns: firewall first, then lo, eth0 and the route. */
static int configure_node_net(const struct vnode *n, const struct vnode_params *p, char *err,
                              size_t errlen)
{
    char text[RUNFILE_MAX], path[VNODE_PATH_MAX + 16];
    int netfd, r = 0;

    if ((netfd = open(n->netns_path, O_RDONLY | O_CLOEXEC)) < 0)
        return sysfail(err, errlen, errno, "open %s", n->netns_path);
    if (p->firewall) {
        char *nft[] = { "nft", "-f", path, NULL };
        if (!mkpath(path, sizeof(path), "%s/firewall.nft", n->statedir) ||
            vnode_firewall_rules(text, sizeof(text)) != 0)
            r = seterr(err, errlen, VPXI_ERR_TOO_LARGE, "firewall rules");
        else if ((r = replace_file(path, text)) != 0)
            r = sysfail(err, errlen, -r, "write %s", path);
        else
            r = run_tool("node firewall (nft)", nft, netfd, err, errlen);
    }
    if (r == 0) {
        char *ip[] = { "ip", "-batch", path, NULL };
        bool ok = mkpath(path, sizeof(path), "%s/net.ip", n->statedir);
        if (ok && p->bridge[0])
            ok = mkpath(text, sizeof(text),
                        "link set lo up\naddr add %s dev " UNDERLAY_IF "%s\n"
                        "link set " UNDERLAY_IF " up\n%s%s%s",
                        p->address, strchr(p->address, ':') ? " nodad" : "",
                        p->gateway[0] ? "route add default via " : "", p->gateway,
                        p->gateway[0] ? "\n" : "");
        else if (ok)
            ok = mkpath(text, sizeof(text), "link set lo up\n");
        if (!ok)
            r = seterr(err, errlen, VPXI_ERR_TOO_LARGE, "network commands");
        else if ((r = replace_file(path, text)) != 0)
            r = sysfail(err, errlen, -r, "write %s", path);
        else
            r = run_tool("node network (ip)", ip, netfd, err, errlen);
    }
    close(netfd);
    return r;
}

/* Kills whatever still lives in the node's netns (daemons' children that
 * left their process group, exec'd processes of a dead init...). */
static int kill_strays(const struct vnode *n, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + STRAY_TIMEOUT_MS;
    struct stat ref;
    int found;

    if (!n->netns_path[0] || stat(n->netns_path, &ref) != 0)
        return 0;
    do {
        DIR *d = opendir("/proc");
        struct dirent *e;

        if (!d)
            return sysfail(err, errlen, errno, "opendir /proc");
        found = 0;
        while ((e = readdir(d)) != NULL) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            int fd;

            if (*end || pid <= 0 || pid == (long)getpid() || !in_netns((pid_t)pid, &ref))
                continue;
            if ((fd = open_pidfd((pid_t)pid)) < 0)
                continue;
            if (in_netns((pid_t)pid, &ref) && signal_pidfd(fd, SIGKILL) == 0)
                found++;
            close(fd);
            reap((pid_t)pid);
        }
        closedir(d);
        if (found)
            sleep_ms(10);
    } while (found && now_ms() < deadline);
    return found ? seterr(err, errlen, VPXI_ERR_TIMEOUT, "%d processes in %s survive SIGKILL",
                          found, n->netns_path)
                 : 0;
}

/* ---- init ------------------------------------------------------------------------- */

/* What init needs, prepared before the fork. */
struct init_plan {
    char merged[VNODE_PATH_MAX];
    char opts[3 * VNODE_PATH_MAX + 64];
    char hostname[VNODE_HOSTNAME_MAX];
};

static const struct {
    const char *name;
    unsigned major, minor;
} dev_nodes[] = {
    { "null", 1, 3 },    { "zero", 1, 5 }, { "full", 1, 7 },       { "random", 1, 8 },
    { "urandom", 1, 9 }, { "tty", 5, 0 },  { "net/tun", 10, 200 },
};

static const struct {
    const char *name, *target;
} dev_links[] = {
    { "fd", "/proc/self/fd" },
    { "stdin", "/proc/self/fd/0" },
    { "stdout", "/proc/self/fd/1" },
    { "stderr", "/proc/self/fd/2" },
};

/* In init, after "go": mounts the root file system and pivots into it.
 * Returns 0, or errno with the failed step in step. */
static int init_root(const struct init_plan *pl, char *step, size_t steplen)
{
    static const char *const dirs[] = { "proc", "sys", "dev" };
    const unsigned long hard = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    char path[VNODE_PATH_MAX + 32];

#define TRY(ok, ...)                                                                               \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            int e_ = errno;                                                                        \
            if (snprintf(step, steplen, __VA_ARGS__) < 0)                                          \
                step[0] = '\0';                                                                    \
            return e_ ? e_ : EINVAL;                                                               \
        }                                                                                          \
    } while (0)
#define AT(sub) mkpath(path, sizeof(path), "%s/%s", pl->merged, sub)

    TRY(mount("overlay", pl->merged, "overlay", 0, pl->opts) == 0, "mount overlay on %s",
        pl->merged);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        TRY(AT(dirs[i]) && (mkdir(path, 0755) == 0 || errno == EEXIST), "mkdir /%s", dirs[i]);
    TRY(AT("proc") && mount("proc", path, "proc", hard, NULL) == 0, "mount /proc");
    TRY(AT("sys") && mount("sysfs", path, "sysfs", hard | MS_RDONLY, NULL) == 0, "mount /sys");
    TRY(AT("dev") &&
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536") == 0,
        "mount /dev");
    TRY(AT("dev/net") && mkdir(path, 0755) == 0, "mkdir /dev/net");
    /* POSIX shared memory: its own tmpfs, charged to the node's memory cgroup */
    TRY(AT("dev/shm") && mkdir(path, 01777) == 0 &&
            mount("tmpfs", path, "tmpfs", hard, "mode=1777,size=" SHM_SIZE) == 0,
        "mount /dev/shm");
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
        char sub[32];
        TRY(mkpath(sub, sizeof(sub), "dev/%s", dev_nodes[i].name) && AT(sub) &&
                mknod(path, S_IFCHR | 0666, makedev(dev_nodes[i].major, dev_nodes[i].minor)) == 0,
            "mknod /dev/%s", dev_nodes[i].name);
    }
    for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
        char sub[32];
        TRY(mkpath(sub, sizeof(sub), "dev/%s", dev_links[i].name) && AT(sub) &&
                symlink(dev_links[i].target, path) == 0,
            "symlink /dev/%s", dev_links[i].name);
    }
    TRY(sethostname(pl->hostname, strlen(pl->hostname)) == 0, "sethostname %s", pl->hostname);
    /* pivot_root(".", "."): the old root ends up stacked on the new one, and is detached */
    TRY(chdir(pl->merged) == 0, "chdir %s", pl->merged);
    TRY(syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root %s", pl->merged);
    TRY(umount2(".", MNT_DETACH) == 0, "detach the host's root");
    TRY(chdir("/") == 0, "chdir /");
#undef AT
#undef TRY
    return 0;
}

/* pid 1 of the node from here on: reaps, and ends the node on SIGTERM/SIGINT. */
__attribute__((noreturn)) static void init_loop(void)
{
    sigset_t all;

    sigfillset(&all);
    for (;;) {
        int sig = sigwaitinfo(&all, NULL);

        if (sig == SIGTERM || sig == SIGINT)
            _exit(0);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}

/*
 * init is a copy of the host agent. Its command line (/proc/1/cmdline,
 * readable by every user of the node) becomes INIT_COMM and its environment
 * is wiped, by overwriting them in place (their bounds: /proc/self/stat
 * fields 48-51); it is made non-dumpable.
 */
static void hide_host_agent(void)
{
    unsigned long long as, ae, es, ee;

    (void)prctl(PR_SET_NAME, INIT_COMM, 0, 0, 0);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (proc_stat_field(0, 50, &es) == 0 && proc_stat_field(0, 51, &ee) == 0 && es && ee > es)
        memset((void *)(uintptr_t)es, 0, (size_t)(ee - es));
    if (proc_stat_field(0, 48, &as) == 0 && proc_stat_field(0, 49, &ae) == 0 && as &&
        ae > as + sizeof(INIT_COMM)) {
        memset((void *)(uintptr_t)as, 0, (size_t)(ae - as));
        memcpy((void *)(uintptr_t)as, INIT_COMM, sizeof(INIT_COMM));
    }
}

/* The node's init, just forked as pid 1 of a new PID namespace. */
__attribute__((noreturn)) static void init_main(int go, int rep, const struct init_plan *pl)
{
    char step[STEP_MAX] = "";
    sigset_t all;
    int nul, e;
    char c = 0;

    /* everything blocked: signals are read synchronously by init_loop */
    child_reset_signals();
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if ((go = fd_high(go)) < 0 || (rep = fd_high(rep)) < 0)
        _exit(127);
    if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        child_fail(rep, "open /dev/null");
    if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
        child_fail(rep, "dup2 /dev/null");
    /* nothing of the caller's (sockets, files) stays open in the node */
    close_all_but(go, rep);
    hide_host_agent();
    umask(0);
    if (setsid() < 0)
        child_fail(rep, "setsid");
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWIPC) != 0)
        child_fail(rep, "unshare mount, UTS, network and IPC namespaces");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        child_fail(rep, "make mounts private");
    child_report(rep, MSG_NS, 0, NULL);
    while ((e = (int)read(go, &c, 1)) < 0 && errno == EINTR)
        ;
    if (e != 1 || c != 'g')
        _exit(1); /* the parent gave up: it rolls back */
    if ((e = init_root(pl, step, sizeof(step))) != 0) {
        errno = e;
        child_fail(rep, "%s", step);
    }
    child_report(rep, MSG_READY, 0, NULL);
    close(go);
    close(rep);
    init_loop();
}

/* Opens the calling thread's PID namespace for children, to come back to. */
static int own_pidns(void)
{
    int fd = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);

    return fd >= 0 ? fd : open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
}

/*
 * Forks init into a new PID namespace. Only the calling thread's
 * pid_for_children changes, and only around the fork. On success *go is the
 * pipe that releases init and *rep the one it reports on.
 */
static int start_init(struct vnode *n, const struct init_plan *pl, int *go, int *rep, char *err,
                      size_t errlen)
{
    int gp[2] = { -1, -1 }, rp[2] = { -1, -1 }, self = -1, r = 0, e;
    pid_t pid = -1;

    if (pipe2(gp, O_CLOEXEC) != 0 || pipe2(rp, O_CLOEXEC) != 0) {
        r = sysfail(err, errlen, errno, "pipe");
        goto out;
    }
    if ((self = own_pidns()) < 0) {
        r = sysfail(err, errlen, errno, "open our PID namespace");
        goto out;
    }
    if (unshare(CLONE_NEWPID) != 0) {
        r = sysfail(err, errlen, errno, "unshare PID namespace");
        goto out;
    }
    pid = fork();
    e = errno;
    if (pid == 0) {
        close(gp[1]);
        close(rp[0]);
        init_main(gp[0], rp[1], pl);
    }
    if (setns(self, CLONE_NEWPID) != 0) {
        /* later forks of this thread would land in the node: say so loudly */
        log_err("cannot return to our PID namespace: %s", strerror(errno));
        r = sysfail(err, errlen, errno, "return to our PID namespace");
    }
    if (pid < 0 && r == 0)
        r = sysfail(err, errlen, e, "fork init");
    if (pid > 0) {
        n->init_pid = pid;
        if (r == 0 && (e = proc_start_time(pid, &n->init_start)) != 0)
            r = sysfail(err, errlen, -e, "start time of init %d", (int)pid);
        if (r != 0) {
            /* not recorded: our child, so the pid cannot be reused before we reap it */
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            n->init_pid = 0;
        }
    }
out:
    if (self >= 0)
        close(self);
    if (gp[0] >= 0)
        close(gp[0]);
    if (rp[1] >= 0)
        close(rp[1]);
    if (r == 0) {
        *go = gp[1];
        *rep = rp[0];
        log_debug("node %s: init %d started", n->name, (int)pid);
    } else {
        if (gp[1] >= 0)
            close(gp[1]);
        if (rp[0] >= 0)
            close(rp[0]);
    }
    return r;
}

static int stop_init(struct vnode *n, char *err, size_t errlen)
{
    int fd, r = 0;

    if (n->init_pid <= 0) {
        n->init_pid = 0;
        return 0;
    }
    if ((fd = init_pidfd(n)) < 0) {
        if (fd != -ESRCH)
            return sysfail(err, errlen, -fd, "init %d", (int)n->init_pid);
    } else {
        if (signal_pidfd(fd, SIGKILL) != 0 && errno != ESRCH)
            r = sysfail(err, errlen, errno, "kill init %d", (int)n->init_pid);
        else if (!wait_exit(fd, now_ms() + INIT_EXIT_TIMEOUT_MS))
            r = seterr(err, errlen, VPXI_ERR_TIMEOUT,
                       "init %d still there after %d ms (a process of the node not reaped by "
                       "its parent outside?)",
                       (int)n->init_pid, INIT_EXIT_TIMEOUT_MS);
        close(fd);
        if (r)
            return r;
        reap(n->init_pid);
    }
    n->init_pid = 0;
    n->init_start = 0;
    n->mounted = false;
    return 0;
}

/* ---- create ------------------------------------------------------------------------- */

/* statedir/{lower,upper,work,merged}, the files, and init's plan. */
static int prepare_fs(const struct vnode *n, const struct vnode_params *p, struct init_plan *pl,
                      char *err, size_t errlen)
{
    char lower[VNODE_PATH_MAX], upper[VNODE_PATH_MAX], work[VNODE_PATH_MAX];
    const char *lowerdir = p->image;
    struct stat st;
    int r;

    if (stat(p->image, &st) != 0)
        return sysfail(err, errlen, errno, "image %s", p->image);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return seterr(err, errlen, VPXI_ERR_INVALID, "image %s: not a directory or a tarball",
                      p->image);
    if (!mkpath(lower, sizeof(lower), "%s/lower", n->statedir) ||
        !mkpath(upper, sizeof(upper), "%s/upper", n->statedir) ||
        !mkpath(work, sizeof(work), "%s/work", n->statedir) ||
        !mkpath(pl->merged, sizeof(pl->merged), "%s/merged", n->statedir))
        return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "statedir path too long");
    if (S_ISREG(st.st_mode)) {
        /* numeric owners: the image's uids, not the host's names for them */
        char *tar[] = { "tar", "-x", "--numeric-owner", "-f", (char *)p->image, "-C", lower, NULL };
        if (mkdir(lower, 0755) != 0)
            return sysfail(err, errlen, errno, "mkdir %s", lower);
        if ((r = run_tool("unpack image", tar, -1, err, errlen)) != 0)
            return r;
        lowerdir = lower;
    }
    if (mkdir(upper, 0755) != 0)
        return sysfail(err, errlen, errno, "mkdir %s", upper);
    if (mkdir(work, 0700) != 0)
        return sysfail(err, errlen, errno, "mkdir %s", work);
    if (mkdir(pl->merged, 0755) != 0)
        return sysfail(err, errlen, errno, "mkdir %s", pl->merged);
    if ((r = write_files(upper, p, err, errlen)) != 0)
        return r;
    if (!mkpath(pl->opts, sizeof(pl->opts), "lowerdir=%s,upperdir=%s,workdir=%s", lowerdir, upper,
                work))
        return seterr(err, errlen, VPXI_ERR_TOO_LARGE, "overlay options too long");
    snprintf(pl->hostname, sizeof(pl->hostname), "%s", p->hostname[0] ? p->hostname : p->name);
    return 0;
}

static int release_init(int go, char *err, size_t errlen)
{
    ssize_t k;

    while ((k = write(go, "g", 1)) < 0 && errno == EINTR)
        ;
    return k == 1 ? 0 : sysfail(err, errlen, errno, "release init");
}

int vnode_create(const struct vnode_params *p, struct vnode *out, char *err, size_t errlen)
{
    int64_t t0 = now_ms();
    struct init_plan pl;
    char rb[256];
    int go = -1, rep = -1, r = VPXI_ERR_INTERNAL;

    if (!p || !out)
        vpxi_misuse("vnode_create: NULL argument");
    memset(out, 0, sizeof(*out));
    memset(&pl, 0, sizeof(pl));
    if (err && errlen)
        err[0] = '\0';
    if ((r = check_params(p, err, errlen)) != 0)
        return r;
    if (geteuid() != 0)
        return seterr(err, errlen, VPXI_ERR_PERM, "creating a virtual node needs root");
    snprintf(out->name, sizeof(out->name), "%s", p->name);
    snprintf(out->statedir, sizeof(out->statedir), "%s", p->statedir);
    if (mkdir(p->statedir, 0700) != 0)
        return sysfail(err, errlen, errno, "create statedir %s", p->statedir);
    out->owns_statedir = true;
    if ((r = record(out, err, errlen)) != 0 || (r = prepare_fs(out, p, &pl, err, errlen)) != 0 ||
        (r = start_init(out, &pl, &go, &rep, err, errlen)) != 0 ||
        (r = record(out, err, errlen)) != 0 ||
        (r = expect_msg(rep, MSG_NS, INIT_NS_TIMEOUT_MS, "node init", err, errlen)) != 0 ||
        (r = setup_cgroup(out, p, err, errlen)) != 0 || (r = record(out, err, errlen)) != 0 ||
        (r = bind_netns(out, err, errlen)) != 0 || (r = record(out, err, errlen)) != 0)
        goto out;
    if (p->bridge[0] && (r = make_veth(out, p, err, errlen)) != 0)
        goto out;
    if ((r = configure_node_net(out, p, err, errlen)) != 0 ||
        (r = release_init(go, err, errlen)) != 0 ||
        (r = expect_msg(rep, MSG_READY, INIT_READY_TIMEOUT_MS, "node init", err, errlen)) != 0)
        goto out;
    out->mounted = true;
    if ((r = record(out, err, errlen)) != 0)
        goto out;
    log_info("node %s: created in %lld ms (init %d%s%s%s%s)", out->name, (long long)(now_ms() - t0),
             (int)out->init_pid, out->veth[0] ? ", veth " : "", out->veth,
             out->cgroup_ok ? ", cgroup " : "", out->cgroup);
    r = 0;
out:
    if (go >= 0)
        close(go);
    if (rep >= 0)
        close(rep);
    if (r != 0) {
        if (vnode_destroy(out, NULL, 0, rb, sizeof(rb)) != 0)
            log_warn("node %s: rollback incomplete: %s", p->name, rb);
        memset(out, 0, sizeof(*out));
    }
    return r;
}

/* ---- processes in a node ---------------------------------------------------------------- */

enum { NS_IPC, NS_UTS, NS_NET, NS_MNT, NS_PID, NS_COUNT };
static const char *const ns_names[NS_COUNT] = { "ipc", "uts", "net", "mnt", "pid" };
static const int ns_types[NS_COUNT] = { CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWNS,
                                        CLONE_NEWPID };

/* How to start one process in a node; what vnode_exec and vnode_spawn_netns differ in. */
struct launch {
    int ns[NS_COUNT];  /* -1 = stay; NS_PID is entered by the parent for the fork */
    const char *procs; /* cgroup.procs to join, or NULL */
    int fds[3];        /* stdin, stdout, stderr */
    bool set_ids, to_tmp;
    uid_t uid;
    gid_t gid;
    char *const *argv;
    char *const *envp; /* NULL = the caller's environment */
};

__attribute__((noreturn)) static void launch_child(const struct launch *l, int rep)
{
    extern char **environ;
    int fds[3], fd;

    child_reset_signals();
    if ((rep = fd_high(rep)) < 0)
        _exit(127);
    for (int i = 0; i < 3; i++)
        if ((fds[i] = fd_high(l->fds[i])) < 0)
            child_fail(rep, "descriptor %d", i);
    if (setsid() < 0)
        child_fail(rep, "setsid");
    if (l->procs) {
        if ((fd = open(l->procs, O_WRONLY | O_CLOEXEC)) < 0 || write(fd, "0", 1) != 1)
            child_fail(rep, "join %s", l->procs);
        close(fd);
    }
    for (int i = 0; i < NS_PID; i++)
        if (l->ns[i] >= 0 && setns(l->ns[i], ns_types[i]) != 0)
            child_fail(rep, "enter the node's %s namespace", ns_names[i]);
    if (l->to_tmp && chdir("/tmp") != 0 && chdir("/") != 0)
        child_fail(rep, "chdir /");
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            child_fail(rep, "dup2 %d", i);
    if (l->set_ids) {
        if (setgroups(0, NULL) != 0 || setgid(l->gid) != 0 || setuid(l->uid) != 0)
            child_fail(rep, "become %u:%u", (unsigned)l->uid, (unsigned)l->gid);
        if (l->uid != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            child_fail(rep, "no_new_privs");
    }
    if (cloexec_from(3) != 0)
        child_fail(rep, "close descriptors");
    if (l->envp)
        environ = (char **)l->envp;
    execvp(l->argv[0], l->argv);
    child_fail(rep, "exec %s", l->argv[0]);
}

/* Forks, runs launch_child, and returns once it exec'd (or failed). */
static int launch(const struct launch *l, pid_t *pid, char *err, size_t errlen)
{
    struct child_msg m;
    int rp[2] = { -1, -1 }, self = -1, r = 0, k, e;
    pid_t child = -1;

    if (pipe2(rp, O_CLOEXEC) != 0)
        return sysfail(err, errlen, errno, "pipe");
    if (l->ns[NS_PID] >= 0) {
        if ((self = own_pidns()) < 0) {
            r = sysfail(err, errlen, errno, "open our PID namespace");
            goto out;
        }
        if (setns(l->ns[NS_PID], CLONE_NEWPID) != 0) {
            r = sysfail(err, errlen, errno, "enter the node's PID namespace");
            goto out;
        }
    }
    child = fork();
    e = errno;
    if (child == 0) {
        close(rp[0]);
        launch_child(l, rp[1]);
    }
    if (self >= 0 && setns(self, CLONE_NEWPID) != 0) {
        log_err("cannot return to our PID namespace: %s", strerror(errno));
        r = sysfail(err, errlen, errno, "return to our PID namespace");
    }
    if (child < 0 && r == 0)
        r = sysfail(err, errlen, e, "fork");
    if (child < 0 || r != 0)
        goto out;
    close(rp[1]);
    rp[1] = -1;
    if ((k = read_msg(rp[0], now_ms() + CHILD_TIMEOUT_MS, &m)) != 0) {
        if (k == 1 && m.kind == MSG_ERR)
            r = sysfail(err, errlen, m.err, "%s", m.step);
        else
            r = k < 0 ? sysfail(err, errlen, -k, "starting %s", l->argv[0])
                      : seterr(err, errlen, VPXI_ERR_PROTOCOL, "starting %s", l->argv[0]);
    }
out:
    if (r != 0 && child > 0) {
        kill(child, SIGKILL); /* still our unreaped child: the pid is its */
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
    } else if (r == 0) {
        *pid = child;
    }
    if (self >= 0)
        close(self);
    if (rp[0] >= 0)
        close(rp[0]);
    if (rp[1] >= 0)
        close(rp[1]);
    return r;
}

/* Opens the namespaces of a running node's init (mask: which ones). */
static int open_node_ns(const struct vnode *n, unsigned mask, int ns[NS_COUNT], char *err,
                        size_t errlen)
{
    char path[64];
    int ifd, r = 0;

    for (int i = 0; i < NS_COUNT; i++)
        ns[i] = -1;
    if ((ifd = init_pidfd(n)) < 0)
        return ifd == -ESRCH
                   ? seterr(err, errlen, VPXI_ERR_NOT_FOUND, "node %s is not running", n->name)
                   : sysfail(err, errlen, -ifd, "node %s init", n->name);
    if (wait_exit(ifd, 0)) {
        close(ifd);
        return seterr(err, errlen, VPXI_ERR_NOT_FOUND, "node %s is not running", n->name);
    }
    for (int i = 0; i < NS_COUNT && r == 0; i++) {
        if (!(mask & (1u << i)))
            continue;
        if (!mkpath(path, sizeof(path), "/proc/%d/ns/%s", (int)n->init_pid, ns_names[i]) ||
            (ns[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            r = sysfail(err, errlen, errno, "open %s", path);
    }
    /* still alive after the opens: they are init's namespaces, not a successor's */
    if (r == 0 && wait_exit(ifd, 0))
        r = seterr(err, errlen, VPXI_ERR_NOT_FOUND, "node %s is not running", n->name);
    close(ifd);
    if (r != 0)
        for (int i = 0; i < NS_COUNT; i++)
            if (ns[i] >= 0) {
                close(ns[i]);
                ns[i] = -1;
            }
    return r;
}

int vnode_spawn_netns(const struct vnode *n, char *const argv[], const char *logfile, pid_t *pid,
                      char *err, size_t errlen)
{
    struct launch l = { .argv = argv };
    int logfd = -1, nul = -1, r;

    if (!n || !argv || !argv[0] || !logfile || !pid)
        vpxi_misuse("vnode_spawn_netns: NULL argument");
    *pid = 0;
    if (err && errlen)
        err[0] = '\0';
    if ((r = open_node_ns(n, 1u << NS_NET | 1u << NS_UTS, l.ns, err, errlen)) != 0)
        return r;
    if ((logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0640)) < 0)
        r = sysfail(err, errlen, errno, "open %s", logfile);
    else if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        r = sysfail(err, errlen, errno, "open /dev/null");
    if (r == 0) {
        l.fds[0] = nul;
        l.fds[1] = l.fds[2] = logfd;
        r = launch(&l, pid, err, errlen);
    }
    if (r == 0)
        log_info("node %s: started %s (pid %d, log %s)", n->name, argv[0], (int)*pid, logfile);
    for (int i = 0; i < NS_COUNT; i++)
        if (l.ns[i] >= 0)
            close(l.ns[i]);
    if (logfd >= 0)
        close(logfd);
    if (nul >= 0)
        close(nul);
    return r;
}

int vnode_exec(const struct vnode *n, char *const argv[], char *const envp[], uid_t uid, gid_t gid,
               int fd_in, int fd_out, int fd_err, pid_t *pid, char *err, size_t errlen)
{
    static char *const default_env[] = { NODE_PATH, "HOME=/", NULL };
    struct launch l = { .argv = argv,
                        .envp = envp ? envp : default_env,
                        .set_ids = true,
                        .to_tmp = true,
                        .uid = uid,
                        .gid = gid };
    char procs[VNODE_CGROUP_MAX + 16];
    int nul = -1, r;

    if (!n || !argv || !argv[0] || !pid)
        vpxi_misuse("vnode_exec: NULL argument");
    *pid = 0;
    if (err && errlen)
        err[0] = '\0';
    if ((r = open_node_ns(n, (1u << NS_COUNT) - 1, l.ns, err, errlen)) != 0)
        return r;
    if (n->cgroup_ok && n->cgroup[0]) {
        if (mkpath(procs, sizeof(procs), "%s/cgroup.procs", n->cgroup))
            l.procs = procs;
        else
            r = seterr(err, errlen, VPXI_ERR_TOO_LARGE, "cgroup path too long");
    }
    if (r == 0 && (fd_in < 0 || fd_out < 0 || fd_err < 0) &&
        (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        r = sysfail(err, errlen, errno, "open /dev/null");
    if (r == 0) {
        l.fds[0] = fd_in >= 0 ? fd_in : nul;
        l.fds[1] = fd_out >= 0 ? fd_out : nul;
        l.fds[2] = fd_err >= 0 ? fd_err : nul;
        r = launch(&l, pid, err, errlen);
    }
    for (int i = 0; i < NS_COUNT; i++)
        if (l.ns[i] >= 0)
            close(l.ns[i]);
    if (nul >= 0)
        close(nul);
    return r;
}

/* ---- destroy ---------------------------------------------------------------------------- */

/* The node's network namespace identity, from the bind mount or from init. */
static bool node_netns_id(const struct vnode *n, struct stat *ref)
{
    char path[64];
    int fd;

    if (n->netns_path[0] && stat(n->netns_path, ref) == 0)
        return true;
    if ((fd = init_pidfd(n)) < 0)
        return false;
    close(fd);
    return mkpath(path, sizeof(path), "/proc/%d/ns/net", (int)n->init_pid) && stat(path, ref) == 0;
}

static int stop_spawned(const struct vnode *n, const pid_t *pids, size_t np, char *err,
                        size_t errlen)
{
    struct stat ref;
    bool have_ref;
    int64_t deadline;
    int *fds, r = 0;

    if (np == 0)
        return 0;
    if ((fds = calloc(np, sizeof(*fds))) == NULL)
        return seterr(err, errlen, VPXI_ERR_NOMEM, "stopping %zu processes", np);
    have_ref = node_netns_id(n, &ref);
    for (size_t i = 0; i < np; i++) {
        fds[i] = pids[i] > 0 ? open_pidfd(pids[i]) : -1;
        if (fds[i] < 0 || wait_exit(fds[i], 0))
            continue;
        if (have_ref && !in_netns(pids[i], &ref)) {
            log_warn("node %s: pid %d is not in the node's network namespace: left alone", n->name,
                     (int)pids[i]);
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        (void)signal_pidfd(fds[i], SIGTERM);
    }
    deadline = now_ms() + VNODE_STOP_GRACE_MS;
    for (size_t i = 0; i < np; i++)
        if (fds[i] >= 0 && !wait_exit(fds[i], deadline)) {
            log_warn("node %s: pid %d ignored SIGTERM for %d ms: SIGKILL", n->name, (int)pids[i],
                     VNODE_STOP_GRACE_MS);
            (void)signal_pidfd(fds[i], SIGKILL);
        }
    deadline = now_ms() + VNODE_STOP_GRACE_MS;
    for (size_t i = 0; i < np; i++) {
        if (fds[i] < 0)
            continue;
        if (!wait_exit(fds[i], deadline) && r == 0)
            r = seterr(err, errlen, VPXI_ERR_TIMEOUT, "pid %d survives SIGKILL", (int)pids[i]);
        reap(pids[i]);
        close(fds[i]);
    }
    free(fds);
    return r;
}

int vnode_destroy(struct vnode *n, const pid_t *spawned, size_t nspawned, char *err, size_t errlen)
{
    char msg[256];
    int r = 0, k;

    if (!n || (nspawned && !spawned))
        vpxi_misuse("vnode_destroy: NULL argument");
    if (err && errlen)
        err[0] = '\0';
#define STEP(call)                                                                                 \
    do {                                                                                           \
        if ((k = (call)) != 0 && r == 0) {                                                         \
            r = k;                                                                                 \
            seterr(err, errlen, k, "%s", msg);                                                     \
        }                                                                                          \
    } while (0)
    STEP(stop_spawned(n, spawned, nspawned, msg, sizeof(msg)));
    STEP(stop_init(n, msg, sizeof(msg)));
    STEP(kill_strays(n, msg, sizeof(msg)));
    STEP(remove_veth(n, msg, sizeof(msg)));
    STEP(unbind_netns(n, msg, sizeof(msg)));
    STEP(remove_cgroup(n, msg, sizeof(msg)));
    if (r == 0 && n->owns_statedir && n->statedir[0]) {
        if ((k = remove_tree(n->statedir)) != 0)
            STEP(sysfail(msg, sizeof(msg), -k, "remove %s", n->statedir));
        else
            n->owns_statedir = false;
    } else if (r != 0 && n->owns_statedir && n->statedir[0] && state_save(n) != 0) {
        log_warn("node %s: cannot record what is left in %s", n->name, n->statedir);
    }
#undef STEP
    if (r == 0)
        log_info("node %s: destroyed", n->name);
    return r;
}
