#!/usr/bin/env bash
# test_overlay_auth.sh - a peer is let in only while an SPKI chain
# authorizes it.
#
#   ns1 (n1, the resource) <-- bridge --> ns2 (n2, the candidate)
#
# n2 tries to join n1's overlay with, in turn: no chain, a forged chain
# (a byte of the signed certificate changed), an expired chain, a chain not
# yet valid, a chain for the wrong tag (another overlay), a chain from an
# untrusted issuer: each refused by n1, which logs why, and no traffic flows.
# Then a valid chain that expires 8 s later during a running TCP transfer:
# n1 cuts the association within one second of the expiry (timer, not next
# packet), and logs it. Finally a renewed chain delivered by UPDATE extends
# a running association without a new base exchange.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxid vpxi jq nc

nn_topology 2
nn_overlay_setup 2 demo || exit 1
D=$NN_DIR

# n2's chain variants (n1 keeps its valid chain)
issue() { vpxi cert issue --issuer "$D/$1" --subject "$D/n2.pub" --tag "$2" --not-before "$3" --not-after "$4" -o "$D/$5" --force; }
vpxi key gen -o "$D/X.key" >/dev/null
issue H.key '(vpxi demo (*) member)' -1h -1m expired.cert
issue H.key '(vpxi demo (*) member)' +1h +2h future.cert
issue H.key '(vpxi other (*) member)' -1h +1h wrongtag.cert
issue X.key '(vpxi demo (*) member)' -1h +1h untrusted.cert
vpxi cert issue --issuer "$D/H.key" --subject "$D/n2.pub" --tag '(vpxi demo (*) member)' -s canonical -o "$D/canon.cert"
sed 's/member/membex/' "$D/canon.cert" >"$D/forged.cert"
: >"$D/none.cert"

set_chain() { # set_chain FILE|'' : n2's chain line
    sed -i "/^chain = /d" "$D/n2.conf"
    [ -n "$1" ] && sed -i "s|^\[overlay demo\]|[overlay demo]\nchain = $D/$1|" "$D/n2.conf"
    return 0
}

nn_vpxid 1
try_refused() { # try_refused LABEL CHAIN LOG-PATTERN
    set_chain "$2"
    nn_vpxid 2
    ok nn_wait 5 grep -q "refused $H2" "$D/d1.log"
    nok nq 2 ping -c1 -W1 100.64.0.1
    if grep -q "$3" "$D/d1.log"; then :; else echo "FAIL: $1: n1's log lacks '$3'"; NN_FAILS=$((NN_FAILS + 1)); fi
    nok test "$(js 1 '.peers[] | select(.name == "n2") | .state')" = ESTABLISHED
    eq "$(js 1 '.peers[] | select(.name == "n2") | .rx_packets')" 0 "$1: no traffic accepted"
    nn_stop "$PID_d2"
    cp "$D/d1.log" "$D/d1.log.$1"; : >"$D/d1.log"
}
H2=$(hit_of 2)
try_refused none "" "no certificate chain presented"
try_refused forged forged.cert "signature"
try_refused expired expired.cert "VPXI_ERR_EXPIRED"
try_refused future future.cert "VPXI_ERR_NOT_YET_VALID"
try_refused wrongtag wrongtag.cert "does not grant"
try_refused untrusted untrusted.cert "not trusted by the ACL"
ok test "$(js 1 '.hip.drops | to_entries | map(select(.key | test("auth"))) | .[0].value')" -ge 6

# --- a chain that expires during a transfer: cut within 1 s of the expiry
na=$(date -u -d '+8 seconds' +%Y-%m-%d_%H:%M:%S)
vpxi cert issue --issuer "$D/H.key" --subject "$D/n2.pub" --tag '(vpxi demo (*) member)' \
    --not-before -1h --not-after "$na" -o "$D/short.cert" --force
set_chain short.cert
nn_vpxid 2
ok nn_wait 5 nq 2 ping -c1 -W1 100.64.0.1
# a transfer that would take far longer than 8 s: a slow, endless stream
nn_start 1 sink sh -c "nc -l 100.64.0.1 9100 > /dev/null"
ok nn_wait 5 nq 1 ss -ltn 'sport = :9100'
nn_start 2 src sh -c "while :; do head -c 100000 /dev/zero; sleep 0.05; done | nc 100.64.0.1 9100"
rx_from_n2() { js 1 '.peers[] | select(.name == "n2") | .rx_bytes'; }
flowing() { [ "$(rx_from_n2)" -gt 100000 ]; }
ok nn_wait 5 flowing
expiry=$(date -u -d "${na/_/ }" +%s)
# wait for the daemon's teardown, then read when it happened from its log
ok nn_wait 15 grep -q "authorization of n2 ended at $na" "$D/d1.log"
cut=$(grep "authorization of n2 ended at $na" "$D/d1.log" | head -1 | cut -d' ' -f1)
cut_ms=$(( $(date -u -d "$(date -u +%F) $cut" +%s%N) / 1000000 ))
lag_ms=$(( cut_ms - (expiry + 1) * 1000 ))
echo "association cut ${lag_ms} ms after the end of the authorization's last second"
# not_after is valid through its whole second; the timer fires at its end
ok test "$lag_ms" -ge 0
ok test "$lag_ms" -le 1000
before=$(rx_from_n2)
nn_wait 2 false
after=$(rx_from_n2)
eq "$after" "$before" "no traffic accepted after the expiry"
nok nq 2 ping -c1 -W1 100.64.0.1
nn_stop "$PID_d2"; nn_stop "$PID_src"

# --- renewal by UPDATE: a short chain replaced before it expires keeps the association
na=$(date -u -d '+6 seconds' +%Y-%m-%d_%H:%M:%S)
vpxi cert issue --issuer "$D/H.key" --subject "$D/n2.pub" --tag '(vpxi demo (*) member)' \
    --not-before -1h --not-after "$na" -o "$D/renew.cert" --force
set_chain renew.cert
sed -i 's/^\[overlay demo\]/[overlay demo]\nrenew-check = 1s/' "$D/n2.conf"
: >"$D/d1.log"
nn_vpxid 2
ok nn_wait 5 nq 2 ping -c1 -W1 100.64.0.1
spi=$(js 1 '.peers[] | select(.name == "n2") | .spi_in')
vpxi cert issue --issuer "$D/H.key" --subject "$D/n2.pub" --tag '(vpxi demo (*) member)' \
    --not-before -1h --not-after +1h -o "$D/renew.cert.new" --force
mv "$D/renew.cert.new" "$D/renew.cert"
ok nn_wait 5 grep -q "n2 renewed its certificates" "$D/d1.log"
nn_wait 8 false   # past the first chain's expiry
ok nq 2 ping -c1 -W1 100.64.0.1
eq "$(js 1 '.peers[] | select(.name == "n2") | .spi_in')" "$spi" "same SAs: no new base exchange"
eq "$(js 1 '.peers[] | select(.name == "n2") | .state')" ESTABLISHED "still established after the old expiry"
nn_done
