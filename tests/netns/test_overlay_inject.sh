#!/usr/bin/env bash
# test_overlay_inject.sh - hostile packets are dropped and counted, never
# crash the daemon, never create state.
#
#   ns1 (n1) --+-- ns2 (n2, the target) --+-- ns3 (attacker: no vpxid)
#              bridge in ns0, 198.18.0.0/24
#
# Traffic between n1 and n2 (a base exchange, pings, a TCP transfer) is
# captured on n1's wire; the attacker (ns3) then sends n2, from its own
# address: replays, reordered copies, truncations, bit flips, unknown SPIs,
# and malformed HIP packets (every truncation, bit flips, parameters out of
# order, an unknown critical parameter). n2 must count each class in
# `vpxi status`, keep running, keep its association, and create no state
# for the attacker.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq tcpdump ethtool nft /usr/bin/python3
/usr/bin/python3 -c 'import scapy' 2>/dev/null || nn_skip "needs python3-scapy"

nn_topology 3
nn_overlay_setup 2 demo || exit 1
D=$NN_DIR
INJ="/usr/bin/python3 $(dirname "$0")/inject.py"

# software segmentation on n1's side, so the capture holds real datagrams
nq 1 ethtool -K eth0 tx-udp-segmentation off >/dev/null 2>&1
nn_start 1 cap tcpdump --immediate-mode -i eth0 -U -w "$D/seen.pcap" udp port 10500
ok nn_wait 5 test -s "$D/cap.log"
nn_vpxid 1
nn_vpxid 2
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
nq 1 ping -q -c 50 -i 0.01 100.64.0.2 >/dev/null
nn_start 2 sink sh -c "nc -l 100.64.0.2 9000 >/dev/null"
ok nn_wait 5 nq 2 ss -ltn 'sport = :9000'
head -c 2M /dev/urandom | nq 1 nc -N 100.64.0.2 9000
# (conditions are functions: nn_wait re-evaluates them on every try)
size_gt() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt "$2" ]; }
# enough ESP packets for the injections below (the capture itself may lose
# some of the 2 MB when a sanitized build runs on a loaded machine)
ok nn_wait 15 size_gt "$D/seen.pcap" 500000
nn_stop "$PID_cap" INT
ok test -s "$D/seen.pcap"

# Withheld packets: n2 drops everything from n1 for a moment while n1 keeps
# sending; the capture then holds ESP packets n2 has never seen (fresh
# sequence numbers: the replay pre-check lets them through to the ICV).
nn_start 1 cap2 tcpdump --immediate-mode -i eth0 -U -w "$D/fresh.pcap" udp port 10500
ok nn_wait 5 test -s "$D/cap2.log"
nq 2 nft -f - <<'NFT'
table inet vpxitest {
    chain in {
        type filter hook input priority 0;
        ip saddr 198.18.0.1 udp dport 10500 drop
    }
}
NFT
nq 1 ping -q -c 40 -i 0.01 -W 0.1 100.64.0.2 >/dev/null
ok nn_wait 15 size_gt "$D/fresh.pcap" 4000
nq 2 nft delete table inet vpxitest
nn_stop "$PID_cap2" INT

drop() { js 2 ".peers[] | select(.name == \"n1\") | .drops.$1"; }
dp() { js 2 ".datapath.drops.$1"; }
rxp() { js 2 '.peers[] | select(.name == "n1") | .rx_packets'; }
hipdrops() { js 2 '.hip.drops | to_entries | map(.value) | add'; }
sum() { local t=0 x; for x in "$@"; do t=$((t + x)); done; echo $t; }

# --- replays of delivered packets: duplicates (or beyond the window)
before=$(sum $(drop esp_replayed) $(drop esp_too_old))
sent=$(nq 3 $INJ "$D/seen.pcap" 198.18.0.2 replay)
ok nn_wait 5 eval 'test $(( $(sum $(drop esp_replayed) $(drop esp_too_old)) - before )) -eq "$sent"'
echo "replay: $sent sent, all dropped as duplicates"

