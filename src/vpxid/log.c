/*
 * log.c - leveled logging to standard error (the service manager or the
 * test harness keeps it). One line per message: time, level, function, text.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum log_level current = LOG_INFO;
static bool stamps = true;
static char prefix[24]; /* role name of a child process, "" in the daemon */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const names[] = { "err", "warn", "info", "proto", "debug" };

void log_init(enum log_level level, bool timestamps)
{
    current = level;
    stamps = timestamps;
    setvbuf(stderr, NULL, _IOLBF, 0);
}

void log_set_prefix(const char *p)
{
    snprintf(prefix, sizeof(prefix), "[%s]", p);
}

void log_set_level(enum log_level level)
{
    current = level;
}

enum log_level log_get_level(void)
{
    return current;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

__attribute__((format(printf, 3, 0))) static void vlog(enum log_level level, const char *func,
                                                       const char *fmt, va_list ap)
{
    struct timespec ts;
    struct tm tm;
    char when[32] = "";

    if (stamps) {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(when, sizeof(when), "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000);
    }
    pthread_mutex_lock(&lock);
    fprintf(stderr, "%s%s%s%-5s %s: ", when, prefix, prefix[0] ? " " : "", names[level], func);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&lock);
}

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
    va_list ap;

    if (level > current)
        return;
    va_start(ap, fmt);
    vlog(level, func, fmt, ap);
    va_end(ap);
}

void log_msg_rl(struct log_ratelimit *rl, enum log_level level, const char *func, const char *fmt,
                ...)
{
    enum { BURST = 10 };
    struct timespec ts;
    va_list ap;

    if (level > current)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec != rl->window_start) {
        if (rl->suppressed)
            log_msg(level, func, "(%u similar messages suppressed)", rl->suppressed);
        rl->window_start = ts.tv_sec;
        rl->count = rl->suppressed = 0;
    }
    if (++rl->count > BURST) {
        rl->suppressed++;
        return;
    }
    va_start(ap, fmt);
    vlog(level, func, fmt, ap);
    va_end(ap);
}
