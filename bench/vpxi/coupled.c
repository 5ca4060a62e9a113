/*
 * coupled.c - a bulk-synchronous coupled job in the shape of seed 002's
 * FOAM experiment (section 8.2, Table 1): two models, each on its own group
 * of ranks, that talk heavily inside their group and lightly to each other.
 *
 *   coupled [-i ITERS] [-a INTRA] [-e INTER] [-c COMPUTE_US] [-p PORT] [-t SECS]
 *           RANK ADDR0 ADDR1 ... ADDR{N-1}
 *
 * N ranks (even, at most RANKS_MAX) in two groups: ranks 0..N/2-1 and
 * N/2..N-1. Per iteration every rank optionally computes for COMPUTE_US
 * microseconds, then exchanges INTRA bytes both ways with every other rank
 * of its group and INTER bytes both ways with its partner in the other group
 * (rank r <-> r + N/2), over TCP connections opened once at the start and
 * kept open. An iteration ends when all of a rank's exchanges are done, so
 * the job advances at the pace of its slowest link (bulk-synchronous).
 *
 * Rank r connects to the peers below it (retrying until they listen) and
 * accepts those above it; a dissemination barrier (three rounds of one-byte
 * exchanges: the communication graph has diameter 3) brackets the timed
 * part. Every received byte is checked against the pattern its sender used.
 * Rank 0 prints one line:
 *   coupled ranks=N group=G iters=I intra=B inter=B compute_us=C time=T s per_iter=M ms
 * ADDR is an IPv4 or IPv6 address (a HIT for the overlay). Built statically
 * so it runs in a minimal node image. Exits 0 only if every exchange
 * completed and checked; exits 2 when SECS (default 120) run out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    RANKS_MAX = 64,
    MSG_MAX = 64 << 20,  /* bytes per exchange */
    ITERS_MAX = 1000000, /* iterations */
    BARRIER_ROUNDS = 3,  /* diameter of the graph: group clique + partner edge */
    CONNECT_RETRY_MS = 20,
    CHUNK = 256 << 10, /* bytes per send/recv call */
};

struct peer {
    int rank;
    int fd;
    size_t size; /* bytes each way per iteration */
    size_t sent, got;
};

static int me, nranks, group;
static struct peer peers[RANKS_MAX];
static int npeers;
static uint8_t *sendbuf, *recvbuf;
static size_t maxmsg; /* the larger of INTRA and INTER */

static void die(const char *what)
{
    fprintf(stderr, "coupled[%d]: %s: %s\n", me, what, errno ? strerror(errno) : "failed");
    exit(1);
}

static void on_alarm(int sig)
{
    static const char msg[] = "coupled: time limit reached\n";
    (void)sig;
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The byte every sender puts in its messages of step k. */
static uint8_t pattern(unsigned k, int sender)
{
    return (uint8_t)(k * 7u + (unsigned)sender * 31u + 1u);
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        return 0;
    }
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *len = sizeof(*a4);
        return 0;
    }
    return -1;
}

static void tune(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int full_io(int fd, void *buf, size_t n, int writing)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static struct peer *peer_of(int rank)
{
    for (int i = 0; i < npeers; i++)
        if (peers[i].rank == rank)
            return &peers[i];
    return NULL;
}

/* Opens every connection: out to lower ranks, in from higher ones. */
static void connect_all(char **addrs, uint16_t port, int lfd)
{
    uint32_t id = htonl((uint32_t)me);
    int waiting = 0;

    for (int i = 0; i < npeers; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (peers[i].rank > me) {
            waiting++;
            continue;
        }
        if (parse_addr(addrs[peers[i].rank], port, &ss, &len) != 0) {
            errno = 0;
            die("bad address");
        }
        for (;;) {
            int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct timespec ts = { 0, CONNECT_RETRY_MS * 1000000L };
            if (fd < 0)
                die("socket");
            if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
                peers[i].fd = fd;
                break;
            }
            close(fd);
            if (errno != ECONNREFUSED && errno != ENETUNREACH && errno != EHOSTUNREACH &&
                errno != ETIMEDOUT && errno != EINTR)
                die("connect");
            nanosleep(&ts, NULL);
        }
        tune(peers[i].fd);
        if (full_io(peers[i].fd, &id, sizeof(id), 1) != 0)
            die("hello");
    }
    while (waiting > 0) {
        uint32_t from;
        struct peer *p;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        if (full_io(fd, &from, sizeof(from), 0) != 0)
            die("hello from a peer");
        p = peer_of((int)ntohl(from));
        if (!p || p->rank < me || p->fd >= 0) {
            errno = 0;
            die("unexpected peer");
        }
        tune(fd);
        p->fd = fd;
        waiting--;
    }
    for (int i = 0; i < npeers; i++)
        if (fcntl(peers[i].fd, F_SETFL, O_NONBLOCK) != 0)
            die("fcntl");
}

