/*
 * test_catalog.c - signed image catalogues: entry grammar (table-driven),
 * signing and parsing, every truncation, every flipped octet, duplicates,
 * limits, allocation failures; and the provider end to end on files:
 * k-of-n acceptance, fetch with resume and digest checks, the store stamp,
 * rollback, freeze, revocation, delegated scope, export chaining, crash
 * safety of the stored state.
 *
 * Catalogues that the signer refuses to produce (duplicates, bad order) are
 * assembled here byte by byte and signed with an independent implementation
 * of the signature element, which also cross-checks the format.
 */
#include "t.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpxi/alloc.h"
#include "vpxi/buf.h"
#include "vpxi/catalog.h"
#include "vpxi/cert.h"
#include "vpxi/crypto.h"
#include "vpxi/ct.h"
#include "vpxi/identity.h"
#include "vpxi/sexp.h"

static const int64_t NOW = 1790000000; /* 2026-09-21 */
static const int64_t DAY = 86400;
static char tmp[256];

/* ---- helpers ---------------------------------------------------------------------- */

static struct vpxi_key *gen(enum vpxi_key_alg alg)
{
    struct vpxi_key *k = NULL;
    if (vpxi_key_generate(alg, 0, &k) != 0)
        abort();
    return k;
}

static struct vpxi_sexp *sx_read(struct vpxi_sx *sx, const char *text)
{
    struct vpxi_sexp *n = NULL;
    if (vpxi_sexp_read(sx, (const uint8_t *)text, strlen(text), NULL, &n, NULL) != 0) {
        fprintf(stderr, "bad test expression: %s\n", text);
        abort();
    }
    return n;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) != 0)
        abort();
}

static char *path_of(const char *name)
{
    static char buf[8][512];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 512, "%s/%s", tmp, name);
    return p;
}

/* A file of n pseudo-random octets (seeded) at tmp/name. */
static void make_blob(const char *name, size_t n, unsigned seed)
{
    uint8_t *b = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)x;
    }
    write_file(path_of(name), b, n);
    free(b);
}

struct img {
    const char *name;
    const char *file; /* under tmp: hashed for the entry */
    unsigned flags;
    const char *url; /* NULL: file:// of the file itself */
};

/* Appends the canonical (image ...) for im to w. */
static void entry_of(const struct img *im, struct vpxi_wr *w)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_image_info in = { 0 };
    struct vpxi_sexp *e;
    char url[600];
    const char *urls[1] = { url };
    uint64_t size;

    CHECK_OK(vpxi_image_hash_file(path_of(im->file), in.sha256, in.sha512, &size));
    snprintf(url, sizeof(url), "%s", im->url ? im->url : "");
    if (!im->url)
        snprintf(url, sizeof(url), "file://%s", path_of(im->file));
    in.name = im->name;
    in.version = "1.0";
    in.has_sha512 = true;
    in.size = size;
    in.urls = urls;
    in.nurls = 1;
    in.produced = NOW - DAY;
    in.os = "debian-12";
    in.flags = im->flags;
    CHECK_OK(vpxi_image_build(sx, &in, &e));
    vpxi_sexp_write_canonical(e, w);
    vpxi_sx_free(sx);
}

struct catspec {
    struct vpxi_key *key;
    uint64_t version;
    int64_t issued, expires;
    const struct img *imgs;
    size_t nimgs;
    const struct vpxi_wr *chain; /* canonical delegation elements, or NULL */
    const struct vpxi_sexp *trust;
};

/* Signs a catalogue into out (dynamic writer, caller clears); 0 or error. */
static int sign_into(const struct catspec *cs, struct vpxi_wr *out)
{
    struct vpxi_catalog_draft d = { 0 };
    struct vpxi_wr images;
    char why[200];
    int r;

    vpxi_wr_init_dyn(&images, 0);
    for (size_t i = 0; i < cs->nimgs; i++)
        entry_of(&cs->imgs[i], &images);
    d.label = "test";
    d.version = cs->version;
    d.issued = cs->issued ? cs->issued : NOW - 3600;
    d.expires = cs->expires ? cs->expires : NOW + 30 * DAY;
    d.images = images.p;
    d.images_len = images.len;
    d.trust = cs->trust;
    if (cs->chain) {
        d.chain = cs->chain->p;
        d.chain_len = cs->chain->len;
    }
    vpxi_wr_init_dyn(out, 0);
    r = vpxi_catalog_sign(&d, cs->key, out, why, sizeof(why));
    vpxi_wr_clear(&images);
    return r;
}

static void sign_file(const struct catspec *cs, const char *name)
{
    struct vpxi_wr out;
    CHECK_OK(sign_into(cs, &out));
    write_file(path_of(name), out.p, out.len);
    vpxi_wr_clear(&out);
}

/* Independent assembly: (sequence BODY (signature ...)) over any body. */
static void raw_sign(struct vpxi_key *k, const uint8_t *body, size_t n, struct vpxi_wr *out)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *pub, *sig;
    uint8_t d[32], s[VPXI_SIG_MAX];
    size_t slen;
    const char *alg = vpxi_key_alg(k) == VPXI_KEY_ED25519 ? "ed25519" : "ecdsa-p256-sha256";

    CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, body, n, d));
    CHECK_OK(vpxi_key_sign(k, vpxi_key_default_scheme(k), body, n, s, sizeof(s), &slen));
    CHECK_OK(vpxi_key_to_sexp(sx, k, &pub));
    CHECK_OK(vpxi_sexp_build(sx, &sig, "(signature (hash sha256 %b) %S (%s %b))", d, sizeof(d), pub,
                             alg, s, slen));
    vpxi_wr_init_dyn(out, 0);
    vpxi_wr_str(out, "(8:sequence");
    vpxi_wr_bytes(out, body, n);
    vpxi_sexp_write_canonical(sig, out);
    vpxi_wr_u8(out, ')');
    vpxi_sx_free(sx);
}

/* A canonical body: header fields and the given image entries verbatim. */
static void raw_body(const char *extra_header, const struct vpxi_wr *images, struct vpxi_wr *w)
{
    vpxi_wr_init_dyn(w, 0);
    vpxi_wr_str(w, "(7:catalog(7:version1:1)(6:issued19:2026-09-21_00:00:00)"
                   "(7:expires19:2026-12-01_00:00:00)");
    if (extra_header)
        vpxi_wr_str(w, extra_header);
    if (images)
        vpxi_wr_bytes(w, images->p, images->len);
    vpxi_wr_u8(w, ')');
}

static int parse_verify(const uint8_t *p, size_t n, struct vpxi_catalog_error *e)
{
    struct vpxi_catalog *c;
    int r = vpxi_catalog_parse(p, n, 0, &c, e);
    if (r)
        return r;
    r = vpxi_catalog_verify(c);
    vpxi_catalog_free(c);
    return r;
}

