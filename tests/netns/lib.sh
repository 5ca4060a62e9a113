#!/usr/bin/env bash
# lib.sh - shared harness for vpxi network-namespace integration tests.
#
# Topology built by nn_topology N (every test gets its own namespaces,
# named vpxi-t-$$-<i>, so parallel runs never collide):
#
#        ns "$NS_0" (the underlay "internet": a bridge br0)
#        198.18.0.254/24 on br0
#           |            |            |
#        veth         veth         veth
#           |            |            |
#     ns 1 (node1)  ns 2 (node2)  ns 3 (node3) ...
#     198.18.0.1    198.18.0.2    198.18.0.3       (underlay, 198.18.0.0/15)
#     100.64.0.1    100.64.0.2    100.64.0.3       (overlay IPv4, 100.64.0.0/10)
#     HIT (ORCHID)  HIT           HIT              (overlay IPv6)
#
# Helpers echo what they run (set NN_QUIET=1 to silence). Every exit path
# kills the processes started here (by PID) and deletes the namespaces.
# Tests that need root or a missing tool exit 77 (skip) with the reason.

set -u
NN_ID=${NN_ID:-$$}
NS_PREFIX="vpxi-t-$NN_ID"
NS_0="$NS_PREFIX-0"
NN_DIR=$(mktemp -d "/tmp/vpxi-netns-$NN_ID.XXXXXX")
NN_PIDS=()
NN_NODES=0
NN_FAILS=0
NN_CHECKS=0
# NN_SCALE=small shrinks bulk transfers (sanitizer builds)
nn_size() { if [ "${NN_SCALE:-full}" = small ]; then echo "$2"; else echo "$1"; fi; }

nn_log() { [ "${NN_QUIET:-0}" = 1 ] || echo "[$(date +%H:%M:%S.%3N)] $*" >&2; }
nn_skip() { echo "SKIP: $*"; exit 77; }

nn_require_root() {
    [ "$(id -u)" = 0 ] || nn_skip "needs root (network namespaces, TUN)"
    [ -c /dev/net/tun ] || nn_skip "/dev/net/tun missing"
    ip netns add "$NS_PREFIX-probe" 2>/dev/null || nn_skip "cannot create network namespaces"
    ip netns del "$NS_PREFIX-probe"
}

nn_require() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || nn_skip "needs $t (apt-get install ...)"; done
}

nn_cleanup() {
    local pid ns
    for pid in "${NN_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${NN_PIDS[@]}"; do
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX-"); do
        # anything still living in our namespaces was started by this test
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    [ "${NN_KEEP:-0}" = 1 ] && { echo "kept $NN_DIR"; return; }
    rm -rf "$NN_DIR"
}
trap nn_cleanup EXIT
trap 'exit 1' INT TERM

# n I CMD...: run CMD inside node I's namespace (0 = the underlay).
n() {
    local i=$1; shift
    [ "${NN_QUIET:-0}" = 1 ] || echo "+ n$i $*" >&2
    ip netns exec "$NS_PREFIX-$i" "$@"
}
nq() { local i=$1; shift; ip netns exec "$NS_PREFIX-$i" "$@"; }

nn_topology() {
    local count=$1 i
    ip netns add "$NS_0"
    nq 0 ip link add br0 type bridge
    nq 0 ip addr add 198.18.0.254/24 dev br0
    nq 0 ip link set br0 up
    nq 0 ip link set lo up
    for i in $(seq 1 "$count"); do
        ip netns add "$NS_PREFIX-$i"
        # both ends created directly inside their namespaces: no names in the root namespace
        ip link add "p$i" netns "$NS_0" type veth peer name eth0 netns "$NS_PREFIX-$i"
        nq 0 ip link set "p$i" master br0 up
        nq "$i" ip link set lo up
        nq "$i" ip addr add "198.18.0.$i/24" dev eth0
        nq "$i" ip link set eth0 up
    done
    NN_NODES=$count
}

# Starts CMD in node I's namespace in the background; logs to $NN_DIR/NAME.log.
nn_start() {
    local i=$1 name=$2; shift 2
    [ "${NN_QUIET:-0}" = 1 ] || echo "+ n$i (bg $name) $*" >&2
    # append mode: a test may truncate the log while the process runs
    ip netns exec "$NS_PREFIX-$i" "$@" >>"$NN_DIR/$name.log" 2>&1 </dev/null &
    NN_PIDS+=($!)
    eval "PID_$name=$!"
}

nn_stop() { # nn_stop PID [signal]
    local pid=$1 sig=${2:-TERM}
    kill -"$sig" "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    return 1
}

