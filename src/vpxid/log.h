/*
 * log.h - vpxid logging: levels after tinc (connections, protocol, traffic,
 * packet), peers named as HIT-short@addr:port, rate limits for anything an
 * unauthenticated packet can trigger. Never log key material.
 */
#ifndef VPXID_LOG_H
#define VPXID_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "vpxi/err.h"

enum log_level {
    LOG_ERR = 0,   /* the daemon or an overlay cannot work as configured */
    LOG_WARN = 1,  /* refusals, expiries, lost peers */
    LOG_INFO = 2,  /* connections: associations up/down, rekeys, reloads */
    LOG_PROTO = 3, /* protocol: each HIP packet handled */
    LOG_DEBUG = 4, /* traffic and packet detail */
};

void log_init(enum log_level level, bool timestamps);
void log_set_level(enum log_level level);
/* Tags every line of this process with "[p]" (role processes). */
void log_set_prefix(const char *p);
enum log_level log_get_level(void);
/* Parses "err", "warn", "info", "proto", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, but drops messages beyond `burst` per second per call site
 * (key: the static state passed in), counting what was suppressed. */
struct log_ratelimit {
    int64_t window_start;
    unsigned count, suppressed;
};
void log_msg_rl(struct log_ratelimit *rl, enum log_level level, const char *func, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

#define log_err(...)   log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_proto(...) log_msg(LOG_PROTO, __func__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)
/* With the library error appended: log_err_r(r, "parse cert") -> "parse cert: <strerror>" */
#define log_err_r(r, fmt, ...)                                                                     \
    log_msg(LOG_ERR, __func__, fmt ": %s", ##__VA_ARGS__, vpxi_strerror(r))
#define log_warn_r(r, fmt, ...)                                                                    \
    log_msg(LOG_WARN, __func__, fmt ": %s", ##__VA_ARGS__, vpxi_strerror(r))
/* Rate-limited debug for events triggered by unauthenticated input. */
#define log_unauth(...)                                                                            \
    do {                                                                                           \
        static struct log_ratelimit rl_;                                                           \
        log_msg_rl(&rl_, LOG_PROTO, __func__, __VA_ARGS__);                                        \
    } while (0)

#endif