/* ---- names and entries ------------------------------------------------------------- */

static void test_names(void)
{
    static const struct {
        const char *s;
        bool ok;
    } t[] = {
        { "a", true },
        { "hep-reco-2026", true },
        { "Img_1.2", true },
        { "0abc", true },
        { "", false },
        { "-x", false },
        { ".x", false },
        { "a b", false },
        { "a/b", false },
        { "é", false },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true },   /* 64 */
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false }, /* 65 */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        CHECK_EQ(vpxi_image_name_ok((const uint8_t *)t[i].s, strlen(t[i].s)), t[i].ok);
}

#define H32 "#0001020304050607080910111213141516171819202122232425262728293031#"
#define H64                                                                                        \
    "#00010203040506070809101112131415161718192021222324252627282930313233343536373839404142"      \
    "434445464748495051525354555657585960616263#"

static void test_entry_grammar(void)
{
    static const struct {
        const char *e;
        int code;
    } t[] = {
        { "(image (name a) (hash sha256 " H32 ") (size \"1\"))", 0 },
        { "(image (name a) (version \"1\") (hash sha256 " H32 ") (hash sha512 " H64
          ") (size \"1\") (url \"https://x/y\") (url \"file:///a\") (producer \"CERN IT ✓\") "
          "(produced \"2026-01-01_00:00:00\") (meta (os debian) (arch x86_64) (runtime ns) "
          "(purpose \"test\") (tags a b:c d+e)) (status approved shared revoked))",
          0 },
        { "(image (hash sha256 " H32 ") (size \"1\"))", VPXI_ERR_BAD_FORMAT },     /* no name */
        { "(image (name a) (size \"1\"))", VPXI_ERR_BAD_FORMAT },                  /* no hash */
        { "(image (name a) (hash sha256 " H32 "))", VPXI_ERR_BAD_FORMAT },         /* no size */
        { "(image (name a) (size \"1\") (hash sha256 " H32 "))", VPXI_ERR_ORDER }, /* order */
        { "(image (name a) (name b) (hash sha256 " H32 ") (size \"1\"))", VPXI_ERR_DUPLICATE },
        { "(image (name a) (hash md5 #00112233445566778899aabbccddeeff#) (size \"1\"))",
          VPXI_ERR_ORDER },
        { "(image (name a) (hash sha256 " H32
          ") (hash sha1 #0011223344556677889900112233445566778899#) (size \"1\"))",
          VPXI_ERR_UNSUPPORTED },
        { "(image (name a) (hash sha256 #0011#) (size \"1\"))", VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (hash sha512 " H64 ") (hash sha512 " H64
          ") (size \"1\"))",
          VPXI_ERR_DUPLICATE },
        { "(image (name a) (hash sha256 " H32 ") (size \"-1\"))", VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"01\"))", VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (url \"ftp://x\"))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (url \"http://a b\"))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (producer \"a\\nb\"))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (producer #ff#))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (produced yesterday))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (meta (arch x) (os y)))",
          VPXI_ERR_ORDER },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (meta (colour red)))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (meta (tags \"a b\")))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (status approved approved))",
          VPXI_ERR_DUPLICATE },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (status trusted))",
          VPXI_ERR_BAD_FORMAT },
        { "(image (name [text/plain]a) (hash sha256 " H32 ") (size \"1\"))", VPXI_ERR_BAD_FORMAT },
        { "(image (name \"a b\") (hash sha256 " H32 ") (size \"1\"))", VPXI_ERR_BAD_FORMAT },
        { "(image (name a) (hash sha256 " H32 ") (size \"1\") (extra x))", VPXI_ERR_BAD_FORMAT },
        { "(img (name a) (hash sha256 " H32 ") (size \"1\"))", VPXI_ERR_BAD_FORMAT },
    };
    struct vpxi_sx *sx = vpxi_sx_new();
    char why[200];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = vpxi_image_check(sx_read(sx, t[i].e), why, sizeof(why));
        if (r != t[i].code)
            fprintf(stderr, "entry %zu: %s (%s)\n", i, vpxi_errname(r), why);
        CHECK_EQ(r, t[i].code);
        if (r)
            CHECK(why[0] != '\0');
    }
    /* 33 tags, 9 URLs */
    {
        char buf[4096];
        int n = snprintf(buf, sizeof(buf),
                         "(image (name a) (hash sha256 " H32 ") (size \"1\") (meta (tags");
        for (int i = 0; i < 33; i++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, " t%d", i);
        snprintf(buf + n, sizeof(buf) - (size_t)n, ")))");
        CHECK_ERR(vpxi_image_check(sx_read(sx, buf), why, sizeof(why)), VPXI_ERR_TOO_LARGE);
        n = snprintf(buf, sizeof(buf), "(image (name a) (hash sha256 " H32 ") (size \"1\")");
        for (int i = 0; i < 9; i++)
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, " (url \"http://h/%d\")", i);
        snprintf(buf + n, sizeof(buf) - (size_t)n, ")");
        CHECK_ERR(vpxi_image_check(sx_read(sx, buf), why, sizeof(why)), VPXI_ERR_TOO_LARGE);
    }
    vpxi_sx_free(sx);
}

/* ---- signing and parsing ---------------------------------------------------------- */

