#!/usr/bin/env bash
# test_catalog.sh - vpxi catalog end to end on files: drafts, endorsement,
# signing, show/export (JSON checked by python3), verify against a file,
# a provider with a 2-of-2 threshold (trust, import, ls, fetch, verify),
# revocation, rollback, a tampered catalogue, export chaining, usage errors.
set -u
command -v vpxi >/dev/null || { echo "vpxi not on PATH"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
umask 022
fail=0
n=0
ok()  { n=$((n + 1)); if "$@" >out.txt 2>err.txt; then :; else echo "FAIL (exit $?): $*"; cat out.txt err.txt; fail=$((fail + 1)); fi; }
exits() {
    local want=$1; shift; n=$((n + 1))
    "$@" >out.txt 2>err.txt
    local got=$?
    [ "$got" = "$want" ] || { echo "FAIL (exit $got, want $want): $*"; cat out.txt err.txt; fail=$((fail + 1)); }
}
has()     { n=$((n + 1)); grep -q -- "$1" out.txt || { echo "FAIL: stdout lacks '$1'"; cat out.txt; fail=$((fail + 1)); }; }
has_err() { n=$((n + 1)); grep -q -- "$1" err.txt || { echo "FAIL: stderr lacks '$1'"; cat err.txt; fail=$((fail + 1)); }; }
json()    { n=$((n + 1)); python3 -c "import json,sys; d=json.load(open('out.txt')); sys.exit(0 if ($1) else 1)" || { echo "FAIL: JSON check: $1"; cat out.txt; fail=$((fail + 1)); }; }

echo "--- keys and images"
for k in E1 E2 X P; do
    vpxi key gen -o $k.key >/dev/null && vpxi key pub $k.key >$k.pub || exit 1
done
for i in a b; do
    mkdir -p img-$i/etc && echo "image $i" >img-$i/etc/motd && head -c 20000 /dev/urandom >img-$i/blob
    tar -C img-$i -cf hep-$i.tar .
done

echo "--- drafts and signing"
ok vpxi catalog add -c e1.draft --name hep-a --image hep-a.tar --image-version 1.0 \
    --url "file://$tmp/hep-a.tar" --producer "HEP build service" --produced -1d \
    --os debian-12 --arch x86_64 --runtime namespaces --purpose reconstruction --tags hep,batch
has "added hep-a: sha256 $(sha256sum hep-a.tar | cut -d' ' -f1)"
exits 1 vpxi catalog add -c e1.draft --name hep-a --image hep-a.tar
has_err "already in the draft"
exits 1 vpxi catalog add -c e1.draft --name "bad name" --image hep-a.tar
exits 1 vpxi catalog add -c e1.draft --name hep-x --image hep-a.tar --url ftp://nowhere
ok vpxi catalog endorse -c e1.draft hep-a
has "hep-a: approved"
ok grep -q "(status approved)" e1.draft
ok vpxi catalog sign -c e1.draft --key E1.key --label "E1 images" --expires +20d -o e1.cat
has "version 1"
ok vpxi catalog sign -c e1.draft --key E1.key --label "E1 images" --expires +20d -o e1.cat
has "version 2"
exits 1 vpxi catalog sign -c e1.draft --key E2.key -o e1.cat
has_err "not a catalogue signed by this key"
ok vpxi catalog show e1.cat
has "signature: good"
has "E1 images"
has "approved"
ok vpxi catalog show e1.cat hep-a
has "purpose    reconstruction"
has "sha512:"
ok vpxi --json catalog show e1.cat
json "d['signature']=='good' and d['version']==2 and d['images'][0]['name']=='hep-a' and d['images'][0]['meta']['tags']==['hep','batch'] and len(d['images'][0]['sha512'])==128"
ok vpxi catalog export --json e1.cat
json "d['images'][0]['urls']==['file://$tmp/hep-a.tar'] and d['images'][0]['status']['approved']"
ok vpxi catalog export -s advanced -o e1.adv e1.cat
ok vpxi catalog show e1.adv
has "signature: good"
ok vpxi catalog export -o e1.copy e1.cat
ok cmp e1.cat e1.copy

echo "--- verify a catalogue and a file against it"
ok vpxi catalog verify e1.cat
has "signature good, version 2, 1 images"
ok vpxi catalog verify e1.cat --image hep-a.tar
has "matches hep-a"
ok vpxi --json catalog verify e1.cat --image hep-a.tar
json "d['matches']=='hep-a' and d['status']=='approved'"
ok vpxi --json catalog add -c j.draft --name j --image hep-b.tar
json "d['name']=='j' and len(d['sha256'])==64 and not d['replaced']"
ok vpxi --json catalog sign -c j.draft --key E1.key -o j.cat
json "d['version']==1"
exits 1 vpxi catalog verify e1.cat --image hep-b.tar --name hep-a
has_err "HASH_MISMATCH"
exits 1 vpxi catalog verify e1.cat --image hep-b.tar
has_err "not listed"
python3 - <<'EOF'
d = bytearray(open('e1.cat', 'rb').read())
i = d.index(b'reconstruction')
d[i] ^= 0x20
open('tampered.cat', 'wb').write(d)
EOF
exits 1 vpxi catalog verify tampered.cat
has_err "VPXI_ERR_BAD_SIG"
exits 1 vpxi catalog show tampered.cat

echo "--- a provider with a 2-of-2 threshold"
ok vpxi catalog add -c e2.draft --name hep-a --image hep-a.tar --url "file://$tmp/hep-a.tar" --approved
ok vpxi catalog add -c e2.draft --name hep-b --image hep-b.tar --url "file://$tmp/hep-b.tar" --approved
ok vpxi catalog add -c e2.draft --name cms-b --image hep-b.tar --url "file://$tmp/hep-b.tar" --approved
ok vpxi catalog sign -c e2.draft --key E2.key -o e2.cat
cp e2.cat e2-v1.cat
ok vpxi catalog trust -d prov add --endorser E1.pub --endorser E2.pub --threshold 2 --scope hep-
ok vpxi catalog trust -d prov source "$tmp/e1.cat" "$tmp/e2.cat"
ok vpxi catalog trust -d prov set --interval 600 --jitter 60 --warn 86400
ok vpxi catalog trust -d prov show
has "endorsers: 2 of"
has "refresh every 600 s"
ok vpxi --json catalog trust -d prov show
json "d['acl'][0]['threshold']==2 and len(d['acl'][0]['endorsers'])==2 and d['interval']==600 and len(d['sources'])==2"
exits 1 vpxi catalog trust -d prov add --endorser E1.pub --threshold 3
ok vpxi catalog import -d prov
has "Imported 1 new image"
has "rejected 1"
has "cms-b: outside the endorser's delegated scope"
has "Import complete: 2 sources, 0 refused."
ok vpxi catalog ls -d prov
has "hep-a  *ACCEPTED"
has "not fetched"
has "hep-b  *REFUSED .*VPXI_ERR_THRESHOLD"
has "cms-b  *REFUSED"
ok vpxi catalog fetch -d prov
has "hep-a: sha256:$(sha256sum hep-a.tar | cut -d' ' -f1) fetched and verified"
ok vpxi catalog verify -d prov hep-a
has "OK"
ok vpxi --json catalog ls -d prov
json "[i for i in d['images'] if i['name']=='hep-a'][0]['stored'] and len(d['catalogs'])==2"
exits 1 vpxi catalog fetch -d prov hep-b
has_err "VPXI_ERR_THRESHOLD"
ok vpxi catalog import -d prov
has "unchanged"

echo "--- revocation, rollback, a bad source"
ok vpxi catalog endorse -c e2.draft --revoke hep-a
ok vpxi catalog sign -c e2.draft --key E2.key -o e2.cat
ok vpxi catalog import -d prov
has "x hep-a: revoked by its endorser"
exits 1 vpxi catalog verify -d prov hep-a
has "VPXI_ERR_REVOKED"
exits 1 vpxi catalog import -d prov "$tmp/e2-v1.cat"
has "REFUSED: rollback"
exits 1 vpxi catalog import -d prov "$tmp/tampered.cat"
has "VPXI_ERR_BAD_SIG"
ok vpxi catalog sign -c e2.draft --key X.key -o x.cat
exits 1 vpxi catalog import -d prov "$tmp/x.cat"
has "is not trusted by this provider"
ok vpxi --json catalog import -d prov
json "all(s['imported'] for s in d['sources']) and d['warnings']==0"
exits 1 vpxi --json catalog import -d prov "$tmp/x.cat"
json "d['sources'][0]['error']=='VPXI_ERR_NOT_AUTHORIZED'"

echo "--- export chaining"
ok vpxi catalog trust -d prov export --key P.key --expires +3d -o prov.export
ok vpxi catalog show prov.export
has "trusts 1:  (endorse (\* prefix hep-)) (threshold)"
ok vpxi catalog trust -d prov2 add --endorser P.pub
ok vpxi catalog import -d prov2 "$tmp/prov.export" "$tmp/e1.cat" "$tmp/e2.cat"
has "Import complete: 3 sources, 0 refused."
ok vpxi catalog ls -d prov2
has "hep-a  *REFUSED .*revoked"

echo "--- usage"
exits 2 vpxi catalog
exits 2 vpxi catalog add
exits 2 vpxi catalog frobnicate
exits 2 vpxi catalog import
exits 1 vpxi catalog ls -d "$tmp/nonexistent"
has_err "trust"
ok vpxi catalog --help
has "Producer and endorser"

echo "$n checks, $fail failures"
[ "$fail" = 0 ]
