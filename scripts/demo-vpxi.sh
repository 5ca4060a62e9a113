#!/usr/bin/env bash
# demo-vpxi.sh - the main demonstration: a VPXI on one machine.
#
# Two sites (network namespaces joined by a link with 10 ms of added delay,
# tc netem), a registrar, one host agent per site, a user (alice) and a
# second user (bob). alice asks for the VPXI of examples/medimg.vpxi: one
# coordinator and three workers at site A, three workers at site B, links
# inside site A integrity-only, everything between the sites encrypted.
# A medical-imaging style workload runs on it (the coordinator hands
# synthetic scans to the workers over the overlay and checks every result),
# then: an outsider is refused, bob is added by delegation and gets in, and
# the end of the VPXI cuts access. Prints a report; leaves nothing behind.
#
#   BIN=DIR (default out/release): where src/vpxi, src/vpxid and
#   examples/imgwork are. Needs root (namespaces, TUN, overlayfs).
# Exit status 0 only if every expected result happened.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$top/out/release}
export PATH="$BIN/src:$PATH" VPXI_SRC="$top" NN_QUIET=1
[ -x "$BIN/src/vpxid" ] && [ -x "$BIN/src/vpxi" ] && [ -x "$BIN/examples/imgwork" ] ||
    { echo "demo-vpxi.sh: build first (./scripts/build.sh release)" >&2; exit 1; }
. "$top/tests/netns/lib.sh"
nn_require_root
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

