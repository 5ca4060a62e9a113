/*
 * vnode_driver.c - drives src/vpxid/hostagent/vnode.c for tests/netns/test_vnode.sh.
 *
 * Each command is one step of a host agent. create exits with the node left
 * running, so exec, spawn and destroy rebuild it with vnode_load, as a host
 * agent does after a restart. cycle keeps everything in one process (init
 * and the daemons are its children) and times create/destroy.
 *
 *   vnode_driver [-v] [--netns PATH] COMMAND ...
 *     create --name N --statedir D --image I [--bridge B] [--address A/P] [--gateway G]
 *            [--hostname H] [--cpu-milli M] [--memory-mb M] [--firewall]
 *            [--file PATH:OCTALMODE:CONTENT]...           prints the node, key=value
 *     exec STATEDIR [--uid U] [--gid G] [--env K=V]... [--nowait] -- ARGV...
 *            runs ARGV in the node with our stdio; exits with its status
 *            (--nowait: stdio on /dev/null, prints its pid and exits)
 *     spawn STATEDIR LOGFILE -- ARGV...                     prints the daemon's pid
 *     destroy STATEDIR [PID...]                             PIDs: spawned daemons
 *     cycle COUNT <create options>                          nodes NAME-i in STATEDIR-i
 *
 * --netns enters that network namespace first: the bridge and the host ends
 * of the veths live there, never in the caller's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostagent/vnode.h"
#include "log.h"

enum { FILES_MAX = 8, ENV_MAX = 16, ERR_MAX = 512 };

static void usage(void)
{
    fprintf(stderr, "usage: vnode_driver [-v] [--netns PATH] create|exec|spawn|destroy|cycle "
                    "... (see vnode_driver.c)\n");
    exit(2);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_node(const struct vnode *n)
{
    printf("name=%s\ninit_pid=%d\nstatedir=%s\nnetns=%s\ncgroup=%s\nveth=%s\ncgroup_ok=%d\n"
           "limits_ok=%d\nmounted=%d\n",
           n->name, (int)n->init_pid, n->statedir, n->netns_path, n->cgroup, n->veth, n->cgroup_ok,
           n->limits_ok, n->mounted);
}

static void copy(char *dst, size_t size, const char *src, const char *what)
{
    if (strlen(src) >= size) {
        fprintf(stderr, "%s too long\n", what);
        exit(2);
    }
    memcpy(dst, src, strlen(src) + 1);
}

/* Create options into p; file contents point into argv. */
static void parse_create(int argc, char **argv, struct vnode_params *p, struct vnode_file *files)
{
    memset(p, 0, sizeof(*p));
    p->files = files;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(o, "--firewall")) {
            p->firewall = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(o, "--name"))
            copy(p->name, sizeof(p->name), v, o);
        else if (!strcmp(o, "--statedir"))
            copy(p->statedir, sizeof(p->statedir), v, o);
        else if (!strcmp(o, "--image"))
            copy(p->image, sizeof(p->image), v, o);
        else if (!strcmp(o, "--bridge"))
            copy(p->bridge, sizeof(p->bridge), v, o);
        else if (!strcmp(o, "--address"))
            copy(p->address, sizeof(p->address), v, o);
        else if (!strcmp(o, "--gateway"))
            copy(p->gateway, sizeof(p->gateway), v, o);
        else if (!strcmp(o, "--hostname"))
            copy(p->hostname, sizeof(p->hostname), v, o);
        else if (!strcmp(o, "--cpu-milli"))
            p->cpu_milli = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--memory-mb"))
            p->memory_mb = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(o, "--file")) {
            /* PATH:MODE:CONTENT (the content may contain ':') */
            char *c1 = strchr(argv[i], ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2 || p->nfiles >= FILES_MAX)
                usage();
            *c1 = *c2 = '\0';
            files[p->nfiles].path = argv[i];
            files[p->nfiles].mode = (mode_t)strtoul(c1 + 1, NULL, 8);
            files[p->nfiles].data = c2 + 1;
            files[p->nfiles].len = strlen(c2 + 1);
            p->nfiles++;
        } else
            usage();
    }
}

static struct vnode load(const char *statedir)
{
    struct vnode n;
    int r = vnode_load(statedir, &n);

    if (r != 0) {
        fprintf(stderr, "vnode_load %s: %s\n", statedir, vpxi_strerror(r));
        exit(1);
    }
    return n;
}

static int wait_status(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int cmd_create(int argc, char **argv)
{
    struct vnode_file files[FILES_MAX];
    struct vnode_params p;
    struct vnode n;
    char err[ERR_MAX];
    int r;

    parse_create(argc, argv, &p, files);
    if ((r = vnode_create(&p, &n, err, sizeof(err))) != 0) {
        fprintf(stderr, "vnode_create: %s (%s)\n", err, vpxi_errname(r));
        return 1;
    }
    print_node(&n);
    return 0;
}

static int cmd_exec(int argc, char **argv)
{
    char *envp[ENV_MAX + 1] = { NULL }, err[ERR_MAX];
    unsigned uid = 0, gid = 0, nenv = 0;
    bool nowait = false;
    struct vnode n;
    pid_t pid;
    int i, r;

    if (argc < 1)
        usage();
    n = load(argv[0]);
    for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--nowait"))
            nowait = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--uid"))
            uid = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--gid"))
            gid = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--env") && nenv < ENV_MAX)
            envp[nenv++] = argv[++i];
        else
            usage();
    }
    if (i + 1 >= argc)
        usage();
    /* --nowait: the process outlives us, so it must not hold our stdout (a pipe, often) */
    if ((r = vnode_exec(&n, argv + i + 1, nenv ? envp : NULL, uid, gid, nowait ? -1 : 0,
                        nowait ? -1 : 1, nowait ? -1 : 2, &pid, err, sizeof(err))) != 0) {
        fprintf(stderr, "vnode_exec: %s (%s)\n", err, vpxi_errname(r));
        return 125;
    }
    if (nowait) {
        printf("%d\n", (int)pid);
        return 0;
    }
    return wait_status(pid);
}

