#!/usr/bin/python3
"""esp_scapy.py - decrypts captured vpxi ESP-in-UDP packets with scapy.

Usage: esp_scapy.py PCAP KEYLOG [esn|noesn]

KEYLOG holds vpxi's key log (tshark esp_sa lines). Every ESP datagram of
PCAP is decrypted and authenticated by scapy's independent implementation
(AES-GCM-16 with key||salt, or NULL / AES-CBC with HMAC-SHA-256-128; ESN
with the high half 0, or 32-bit sequence numbers with "noesn"); the inner packet must be IPv4 or IPv6. Prints
"ok N" with the number of packets verified, or the first failure and exits 1.
"""
import sys

from scapy.all import IP, UDP, rdpcap, Raw  # Debian python3-scapy
from scapy.layers.ipsec import ESP, SecurityAssociation

ENC = {'AES-GCM with 16 octet ICV [RFC4106]': 'AES-GCM', 'NULL': 'NULL',
       'AES-CBC [RFC3602]': 'AES-CBC'}
AUTH = {'NULL': 'NULL', 'HMAC-SHA-256-128 [RFC4868]': 'SHA2-256-128'}


def load_sas(path, esn):
    sas = {}
    for line in open(path):
        f = [x.strip('"') for x in line.strip().split('","')]
        if len(f) < 8:
            continue
        spi = int(f[3], 16)
        ekey = bytes.fromhex(f[5][2:]) if f[5].startswith('0x') else b''
        akey = bytes.fromhex(f[7][2:]) if f[7].startswith('0x') else None
        kw = dict(proto=ESP, spi=spi, crypt_algo=ENC[f[4]], auth_algo=AUTH[f[6]])
        if esn:
            kw.update(esn_en=True, esn=0)
        if ENC[f[4]] != 'NULL':
            kw['crypt_key'] = ekey
        if akey:
            kw['auth_key'] = akey
        sas[spi] = SecurityAssociation(**kw)
    return sas


def main():
    sas = load_sas(sys.argv[2], len(sys.argv) < 4 or sys.argv[3] != 'noesn')
    n = 0
    for p in rdpcap(sys.argv[1]):
        if IP not in p or UDP not in p or p[UDP].dport != 10500:
            continue
        data = bytes(p[UDP].payload)
        if len(data) < 8 or data[:4] == b'\x00\x00\x00\x00':
            continue
        spi = int.from_bytes(data[:4], 'big')
        if spi not in sas:
            print('no key for SPI 0x%08x' % spi)
            sys.exit(1)
        pkt = IP(src=p[IP].src, dst=p[IP].dst) / ESP(data)
        try:
            inner = sas[spi].decrypt(pkt)
        except Exception as e:  # scapy raises on a bad ICV or padding
            print('SPI 0x%08x seq %d: %s' % (spi, int.from_bytes(data[4:8], 'big'), e))
            sys.exit(1)
        raw = bytes(inner.payload) if inner.haslayer(Raw) or True else b''
        # tunnel mode: the decrypted payload is a whole IP packet
        if not raw or raw[0] >> 4 not in (4, 6):
            print('SPI 0x%08x: inner packet is not IP' % spi)
            sys.exit(1)
        n += 1
    print('ok %d' % n)
    sys.exit(0 if n else 1)


if __name__ == '__main__':
    main()