static int all_equal(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* Step k: with every peer at once, send and receive its size (1 byte in a
 * barrier round) and check what arrives. */
static void exchange(unsigned k, int one_byte)
{
    struct pollfd pfd[RANKS_MAX];
    int left = 0;

    memset(sendbuf, pattern(k, me), one_byte ? 1 : maxmsg);
    for (int i = 0; i < npeers; i++) {
        peers[i].sent = peers[i].got = 0;
        left += 2;
    }
    while (left > 0) {
        int n;
        for (int i = 0; i < npeers; i++) {
            size_t want = one_byte ? 1 : peers[i].size;
            pfd[i].fd = peers[i].fd;
            pfd[i].events =
                (short)((peers[i].sent < want ? POLLOUT : 0) | (peers[i].got < want ? POLLIN : 0));
            pfd[i].revents = 0;
            if (!pfd[i].events)
                pfd[i].fd = -1;
        }
        if ((n = poll(pfd, (nfds_t)npeers, -1)) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (int i = 0; i < npeers; i++) {
            struct peer *p = &peers[i];
            size_t want = one_byte ? 1 : p->size;
            if (pfd[i].revents & (POLLERR | POLLNVAL)) {
                errno = ECONNRESET;
                die("peer connection");
            }
            if ((pfd[i].revents & POLLOUT) && p->sent < want) {
                size_t c = want - p->sent < CHUNK ? want - p->sent : CHUNK;
                ssize_t r = send(p->fd, sendbuf, c, MSG_NOSIGNAL);
                if (r < 0 && errno != EAGAIN && errno != EINTR)
                    die("send");
                if (r > 0 && (p->sent += (size_t)r) == want)
                    left--;
            }
            if ((pfd[i].revents & (POLLIN | POLLHUP)) && p->got < want) {
                size_t c = want - p->got < CHUNK ? want - p->got : CHUNK;
                ssize_t r = recv(p->fd, recvbuf, c, 0);
                if (r == 0) {
                    errno = 0;
                    die("peer closed early");
                }
                if (r < 0 && errno != EAGAIN && errno != EINTR)
                    die("recv");
                if (r > 0) {
                    if (!all_equal(recvbuf, (size_t)r, pattern(k, p->rank))) {
                        errno = 0;
                        die("corrupt data");
                    }
                    if ((p->got += (size_t)r) == want)
                        left--;
                }
            }
        }
    }
}

static void barrier(unsigned base)
{
    for (unsigned i = 0; i < BARRIER_ROUNDS; i++)
        exchange(base + i, 1);
}

static void compute(long us)
{
    double end = now_s() + (double)us / 1e6;
    volatile double x = 1.0;
    while (now_s() < end)
        for (int i = 0; i < 1000; i++)
            x = x * 1.0000001 + 1e-9;
}

static long num(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "coupled: %s '%s': expected %ld to %ld\n", what, s, lo, hi);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    long iters = 20, intra = 1 << 20, inter = 52429, compute_us = 0, port = 5600, limit = 120;
    int lfd, c, one = 1;
    double t0, t1;

    while ((c = getopt(argc, argv, "i:a:e:c:p:t:")) != -1) {
        switch (c) {
        case 'i': iters = num(optarg, 1, ITERS_MAX, "-i iterations"); break;
        case 'a': intra = num(optarg, 1, MSG_MAX, "-a intra bytes"); break;
        case 'e': inter = num(optarg, 1, MSG_MAX, "-e inter bytes"); break;
        case 'c': compute_us = num(optarg, 0, 60000000, "-c compute us"); break;
        case 'p': port = num(optarg, 1, 65535, "-p port"); break;
        case 't': limit = num(optarg, 1, 86400, "-t seconds"); break;
        default:
            fprintf(stderr, "usage: coupled [-i ITERS] [-a INTRA] [-e INTER] [-c COMPUTE_US] "
                            "[-p PORT] [-t SECS] RANK ADDR0 ... ADDRn-1\n");
            return 1;
        }
    }
    nranks = argc - optind - 1;
    if (nranks < 2 || nranks > RANKS_MAX || nranks % 2) {
        fprintf(stderr, "coupled: give RANK and an even number (2 to %d) of addresses\n",
                RANKS_MAX);
        return 1;
    }
    me = (int)num(argv[optind], 0, nranks - 1, "rank");
    group = nranks / 2;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)limit);

    /* peers: the rest of my group (INTRA) and my partner (INTER) */
    for (int r = 0; r < nranks; r++)
        if (r != me && r / group == me / group)
            peers[npeers++] = (struct peer){ .rank = r, .fd = -1, .size = (size_t)intra };
    peers[npeers++] =
        (struct peer){ .rank = (me + group) % nranks, .fd = -1, .size = (size_t)inter };
    maxmsg = (size_t)(intra > inter ? intra : inter);
    if ((sendbuf = malloc(maxmsg)) == NULL || (recvbuf = malloc(CHUNK)) == NULL)
        die("malloc");

    /* listen on my own address: the overlay's (HIT) or the underlay's */
    {
        struct sockaddr_storage ss;
        socklen_t len;
        if (parse_addr(argv[optind + 1 + me], (uint16_t)port, &ss, &len) != 0) {
            errno = 0;
            die("bad address");
        }
        if ((lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            die("socket");
        (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(lfd, (struct sockaddr *)&ss, len) != 0 || listen(lfd, RANKS_MAX) != 0)
            die("listen");
    }
    connect_all(argv + optind + 1, (uint16_t)port, lfd);
    close(lfd);

    barrier(1000000);
    t0 = now_s();
    for (long k = 0; k < iters; k++) {
        if (compute_us)
            compute(compute_us);
        exchange((unsigned)k, 0);
    }
    barrier(2000000);
    t1 = now_s();
    if (me == 0)
        printf("coupled ranks=%d group=%d iters=%ld intra=%ld inter=%ld compute_us=%ld "
               "time=%.3f s per_iter=%.2f ms\n",
               nranks, group, iters, intra, inter, compute_us, t1 - t0,
               (t1 - t0) * 1e3 / (double)iters);
    for (int i = 0; i < npeers; i++)
        close(peers[i].fd);
    free(sendbuf);
    free(recvbuf);
    return 0;
}
