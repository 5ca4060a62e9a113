#!/usr/bin/env bash
# test_key.sh - vpxi key end to end: generation for every algorithm, file
# modes, HIT prefixes, pipes, the permission refusal and usage errors.
set -u
command -v vpxi >/dev/null || { echo "vpxi not on PATH"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
umask 022
fail=0
n=0
ok()  { n=$((n + 1)); if "$@" >out.txt 2>err.txt; then :; else echo "FAIL (exit $?): $*"; cat out.txt err.txt; fail=$((fail + 1)); fi; }
# exits ERR: the command must exit with status ERR
exits() {
    local want=$1; shift; n=$((n + 1))
    "$@" >out.txt 2>err.txt
    local got=$?
    [ "$got" = "$want" ] || { echo "FAIL (exit $got, want $want): $*"; cat out.txt err.txt; fail=$((fail + 1)); }
}
same() { n=$((n + 1)); [ "$1" = "$2" ] || { echo "FAIL: $3: '$1' != '$2'"; fail=$((fail + 1)); }; }
has_err() { n=$((n + 1)); grep -q -- "$1" err.txt || { echo "FAIL: stderr lacks '$1'"; cat err.txt; fail=$((fail + 1)); }; }

echo "--- gen, modes, HIT prefixes"
for spec in ecdsa-p256:22 ed25519:25 rsa:21; do
    alg=${spec%%:*}; suite=${spec##*:}
    ok vpxi key gen --alg "$alg" -o "$alg.key" --pub "$alg.pub"
    hit=$(cat out.txt)
    case $hit in 2001:$suite:*) n=$((n + 1)) ;; *) echo "FAIL: $alg HIT '$hit' not 2001:$suite:"; fail=$((fail + 1)) ;; esac
    same "$(stat -c %a "$alg.key")" 600 "$alg private key mode"
    same "$(vpxi key hit "$alg.pub")" "$hit" "$alg HIT of the pub file"
    same "$(vpxi key hit "$alg.key")" "$hit" "$alg HIT of the private key"
    same "$(vpxi key pub "$alg.key")" "$(cat "$alg.pub")" "$alg pub of the key = --pub file"
    # the key id is the SHA-256 of the canonical public key
    ok vpxi key id "$alg.key"
    id=$(cat out.txt)
    same "$(vpxi key pub -s canonical "$alg.pub" | sha256sum | cut -d' ' -f1)" "$id" "$alg key id"
    if command -v sexp-conv >/dev/null; then
        same "$(vpxi key pub -s transport "$alg.key" | sexp-conv --hash=sha256 | tr -d ' ')" \
            "$id" "$alg key id by sexp-conv"
    fi
    # all three forms of the public key give the same key
    for form in canonical advanced transport; do
        vpxi key pub -s $form "$alg.key" >"$alg.$form"
        same "$(vpxi key id "$alg.$form")" "$id" "$alg key id of the $form form"
    done
    ok vpxi key show "$alg.key"
    grep -q "^algorithm: *$alg\$" out.txt && grep -q "^hit: *$hit\$" out.txt && grep -q "^private: *yes" out.txt \
        || { echo "FAIL: show $alg.key"; cat out.txt; fail=$((fail + 1)); }
    n=$((n + 1))
done
ok vpxi key gen --alg rsa --bits 2048 -o rsa2048.key
same "$(vpxi --json key show rsa2048.key | grep -o '"bits": [0-9]*')" '"bits": 2048' "RSA --bits"
ok vpxi key gen -o default.key
case $(cat out.txt) in 2001:22:*) n=$((n + 1)) ;; *) echo "FAIL: default algorithm is not ECDSA"; fail=$((fail + 1)) ;; esac

echo "--- --json"
ok vpxi key show --json ed25519.pub
grep -q '"algorithm": "ed25519"' out.txt && grep -q '"private": false' out.txt && grep -q '"hi_algorithm": 13' out.txt \
    || { echo "FAIL: show --json"; cat out.txt; fail=$((fail + 1)); }
