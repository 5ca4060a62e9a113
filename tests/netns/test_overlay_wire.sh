#!/usr/bin/env bash
# test_overlay_wire.sh - what vpxi puts on the wire, checked by code we did
# not write.
#
#   ns1 (n1) <-- bridge --> ns2 (n2); capture on n1's wire (software UDP
#   segmentation, so the capture holds real datagrams), key log on.
#
# For each ESP suite (AES-128-GCM-16, AES-128-CBC + HMAC-SHA-256,
# NULL + HMAC-SHA-256 on an integrity-only link) a base exchange, pings and
# a TCP transfer are captured, then:
#   - tshark dissects the HIP packets on UDP 10500 (I1, R1, I2, R2 present)
#     with no malformed-packet marks;
#   - tshark, given vpxi's key log, decrypts every ESP packet with
#     esp.icv_good == 1 and none bad;
#   - scapy decrypts and authenticates every ESP packet of the capture.
# tshark 4.0 has no extended sequence numbers (its esp_sa table has no ESN
# field), so these runs use esp-esn = no (32-bit sequence numbers). The
# default ESN mode (RFC 7402) is checked with AES-GCM as well: scapy
# authenticates every packet (its GCM includes the ESN in the AAD), and
# tshark must still decrypt every packet (it cannot check the ICV).
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq tshark tcpdump ethtool nc /usr/bin/python3
/usr/bin/python3 -c 'import scapy.layers.ipsec' 2>/dev/null || nn_skip "needs python3-scapy"
HERE=$(cd "$(dirname "$0")" && pwd)
export HOME=$NN_DIR/home   # tshark writes its profile under HOME
mkdir -p "$HOME"

nn_topology 2
run_suite() { # run_suite NAME OVERLAY-EXTRA PEER-EXTRA EXPECTED-TRANSFORM [esn]
    local name=$1
    echo "--- $name"
    rm -f "$NN_DIR"/n?.* "$NN_DIR"/keys*.txt "$NN_DIR"/H.*
    NN_KEYLOG=1 NN_OVERLAY_EXTRA="$2" NN_PEER_EXTRA="$3" nn_overlay_setup 2 demo || return 1
    nq 1 ethtool -K eth0 tx-udp-segmentation off >/dev/null 2>&1
    nq 2 ethtool -K eth0 tx-udp-segmentation off >/dev/null 2>&1
    : >"$NN_DIR/cap.log"
    nn_start 1 cap tcpdump --immediate-mode -i eth0 -U -w "$NN_DIR/$name.pcap" udp port 10500
    ok nn_wait 5 test -s "$NN_DIR/cap.log"
    nn_vpxid 1
    nn_vpxid 2
    ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
    eq "$(js 1 '.peers[0].transform')" "$4" "$name: transform in use"
    nq 1 ping -q -c 20 -i 0.01 100.64.0.2 >/dev/null
    nq 2 ping -q -6 -c 5 -i 0.01 "$(hit_of 1)" >/dev/null
    nn_start 2 sink sh -c "nc -l 100.64.0.2 9000 >/dev/null"
    ok nn_wait 5 nq 2 ss -ltn 'sport = :9000'
    head -c 1M /dev/urandom | nq 1 nc -N 100.64.0.2 9000
    nn_wait 1 false
    nn_stop "$PID_d1"
    nn_stop "$PID_d2"
    nn_stop "$PID_cap" INT
    cat "$NN_DIR"/keys*.txt | sort -u >"$NN_DIR/$name.keys"
    ok test -s "$NN_DIR/$name.keys"

    local pcap=$NN_DIR/$name.pcap ts=(tshark -n -X "lua_script:$HERE/hip_udp_demux.lua" -r "$NN_DIR/$name.pcap")
    # HIP framing
    local types
    types=$("${ts[@]}" -Y hip -T fields -e hip.packet_type 2>/dev/null | sort -un | tr '\n' ' ')
    echo "$name: HIP packet types on the wire: $types"
    for t in 1 2 3 4; do ok grep -qw "$t" <<<"$types"; done
    eq "$("${ts[@]}" -Y '_ws.malformed' 2>/dev/null | wc -l)" 0 "$name: no malformed packets"
    # ESP decryption with the key log
    local uat=() line
    while IFS= read -r line; do uat+=(-o "uat:esp_sa:$line"); done <"$NN_DIR/$name.keys"
    "${ts[@]}" -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
        "${uat[@]}" -Y esp -T fields -e esp.spi -e esp.icv_good -e esp.icv_bad >"$NN_DIR/$name.esp" 2>/dev/null
    local total good bad
    total=$(wc -l <"$NN_DIR/$name.esp")
    good=$(awk -F'\t' '$2 == "1"' "$NN_DIR/$name.esp" | wc -l)
    bad=$(awk -F'\t' '$3 == "1"' "$NN_DIR/$name.esp" | wc -l)
    echo "$name: tshark: $total ESP packets, icv_good $good, icv_bad $bad"
    ok test "$total" -gt 50
    if [ "${5:-}" = esn ]; then
        # ICVs not checkable by tshark 4.0; decryption must still work: every
        # packet shows its inner IP header
        local inner
        inner=$("${ts[@]}" -o esp.enable_encryption_decode:TRUE "${uat[@]}" -Y 'esp && (ip.version == 4 && ip.src == 100.64.0.0/10 || ipv6.src == 2001:20::/28)' 2>/dev/null | wc -l)
        eq "$inner" "$total" "$name: tshark decrypts every ESP packet to its inner IP packet"
    else
        eq "$good" "$total" "$name: every ESP packet authenticates in tshark"
        eq "$bad" 0 "$name: no bad ICV in tshark"
    fi
    # scapy
    local sc
    sc=$(/usr/bin/python3 "$HERE/esp_scapy.py" "$pcap" "$NN_DIR/$name.keys" "${5:-noesn}")
    echo "$name: scapy: $sc"
    eq "$sc" "ok $total" "$name: scapy decrypts every ESP packet"
}

run_suite gcm "esp = aes128-gcm16
esp-esn = no" "" aes128-gcm16
run_suite cbc "esp = aes128-cbc-sha256
esp-esn = no" "" aes128-cbc-sha256
# an integrity link prefers AES-GMAC, which tshark 4.0 cannot check: this
# one is pinned to NULL + HMAC-SHA-256 (GMAC: tests/vectors/test_esp_scapy.sh)
run_suite integrity "esp-esn = no" "link = integrity
esp = null-sha256" null-sha256
run_suite gcm-esn "esp = aes128-gcm16" "" aes128-gcm16 esn
nn_done
