#!/usr/bin/env bash
# test_overlay_direct.sh - the direct path of clear links (src/vpxid/node/direct.h).
#
#   ns1 (n1) --+
#   ns2 (n2) --+-- bridge br0 (ns0), 198.18.0.0/24: one layer-2 segment
#   ns3 (n3) --+
#
# Every link is clear. n1 and n2 have clear-direct = yes (the default): once
# their association is up, each routes the other's overlay addresses (HIT and
# 100.64.0.x) straight to the other's MAC on eth0, with its own overlay
# addresses as sources. n3 has clear-direct = no: it accepts n1's direct
# traffic but sends its own in ESP. Checked: the routes and permanent
# neighbour entries, status (data_path), a TCP transfer over IPv4 and IPv6
# that arrives intact (except on vpxi service ports, which stay in ESP), travels as plain TCP between overlay addresses on the
# bridge (captured on n1's port) and not through ESP; then the association's end (n2 stops: CLOSE)
# puts n1's routes back on its TUN and removes the neighbour entries, and
# n2 leaves nothing on its eth0; the same when n2's authorization ends.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq nc tcpdump sha256sum

nn_topology 3
NN_PEER_EXTRA="link = clear" nn_overlay_setup 3 demo || exit 1
D=$NN_DIR
sed -i "s|^\[overlay demo\]|[overlay demo]\nclear-direct = no|" "$D/n3.conf"
H1=$(hit_of 1) H2=$(hit_of 2)
for i in 1 2 3; do nn_vpxid $i; done
for i in 1 2 3; do ok nn_wait 10 test -S "$D/n$i.sock"; done

ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.3
ok nn_wait 10 nq 1 ping -6 -c1 -W1 "$H2"
pst() { js "$1" ".peers[] | select(.name == \"$2\") | .$3"; }
eq "$(pst 1 n2 transform)" clear "n1-n2 negotiated clear"
eq "$(pst 1 n2 data_path)" kernel "n1 -> n2 on the direct path"
eq "$(pst 1 n2 data_path_device)" eth0 "n1 -> n2 on eth0"
eq "$(pst 2 n1 data_path)" kernel "n2 -> n1 on the direct path"
eq "$(pst 1 n3 data_path)" kernel "n1 -> n3 direct"
eq "$(pst 3 n1 data_path)" esp "n3 -> n1 stays in ESP (clear-direct = no)"
human_says_direct() { vs 1 status | grep -q 'data path: kernel, plain IP on eth0'; }
ok human_says_direct
# the kernel's view on n1
ok sh -c "ip -n $NS_PREFIX-1 route get 100.64.0.2 | grep -q 'dev eth0 src 100.64.0.1'"
ok sh -c "ip -n $NS_PREFIX-1 -6 route get $H2 | grep -q 'dev eth0 .*src $H1'"
ok sh -c "ip -n $NS_PREFIX-1 neigh show 100.64.0.2 | grep -q PERMANENT"
ok sh -c "ip -n $NS_PREFIX-1 route get 100.64.0.3 | grep -q 'dev eth0'"
ok sh -c "ip -n $NS_PREFIX-3 route get 100.64.0.1 | grep -q 'dev vpxi0'"

