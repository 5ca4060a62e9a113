/*
 * loop.h - the control thread's event loop: epoll for file descriptors and a
 * binary heap of timers (see timers.c for the list of every timer).
 * Not thread-safe: only the control thread touches the loop; other threads
 * wake it through an eventfd registered like any other descriptor.
 */
#ifndef VPXID_LOOP_H
#define VPXID_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

typedef void (*io_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*timer_cb)(struct loop *l, void *arg);

struct timer {
    int64_t when_ms; /* CLOCK_MONOTONIC milliseconds */
    timer_cb cb;
    void *arg;
    long idx;         /* position in the heap, -1 when not armed */
    const char *name; /* for debugging */
};

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Registers fd for events (EPOLLIN...); cb runs on each event. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, io_cb cb, void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
void loop_del_fd(struct loop *l, int fd);
/* Arms (or re-arms) t to fire at when_ms. */
void timer_init(struct timer *t, const char *name, timer_cb cb, void *arg);
void timer_arm(struct loop *l, struct timer *t, int64_t when_ms);
void timer_arm_in(struct loop *l, struct timer *t, int64_t delay_ms);
void timer_cancel(struct loop *l, struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
    return t->idx >= 0;
}
/* Runs until loop_stop(). */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Monotonic and wall clocks in milliseconds / seconds. */
int64_t now_ms(void);
int64_t wall_s(void);

#endif
