#!/usr/bin/env bash
# test_vpxi.sh - the VPXI lifecycle end to end (seed 000 flows 4.2.1 and
# 4.2.3): a registrar, two host agents (two sites, 5 ms apart), a user.
#
#   ns0: bridge 198.18.0.254/24 (the underlay)
#   ns1 198.18.0.1  registrar           (vpxid: overlay hipernet + [registrar])
#   ns2 198.18.0.2  host agent site A   (nodes on vxbr0 198.19.1.0/24)
#   ns3 198.18.0.3  host agent site B   (nodes on vxbr0 198.19.2.0/24)
#   ns4 198.18.0.4  user U1 (owner)
#   ns5 198.18.0.5  user U2 (added by delegation), later an outsider
#
# Scenarios: enrolment; a specification with errors is refused with
# file:line and nothing is created; `vpxi up` of a 4-node VPXI across both
# sites; every node runs commands for its owner (`vpxi exec`), nodes reach
# each other over the VPXI's overlay, links use the transform the
# specification gives (integrity inside site A, encrypt between sites);
# the nodes' underlay carries only HIP/ESP (isolation); U2 is refused, then
# added by delegation (registrar -> U1 delegable, U1 -> U2) and accepted;
# `vpxi down` ends the VPXI and leaves no namespace, mount or process.
# Site A's host agent takes its images from a catalogue provider (2 of 2
# endorsers): an image endorsed by only one is refused. A node that cannot
# be made rolls the whole VPXI back.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq tcpdump
mount | grep -q ' type cgroup2 ' || true
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

SITE_A=sa$((NN_ID % 1000))
SITE_B=sb$((NN_ID % 1000))
IMG=$NN_DIR/images
mkdir -p "$IMG"
"$VPXI_SRC/scripts/mkimage.sh" "$IMG" >/dev/null || nn_skip "cannot build the busybox image (busybox-static)"

# site A's host agent starts nodes only from images its provider accepts:
# endorsed by both E1 and E2 (2 of 2). busybox is; "lonely" only by E1.
K=$NN_DIR/cat P=$NN_DIR/prov
mkdir -p "$K"
for e in E1 E2; do
    vpxi key gen -o "$K/$e.key" >/dev/null && vpxi key pub "$K/$e.key" >"$K/$e.pub" || exit 1
    vpxi -q catalog add -c "$K/$e.draft" --name busybox --image "$IMG/busybox.tar" \
        --url "file://$IMG/busybox.tar" --approved || exit 1
done
vpxi -q catalog add -c "$K/E1.draft" --name lonely --image "$IMG/busybox.tar" \
    --url "file://$IMG/busybox.tar" --approved || exit 1
for e in E1 E2; do vpxi -q catalog sign -c "$K/$e.draft" --key "$K/$e.key" -o "$K/$e.cat" || exit 1; done
vpxi -q catalog trust -d "$P" add --endorser "$K/E1.pub" --endorser "$K/E2.pub" --threshold 2 || exit 1
vpxi -q catalog trust -d "$P" source "$K/E1.cat" "$K/E2.cat" || exit 1
vpxi -q catalog import -d "$P" >/dev/null || exit 1

nn_topology 5
nn_overlay_setup 5 hipernet || { echo "set-up failed"; exit 1; }
hit1=$(hit_of 1)
# routes to the node subnets, 5 ms each way between the sites
for i in 1 4 5; do
    nq $i ip route add 198.19.1.0/24 via 198.18.0.2
    nq $i ip route add 198.19.2.0/24 via 198.18.0.3
done
nq 2 ip route add 198.19.2.0/24 via 198.18.0.3
nq 3 ip route add 198.19.1.0/24 via 198.18.0.2
nq 2 tc qdisc add dev eth0 root netem delay 5ms 2>/dev/null || echo "note: no netem, no added delay"
nq 3 tc qdisc add dev eth0 root netem delay 5ms 2>/dev/null || true

cat >>"$NN_DIR/n1.conf" <<EOC

