#!/usr/bin/env bash
# test_vpxi_renew.sh - membership certificates are renewed before they
# expire, also across a registrar that is killed (SIGKILL) and stays away
# for a while, with traffic flowing between the nodes the whole time.
#
# Topology as test_vpxi.sh (registrar ns1, host agents ns2/ns3, user ns4).
# The VPXI's certificates are short-lived (renew-period 10 s, margin 25 s):
# the test runs three times the margin, kills the registrar role, keeps its
# restarted process stopped for 8 s (< margin - period), and checks that the
# association between the two nodes never closed, that its authorization
# moved forward, and that a TCP stream between them went on through it all.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

IMG=$NN_DIR/images
mkdir -p "$IMG"
"$VPXI_SRC/scripts/mkimage.sh" "$IMG" >/dev/null || nn_skip "cannot build the busybox image (busybox-static)"
SA=ra$((NN_ID % 1000)) SB=rb$((NN_ID % 1000))
nn_topology 4
nn_overlay_setup 4 hipernet || { echo "set-up failed"; exit 1; }
hit1=$(hit_of 1)
for i in 1 4; do
    nq $i ip route add 198.19.1.0/24 via 198.18.0.2
    nq $i ip route add 198.19.2.0/24 via 198.18.0.3
done
nq 2 ip route add 198.19.2.0/24 via 198.18.0.3
nq 3 ip route add 198.19.1.0/24 via 198.18.0.2
printf '\n[registrar]\ndatabase = %s\n' "$NN_DIR/registrar.db" >>"$NN_DIR/n1.conf"
for i in 2 3; do
    site=$SA net=198.19.1.0/24
    [ $i = 3 ] && { site=$SB; net=198.19.2.0/24; }
    printf '\n[hostagent]\nregistrar = %s\nsite = %s\nstatedir = %s\nimages = %s\nnode-subnet = %s\nresources = 1\n' \
        "$hit1" "$site" "$NN_DIR/nodes$i" "$IMG" "$net" >>"$NN_DIR/n$i.conf"
done
for i in 1 2 3 4; do nn_vpxid $i; done
ok nn_wait 20 grep -q "resources of site $SA registered" "$NN_DIR/d2.log"
ok nn_wait 20 grep -q "resources of site $SB registered" "$NN_DIR/d3.log"
u1() { nq 4 env VPXI_KEY="$NN_DIR/n4.key" VPXI_REGISTRAR="$hit1" VPXI_STATE="$NN_DIR/u1" vpxi "$@"; }
ok nn_wait 10 u1 enroll --name alice --agree v1
cat >"$NN_DIR/r.vpxi" <<EOS
[vpxi renew]
duration = 1h
renew-period = 10s
renew-margin = 25s
[group a]
count = 1
site = $SA
image = busybox
[group b]
count = 1
site = $SB
image = busybox
EOS
ok u1 up "$NN_DIR/r.vpxi"
hit_b=$(u1 --json show renew | jq -r '.node[] | select(.name=="b-1") | .hit')
sock=$(ls "$NN_DIR"/nodes2/renew/a-1/vpxid.sock)
st() { VPXI_SOCKET="$sock" vpxi --json status | jq -r --arg h "$hit_b" ".overlays[0].peers[] | select(.hit==\$h) | $1"; }
# up: ESTABLISHED, or R2-SENT on a responder that has not yet seen data (RFC 7401 4.4.2)
up() { case $(st .state) in ESTABLISHED | R2-SENT) return 0 ;; esac; return 1; }
ok nn_wait 30 up
first=$(st .authorized_until)
echo "first authorization of a-1 -> b-1 until $first"

# a TCP stream b-1 -> a-1 for the whole test (bounded: 75 s)
hit_a=$(u1 --json show renew | jq -r '.node[] | select(.name=="a-1") | .hit')
# (busybox nc closes the connection at the end of its standard input: the
# listener reads from a sleep that outlives the test)
u1 exec a-1 -- /bin/sh -c '(sleep 120 | nc -l -p 5000 >/tmp/got) </dev/null >/dev/null 2>&1 &'
u1 exec b-1 -- /bin/sh -c "((i=0; while [ \$i -lt 750 ]; do echo line \$i; i=\$((i+1)); sleep 0.1; done) | nc $hit_a 5000) </dev/null >/dev/null 2>&1 &"

# kill the registrar role; keep its successor stopped for 8 s
sleep 5
rpid=$(grep -o 'role registrar started (pid [0-9]*)' "$NN_DIR/d1.log" | tail -1 | grep -o '[0-9]*')
ok kill -KILL "$rpid"
ok nn_wait 10 sh -c "grep -o 'role registrar started (pid [0-9]*)' '$NN_DIR/d1.log' | tail -1 | grep -vq '($rpid)'"
npid=$(grep -o 'role registrar started (pid [0-9]*)' "$NN_DIR/d1.log" | tail -1 | grep -o '[0-9]*')
kill -STOP "$npid"; sleep 8; kill -CONT "$npid"
# past three margins: every original certificate has long expired
sleep 55
eq "$(st .state)" ESTABLISHED "association a-1 -> b-1 still up (it has carried the stream)"
nok grep -q "association with .* closed" "$NN_DIR/nodes2/renew/a-1/vpxid.log"
later=$(st .authorized_until)
echo "authorization now until $later"
ok test "$later" \> "$first"
ok grep -q "membership renewed" "$NN_DIR/d1.log"
sleep 2
lines=$(u1 exec a-1 -- /bin/sh -c 'wc -l < /tmp/got')
echo "stream lines received: $lines"
ok test "${lines:-0}" -ge 600
ok u1 down renew
nn_done
