#!/usr/bin/env bash
# test_vnode.sh - virtual nodes (src/vpxid/hostagent/vnode.c), driven through
# tests/netns/vnode_driver.c: one driver command per host-agent step, so
# exec, spawn and destroy always go through vnode_load (as after a restart).
#
#        ns "$NS_0": the test's host side, bridge br0 198.19.1.254/24
#           |vh-<hash a>          |vh-<hash b>          |vh-<hash c>
#        node a                 node b                 node c, firewall on
#        eth0 198.19.1.11/24    eth0 198.19.1.12/24    eth0 198.19.1.13/24
#        image: busybox.tar     image: .tar.gz         image: a directory
#
# Node names t<ID>-x (netns vx-t<ID>-x, cgroup .../vpxi/t<ID>-x), statedirs
# under $NN_DIR. Nothing in the root network namespace is touched: the
# driver enters $NS_0 (--netns) before creating anything.
#
# Checks: rollback of failures injected midway; hostname, PID namespace (ps),
# root fs (image, overlay), files with modes, uid/gid 1000, cwd, /dev, cgroup
# (and memory.max/cpu.max where the controllers exist); ping between nodes,
# firewall (no ping; UDP 10500 passes, other ports do not); a daemon in the
# node's netns and UTS only; destroy leaves no netns, veth, mount, cgroup,
# statedir or process; create/destroy timing over repeated cycles.
set -u
. "$(dirname "$0")/lib.sh"

nn_require_root
nn_require ip nft nc timeout unshare ss gzip tar
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    nn_skip "overlayfs unavailable"
unshare --mount --pid --net --uts --ipc --fork true 2>/dev/null ||
    nn_skip "cannot unshare mount/PID/network/UTS/IPC namespaces"

DRV=${VPXI_BUILD:-}/tests/vnode_driver
[ -x "$DRV" ] || { echo "FAIL: $DRV missing (build the vnode_driver target)"; exit 1; }
SRC=${VPXI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
IMG=$SRC/out/images/busybox.tar
if [ ! -f "$IMG" ]; then
    [ -x /bin/busybox ] || nn_skip "no image and no static busybox to build one (busybox-static)"
    "$SRC/scripts/mkimage.sh" "$NN_DIR/img" >/dev/null || { echo "FAIL: mkimage.sh"; exit 1; }
    IMG=$NN_DIR/img/busybox.tar
fi

ID=$NN_ID
NODES=$NN_DIR/nodes
mkdir -p "$NODES"
CREATED=()  # statedirs to destroy on any exit
SPAWNED=()  # daemons started by the driver (orphans once it exits)

drv() { "$DRV" --netns "/run/netns/$NS_0" "$@"; }
# value NODEFILE KEY: a field of the driver's create output
value() { sed -n "s/^$2=//p" "$NN_DIR/$1.node"; }
# a process is gone when /proc has no entry or only a zombie (an orphan of
# a pid 1 that does not reap: the test's host may have one)
gone() {
    local s
    s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -z "$s" ] || [ "$s" = Z ]
}
no_mount_of() { ! grep -qF "$1" /proc/self/mountinfo; }
no_netns() { ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "vx-$1"; }
cgroup_of() { local r; for r in /sys/fs/cgroup /sys/fs/cgroup/unified; do echo "$r/vpxi/$1"; done; }

vn_cleanup() {
    local sd
    for sd in "${CREATED[@]}"; do
        [ -e "$sd/vnode.state" ] && drv destroy "$sd" "${SPAWNED[@]}" >/dev/null 2>&1
    done
    for pid in "${SPAWNED[@]}"; do gone "$pid" || kill -9 "$pid" 2>/dev/null; done
    nn_cleanup
}
trap vn_cleanup EXIT

ip netns add "$NS_0"
nq 0 ip link set lo up
nq 0 ip link add br0 type bridge
nq 0 ip addr add 198.19.1.254/24 dev br0
nq 0 ip link set br0 up