static void test_sign_parse(void)
{
    struct img imgs[] = {
        { "zeta", "blob1", VPXI_IMAGE_APPROVED, NULL },
        { "alpha", "blob2", VPXI_IMAGE_APPROVED | VPXI_IMAGE_SHARED, NULL },
        { "mid", "blob1", 0, "http://198.18.0.1:8000/mid.tar" },
    };
    struct vpxi_key *ks[2] = { gen(VPXI_KEY_ECDSA_P256), gen(VPXI_KEY_ED25519) };

    make_blob("blob1", 1000, 1);
    make_blob("blob2", 3000, 2);
    for (int ki = 0; ki < 2; ki++) {
        struct catspec cs = { ks[ki], 7, 0, 0, imgs, 3, NULL, NULL };
        struct vpxi_catalog *c, *c2;
        struct vpxi_image_meta m;
        const struct vpxi_image *im;
        struct vpxi_wr out, json, adv;
        uint8_t d[32], kid[32];
        int r;

        CHECK_OK(sign_into(&cs, &out));
        CHECK_OK(vpxi_catalog_parse(out.p, out.len, 0, &c, NULL));
        CHECK_OK(vpxi_catalog_verify(c));
        CHECK_EQ(c->version, 7);
        CHECK_EQ(c->nimages, 3);
        CHECK_EQ(c->expires, NOW + 30 * DAY);
        /* sorted by name; found by name */
        CHECK(c->images[0].name.len == 5 && !memcmp(c->images[0].name.p, "alpha", 5));
        CHECK((im = vpxi_catalog_find(c, "mid")) != NULL);
        CHECK(vpxi_catalog_find(c, "mi") == NULL && vpxi_catalog_find(c, "zz") == NULL);
        CHECK_EQ(im->flags, 0);
        CHECK_EQ(im->size, 1000);
        CHECK_OK(vpxi_image_details(im, &m));
        CHECK_EQ(m.nurls, 1);
        CHECK(m.urls[0].len == 30 && !memcmp(m.urls[0].p, "http://198.18.0.1:8000/mid.tar", 30));
        CHECK(m.os.len == 9 && m.produced == NOW - DAY);
        /* the signed span is the body; the signer is the key */
        CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, c->body, c->body_len, d));
        CHECK_MEM(d, c->body_digest, 32);
        CHECK(c->body_len > 10 && !memcmp(c->body, "(7:catalog", 10));
        CHECK_OK(vpxi_key_id(ks[ki], kid));
        CHECK_MEM(kid, c->signer.hash, 32);
        /* JSON names every field */
        vpxi_wr_init_dyn(&json, 0);
        CHECK_OK(vpxi_catalog_write_json(c, &json));
        vpxi_wr_u8(&json, 0);
        CHECK(strstr((char *)json.p, "\"signature\":\"good\"") != NULL);
        CHECK(strstr((char *)json.p, "\"name\":\"alpha\"") != NULL);
        CHECK(strstr((char *)json.p, "\"shared\":true") != NULL);
        vpxi_wr_clear(&json);
        /* the advanced form of the same file parses to the same signed body */
        {
            struct vpxi_sx *sx = vpxi_sx_new();
            struct vpxi_sexp *n;
            CHECK_OK(vpxi_sexp_parse_canonical(sx, out.p, out.len, NULL, &n, NULL));
            vpxi_wr_init_dyn(&adv, 0);
            CHECK_OK(vpxi_sexp_write(n, VPXI_SEXP_ADVANCED, &adv));
            r = vpxi_catalog_parse(adv.p, adv.len, 0, &c2, NULL);
            CHECK_OK(r);
            if (r == 0) {
                CHECK_OK(vpxi_catalog_verify(c2));
                CHECK_MEM(c2->body_digest, c->body_digest, 32);
                vpxi_catalog_free(c2);
            }
            vpxi_wr_clear(&adv);
            vpxi_sx_free(sx);
        }
        vpxi_catalog_free(c);
        vpxi_wr_clear(&out);
    }
    vpxi_key_put(ks[0]);
    vpxi_key_put(ks[1]);
}

