#!/usr/bin/env bash
# test_esp_scapy.sh - our ESP packets, checked byte for byte by scapy's IPsec
# implementation (scapy 2.5 on Python's cryptography), an implementation we
# did not write.
#
# test_esp --emit-vectors writes JSON vectors: per suite (13, 7, 8, 15) random
# keys, inner lengths around every padding boundary plus 1400 and 8000 bytes,
# dummy packets (next header 59), and sequence numbers on both sides of 2^32.
# For each vector:
#   suite 13  scapy decrypts it (esn_en, esn = high half: the tag must verify)
#             and re-encrypts inner with our IV to exactly our bytes;
#   suites 7, 8  scapy decrypts it (AES-CBC with our IV, or NULL) and its
#             encryption with our IV gives exactly our bytes up to the ICV.
#             scapy 2.5 leaves the ESN high half out of ESP ICVs (it adds it
#             for AH only), so the ICV is checked with Python's hmac module as
#             HMAC-SHA-256(key, SPI .. Next Header || Seq high)[:16], and scapy
#             is shown to disagree exactly when ESN is what differs.
#   suite 15  (AES-GMAC, which scapy 2.5 lacks) the ICV is verified with
#             Python's cryptography as GCM over nothing with everything as
#             AAD (RFC 4543), a changed byte must fail, the payload is clear.
# In every case the padding must be minimal; its content 1, 2, 3 ... follows
# from the byte equality with scapy's encryption.
set -u
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import scapy.layers.ipsec' 2>/dev/null ||
    { echo "SKIP: scapy not installed for $py (apt-get install python3-scapy)"; exit 77; }