# Everything a node may leave behind is gone: NAME STATEDIR PIDS...
check_gone() {
    local name=$1 sd=$2 cg pid
    shift 2
    ok no_netns "$name"
    nok test -e "/run/netns/vx-$name"
    ok no_mount_of "$sd"
    nok test -e "$sd"
    for cg in $(cgroup_of "$name"); do nok test -e "$cg"; done
    for pid in "$@"; do ok gone "$pid"; done
}

# ---- failures injected midway roll back completely -------------------------------
# a missing bridge (after init, cgroup, netns and veth exist), a gateway the
# node cannot reach (after the firewall), a statedir that exists (must be
# left alone), an image that does not exist
fail_create() { # NAME EXPECTED-IN-ERROR ARGS...
    local name=$1 want=$2 pid
    shift 2
    if drv -v create --name "$name" --statedir "$NODES/$name" "$@" >"$NN_DIR/$name.out" \
        2>"$NN_DIR/$name.err"; then
        echo "FAIL: create $name should fail"
        NN_FAILS=$((NN_FAILS + 1))
        CREATED+=("$NODES/$name")
        return
    fi
    ok grep -q -- "$want" "$NN_DIR/$name.err"
    pid=$(sed -n 's/.*init \([0-9]*\) started.*/\1/p' "$NN_DIR/$name.err")
    if [ -n "$pid" ]; then
        # rolled back by the driver itself: killed and reaped, not even a zombie
        nok test -e "/proc/$pid"
    fi
    echo "  $name: $(grep vnode_create "$NN_DIR/$name.err")"
}
fail_create "t$ID-nobr" 'nosuchbr0' --image "$IMG" --bridge nosuchbr0 --address 198.19.1.50/24
check_gone "t$ID-nobr" "$NODES/t$ID-nobr"
fail_create "t$ID-nogw" 'node network' --image "$IMG" --bridge br0 --address 198.19.1.51/24 \
    --gateway 198.18.200.1 --firewall --memory-mb 32
check_gone "t$ID-nogw" "$NODES/t$ID-nogw"
eq "$(nq 0 ip -o link show type veth | wc -l)" 0 "veths left in $NS_0 after rollbacks"
mkdir "$NODES/t$ID-exists" && touch "$NODES/t$ID-exists/keep"
fail_create "t$ID-exists" 'File exists' --image "$IMG" --bridge br0 --address 198.19.1.52/24
ok test -e "$NODES/t$ID-exists/keep"
ok no_netns "t$ID-exists"
fail_create "t$ID-noimg" 'No such file' --image "$NN_DIR/none.tar" --bridge br0 \
    --address 198.19.1.53/24
check_gone "t$ID-noimg" "$NODES/t$ID-noimg"

# ---- three nodes -----------------------------------------------------------------------
gzip -c "$IMG" >"$NN_DIR/busybox.tar.gz"
mkdir "$NN_DIR/imgdir" && tar -x --numeric-owner -f "$IMG" -C "$NN_DIR/imgdir"

create() { # X ADDRESS ARGS...
    local x=$1 addr=$2 t0 t1
    shift 2
    CREATED+=("$NODES/$x")
    t0=$(date +%s%N)
    drv create --name "t$ID-$x" --statedir "$NODES/$x" --hostname "$x-host" --bridge br0 \
        --address "$addr" --gateway 198.19.1.254 "$@" >"$NN_DIR/$x.node" ||
        { echo "FAIL: create $x"; exit 1; }
    t1=$(date +%s%N)
    echo "  node $x: created in $(( (t1 - t0) / 1000000 )) ms ($(value "$x" veth)," \
        "cgroup '$(value "$x" cgroup)', limits_ok=$(value "$x" limits_ok))"
}
create a 198.19.1.11/24 --image "$IMG" --memory-mb 64 --cpu-milli 500 \
    --file "/etc/vpxi/node.conf:0640:overlay=demo" \
    --file "/etc/vpxi/hello.sh:0755:#!/bin/sh