/* Every prefix fails; every flipped octet fails (parse or signature). */
static void test_truncation_and_tamper(void)
{
    struct img imgs[] = { { "a", "blob1", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_key *k = gen(VPXI_KEY_ED25519);
    struct catspec cs = { k, 1, 0, 0, imgs, 1, NULL, NULL };
    struct vpxi_catalog_error e;
    struct vpxi_wr out;
    uint8_t *copy;
    size_t bad = 0;

    CHECK_OK(sign_into(&cs, &out));
    for (size_t n = 0; n < out.len; n++)
        bad += parse_verify(out.p, n, &e) != 0;
    CHECK_EQ(bad, out.len);
    copy = malloc(out.len + 1);
    memcpy(copy, out.p, out.len);
    copy[out.len] = ')';
    CHECK_ERR(parse_verify(copy, out.len + 1, &e), VPXI_ERR_TRAILING_DATA);
    bad = 0;
    for (size_t i = 0; i < out.len; i++) {
        memcpy(copy, out.p, out.len);
        copy[i] ^= 0x01;
        bad += parse_verify(copy, out.len, &e) != 0;
    }
    CHECK_EQ(bad, out.len);
    /* a bad signature says so */
    memcpy(copy, out.p, out.len);
    copy[out.len - 5] ^= 0x80;
    CHECK_ERR(parse_verify(copy, out.len, &e), VPXI_ERR_BAD_SIG);
    free(copy);
    vpxi_wr_clear(&out);
    vpxi_key_put(k);
}

static void test_malformed_signed(void)
{
    struct vpxi_key *k = gen(VPXI_KEY_ED25519);
    struct img a = { "dup", "blob1", VPXI_IMAGE_APPROVED, NULL };
    struct img b = { "dup", "blob2", VPXI_IMAGE_APPROVED, NULL };
    struct vpxi_catalog_error e;
    struct vpxi_wr images, body, file;
    struct catspec cs = { k, 1, 0, 0, NULL, 0, NULL, NULL };
    struct img two[] = { a, b };

    /* the signer refuses duplicates */
    cs.imgs = two;
    cs.nimgs = 2;
    CHECK_ERR(sign_into(&cs, &file), VPXI_ERR_DUPLICATE);
    vpxi_wr_clear(&file);
    /* and so does the parser, naming both entries */
    vpxi_wr_init_dyn(&images, 0);
    entry_of(&a, &images);
    entry_of(&b, &images);
    raw_body(NULL, &images, &body);
    raw_sign(k, body.p, body.len, &file);
    CHECK_ERR(parse_verify(file.p, file.len, &e), VPXI_ERR_DUPLICATE);
    CHECK(strstr(e.why, "image 2 repeats the name dup of image 1 with another digest") != NULL);
    vpxi_wr_clear(&body);
    vpxi_wr_clear(&file);
    /* a correct independent assembly verifies: the format is what we say */
    vpxi_wr_clear(&images);
    vpxi_wr_init_dyn(&images, 0);
    entry_of(&a, &images);
    raw_body("(5:label4:test)", &images, &body);
    raw_sign(k, body.p, body.len, &file);
    CHECK_ERR(parse_verify(file.p, file.len, &e), VPXI_ERR_ORDER); /* label after version */
    vpxi_wr_clear(&body);
    vpxi_wr_clear(&file);
    raw_body("(5:trust(3:acl))", &images, &body);
    raw_sign(k, body.p, body.len, &file);
    CHECK_OK(parse_verify(file.p, file.len, &e));
    vpxi_wr_clear(&file);
    /* header after an image, an unknown element, a version 0 */
    {
        static const char *bodies[] = {
            "(7:catalog(7:version1:1)(6:issued19:2026-09-21_00:00:00)(7:expires19:2026-12-01_00:"
            "00:00)(5:image(4:name1:a))(5:label1:x))",
            "(7:catalog(7:version1:1)(6:issued19:2026-09-21_00:00:00)(7:expires19:2026-12-01_00:"
            "00:00)(4:junk))",
            "(7:catalog(7:version1:0)(6:issued19:2026-09-21_00:00:00)(7:expires19:2026-12-01_00:"
            "00:00))",
            "(7:catalog(7:version1:1)(6:issued19:2026-12-21_00:00:00)(7:expires19:2026-12-01_00:"
            "00:00))",
            "(7:catalog(7:version1:1)(7:expires19:2026-12-01_00:00:00))",
        };
        static const int codes[] = { VPXI_ERR_BAD_FORMAT, VPXI_ERR_BAD_FORMAT, VPXI_ERR_BAD_FORMAT,
                                     VPXI_ERR_VALIDITY_EMPTY, VPXI_ERR_BAD_FORMAT };
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
            raw_sign(k, (const uint8_t *)bodies[i], strlen(bodies[i]), &file);
            int r = parse_verify(file.p, file.len, &e);
            if (r != codes[i])
                fprintf(stderr, "body %zu: %s: %s\n", i, vpxi_errname(r), e.why);
            CHECK_EQ(r, codes[i]);
            vpxi_wr_clear(&file);
        }
    }
    /* no signature; two catalogues; a signer named by hash */
    CHECK_ERR(parse_verify((const uint8_t *)"(8:sequence)", 12, &e), VPXI_ERR_BAD_FORMAT);
    {
        struct vpxi_wr w;
        vpxi_wr_init_dyn(&w, 0);
        vpxi_wr_str(&w, "(8:sequence");
        vpxi_wr_bytes(&w, body.p, body.len);
        vpxi_wr_str(&w, ")");
        CHECK_ERR(parse_verify(w.p, w.len, &e), VPXI_ERR_NO_SIGNATURE);
        vpxi_wr_clear(&w);
    }
    vpxi_wr_clear(&body);
    vpxi_wr_clear(&images);
    vpxi_key_put(k);
}

static void test_limits(void)
{
    struct vpxi_key *k = gen(VPXI_KEY_ED25519);
    struct img a = { "a", "blob1", VPXI_IMAGE_APPROVED, NULL };
    struct catspec cs = { k, 1, 0, 0, &a, 1, NULL, NULL };
    struct vpxi_catalog_error e;
    struct vpxi_catalog *c;
    struct vpxi_wr out, big, body, file;

    CHECK_OK(sign_into(&cs, &out));
    CHECK_ERR(vpxi_catalog_parse(out.p, out.len, out.len - 1, &c, &e), VPXI_ERR_TOO_LARGE);
    CHECK_OK(vpxi_catalog_parse(out.p, out.len, out.len, &c, &e));
    vpxi_catalog_free(c);
    vpxi_wr_clear(&out);
    /* an entry larger than 16 KiB */
    vpxi_wr_init_dyn(&big, 0);
    vpxi_wr_str(&big, "(5:image(4:name1:a)(8:producer20000:");
    for (int i = 0; i < 20000; i++)
        vpxi_wr_u8(&big, 'x');
    vpxi_wr_str(&big, "))");
    raw_body(NULL, &big, &body);
    raw_sign(k, body.p, body.len, &file);
    CHECK_ERR(parse_verify(file.p, file.len, &e), VPXI_ERR_TOO_LARGE);
    vpxi_wr_clear(&big);
    vpxi_wr_clear(&body);
    vpxi_wr_clear(&file);
    /* nesting deeper than the parser's cap */
    vpxi_wr_init_dyn(&big, 0);
    for (int i = 0; i < 100; i++)
        vpxi_wr_str(&big, "(1:x");
    for (int i = 0; i < 100; i++)
        vpxi_wr_u8(&big, ')');
    raw_body(NULL, &big, &body);
    raw_sign(k, body.p, body.len, &file);
    CHECK_ERR(parse_verify(file.p, file.len, &e), VPXI_ERR_TOO_DEEP);
    vpxi_wr_clear(&big);
    vpxi_wr_clear(&body);
    vpxi_wr_clear(&file);
    vpxi_key_put(k);
}

/* Every allocation failing in turn: an error or success, never a crash or
 * a leak (the ASan build checks leaks). */
static void test_alloc_failures(void)
{
    struct img imgs[] = { { "a", "blob1", VPXI_IMAGE_APPROVED, NULL },
                          { "b", "blob2", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_key *k = gen(VPXI_KEY_ECDSA_P256);
    struct catspec cs = { k, 1, 0, 0, imgs, 2, NULL, NULL };
    struct vpxi_wr out;
    int ok = 0;

    CHECK_OK(sign_into(&cs, &out));
    for (long n = 0; n < 400 && !ok; n++) {
        struct vpxi_catalog *c;
        int r;
        vpxi_alloc_fail_after(n);
        r = vpxi_catalog_parse(out.p, out.len, 0, &c, NULL);
        vpxi_alloc_fail_after(-1);
        if (r == 0) {
            ok = 1;
            vpxi_catalog_free(c);
        } else {
            CHECK(r == VPXI_ERR_NOMEM);
        }
    }
    CHECK(ok);
    vpxi_wr_clear(&out);
    vpxi_key_put(k);
}

static void test_hash_file(void)
{
    uint8_t a[32], b[64], ra[32], rb[64];
    uint64_t n;

    write_file(path_of("abc"), "abc", 3);
    CHECK_OK(vpxi_image_hash_file(path_of("abc"), a, b, &n));
    CHECK_EQ(n, 3);
    CHECK_OK(vpxi_hash(VPXI_HASH_SHA256, "abc", 3, ra));
    CHECK_OK(vpxi_hash(VPXI_HASH_SHA512, "abc", 3, rb));
    CHECK_MEM(a, ra, 32);
    CHECK_MEM(b, rb, 64);
    /* FIPS 180-2 "abc" */
    CHECK(a[0] == 0xba && a[31] == 0xad && b[0] == 0xdd && b[63] == 0x9f);
    CHECK_ERR(vpxi_image_hash_file(path_of("missing"), a, NULL, &n), VPXI_ERR_NOT_FOUND);
}

/* ---- the provider --------------------------------------------------------------------- */

/* DIR/trust from a text with %S for each key (public-key expressions). */
static void write_trust(const char *dir, const char *fmt, struct vpxi_key *k1, struct vpxi_key *k2,
                        const char *src1, const char *src2)
{
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *p1 = NULL, *p2 = NULL, *t, *e;
    struct vpxi_wr w;
    char path[600];

    mkdir(dir, 0755);
    if (k1)
        CHECK_OK(vpxi_key_to_sexp(sx, k1, &p1));
    if (k2)
        CHECK_OK(vpxi_key_to_sexp(sx, k2, &p2));
    CHECK_OK(vpxi_sexp_build(sx, &t, fmt, p1, p2));
    if (src1) {
        CHECK_OK(vpxi_sexp_build(sx, &e, "(source %s)", src1));
        vpxi_sexp_append(t, e);
    }
    if (src2) {
        CHECK_OK(vpxi_sexp_build(sx, &e, "(source %s)", src2));
        vpxi_sexp_append(t, e);
    }
    vpxi_wr_init_dyn(&w, 0);
    vpxi_sexp_write(t, VPXI_SEXP_ADVANCED, &w);
    snprintf(path, sizeof(path), "%s/trust", dir);
    write_file(path, w.p, w.len);
    vpxi_wr_clear(&w);
    vpxi_sx_free(sx);
}

static struct vpxi_provider *open_prov(const char *dir)
{
    struct vpxi_provider *p = NULL;
    char err[300];
    int r = vpxi_provider_open(dir, &p, err, sizeof(err));
    if (r) {
        fprintf(stderr, "open %s: %s\n", dir, err);
        abort();
    }
    return p;
}

static int import1(struct vpxi_provider *p, const char *file, int64_t now,
                   struct vpxi_import_report *rep)
{
    const char *src[1] = { path_of(file) };
    return vpxi_provider_import(p, src, 1, now, rep);
}

static int decide(struct vpxi_provider *p, const char *name, int64_t now, char *why)
{
    struct vpxi_decision d;
    int r = vpxi_provider_decide(p, name, now, &d);
    if (why)
        snprintf(why, 320, "%s", d.why);
    return r;
}

static size_t count_events(const struct vpxi_import_report *rep, enum vpxi_import_event_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->nevents; i++)
        n += rep->events[i].kind == k;
    return n;
}

static void test_provider_threshold(void)
{
    struct vpxi_key *e1 = gen(VPXI_KEY_ECDSA_P256), *e2 = gen(VPXI_KEY_ED25519);
    struct img a1[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED, NULL } };
    struct img a2[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED, NULL },
                        { "hep-b", "imgB", VPXI_IMAGE_APPROVED, NULL } };
    struct img a2r[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED | VPXI_IMAGE_REVOKED, NULL },
                         { "hep-b", "imgB", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_import_report rep;
    struct vpxi_provider *p, *p2;
    char dir[600], why[320], path[4096], digest[65], want[65];
    uint8_t d[32];
    uint64_t n;

    make_blob("imgA", 200000, 10);
    make_blob("imgB", 5000, 11);
    snprintf(dir, sizeof(dir), "%s/prov-threshold", tmp);
    write_trust(dir,
                "(catalog-trust (acl (entry (subject (k-of-n \"2\" \"2\" %S %S)) (propagate) "
                "(tag (endorse (* prefix \"hep-\"))))))",
                e1, e2, NULL, NULL);
    {
        struct catspec c1 = { e1, 1, 0, NOW + 10 * DAY, a1, 1, NULL, NULL };
        struct catspec c2 = { e2, 1, 0, 0, a2, 2, NULL, NULL };
        struct catspec c2b = { e2, 2, 0, 0, a2, 2, NULL, NULL };
        struct catspec c2r = { e2, 3, 0, 0, a2r, 2, NULL, NULL };
        sign_file(&c1, "e1.cat");
        sign_file(&c2, "e2v1.cat");
        sign_file(&c2b, "e2v2.cat");
        sign_file(&c2r, "e2v3.cat");
    }
    p = open_prov(dir);
    CHECK_ERR(decide(p, "hep-a", NOW, why), VPXI_ERR_NOT_FOUND);
    /* one endorser of two is not enough */
    CHECK_OK(import1(p, "e1.cat", NOW, &rep));
    CHECK_EQ(rep.sources[0].added, 1);
    vpxi_import_report_clear(&rep);
    CHECK_ERR(decide(p, "hep-a", NOW, why), VPXI_ERR_THRESHOLD);
    CHECK(strstr(why, "1 of its (k-of-n 2 2) branches reduce, 2 needed") != NULL);
    /* both: accepted, but not startable until fetched */
    CHECK_OK(import1(p, "e2v1.cat", NOW, &rep));
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-a", NOW, why));
    CHECK_ERR(decide(p, "hep-b", NOW, why), VPXI_ERR_THRESHOLD);
    CHECK_ERR(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320),
              VPXI_ERR_NOT_FOUND);
    CHECK(path[0] == '\0' && digest[0] == '\0');
    CHECK_OK(vpxi_provider_fetch(p, "hep-a", NOW, NULL, digest, why, 320));
    CHECK_OK(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320));
    CHECK_OK(vpxi_image_hash_file(path, d, NULL, &n));
    vpxi_hex_encode(want, d, 32);
    CHECK_STR(digest, want);
    CHECK_EQ(n, 200000);
    CHECK(strstr(path, "/images/sha256/") != NULL);
    /* a fetch of what is there does nothing */
    CHECK_OK(vpxi_provider_fetch(p, "hep-a", NOW, NULL, digest, why, 320));
    CHECK_STR(why, "already in the store");
    /* the same after reopening */
    vpxi_provider_close(p);
    p = open_prov(dir);
    CHECK_STR(vpxi_provider_notes(p), "");
    CHECK_OK(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320));
    /* tampering with the stored file is noticed, and the file removed */
    {
        int fd;
        chmod(path, 0644);
        fd = open(path, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "X", 1, 100) == 1);
        close(fd);
        CHECK_ERR(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320),
                  VPXI_ERR_HASH_MISMATCH);
        CHECK(access(path_of("prov-threshold/images/sha256"), F_OK) == 0);
        CHECK_ERR(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320),
                  VPXI_ERR_NOT_FOUND);
        CHECK_OK(vpxi_provider_fetch(p, "hep-a", NOW, NULL, digest, why, 320));
        CHECK_OK(vpxi_provider_verify(p, "hep-a", NOW, path, sizeof(path), digest, why, 320));
    }
    /* a newer catalogue, then the old one again: rollback */
    CHECK_OK(import1(p, "e2v2.cat", NOW, &rep));
    CHECK_EQ(rep.sources[0].old_version, 1);
    vpxi_import_report_clear(&rep);
    CHECK_ERR(import1(p, "e2v1.cat", NOW, &rep), VPXI_ERR_ROLLBACK);
    CHECK(strstr(rep.sources[0].why, "older than version 2") != NULL);
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-a", NOW, why));
    /* revocation by one endorser stops it at once, also for another process
     * that holds the provider open (a daemon while the CLI imports) */
    p2 = open_prov(dir);
    CHECK_OK(vpxi_provider_accept(p2, "hep-a", NOW, path, sizeof(path), digest, why, 320));
    CHECK_OK(import1(p, "e2v3.cat", NOW, &rep));
    CHECK_EQ(rep.sources[0].revoked, 1);
    CHECK_EQ(count_events(&rep, VPXI_IMPORT_REVOKED), 1);
    vpxi_import_report_clear(&rep);
    CHECK_ERR(vpxi_provider_accept(p, "hep-a", NOW, path, sizeof(path), digest, why, 320),
              VPXI_ERR_REVOKED);
    CHECK(strstr(why, "revoked by") != NULL);
    CHECK_ERR(vpxi_provider_accept(p2, "hep-a", NOW, path, sizeof(path), digest, why, 320),
              VPXI_ERR_REVOKED);
    vpxi_provider_close(p2);
    /* and the refusal survives a reopen */
    vpxi_provider_close(p);
    p = open_prov(dir);
    CHECK_ERR(decide(p, "hep-a", NOW, why), VPXI_ERR_REVOKED);
    vpxi_provider_close(p);
    vpxi_key_put(e1);
    vpxi_key_put(e2);
}

