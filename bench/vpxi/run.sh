#!/usr/bin/env bash
# bench/vpxi/run.sh - what it costs to make a VPXI and to run a coupled job
# on it (issue 4, Benchmark; seed 002 section 8.2, Table 1). See README.md.
#
#   1. `vpxi up` (until every node answers through the overlay) and
#      `vpxi down` of VPXIs of 2, 8 and 32 nodes, half at each of two sites.
#   2. Certificate issuances per second at the registrar: `vpxi user add`
#      in a loop (one durable issuance by the registrar each), one client,
#      then several at once; checked against the rows of its `issued` table.
#   3. Seed 002 Table 1: a coupled job (bench/vpxi/coupled.c) on 8 nodes,
#      two groups of 4 at two sites 10 ms apart, with
#        (a)  no security: plain TCP between the nodes' underlay addresses
#             (node firewall off), no overlay at all;
#        (a') every link integrity (ESP AES-GMAC, or NULL + HMAC-SHA-256) over the overlay;
#        (b)  inside the groups clear (a group is at one site: the nodes of one
#             host agent's bridge take the direct path, plain IP at kernel
#             speed, docs/hip.md section 11), between the groups encrypted;
#        (c)  everything encrypted (ESP AES-128-GCM);
#      REPS rounds, the modes interleaved; medians and ratios beside the
#      seed's 854 / 897 / 1459 s.
# Prints one table at the end. Builds nothing.
#
#   BIN=DIR (default out/release): needs src/vpxi, src/vpxid, bench/coupled.
#   SIZES="2 8 32"  ISSUE_N=200 ISSUE_PAR=4 ISSUE_SECS=60
#   REPS=5 ITERS=100 B_INTRA=1048576 B_INTER=52429 COMPUTE_US=0 JOB_SECS=120
#   TABLE1=0 skips part 3 (and the table)
# Needs root (namespaces, TUN, overlayfs); exits 77 without it. Topology:
#   ns1 registrar, ns2/ns3 host agents of sites A/B (phase 1, 2; node firewall
#   on), ns4/ns5 host agents of sites C/D (phase 3; node firewall off, for
#   mode (a)), ns6 alice (owner), ns7 bob (the user added in phase 2).
#   Underlay 198.18.0.0/24; node subnets 198.19.1-4.0/24; every host's
#   underlay link delays 5 ms (tc netem): 10 ms between two sites.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$top/out/release}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ "$(id -u)" = 0 ] || { echo "SKIP: bench/vpxi/run.sh needs root (network namespaces, TUN, overlayfs)"; exit 77; }
for f in src/vpxi src/vpxid bench/coupled; do
    [ -x "$BIN/$f" ] || { echo "bench/vpxi/run.sh: $BIN/$f missing: build first (cmake --build DIR)" >&2; exit 1; }
done
export PATH="$BIN/src:$PATH" VPXI_SRC="$top" NN_QUIET=1
. "$top/tests/netns/lib.sh"
# our own directory, outside /tmp/vpxi-netns-*: a hand clean-up of stale test
# directories (rm -rf /tmp/vpxi-netns-*) elsewhere must not pull it from under
# a running bench; nn_cleanup removes whatever NN_DIR names
rmdir "$NN_DIR" && NN_DIR=$(mktemp -d /tmp/vpxi-bench-vpxi.XXXXXX) || exit 1
nn_require_root
nn_require jq sqlite3 tc timeout awk
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

SIZES=${SIZES:-2 8 32}
ISSUE_N=${ISSUE_N:-200} ISSUE_PAR=${ISSUE_PAR:-4} ISSUE_SECS=${ISSUE_SECS:-60}
REPS=${REPS:-5} ITERS=${ITERS:-100} B_INTRA=${B_INTRA:-1048576} B_INTER=${B_INTER:-52429}
COMPUTE_US=${COMPUTE_US:-0} JOB_SECS=${JOB_SECS:-120}
UP_SECS=300 # bound of one `vpxi up` or `vpxi down`