static int cmd_spawn(int argc, char **argv)
{
    char err[ERR_MAX];
    struct vnode n;
    pid_t pid;
    int r;

    if (argc < 4 || strcmp(argv[2], "--"))
        usage();
    n = load(argv[0]);
    if ((r = vnode_spawn_netns(&n, argv + 3, argv[1], &pid, err, sizeof(err))) != 0) {
        fprintf(stderr, "vnode_spawn_netns: %s (%s)\n", err, vpxi_errname(r));
        return 1;
    }
    printf("%d\n", (int)pid);
    return 0;
}

static int cmd_destroy(int argc, char **argv)
{
    pid_t pids[64];
    size_t np = 0;
    char err[ERR_MAX];
    struct vnode n;
    int r;

    if (argc < 1 || argc - 1 > 64)
        usage();
    n = load(argv[0]);
    for (int i = 1; i < argc; i++)
        pids[np++] = (pid_t)atoi(argv[i]);
    if ((r = vnode_destroy(&n, pids, np, err, sizeof(err))) != 0) {
        fprintf(stderr, "vnode_destroy: %s (%s)\n", err, vpxi_errname(r));
        return 1;
    }
    return 0;
}

/* COUNT times: create, exec `true` as 1000, spawn a daemon, destroy (twice:
 * the second must find nothing). Then no child of ours may be left, nor any
 * descriptor. */
static int cmd_cycle(int argc, char **argv)
{
    struct vnode_file files[FILES_MAX];
    struct vnode_params base, p;
    double tc = 0, td = 0, tc_max = 0, td_max = 0;
    char err[ERR_MAX];
    int count = 0, fails = 0, fds = count_fds();

    if (argc < 1 || (count = atoi(argv[0])) <= 0)
        usage();
    parse_create(argc - 1, argv + 1, &base, files);
    for (int i = 0; i < count; i++) {
        char *t[] = { "true", NULL }, *d[] = { "/bin/sleep", "600", NULL };
        struct vnode n;
        pid_t pid, daemon;
        double t0, t1, t2;
        int r;

        p = base;
        if (snprintf(p.name, sizeof(p.name), "%s-%d", base.name, i) >= (int)sizeof(p.name) ||
            snprintf(p.statedir, sizeof(p.statedir), "%s-%d", base.statedir, i) >=
                (int)sizeof(p.statedir))
            usage();
        t0 = now_ms();
        if ((r = vnode_create(&p, &n, err, sizeof(err))) != 0) {
            fprintf(stderr, "cycle %d: vnode_create: %s\n", i, err);
            return 1;
        }
        t1 = now_ms();
        if ((r = vnode_exec(&n, t, NULL, 1000, 1000, -1, -1, -1, &pid, err, sizeof(err))) != 0 ||
            wait_status(pid) != 0) {
            fprintf(stderr, "cycle %d: exec true failed: %s\n", i, r ? err : "status");
            fails++;
        }
        if ((r = vnode_spawn_netns(&n, d, "/dev/null", &daemon, err, sizeof(err))) != 0) {
            fprintf(stderr, "cycle %d: spawn: %s\n", i, err);
            fails++;
            daemon = 0;
        }
        t2 = now_ms();
        if ((r = vnode_destroy(&n, &daemon, daemon ? 1 : 0, err, sizeof(err))) != 0) {
            fprintf(stderr, "cycle %d: vnode_destroy: %s\n", i, err);
            return 1;
        }
        td += now_ms() - t2;
        td_max = now_ms() - t2 > td_max ? now_ms() - t2 : td_max;
        tc += t1 - t0;
        tc_max = t1 - t0 > tc_max ? t1 - t0 : tc_max;
        if ((r = vnode_destroy(&n, NULL, 0, err, sizeof(err))) != 0) {
            fprintf(stderr, "cycle %d: second vnode_destroy: %s\n", i, err);
            fails++;
        }
    }
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        fprintf(stderr, "cycle: a child process (init or daemon) was left unreaped\n");
        fails++;
    }
    if (count_fds() != fds) {
        fprintf(stderr, "cycle: %d descriptors open before, %d after\n", fds, count_fds());
        fails++;
    }
    printf("nodes=%d create_ms_avg=%.1f create_ms_max=%.1f destroy_ms_avg=%.1f "
           "destroy_ms_max=%.1f\n",
           count, tc / count, tc_max, td / count, td_max);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    int i = 1;

    log_init(LOG_WARN, false);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v")) {
            log_set_level(LOG_DEBUG);
        } else if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
            int fd = open(argv[++i], O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
                fprintf(stderr, "enter netns %s: %s\n", argv[i], strerror(errno));
                return 1;
            }
            close(fd);
        } else {
            usage();
        }
    }
    if (i >= argc)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[i], "create"))
        return cmd_create(argc - i - 1, argv + i + 1);
    if (!strcmp(argv[i], "exec"))
        return cmd_exec(argc - i - 1, argv + i + 1);
    if (!strcmp(argv[i], "spawn"))
        return cmd_spawn(argc - i - 1, argv + i + 1);
    if (!strcmp(argv[i], "destroy"))
        return cmd_destroy(argc - i - 1, argv + i + 1);
    if (!strcmp(argv[i], "cycle"))
        return cmd_cycle(argc - i - 1, argv + i + 1);
    usage();
}
