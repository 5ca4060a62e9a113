/*
 * roles.h - the service roles of vpxid (registrar, host agent, node exec
 * service), each run in its own child process so that a slow request or a
 * crash never stalls the overlay's control thread, and so that each keeps
 * only the privileges it needs.
 *
 * The daemon forks the roles once its overlays (and their TUN devices)
 * exist. A role that dies is restarted after a pause (at most 5 times a
 * minute); if it cannot be (it needs root and the daemon has dropped its
 * privileges), the daemon stops so that the system's supervisor restarts
 * it whole. SIGTERM to the daemon stops the roles first.
 */
#ifndef VPXID_ROLES_H
#define VPXID_ROLES_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

struct daemon;

/* Each *_main runs in the child process with every signal unblocked and
 * SIGTERM/SIGINT set to their default action unless it installs its own
 * handler; it returns the process exit status. */
int registrar_main(const struct config *c);
int hostagent_main(const struct config *c);
int execsvc_main(const struct config *c);

/* Replies (reply (id ID) (error CODE MESSAGE)) on a service connection and
 * logs the refusal; MESSAGE is formatted. Returns svc_send's result. */
int role_reply_error(int fd, const char *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Starts the configured roles. -1 on failure (logged). */
int roles_start(struct daemon *d);
/* Reaps children after SIGCHLD and restarts the roles that died. */
void roles_reap(struct daemon *d);
/* SIGTERM to every role, waits up to 10 s (host agents tear nodes down),
 * then SIGKILL. */
void roles_stop(struct daemon *d);

#endif
