#!/usr/bin/env bash
# test_overlay_ports.sh - port classes of a link (port-link in [peer]) in
# the data plane, with the node firewall a host agent loads into its nodes.
#
#   ns1 (n1), ns2 (n2), ns3 (n3) on one bridge, each with the node firewall
#   (vpxid --show-node-firewall).
#
#   n1 - n2: link integrity, tcp/9300-9309 clear. The association carries
#            integrity (AES-GMAC); TCP to or from 9300-9309 takes the
#            direct path (policy rules to table 10501); n2's firewall lets in
#            exactly that class from n1's MAC. Traffic on other ports stays
#            in ESP, and a forced direct packet to another port is dropped.
#   n1 - n3: link clear, tcp/9400 encrypt. The association carries AES-GCM;
#            everything goes direct except TCP 9400, which a rule keeps on
#            the TUN (unreadable on the wire); n3's firewall drops 9400 when
#            it arrives directly.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq nc tcpdump nft

nn_topology 3
nn_overlay_setup 3 demo || exit 1
D=$NN_DIR
# peer_set N PEER LINES...: lines added to [peer demo PEER] of nN.conf
peer_set() {
    local n=$1 peer=$2 add=""; shift 2
    for l in "$@"; do add="$add\n$l"; done
    sed -i "s|^\[peer demo $peer\]|[peer demo $peer]$add|" "$D/n$n.conf"
}
peer_set 1 n2 "link = integrity" "port-link = tcp/9300-9309 clear"
peer_set 2 n1 "link = integrity" "port-link = tcp/9300-9309 clear"
peer_set 1 n3 "link = clear" "port-link = tcp/9400 encrypt"
peer_set 3 n1 "link = clear" "port-link = tcp/9400 encrypt"
vpxid --show-node-firewall >"$D/fw.nft"
for i in 1 2 3; do ok nq $i nft -f "$D/fw.nft"; done
H1=$(hit_of 1) H2=$(hit_of 2) H3=$(hit_of 3)
for i in 1 2 3; do nn_vpxid $i; done
for i in 1 2 3; do ok nn_wait 10 test -S "$D/n$i.sock"; done
ok nn_wait 10 nq 1 ping -c1 -W1 "$H2"
ok nn_wait 10 nq 1 ping -c1 -W1 "$H3"
pst() { js "$1" ".peers[] | select(.name == \"$2\") | .$3"; }
eq "$(pst 1 n2 transform)" aes128-gmac "n1-n2 carries integrity (AES-GMAC)"
eq "$(pst 1 n2 data_path)" "esp, clear ports kernel" "n1-n2 clear ports direct"
eq "$(pst 2 n1 data_path)" "esp, clear ports kernel" "n2-n1 clear ports direct"
eq "$(pst 1 n2 'port_links[0].link')" clear "status lists the class"
eq "$(pst 1 n3 transform)" aes128-gcm16 "n1-n3 carries AES-GCM (its strongest class)"
eq "$(pst 1 n3 data_path)" "kernel, protected ports esp" "n1-n3 direct except 9400"
route_dev() { ip -n "$NS_PREFIX-$1" -6 route get "$2" ipproto tcp dport "$3" | grep -o 'dev [a-z0-9]*'; }
eq "$(route_dev 1 "$H2" 9305)" "dev eth0" "n1 -> n2:9305 direct"
eq "$(route_dev 1 "$H2" 9500)" "dev vpxi0" "n1 -> n2:9500 in ESP"
eq "$(route_dev 1 "$H3" 9400)" "dev vpxi0" "n1 -> n3:9400 in ESP"
eq "$(route_dev 1 "$H3" 9401)" "dev eth0" "n1 -> n3:9401 direct"
eq "$(route_dev 2 "$H1" 22)" "dev vpxi0" "n2 -> n1:22 in ESP"

# --- transfers on each class, captured on n1's bridge port
ip netns exec "$NS_0" tcpdump --immediate-mode -i p1 -U -w "$D/p1.pcap" tcp >/dev/null 2>&1 &
tcpd=$!
NN_PIDS+=($tcpd)
sleep 1
xfer() { # xfer N HIT PORT MARK: MARK sent from n1 to nN:PORT, received intact
    local n=$1 hit=$2 port=$3 mark=$4
    nn_start "$n" "sink$port" sh -c "nc -6 -l -p $port >'$D/recv$port'"
    nn_wait 5 nq "$n" ss -ltn "sport = :$port" || return 1
    printf '%s\n' "$mark" | nq 1 nc -N -w 5 "$hit" "$port" || return 1
    nn_wait 5 grep -q "$mark" "$D/recv$port"
}
ok xfer 2 "$H2" 9305 MARK-CLEAR-CLASS
ok xfer 2 "$H2" 9500 MARK-INTEGRITY-LINK
ok xfer 3 "$H3" 9400 MARK-ENCRYPT-CLASS
ok xfer 3 "$H3" 9401 MARK-CLEAR-LINK
sleep 0.5
kill "$tcpd"; wait "$tcpd" 2>/dev/null
tcpdump -r "$D/p1.pcap" -n 2>/dev/null >"$D/p1.txt"
ok grep -aq MARK-CLEAR-CLASS "$D/p1.pcap"
ok grep -q "\.9305: Flags" "$D/p1.txt"           # plain TCP on the wire
nok grep -q "\.9500: Flags" "$D/p1.txt"          # in ESP
ok grep -aq MARK-CLEAR-LINK "$D/p1.pcap"
nok grep -q "\.9400: Flags" "$D/p1.txt"          # in ESP...
nok grep -aq MARK-ENCRYPT-CLASS "$D/p1.pcap"    # ...encrypted

# --- the firewalls let in exactly the clear classes: traffic forced onto
# --- the direct path for a protected port is dropped
nq 1 ip -6 rule add to "$H2" ipproto tcp dport 9501 lookup 10501 priority 100
nq 1 ip -6 rule add to "$H3" ipproto tcp dport 9400 lookup main priority 100
eq "$(route_dev 1 "$H2" 9501)" "dev eth0" "forced: n1 -> n2:9501 direct"
eq "$(route_dev 1 "$H3" 9400)" "dev eth0" "forced: n1 -> n3:9400 direct"
nok xfer 2 "$H2" 9501 MARK-FORCED-1
nok xfer 3 "$H3" 9400 MARK-FORCED-2
nq 1 ip -6 rule del priority 100
nq 1 ip -6 rule del priority 100

# --- the association ends (n2 stops): rules, routes and firewall elements go
nn_stop "$PID_d2"
ok nn_wait 10 grep -q "direct path to n2 closed" "$D/d1.log"
nok sh -c "ip -n $NS_PREFIX-1 -6 rule | grep -q 'to $H2'"
nok sh -c "ip -n $NS_PREFIX-1 -6 route show table 10501 | grep -q '$H2'"
nok sh -c "ip -n $NS_PREFIX-2 rule | grep -q 10501"
nok sh -c "ip netns exec $NS_PREFIX-2 nft list set inet vpxi direct-ports-in6 | grep -q elements"
ok sh -c "ip -n $NS_PREFIX-1 -6 rule | grep -q 'to $H3'"   # n3 is still direct
nn_done