[registrar]
database = $NN_DIR/registrar.db
approve = auto
EOC
for i in 2 3; do
    site=$SITE_A; net=198.19.1.0/24
    [ $i = 3 ] && { site=$SITE_B; net=198.19.2.0/24; }
    cat >>"$NN_DIR/n$i.conf" <<EOC

[hostagent]
registrar = $hit1
site = $site
statedir = $NN_DIR/nodes$i
images = $IMG
node-subnet = $net
resources = 3
memory = 128
EOC
done
echo "catalog = $P" >>"$NN_DIR/n2.conf"   # site A: endorsed images only
for i in 1 2 3 4 5; do nn_vpxid $i; done
ok nn_wait 20 grep -q "resources of site $SITE_A registered" "$NN_DIR/d2.log"
ok nn_wait 20 grep -q "resources of site $SITE_B registered" "$NN_DIR/d3.log"

u1() { nq 4 env VPXI_KEY="$NN_DIR/n4.key" VPXI_REGISTRAR="$hit1" VPXI_STATE="$NN_DIR/u1" vpxi "$@"; }
u2() { nq 5 env VPXI_KEY="$NN_DIR/n5.key" VPXI_REGISTRAR="$hit1" VPXI_STATE="$NN_DIR/u2" vpxi "$@"; }

# --- enrolment
ok nn_wait 10 u1 enroll --name alice --contact alice@example.org --agree v1
ok u2 enroll --name bob --agree v1
nok u1 enroll --name alice --agree v1          # twice

# --- a specification with errors: every error reported, nothing created
cat >"$NN_DIR/bad.vpxi" <<EOS
[vpxi t1]
duration = 1h
[group g]
count = 0
site = $SITE_A
image = busybox
[link g nowhere]
security = loud
EOS
u1 up "$NN_DIR/bad.vpxi" >"$NN_DIR/bad.out" 2>&1
eq "$?" 1 "bad spec refused"
ok grep -q "bad.vpxi:4:" "$NN_DIR/bad.out"
ok grep -q "bad.vpxi:7:\|bad.vpxi:8:" "$NN_DIR/bad.out"
eq "$(ls "$NN_DIR/nodes2" 2>/dev/null | wc -l)" 0 "nothing created for a bad spec"

# --- an image endorsed by one of the two endorsers the provider requires:
# the node start is refused, nothing is created
cat >"$NN_DIR/lonely.vpxi" <<EOS
[vpxi lonely]
duration = 1h
[group g]
count = 1
site = $SITE_A
image = lonely
EOS
u1 up "$NN_DIR/lonely.vpxi" >"$NN_DIR/lonely.out" 2>&1
eq "$?" 1 "node start from an image endorsed by 1 of 2 refused"
ok grep -q "image lonely refused" "$NN_DIR/lonely.out"
cat "$NN_DIR/lonely.out"

# --- a node that cannot be made (site B lacks the image): the nodes already
# made at site A are destroyed, the VPXI is recorded as failed, and its
# resources are free again (the next VPXI uses them)
cat >"$NN_DIR/rb.vpxi" <<EOS
[vpxi rb]
duration = 1h
[group ga]
count = 2
site = $SITE_A
image = busybox
[group gb]
count = 1
site = $SITE_B
image = nosuchimage
EOS
u1 up "$NN_DIR/rb.vpxi" >"$NN_DIR/rb.out" 2>&1
eq "$?" 1 "VPXI with an impossible node refused"
ok grep -q "rolled back" "$NN_DIR/rb.out"
ok nn_wait 10 sh -c "[ -z \"\$(ls -A '$NN_DIR/nodes2/rb' 2>/dev/null)\" ]"
eq "$(ip netns list | grep -c "^vx-$SITE_A-")" 0 "site A nodes of the failed VPXI destroyed"

