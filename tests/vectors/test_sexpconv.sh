#!/usr/bin/env bash
# test_sexpconv.sh - cross-checks our S-expression encodings with nettle's
# sexp-conv, an independent implementation, in both directions:
#   1. for each corpus expression: our canonical bytes == sexp-conv's;
#   2. our advanced and transport output, read by sexp-conv, gives the same
#      canonical bytes; sexp-conv's advanced and transport output, read by us,
#      gives the same canonical bytes;
#   3. a certificate issued by vpxi has the same canonical bytes and SHA-256
#      under both tools.
set -u
command -v sexp-conv >/dev/null || { echo "SKIP: sexp-conv not installed (apt-get install nettle-bin)"; exit 77; }
command -v vpxi >/dev/null || { echo "vpxi not on PATH"; exit 1; }
src=${VPXI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

check_one() {
    local f=$1 label=$2
    n=$((n + 1))
    sexp-conv -s canonical --once <"$f" >"$tmp/theirs" 2>"$tmp/err" || { bad "$label: sexp-conv rejects it: $(cat "$tmp/err")"; return; }
    vpxi sexp -s canonical "$f" >"$tmp/ours" 2>"$tmp/err" || { bad "$label: vpxi rejects it: $(cat "$tmp/err")"; return; }
    cmp -s "$tmp/theirs" "$tmp/ours" || { bad "$label: canonical differs"; od -c "$tmp/theirs" | head -3; od -c "$tmp/ours" | head -3; return; }
    for form in advanced transport; do
        vpxi sexp -s $form "$f" >"$tmp/o.$form" || { bad "$label: vpxi -s $form"; return; }
        sexp-conv -s canonical --once <"$tmp/o.$form" >"$tmp/t.$form" 2>"$tmp/err" || { bad "$label: sexp-conv rejects our $form output: $(cat "$tmp/err")"; return; }
        cmp -s "$tmp/t.$form" "$tmp/ours" || bad "$label: our $form output reads differently in sexp-conv"
        sexp-conv -s $form --once <"$f" >"$tmp/their.$form" || { bad "$label: sexp-conv -s $form"; return; }
        vpxi sexp -s canonical "$tmp/their.$form" >"$tmp/u.$form" 2>"$tmp/err" || { bad "$label: vpxi rejects sexp-conv's $form output: $(cat "$tmp/err")"; return; }
        cmp -s "$tmp/u.$form" "$tmp/ours" || bad "$label: sexp-conv's $form output reads differently in vpxi"
    done
    [ "$(sexp-conv --hash=sha256 --once <"$f")" = "$(vpxi sexp --hash sha256 "$f")" ] || bad "$label: sha256 differs"
}

# The corpus: one expression per line, except a line ending in a backslash
# continues on the next (to test quoted-string continuation).
i=0
pending=""
while IFS= read -r line || [ -n "$line" ]; do
    case $line in ''|'#'*) [ -z "$pending" ] && continue ;; esac
    if [ "${line%\\}" != "$line" ]; then pending+="$line"$'\n'; continue; fi
    expr="$pending$line"
    pending=""
    i=$((i + 1))
    printf '%s' "$expr" >"$tmp/in.$i"
    check_one "$tmp/in.$i" "corpus line-expression $i ($(printf '%.40s' "$expr"))"
done <"$src/tests/vectors/sexp_corpus.txt"

# Certificates and keys made by vpxi itself.
if vpxi key gen --alg ed25519 -o "$tmp/a.key" >/dev/null && vpxi key gen -o "$tmp/b.key" >/dev/null &&
   vpxi key pub "$tmp/b.key" >"$tmp/b.pub" &&
   vpxi cert issue --issuer "$tmp/a.key" --subject "$tmp/b.pub" --tag '(vpxi demo (* set member exec))' \
        --propagate --not-before now --not-after +1d --comment "cross-check" -o "$tmp/c.cert"; then
    check_one "$tmp/c.cert" "issued certificate"
    check_one "$tmp/b.pub" "public key"
    vpxi cert issue --issuer "$tmp/a.key" --subject "$tmp/b.pub" --tag '(x)' -s canonical -o "$tmp/c.canon"
    sexp-conv -s canonical --once <"$tmp/c.canon" | cmp -s - "$tmp/c.canon" || bad "canonical certificate not a fixed point of sexp-conv"
    n=$((n + 1))
else
    bad "could not issue a certificate"
fi

# Negative: inputs both tools must reject.
for badin in '(01:a)' '(#616#)' '(4"abc")' '([h])' '(a [h](x))' '(3:ab' '(a!b)'; do
    n=$((n + 1))
    printf '%s' "$badin" >"$tmp/bad"
    if vpxi sexp -s canonical "$tmp/bad" >/dev/null 2>&1; then bad "vpxi accepts $badin"; fi
    if sexp-conv -s canonical --once <"$tmp/bad" >/dev/null 2>&1; then bad "sexp-conv accepts $badin (corpus assumption wrong)"; fi
done

echo "$n cross-checks, $fail failures"
[ "$fail" -eq 0 ]
