#!/usr/bin/env bash
# test_flows.sh - the certificate flows of seed 000 section 4.2, end to end
# through the vpxi CLI:
#   4.2.1  R -> H (delegable) -> U ; the resource R reduces U's chain
#   4.2.2  R registered at R2; R2 -> R1 (delegable) -> U ; chain R->R2->R1->U
#   4.2.3  H -> U1 (delegable) -> U2 ; U2's chain R->H->U1->U2
# with a tag narrowed at every hop, an effective expiry equal to the
# earliest link's, and each failure class refused with its specific error.
set -u
command -v vpxi >/dev/null || { echo "vpxi not on PATH"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
n=0
ok()  { n=$((n + 1)); if "$@" >out.txt 2>err.txt; then :; else echo "FAIL (exit $?): $*"; cat out.txt err.txt; fail=$((fail + 1)); fi; }
nok() { # nok ERRNAME cmd... : must fail and name the error
    local want=$1; shift; n=$((n + 1))
    if "$@" >out.txt 2>err.txt; then echo "FAIL (accepted): $*"; cat out.txt; fail=$((fail + 1)); return; fi
    cat out.txt err.txt | grep -q -- "$want" || { echo "FAIL (wrong reason, want $want): $*"; cat out.txt err.txt; fail=$((fail + 1)); }
}
has() { n=$((n + 1)); grep -q -- "$1" out.txt || { echo "FAIL: output lacks '$1'"; cat out.txt; fail=$((fail + 1)); }; }

for k in R H U U2 R1 R2 X; do
    vpxi key gen --alg ed25519 -o $k.key >/dev/null && vpxi key pub $k.key >$k.pub || { echo "key gen failed"; exit 1; }
done
RHIT=$(vpxi key hit R.key)

# The resource trusts only itself; every right it grants starts with its own cert.
ok vpxi cert acl --subject R.pub --propagate --tag '(*)' -o R.acl

echo "--- 4.2.1 basic: R -> H -> U"
ok vpxi cert issue --issuer R.key --subject H.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec))" --not-before -1h --not-after +2d -o r-h.cert
ok vpxi cert issue --issuer H.key --subject U.pub \
    --tag "(vpxi hep-study \"$RHIT\" (* set member exec))" --not-before -1h --not-after +1d -o h-u.cert
ok vpxi cert verify r-h.cert h-u.cert
ok vpxi cert reduce --acl R.acl --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" r-h.cert h-u.cert
has "5-tuple (authorized)"
has "propagate: no"
# the effective expiry is the earlier of the two links (h-u: +1d)
na=$(vpxi --json cert reduce --acl R.acl r-h.cert h-u.cert | jq -r .valid.not_after)
want=$(vpxi --json cert show h-u.cert | jq -r '.[0].valid.not_after')
n=$((n + 1)); [ "$na" = "$want" ] || { echo "FAIL: reduced not-after $na, expected $want"; fail=$((fail + 1)); }
# U cannot use another VPXI's name, nor a resource it was not given
nok VPXI_ERR_NOT_AUTHORIZED vpxi cert reduce --acl R.acl --tag "(vpxi other \"$RHIT\" member)" r-h.cert h-u.cert
nok VPXI_ERR_NOT_AUTHORIZED vpxi cert reduce --acl R.acl --tag "(vpxi hep-study \"2001:22::1\" member)" r-h.cert h-u.cert
# U has no (propagate): U -> X does not extend the chain
ok vpxi cert issue --issuer U.key --subject X.pub --tag "(vpxi hep-study \"$RHIT\" member)" -o u-x.cert
nok VPXI_ERR_NO_DELEGATION vpxi cert reduce --acl R.acl --subject X.pub r-h.cert h-u.cert u-x.cert
# at a later time the chain has expired; before its start it is not yet valid
nok VPXI_ERR_EXPIRED vpxi cert reduce --acl R.acl --at +36h r-h.cert h-u.cert
nok VPXI_ERR_NOT_YET_VALID vpxi cert reduce --acl R.acl --at -2h r-h.cert h-u.cert

echo "--- 4.2.2 two registrars: R -> R2 -> R1 -> U"
ok vpxi cert issue --issuer R.key --subject R2.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec))" --not-after +3d -o r-r2.cert
ok vpxi cert issue --issuer R2.key --subject R1.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec))" --not-after +2d -o r2-r1.cert
ok vpxi cert issue --issuer R1.key --subject U.pub \
    --tag "(vpxi hep-study \"$RHIT\" member)" --not-after +12h -o r1-u.cert
