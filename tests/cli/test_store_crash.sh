#!/usr/bin/env bash
# test_store_crash.sh - the registrar store survives SIGKILL at any moment.
#
# A child (test_store --crash-child DB) loops: allocate resources to a new
# VPXI, add its nodes, activate it, record two issued certificates, sometimes
# revoke one, end the VPXI; half of the cycles run in one caller transaction.
# After each issuance is durable (store_issued_add or the COMMIT returned) it
# prints "serial length hash" on a line-buffered stdout. We SIGKILL it at
# random moments, 20+ times within about 20 s, and after every kill
# (test_store --crash-verify) reopen the database, run store_verify
# (integrity, foreign keys, no resource allocated twice or without its VPXI,
# ...) and require every serial ever printed to be there with its content.
# The next child starts by failing the VPXI the killed one left half-way.
#
# Only the PID started here is killed. A SIGKILL loses no page-cache data, so
# this proves atomicity and that "durable" is never said too early in the
# process; power loss is covered by synchronous=FULL (fsync at each commit).
set -u
bin=${VPXI_BUILD:-build}/tests/test_store
[ -x "$bin" ] || { echo "test_store not built at $bin"; exit 1; }
tmp=$(mktemp -d)
child=
cleanup() {
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -KILL "$child" 2>/dev/null
        wait "$child" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
db=$tmp/registrar.db
min_kills=20
max_kills=30
budget=20 # seconds for the kill loop
fail=0
kills=0
start=$SECONDS

while [ "$kills" -lt "$max_kills" ]; do
    if [ "$kills" -ge "$min_kills" ] && [ $((SECONDS - start)) -ge "$budget" ]; then
        break
    fi
    out=$tmp/serials.$kills
    "$bin" --crash-child "$db" >"$out" 2>>"$tmp/child.err" &
    child=$!
    # 20..600 ms: the first runs also hit opening, schema creation and recovery
    ms=$((20 + RANDOM % 580))
    sleep "$(printf '0.%03d' "$ms")"
    if ! kill -0 "$child" 2>/dev/null; then
        wait "$child"
        echo "FAIL: crash child exited by itself (status $?) before kill $kills"
        cat "$tmp/child.err"
        fail=1
        break
    fi
    kill -KILL "$child"
    wait "$child" 2>/dev/null
    status=$?
    child=
    if [ "$status" -ne 137 ]; then
        echo "FAIL: crash child ended with status $status, not by SIGKILL"
        cat "$tmp/child.err"
        fail=1
        break
    fi
    kills=$((kills + 1))
    if ! "$bin" --crash-verify "$db" "$tmp"/serials.* >"$tmp/verify.out" 2>&1; then
        echo "FAIL: after kill $kills (at ${ms} ms):"
        cat "$tmp/verify.out"
        fail=1
        break
    fi
done

if [ "$fail" -eq 0 ]; then
    tail -n 1 "$tmp/verify.out"
    total=$(tail -n 1 "$tmp/verify.out" | awk '{print $2}')
    echo "$kills kills in $((SECONDS - start)) s, $total durable issuances acknowledged"
    if [ "$kills" -lt "$min_kills" ]; then
        echo "FAIL: only $kills kills"
        fail=1
    fi
    if [ "$total" -lt "$kills" ]; then
        echo "FAIL: too few issuances ($total) for the test to mean anything"
        fail=1
    fi
fi
[ -s "$tmp/child.err" ] && { echo "child stderr:"; cat "$tmp/child.err"; }
exit "$fail"