t_start=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - t_start)) "$*"; }
die() { echo "bench/vpxi: FAILED: $*" >&2; exit 1; }
ns_now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
# median of numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.3f-%.3f", lo, hi; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
# HH:MM:SS.mmm (vpxid log) -> seconds of the day
tod() { awk -F'[:.]' '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 + $4 / 1000 }' <<<"$1"; }

# ---- clean-up: every VPXI down, host agents stopped with time to destroy their nodes
UP_LIST=""
bench_cleanup() {
    local v pid i
    trap - INT TERM
    for v in $UP_LIST; do timeout 90 ip netns exec "$NS_PREFIX-6" env VPXI_KEY="$NN_DIR/n6.key" \
        VPXI_REGISTRAR="$reg_hit" VPXI_STATE="$NN_DIR/alice" vpxi -q down "$v" >/dev/null 2>&1; done
    for i in 2 3 4 5; do
        pid=$(eval echo "\${PID_d$i:-}")
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    left=$(ip netns list 2>/dev/null | grep -c "^vx-\(${SA:-x}\|${SB:-x}\|${SC:-x}\|${SD:-x}\)-" || true)
    [ "$left" = 0 ] || echo "bench/vpxi: WARNING: $left node namespaces left behind" >&2
    nn_cleanup
}
reg_hit=
trap bench_cleanup EXIT

# ---- topology ----------------------------------------------------------------------
id=$((NN_ID % 100000))
SA=ba$id SB=bb$id SC=bc$id SD=bd$id # site names: unique per run (node netns vx-SITE-N, cgroups)
say "image: busybox + coupled"
IMG=$NN_DIR/images
mkdir -p "$IMG" "$NN_DIR/layer/bin"
"$top/scripts/mkimage.sh" "$IMG" >/dev/null || nn_skip "cannot build the node image (busybox-static)"
cp "$BIN/bench/coupled" "$NN_DIR/layer/bin/coupled"
cp "$IMG/busybox.tar" "$IMG/bench.tar"
tar -C "$NN_DIR/layer" --owner=0 --group=0 -rf "$IMG/bench.tar" ./bin/coupled || die "image"
img_kib=$(($(stat -c %s "$IMG/bench.tar") / 1024))

nn_topology 7
nn_overlay_setup 7 hipernet >/dev/null || die "keys and certificates of the infrastructure overlay"
reg_hit=$(hit_of 1)
site_of_host() { case $1 in 2) echo "$SA" ;; 3) echo "$SB" ;; 4) echo "$SC" ;; 5) echo "$SD" ;; esac; }
for j in 1 2 3 4 5 6 7; do
    for k in 1 2 3 4; do
        [ "$j" = $((k + 1)) ] || nq "$j" ip route add "198.19.$k.0/24" via "198.18.0.$((k + 1))"
    done
done
netem=yes
for i in 2 3 4 5; do
    nq "$i" tc qdisc add dev eth0 root netem delay 5ms limit 100000 2>/dev/null || netem=no
done
cat >>"$NN_DIR/n1.conf" <<EOC

[registrar]
database = $NN_DIR/registrar.db
approve = auto
EOC
for i in 2 3 4 5; do
    res=16 fw=yes
    [ "$i" -ge 4 ] && { res=12; fw=no; }
    cat >>"$NN_DIR/n$i.conf" <<EOC

[hostagent]
registrar = $reg_hit
site = $(site_of_host "$i")
statedir = $NN_DIR/nodes-$(site_of_host "$i")
images = $IMG
node-subnet = 198.19.$((i - 1)).0/24
resources = $res
memory = 256
firewall = $fw
EOC
done
for i in 1 2 3 4 5 6 7; do nn_vpxid "$i"; done
for i in 2 3 4 5; do
    nn_wait 30 grep -q "resources of site $(site_of_host $i) registered" "$NN_DIR/d$i.log" ||
        die "host agent $(site_of_host $i) did not register (see its log)"