# --- bit flips in fresh packets: the ICV catches every one
before=$(drop esp_bad_icv)
sent=$(nq 3 $INJ "$D/fresh.pcap" 198.18.0.2 corrupt)
ok nn_wait 5 eval 'test $(( $(drop esp_bad_icv) - before )) -eq "$sent"'
echo "corrupt: $sent sent, $(( $(drop esp_bad_icv) - before )) bad ICV"

# --- truncations of fresh packets: too short to be ESP, truncated, or bad ICV
# (a length the padding rules cannot produce is refused before any
# cryptography, counted as bad padding)
truncs() { sum $(drop esp_truncated) $(drop esp_bad_icv) $(drop esp_bad_padding) $(dp rx_short); }
before=$(truncs)
sent=$(nq 3 $INJ "$D/fresh.pcap" 198.18.0.2 truncate)
ok nn_wait 5 eval 'test $(( $(truncs) - before )) -eq "$sent"'
echo "truncate: $sent sent: truncated $(drop esp_truncated), short $(dp rx_short), bad padding $(drop esp_bad_padding), bad ICV $(drop esp_bad_icv)"

# --- the fresh packets themselves, in reverse order: inside the window, so
# accepted once (legal reordering), then duplicates
before=$(rxp)
sent=$(nq 3 $INJ "$D/fresh.pcap" 198.18.0.2 reorder)
ok nn_wait 5 eval 'test $(( $(rxp) - before )) -eq "$sent"'
before=$(drop esp_replayed)
nq 3 $INJ "$D/fresh.pcap" 198.18.0.2 reorder >/dev/null
ok nn_wait 5 eval 'test $(( $(drop esp_replayed) - before )) -eq "$sent"'
echo "reorder: $sent accepted once inside the window, then counted as replays"

# --- beyond the window: after more than 4096 newer packets, the withheld
# packets are too old (the window has moved past them)
# (RFC 4303 Appendix A: a sequence number left of the window is taken to
# belong to the next 2^32 subspace, so it fails its ICV: counted as bad ICV,
# or as too old when no such subspace can exist)
nq 1 ping -q -f -c 5000 100.64.0.2 >/dev/null
before=$(sum $(drop esp_too_old) $(drop esp_bad_icv))
sent=$(nq 3 $INJ "$D/seen.pcap" 198.18.0.2 replay)
ok nn_wait 5 eval 'test $(( $(sum $(drop esp_too_old) $(drop esp_bad_icv)) - before )) -eq "$sent"'
echo "beyond the window: $sent sent, all dropped (too old $(drop esp_too_old), bad ICV $(drop esp_bad_icv))"

# --- unknown SPIs
before=$(dp rx_unknown_spi)
sent=$(nq 3 $INJ "$D/seen.pcap" 198.18.0.2 spi)
unknown_spi_counted() { [ $(( $(dp rx_unknown_spi) - before )) -eq "$sent" ]; }
ok nn_wait 10 unknown_spi_counted

# --- malformed HIP: dropped and counted by reason, no state for the attacker
before=$(hipdrops)
sent=$(nq 3 $INJ "$D/seen.pcap" 198.18.0.2 hip)
hip_drops_grew() { [ $(( $(hipdrops) - before )) -gt 0 ]; }
ok nn_wait 10 hip_drops_grew
echo "hip: $sent malformed packets sent, HIP drops by reason: $(js 2 '.hip.drops | with_entries(select(.value > 0))' | tr -d '\n ')"
eq "$(js 2 '.peers | length')" 1 "no state created for the attacker"

# --- the daemon and the association are unharmed
ok kill -0 "$PID_d2"
eq "$(peer_state 2 n1)" ESTABLISHED "association intact"
ok nq 1 ping -c1 -W1 100.64.0.2
ok nq 2 ping -c1 -W1 100.64.0.1
nn_done
