#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages vpxi needs to build, test and run
# its demonstration. Idempotent: does nothing when everything is present.
set -eu

PKGS=(
    # build
    build-essential cmake pkg-config git
    libssl-dev libsqlite3-dev libcurl4-openssl-dev
    # sanitizers, fuzzing, formatting
    clang libclang-rt-14-dev llvm clang-format
    # independent checkers used by the tests
    nettle-bin python3 python3-cryptography python3-pycryptodome
    # tools used by the scripts and the network-namespace tests
    jq bc iproute2 procps iputils-ping iperf3 netcat-openbsd tcpdump ethtool
    tshark python3-scapy busybox-static nftables sqlite3 openssl
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark: no setuid dumpcap, no question asked
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