done
alice() { timeout "${T:-$UP_SECS}" ip netns exec "$NS_PREFIX-6" env VPXI_KEY="$NN_DIR/n6.key" \
    VPXI_REGISTRAR="$reg_hit" VPXI_STATE="$NN_DIR/alice" vpxi "$@"; }
bob() { timeout 60 ip netns exec "$NS_PREFIX-7" env VPXI_KEY="$NN_DIR/n7.key" \
    VPXI_REGISTRAR="$reg_hit" VPXI_STATE="$NN_DIR/bob" vpxi "$@"; }
nn_wait 20 alice enroll --name alice --agree v1 || die "alice cannot enrol"
bob enroll --name bob --agree v1 >/dev/null || die "bob cannot enrol"
say "registrar, 4 host agents (sites $SA $SB $SC $SD), alice and bob ready; netem: $netem"

issued_rows() { sqlite3 "file:$NN_DIR/registrar.db?mode=ro" "select count(*) from issued" 2>/dev/null; }
# registrar role process: the child of the registrar's vpxid; its CPU time in ticks
reg_pid() { ps --ppid "${PID_d1:?}" -o pid= | head -1 | tr -d ' '; }
# CPU time of this shell's finished children in ms (user + system), from the output
# of `times` (which must run in this shell, not in a $(...) subshell) saved in FILE
child_cpu_ms() { awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60000 + a[2] * 1000 } printf "%.0f", t }' "$1"; }
# CPU time of a process in ns (scheduler statistics: on-CPU time, ns resolution)
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
# last log timestamp of a line matching PATTERN in FILE, in seconds of the day
log_at() { grep "$2" "$1" | tail -1 | awk '{ print $1 }'; }

spec_two_sites() { # NAME COUNT SITE1 SITE2 IMAGE  (half the nodes at each site)
    cat <<EOS
[vpxi $1]
duration = 1h
[group ga]
count = $(($2 / 2))
site = $3
image = $5
[group gb]
count = $(($2 - $2 / 2))
site = $4
image = $5
EOS
}

