#!/usr/bin/env bash
# test_catalog.sh - image trust end to end over HTTP.
#
#   ns0: bridge 198.18.0.254/24 (the underlay)
#   ns1 198.18.0.1  web: python3 -m http.server 8000 serving the endorsers'
#                   catalogues and images (www/)
#   ns2 198.18.0.2  the provider (vpxi catalog import/fetch/verify) and the
#                   node start gate
#
# Trust at the provider: images named hep-* need 2 of the 2 endorsers E1 and
# E2; E2 has delegated hep-reco-* to its team T (a certificate T's catalogue
# carries). A node start is: the provider's decision (vpxi catalog verify:
# policy now + stored file re-hashed), then the image unpacked in a fresh
# mount+PID namespace and its /etc/motd read there.
#
# Scenarios: import of the three catalogues over HTTP; images fetched and
# verified; nodes start. Then, each refused with its own error and the node
# start that depends on it refused: a tampered image on the server, a
# truncated download (kept, then resumed or restarted), a rollback to an
# older catalogue, an expired catalogue, a catalogue with a bad signature,
# one from an untrusted endorser, an image revoked by one endorser, and the
# team acting outside its delegated prefix.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxi python3 tar unshare sha256sum

W=$NN_DIR/www P=$NN_DIR/prov K=$NN_DIR/keys
URL=http://198.18.0.1:8000
mkdir -p "$W/images" "$K"
nn_topology 2

# pv ARGS: vpxi in the provider's namespace (quiet echo)
pv() { nq 2 vpxi "$@"; }
# publish E NAME...: E signs its draft (bumping the version) and publishes it
publish() { local e=$1; shift; vpxi -q catalog sign -c "$K/$e.draft" --key "$K/$e.key" "$@" -o "$W/$e.cat"; }
# add E NAME [STATUS OPTS]: E lists images/NAME.tar
add() {
    local e=$1 name=$2; shift 2
    vpxi -q catalog add -c "$K/$e.draft" --name "$name" --image "$W/images/$name.tar" \
        --url "$URL/images/$name.tar" --approved --replace "$@"
}
mkimage() { # mkimage NAME: a small tarball whose /etc/motd names it
    mkdir -p "$NN_DIR/src-$1/etc"
    echo "this is $1" >"$NN_DIR/src-$1/etc/motd"
    head -c "${2:-300000}" /dev/urandom >"$NN_DIR/src-$1/payload"
    tar -C "$NN_DIR/src-$1" -cf "$W/images/$1.tar" .
}
# start_node NAME: the gate, then the image in its own mount and PID namespace
start_node() {
    local name=$1 path root=$NN_DIR/root-$1
    path=$(pv catalog verify -d "$P" "$name" | awk '$2 == "OK" { print $4 }') || return 1
    [ -n "$path" ] || return 1
    mkdir -p "$root"
    nq 2 unshare --mount --pid --fork --mount-proc sh -c \
        "mount -t tmpfs node '$root' && tar -xf '$path' -C '$root' && cat '$root/etc/motd'" \
        >"$NN_DIR/node-$name.out" 2>&1 || return 1
    grep -qx "this is $name" "$NN_DIR/node-$name.out"
}
# refused NAME ERROR: the decision is refused with ERROR, and so is the node start
refused() {
    local out
    out=$(pv catalog verify -d "$P" "$1")
    case $out in *"$2"*) ;; *) echo "decision for $1: '$out', expected $2"; return 1 ;; esac
    ! start_node "$1"
}

# --- keys, images, catalogues on the web server
for k in E1 E2 T X; do
    vpxi key gen -o "$K/$k.key" >/dev/null && vpxi key pub "$K/$k.key" >"$K/$k.pub" || exit 1
done
for i in hep-a hep-reco-1 hep-sim-1 hep-t hep-big; do mkimage $i; done
mkimage hep-big 3000000
vpxi cert issue --issuer "$K/E2.key" --subject "$K/T.pub" --propagate \
    --tag '(endorse (* prefix "hep-reco-"))' --not-after +10d -o "$K/e2-t.cert" || exit 1
for i in hep-a hep-reco-1 hep-sim-1 hep-t hep-big; do add E1 $i; done
add E2 hep-a; add E2 hep-t; add E2 hep-big
add T hep-reco-1; add T hep-sim-1
publish E1 --expires +20d
cp "$W/E1.cat" "$NN_DIR/E1-v1.cat"
publish E1 --expires +20d # version 2
publish E2
publish T --chain "$K/e2-t.cert"

# --- the web server
nn_start 1 web python3 -m http.server 8000 --bind 198.18.0.1 --directory "$W"
ok nn_wait 10 nq 2 bash -c 'exec 3<>/dev/tcp/198.18.0.1/8000'

# --- the provider: 2 of {E1, E2} for hep-*, sources over HTTP
ok vpxi -q catalog trust -d "$P" add --endorser "$K/E1.pub" --endorser "$K/E2.pub" \
    --threshold 2 --scope hep-