# --- a VPXI of 5 nodes over both sites: clear between the ga nodes,
# integrity between ga and gc (both at site A) except tcp/5002, clear, and
# encrypted between the sites
cat >"$NN_DIR/t1.vpxi" <<EOS
[vpxi t1]
duration = 1h
renew-period = 20s
renew-margin = 60s
[group ga]
count = 2
site = $SITE_A
image = busybox
[group gb]
count = 2
site = $SITE_B
image = busybox
[group gc]
count = 1
site = $SITE_A
image = busybox
[link ga ga]
security = clear
[link ga gc]
ports = tcp/5002
security = clear
[link $SITE_A $SITE_A]
security = integrity
[link $SITE_A $SITE_B]
security = encrypt
EOS
ok u1 up "$NN_DIR/t1.vpxi"
u1 --json show t1 >"$NN_DIR/t1.json"
eq "$(jq '.node | length' "$NN_DIR/t1.json")" 5 "5 nodes"
eq "$(jq -r '.state' "$NN_DIR/t1.json")" active "VPXI active"
ok u1 ls

# --- authenticated process launch on every node, inside the node
for n in ga-1 ga-2 gb-1 gb-2; do
    eq "$(u1 exec $n -- /bin/hostname)" "$n" "exec on $n runs inside it"
done
eq "$(u1 exec ga-1 -- /bin/sh -c 'id -u')" 1000 "commands run unprivileged"
ok u1 exec ga-1 -- /bin/sh -c 'test ! -e /usr/bin/cmake'     # the image's root, not the host's
eq "$(echo hello | u1 exec gb-1 -- /bin/cat)" hello "stdin travels"
eq "$(u1 --json exec gb-1 -- /bin/sh -c 'echo out; echo err >&2; exit 3' | jq -r '[.exit, (.stdout|rtrimstr("\n")), (.stderr|rtrimstr("\n"))] | join(" ")')" "3 out err" "exec --json"
eq "$(u1 exec ga-2 -- /bin/sh -c 'exit 7'; echo $?)" 7 "exit status travels"
ok u1 exec gb-2 -- /bin/sh -c 'test -n "$VPXI_CONTEXT" && test -n "$VPXI_REQUESTER"'

