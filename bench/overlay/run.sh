#!/usr/bin/env bash
# bench/overlay/run.sh - vpxi beside the overlays it competes with, measured
# in one run on one topology by the shared anchor scripts
# (../shared/bench/anchors: two namespaces over veth, underlay 198.18.0.1/.2,
# overlay 100.64.0.1/.2): single-stream TCP both ways, 4 streams, ping
# min/avg, 64-byte UDP packets per second, setup time (daemon start to first
# ping), daemon CPU. Prints the anchors' table with vpxi in it.
#
#   bench/overlay/run.sh                       # vpxi, raw veth, wireguard-go, nebula, tinc
#   ANCHORS="raw wggo nebula" RUNS=2 bench/overlay/run.sh
#   VARIANTS="gcm integrity" bench/overlay/run.sh   # also NULL+HMAC-SHA-256
#
# Needs root, the built binaries (out/release, or VPXID/VPXI), and the
# anchors' packages (see their README; scripts/deps.sh --bench installs them).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
ANC=${ANC_DIR:-$top/../shared/bench/anchors}
[ -d "$ANC" ] || ANC=/work/shared/bench/anchors
VPXID=${VPXID:-$top/out/release/src/vpxid}
VPXI=${VPXI:-$top/out/release/src/vpxi}
ANCHORS=${ANCHORS:-raw wggo nebula tinc}
VARIANTS=${VARIANTS:-gcm}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
[ -x "$VPXID" ] && [ -x "$VPXI" ] || { echo "build first: scripts/build.sh release" >&2; exit 1; }

dir=$(mktemp -d /tmp/vpxi-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=${RESULT_ROOT:-$top/out/bench/overlay/$stamp}
mkdir -p "$results"

# identities and certificates: a registrar H, nodes a and b
"$VPXI" key gen -o "$dir/H.key" >/dev/null
"$VPXI" key pub "$dir/H.key" >"$dir/H.pub"
for n in a b; do
    "$VPXI" key gen -o "$dir/$n.key" >/dev/null
    "$VPXI" key pub "$dir/$n.key" >"$dir/$n.pub"
    "$VPXI" cert issue --issuer "$dir/H.key" --subject "$dir/$n.pub" --tag '(vpxi bench (*) member)' \
        --not-before -1h --not-after +1d -o "$dir/$n.cert"
    "$VPXI" cert acl --subject "$dir/H.pub" --propagate --tag '(vpxi bench (*) (* set member exec))' \
        -o "$dir/$n.acl"
done

conf() { # conf NODE ME PEER OVME OVPEER VARIANT
    local esp="aes128-gcm16" link=encrypt
    [ "$6" = cbc ] && esp="aes128-cbc-sha256"
    [ "$6" = integrity ] && link=integrity
    cat <<EOC
[daemon]
control = $dir/$1-$6.sock
user =
log-level = warn

[overlay bench]
key = $dir/$1.key
acl = $dir/$1.acl
chain = $dir/$1.cert
tun = vpxi0
ipv4 = $4
listen = $2:10500
esp = $esp
dh = ${BENCH_DH:-p256 modp2048}

[peer bench peer]
pubkey = $dir/$([ "$1" = a ] && echo b || echo a).pub
address = $3
ipv4 = $5
link = $link
EOC
}

list="$ANCHORS"
for v in $VARIANTS; do
    conf a 198.18.0.1 198.18.0.2 100.64.0.1 100.64.0.2 "$v" >"$dir/a-$v.conf"
    conf b 198.18.0.2 198.18.0.1 100.64.0.2 100.64.0.1 "$v" >"$dir/b-$v.conf"
done

# the anchors' runner takes one custom entry per invocation: run it once per
# variant into the same result root, then print one table
export RESULT_ROOT=$results RUNS=${RUNS:-1} T_TCP=${T_TCP:-10} T_UDP=${T_UDP:-5}
first=1
for v in $VARIANTS; do
    entries="custom"
    [ $first = 1 ] && entries="$ANCHORS custom"
    first=0
    CUSTOM_NAME="vpxi-$v" CUSTOM_VERSION="vpxi $("$VPXID" --version | cut -d' ' -f2)" \
    CUSTOM_CIPHER="HIPv2 P-256 + ESP $v in UDP (user space)" \
    CUSTOM_CMD_A="exec $VPXID -c $dir/a-$v.conf" CUSTOM_CMD_B="exec $VPXID -c $dir/b-$v.conf" \
    CUSTOM_DEV_A=vpxi0 CUSTOM_NOTES="vpxi $v" \
        bash "$ANC/run-all.sh" $entries >"$results/run-$v.log" 2>&1 || true
    list="$list vpxi-$v"
done
SYSTEM_ORDER="$list" bash "$ANC/report.sh" "$results" | tee "$results/table.md"
echo "results: $results"
