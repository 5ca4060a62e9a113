/*
 * vnode.h - virtual nodes on Linux: create, enter and destroy them.
 *
 * A virtual node is a tiny init process, pid 1 of its own PID namespace,
 * holding the node's mount, UTS, network and IPC namespaces. Its root file
 * system is an overlay (the image read-only below, statedir/upper above),
 * mounted inside the node's mount namespace only: the host never sees it and
 * it vanishes with the node. Its underlay is a veth pair, "eth0" inside and
 * vh-<hash8> on the host, attached to an existing bridge. Around it, on the
 * host:
 *   statedir/                 lower/ (unpacked tarball image) upper/ work/ merged/,
 *                             vnode.state (what exists, for vnode_load), net.ip, firewall.nft
 *   /run/netns/vx-NAME        bind mount of the node's network namespace (ip netns works)
 *   <cgroup2>/vpxi/NAME       when cgroup v2 is usable: cpu.max, memory.max; init and
 *                             everything vnode_exec starts runs in it
 *
 * Everything here needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_MKNOD...).
 * The functions fork helper processes (ip, nft, tar) and wait for them by pid:
 * a caller must not reap children with waitpid(-1) from another thread at the
 * same time, nor set SIGCHLD to SIG_IGN.
 *
 * Errors: 0 or a negative VPXI_ERR_*; err (may be NULL) receives one line
 * naming the step and the cause ("mount overlay on /x/merged: No such device").
 */
#ifndef VPXID_HOSTAGENT_VNODE_H
#define VPXID_HOSTAGENT_VNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vpxi/err.h"

enum vnode_limits {
    VNODE_NAME_MAX = 64,        /* bytes with the NUL: [a-z0-9-], 1..63 characters */
    VNODE_PATH_MAX = 512,       /* statedir and image paths, with the NUL */
    VNODE_NETNS_MAX = 256,      /* "/run/netns/vx-NAME" */
    VNODE_CGROUP_MAX = 256,     /* absolute cgroupfs directory */
    VNODE_IFNAME_MAX = 16,      /* IFNAMSIZ */
    VNODE_ADDR_MAX = 64,        /* "198.19.1.5/24", "fd00::5/64" */
    VNODE_HOSTNAME_MAX = 64,    /* with the NUL */
    VNODE_FILES_MAX = 64,       /* entries in vnode_params.files */
    VNODE_FILE_MAX = 1 << 20,   /* bytes per vnode_file */
    VNODE_STOP_GRACE_MS = 2000, /* SIGTERM -> SIGKILL for spawned processes */
    VNODE_UDP_PORT = 10500,     /* HIP and ESP over UDP: all the firewall lets through */
};

/* A file written into the node's root file system (the upper layer, owned by
 * root) before it starts, e.g. /etc/vpxi/node.conf. path is absolute inside
 * the node, without "." or ".." components; parents are created 0755. */
struct vnode_file {
    const char *path;
    const void *data;
    size_t len;
    mode_t mode; /* permission bits (07777) */
};

struct vnode_params {
    char name[VNODE_NAME_MAX];         /* unique on this host, [a-z0-9-] */
    char statedir[VNODE_PATH_MAX];     /* absolute; must not exist; its parent must */
    char image[VNODE_PATH_MAX];        /* a directory (the overlay's lower layer, never written)
                                          or a tarball (.tar, .tar.gz...) unpacked into
                                          statedir/lower */
    char bridge[VNODE_IFNAME_MAX];     /* existing bridge in the caller's network namespace;
                                          "" = no underlay (the node has only lo) */
    char address[VNODE_ADDR_MAX];      /* eth0 address with prefix; required with a bridge */
    char gateway[VNODE_ADDR_MAX];      /* default route via; "" = none */
    char hostname[VNODE_HOSTNAME_MAX]; /* "" = name */
    unsigned cpu_milli;                /* cgroup cpu.max, 1000 = one CPU (0 = no limit) */
    unsigned memory_mb;                /* cgroup memory.max (0 = no limit) */
    const struct vnode_file *files;    /* borrowed for the call only */
    size_t nfiles;
    bool firewall; /* nft in the node's netns: on eth0 only UDP to port VNODE_UDP_PORT in,
                      UDP from or to it out, plus established/related traffic, ICMP errors
                      and IPv6 neighbour discovery; lo and every other device (TUN)
                      unrestricted */
};

/* A node as created or loaded. Plain data: it can be copied, and
 * vnode_load rebuilds it from statedir/vnode.state. Empty strings and zero
 * pids mean "does not exist"; vnode_destroy clears each field as it undoes it. */
