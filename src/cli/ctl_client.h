/*
 * ctl_client.h - talks to a local vpxid over its control socket
 * (protocol in src/vpxid/control.h).
 */
#ifndef VPXI_CTL_CLIENT_H
#define VPXI_CTL_CLIENT_H

#include <stddef.h>

#define CTL_DEFAULT_SOCKET "/run/vpxid.sock"

/* The socket path: --socket, else $VPXI_SOCKET, else the default. */
const char *ctl_socket_path(const char *opt);
/*
 * Sends "VPXI-CTL 1 argv..." and reads the reply. On OK returns 0 with the
 * malloc'd JSON body in *body. On a daemon error returns 1 with the error
 * name and message in err; on a transport error returns -1 with a message.
 */
int ctl_call(const char *socket_path, int argc, const char *const *argv, char **body, size_t *len,
             char *err, size_t errlen);

#endif
