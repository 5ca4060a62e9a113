/*
 * timers_int.h - the timer heap behind loop.c (see timers.c).
 */
#ifndef VPXID_TIMERS_INT_H
#define VPXID_TIMERS_INT_H

#include <stddef.h>

#include "loop.h"

struct timer_heap {
    struct timer **h;
    size_t n, cap;
};

int timer_heap_insert(struct timer_heap *th, struct timer *t);
void timer_heap_remove(struct timer_heap *th, struct timer *t);
struct timer *timer_heap_top(const struct timer_heap *th);
void timer_heap_clear(struct timer_heap *th);

#endif
