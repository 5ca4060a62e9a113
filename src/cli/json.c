/*
 * json.c - recursive-descent JSON reader (RFC 8259) for daemon replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

enum { JSON_DEPTH_MAX = 64 };

struct json_block {
    struct json_block *next;
    _Alignas(16) unsigned char data[];
};

struct jp {
    const char *start, *p, *end;
    char *err;
    size_t errlen;
    struct json_doc *doc;
};

static void *jalloc(struct jp *j, size_t n)
{
    struct json_block *b = calloc(1, sizeof(*b) + n);

    if (!b) {
        snprintf(j->err, j->errlen, "out of memory");
        return NULL;
    }
    b->next = j->doc->blocks;
    j->doc->blocks = b;
    return b->data;
}

static int jerr(struct jp *j, const char *what)
{
    snprintf(j->err, j->errlen, "JSON: %s at byte %td", what, j->p - j->start);
    return -1;
}

static void ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    return 0;
}

static char *string(struct jp *j)
{
    const char *start = ++j->p;
    char *out, *o;

    while (j->p < j->end && *j->p != '"')
        j->p += *j->p == '\\' ? 2 : 1;
    if (j->p >= j->end)
        return jerr(j, "unterminated string"), NULL;
    if ((out = o = jalloc(j, (size_t)(j->p - start) + 1)) == NULL)
        return NULL;
    for (const char *s = start; s < j->p; s++) {
        if (*s != '\\') {
            *o++ = *s;
            continue;
        }
        switch (*++s) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned v;
            if (j->p - s < 5 || hex4(s + 1, &v) != 0)
                return jerr(j, "bad \\u escape"), NULL;
            s += 4;
            if (v < 0x80) {
                *o++ = (char)v;
            } else if (v < 0x800) {
                *o++ = (char)(0xc0 | v >> 6);
                *o++ = (char)(0x80 | (v & 0x3f));
            } else {
                *o++ = (char)(0xe0 | v >> 12);
                *o++ = (char)(0x80 | ((v >> 6) & 0x3f));
                *o++ = (char)(0x80 | (v & 0x3f));
            }
            break;
        }
        default: *o++ = *s; break;
        }
    }
    *o = 0;
    j->p++;
    return out;
}

static struct json *value(struct jp *j, int depth);

static struct json *container(struct jp *j, int depth, char close)
{
    struct json *v = jalloc(j, sizeof(*v)), **tail;

    if (!v)
        return NULL;
    v->type = close == ']' ? J_ARR : J_OBJ;
    tail = &v->child;
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        struct json *e;
        ws(j);
        if (v->type == J_OBJ) {
            if (j->p >= j->end || *j->p != '"')
                return jerr(j, "expected a member name"), NULL;
            if ((key = string(j)) == NULL)
                return NULL;
            ws(j);
            if (j->p >= j->end || *j->p != ':')
                return jerr(j, "expected ':'"), NULL;
            j->p++;
        }
        if ((e = value(j, depth + 1)) == NULL)
            return NULL;
        e->key = key;
        *tail = e;
        tail = &e->next;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return v;
        }
        return jerr(j, "expected ',' or a closing bracket"), NULL;
    }
}

static struct json *value(struct jp *j, int depth)
{
    struct json *v;

    if (depth > JSON_DEPTH_MAX)
        return jerr(j, "nested too deeply"), NULL;
    ws(j);
    if (j->p >= j->end)
        return jerr(j, "unexpected end"), NULL;
    if (*j->p == '{')
        return container(j, depth, '}');
    if (*j->p == '[')
        return container(j, depth, ']');
    if ((v = jalloc(j, sizeof(*v))) == NULL)
        return NULL;
    if (*j->p == '"') {
        v->type = J_STR;
        return (v->str = string(j)) ? v : NULL;
    }
    if ((size_t)(j->end - j->p) >= 4 && !strncmp(j->p, "true", 4)) {
        v->type = J_BOOL;
        v->b = true;
        j->p += 4;
        return v;
    }
    if ((size_t)(j->end - j->p) >= 5 && !strncmp(j->p, "false", 5)) {
        v->type = J_BOOL;
        j->p += 5;
        return v;
    }
    if ((size_t)(j->end - j->p) >= 4 && !strncmp(j->p, "null", 4)) {
        v->type = J_NULL;
        j->p += 4;
        return v;
    }
    {
        char buf[64], *end;
        size_t n = 0;
        while (j->p + n < j->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", j->p[n]))
            n++;
        memcpy(buf, j->p, n);
        buf[n] = 0;
        v->num = strtod(buf, &end);
        if (n == 0 || *end)
            return jerr(j, "unexpected character"), NULL;
        v->type = J_NUM;
        j->p += n;
        return v;
    }
}

struct json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct json_doc *d = calloc(1, sizeof(*d));
    struct jp j = { text, text, text + len, err, errlen, d };

    if (!d)
        return NULL;
    d->root = value(&j, 0);
    if (d->root) {
        ws(&j);
        if (j.p != j.end) {
            jerr(&j, "trailing data");
            d->root = NULL;
        }
    }
    if (!d->root) {
        json_free(d);
        return NULL;
    }
    return d;
}

void json_free(struct json_doc *d)
{
    struct json_block *b, *n;

    if (!d)
        return;
    for (b = d->blocks; b; b = n) {
        n = b->next;
        free(b);
    }
    free(d);
}

const struct json *json_get(const struct json *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (const struct json *e = obj->child; e; e = e->next)
        if (e->key && !strcmp(e->key, key))
            return e;
    return NULL;
}

const char *json_str(const struct json *obj, const char *key, const char *def)
{
    const struct json *v = json_get(obj, key);
    return v && v->type == J_STR ? v->str : def;
}

double json_num(const struct json *obj, const char *key, double def)
{
    const struct json *v = json_get(obj, key);
    return v && v->type == J_NUM ? v->num : def;
}

bool json_bool(const struct json *obj, const char *key, bool def)
{
    const struct json *v = json_get(obj, key);
    return v && v->type == J_BOOL ? v->b : def;
}