ok vpxi cert reduce --acl R.acl --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" r-r2.cert r2-r1.cert r1-u.cert
has "path:      ACL entry 1 -> certificate 1 -> certificate 2 -> certificate 3"
# a chain presented out of order still reduces (path discovery)
ok vpxi cert reduce --acl R.acl --subject U.pub r1-u.cert r-r2.cert r2-r1.cert
# R1 cannot skip R2: R1's own chain without r2-r1 does not reach R
nok VPXI_ERR_ISSUER_MISMATCH vpxi cert reduce --acl R.acl --subject U.pub r-r2.cert r1-u.cert

echo "--- 4.2.3 two users: R -> H -> U1 -> U2"
ok vpxi cert issue --issuer H.key --subject U.pub --propagate \
    --tag "(vpxi hep-study \"$RHIT\" (* set member exec))" --not-after +1d -o h-u1.cert
ok vpxi cert issue --issuer U.key --subject U2.pub \
    --tag "(vpxi hep-study \"$RHIT\" member)" --not-after +6h -o u1-u2.cert
ok vpxi cert join -o u2-chain.seq r-h.cert h-u1.cert u1-u2.cert
ok vpxi cert reduce --acl R.acl --subject U2.pub --tag "(vpxi hep-study \"$RHIT\" member)" u2-chain.seq
has "propagate: no"
# U1 passed on membership only: U2 may not exec
nok VPXI_ERR_NOT_AUTHORIZED vpxi cert reduce --acl R.acl --subject U2.pub --tag "(vpxi hep-study \"$RHIT\" exec)" u2-chain.seq
# the expiry is U1's (+6h), the earliest link
nok VPXI_ERR_EXPIRED vpxi cert reduce --acl R.acl --at +7h u2-chain.seq
ok vpxi cert reduce --acl R.acl --at +5h u2-chain.seq

echo "--- failures"
# forged: flip a byte inside the certificate body of a canonical copy
ok vpxi cert issue --issuer H.key --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" -s canonical -o canon.cert
sed 's/hep-study/hep-studx/' canon.cert >forged.cert
nok "signature" vpxi cert verify forged.cert
nok VPXI_ERR_BAD_SIG vpxi cert reduce --acl R.acl r-h.cert forged.cert
# wrong issuer: X signs a cert claiming to be part of R's chain
ok vpxi cert issue --issuer X.key --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" -o x-u.cert
nok VPXI_ERR_ISSUER_MISMATCH vpxi cert reduce --acl R.acl r-h.cert x-u.cert
# broken delegation: H received no (propagate)
ok vpxi cert issue --issuer R.key --subject H.pub --tag "(vpxi (*) \"$RHIT\" member)" -o r-h-nodeleg.cert
nok VPXI_ERR_NO_DELEGATION vpxi cert reduce --acl R.acl r-h-nodeleg.cert h-u.cert
# empty tag intersection
ok vpxi cert issue --issuer H.key --subject U.pub --tag "(vpxi hep-study \"2001:22::99\" member)" -o h-u-other.cert
nok VPXI_ERR_TAG_EMPTY vpxi cert reduce --acl R.acl r-h.cert h-u-other.cert
# disjoint validity
ok vpxi cert issue --issuer H.key --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" \
    --not-before +3d --not-after +4d -o h-u-later.cert
nok VPXI_ERR_VALIDITY_EMPTY vpxi cert reduce --acl R.acl r-h.cert h-u-later.cert
# not yet valid / expired
ok vpxi cert issue --issuer H.key --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" --not-before +1h -o h-u-future.cert
nok VPXI_ERR_NOT_YET_VALID vpxi cert reduce --acl R.acl r-h.cert h-u-future.cert
ok vpxi cert issue --issuer H.key --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" --not-before -2h --not-after -1h -o h-u-past.cert
nok VPXI_ERR_EXPIRED vpxi cert reduce --acl R.acl r-h.cert h-u-past.cert
# an ACL that does not trust the chain's root
ok vpxi cert acl --subject X.pub --propagate --tag '(*)' -o X.acl
nok VPXI_ERR_NOT_AUTHORIZED vpxi cert reduce --acl X.acl r-h.cert h-u.cert
# malformed input names the byte offset
printf '(sequence (cert (issuer' >trunc.cert
nok "byte offset" vpxi cert show trunc.cert
# the three forms are accepted everywhere
ok vpxi sexp -s transport h-u.cert
cp out.txt h-u.transport
ok vpxi sexp -s canonical h-u.cert
cp out.txt h-u.canonical
ok vpxi cert reduce --acl R.acl r-h.cert h-u.transport
ok vpxi cert reduce --acl R.acl r-h.cert h-u.canonical
# usage errors exit 2
n=$((n + 1)); vpxi cert issue --issuer R.key >/dev/null 2>&1; [ $? -eq 2 ] || { echo "FAIL: usage exit"; fail=$((fail + 1)); }

echo "$n checks, $fail failures"
[ "$fail" -eq 0 ]
