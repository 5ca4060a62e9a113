/*
 * svc.h - TCP over the overlay for the vpxi services (docs/protocol.md):
 * length-framed canonical S-expression messages between HIT addresses.
 * Blocking sockets with timeouts; used by the CLI and by the daemon's
 * service threads (registrar, host agent, node exec), never by the control
 * thread's loop.
 */
#ifndef VPXI_SVC_H
#define VPXI_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include "vpxi/msg.h"
#include "vpxi/sexp.h"

enum svc_ports {
    SVC_PORT_REGISTRAR = 10510,
    SVC_PORT_HOSTAGENT = 10511,
    SVC_PORT_EXEC = 10512,
};

enum { SVC_TIMEOUT_MS = 60000 };

/*
 * A listening socket on [::]:port bound to the TUN device ifname, so that
 * only connections that came through the overlay are accepted. fd or -errno.
 */
int svc_listen(const char *ifname, uint16_t port);
/* Accepts one connection; hit receives the requester's HIT (its source
 * address). -EPERM (connection closed) if the source is not an ORCHID. */
int svc_accept(int lfd, uint8_t hit[16]);
/* Connects to hit:port within timeout_ms. fd or -errno. */
int svc_connect(const uint8_t hit[16], uint16_t port, int timeout_ms);
/* Sends one message. 0 or -errno. */
int svc_send(int fd, const struct vpxi_sexp *msg);
/* Receives and parses one message into sx. 0, -ETIMEDOUT, -ECONNRESET (peer
 * closed), -EMSGSIZE, or a VPXI_ERR_* from parsing (negative too). */
int svc_recv(int fd, struct vpxi_sx *sx, struct vpxi_msg *m, int timeout_ms);
/* connect + send req + receive the reply with the same id. */
int svc_call(const uint8_t hit[16], uint16_t port, struct vpxi_sx *sx, const struct vpxi_sexp *req,
             struct vpxi_msg *reply, int timeout_ms);
/* A short text for an svc_* error (errno or VPXI_ERR_*). */
const char *svc_strerror(int r);
/* Next request id for this process (thread-safe). */
void svc_next_id(char out[static 24]);

#endif
