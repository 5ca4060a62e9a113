#!/usr/bin/python3
"""inject.py - sends hostile variants of captured HIP/ESP traffic.

Usage: inject.py PCAP DST_IP MODE [SEED]

Reads the UDP port 10500 datagrams of PCAP that went to DST_IP (captured
on the wire of a real overlay, with UDP segmentation offload off so that
the capture holds single datagrams) and sends, from this namespace's own address to DST_IP:10500:
  replay    every ESP datagram again, unchanged (replays / duplicates)
  reorder   the ESP datagrams in reverse order
  truncate  every ESP datagram cut at several lengths
  corrupt   every ESP datagram with one random byte flipped
  spi       ESP datagrams with random SPIs that no SA has
  hip       every HIP packet (zero marker) cut at every length, with a
            random byte flipped, with its parameters reordered, and with an
            unknown critical parameter appended
Prints how many datagrams it sent. The receiver must drop and count each.
"""
import random
import socket
import struct
import sys

from scapy.all import IP, UDP, rdpcap  # Debian python3-scapy

PORT = 10500


def datagrams(path, dst):
    """The port 10500 datagrams that were addressed to dst."""
    out = []
    for p in rdpcap(path):
        if IP in p and UDP in p and p[IP].dst == dst and p[UDP].dport == PORT:
            out.append(bytes(p[UDP].payload))
    return out


def hip_variants(pkt, rnd):
    """Hostile variants of one HIP packet (starting at the zero marker)."""
    v = []
    for n in range(4, len(pkt)):
        v.append(pkt[:n])                       # every truncation
    for _ in range(8):
        b = bytearray(pkt)
        i = rnd.randrange(4, len(b))
        b[i] ^= 1 << rnd.randrange(8)
        v.append(bytes(b))                      # bit flips
    hdr, body = pkt[:44], pkt[44:]
    params, off = [], 0
    while off + 4 <= len(body):
        t, ln = struct.unpack('!HH', body[off:off + 4])
        tot = (4 + ln + 7) // 8 * 8
        params.append(body[off:off + tot])
        off += tot
    if len(params) >= 2:
        v.append(hdr + b''.join(reversed(params)))   # parameters out of order
    crit = struct.pack('!HH', 1001, 4) + b'\x00' * 4  # unknown critical (odd) type
    b = bytearray(hdr + body + crit)
    b[5] = min(255, b[5] + 1)                         # header length in 8-byte units
    v.append(bytes(b))
    return v


def main():
    path, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    grams = datagrams(path, dst)
    esp = [g for g in grams if len(g) >= 8 and g[:4] != b'\x00\x00\x00\x00']
    hip = [g for g in grams if len(g) >= 44 and g[:4] == b'\x00\x00\x00\x00']
    send = []
    if mode == 'replay':
        send = esp
    elif mode == 'reorder':
        send = list(reversed(esp))
    elif mode == 'truncate':
        for g in esp:
            for n in sorted({0, 1, 4, 7, 8, 9, 16, len(g) // 2, len(g) - 17, len(g) - 1}):
                if 0 <= n < len(g):
                    send.append(g[:n])
    elif mode == 'corrupt':
        for g in esp:
            b = bytearray(g)
            i = rnd.randrange(8, len(b))   # keep the SPI: reach the ICV check
            b[i] ^= 1 << rnd.randrange(8)
            send.append(bytes(b))
    elif mode == 'spi':
        for g in esp[:200]:
            spi = rnd.randrange(256, 1 << 32)
            send.append(struct.pack('!I', spi) + g[4:])
    elif mode == 'hip':
        for g in hip:
            send.extend(hip_variants(g, rnd))
    else:
        sys.exit('unknown mode ' + mode)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for g in send:
        s.sendto(g, (dst, PORT))
    print(len(send))


if __name__ == '__main__':
    main()
