/*
 * json.h - a small JSON reader for the CLI, to print daemon replies for
 * humans. Values live in one arena freed by json_free(). Bounded: depth 64,
 * input 64 MiB (the control protocol's limit).
 */
#ifndef VPXI_CLI_JSON_H
#define VPXI_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
    enum json_type type;
    bool b;
    double num;
    char *str;          /* J_STR (NUL-terminated), also member keys */
    struct json *child; /* J_ARR / J_OBJ elements */
    struct json *next;  /* next element */
    char *key;          /* member name inside an object */
};

struct json_block;
struct json_doc {
    struct json *root;
    struct json_block *blocks; /* every allocation, freed together */
};

/* NULL on error with a message in err. */
struct json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json_doc *d);
/* Member of an object, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* Convenience with defaults when missing or of another type. */
const char *json_str(const struct json *obj, const char *key, const char *def);
double json_num(const struct json *obj, const char *key, double def);
bool json_bool(const struct json *obj, const char *key, bool def);

#endif