if [ -t 1 ]; then b=$'\033[1m' red=$'\033[1;31m' green=$'\033[1;32m' off=$'\033[0m'; else b='' red='' green='' off=''; fi
h1() { printf '\n%s==== %s ====%s\n' "$b" "$*" "$off"; }
note() { printf '  %s\n' "$*"; }
die() { printf '\n%sDEMO FAILED: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }
okay() { printf '  %s✓%s %s\n' "$green" "$off" "$*"; }
t_start=$(date +%s)

h1 "1. Two sites, a registrar, two host agents, two users"
IMG=$NN_DIR/images
mkdir -p "$IMG"
"$top/scripts/mkimage.sh" "$IMG" >/dev/null || die "cannot build the node image (busybox-static)"
# the workload goes into the image, as a second layer of the tarball
mkdir -p "$NN_DIR/layer/bin" && cp "$BIN/examples/imgwork" "$NN_DIR/layer/bin/imgwork"
cp "$IMG/busybox.tar" "$IMG/medimg.tar"
tar -C "$NN_DIR/layer" --owner=0 --group=0 -rf "$IMG/medimg.tar" ./bin/imgwork || die "image"
note "image medimg: busybox + imgwork, sha256 $(sha256sum "$IMG/medimg.tar" | cut -c1-16)..."

nn_topology 5
nn_overlay_setup 5 hipernet >/dev/null || die "keys and certificates of the infrastructure overlay"
reg_hit=$(hit_of 1)
for i in 1 4 5; do
    nq $i ip route add 198.19.1.0/24 via 198.18.0.2
    nq $i ip route add 198.19.2.0/24 via 198.18.0.3
done
nq 2 ip route add 198.19.2.0/24 via 198.18.0.3
nq 3 ip route add 198.19.1.0/24 via 198.18.0.2
delay="no netem (kernel module missing): no added delay"
if nq 2 tc qdisc add dev eth0 root netem delay 5ms 2>/dev/null &&
    nq 3 tc qdisc add dev eth0 root netem delay 5ms 2>/dev/null; then
    delay="10 ms between the sites (tc netem)"
fi
cat >>"$NN_DIR/n1.conf" <<EOC

[registrar]
database = $NN_DIR/registrar.db
approve = auto
EOC
for i in 2 3; do
    site=site-a net=198.19.1.0/24 res=5
    [ $i = 3 ] && { site=site-b net=198.19.2.0/24 res=3; }
    cat >>"$NN_DIR/n$i.conf" <<EOC

[hostagent]
registrar = $reg_hit
site = $site
statedir = $NN_DIR/nodes-$site
images = $IMG
node-subnet = $net
resources = $res
memory = 256
EOC
done
for i in 1 2 3 4 5; do nn_vpxid $i; done
nn_wait 20 grep -q "resources of site site-a registered" "$NN_DIR/d2.log" || die "host agent A did not register"
nn_wait 20 grep -q "resources of site site-b registered" "$NN_DIR/d3.log" || die "host agent B did not register"
note "underlay 198.18.0.0/24; site A nodes 198.19.1.0/24, site B nodes 198.19.2.0/24; $delay"
note "registrar   $reg_hit"
note "alice       $(hit_of 4)"
note "bob         $(hit_of 5)"

alice() { nq 4 env VPXI_KEY="$NN_DIR/n4.key" VPXI_REGISTRAR="$reg_hit" VPXI_STATE="$NN_DIR/alice" vpxi "$@"; }
bob() { nq 5 env VPXI_KEY="$NN_DIR/n5.key" VPXI_REGISTRAR="$reg_hit" VPXI_STATE="$NN_DIR/bob" vpxi "$@"; }
nn_wait 10 alice enroll --name alice --contact alice@example.org --agree v1 || die "alice cannot enrol"
bob enroll --name bob --agree v1 >/dev/null || die "bob cannot enrol"
okay "alice and bob enrolled (usage agreement v1)"

h1 "2. alice: vpxi up medimg.vpxi"
cat >"$NN_DIR/medimg.vpxi" <<'EOS'
# the demonstration's VPXI (format: docs/spec.md; a longer example: examples/medimg.vpxi)
[vpxi medimg]
start = now
duration = 1h
community = hipernet

[group coordinator]
count = 1
site = site-a
image = medimg
memory = 128

[group workers-a]
count = 3
site = site-a
image = medimg
role = worker

[group workers-b]
count = 3
site = site-b
image = medimg
role = worker

# inside site A: authenticated, not secret
[link site-a site-a]
security = integrity

# between the sites: always encrypted
[link site-a site-b]
security = encrypt
EOS
sed 's/^/  | /' "$NN_DIR/medimg.vpxi" | grep -v '^  | #\|^  | $'
alice up "$NN_DIR/medimg.vpxi" | sed 's/^/  /' || die "vpxi up failed"
alice --json show medimg >"$NN_DIR/medimg.json" || die "vpxi show failed"
[ "$(jq '.node | length' "$NN_DIR/medimg.json")" -ge 6 ] || die "fewer than 6 nodes"

h1 "3. Certificate chains"
alice show medimg | sed -n '/your chain/,$p' | sed 's/^/  /'
note "each node holds: registrar -> node  (tag (vpxi medimg (*) member)), renewed before it expires"
note "each node trusts: its own ACL entry for the registrar (tag (vpxi medimg (*) (* set member exec admin)))"

h1 "4. The workload: the coordinator distributes scans to 6 workers over the overlay"
workers=()
for n in $(jq -r '.node[] | select(.group != "coordinator") | .name' "$NN_DIR/medimg.json"); do
    alice exec "$n" -- /bin/sh -c '/bin/imgwork worker 5000 >/dev/null 2>&1 &' || die "cannot start a worker on $n"
    workers+=("[$(jq -r --arg n "$n" '.node[] | select(.name==$n) | .hit' "$NN_DIR/medimg.json")]:5000")
done
coord=$(jq -r '.node[] | select(.group == "coordinator") | .name' "$NN_DIR/medimg.json")
sleep 0.5
alice exec "$coord" -- /bin/imgwork coordinator 120 1024 "${workers[@]}" >"$NN_DIR/work.out" 2>&1 ||
    { cat "$NN_DIR/work.out"; die "the workload failed"; }
sed 's/^/  /' "$NN_DIR/work.out"
makespan=$(sed -n 's/.*makespan \([0-9.]*\) s/\1/p' "$NN_DIR/work.out")
okay "every result checked by the coordinator"

h1 "5. Links: the transform each pair uses, and its bytes (seen from $coord)"
sock=$(ls "$NN_DIR"/nodes-site-a/medimg/"$coord"/vpxid.sock)
VPXI_SOCKET="$sock" vpxi --json status >"$NN_DIR/coord.json"
printf '  %-14s %-10s %-14s %12s %12s\n' peer link transform "tx bytes" "rx bytes"
jq -r '.overlays[0].peers[] | [.name, .link, .transform, .tx_bytes, .rx_bytes] | @tsv' "$NN_DIR/coord.json" |
    while IFS=$'\t' read -r p l t tx rx; do printf '  %-14s %-10s %-14s %12s %12s\n' "$p" "$l" "$t" "$tx" "$rx"; done
jq -e '[.overlays[0].peers[] | select(.name | startswith("workers-b")) | .transform] | all(. == "aes128-gcm16")' \
    "$NN_DIR/coord.json" >/dev/null || die "a link between the sites is not encrypted"
okay "between the sites: encrypted (AES-128-GCM); inside site A: as the specification says"

h1 "6. An outsider is refused"
mkdir -p "$NN_DIR/bob"
if bob join medimg --chain "$NN_DIR/alice/medimg/chain.seq" --no-wait >"$NN_DIR/out1" 2>&1; then die "bob joined with alice's chain"; fi
sed 's/^/  bob (not a member, holding a copy of alice'"'"'s chain): /' "$NN_DIR/out1" | head -2
okay "the registrar refuses a non-member"
# an outsider node: bob's key, a copy of alice's chain, aimed at the coordinator
coord_hit=$(jq -r --arg n "$coord" '.node[] | select(.name==$n) | .hit' "$NN_DIR/medimg.json")
coord_ul=$(jq -r --arg n "$coord" '.node[] | select(.name==$n) | .underlay' "$NN_DIR/medimg.json")
mkdir -p "$NN_DIR/outsider"
cat >"$NN_DIR/outsider/vpxid.conf" <<EOC
[daemon]
control = $NN_DIR/outsider/vpxid.sock
user =
[overlay medimg]
key = $NN_DIR/n5.key
acl = $NN_DIR/alice/medimg/acl
chain = $NN_DIR/alice/medimg/chain.seq
tun = vout0
listen = 0.0.0.0:10509
dh = p256
[peer medimg coordinator]
hit = $coord_hit
address = $coord_ul:10500
EOC
nn_start 5 outsider vpxid -c "$NN_DIR/outsider/vpxid.conf"
coord_log=$(ls "$NN_DIR"/nodes-site-a/medimg/"$coord"/vpxid.log)
nn_wait 15 grep -q "refused $(vpxi key hit "$NN_DIR/n5.key" | cut -d: -f1-4)" "$coord_log" ||
    nn_wait 1 grep -q "refused" "$coord_log" || die "the coordinator did not refuse the outsider node"
grep "refused" "$coord_log" | tail -1 | sed 's/^[0-9:.]* */  coordinator log: /'
if nq 5 ping -6 -c1 -W1 "$coord_hit" >/dev/null 2>&1; then die "the outsider reached the coordinator"; fi
nn_stop "$PID_outsider" >/dev/null
okay "an outsider node with a copied chain is refused by the node itself: the chain's subject is alice's key, and bob cannot prove it"

h1 "7. alice adds bob by delegation (registrar -> alice may delegate, alice -> bob may not)"
vpxi key pub "$NN_DIR/n5.key" >"$NN_DIR/bob.pub"
alice user add medimg "$NN_DIR/bob.pub" -o "$NN_DIR/bob.seq" | sed 's/^/  /' || die "user add failed"
bob join medimg --chain "$NN_DIR/bob.seq" | sed 's/^/  /' || die "bob cannot join"
out=$(bob exec "$coord" -- /bin/hostname) || die "bob cannot run commands"
okay "bob runs commands on the nodes: hostname of $coord is '$out'"

h1 "8. The end of the VPXI cuts access"
alice down medimg | sed 's/^/  /' || die "vpxi down failed"
if bob exec "$coord" -- /bin/true 2>/dev/null; then die "bob still has access"; fi
okay "bob's access ended with the VPXI"
left=$(ip netns list | grep -c '^vx-site-' || true)
[ "$left" = 0 ] || die "$left node namespaces left"
okay "every node destroyed: no namespace, mount or process left"

h1 "Report"
note "nodes:     $(jq '.node | length' "$NN_DIR/medimg.json") ($(jq -r '[.node[] | .site] | group_by(.) | map("\(.[0]): \(length)") | join(", ")' "$NN_DIR/medimg.json"))"
note "workload:  120 scans of 1 MiB, makespan ${makespan:-?} s, all results correct"
note "links:     integrity inside site A, encrypted between sites (see 5.)"
note "refused:   an outsider with a copied chain; bob after the end"
note "delegated: bob via alice (seed 000 4.2.3)"
note "total:     $(( $(date +%s) - t_start )) s"
printf '\n%sDEMO OK%s\n' "$green" "$off"
