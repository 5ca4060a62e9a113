/*
 * loop.c - epoll-driven event loop of the control thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "vpxi/alloc.h"

#include "log.h"
#include "loop.h"
#include "timers_int.h"

enum { MAX_FDS = 1024, EVENTS_PER_WAIT = 32 };

struct fd_slot {
    io_cb cb;
    void *arg;
};

struct loop {
    int epfd;
    bool running;
    struct fd_slot fds[MAX_FDS];
    struct timer_heap heap;
};

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wall_s(void)
{
    return (int64_t)time(NULL);
}

struct loop *loop_new(void)
{
    struct loop *l = vpxi_calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        vpxi_free(l);
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    timer_heap_clear(&l->heap);
    vpxi_free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, io_cb cb, void *arg)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };

    if (fd < 0 || fd >= MAX_FDS)
        return -1;
    l->fds[fd].cb = cb;
    l->fds[fd].arg = arg;
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *l, int fd)
{
    if (fd < 0 || fd >= MAX_FDS)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd].cb = NULL;
    l->fds[fd].arg = NULL;
}

void timer_init(struct timer *t, const char *name, timer_cb cb, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->cb = cb;
    t->arg = arg;
    t->idx = -1;
}

void timer_arm(struct loop *l, struct timer *t, int64_t when_ms)
{
    if (t->idx >= 0)
        timer_heap_remove(&l->heap, t);
    t->when_ms = when_ms;
    if (timer_heap_insert(&l->heap, t) != 0)
        log_err("timer heap full: %s not armed", t->name ? t->name : "?");
}

void timer_arm_in(struct loop *l, struct timer *t, int64_t delay_ms)
{
    timer_arm(l, t, now_ms() + delay_ms);
}

void timer_cancel(struct loop *l, struct timer *t)
{
    if (t->idx >= 0)
        timer_heap_remove(&l->heap, t);
}

static void run_timers(struct loop *l)
{
    int64_t now = now_ms();
    struct timer *t;

    /* a callback may re-arm its own timer or others: take one at a time */
    while ((t = timer_heap_top(&l->heap)) != NULL && t->when_ms <= now) {
        timer_heap_remove(&l->heap, t);
        t->cb(l, t->arg);
    }
}

void loop_run(struct loop *l)
{
    struct epoll_event ev[EVENTS_PER_WAIT];

    l->running = true;
    while (l->running) {
        struct timer *t = timer_heap_top(&l->heap);
        int timeout = -1, n;

        if (t) {
            int64_t d = t->when_ms - now_ms();
            timeout = d <= 0 ? 0 : d > 60000 ? 60000 : (int)d;
        }
        n = epoll_wait(l->epfd, ev, EVENTS_PER_WAIT, timeout);
        if (n < 0 && errno != EINTR) {
            log_err("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n && l->running; i++) {
            int fd = ev[i].data.fd;
            if (fd >= 0 && fd < MAX_FDS && l->fds[fd].cb)
                l->fds[fd].cb(l, fd, ev[i].events, l->fds[fd].arg);
        }
        run_timers(l);
    }
}

void loop_stop(struct loop *l)
{
    l->running = false;
}