# --- nodes reach each other over the VPXI overlay (v6 HITs), both sites
hit_gb1=$(jq -r '.node[] | select(.name=="gb-1") | .hit' "$NN_DIR/t1.json")
hit_ga2=$(jq -r '.node[] | select(.name=="ga-2") | .hit' "$NN_DIR/t1.json")
# a listener on gb-1 (port 5000, any address), reached from ga-1 through the overlay
u1 exec gb-1 -- /bin/sh -c '(nc -ll -p 5000 -e /bin/hostname >/dev/null 2>&1 &)'
ok nn_wait 15 u1 exec ga-1 -- /bin/sh -c "nc -w 2 $hit_gb1 5000 </dev/null | grep -q gb-1"
ok nn_wait 15 u1 exec ga-1 -- /bin/sh -c "nc -w 2 $hit_ga2 10512 </dev/null"
# per-link transforms (status of ga-1's own vpxid on host A)
sock=$(ls "$NN_DIR"/nodes2/t1/ga-1/vpxid.sock)
st() { VPXI_SOCKET="$sock" vpxi --json status; }
hit_gc1=$(jq -r '.node[] | select(.name=="gc-1") | .hit' "$NN_DIR/t1.json")
ok nn_wait 15 u1 exec ga-1 -- /bin/sh -c "nc -w 2 $hit_gc1 10512 </dev/null"
eq "$(st | jq -r --arg h "$hit_ga2" '.overlays[0].peers[] | select(.hit==$h) | .transform')" clear "clear between the ga nodes"
eq "$(st | jq -r --arg h "$hit_gc1" '.overlays[0].peers[] | select(.hit==$h) | .transform')" aes128-gmac "integrity inside site A"
eq "$(st | jq -r --arg h "$hit_gb1" '.overlays[0].peers[] | select(.hit==$h) | .transform')" aes128-gcm16 "encrypted between sites"
# the clear link (same site, one bridge) takes the direct path; the others ESP
eq "$(st | jq -r --arg h "$hit_ga2" '.overlays[0].peers[] | select(.hit==$h) | .data_path')" kernel "clear link on the direct path"
eq "$(st | jq -r --arg h "$hit_gc1" '.overlays[0].peers[] | select(.hit==$h) | .data_path')" "esp, clear ports kernel" "integrity link in ESP, its clear port class direct"
eq "$(st | jq -r --arg h "$hit_gc1" '.overlays[0].peers[] | select(.hit==$h) | .port_links | map("\(.proto)/\(.lo)-\(.hi) \(.link)") | join(",")')" "tcp/5002-5002 clear" "the port class from the specification"
# on the wire (site A's bridge): the clear link carries plain TCP between the
# nodes' HITs, an integrity-only link readable payload in ESP except on its
# clear port class (plain TCP), an encrypted one nothing readable
u1 exec ga-2 -- /bin/sh -c '(nc -ll -p 5001 -e /bin/cat >/dev/null 2>&1 &)'
u1 exec gc-1 -- /bin/sh -c '(nc -ll -p 5001 -e /bin/cat >/dev/null 2>&1 &)'
u1 exec gc-1 -- /bin/sh -c '(nc -ll -p 5002 -e /bin/cat >/dev/null 2>&1 &)'
ip netns exec "$NS_PREFIX-2" tcpdump --immediate-mode -i vxbr0 -U -w "$NN_DIR/wire.pcap" udp port 10500 >/dev/null 2>&1 &
tcpd=$!
ip netns exec "$NS_PREFIX-2" tcpdump --immediate-mode -i vxbr0 -U -w "$NN_DIR/plain.pcap" tcp port 5001 or tcp port 5002 >/dev/null 2>&1 &
tcpd2=$!
NN_PIDS+=($tcpd $tcpd2)
sleep 1
u1 exec ga-1 -- /bin/sh -c "echo VPXI-MARK-CLEAR | nc -w 2 $hit_ga2 5001" >/dev/null 2>&1
u1 exec ga-1 -- /bin/sh -c "echo VPXI-MARK-INTEGRITY | nc -w 2 $hit_gc1 5001" >/dev/null 2>&1
u1 exec ga-1 -- /bin/sh -c "echo VPXI-MARK-PORTCLEAR | nc -w 2 $hit_gc1 5002" >/dev/null 2>&1
u1 exec ga-1 -- /bin/sh -c "echo VPXI-MARK-ENCRYPTED | nc -w 2 $hit_gb1 5000" >/dev/null 2>&1
sleep 1
kill "$tcpd" "$tcpd2"; wait "$tcpd" "$tcpd2" 2>/dev/null
ok grep -aq VPXI-MARK-CLEAR "$NN_DIR/plain.pcap"
# ...and the node firewall counted it for vpxi status (both directions)
direct_ctr() { st | jq -r --arg h "$hit_ga2" ".overlays[0].peers[] | select(.hit==\$h) | .$1"; }
ok test "$(direct_ctr direct_tx_bytes)" -gt 0
ok test "$(direct_ctr direct_rx_packets)" -gt 0
nok grep -aq VPXI-MARK-CLEAR "$NN_DIR/wire.pcap"
ok grep -aq VPXI-MARK-INTEGRITY "$NN_DIR/wire.pcap"
nok grep -aq VPXI-MARK-INTEGRITY "$NN_DIR/plain.pcap"
ok grep -aq VPXI-MARK-PORTCLEAR "$NN_DIR/plain.pcap"
nok grep -aq VPXI-MARK-PORTCLEAR "$NN_DIR/wire.pcap"
nok grep -aq VPXI-MARK-ENCRYPTED "$NN_DIR/wire.pcap"
ok test "$(stat -c %s "$NN_DIR/wire.pcap")" -gt 1000   # the encrypted one was captured too
# the node firewall opens the direct path for exactly the clear peer: gc-1
# (same VPXI and site, integrity link), even with its own firewall removed
# and a route and neighbour entry for ga-2's HIT forced in by its root, is
# not let in by ga-2; ga-1 is
#
# in_node NAME CMD...: CMD in the network namespace of a site A node (its
# namespace is named in the host agent's mount namespace only: entered
# through the node's init)
in_node() {
    local pid
    pid=$(sed -n 's/^init_pid=//p' "$NN_DIR/nodes2/t1/$1/vnode/vnode.state")
    shift
    [ -n "$pid" ] && nsenter -t "$pid" -n "$@"
}
mac_ga2=$(in_node ga-2 ip -br link show eth0 | awk '{ print $3 }')
ok test -n "$mac_ga2"
direct_ok() { echo VPXI-DIRECT-OK | in_node ga-1 nc -w 2 "$hit_ga2" 5001 | grep -q VPXI-DIRECT-OK; }
spoof_ok() { echo VPXI-SPOOF | in_node gc-1 nc -w 2 "$hit_ga2" 5001 | grep -q VPXI-SPOOF; }
ok direct_ok
ok in_node gc-1 ip -6 route replace "$hit_ga2" dev eth0 src "$hit_gc1"
ok in_node gc-1 ip -6 neigh replace "$hit_ga2" lladdr "$mac_ga2" dev eth0 nud permanent
ok in_node gc-1 nft delete table inet vpxi
nok spoof_ok
# the membership certificate records the image the node started from
digest=$(sha256sum "$IMG/busybox.tar" | cut -d' ' -f1)
ok sh -c "vpxi sexp -s canonical '$NN_DIR/nodes2/t1/ga-1/chain.seq' | grep -aq '5:image6:sha25664:$digest'"
# isolation: the node's underlay carries only HIP/ESP
ul_gb1=$(jq -r '.node[] | select(.name=="gb-1") | .underlay' "$NN_DIR/t1.json")
nok u1 exec ga-1 -- /bin/sh -c "nc -w 2 $ul_gb1 5000 </dev/null | grep -q gb-1"

