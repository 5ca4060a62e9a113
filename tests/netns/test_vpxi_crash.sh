#!/usr/bin/env bash
# test_vpxi_crash.sh - the registrar killed with SIGKILL at random moments
# while it issues certificates: it restarts with a consistent database, and
# no certificate it handed out is missing from it.
#
# A registrar (ns1), one host agent (ns2), the owner alice (ns3) and bob
# (ns4). alice repeatedly delegates access to bob (`vpxi user add`: one
# durable issuance by the registrar each time) while the registrar role is
# killed four times; vpxid restarts it. Then `vpxid --check-database` must
# find the database consistent, and count at least one issued certificate
# per certificate handed out. Then the host agent is killed: restarted, it
# destroys the node it left behind.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq
grep -q overlay /proc/filesystems || nn_skip "needs overlayfs"

IMG=$NN_DIR/images
mkdir -p "$IMG"
"$VPXI_SRC/scripts/mkimage.sh" "$IMG" >/dev/null || nn_skip "cannot build the busybox image (busybox-static)"
SA=ca$((NN_ID % 1000))
nn_topology 4
nn_overlay_setup 4 hipernet || { echo "set-up failed"; exit 1; }
hit1=$(hit_of 1)
for i in 1 3 4; do nq $i ip route add 198.19.1.0/24 via 198.18.0.2; done
printf '\n[registrar]\ndatabase = %s\n' "$NN_DIR/reg.db" >>"$NN_DIR/n1.conf"
printf '\n[hostagent]\nregistrar = %s\nsite = %s\nstatedir = %s\nimages = %s\nnode-subnet = 198.19.1.0/24\nresources = 1\n' \
    "$hit1" "$SA" "$NN_DIR/nodes" "$IMG" >>"$NN_DIR/n2.conf"
for i in 1 2 3 4; do nn_vpxid $i; done
ok nn_wait 20 grep -q "resources of site $SA registered" "$NN_DIR/d2.log"
alice() { nq 3 env VPXI_KEY="$NN_DIR/n3.key" VPXI_REGISTRAR="$hit1" VPXI_STATE="$NN_DIR/a" vpxi "$@"; }
bob() { nq 4 env VPXI_KEY="$NN_DIR/n4.key" VPXI_REGISTRAR="$hit1" VPXI_STATE="$NN_DIR/b" vpxi "$@"; }
ok nn_wait 10 alice enroll --name alice --agree v1
ok bob enroll --name bob --agree v1
printf '[vpxi c]\nduration = 1h\n[group g]\ncount = 1\nsite = %s\nimage = busybox\n' "$SA" >"$NN_DIR/c.vpxi"
ok alice up "$NN_DIR/c.vpxi"
vpxi key pub "$NN_DIR/n4.key" >"$NN_DIR/bob.pub"

# issuances in a loop (bounded: 25 s), the registrar killed four times meanwhile
(
    end=$(( $(date +%s) + 25 )) i=0
    while [ "$(date +%s)" -lt "$end" ] && [ $i -lt 400 ]; do
        i=$((i + 1))
        if alice user add c "$NN_DIR/bob.pub" -o "$NN_DIR/h.$i" >/dev/null 2>&1; then echo "$i"; fi
    done
) >"$NN_DIR/handed" &
loop=$!
NN_PIDS+=($loop)
for k in 1 2 3 4; do
    sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 2 + 3 * rand() }')"
    rpid=$(grep -o 'role registrar started (pid [0-9]*)' "$NN_DIR/d1.log" | tail -1 | grep -o '[0-9]*')
    kill -KILL "$rpid" && echo "killed the registrar (pid $rpid)"
    ok nn_wait 10 sh -c "grep -o 'role registrar started (pid [0-9]*)' '$NN_DIR/d1.log' | tail -1 | grep -vq '($rpid)'"
done
wait "$loop"
handed=$(wc -l <"$NN_DIR/handed")
echo "certificates handed out during the kills: $handed"
ok test "$handed" -ge 5
# every certificate handed out verifies, and the database holds at least as many
for i in $(cat "$NN_DIR/handed"); do vpxi cert verify "$NN_DIR/h.$i" >/dev/null || { echo "FAIL: h.$i"; NN_FAILS=$((NN_FAILS + 1)); }; done
vpxid --check-database "$NN_DIR/reg.db" >"$NN_DIR/check.out"
eq "$?" 0 "database consistent after the kills"
cat "$NN_DIR/check.out"
issued=$(awk '$1 == "vpxi" && $2 == "c" { print $5 }' "$NN_DIR/check.out")
# one membership, one owner certificate, and one per delegation handed out
ok test "${issued:-0}" -ge $((handed + 2))
ok alice down c
ok vpxid --check-database "$NN_DIR/reg.db"

# a host agent killed with SIGKILL: restarted, it destroys the nodes it left
sed 's/\[vpxi c\]/[vpxi d]/' "$NN_DIR/c.vpxi" >"$NN_DIR/d.vpxi"
ok alice up "$NN_DIR/d.vpxi"
eq "$(ip netns list | grep -c "^vx-$SA-")" 1 "one node running"
hpid=$(grep -o 'role hostagent started (pid [0-9]*)' "$NN_DIR/d2.log" | tail -1 | grep -o '[0-9]*')
ok kill -KILL "$hpid"
ok nn_wait 15 grep -q "leftover node d/g-1 from an earlier run destroyed" "$NN_DIR/d2.log"
eq "$(ip netns list | grep -c "^vx-$SA-")" 0 "the leftover node is gone"
eq "$(ls "$NN_DIR/nodes" 2>/dev/null | wc -l)" 0 "and its state"
nn_done
