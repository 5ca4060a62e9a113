/*
 * imgwork.c - the demonstration workload, in the spirit of a medical-imaging
 * workflow: a coordinator generates synthetic scans (deterministic from a
 * seed), hands them to workers over the VPXI's overlay, each worker analyses
 * its scans (intensity histogram, mean, a segmentation threshold by Otsu's
 * method and the segmented volume) and returns the result, and the
 * coordinator checks every result against its own computation.
 *
 *   imgwork worker [PORT]                         serve until killed (default 5000)
 *   imgwork coordinator SCANS KIB HOST[:PORT]...  distribute, collect, check
 *
 * Wire: request = u32 seed, u32 length, bytes; reply = 40-byte result.
 * Built statically so it runs in a minimal node image. Exit 0 only if every
 * result was returned and correct.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_WORKERS = 64, MAX_SCAN = 64 << 20 };

struct result {
    uint64_t sum;
    uint64_t voxels_above;
    uint32_t threshold;
    uint32_t len;
    uint32_t seed;
    uint32_t hist_digest; /* FNV-1a of the histogram */
    uint64_t reserved;
};

static void make_scan(uint32_t seed, uint8_t *p, size_t n)
{
    /* a smooth "organ" on noise: deterministic from the seed */
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned base = (i / 4096) % 64 < 24 ? 170 : 60;
        p[i] = (uint8_t)(base + (x & 63) - 32);
    }
}

static void analyse(uint32_t seed, const uint8_t *p, size_t n, struct result *r)
{
    uint64_t hist[256] = { 0 }, total = n, sumall = 0, wb = 0, sumb = 0;
    double best = -1;
    uint32_t h = 2166136261u;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        hist[p[i]]++;
    for (int i = 0; i < 256; i++) {
        sumall += (uint64_t)i * hist[i];
        for (int b = 0; b < 8; b++) {
            h ^= (uint8_t)(hist[i] >> (8 * b));
            h *= 16777619u;
        }
    }
    for (int t = 0; t < 256; t++) { /* Otsu */
        wb += hist[t];
        if (wb == 0 || wb == total)
            continue;
        sumb += (uint64_t)t * hist[t];
        double mb = (double)sumb / (double)wb, mf = (double)(sumall - sumb) / (double)(total - wb);
        double between = (double)wb * (double)(total - wb) * (mb - mf) * (mb - mf);
        if (between > best) {
            best = between;
            r->threshold = (uint32_t)t;
        }
    }
    for (int i = (int)r->threshold + 1; i < 256; i++)
        r->voxels_above += hist[i];
    r->sum = sumall;
    r->len = (uint32_t)n;
    r->seed = seed;
    r->hist_digest = h;
}

static int full_io(int fd, void *buf, size_t n, int writing)
{
    uint8_t *b = buf;
    while (n) {
        ssize_t k = writing ? write(fd, b, n) : read(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int worker(int port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    int one = 1, lfd = socket(AF_INET6, SOCK_STREAM, 0);

    signal(SIGCHLD, SIG_IGN);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 64)) {
        perror("imgwork worker");
        return 1;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (fork() == 0) {
            uint32_t hdr[2];
            struct result r;
            uint8_t *p;
            close(lfd);
            while (full_io(fd, hdr, sizeof(hdr), 0) == 0) {
                uint32_t len = ntohl(hdr[1]);
                if (len > MAX_SCAN || (p = malloc(len ? len : 1)) == NULL)
                    _exit(1);
                if (full_io(fd, p, len, 0) != 0)
                    _exit(1);
                analyse(ntohl(hdr[0]), p, len, &r);
                free(p);
                if (full_io(fd, &r, sizeof(r), 1) != 0)
                    _exit(1);
            }
            _exit(0);
        }
        close(fd);
    }
}

static int dial(const char *spec)
{
    char host[128];
    int port = 5000, fd, one = 1;
    const char *colon = strrchr(spec, ']');
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    struct sockaddr_in a4 = { .sin_family = AF_INET };

    snprintf(host, sizeof(host), "%s", spec[0] == '[' ? spec + 1 : spec);
    if (colon) { /* [v6]:port */
        host[colon - spec - 1] = 0;
        if (colon[1] == ':')
            port = atoi(colon + 2);
    } else if (strchr(host, '.') && strchr(host, ':')) {
        *strchr(host, ':') = 0;
        port = atoi(strchr(spec, ':') + 1);
    }
    if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_port = htons((uint16_t)port);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
            goto ok;
    } else if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
            goto ok;
    } else {
        return -1;
    }
    if (fd >= 0)
        close(fd);
    return -1;
ok:
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int coordinator(int scans, int kib, int nw, char **workers)
{
    int fds[MAX_WORKERS], ok = 0, bad = 0, per[MAX_WORKERS] = { 0 };
    size_t len = (size_t)kib * 1024;
    uint8_t *p = malloc(len);
    double t0 = now();

    if (!p || nw > MAX_WORKERS)
        return 1;
    for (int w = 0; w < nw; w++)
        if ((fds[w] = dial(workers[w])) < 0) {
            fprintf(stderr, "imgwork: worker %s unreachable: %s\n", workers[w], strerror(errno));
            return 1;
        }
    /* one scan in flight per worker; round robin */
    for (int base = 0; base < scans; base += nw) {
        for (int w = 0; w < nw && base + w < scans; w++) {
            uint32_t hdr[2] = { htonl((uint32_t)(base + w)), htonl((uint32_t)len) };
            make_scan((uint32_t)(base + w), p, len);
            if (full_io(fds[w], hdr, sizeof(hdr), 1) || full_io(fds[w], p, len, 1)) {
                fprintf(stderr, "imgwork: sending scan %d to %s failed\n", base + w, workers[w]);
                return 1;
            }
        }
        for (int w = 0; w < nw && base + w < scans; w++) {
            struct result got, want;
            if (full_io(fds[w], &got, sizeof(got), 0)) {
                fprintf(stderr, "imgwork: no result for scan %d from %s\n", base + w, workers[w]);
                return 1;
            }
            make_scan((uint32_t)(base + w), p, len);
            analyse((uint32_t)(base + w), p, len, &want);
            if (memcmp(&got, &want, sizeof(got)) == 0) {
                ok++;
                per[w]++;
            } else {
                bad++;
                fprintf(stderr, "imgwork: WRONG result for scan %d from %s\n", base + w,
                        workers[w]);
            }
        }
    }
    printf("imgwork: %d scans of %d KiB analysed by %d workers: %d correct, %d wrong; makespan "
           "%.2f s\n",
           scans, kib, nw, ok, bad, now() - t0);
    for (int w = 0; w < nw; w++)
        printf("imgwork:   %-42s %d scans\n", workers[w], per[w]);
    return bad == 0 && ok == scans ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "worker"))
        return worker(argc > 2 ? atoi(argv[2]) : 5000);
    if (argc >= 5 && !strcmp(argv[1], "coordinator"))
        return coordinator(atoi(argv[2]), atoi(argv[3]), argc - 4, argv + 4);
    fprintf(stderr,
            "usage: imgwork worker [PORT]\n       imgwork coordinator SCANS KIB HOST[:PORT]...\n");
    return 2;
}