# --- requests beyond one's rights, and malformed ones, are refused; the
# registrar goes on serving
nok u2 down t1
nok u2 user add t1 "$NN_DIR/n4.pub" -o "$NN_DIR/x.seq"
printf '\000\000\000\005hello' | nq 4 nc -N -w 2 "$hit1" 10510 >/dev/null 2>&1
printf '\377\377\377\377' | nq 4 nc -N -w 2 "$hit1" 10510 >/dev/null 2>&1
ok grep -q "request from .* dropped" "$NN_DIR/d1.log"
ok u1 ls

# --- a second user: refused, then added by delegation (seed 000 4.2.3)
mkdir -p "$NN_DIR/u2"
cp "$NN_DIR/u1/t1/chain.seq" "$NN_DIR/stolen.seq"
nok u2 join t1 --chain "$NN_DIR/stolen.seq" --no-wait       # not a member: show refused
vpxi key pub "$NN_DIR/n5.key" >"$NN_DIR/u2.pub"
ok u1 user add t1 "$NN_DIR/u2.pub" -o "$NN_DIR/u2.seq"
ok vpxi cert show "$NN_DIR/u2.seq"
ok u2 join t1 --chain "$NN_DIR/u2.seq"
eq "$(u2 exec gb-2 -- /bin/hostname)" gb-2 "delegated user runs commands"

# --- the end: nodes destroyed, nothing left behind
ok u1 down t1
nok u2 exec gb-2 -- /bin/true
eq "$(ip netns list | grep -c "^vx-$SITE_A-\|^vx-$SITE_B-")" 0 "no node namespace left"
eq "$(grep -c "$NN_DIR/nodes" /proc/self/mountinfo)" 0 "no node mount left"
eq "$(ls "$NN_DIR/nodes2" "$NN_DIR/nodes3" 2>/dev/null | grep -vc ':$\|^$')" 0 "no node state left"
nn_done
