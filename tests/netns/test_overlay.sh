#!/usr/bin/env bash
# test_overlay.sh - the overlay end to end with three nodes.
#
#   ns0: bridge 198.18.0.254/24 (the underlay)
#   ns1 198.18.0.1 --+-- ns2 198.18.0.2 --+-- ns3 198.18.0.3
#   overlay: 100.64.0.{1,2,3} and each node's HIT, every node a static
#   peer of the others, membership certificates from one registrar key.
#
# Scenarios: every pair pings over IPv4 and IPv6; a 200 MB TCP transfer
# whose SHA-256 matches at both ends (IPv4) and a 50 MB one over IPv6;
# iperf3 in both directions; counters in `vpxi status` add up.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi iperf3 nc jq sha256sum

nn_topology 3
nn_overlay_setup 3 demo || { echo "set-up failed"; exit 1; }
t0=$(date +%s%N)
for i in 1 2 3; do nn_vpxid $i; done

# --- every pair pings, v4 and v6
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2
t1=$(date +%s%N)
echo "time from daemon start to first ping: $(( (t1 - t0) / 1000000 )) ms"
for a in 1 2 3; do
    for b in 1 2 3; do
        [ $a = $b ] && continue
        ok nn_wait 10 nq $a ping -c1 -W1 100.64.0.$b
        ok nn_wait 10 nq $a ping -6 -c1 -W1 "$(hit_of $b)"
    done
done
eq "$(peer_state 1 n2)" ESTABLISHED "n1 sees n2"
eq "$(peer_state 3 n1)" ESTABLISHED "n3 sees n1"

# --- 200 MB over TCP/IPv4, checksummed at both ends (20 MB under sanitizers)
MB=$(nn_size 200 20)
head -c ${MB}M /dev/urandom >"$NN_DIR/blob"
want=$(sha256sum <"$NN_DIR/blob" | cut -d' ' -f1)
nn_start 2 rcv4 sh -c "nc -l 100.64.0.2 9000 > $NN_DIR/blob.rx4"
ok nn_wait 5 nq 2 ss -ltn 'sport = :9000'
ok timeout 120 ip netns exec "$NS_PREFIX-1" nc -N 100.64.0.2 9000 <"$NN_DIR/blob"
ok nn_wait 30 eval 'test "$(stat -c %s "$NN_DIR/blob.rx4" 2>/dev/null)" = $((MB * 1048576))'
eq "$(sha256sum <"$NN_DIR/blob.rx4" | cut -d' ' -f1)" "$want" "SHA-256 of $MB MB over IPv4"

# --- 50 MB over TCP/IPv6 (HITs), from node 3 to node 1 (5 MB under sanitizers)
MB6=$(nn_size 50 5)
head -c ${MB6}M "$NN_DIR/blob" >"$NN_DIR/blob6"
want6=$(sha256sum <"$NN_DIR/blob6" | cut -d' ' -f1)
h1=$(hit_of 1)
nn_start 1 rcv6 sh -c "nc -6 -l $h1 9001 > $NN_DIR/blob.rx6"
ok nn_wait 5 nq 1 ss -ltn 'sport = :9001'
ok timeout 120 ip netns exec "$NS_PREFIX-3" nc -6 -N "$h1" 9001 <"$NN_DIR/blob6"
ok nn_wait 30 eval 'test "$(stat -c %s "$NN_DIR/blob.rx6" 2>/dev/null)" = $((MB6 * 1048576))'
eq "$(sha256sum <"$NN_DIR/blob.rx6" | cut -d' ' -f1)" "$want6" "SHA-256 of $MB6 MB over IPv6"

# --- iperf3 both directions
nn_start 2 iperf iperf3 -s
ok nn_wait 5 nq 2 ss -ltn 'sport = :5201'
fwd=$(nq 1 iperf3 -c 100.64.0.2 -t 3 -J | jq '.end.sum_received.bits_per_second')
rev=$(nq 1 iperf3 -c 100.64.0.2 -t 3 -R -J | jq '.end.sum_received.bits_per_second')
echo "iperf3 n1->n2 $(echo "$fwd / 1000000" | bc) Mbit/s, n2->n1 $(echo "$rev / 1000000" | bc) Mbit/s"
ok test "$(echo "$fwd > 0" | bc)" = 1
ok test "$(echo "$rev > 0" | bc)" = 1

# --- counters: what n1 sent to n2 is at least the file
sent=$(js 1 '.peers[] | select(.name == "n2") | .tx_bytes')
recv=$(js 2 '.peers[] | select(.name == "n1") | .rx_bytes')
ok test "$sent" -ge $((MB * 1048576))
ok test "$recv" -ge $((MB * 1048576))
eq "$(js 2 '.peers[] | select(.name == "n1") | .drops.esp_bad_icv')" 0 "no ICV failures"
ok test "$(js 1 '.datapath.packets_per_syscall.tun_read')" != 0
echo "n1 packets per syscall: $(js 1 '.datapath.packets_per_syscall' | tr -d '\n ')"
echo "n2 packets per syscall: $(js 2 '.datapath.packets_per_syscall' | tr -d '\n ')"

# --- the human status output answers
ok sh -c "VPXI_SOCKET=$NN_DIR/n1.sock vpxi status | grep -q 'state: ESTABLISHED'"
nn_done
