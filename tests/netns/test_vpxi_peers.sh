#!/usr/bin/env bash
# test_vpxi_peers.sh - two registrars (seed 000 4.2.2): a resource
# registered at R2 serves a VPXI created at R1.
#
#   ns1 R1 registrar (peer: R2)      ns2 host agent, site A, registered at R1
#   ns3 R2 registrar (peer: R1)      ns4 host agent, site B, registered at R2
#   ns5 user alice, enrolled at R1
#
# R1 has no resource at site B: it asks R2 (borrow). R2 makes the node from
# its free resource (the node trusts R2), marks the resource used and
# delegates the VPXI's rights on it to R1 (R2 -> R1, may delegate). The node
# at site B accepts the chain R2 -> R1 -> alice and R2 -> R1 -> node A.
# R2 offers its free resources to R1 (signed offers) before and after.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

IMG=$NN_DIR/images
mkdir -p "$IMG"
"$VPXI_SRC/scripts/mkimage.sh" "$IMG" >/dev/null || nn_skip "cannot build the busybox image (busybox-static)"
SA=pa$((NN_ID % 1000)) SB=pb$((NN_ID % 1000))
nn_topology 5
nn_overlay_setup 5 hipernet || { echo "set-up failed"; exit 1; }
r1=$(hit_of 1) r2=$(hit_of 3)
for i in 1 3 5; do
    nq $i ip route add 198.19.1.0/24 via 198.18.0.2
    nq $i ip route add 198.19.2.0/24 via 198.18.0.4
done
nq 2 ip route add 198.19.2.0/24 via 198.18.0.4
nq 4 ip route add 198.19.1.0/24 via 198.18.0.2
printf '\n[registrar]\ndatabase = %s\npeer-registrar = %s\noffer-interval = 2s\n' "$NN_DIR/r1.db" "$r2" >>"$NN_DIR/n1.conf"
printf '\n[registrar]\ndatabase = %s\npeer-registrar = %s\noffer-interval = 2s\n' "$NN_DIR/r2.db" "$r1" >>"$NN_DIR/n3.conf"
printf '\n[hostagent]\nregistrar = %s\nsite = %s\nstatedir = %s\nimages = %s\nnode-subnet = 198.19.1.0/24\nresources = 2\n' \
    "$r1" "$SA" "$NN_DIR/nodes2" "$IMG" >>"$NN_DIR/n2.conf"
printf '\n[hostagent]\nregistrar = %s\nsite = %s\nstatedir = %s\nimages = %s\nnode-subnet = 198.19.2.0/24\nresources = 2\n' \
    "$r2" "$SB" "$NN_DIR/nodes4" "$IMG" >>"$NN_DIR/n4.conf"
for i in 1 2 3 4 5; do nn_vpxid $i; done
ok nn_wait 20 grep -q "resources of site $SA registered" "$NN_DIR/d2.log"
ok nn_wait 20 grep -q "resources of site $SB registered" "$NN_DIR/d4.log"
u() { nq 5 env VPXI_KEY="$NN_DIR/n5.key" VPXI_REGISTRAR="$r1" VPXI_STATE="$NN_DIR/u" vpxi "$@"; }
ok nn_wait 10 u enroll --name alice --agree v1
sleep 3 # an offer round

cat >"$NN_DIR/p.vpxi" <<EOS
[vpxi two]
duration = 1h
[group a]
count = 1
site = $SA
image = busybox
[group b]
count = 2
site = $SB
image = busybox
EOS
ok u up "$NN_DIR/p.vpxi"
ok grep -q "lending 2 nodes at site $SB" "$NN_DIR/d3.log"
ok grep -q "borrowed from a peer registrar" "$NN_DIR/d1.log"
u --json show two >"$NN_DIR/two.json"
eq "$(jq '.node | length' "$NN_DIR/two.json")" 3 "3 nodes"
# alice's chain: R2 -> R1 (may delegate) and R1 -> alice
ok sh -c "vpxi cert show '$NN_DIR/u/two/chain.seq' | grep -q 'may delegate\|propagate'"
for n in a-1 b-1 b-2; do
    eq "$(u exec $n -- /bin/hostname)" "$n" "exec on $n (chain R2 -> R1 -> alice at the lent nodes)"
done
hit_b1=$(jq -r '.node[] | select(.name=="b-1") | .hit' "$NN_DIR/two.json")
ok nn_wait 15 u exec a-1 -- /bin/sh -c "nc -w 2 $hit_b1 10512 </dev/null"
# R2 marked its resources used: a VPXI of R1's asking for site B at R2 finds none free
cat >"$NN_DIR/q.vpxi" <<EOS
[vpxi three]
duration = 1h
[group b]
count = 1
site = $SB
image = busybox
EOS
nok u up "$NN_DIR/q.vpxi" --no-wait
ok u down two
ok nn_wait 10 grep -q "node two/b-1 destroyed" "$NN_DIR/d4.log"
eq "$(ls "$NN_DIR/nodes4/two" 2>/dev/null | wc -l)" 0 "lent nodes destroyed at the end"
# resources free again at R2: the same VPXI of one site-B node now works
ok u up "$NN_DIR/q.vpxi"
ok u down three
nn_done
