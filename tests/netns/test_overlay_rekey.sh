#!/usr/bin/env bash
# test_overlay_rekey.sh - associations survive what they must survive.
#
#   ns1 (n1) <-- bridge --> ns2 (n2)
#
#  1. Rekey under load: a TCP transfer runs while the SAs are rekeyed
#     repeatedly (UPDATE with new SPIs and a fresh DH, forced through the
#     control socket, and by a small rekey-packets volume limit); the
#     connection is never lost and the data arrives intact.
#  2. SIGHUP: the configuration is reloaded; the association and its SPIs
#     stay; a broken configuration is refused and changes nothing.
#  3. Peer restart: n2 is killed (SIGKILL, no CLOSE) and restarted; the
#     association is re-established by itself.
#  4. SIGTERM: n2 sends CLOSE; n1 sees the association closed at once.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq nc sha256sum

nn_topology 2
NN_OVERLAY_EXTRA="rekey-packets = $(nn_size 20000 3000)" nn_overlay_setup 2 demo || exit 1
D=$NN_DIR
nn_vpxid 1
nn_vpxid 2
ok nn_wait 10 nq 1 ping -c1 -W1 100.64.0.2

# --- 1. rekey under load
MB=$(nn_size 300 60)
head -c ${MB}M /dev/urandom >"$D/blob"
want=$(sha256sum <"$D/blob" | cut -d' ' -f1)
nn_start 2 rcv sh -c "nc -l 100.64.0.2 9000 > $D/blob.rx"
ok nn_wait 5 nq 2 ss -ltn 'sport = :9000'
# paced: 300 MB in 5 MB chunks with a pause, so the transfer spans the rekeys
nn_start 1 snd sh -c "for i in \$(seq 60); do dd bs=1M count=$((MB / 60)) iflag=fullblock status=none; sleep 0.1; done < $D/blob | nc -N 100.64.0.2 9000"
spis=""
for k in 1 2 3 4 5; do
    nn_wait 1 false
    spis="$spis $(js 1 '.peers[0].spi_out')"
    ok vs 1 peer demo n2 rekey
done
ok nn_wait 120 sh -c "! kill -0 $PID_snd 2>/dev/null"
ok nn_wait 30 eval 'test "$(stat -c %s "$D/blob.rx" 2>/dev/null)" = $((MB * 1048576))'
eq "$(sha256sum <"$D/blob.rx" | cut -d' ' -f1)" "$want" "transfer intact across rekeys"
rekeys=$(js 1 '.peers[0].rekeys')
echo "rekeys during the transfer: $rekeys, outbound SPIs seen:$spis"
ok test "$rekeys" -ge 5
ok test "$(echo $spis | tr ' ' '\n' | sort -u | wc -l)" -ge 3
eq "$(js 2 '.peers[0].drops.esp_bad_icv')" 0 "no ICV failures across rekeys"
ok grep -q "reached its volume limit: rekeying" "$D/d1.log" "$D/d2.log"

# --- 2. SIGHUP keeps associations; a bad configuration changes nothing
spi_before=$(js 1 '.peers[0].spi_in')
kill -HUP "$PID_d1"
ok nn_wait 5 grep -q "configuration reloaded" "$D/d1.log"
eq "$(js 1 '.peers[0].spi_in')" "$spi_before" "SPI unchanged by SIGHUP"
eq "$(peer_state 1 n2)" ESTABLISHED "still established after SIGHUP"
ok nq 1 ping -c1 -W1 100.64.0.2
cp "$D/n1.conf" "$D/n1.conf.good"
sed -i 's/^\[overlay demo\]/[overlay demo]\nmtu = banana/' "$D/n1.conf"
kill -HUP "$PID_d1"
ok nn_wait 5 grep -q "reload refused, configuration unchanged: .*mtu 'banana'" "$D/d1.log"
cp "$D/n1.conf.good" "$D/n1.conf"
sed -i 's/^tun = vpxi0/tun = vpxi9/' "$D/n1.conf"
kill -HUP "$PID_d1"
ok nn_wait 5 grep -q "tun changed: restart vpxid to apply it" "$D/d1.log"
cp "$D/n1.conf.good" "$D/n1.conf"
eq "$(js 1 '.peers[0].spi_in')" "$spi_before" "SPI unchanged by refused reloads"
ok nq 1 ping -c1 -W1 100.64.0.2

# --- 3. peer restart (killed without CLOSE)
nn_stop "$PID_d2" KILL
nn_vpxid 2
ok nn_wait 20 nq 1 ping -c1 -W1 100.64.0.2
eq "$(peer_state 1 n2)" ESTABLISHED "re-established after the peer restarted"

# --- 4. SIGTERM sends CLOSE
: >"$D/d1.log"
nn_stop "$PID_d2" TERM
ok grep -q "CLOSE sent to 1 peer" "$D/d2.log"
ok nn_wait 3 grep -q "association with n2 closed: peer" "$D/d1.log"
nn_done