echo hello from \$(hostname)"
create b 198.19.1.12/24 --image "$NN_DIR/busybox.tar.gz"
create c 198.19.1.13/24 --image "$NN_DIR/imgdir" --firewall
A=$NODES/a B=$NODES/b C=$NODES/c
declare -A ADDR=([a]=198.19.1.11/24 [b]=198.19.1.12/24 [c]=198.19.1.13/24)

# ---- each node: namespaces, root fs, users, files, cgroup --------------------------------
ns_differs() { [ "$(readlink "/proc/$1/ns/$2")" != "$(readlink "/proc/self/ns/$2")" ]; }
pids_small() { awk 'NR > 1 && $1 > 9 { bad = 1 } END { exit bad }'; }

for x in a b c; do
    sd=$NODES/$x
    init=$(value $x init_pid)
    ok test -e "/run/netns/vx-t$ID-$x"
    for ns in mnt pid net uts ipc; do ok ns_differs "$init" $ns; done
    eq "$(drv exec "$sd" -- hostname)" "$x-host" "hostname in $x"
    ps_out=$(drv exec "$sd" -- ps -o pid,comm)
    eq "$(echo "$ps_out" | awk 'NR > 1' | wc -l)" 2 "$x: ps sees init and itself only"
    eq "$(echo "$ps_out" | awk '$1 == 1 { print $2 }')" vnode-init "$x: pid 1"
    ok pids_small <<<"$ps_out"
    eq "$(drv exec "$sd" -- sh -c 'tr -d "\\000" </proc/1/cmdline')" vnode-init \
        "$x: init's command line hidden"
    ok drv exec "$sd" -- test -x /bin/busybox
    nok drv exec "$sd" -- test -e "$DRV"
    [ -e /usr/bin/cmake ] && nok drv exec "$sd" -- test -e /usr/bin/cmake
    eq "$(drv exec "$sd" -- awk '$2 == "/" { print $3 }' /proc/mounts)" overlay "$x: root fs"
    eq "$(drv exec "$sd" --uid 1000 --gid 1000 -- id -u)" 1000 "$x: uid"
    eq "$(drv exec "$sd" --uid 1000 --gid 1000 -- id -G)" 1000 "$x: groups"
    eq "$(drv exec "$sd" --uid 1000 --gid 1000 -- pwd)" /tmp "$x: cwd"
    nok drv exec "$sd" --uid 1000 --gid 1000 -- touch /etc/x 2>/dev/null
    eq "$(drv exec "$sd" --uid 1000 --gid 1000 -- sh -c 'echo x >/dev/null && head -c 16 /dev/urandom | wc -c')" \
        16 "$x: /dev"
    ok drv exec "$sd" -- test -c /dev/net/tun
    eq "$(drv exec "$sd" --uid 1000 --gid 1000 -- sh -c 'echo shm >/dev/shm/x && cat /dev/shm/x')" \
        shm "$x: /dev/shm"
    eq "$(drv exec "$sd" --env FOO=bar -- sh -c 'echo $FOO')" bar "$x: environment"
    eq "$(ip -n "vx-t$ID-$x" -4 -o addr show dev eth0 | awk '{ print $4 }')" "${ADDR[$x]}" \
        "$x: eth0 address"
    ok sh -c "ip -n vx-t$ID-$x route show default | grep -q 'via 198.19.1.254'"
    ok sh -c "ip -netns $NS_0 -o link show $(value $x veth) 2>/dev/null | grep -q 'master br0'"
    cg=$(value $x cgroup)
    if [ -n "$cg" ]; then
        ok grep -qx "$init" "$cg/cgroup.procs"
        ok sh -c "$DRV --netns /run/netns/$NS_0 exec $sd -- cat /proc/self/cgroup | grep -q '^0::.*/vpxi/t$ID-$x\$'"
    fi