ok vpxi -q catalog trust -d "$P" source "$URL/E1.cat" "$URL/E2.cat" "$URL/T.cat"
pv catalog import -d "$P" >"$NN_DIR/import1.txt"
cat "$NN_DIR/import1.txt"
ok grep -q "Import complete: 3 sources, 0 refused." "$NN_DIR/import1.txt"
ok grep -q "hep-sim-1: outside the endorser's delegated scope" "$NN_DIR/import1.txt"
ok pv catalog fetch -d "$P" hep-a hep-reco-1
ok grep -q '"GET /images/hep-a.tar HTTP/1.1" 200' "$NN_DIR/web.log"
pv catalog ls -d "$P"

# --- nodes start from endorsed, fetched, verified images
ok start_node hep-a
ok start_node hep-reco-1
eq "$(pv --json catalog ls -d "$P" | python3 -c 'import json,sys; print(" ".join(i["name"] for i in json.load(sys.stdin)["images"] if i["accepted"]))')" \
    "hep-a hep-big hep-reco-1 hep-t" "accepted images"

# --- the team endorses outside its delegated prefix
ok refused hep-sim-1 "does not grant (endorse hep-sim-1)"

# --- a tampered image on the server: never stored, never started
# (one bit flipped: writing a fixed byte left the file unchanged whenever the
# random payload already held that byte there, 1 run in 256)
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(5000); b = f.read(1)[0]; f.seek(5000); f.write(bytes([b ^ 1]))' "$W/images/hep-t.tar"
nok pv catalog fetch -d "$P" hep-t
pv catalog fetch -d "$P" hep-t 2>&1 | grep -q "VPXI_ERR_HASH_MISMATCH" || { echo "FAIL: hep-t fetch error"; NN_FAILS=$((NN_FAILS + 1)); }
ok refused hep-t VPXI_ERR_NOT_FOUND

# --- a truncated download: kept, not startable; then completed (the server
# --- cannot resume: vpxi starts again from the first octet)
cp "$W/images/hep-big.tar" "$NN_DIR/hep-big.full"
head -c 1000000 "$NN_DIR/hep-big.full" >"$W/images/hep-big.tar"
nok pv catalog fetch -d "$P" hep-big
ok refused hep-big VPXI_ERR_NOT_FOUND
ok test "$(ls "$P"/images/partial/*.part 2>/dev/null | wc -l)" = 1
cp "$NN_DIR/hep-big.full" "$W/images/hep-big.tar"
ok pv catalog fetch -d "$P" hep-big
ok start_node hep-big

# --- rollback: the server goes back to E1's version 1
cp "$W/E1.cat" "$NN_DIR/E1-v2.cat"
cp "$NN_DIR/E1-v1.cat" "$W/E1.cat"
nok pv catalog import -d "$P"
pv catalog import -d "$P" | grep -q "REFUSED: rollback: version 1 is older than version 2" ||
    { echo "FAIL: rollback report"; NN_FAILS=$((NN_FAILS + 1)); }
ok start_node hep-a # the previous state is kept
cp "$NN_DIR/E1-v2.cat" "$W/E1.cat"

# --- a catalogue with a bad signature, one from an untrusted key
cp "$W/E2.cat" "$NN_DIR/E2-good.cat"
python3 - "$W/E2.cat" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.index(b'hep-a.tar')
d[i] ^= 0x01
open(sys.argv[1], 'wb').write(d)
EOF
nok pv catalog import -d "$P"
pv catalog import -d "$P" | grep -q "VPXI_ERR_BAD_SIG" || { echo "FAIL: bad signature report"; NN_FAILS=$((NN_FAILS + 1)); }
vpxi -q catalog sign -c "$K/E2.draft" --key "$K/X.key" --force -o "$W/E2.cat"
nok pv catalog import -d "$P"
pv catalog import -d "$P" | grep -q "is not trusted by this provider" ||
    { echo "FAIL: untrusted report"; NN_FAILS=$((NN_FAILS + 1)); }
cp "$NN_DIR/E2-good.cat" "$W/E2.cat"
ok start_node hep-a

# --- an expired catalogue, and an imported one that expires
VPXI_NOW=$(( $(date +%s) - 30 * 86400 )) publish E1 --version 7 --expires +1d
nok pv catalog import -d "$P"
pv catalog import -d "$P" | grep -q "expired at" || { echo "FAIL: expiry report"; NN_FAILS=$((NN_FAILS + 1)); }
ok start_node hep-a
later=$(( $(date +%s) + 25 * 86400 )) # after E1's version 2 (20 days) expires
out=$(VPXI_NOW=$later pv catalog verify -d "$P" hep-a)
case $out in *VPXI_ERR_EXPIRED*) NN_CHECKS=$((NN_CHECKS + 1)) ;; *) echo "FAIL: at +25d: $out"; NN_FAILS=$((NN_FAILS + 1)) ;; esac
publish E1 --version 8 --expires +20d
ok pv catalog import -d "$P"

# --- revocation by one endorser: the next refresh stops the image
vpxi -q catalog endorse -c "$K/E2.draft" --revoke hep-a
publish E2
pv catalog import -d "$P" >"$NN_DIR/import-revoke.txt"
ok grep -q "x hep-a: revoked by its endorser" "$NN_DIR/import-revoke.txt"
ok refused hep-a VPXI_ERR_REVOKED
ok start_node hep-reco-1 # others are unaffected

nn_done