# ---- 1. vpxi up / down of 2, 8, 32 nodes (and 2. issuance on the first) ----------------
declare -A UP_S UP_CLI DOWN_S REG_S ROWS
issue_seq="-" issue_par="-" issue_cpu="-" issue_cpu2="-" issue_cli="-" commit_ms="-" issue_cap="-" issue_n1=0 issue_n2=0 issue_rows="-"
issuance() { # on VPXI $1, alice adds bob ISSUE_N times
    local v=$1 n=0 t0 t1 c0 c1 r0 r1 rp deadline pids=() k
    vpxi key pub "$NN_DIR/n7.key" >"$NN_DIR/bob.pub"
    mkdir -p "$NN_DIR/chains"
    rp=$(reg_pid)
    r0=$(issued_rows) c0=$(cpu_ns "$rp")
    deadline=$(($(date +%s) + ISSUE_SECS))
    times >"$NN_DIR/times0"
    t0=$(ns_now)
    while [ $n -lt "$ISSUE_N" ] && [ "$(date +%s)" -lt $deadline ]; do
        T=20 alice -q user add "$v" "$NN_DIR/bob.pub" -o "$NN_DIR/chains/s$n.seq" >/dev/null 2>&1 || break
        n=$((n + 1))
    done
    t1=$(ns_now)
    c1=$(cpu_ns "$rp")
    issue_n1=$n
    times >"$NN_DIR/times1"
    issue_cli=$(awk -v n=$n -v c=$(($(child_cpu_ms "$NN_DIR/times1") - $(child_cpu_ms "$NN_DIR/times0"))) 'BEGIN { if (n) printf "%.1f", c / n; else print "-" }')
    issue_seq=$(awk -v n=$n -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')
    issue_cpu=$(awk -v n=$n -v c=$((c1 - c0)) 'BEGIN { if (n) printf "%.2f", c / 1e6 / n; else print "-" }')
    [ -f "$NN_DIR/chains/s0.seq" ] && vpxi cert show "$NN_DIR/chains/s0.seq" >/dev/null 2>&1 ||
        echo "bench/vpxi: WARNING: the first delegated chain does not parse" >&2
    # ISSUE_PAR clients at once, ISSUE_N in all
    deadline=$(($(date +%s) + ISSUE_SECS))
    c0=$(cpu_ns "$rp")
    t0=$(ns_now)
    for k in $(seq "$ISSUE_PAR"); do
        (
            m=0
            while [ $((m * ISSUE_PAR + k)) -le "$ISSUE_N" ] && [ "$(date +%s)" -lt $deadline ]; do
                T=20 alice -q user add "$v" "$NN_DIR/bob.pub" -o "$NN_DIR/chains/p$k-$m.seq" >/dev/null 2>&1 || break
                m=$((m + 1))
            done
            echo $m >"$NN_DIR/chains/count$k"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    t1=$(ns_now)
    c1=$(cpu_ns "$rp")
    issue_n2=$(cat "$NN_DIR"/chains/count* | awk '{ s += $1 } END { print s + 0 }')
    issue_par=$(awk -v n="$issue_n2" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')
    issue_cpu2=$(awk -v n="$issue_n2" -v c=$((c1 - c0)) 'BEGIN { if (n) printf "%.2f", c / 1e6 / n; else print "-" }')
    r1=$(issued_rows)
    issue_rows=$((r1 - r0))
    # the durable record alone: the same SQLite settings (WAL, synchronous=FULL), one
    # commit per row of a certificate's size, on the registrar's file system
    sqlite3 "$NN_DIR/fsync.db" "PRAGMA journal_mode=WAL; CREATE TABLE t (x BLOB);" >/dev/null
    t0=$(ns_now)
    { echo "PRAGMA synchronous=FULL;"; for _ in $(seq 200); do echo "INSERT INTO t VALUES (randomblob(700));"; done; } |
        sqlite3 "$NN_DIR/fsync.db" >/dev/null
    t1=$(ns_now)
    commit_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 / 200 }')
    issue_cap=$(awk -v c="$issue_cpu" -v f="$commit_ms" 'BEGIN { if (c + f > 0) printf "%.0f", 1000 / (c + f); else print "-" }')
    say "issuance: $issue_n1 sequential at $issue_seq/s, $issue_n2 by $ISSUE_PAR clients at $issue_par/s; $issue_rows rows recorded"
}

for n in $SIZES; do
    v=up$n
    spec_two_sites "$v" "$n" "$SA" "$SB" bench >"$NN_DIR/$v.vpxi"
    r0=$(issued_rows)
    UP_LIST="$UP_LIST $v" # before: an interrupted `up` is taken down too
    t0=$(ns_now)
    alice up "$NN_DIR/$v.vpxi" >"$NN_DIR/$v.out" 2>&1
    rc=$?
    t1=$(ns_now)
    ROWS[$n]=$(($(issued_rows) - r0))
    if [ $rc = 0 ]; then
        UP_S[$n]=$(secs "$t0" "$t1")
        UP_CLI[$n]=$(sed -n 's/^up in \([0-9.]*\) s.*/\1/p' "$NN_DIR/$v.out")
        a=$(log_at "$NN_DIR/d1.log" "VPXI $v: .* nodes allocated") b=$(log_at "$NN_DIR/d1.log" "VPXI $v active")
        REG_S[$n]=$([ -n "$a" ] && [ -n "$b" ] && awk -v a="$(tod "$a")" -v b="$(tod "$b")" 'BEGIN { printf "%.2f", b - a }' || echo -)
        say "up $n nodes: ${UP_S[$n]} s (registrar allocation to active: ${REG_S[$n]} s), ${ROWS[$n]} certificates issued"
    else
        UP_S[$n]="FAIL" UP_CLI[$n]="-" REG_S[$n]="-"
        say "up $n nodes FAILED (rc $rc): $(tail -2 "$NN_DIR/$v.out" | tr '\n' ' ')"
    fi
    [ "$n" = "$(awk "{ print \$1 }" <<<"$SIZES")" ] && [ $rc = 0 ] && issuance "$v"
    t0=$(ns_now)
    if alice -q down "$v" >"$NN_DIR/$v.down" 2>&1; then
        t1=$(ns_now)
        DOWN_S[$n]=$(secs "$t0" "$t1")
        UP_LIST=${UP_LIST/ $v/}
        say "down $n nodes: ${DOWN_S[$n]} s"
    else
        DOWN_S[$n]=FAIL
        say "down $n nodes FAILED: $(tail -1 "$NN_DIR/$v.down")"
    fi
    left=$(ip netns list 2>/dev/null | grep -c "^vx-\($SA\|$SB\)-" || true)
    [ "$left" = 0 ] || say "WARNING: $left node namespaces left after down"
done

# ---- 3. Table 1: the coupled job ---------------------------------------------------------
[ "${TABLE1:-1}" = 1 ] || { say "TABLE1=0: Table 1 skipped"; exit 0; }
spec_t1() { # NAME MODE
    cat <<EOS
[vpxi $1]
duration = 1h
default-link = $([ "$2" = c ] && echo encrypt || echo integrity)
[group ocean]
count = 4
site = $SC
image = bench
[group atmos]
count = 4
site = $SD
image = bench
EOS
    if [ "$2" = b ]; then
        printf '[link ocean ocean]\nsecurity = clear\n[link atmos atmos]\nsecurity = clear\n'
        printf '[link ocean atmos]\nsecurity = encrypt\n'
    fi
}
declare -A T1_UP T1_MESH XF_IN XF_X
for m in a1 b c; do
    v=t1$m
    spec_t1 "$v" "${m%1}" >"$NN_DIR/$v.vpxi"
    UP_LIST="$UP_LIST $v"
    t0=$(ns_now)
    alice up "$NN_DIR/$v.vpxi" >"$NN_DIR/$v.out" 2>&1 || die "vpxi up $v: $(tail -2 "$NN_DIR/$v.out")"
    T1_UP[$m]=$(secs "$t0" "$(ns_now)")
    alice --json show "$v" >"$NN_DIR/$v.json" || die "vpxi show $v"
    # ocean-1 has keys with every other node (ESTABLISHED, or R2-SENT: a responder
    # that has not yet seen data), and the transforms the nodes really use
    sock="$NN_DIR/nodes-$SC/$v/ocean-1/vpxid.sock"
    t0=$(ns_now)
    nn_wait 30 sh -c "VPXI_SOCKET='$sock' vpxi --json status | jq -e '[.overlays[0].peers[] | select((.name | test(\"^(ocean|atmos)-\")) and (.state == \"ESTABLISHED\" or .state == \"R2-SENT\"))] | length == 7'" ||
        say "WARNING: $v: ocean-1 does not have all 7 node peers established yet"
    T1_MESH[$m]=$(secs "$t0" "$(ns_now)")
    st=$(VPXI_SOCKET="$sock" vpxi --json status)
    XF_IN[$m]=$(jq -r '[.overlays[0].peers[] | select(.name | startswith("ocean")) | .transform + (if .data_path == "kernel" then " (direct)" else "" end)] | unique | join(",")' <<<"$st")
    XF_X[$m]=$(jq -r '[.overlays[0].peers[] | select(.name | startswith("atmos")) | .transform + (if .data_path == "kernel" then " (direct)" else "" end)] | unique | join(",")' <<<"$st")
    say "up $v (8 nodes): ${T1_UP[$m]} s, ocean-1 associated with all 7 other nodes ${T1_MESH[$m]} s later; ocean-1's transforms: in group ${XF_IN[$m]}, to atmos ${XF_X[$m]}"
done
# rank order: ocean-1..4, atmos-1..4
names="ocean-1 ocean-2 ocean-3 ocean-4 atmos-1 atmos-2 atmos-3 atmos-4"
for m in a1 b c; do
    for node in $names; do
        jq -e --arg n "$node" '.node[] | select(.name == $n)' "$NN_DIR/t1$m.json" >/dev/null ||
            die "t1$m has no node $node"
    done
done

declare -A RUNS
port=5600
run_job() { # MODE (a a1 b c) -> appends the time to RUNS[MODE]
    local mode=$1 v addrs r=0 node out
    case $mode in a | a1) v=t1a1 ;; *) v=t1$mode ;; esac
    port=$((port + 1))
    addrs=""
    for node in $names; do
        if [ "$mode" = a ]; then
            addrs="$addrs $(jq -r --arg n "$node" '.node[] | select(.name == $n) | .underlay' "$NN_DIR/$v.json")"
        else
            addrs="$addrs $(jq -r --arg n "$node" '.node[] | select(.name == $n) | .hit' "$NN_DIR/$v.json")"
        fi
    done
    local args="-p $port -i $ITERS -a $B_INTRA -e $B_INTER -c $COMPUTE_US -t $JOB_SECS"
    r=0
    for node in $names; do
        if [ $r -gt 0 ]; then
            T=30 alice exec --vpxi "$v" "$node" -- /bin/sh -c "/bin/coupled $args $r$addrs >/tmp/coupled.$port.log 2>&1 &" ||
                { say "cannot start rank $r on $node"; return 1; }
        fi
        r=$((r + 1))
    done
    node=${names%% *}
    out=$(T=$((JOB_SECS + 30)) alice exec --vpxi "$v" --timeout "$((JOB_SECS + 10))" "$node" -- /bin/coupled $args 0$addrs 2>&1)
    if ! grep -q ' time=' <<<"$out"; then
        say "run $mode FAILED: $out"
        return 1
    fi
    RUNS[$mode]="${RUNS[$mode]:-} $(sed -n 's/.* time=\([0-9.]*\) s.*/\1/p' <<<"$out")"
    say "run $mode: $(sed -n 's/.* time=\(.*\)/\1/p' <<<"$out")"
}
for _ in $(seq "$REPS"); do
    for mode in a a1 b c; do run_job "$mode"; done