done

# files given to vnode_create, with their modes (0640 is root's only)
eq "$(drv exec "$A" -- stat -c %a /etc/vpxi/node.conf)" 640 "node.conf mode"
eq "$(drv exec "$A" -- cat /etc/vpxi/node.conf)" "overlay=demo" "node.conf content"
nok drv exec "$A" --uid 1000 --gid 1000 -- cat /etc/vpxi/node.conf 2>/dev/null
eq "$(drv exec "$A" -- stat -c %a /etc/vpxi/hello.sh)" 755 "hello.sh mode"
eq "$(drv exec "$A" --uid 1000 --gid 1000 -- /etc/vpxi/hello.sh)" "hello from a-host" "hello.sh"
# and only in a's upper layer: the image (and b) are untouched
nok drv exec "$B" -- test -e /etc/vpxi/node.conf

cg=$(value a cgroup)
if [ -n "$cg" ] && [ -e "$cg/memory.max" ]; then
    eq "$(cat "$cg/memory.max")" $((64 << 20)) "memory.max"
    eq "$(cat "$cg/cpu.max")" "50000 100000" "cpu.max"
    eq "$(value a limits_ok)" 1 "limits_ok"
elif [ -n "$cg" ]; then
    echo "  SKIP memory.max: $(dirname "$(dirname "$cg")") has no memory controller (hybrid cgroups)"
    eq "$(value a limits_ok)" 0 "limits_ok reported honestly"
else
    echo "  SKIP cgroup checks: no cgroup v2 here"
fi

# ---- underlay and firewall -----------------------------------------------------------------
ok drv exec "$A" -- ping -c1 -W2 198.19.1.12
ok drv exec "$B" -- ping -c1 -W2 198.19.1.11
ok drv exec "$A" -- ping -c1 -W2 198.19.1.254
nok drv exec "$C" -- ping -c1 -W1 198.19.1.12
nok drv exec "$B" -- ping -c1 -W1 198.19.1.13

# udp_case FROM TO-NODE TO-ADDR PORT EXPECT(pass|drop) [SRCPORT]: one datagram
# through the host's nc in the nodes' network namespaces
udp_case() {
    local from=$1 to=$2 addr=$3 port=$4 expect=$5 sport=${6:-} out pid got
    out=$NN_DIR/udp-$from-$to-$port.out
    ip netns exec "vx-t$ID-$to" timeout 3 nc -u -l -W 1 "$port" >"$out" 2>/dev/null &
    pid=$!
    NN_PIDS+=("$pid")
    nn_wait 5 sh -c "ip netns exec vx-t$ID-$to ss -Hlun 'sport = :$port' | grep -q ."
    echo "udp-$from-$port" | ip netns exec "vx-t$ID-$from" nc -u -w1 ${sport:+-p $sport} \
        "$addr" "$port" 2>/dev/null
    wait "$pid" 2>/dev/null
    got=$(cat "$out")
    if [ "$expect" = pass ]; then
        eq "$got" "udp-$from-$port" "UDP $from -> $to:$port ${sport:+from $sport }should pass"
    else
        eq "$got" "" "UDP $from -> $to:$port ${sport:+from $sport }should be dropped"
    fi
}
udp_case b c 198.19.1.13 10500 pass
udp_case b c 198.19.1.13 10501 drop
udp_case c b 198.19.1.12 10500 pass
udp_case c b 198.19.1.12 10501 drop
udp_case c b 198.19.1.12 10501 pass 10500
udp_case a b 198.19.1.12 10501 pass
ok sh -c "ip netns exec vx-t$ID-c nft list ruleset | grep -q 'udp dport 10500 accept'"