# Waits up to SECS for CMD to succeed (polled every 50 ms). No bare sleeps.
nn_wait() {
    local secs=$1; shift
    local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
    while [ "$(date +%s%N)" -lt "$deadline" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# Assertions: count checks, report failures, keep going.
ok()  { NN_CHECKS=$((NN_CHECKS + 1)); if "$@"; then :; else echo "FAIL: $*"; NN_FAILS=$((NN_FAILS + 1)); fi; }
nok() { NN_CHECKS=$((NN_CHECKS + 1)); if "$@"; then echo "FAIL (should fail): $*"; NN_FAILS=$((NN_FAILS + 1)); fi; }
eq()  { NN_CHECKS=$((NN_CHECKS + 1)); if [ "$1" = "$2" ]; then :; else echo "FAIL: ${3:-values differ}: '$1' != '$2'"; NN_FAILS=$((NN_FAILS + 1)); fi; }
nn_done() {
    echo "$NN_CHECKS checks, $NN_FAILS failures"
    [ "$NN_FAILS" -eq 0 ]
}

# ---- overlay set-up ------------------------------------------------------------
#
# nn_overlay_setup N [OVERLAY]: in $NN_DIR, a registrar key H and for each
# node i a key, a membership certificate H -> node (tag (vpxi OVERLAY (*)
# member), valid for NN_CERT_VALID, default +1d), an ACL trusting H for the
# overlay, and a configuration n$i.conf with every other node as a static
# peer. Extra config lines for the overlay section can be given in
# NN_OVERLAY_EXTRA, for peer sections in NN_PEER_EXTRA.
nn_overlay_setup() {
    local count=$1 name=${2:-demo} i j
    NN_OVERLAY=$name
    vpxi key gen -o "$NN_DIR/H.key" >/dev/null && vpxi key pub "$NN_DIR/H.key" >"$NN_DIR/H.pub" || return 1
    for i in $(seq 1 "$count"); do
        vpxi key gen ${NN_KEY_ALG:+--alg $NN_KEY_ALG} -o "$NN_DIR/n$i.key" >/dev/null || return 1
        vpxi key pub "$NN_DIR/n$i.key" >"$NN_DIR/n$i.pub" || return 1
        vpxi cert issue --issuer "$NN_DIR/H.key" --subject "$NN_DIR/n$i.pub" \
            --tag "(vpxi $name (*) member)" --not-before -1h --not-after "${NN_CERT_VALID:-+1d}" \
            -o "$NN_DIR/n$i.cert" || return 1
        vpxi cert acl --subject "$NN_DIR/H.pub" --propagate \
            --tag "(vpxi $name (*) (* set member exec))" -o "$NN_DIR/n$i.acl" || return 1
    done
    for i in $(seq 1 "$count"); do
        {
            echo "[daemon]"
            echo "control = $NN_DIR/n$i.sock"
            echo "user ="
            echo "log-level = ${NN_LOG_LEVEL:-info}"
            [ -n "${NN_KEYLOG:-}" ] && echo "keylog = $NN_DIR/keys$i.txt"
            echo
            echo "[overlay $name]"
            echo "key = $NN_DIR/n$i.key"
            echo "acl = $NN_DIR/n$i.acl"
            echo "chain = $NN_DIR/n$i.cert"
            echo "tun = vpxi0"
            echo "ipv4 = 100.64.0.$i"
            echo "listen = 198.18.0.$i:10500"
            [ -n "${NN_OVERLAY_EXTRA:-}" ] && printf '%s\n' "$NN_OVERLAY_EXTRA"
            for j in $(seq 1 "$count"); do
                [ "$i" = "$j" ] && continue
                echo
                echo "[peer $name n$j]"
                echo "pubkey = $NN_DIR/n$j.pub"
                echo "address = 198.18.0.$j"
                echo "ipv4 = 100.64.0.$j"
                [ -n "${NN_PEER_EXTRA:-}" ] && printf '%s\n' "$NN_PEER_EXTRA"
            done
        } >"$NN_DIR/n$i.conf"
    done
}

# nn_vpxid I: starts vpxid for node I (PID in PID_d$I).
nn_vpxid() {
    local i=$1
    nn_start "$i" "d$i" vpxid -c "$NN_DIR/n$i.conf"
}

# vs I ARGS...: vpxi talking to node I's daemon.
vs() { local i=$1; shift; VPXI_SOCKET="$NN_DIR/n$i.sock" vpxi "$@"; }
# js I JQ-EXPR: a field of node I's status (first overlay).
js() { vs "$1" --json status | jq -r ".overlays[0]$2"; }
# peer_state I PEER
peer_state() { js "$1" ".peers[] | select(.name == \"$2\") | .state"; }
hit_of() { vpxi key hit "$NN_DIR/n$1.key"; }