done

# ---- the table ---------------------------------------------------------------------------
med() { tr ' ' '\n' <<<"${RUNS[$1]:-}" | grep . | median; }
mm() { tr ' ' '\n' <<<"${RUNS[$1]:-}" | grep . | minmax; }
cnt() { tr ' ' '\n' <<<"${RUNS[$1]:-}" | grep -c .; }
per_iter() { awk -v t="$1" -v n="$ITERS" 'BEGIN { if (t + 0 > 0) printf "%.1f", t * 1000 / n; else print "-" }'; }
ma=$(med a) ma1=$(med a1) mb=$(med b) mc=$(med c)
total=$(($(date +%s) - t_start))
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "## bench/vpxi — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "machine: $(nproc) CPUs ($cpu), kernel $(uname -r), load avg at end $(cut -d' ' -f1-3 /proc/loadavg);"
echo "vpxi $(vpxid --version 2>/dev/null | cut -d' ' -f2), BIN=$BIN; image bench.tar $img_kib KiB; registrar DB on $(df -T "$NN_DIR" | awk 'NR == 2 { print $2 }') (fsync per issuance);"
echo "netem 5 ms per host link (10 ms between sites): $netem; total run time ${total} s"
echo
echo "### 1. vpxi up / down (half the nodes at each of two sites, node firewall on)"
echo
echo "| nodes | up wall s | up s/node | up (CLI's own figure) s | registrar: allocated -> active s | certificates issued | down wall s |"
echo "|---|---|---|---|---|---|---|"
for n in $SIZES; do
    pn=$(awk -v t="${UP_S[$n]}" -v n="$n" 'BEGIN { if (t + 0 > 0) printf "%.3f", t / n; else print "-" }')
    echo "| $n | ${UP_S[$n]} | $pn | ${UP_CLI[$n]:--} | ${REG_S[$n]:--} | ${ROWS[$n]:--} | ${DOWN_S[$n]:--} |"