# ---- a daemon in the node's netns and UTS only; processes to be stopped -----------------------
P1=$(drv spawn "$A" "$NN_DIR/a-daemon.log" -- /bin/sh -c \
    'echo uts=$(uname -n); echo mnt=$(readlink /proc/self/ns/mnt); echo net=$(readlink /proc/self/ns/net); exec sleep 600')
SPAWNED+=("$P1")
nn_wait 5 grep -q '^net=' "$NN_DIR/a-daemon.log"
ok grep -qxF "uts=a-host" "$NN_DIR/a-daemon.log"
ok grep -qxF "mnt=$(readlink /proc/self/ns/mnt)" "$NN_DIR/a-daemon.log"
ok grep -qxF "net=$(readlink "/proc/$(value a init_pid)/ns/net")" "$NN_DIR/a-daemon.log"
eq "$(readlink "/proc/$P1/ns/pid")" "$(readlink /proc/self/ns/pid)" "daemon in the host PID ns"
# one that ignores SIGTERM, with a child: SIGKILL after the grace, the child by the netns sweep
P2=$(drv spawn "$B" "$NN_DIR/b-daemon.log" -- /bin/sh -c \
    'trap "" TERM; sleep 600 & echo child=$!; wait')
SPAWNED+=("$P2")
nn_wait 5 grep -q '^child=' "$NN_DIR/b-daemon.log"
P2C=$(sed -n 's/^child=//p' "$NN_DIR/b-daemon.log")
# a process left running inside the node by a shell that exits: the node's
# init adopts it (its host pid is found through the netns and its argv)
drv exec "$A" -- sh -c 'sleep 601 >/dev/null 2>&1 </dev/null &'
node_proc() { # NETNS CMDLINE: host pid of the process running CMDLINE in NETNS
    local p
    for p in $(ip netns pids "$1"); do
        [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "$2 " ] && echo "$p"
    done
}
P3=$(node_proc "vx-t$ID-a" "sleep 601")
ok test -n "$P3"
eq "$(readlink "/proc/$P3/ns/pid")" "$(readlink "/proc/$(value a init_pid)/ns/pid")" \
    "exec'd process in the node's PID ns"
eq "$(awk '{ print $4 }' "/proc/$P3/stat")" "$(value a init_pid)" "adopted by the node's init"

# ---- destroy ---------------------------------------------------------------------------------
destroy() { # X PIDS...
    local x=$1 t0 t1
    shift
    t0=$(date +%s%N)
    ok drv destroy "$NODES/$x" "$@"
    t1=$(date +%s%N)
    echo "  node $x: destroyed in $(( (t1 - t0) / 1000000 )) ms"
}
VA=$(value a veth) VB=$(value b veth) VC=$(value c veth)
destroy a "$P1"
check_gone "t$ID-a" "$A" "$(value a init_pid)" "$P1" "$P3"
destroy b "$P2"
check_gone "t$ID-b" "$B" "$(value b init_pid)" "$P2" "$P2C"
destroy c
check_gone "t$ID-c" "$C" "$(value c init_pid)"
for v in "$VA" "$VB" "$VC"; do nok nq 0 ip link show "$v" 2>/dev/null; done
eq "$(nq 0 ip -o link show type veth | wc -l)" 0 "veths left in $NS_0"
ok gone "$P2C"
# a destroyed node cannot be loaded again
nok drv destroy "$A" 2>/dev/null

# ---- repeated create/exec/spawn/destroy in one process (init and daemon are its children) -----
cy_out=$(drv cycle 5 --name "t$ID-cy" --statedir "$NODES/cy" --image "$IMG" --bridge br0 \
    --address 198.19.1.60/24 --gateway 198.19.1.254 --firewall --memory-mb 64 --cpu-milli 200)
ok test $? -eq 0
echo "  cycle: $cy_out"
for i in 0 1 2 3 4; do check_gone "t$ID-cy-$i" "$NODES/cy-$i"; done
eq "$(nq 0 ip -o link show type veth | wc -l)" 0 "veths left after cycles"

nn_done
