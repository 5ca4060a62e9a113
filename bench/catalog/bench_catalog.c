/*
 * bench_catalog.c - image catalogue import and image verification speed
 * (issue 5): the figures docs/catalog.md quotes.
 *
 *   import     catalogues of 100, 10 000 and 100 000 entries signed with
 *              ECDSA P-256: parse + signature check from memory, and a full
 *              provider import from a file (trust reduction, scope check of
 *              every entry, report, catalogue stored with fsync)
 *   decide     one accept decision (policy only) against that catalogue
 *   hashing    SHA-256 and SHA-512 of one file (default 1 GiB in /tmp, page
 *              cache warm) by vpxi and by sha256sum / sha512sum in the same
 *              run: the coreutils tools are the reference
 *
 * Usage: bench_catalog [-m MiB] [-n 100,10000,100000] [-r repeats] [--no-hash]
 * The file and the provider directories are removed on every exit path.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

static const int64_t NOW = 1790000000; /* 2026-09-21 */

static char tmpdir[256];
static char hashfile[320];

static void cleanup(void)
{
    char cmd[400];

    if (hashfile[0])
        unlink(hashfile);
    if (tmpdir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_catalog: %s: %s\n", what, vpxi_strerror(r));
    exit(1);
}

/* ---- catalogue generation ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next();
}

/* Concatenated canonical image entries, realistic in size (~480 octets). */
static void make_images(size_t n, struct vpxi_wr *out)
{
    const char *tags[] = { "hep", "batch" };
    char name[64], url[128], ver[32];
    const char *urls[1] = { url };

    vpxi_wr_init_dyn(out, 0);
    for (size_t i = 0; i < n; i++) {
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_image_info in = { 0 };
        struct vpxi_sexp *im;
        int r;

        snprintf(name, sizeof(name), "hep-img-%07zu", i);
        snprintf(url, sizeof(url), "http://198.18.0.1:8000/images/hep-img-%07zu.tar", i);
        snprintf(ver, sizeof(ver), "1.%zu", i % 97);
        in.name = name;
        in.version = ver;
        fill(in.sha256, sizeof(in.sha256));
        fill(in.sha512, sizeof(in.sha512));
        in.has_sha512 = true;
        in.size = 1048576 + i;
        in.urls = urls;
        in.nurls = 1;
        in.producer = "CERN IT, HEP image build service";
        in.produced = NOW - 86400;
        in.os = "debian-12";
        in.arch = "x86_64";
        in.runtime = "linux-namespaces";
        in.purpose = "event reconstruction";
        in.tags = tags;
        in.ntags = 2;
        in.flags = VPXI_IMAGE_APPROVED | VPXI_IMAGE_SHARED;
        if (!sx || (r = vpxi_image_build(sx, &in, &im)) != 0)
            die("image build", sx ? r : VPXI_ERR_NOMEM);
        vpxi_sexp_write_canonical(im, out);
        vpxi_sx_free(sx);
    }
    if (out->err)
        die("images", out->err);
}

static void sign(struct vpxi_key *k, const struct vpxi_wr *images, struct vpxi_wr *out)
{
    struct vpxi_catalog_draft d = { 0 };
    char why[200];
    int r;

    d.label = "bench catalogue";
    d.version = 1;
    d.issued = NOW - 3600;
    d.expires = NOW + 30 * 86400;
    d.images = images->p;
    d.images_len = images->len;
    vpxi_wr_init_dyn(out, 0);
    if ((r = vpxi_catalog_sign(&d, k, out, why, sizeof(why))) != 0) {
        fprintf(stderr, "sign: %s\n", why);
        die("sign", r);
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "bench_catalog: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* A fresh provider directory trusting k for every image. */
static void make_provider(const char *dir, struct vpxi_key *k)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *pub, *t;
    struct vpxi_wr w;
    char path[600];
    int r;

    mkdir(dir, 0755);
    if ((r = vpxi_key_to_sexp(sx, k, &pub)) != 0 ||
        (r = vpxi_sexp_build(sx, &t,
                             "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse "
                             "(*))))))",
                             pub)) != 0)
        die("trust", r);
    vpxi_wr_init_dyn(&w, 0);
    vpxi_sexp_write(t, VPXI_SEXP_ADVANCED, &w);
    snprintf(path, sizeof(path), "%s/trust", dir);
    write_file(path, w.p, w.len);
    vpxi_wr_clear(&w);
    vpxi_sx_free(sx);
}

struct import_row {
    size_t n;
    size_t octets;
    double parse_ms, import_ms, decide_us;
};

static void bench_import(struct vpxi_key *k, size_t n, int repeats, struct import_row *row)
{
    struct vpxi_wr images, signed_cat;
    char file[512], dir[512], name[64];
    double best_parse = 1e9, best_import = 1e9, t0;

    make_images(n, &images);
    sign(k, &images, &signed_cat);
    row->n = n;
    row->octets = signed_cat.len;
    snprintf(file, sizeof(file), "%s/cat-%zu.cat", tmpdir, n);
    write_file(file, signed_cat.p, signed_cat.len);
    for (int i = 0; i < repeats; i++) {
        struct vpxi_catalog *c;
        int r;
        t0 = now_s();
        if ((r = vpxi_catalog_parse(signed_cat.p, signed_cat.len, 0, &c, NULL)) != 0 ||
            (r = vpxi_catalog_verify(c)) != 0)
            die("parse", r);
        t0 = now_s() - t0;
        if (t0 < best_parse)
            best_parse = t0;
        vpxi_catalog_free(c);
    }
    for (int i = 0; i < repeats; i++) {
        struct vpxi_provider *p;
        struct vpxi_import_report rep;
        struct vpxi_decision d;
        const char *src[1] = { file };
        char err[256];
        int r;

        snprintf(dir, sizeof(dir), "%s/prov-%zu-%d", tmpdir, n, i);
        make_provider(dir, k);
        if ((r = vpxi_provider_open(dir, &p, err, sizeof(err))) != 0) {
            fprintf(stderr, "open: %s\n", err);
            die("open", r);
        }
        t0 = now_s();
        r = vpxi_provider_import(p, src, 1, NOW, &rep);
        t0 = now_s() - t0;
        if (r != 0) {
            fprintf(stderr, "import: %s\n", rep.nsources ? rep.sources[0].why : "?");
            die("import", r);
        }
        if (rep.sources[0].added != n || rep.sources[0].rejected)
            die("import counts", VPXI_ERR_INTERNAL);
        vpxi_import_report_clear(&rep);
        if (t0 < best_import)
            best_import = t0;
        snprintf(name, sizeof(name), "hep-img-%07zu", n / 2);
        t0 = now_s();
        for (int j = 0; j < 100; j++)
            if ((r = vpxi_provider_decide(p, name, NOW, &d)) != 0) {
                fprintf(stderr, "decide: %s\n", d.why);
                die("decide", r);
            }
        row->decide_us = (now_s() - t0) / 100 * 1e6;
        vpxi_provider_close(p);
    }
    row->parse_ms = best_parse * 1e3;
    row->import_ms = best_import * 1e3;
    vpxi_wr_clear(&images);
    vpxi_wr_clear(&signed_cat);
}

/* ---- hashing ----------------------------------------------------------------------- */

static void make_hash_file(size_t mib)
{
    uint8_t *buf = malloc(1 << 20);
    int fd;

    snprintf(hashfile, sizeof(hashfile), "%s/image-%zuMiB.bin", tmpdir, mib);
    if (!buf || (fd = open(hashfile, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
        fprintf(stderr, "bench_catalog: %s: %s\n", hashfile, strerror(errno));
        exit(1);
    }
    for (size_t i = 0; i < mib; i++) {
        fill(buf, 1 << 20);
        if (write(fd, buf, 1 << 20) != 1 << 20) {
            fprintf(stderr, "bench_catalog: write %s: %s\n", hashfile, strerror(errno));
            exit(1);
        }
    }
    close(fd);
    free(buf);
}

/* Seconds taken by a coreutils tool on the file (stdout discarded). */
static double time_tool(const char *tool)
{
    double t0 = now_s();
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp(tool, tool, hashfile, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return now_s() - t0;
}

static double time_vpxi(bool want256, bool want512)
{
    uint8_t a[32], b[64];
    uint64_t n;
    double t0 = now_s();
    int r;

    if ((r = vpxi_image_hash_file(hashfile, want256 ? a : NULL, want512 ? b : NULL, &n)) != 0)
        die("hash", r);
    return now_s() - t0;
}

static double best_of(int repeats, double (*f)(void))
{
    double best = 1e9;

    for (int i = 0; i < repeats; i++) {
        double t = f();
        if (t >= 0 && t < best)
            best = t;
    }
    return best;
}

static double t_sha256sum(void)
{
    return time_tool("sha256sum");
}
static double t_sha512sum(void)
{
    return time_tool("sha512sum");
}
static double t_v256(void)
{
    return time_vpxi(true, false);
}
static double t_v512(void)
{
    return time_vpxi(false, true);
}
static double t_both(void)
{
    return time_vpxi(true, true);
}

int main(int argc, char **argv)
{
    size_t sizes[8] = { 100, 10000, 100000 }, nsizes = 3, mib = 1024;
    struct import_row rows[8];
    struct vpxi_key *k;
    int repeats = 3, r;
    bool hash = true;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            mib = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
            repeats = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--no-hash")) {
            hash = false;
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *s = argv[++i], *end;
            for (nsizes = 0; *s && nsizes < 8; s = *end ? end + 1 : end)
                sizes[nsizes++] = strtoul(s, &end, 10);
        } else {
            fprintf(stderr, "usage: %s [-m MiB] [-n 100,10000,100000] [-r repeats] [--no-hash]\n",
                    argv[0]);
            return 2;
        }
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vpxi-bench-catalog.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if ((r = vpxi_key_generate(VPXI_KEY_ECDSA_P256, 0, &k)) != 0)
        die("keygen", r);

    printf("catalogue import (ECDSA P-256 endorser, best of %d)\n", repeats);
    printf("%9s %12s %14s %16s %14s %12s\n", "entries", "octets", "parse+sig ms", "provider import",
           "ms per 1k", "decide us");
    for (size_t i = 0; i < nsizes; i++) {
        bench_import(k, sizes[i], repeats, &rows[i]);
        printf("%9zu %12zu %14.1f %13.1f ms %14.2f %12.1f\n", rows[i].n, rows[i].octets,
               rows[i].parse_ms, rows[i].import_ms, rows[i].import_ms * 1000 / (double)rows[i].n,
               rows[i].decide_us);
        fflush(stdout);
    }
    vpxi_key_put(k);
    if (!hash)
        return 0;

    make_hash_file(mib);
    /* warm the page cache so every tool reads from memory */
    (void)time_vpxi(true, false);
    {
        double s256 = best_of(repeats, t_sha256sum), v256 = best_of(repeats, t_v256);
        double s512 = best_of(repeats, t_sha512sum), v512 = best_of(repeats, t_v512);
        double both = best_of(repeats, t_both);
        double mb = (double)mib * 1048576 / 1e6;

        printf("\nimage verification, %zu MiB file in /tmp (page cache), best of %d\n", mib,
               repeats);
        printf("%-34s %10s %10s %12s\n", "", "seconds", "MB/s", "vs coreutils");
        printf("%-34s %10.3f %10.0f %12s\n", "sha256sum (coreutils)", s256, mb / s256, "1.00");
        printf("%-34s %10.3f %10.0f %12.2f\n", "vpxi SHA-256", v256, mb / v256, s256 / v256);
        printf("%-34s %10.3f %10.0f %12s\n", "sha512sum (coreutils)", s512, mb / s512, "1.00");
        printf("%-34s %10.3f %10.0f %12.2f\n", "vpxi SHA-512", v512, mb / v512, s512 / v512);
        printf("%-34s %10.3f %10.0f %12.2f\n", "vpxi SHA-256 + SHA-512, one pass", both, mb / both,
               (s256 + s512) / both);
    }
    return 0;
}