struct vnode {
    char name[VNODE_NAME_MAX];
    pid_t init_pid;                /* the node's pid 1, seen from the host; 0 = not running */
    unsigned long long init_start; /* its start time (clock ticks since boot, /proc/PID/stat
                                      field 22): a reused pid is never taken for init */
    char statedir[VNODE_PATH_MAX]; /* removed by vnode_destroy when owns_statedir */
    char netns_path[VNODE_NETNS_MAX];
    char cgroup[VNODE_CGROUP_MAX]; /* "" when the node has no cgroup */
    char veth[VNODE_IFNAME_MAX];   /* host end of the underlay pair */
    bool cgroup_ok;                /* the node has its own cgroup (init and vnode_exec in it) */
    bool limits_ok;                /* cpu_milli and memory_mb are enforced (or none asked) */
    bool mounted;                  /* the root fs is mounted and pivoted into (node running) */
    bool owns_statedir;            /* statedir was made by vnode_create */
};

/*
 * Creates and starts a node. On success *out describes it and
 * statedir/vnode.state records it. On failure everything made so far is
 * undone (with vnode_destroy) and *out is zeroed; a statedir that already
 * existed is never touched (VPXI_ERR_EXISTS).
 */
int vnode_create(const struct vnode_params *p, struct vnode *out, char *err,
                 size_t errlen) VPXI_WUR;

/*
 * Starts argv (argv[0] a path, or a name looked up in the caller's PATH) as a
 * daemon inside the node's network and UTS namespaces only: it keeps the
 * host's mount and PID namespaces (e.g. the host's vpxid with a config file
 * in the statedir). New session, stdin /dev/null, stdout and stderr appended
 * to logfile (created 0640). The daemon is the caller's child: the caller
 * reaps it, and passes its pid to vnode_destroy.
 */
int vnode_spawn_netns(const struct vnode *n, char *const argv[], const char *logfile, pid_t *pid,
                      char *err, size_t errlen) VPXI_WUR;

/*
 * Runs argv inside all the node's namespaces (its root fs, PID, UTS, network
 * and IPC), in its cgroup, as uid/gid with no supplementary groups (and with
 * no_new_privs unless uid is 0), cwd /tmp (or / without it), environment
 * envp (NULL = PATH and HOME only; argv[0] without '/' is looked up in the
 * node's PATH). fd_in/fd_out/fd_err become its stdin/stdout/stderr (-1 =
 * /dev/null); all other descriptors are closed. Returns its pid (in the
 * caller's PID namespace) once exec succeeded; the caller waits for it.
 * The calling thread enters the node's PID namespace for the fork only
 * (setns to its pid_for_children and back); the other namespaces are entered
 * by the child.
 */
int vnode_exec(const struct vnode *n, char *const argv[], char *const envp[], uid_t uid, gid_t gid,
               int fd_in, int fd_out, int fd_err, pid_t *pid, char *err, size_t errlen) VPXI_WUR;

/*
 * Stops and removes everything, in this order: SIGTERM to the spawned
 * processes (pids the caller got from vnode_spawn_netns and has not reaped;
 * any that is not in the node's network namespace is left alone), up to
 * VNODE_STOP_GRACE_MS, then SIGKILL; SIGKILL to init (its PID namespace, and
 * with it the mount namespace and the overlay, dies); SIGKILL to anything
 * left in the node's network namespace; the veth; the netns bind mount; the
 * cgroup; the statedir. Children of the caller among these are reaped.
 * Idempotent and safe on a half-made node. Returns 0 when nothing is left;
 * otherwise the struct (and statedir/vnode.state, kept) still lists what
 * remains, and calling it again retries.
 */
int vnode_destroy(struct vnode *n, const pid_t *spawned, size_t nspawned, char *err,
                  size_t errlen) VPXI_WUR;

/*
 * Rebuilds *out from statedir/vnode.state (after a host-agent restart, or in
 * a node's own vpxid for vnode_exec). init_pid is 0 and mounted false when
 * the recorded init is no longer running. VPXI_ERR_NOT_FOUND without a state
 * file, VPXI_ERR_BAD_FORMAT when it does not parse.
 */
int vnode_load(const char *statedir, struct vnode *out) VPXI_WUR;

/* The nft ruleset loaded into every node's network namespace when the host
 * agent's firewall is on (table inet vpxi). 0, or -ENAMETOOLONG if size is
 * too small. */
int vnode_firewall_rules(char *buf, size_t size);

#endif