# --- a transfer over each family: intact, plain TCP between overlay
# --- addresses on the bridge, not through ESP
head -c 4000000 /dev/urandom >"$D/blob"
printf 'DIRECT-PATH-MARK\n' >>"$D/blob"
ip netns exec "$NS_0" tcpdump --immediate-mode -i p1 -U -s 200 -w "$D/br0.pcap" tcp port 9200 or tcp port 9201 or tcp port 10512 or udp port 10500 >/dev/null 2>&1 &
tcpd=$!
NN_PIDS+=($tcpd)
sleep 1
esp_before=$(pst 2 n1 rx_bytes)
nn_start 2 sink4 sh -c "nc -l -p 9200 >'$D/recv4'"
nn_start 2 sink6 sh -c "nc -6 -l -p 9201 >'$D/recv6'"
ok nn_wait 5 nq 2 ss -ltn 'sport = :9201'
ok nq 1 sh -c "nc -N -w 5 100.64.0.2 9200 <'$D/blob'"
ok nq 1 sh -c "nc -N -w 5 $H2 9201 <'$D/blob'"
ok nn_wait 10 cmp -s "$D/blob" "$D/recv4"
ok nn_wait 10 cmp -s "$D/blob" "$D/recv6"
# vpxi's service ports (10510-10512) stay on the TUN: services take the
# requester's HIT from a connection that came through it
nn_start 2 sinksvc sh -c "nc -6 -l -p 10512 >'$D/recvsvc'"
ok nn_wait 5 nq 2 ss -ltn 'sport = :10512'
ok nq 1 sh -c "echo SVC-MARK | nc -N -w 5 $H2 10512"
ok nn_wait 10 grep -q SVC-MARK "$D/recvsvc"
ok sh -c "ip -n $NS_PREFIX-1 -6 rule | grep -q 'ipproto tcp dport 10510-10512 lookup 10500'"
ok sh -c "ip -n $NS_PREFIX-1 -6 route get $H2 ipproto tcp dport 10512 | grep -q 'dev vpxi0'"
sleep 0.5
kill "$tcpd"; wait "$tcpd" 2>/dev/null
esp_after=$(pst 2 n1 rx_bytes)
ok test $((esp_after - esp_before)) -lt 100000       # 8 MB did not come through ESP
ok test $((esp_after - esp_before)) -gt 0            # the service connection did
tcpdump -r "$D/br0.pcap" -n 2>/dev/null >"$D/br0.txt"
ok grep -q "100.64.0.1\.[0-9]* > 100.64.0.2.9200: Flags" "$D/br0.txt"
ok grep -q "$H1\.[0-9]* > $H2.9201: Flags" "$D/br0.txt"
# payload in the snapped headers is not the mark; look for plain TCP
# segments carrying data between the overlay addresses
ok test "$(grep -c '100.64.0.1\.[0-9]* > 100.64.0.2.9200: Flags.*length [1-9]' "$D/br0.txt")" -gt 10
nok grep -q '\.10512: Flags' "$D/br0.txt"

# --- the end of the association: n2 stops (CLOSE) -> n1 back on its TUN
nn_stop "$PID_d2"
ok nn_wait 10 grep -q "direct path to n2 closed" "$D/d1.log"
ok sh -c "ip -n $NS_PREFIX-1 route get 100.64.0.2 | grep -q 'dev vpxi0'"
ok sh -c "ip -n $NS_PREFIX-1 -6 route get $H2 | grep -q 'dev vpxi0'"
nok sh -c "ip -n $NS_PREFIX-1 neigh show 100.64.0.2 | grep -q ."
nok sh -c "ip -n $NS_PREFIX-2 route show | grep -q '100.64'"
nok sh -c "ip -n $NS_PREFIX-2 neigh show | grep -q '100.64'"
nok sh -c "ip -n $NS_PREFIX-2 rule | grep -q 10510"
nok sh -c "ip -n $NS_PREFIX-2 route show table 10500 | grep -q ."
nok nq 1 ping -c1 -W1 100.64.0.2
# n2 back: the direct path again
nn_vpxid 2
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
n2_direct() { [ "$(pst 1 n2 data_path)" = kernel ]; }
ok nn_wait 5 n2_direct

# --- the end of the authorization: n2 comes back with a chain that ends in
# --- a few seconds; n1 cuts the direct path at that instant, as it cuts SAs
nn_stop "$PID_d2"
na=$(date -u -d '+6 seconds' +%Y-%m-%d_%H:%M:%S)
vpxi cert issue --issuer "$D/H.key" --subject "$D/n2.pub" --tag '(vpxi demo (*) member)' \
    --not-before -1h --not-after "$na" -o "$D/n2.cert" --force >/dev/null
nn_vpxid 2
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
ok nn_wait 5 n2_direct
ok nn_wait 15 grep -q "authorization of n2 ended at $na" "$D/d1.log"
on_tun() { ip -n "$NS_PREFIX-1" route get 100.64.0.2 | grep -q 'dev vpxi0'; }
ok nn_wait 2 on_tun
nok sh -c "ip -n $NS_PREFIX-1 neigh show 100.64.0.2 | grep -q ."
nok nq 1 ping -c1 -W1 100.64.0.2
nn_done