done
echo
echo "### 2. certificate issuances at the registrar (vpxi user add: registrar signs R -> alice, records it durably; the CLI signs alice -> bob)"
echo
echo "| clients | issuances | per second (end to end) | registrar CPU ms per issuance | client CPU ms per issuance | rows added to issued |"
echo "|---|---|---|---|---|---|"
echo "| 1 | $issue_n1 | $issue_seq | $issue_cpu | $issue_cli | $issue_rows (both rows together) |"
echo "| $ISSUE_PAR | $issue_n2 | $issue_par | $issue_cpu2 | - | |"
echo
echo "durable SQLite commit alone (WAL, synchronous=FULL, 700-byte row) on this file system: $commit_ms ms;"
echo "registrar capacity estimate, 1 / (registrar CPU + one commit): $issue_cap issuances/s"
echo
echo "### 3. seed 002 Table 1 on the overlay: 8 ranks, 2 groups of 4 (one per site), $ITERS iterations,"
echo "###    per iteration $B_INTRA B with each rank of the own group, $B_INTER B with the partner, compute $COMPUTE_US us"
echo
echo "| mode | links (ocean-1: in group / to atmos) | median s | ms/iter | min-max s | runs | ratio to (a) | ratio to (a') | seed 002 TCP s/day | seed ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "| (a) no security: plain TCP, underlay | none (firewall off) | $ma | $(per_iter "$ma") | $(mm a) | $(cnt a) | 1.00 | $(ratio "$ma" "$ma1") | 854 | 1.00 |"
echo "| (a') all integrity, overlay | ${XF_IN[a1]:-?} / ${XF_X[a1]:-?} | $ma1 | $(per_iter "$ma1") | $(mm a1) | $(cnt a1) | $(ratio "$ma1" "$ma") | 1.00 | - | - |"
echo "| (b) between groups encrypted | ${XF_IN[b]:-?} / ${XF_X[b]:-?} | $mb | $(per_iter "$mb") | $(mm b) | $(cnt b) | $(ratio "$mb" "$ma") | $(ratio "$mb" "$ma1") | 897 | 1.05 |"
echo "| (c) everything encrypted | ${XF_IN[c]:-?} / ${XF_X[c]:-?} | $mc | $(per_iter "$mc") | $(mm c) | $(cnt c) | $(ratio "$mc" "$ma") | $(ratio "$mc" "$ma1") | 1459 | 1.71 |"
echo
echo "up of the three 8-node VPXIs at sites C/D (firewall off), (a') / (b) / (c): ${T1_UP[a1]:--} / ${T1_UP[b]:--} / ${T1_UP[c]:--} s;"
echo "then ocean-1 associated with all 7 other nodes after a further ${T1_MESH[a1]:--} / ${T1_MESH[b]:--} / ${T1_MESH[c]:--} s"
goal=$(awk -v b="$mb" -v a="$ma" 'BEGIN { if (a + 0 > 0 && b != "-") print (b / a <= 1.05 ? "met" : "not met"); else print "-" }')
goal1=$(awk -v b="$mb" -v a="$ma1" 'BEGIN { if (a + 0 > 0 && b != "-") print (b / a <= 1.05 ? "met" : "not met"); else print "-" }')
echo "goal '(b) within 5% of no security': against (a) $goal; against (a') $goal1"
ok=1
for n in $SIZES; do case ${UP_S[$n]}${DOWN_S[$n]} in *FAIL*) ok=0 ;; esac; done
for m in a a1 b c; do [ "$(cnt $m)" = "$REPS" ] || ok=0; done
[ $ok = 1 ] || { echo "bench/vpxi: some measurements failed (see above)"; exit 1; }
