/*
 * esp.h - ESP (RFC 4303) for HIP (RFC 7402) in user space.
 *
 * One object per direction: an outbound SA seals inner packets, an inbound
 * SA opens ESP packets in place. Packets start at the SPI (UDP encapsulation,
 * RFC 3948 framing, is the caller's business). Sequence numbers are 64-bit
 * (ESN, mandatory for HIP): the low 32 bits travel, the high 32 bits enter
 * the ICV / AAD. No locking inside: each SA is used by one thread at a time.
 *
 * Suites (RFC 7402 ESP_TRANSFORM suite IDs):
 *   13  AES-128-GCM, 16-octet ICV (RFC 4106): the default. Key material is
 *       the 16-byte AES key followed by the 4-byte salt (20 bytes drawn as the
 *       "encryption key", no authentication key); the 8-byte explicit IV is
 *       the 64-bit sequence number; AAD = SPI || ESN high || ESN low.
 *   7   NULL encryption + HMAC-SHA-256-128 (RFC 4868): integrity-only links.
 *   8   AES-128-CBC (RFC 3602, random-looking IV per packet) + HMAC-SHA-256-128.
 * Padding is the RFC 4303 default (1, 2, 3, ...), checked on input.
 */
#ifndef VPXI_ESP_H
#define VPXI_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vpxi/err.h"

enum vpxi_esp_suite {
    VPXI_ESP_NULL_SHA256 = 7,
    VPXI_ESP_AES128CBC_SHA256 = 8,
    VPXI_ESP_AES128GCM16 = 13,
    VPXI_ESP_AES128GMAC = 15, /* NULL encryption, AES-GMAC ICV (RFC 4543): integrity */
    /* "clear": ESP framing (SPI, sequence number, anti-replay) with neither
     * encryption nor ICV, for links a VPXI specification declares clear
     * (inside one trusted site). Not an RFC 7402 suite: a private-use ID that
     * only vpxi peers offer, and only on such links (docs/hip.md). */
    VPXI_ESP_CLEAR = 0xff01,
};

enum vpxi_esp_limits {
    VPXI_ESP_HDR_LEN = 8,       /* SPI + sequence number */
    VPXI_ESP_OVERHEAD_MAX = 64, /* header + IV + padding + trailer + ICV, any suite */
    VPXI_ESP_KEY_MAX = 36,      /* bytes of an encryption key (with salt) */
    VPXI_ESP_AUTH_KEY_MAX = 32,
    VPXI_ESP_REPLAY_WINDOW = 4096, /* packets: the anti-replay window */
};

/* Next Header values we carry: the inner packet is a whole IP packet. */
enum vpxi_esp_next_header {
    VPXI_ESP_NH_IPV4 = 4,
    VPXI_ESP_NH_IPV6 = 41,
    VPXI_ESP_NH_NONE = 59, /* dummy packet: dropped silently on input */
};

struct vpxi_esp_keys {
    uint8_t enc[VPXI_ESP_KEY_MAX];
    size_t enc_len;
    uint8_t auth[VPXI_ESP_AUTH_KEY_MAX];
    size_t auth_len;
};

/* Per-SA counters. Inbound drops are counted by reason. */
struct vpxi_esp_stats {
    uint64_t packets, bytes; /* good packets and their inner bytes */
    uint64_t drop_truncated; /* shorter than header + IV + trailer + ICV */
    uint64_t drop_replay;    /* duplicate inside the window */
    uint64_t drop_old;       /* left of the window */
    uint64_t drop_auth;      /* ICV / GCM tag does not verify */
    uint64_t drop_padding;   /* bad padding or pad length after decryption */
    uint64_t drop_dummy;     /* next header 59 */
};

bool vpxi_esp_suite_supported(unsigned suite);
const char *
vpxi_esp_suite_name(unsigned suite); /* "aes128-gcm16", "null-sha256", "aes128-cbc-sha256" */
/* Key lengths to draw from KEYMAT for this suite (RFC 7402 order: enc then auth). */
size_t vpxi_esp_enc_key_len(unsigned suite);
size_t vpxi_esp_auth_key_len(unsigned suite);
/* Bytes an ESP packet adds to an inner packet of len bytes. */
size_t vpxi_esp_overhead(unsigned suite, size_t len);

/* ---- outbound ------------------------------------------------------------- */

struct vpxi_esp_out;