static void test_provider_freshness(void)
{
    struct vpxi_key *e1 = gen(VPXI_KEY_ED25519);
    struct img a[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED, NULL } };
    struct img b[] = { { "hep-a", "imgB", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_import_report rep;
    struct vpxi_provider *p;
    char dir[600], why[320];

    snprintf(dir, sizeof(dir), "%s/prov-fresh", tmp);
    write_trust(dir, "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse (*))))))",
                e1, NULL, NULL, NULL);
    {
        struct catspec ok = { e1, 5, 0, NOW + 2 * DAY, a, 1, NULL, NULL };
        struct catspec old = { e1, 6, NOW - 10 * DAY, NOW - DAY, a, 1, NULL, NULL };
        struct catspec future = { e1, 7, NOW + DAY, NOW + 9 * DAY, a, 1, NULL, NULL };
        struct catspec same = { e1, 5, 0, NOW + 2 * DAY, b, 1, NULL, NULL };
        sign_file(&ok, "f-ok.cat");
        sign_file(&old, "f-expired.cat");
        sign_file(&future, "f-future.cat");
        sign_file(&same, "f-same-version.cat");
    }
    p = open_prov(dir);
    CHECK_ERR(import1(p, "f-expired.cat", NOW, &rep), VPXI_ERR_EXPIRED);
    vpxi_import_report_clear(&rep);
    CHECK_ERR(import1(p, "f-future.cat", NOW, &rep), VPXI_ERR_NOT_YET_VALID);
    vpxi_import_report_clear(&rep);
    CHECK_OK(import1(p, "f-ok.cat", NOW, &rep));
    CHECK_EQ(rep.warnings, 1); /* expires within the 7-day warning */
    CHECK(rep.nevents && strstr(rep.events[rep.nevents - 1].why, "expires at") != NULL);
    vpxi_import_report_clear(&rep);
    /* the same version again: unchanged; with other content: refused */
    CHECK_OK(import1(p, "f-ok.cat", NOW, &rep));
    CHECK(rep.sources[0].unchanged);
    vpxi_import_report_clear(&rep);
    CHECK_ERR(import1(p, "f-same-version.cat", NOW, &rep), VPXI_ERR_ROLLBACK);
    vpxi_import_report_clear(&rep);
    /* an imported catalogue that expires stops endorsing */
    CHECK_OK(decide(p, "hep-a", NOW + DAY, why));
    CHECK_ERR(decide(p, "hep-a", NOW + 3 * DAY, why), VPXI_ERR_EXPIRED);
    CHECK(strstr(why, "expired at") != NULL && strstr(why, "endorsement of hep-a") != NULL);
    /* a source that cannot be read or is not a catalogue */
    CHECK_ERR(import1(p, "nothing-here.cat", NOW, &rep), VPXI_ERR_NOT_FOUND);
    vpxi_import_report_clear(&rep);
    write_file(path_of("junk.cat"), "(4:junk)", 8);
    CHECK_ERR(import1(p, "junk.cat", NOW, &rep), VPXI_ERR_BAD_FORMAT);
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-a", NOW, why));
    vpxi_provider_close(p);
    vpxi_key_put(e1);
}

static void test_provider_fetch(void)
{
    struct vpxi_key *e1 = gen(VPXI_KEY_ED25519);
    char url_short[600], url_bad[600], url_long[600], url_resume[600];
    struct vpxi_import_report rep;
    struct vpxi_provider *p;
    char dir[600], why[320], digest[65], path[4096];
    uint8_t *full;
    size_t n = 300000;

    make_blob("imgF", n, 21);
    make_blob("imgG", n, 22);     /* same size, other bytes */
    make_blob("imgL", n + 1, 21); /* one octet too many */
    snprintf(url_short, sizeof(url_short), "file://%s", path_of("short.bin"));
    snprintf(url_bad, sizeof(url_bad), "file://%s", path_of("imgG"));
    snprintf(url_long, sizeof(url_long), "file://%s", path_of("imgL"));
    snprintf(url_resume, sizeof(url_resume), "file://%s", path_of("resume.bin"));
    {
        struct img imgs[] = { { "tampered", "imgF", VPXI_IMAGE_APPROVED, url_bad },
                              { "toolong", "imgF", VPXI_IMAGE_APPROVED, url_long },
                              { "resumed", "imgF", VPXI_IMAGE_APPROVED, url_resume } };
        struct catspec cs = { e1, 1, 0, 0, imgs, 3, NULL, NULL };
        sign_file(&cs, "fetch.cat");
    }
    snprintf(dir, sizeof(dir), "%s/prov-fetch", tmp);
    write_trust(dir, "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse (*))))))",
                e1, NULL, NULL, NULL);
    p = open_prov(dir);
    CHECK_OK(import1(p, "fetch.cat", NOW, &rep));
    vpxi_import_report_clear(&rep);
    /* other bytes at the URL: refused, nothing stored under the name */
    CHECK_ERR(vpxi_provider_fetch(p, "tampered", NOW, NULL, digest, why, 320),
              VPXI_ERR_HASH_MISMATCH);
    CHECK_ERR(vpxi_provider_accept(p, "tampered", NOW, path, sizeof(path), digest, why, 320),
              VPXI_ERR_NOT_FOUND);
    CHECK_ERR(vpxi_provider_fetch(p, "toolong", NOW, NULL, digest, why, 320), VPXI_ERR_TOO_LARGE);
    /* a truncated download is kept for resuming and not startable */
    {
        FILE *f = fopen(path_of("imgF"), "rb");
        full = malloc(n);
        CHECK(f && fread(full, 1, n, f) == n);
        fclose(f);
    }
    write_file(path_of("resume.bin"), full, n / 3);
    CHECK_ERR(vpxi_provider_fetch(p, "resumed", NOW, NULL, digest, why, 320), VPXI_ERR_TRUNCATED);
    CHECK(strstr(why, "the next fetch resumes") != NULL);
    CHECK_ERR(vpxi_provider_accept(p, "resumed", NOW, path, sizeof(path), digest, why, 320),
              VPXI_ERR_NOT_FOUND);
    /* now the server has it all, but the first third is garbage: only a
     * real resume (from octet n/3) can produce the right digest */
    memset(full, 0xee, n / 3);
    write_file(path_of("resume.bin"), full, n);
    CHECK_OK(vpxi_provider_fetch(p, "resumed", NOW, NULL, digest, why, 320));
    CHECK_OK(vpxi_provider_accept(p, "resumed", NOW, path, sizeof(path), digest, why, 320));
    free(full);
    vpxi_provider_close(p);
    vpxi_key_put(e1);
}

/* O may endorse hep-*, delegates hep-reco-* to team T for 10 days. */
static void test_provider_delegation(void)
{
    struct vpxi_key *o = gen(VPXI_KEY_ECDSA_P256), *t = gen(VPXI_KEY_ED25519);
    struct img imgs[] = { { "hep-reco-1", "imgA", VPXI_IMAGE_APPROVED, NULL },
                          { "hep-sim-1", "imgB", VPXI_IMAGE_APPROVED, NULL },
                          { "cms-x", "imgB", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_cert_params cp = { 0 };
    struct vpxi_import_report rep;
    struct vpxi_provider *p;
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *seq;
    struct vpxi_wr chain;
    char dir[600], why[320];

    cp.issuer = o;
    cp.subject_key = t;
    cp.propagate = true;
    cp.tag = sx_read(sx, "(endorse (* prefix \"hep-reco-\"))");
    cp.valid.not_before = VPXI_TIME_MIN;
    cp.valid.not_after = NOW + 10 * DAY;
    CHECK_OK(vpxi_cert_issue(sx, &cp, &seq));
    vpxi_wr_init_dyn(&chain, 0);
    for (struct vpxi_sexp *e = seq->child->next; e; e = e->next)
        vpxi_sexp_write_canonical(e, &chain);
    {
        struct catspec with = { t, 1, 0, 0, imgs, 3, &chain, NULL };
        struct catspec without = { t, 2, 0, 0, imgs, 3, NULL, NULL };
        sign_file(&with, "team.cat");
        sign_file(&without, "team-nochain.cat");
    }
    snprintf(dir, sizeof(dir), "%s/prov-deleg", tmp);
    write_trust(dir,
                "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse (* prefix "
                "\"hep-\"))))))",
                o, NULL, NULL, NULL);
    p = open_prov(dir);
    /* without the delegation the team is nobody */
    CHECK_ERR(import1(p, "team-nochain.cat", NOW, &rep), VPXI_ERR_NOT_AUTHORIZED);
    CHECK(strstr(rep.sources[0].why, "not trusted") != NULL);
    vpxi_import_report_clear(&rep);
    /* with it: one entry in scope, two rejected */
    CHECK_OK(import1(p, "team.cat", NOW, &rep));
    CHECK_EQ(rep.sources[0].added, 1);
    CHECK_EQ(rep.sources[0].rejected, 2);
    CHECK_EQ(count_events(&rep, VPXI_IMPORT_REJECTED), 2);
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-reco-1", NOW, why));
    CHECK_ERR(decide(p, "hep-sim-1", NOW, why), VPXI_ERR_NOT_AUTHORIZED);
    CHECK(strstr(why, "delegation certificate 1") != NULL);
    CHECK_ERR(decide(p, "cms-x", NOW, why), VPXI_ERR_NOT_AUTHORIZED);
    /* the delegation expires before the catalogue */
    CHECK_ERR(decide(p, "hep-reco-1", NOW + 11 * DAY, why), VPXI_ERR_EXPIRED);
    CHECK(strstr(why, "delegation certificate") != NULL);
    {
        struct vpxi_import_report w = { 0 };
        vpxi_provider_warnings(p, NOW + 5 * DAY, &w);
        CHECK_EQ(w.warnings, 1); /* the delegation, within 7 days */
        vpxi_import_report_clear(&w);
    }
    vpxi_provider_close(p);
    vpxi_wr_clear(&chain);
    vpxi_sx_free(sx);
    vpxi_key_put(o);
    vpxi_key_put(t);
}

/* Provider B trusts provider A's export of its trusted endorsers. */
static void test_export_chaining(void)
{
    struct vpxi_key *a = gen(VPXI_KEY_ED25519), *e1 = gen(VPXI_KEY_ED25519);
    struct img imgs[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED, NULL },
                          { "cms-a", "imgB", VPXI_IMAGE_APPROVED, NULL } };
    struct vpxi_import_report rep;
    struct vpxi_provider *p;
    struct vpxi_sx *sx = vpxi_sx_new();
    struct vpxi_sexp *pub, *trust;
    char dir[600], why[320], src[600];

    {
        struct catspec cs = { e1, 1, 0, 0, imgs, 2, NULL, NULL };
        sign_file(&cs, "chain-e1.cat");
    }
    snprintf(src, sizeof(src), "file://%s", path_of("chain-e1.cat"));
    CHECK_OK(vpxi_key_to_sexp(sx, e1, &pub));
    CHECK_OK(vpxi_sexp_build(sx, &trust,
                             "(trust (acl (entry (subject %S) (propagate) (tag (endorse (*))))) "
                             "(source %s))",
                             pub, src));
    {
        struct catspec cs = { a, 1, 0, NOW + 7 * DAY, NULL, 0, NULL, trust };
        sign_file(&cs, "export-a.cat");
    }
    snprintf(dir, sizeof(dir), "%s/prov-b", tmp);
    write_trust(dir,
                "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse (* prefix "
                "\"hep-\"))))))",
                a, NULL, path_of("export-a.cat"), NULL);
    p = open_prov(dir);
    /* E1 alone is unknown here */
    CHECK_ERR(import1(p, "chain-e1.cat", NOW, &rep), VPXI_ERR_NOT_AUTHORIZED);
    vpxi_import_report_clear(&rep);
    /* the refresh imports A's export, then E1's catalogue through it */
    CHECK_OK(vpxi_provider_refresh(p, NOW, &rep));
    CHECK_EQ(rep.nsources, 2);
    CHECK_STR(rep.sources[1].source, src);
    CHECK_EQ(rep.sources[1].added, 1);    /* hep-a */
    CHECK_EQ(rep.sources[1].rejected, 1); /* cms-a: B gave A only hep-* */
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-a", NOW, why));
    CHECK_ERR(decide(p, "cms-a", NOW, why), VPXI_ERR_NOT_AUTHORIZED);
    /* the export expires: the chain with it */
    CHECK_ERR(decide(p, "hep-a", NOW + 8 * DAY, why), VPXI_ERR_EXPIRED);
    vpxi_provider_close(p);
    vpxi_sx_free(sx);
    vpxi_key_put(a);
    vpxi_key_put(e1);
}

/* A failure while storing keeps the previous state in memory and on disk;
 * a damaged stored catalogue is left out on open. */
static void test_provider_crash_safety(void)
{
    struct vpxi_key *e1 = gen(VPXI_KEY_ED25519);
    struct img v1[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED, NULL } };
    struct img v2[] = { { "hep-a", "imgA", VPXI_IMAGE_APPROVED | VPXI_IMAGE_REVOKED, NULL } };
    struct vpxi_import_report rep;
    struct vpxi_provider *p;
    char dir[600], cats[700], moved[700], why[320], cmd[1600];

    {
        struct catspec a = { e1, 1, 0, 0, v1, 1, NULL, NULL };
        struct catspec b = { e1, 2, 0, 0, v2, 1, NULL, NULL };
        sign_file(&a, "cs-v1.cat");
        sign_file(&b, "cs-v2.cat");
    }
    snprintf(dir, sizeof(dir), "%s/prov-crash", tmp);
    write_trust(dir, "(catalog-trust (acl (entry (subject %S) (propagate) (tag (endorse (*))))))",
                e1, NULL, NULL, NULL);
    p = open_prov(dir);
    CHECK_OK(import1(p, "cs-v1.cat", NOW, &rep));
    vpxi_import_report_clear(&rep);
    /* the catalogue directory becomes unwritable (a file in its place:
     * even root cannot create files in it) */
    snprintf(cats, sizeof(cats), "%s/catalogs", dir);
    snprintf(moved, sizeof(moved), "%s/catalogs.moved", dir);
    CHECK(rename(cats, moved) == 0);
    write_file(cats, "x", 1);
    CHECK_ERR(import1(p, "cs-v2.cat", NOW, &rep), VPXI_ERR_SYS);
    CHECK(strstr(rep.sources[0].why, "cannot store") != NULL);
    vpxi_import_report_clear(&rep);
    CHECK_OK(decide(p, "hep-a", NOW, why)); /* v1 still in force */
    unlink(cats);
    CHECK(rename(moved, cats) == 0);
    vpxi_provider_close(p);
    p = open_prov(dir);
    CHECK_OK(decide(p, "hep-a", NOW, why));
    /* the failed import did not record version 2 as seen: it imports now */
    CHECK_OK(import1(p, "cs-v2.cat", NOW, &rep));
    vpxi_import_report_clear(&rep);
    CHECK_ERR(decide(p, "hep-a", NOW, why), VPXI_ERR_REVOKED);
    vpxi_provider_close(p);
    /* a damaged stored catalogue is left out (fail closed) with a note */
    snprintf(cmd, sizeof(cmd), "for f in %s/*.cat; do printf 'garbage' > \"$f\"; done", cats);
    CHECK(system(cmd) == 0);
    p = open_prov(dir);
    CHECK(strstr(vpxi_provider_notes(p), "left out") != NULL);
    CHECK_ERR(decide(p, "hep-a", NOW, why), VPXI_ERR_NOT_FOUND);
    /* and the rollback protection survives in the state file */
    CHECK_ERR(import1(p, "cs-v1.cat", NOW, &rep), VPXI_ERR_ROLLBACK);
    vpxi_import_report_clear(&rep);
    vpxi_provider_close(p);
    vpxi_key_put(e1);
}

static void test_trust_config(void)
{
    static const struct {
        const char *t;
        int code;
    } t[] = {
        { "(catalog-trust)", 0 },
        { "(catalog-trust (source \"http://198.18.0.1/x.cat\") (source /var/x.cat) (refresh "
          "(interval \"60\") (jitter \"5\") (warn \"100\")) (max-size \"1000\"))",
          0 },
        { "(catalog-trust (source \"ftp://x\"))", VPXI_ERR_BAD_FORMAT },
        { "(catalog-trust (source relative/path))", VPXI_ERR_BAD_FORMAT },
        { "(catalog-trust (refresh (interval \"0\")))", VPXI_ERR_BAD_FORMAT },
        { "(catalog-trust (max-size \"0\"))", VPXI_ERR_BAD_FORMAT },
        { "(catalog-trust (acl) (acl))", VPXI_ERR_DUPLICATE },
        { "(catalog-trust (colour blue))", VPXI_ERR_BAD_FORMAT },
        { "(trust)", VPXI_ERR_BAD_FORMAT },
    };
    char why[200];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct vpxi_trust *tr = NULL;
        int r = vpxi_trust_parse((const uint8_t *)t[i].t, strlen(t[i].t), &tr, why, sizeof(why));
        if (r != t[i].code)
            fprintf(stderr, "trust %zu: %s: %s\n", i, vpxi_errname(r), why);
        CHECK_EQ(r, t[i].code);
        if (r == 0 && i == 1) {
            CHECK_EQ(tr->nsources, 2);
            CHECK_EQ(tr->interval, 60);
            CHECK_EQ(tr->max_size, 1000);
        }
        vpxi_trust_free(tr);
    }
    /* an entry without (propagate) could never admit anything */
    {
        struct vpxi_key *k = gen(VPXI_KEY_ED25519);
        struct vpxi_sx *sx = vpxi_sx_new();
        struct vpxi_sexp *pub, *n;
        struct vpxi_trust *tr;
        struct vpxi_wr w;
        CHECK_OK(vpxi_key_to_sexp(sx, k, &pub));
        CHECK_OK(
            vpxi_sexp_build(sx, &n, "(catalog-trust (acl (entry (subject %S) (tag (*)))))", pub));
        vpxi_wr_init_dyn(&w, 0);
        vpxi_sexp_write_canonical(n, &w);
        CHECK_ERR(vpxi_trust_parse(w.p, w.len, &tr, why, sizeof(why)), VPXI_ERR_NO_DELEGATION);
        vpxi_wr_clear(&w);
        vpxi_sx_free(sx);
        vpxi_key_put(k);
    }
}

int main(void)
{
    char cmd[300];

    snprintf(tmp, sizeof(tmp), "/tmp/vpxi-test-catalog.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    RUN(test_names);
    RUN(test_entry_grammar);
    RUN(test_sign_parse);
    RUN(test_truncation_and_tamper);
    RUN(test_malformed_signed);
    RUN(test_limits);
    RUN(test_alloc_failures);
    RUN(test_hash_file);
    RUN(test_trust_config);
    RUN(test_provider_threshold);
    RUN(test_provider_freshness);
    RUN(test_provider_fetch);
    RUN(test_provider_delegation);
    RUN(test_export_chaining);
    RUN(test_provider_crash_safety);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    fprintf(stderr, "%d checks, %d failures\n", t_checks, t_failures);
    return t_failures != 0;
}