build=${VPXI_BUILD:-$(cd "$(dirname "$0")/../../build" 2>/dev/null && pwd)}
test_esp=$build/tests/test_esp
[ -x "$test_esp" ] || { echo "test_esp not built ($test_esp)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$test_esp" --emit-vectors "$tmp/vectors.json" || { echo "test_esp --emit-vectors failed"; exit 1; }

"$py" - "$tmp/vectors.json" <<'EOF'
import hashlib
import hmac
import json
import struct
import sys

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import IP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw, raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

vectors = json.load(open(sys.argv[1]))
fail = 0
seen = set()
esn_disagree = 0
gmac_checks = 0


def bad(v, what):
    global fail
    fail += 1
    print("FAIL: suite %d seq %#x len %d: %s" % (v["suite"], v["seq"], len(v["inner"]) // 2, what))


for v in vectors:
    suite, spi, seq, nh = v["suite"], v["spi"], v["seq"], v["nh"]
    enc, auth = bytes.fromhex(v["enc"]), bytes.fromhex(v["auth"])
    inner, esp = bytes.fromhex(v["inner"]), bytes.fromhex(v["esp"])
    hi, lo = seq >> 32, seq & 0xFFFFFFFF
    seen.add((suite, hi > 0))
    if struct.unpack("!II", esp[:8]) != (spi, lo):
        bad(v, "SPI or sequence number field")
        continue
    if suite == 15:
        # AES-GMAC (RFC 4543): scapy 2.5 has no GMAC; Python's cryptography
        # checks the ICV as GCM with nothing to encrypt and the whole
        # SPI || Seq high || Seq low || IV || payload .. Next Header as AAD
        gmac_checks += 1
        key, salt, iv, body = enc[:16], enc[16:20], esp[8:16], esp[8:-16]
        if iv != struct.pack("!Q", seq):
            bad(v, "GMAC explicit IV is not the 64-bit sequence number")
        aad = esp[:4] + struct.pack("!I", hi) + esp[4:8] + body
        try:
            if AESGCM(key).decrypt(salt + iv, esp[-16:], aad) != b"":
                bad(v, "GMAC verification returned data")
        except Exception:
            bad(v, "AES-GMAC ICV over SPI || Seq high || Seq low .. Next Header does not verify")
        tampered = bytearray(aad)
        tampered[-3] ^= 1
        try:
            AESGCM(key).decrypt(salt + iv, esp[-16:], bytes(tampered))
            bad(v, "a changed payload byte still verifies")
        except Exception:
            pass
        plain = esp[16:-16]
        padlen, got_nh = plain[-2], plain[-1]
        if plain[:len(inner)] != inner or got_nh != nh:
            bad(v, "payload is not the inner packet in clear, or wrong next header")
        if padlen != (-(len(inner) + 2)) % 4 or len(plain) != len(inner) + padlen + 2:
            bad(v, "padding is not minimal")
        if plain[len(inner):len(inner) + padlen] != bytes(range(1, padlen + 1)):
            bad(v, "padding is not 1, 2, 3 ...")
        continue
    if suite == 13:
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=enc,
                                 auth_algo="NULL", esn_en=True, esn=hi)
        iv, icv_len = esp[8:16], 16
        if iv != struct.pack("!Q", seq):
            bad(v, "GCM explicit IV is not the 64-bit sequence number")
    else:
        crypt = "AES-CBC" if suite == 8 else "NULL"
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo=crypt,
                                 crypt_key=enc if suite == 8 else None, auth_algo="NULL")
        iv, icv_len = (esp[8:24] if suite == 8 else b""), 16
        # the ICV, with the ESN high half (RFC 4303 2.2.1)
        want = hmac.new(auth, esp[:-16] + struct.pack("!I", hi), hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(want, esp[-16:]):
            bad(v, "HMAC-SHA-256-128 ICV over SPI..NH || Seq high does not match")
        # scapy's own ESP ICV (no ESN) agrees only if the high half is left out
        ssa = SecurityAssociation(ESP, spi=spi, crypt_algo=crypt,
                                  crypt_key=enc if suite == 8 else None,
                                  auth_algo="SHA2-256-128", auth_key=auth)
        try:
            ssa.auth_algo.verify(ESP(esp), ssa.auth_key)
            bad(v, "scapy verifies our ICV without the ESN high half")
        except Exception:
            esn_disagree += 1
    # decrypt (GCM: the tag is verified, with the ESN high half in the AAD)
    try:
        plain = sa.crypt_algo.decrypt(sa, ESP(esp), sa.crypt_key, icv_len, esn_en=True, esn=hi)
    except Exception as e:
        bad(v, "scapy cannot decrypt it: %r" % e)
        continue
    if bytes(plain.data) != inner or plain.nh != nh:
        bad(v, "decrypts to different inner bytes or next header")
    # scapy 2.5 returns a wrong plain.padding (it slices the already cut
    # data); the padding content is checked by the byte equality below, as
    # scapy pads with 1, 2, 3 ... (its CryptAlgo.pad)
    if plain.padlen != (-(len(inner) + 2)) % (16 if suite == 8 else 4):
        bad(v, "padding is not minimal")
    # re-encrypt with scapy, our IV and sequence number (set on the SA:
    # encrypt(seq_num=0) would mean "the SA's counter")
    pkt = IP(src="100.64.0.1", dst="100.64.0.2", proto=nh) / Raw(inner)
    sa.seq_num = lo
    try:
        out = sa.encrypt(pkt, iv=iv, esn_en=True, esn=hi)
    except Exception as e:
        bad(v, "scapy cannot encrypt: %r" % e)
        continue
    theirs = raw(out[ESP])
    if suite == 13:
        if theirs != esp:
            bad(v, "scapy's encryption differs from ours")
    elif theirs != esp[:-16]:
        bad(v, "scapy's encryption (up to the ICV) differs from ours")

for s in (13, 7, 8, 15):
    for high in (False, True):
        if (s, high) not in seen:
            print("FAIL: no vector for suite %d %s 2^32" % (s, "above" if high else "below"))
            fail += 1
print("%d vectors (%d AES-GMAC checked with cryptography), %d failures (scapy rejected the ESN "
      "ICV of %d HMAC packets, as expected)" % (len(vectors), gmac_checks, fail, esn_disagree))
sys.exit(1 if fail else 0)
EOF