int vpxi_esp_out_new(unsigned suite, uint32_t spi, const struct vpxi_esp_keys *k,
                     struct vpxi_esp_out **out) VPXI_WUR;
void vpxi_esp_out_free(struct vpxi_esp_out *sa); /* wipes the keys */
/*
 * Seals one inner packet into out (cap >= len + vpxi_esp_overhead()).
 * VPXI_ERR_LIMIT when the SA has reached its hard limit (the caller must
 * have rekeyed: nothing is sent).
 */
int vpxi_esp_seal(struct vpxi_esp_out *sa, uint8_t next_header, const uint8_t *in, size_t len,
                  uint8_t *out, size_t cap, size_t *outlen) VPXI_WUR;
/* Soft limit reached: time to rekey. Hard limit: no more packets. Defaults:
 * soft 2^40 packets or 2^50 bytes, hard 2^48 packets or 2^56 bytes. */
void vpxi_esp_out_set_limits(struct vpxi_esp_out *sa, uint64_t soft_packets, uint64_t hard_packets,
                             uint64_t soft_bytes, uint64_t hard_bytes);
bool vpxi_esp_out_soft_expired(const struct vpxi_esp_out *sa);
/*
 * 32-bit sequence numbers instead of ESN (esn = false): the high half enters
 * neither the GCM AAD nor the HMAC, and the SA ends at 2^32 - 1 packets (soft
 * limit 2^24 earlier). RFC 7402 makes ESN mandatory for HIP, and it is the
 * default; this mode exists for peers and analysers without ESN support
 * (tshark 4.0 cannot verify ESN ICVs). Both ends must agree. Call before the
 * first packet.
 */
void vpxi_esp_out_set_esn(struct vpxi_esp_out *sa, bool esn);
uint64_t vpxi_esp_out_seq(const struct vpxi_esp_out *sa); /* last sequence number used */
uint32_t vpxi_esp_out_spi(const struct vpxi_esp_out *sa);
const struct vpxi_esp_stats *vpxi_esp_out_stats(const struct vpxi_esp_out *sa);

/* ---- inbound -------------------------------------------------------------- */

struct vpxi_esp_in;

int vpxi_esp_in_new(unsigned suite, uint32_t spi, const struct vpxi_esp_keys *k,
                    struct vpxi_esp_in **out) VPXI_WUR;
void vpxi_esp_in_free(struct vpxi_esp_in *sa);
/*
 * Opens one ESP packet in place: anti-replay pre-check, ICV / tag check,
 * decryption, padding check, and only then the window update. On success
 * *inner points into pkt. Errors (each counted in the SA's stats):
 * VPXI_ERR_TRUNCATED, VPXI_ERR_REPLAY (duplicate or too old), VPXI_ERR_BAD_MAC,
 * VPXI_ERR_BAD_FORMAT (padding), VPXI_ERR_NOT_FOUND (dummy packet).
 * No plaintext is released from a packet that fails.
 */
int vpxi_esp_open(struct vpxi_esp_in *sa, uint8_t *pkt, size_t len, uint8_t **inner,
                  size_t *inner_len, uint8_t *next_header) VPXI_WUR;
/* See vpxi_esp_out_set_esn(). */
void vpxi_esp_in_set_esn(struct vpxi_esp_in *sa, bool esn);
uint32_t vpxi_esp_in_spi(const struct vpxi_esp_in *sa);
uint64_t vpxi_esp_in_highest(const struct vpxi_esp_in *sa); /* highest authenticated seq */
const struct vpxi_esp_stats *vpxi_esp_in_stats(const struct vpxi_esp_in *sa);

/* SPI of an ESP packet (len >= 4 checked by the caller). */
static inline uint32_t vpxi_esp_peek_spi(const uint8_t *pkt)
{
    return (uint32_t)pkt[0] << 24 | (uint32_t)pkt[1] << 16 | (uint32_t)pkt[2] << 8 | pkt[3];
}

/*
 * One line for tshark's esp_sa table (uat:esp_sa) describing this SA, e.g.
 *   "IPv4","*","*","0x00001234","AES-GCM with 16 octet ICV [RFC4106]","0x<key><salt>","NULL",""
 * family is "IPv4" or "IPv6" (the outer header). Returns 0 or VPXI_ERR_TOO_LARGE.
 */
int vpxi_esp_keylog_line(const char *family, unsigned suite, uint32_t spi,
                         const struct vpxi_esp_keys *k, char *buf, size_t cap) VPXI_WUR;

#endif