n=$((n + 1))
ok vpxi --json key hit ed25519.pub
grep -q '^{"hit": "2001:25:' out.txt || { echo "FAIL: --json key hit"; cat out.txt; fail=$((fail + 1)); }
n=$((n + 1))
if command -v jq >/dev/null; then
    same "$(vpxi key show --json rsa.key | jq -r .hit)" "$(vpxi key hit rsa.key)" "show --json | jq .hit"
fi

echo "--- pipes"
same "$(vpxi key pub ecdsa-p256.key | vpxi key hit -)" "$(vpxi key hit ecdsa-p256.key)" "pub | hit -"
same "$(vpxi key pub -s canonical ed25519.key | vpxi key id)" "$(vpxi key id ed25519.key)" "pub -s canonical | id"
same "$(vpxi key hit - <ed25519.key)" "$(vpxi key hit ed25519.key)" "hit - < private key"
hit=$(vpxi key gen --alg ed25519 -o - | vpxi key pub - | vpxi key hit -)
case $hit in 2001:25:*) n=$((n + 1)) ;; *) echo "FAIL: gen -o - | pub | hit gave '$hit'"; fail=$((fail + 1)) ;; esac

echo "--- permissions and overwrite"
cp -p ed25519.key loose.key
chmod 644 loose.key
exits 1 vpxi key hit loose.key
has_err "loose.key"
has_err "accessible by group or others"
exits 1 vpxi key pub loose.key
chmod 640 loose.key
exits 1 vpxi key show loose.key
chmod 600 loose.key
ok vpxi key hit loose.key
chmod 644 ed25519.pub
ok vpxi key hit ed25519.pub
before=$(cat ecdsa-p256.key)
exits 1 vpxi key gen -o ecdsa-p256.key
has_err "already exists"
same "$(cat ecdsa-p256.key)" "$before" "refused gen leaves the key alone"
exits 1 vpxi key gen --alg ed25519 -o new.key --pub ecdsa-p256.pub
[ ! -e new.key ] || { echo "FAIL: gen wrote new.key although --pub exists"; fail=$((fail + 1)); }
ok vpxi key gen --force -o ecdsa-p256.key
[ "$(cat ecdsa-p256.key)" != "$before" ] || { echo "FAIL: --force did not replace"; fail=$((fail + 1)); }
same "$(stat -c %a ecdsa-p256.key)" 600 "mode after --force"
same "$(ls | grep -c tmp)" 0 "no temporary files left"

echo "--- usage errors and bad input"
exits 2 vpxi key gen --alg dsa -o x.key
has_err "unknown algorithm 'dsa'"
exits 2 vpxi key gen --alg ed25519 --bits 2048 -o x.key
exits 2 vpxi key gen --alg rsa --bits 1024 -o x.key
exits 2 vpxi key gen
exits 2 vpxi key gen -o x.key extra
exits 2 vpxi key frobnicate
exits 2 vpxi key
exits 2 vpxi key pub -s hex ed25519.pub
exits 2 vpxi key hit a b
[ ! -e x.key ] || { echo "FAIL: x.key written by a refused command"; fail=$((fail + 1)); }
exits 1 vpxi key hit missing.key
has_err "missing.key"
echo '(public-key (ed448 (q #00#)))' >bad.pub
exits 1 vpxi key hit bad.pub
has_err "unsupported"
echo hello >hello.txt
exits 1 vpxi key id - <hello.txt
has_err "standard input"
for sub in gen pub hit id show; do
    exits 0 vpxi key $sub --help
    grep -q "^usage: vpxi key $sub" out.txt || { echo "FAIL: key $sub --help"; cat out.txt; fail=$((fail + 1)); }
done
exits 0 vpxi key --help

echo "$n checks, $fail failures"
[ "$fail" = 0 ]
