#!/usr/bin/env bash
# demo-certs.sh - the SPKI certificate flows of seed 000 section 4.2, played
# with the vpxi CLI and printed for a human reader:
#   4.2.1  resource R -> registrar H (may delegate) -> user U; R reduces U's chain
#   4.2.2  R registered at R2; R1 asks R2; R -> R2 -> R1 -> U
#   4.2.3  a second user: H -> U1 (may delegate) -> U2 (may not)
# Every hop narrows the tag, and the chain is valid only until its earliest
# link expires. Refusals are shown too: an outsider, an expired chain, a
# delegation that was not allowed, a right that was narrowed away.
#
# It doubles as a smoke test: exit status 0 only if every expected result
# (grant or refusal) happens. Needs only the vpxi binary:
#   VPXI=/path/to/vpxi ./scripts/demo-certs.sh    (default out/release/src/vpxi)
# VPXI_NOW=<unix seconds> fixes the clock, as for every vpxi command.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
VPXI=${VPXI:-$top/out/release/src/vpxi}
case $VPXI in
*/*) d=$(cd "$(dirname "$VPXI")" 2>/dev/null && pwd) && VPXI="${d%/}/$(basename "$VPXI")" ;;
*) VPXI=$(command -v "$VPXI" || echo "$VPXI") ;;
esac
[ -x "$VPXI" ] || { echo "demo-certs.sh: no vpxi binary at '$VPXI' (build with ./scripts/build.sh release, or set VPXI)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
start=$(date +%s%N)
checks=0

# Bold headings on a terminal, plain text otherwise.
if [ -t 1 ]; then b=$'\033[1m' red=$'\033[1;31m' green=$'\033[1;32m' off=$'\033[0m'; else b='' red='' green='' off=''; fi
vpxi() { "$VPXI" "$@"; }
h1() { printf '\n%s==== %s ====%s\n' "$b" "$*" "$off"; }
say() { printf '\n%s%s%s\n' "$b" "$*" "$off"; }
note() { printf '  %s\n' "$*"; }
indent() { sed 's/^/    /'; }
die() { printf '\n%sDEMO FAILED: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }
# Prints a command the way a user would type it.
show_cmd() {
    local a line='  $ vpxi'
    for a in "$@"; do
        case $a in
        *[!A-Za-z0-9._/+:=@-]* | '') line+=" '$a'" ;; # (no argument here holds a ')
        *) line+=" $a" ;;
        esac
    done
    printf '%s\n' "$line"
}

# ok CMD...: shows and runs vpxi CMD, which must succeed.
ok() {
    show_cmd "$@"
    checks=$((checks + 1))
    if ! vpxi "$@" >out.txt 2>err.txt; then
        indent <out.txt; indent <err.txt
        die "expected success: vpxi $*"
    fi
    indent <out.txt
}
# quiet CMD...: runs vpxi CMD silently; it must succeed.
quiet() { vpxi "$@" >out.txt 2>err.txt || { cat out.txt err.txt; die "vpxi $*"; }; }
# refused ERRNAME CMD...: shows and runs vpxi CMD, which must fail (exit 1)
# and name ERRNAME.
refused() {
    local want=$1 rc
    shift
    show_cmd "$@"
    checks=$((checks + 1))
    vpxi "$@" >out.txt 2>err.txt
    rc=$?
    indent <out.txt; indent <err.txt
    [ "$rc" -eq 1 ] || die "expected refusal ($want), got exit status $rc: vpxi $*"
    grep -q -- "$want" err.txt || die "expected $want: vpxi $*"
    printf '  -> refused as expected (%s)\n' "$want"
}
# not_after_of CERTFILE...: the not-after dates of the certificates.
not_after_of() {
    local f
    for f in "$@"; do vpxi --json cert show "$f" | grep -o '"not_after":"[^"]*"' | cut -d'"' -f4; done
}
# expiry_is_earliest REDUCE-ARGS... -- CERTFILE...: the reduced validity ends
# with the earliest link.
expiry_is_earliest() {
    local args=() got want
    while [ "$1" != "--" ]; do args+=("$1"); shift; done
    shift
    got=$(vpxi --json cert reduce "${args[@]}" | grep -o '"not_after":"[^"]*"' | cut -d'"' -f4)
    want=$(not_after_of "$@" | sort | head -n1)
    checks=$((checks + 1))
    note "links expire at: $(not_after_of "$@" | paste -sd' ')"
    note "effective expiry of the chain: $got (the earliest link: $want)"
    if [ -z "$got" ] || [ "$got" != "$want" ]; then die "reduced expiry '$got' is not the earliest link's '$want'"; fi
}

h1 "The parties: every one of them is a key pair (here Ed25519)"
note "name  role                                   HIT (its IPv6 overlay address)            key id (as 'cert show' prints it)"
for p in R:"virtual resource" H:"registrar (HIPerNet registrar)" U:"user" R2:"registrar where R registered" \
    R1:"registrar that U asked" U1:"primary user of the VPXI" U2:"secondary user" X:"outsider"; do
    name=${p%%:*}
    quiet key gen --alg ed25519 -o "$name.key" --pub "$name.pub"
    hit=$(cat out.txt)
    id=$(vpxi key id "$name.key" | cut -c1-16)
    printf '  %-5s %-38s %-41s %s\n' "$name" "${p#*:}" "$hit" "$id"
    [ "$name" = R ] && RHIT=$hit
done
note "Private keys are PKCS#8 PEM files of mode 0600; *.pub files hold the public key as an SPKI S-expression."

say "R's access control list: the resource trusts itself, and only itself, for rights on its own HIT"
ok cert acl --subject R.pub --propagate --tag "(vpxi (*) \"$RHIT\" (*))" -o R.acl
indent <R.acl

# ---------------------------------------------------------------------------
h1 "4.2.1 Basic flow: R -> H -> U"
say "1. R grants its registrar H member, exec and admin rights on R, for any VPXI, with the right to delegate (30 days)"
ok cert issue --issuer R.key --subject H.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec admin))" --not-before -1h --not-after +30d -o r-h.cert
ok cert show r-h.cert

say "2. U asks H for a VPXI named hep-study; H selects R and grants U member and exec there, without delegation (1 day)"
ok cert issue --issuer H.key --subject U.pub \
    --tag "(vpxi hep-study \"$RHIT\" (* set member exec))" --not-before -1h --not-after +1d -o h-u.cert
ok cert show h-u.cert

say "3. U contacts R and presents both certificates; R checks the signatures and reduces the chain against its ACL"
ok cert verify r-h.cert h-u.cert
ok cert reduce --acl R.acl --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" r-h.cert h-u.cert
note "The tag narrowed at each hop: (*) in the ACL, any VPXI and three rights from R, hep-study and two rights from H."
expiry_is_earliest --acl R.acl --subject U.pub r-h.cert h-u.cert -- r-h.cert h-u.cert
note "R keeps the association only until then; its teardown timer fires at that instant."

say "Refused: U asks for admin, which H did not pass on"
refused VPXI_ERR_NOT_AUTHORIZED cert reduce --acl R.acl --subject U.pub --tag "(vpxi hep-study \"$RHIT\" admin)" r-h.cert h-u.cert
say "Refused: U asks for another VPXI's rights on R"
refused VPXI_ERR_NOT_AUTHORIZED cert reduce --acl R.acl --subject U.pub --tag "(vpxi other-study \"$RHIT\" member)" r-h.cert h-u.cert
say "Refused: the outsider X presents the same certificates (they are not secret) but has no chain of its own"
refused VPXI_ERR_NOT_AUTHORIZED cert reduce --acl R.acl --subject X.pub --tag "(vpxi hep-study \"$RHIT\" member)" r-h.cert h-u.cert
say "Refused: U comes back two days later with the same chain; H's certificate has expired"
refused VPXI_ERR_EXPIRED cert reduce --acl R.acl --subject U.pub --at +2d r-h.cert h-u.cert
say "Renewal: before the first day ends, H issues U a fresh certificate (3 days); the renewed chain still works at +2d"
ok cert issue --issuer H.key --subject U.pub \
    --tag "(vpxi hep-study \"$RHIT\" (* set member exec))" --not-before -1h --not-after +3d -o h-u.renewed.cert
ok cert reduce --acl R.acl --subject U.pub --at +2d r-h.cert h-u.renewed.cert

# ---------------------------------------------------------------------------
h1 "4.2.2 Several registrars: R -> R2 -> R1 -> U"
say "1. R registered at registrar R2: R grants R2, with delegation (30 days)"
ok cert issue --issuer R.key --subject R2.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec admin))" --not-after +30d -o r-r2.cert
ok cert show r-r2.cert
say "2. U asked registrar R1, which selected R and asks R2; R2 grants R1 member and exec, with delegation (7 days)"
ok cert issue --issuer R2.key --subject R1.pub --propagate \
    --tag "(vpxi (*) \"$RHIT\" (* set member exec))" --not-after +7d -o r2-r1.cert
ok cert show r2-r1.cert
say "3. R1 grants U membership of hep-study on R, without delegation (12 hours)"
ok cert issue --issuer R1.key --subject U.pub \
    --tag "(vpxi hep-study \"$RHIT\" member)" --not-after +12h -o r1-u.cert
ok cert show r1-u.cert
say "4. R accepts the chain R -> R2 -> R1 -> U, even when U presents it out of order"
ok cert reduce --acl R.acl --subject U.pub --tag "(vpxi hep-study \"$RHIT\" member)" r1-u.cert r-r2.cert r2-r1.cert
expiry_is_earliest --acl R.acl --subject U.pub r-r2.cert r2-r1.cert r1-u.cert -- r-r2.cert r2-r1.cert r1-u.cert
say "Refused: R1's grant without R2's certificate does not reach R (R never trusted R1)"
refused VPXI_ERR_ISSUER_MISMATCH cert reduce --acl R.acl --subject U.pub r-r2.cert r1-u.cert

# ---------------------------------------------------------------------------
h1 "4.2.3 Several users: R -> H -> U1 -> U2"
say "1. U2 asks U1 to join hep-study; U1 agrees and asks H, which grants U1 the right to delegate (1 day)"
ok cert issue --issuer H.key --subject U1.pub --propagate \
    --tag "(vpxi hep-study \"$RHIT\" (* set member exec))" --not-after +1d -o h-u1.cert
ok cert show h-u1.cert
say "2. U1 grants U2 membership only, without delegation (6 hours)"
ok cert issue --issuer U1.key --subject U2.pub \
    --tag "(vpxi hep-study \"$RHIT\" member)" --not-after +6h -o u1-u2.cert
ok cert show u1-u2.cert
say "3. U2 presents both certificates to R in one sequence; R adds the grant it gave H and reduces"
ok cert join -o u2-chain.seq h-u1.cert u1-u2.cert
ok cert reduce --acl R.acl --subject U2.pub --tag "(vpxi hep-study \"$RHIT\" member)" r-h.cert u2-chain.seq
expiry_is_earliest --acl R.acl --subject U2.pub r-h.cert u2-chain.seq -- r-h.cert h-u1.cert u1-u2.cert
say "Refused: U2 asks to start processes (exec), which U1 did not pass on"
refused VPXI_ERR_NOT_AUTHORIZED cert reduce --acl R.acl --subject U2.pub --tag "(vpxi hep-study \"$RHIT\" exec)" r-h.cert u2-chain.seq
say "Refused: U2 was not allowed to delegate, so a certificate U2 gives the outsider X does not extend the chain"
ok cert issue --issuer U2.key --subject X.pub --tag "(vpxi hep-study \"$RHIT\" member)" --not-after +1h -o u2-x.cert
refused VPXI_ERR_NO_DELEGATION cert reduce --acl R.acl --subject X.pub r-h.cert u2-chain.seq u2-x.cert

# ---------------------------------------------------------------------------
h1 "One certificate in full (advanced form): H's grant to U1"
note "What is signed is the canonical encoding of the (cert ...) element; the signature names its SHA-256."
indent <h-u1.cert

ms=$((($(date +%s%N) - start) / 1000000))
printf '\n%sAll %d expected results observed (%d.%02d s).%s\n' "$green" "$checks" $((ms / 1000)) $((ms % 1000 / 10)) "$off"
