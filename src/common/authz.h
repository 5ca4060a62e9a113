/*
 * authz.h - authorization of a service request: the requester (known by the
 * HIT its connection came from) proves a right by sending its public key
 * and certificate sequences; they are reduced against the service's ACL for
 * the tag the operation needs.
 */
#ifndef VPXI_AUTHZ_H
#define VPXI_AUTHZ_H

#include <stdint.h>

#include "vpxi/cert.h"
#include "vpxi/msg.h"

/*
 * Checks that the request's (public-key K) hashes to hit, merges every
 * (sequence ...) argument of the request into one pool and reduces it
 * against the ACL in aclfile for want at time now. 0 with the reduced
 * validity in *valid, or an error with a one-line reason in why.
 */
int authz_request(struct vpxi_sx *sx, const struct vpxi_msg *m, const uint8_t hit[16],
                  const char *aclfile, const struct vpxi_sexp *want, int64_t now,
                  struct vpxi_validity *valid, char *why, size_t whylen);

/* Reads a whole S-expression file (any form) into sx. */
int authz_read_sexp(struct vpxi_sx *sx, const char *path, struct vpxi_sexp **out);

#endif
