#!/usr/bin/env bash
# test_catalog_https.sh - catalogues and images over HTTPS: the server is
# always verified.
#
#   ns1 198.18.0.1  web: an HTTPS server (python3 ssl) with a certificate for
#                   198.18.0.1 from a test authority (port 8443), and one for
#                   another name from the same authority (port 8444)
#   ns2 198.18.0.2  the provider (vpxi catalog import/fetch)
#
# Without the authority (system store only) the import is refused with the
# TLS error and nothing is imported; with VPXI_CA_FILE naming it, catalogue
# and image come through and verify; a certificate for the wrong name is
# refused even from the trusted authority, the previous state kept.
. "$(dirname "$0")/lib.sh"
nn_require_root
nn_require vpxi python3 openssl tar

W=$NN_DIR/www P=$NN_DIR/prov K=$NN_DIR/keys T=$NN_DIR/tls
mkdir -p "$W/images" "$K" "$T"
nn_topology 2
pv() { nq 2 vpxi "$@"; }

# --- a test authority and two server certificates
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=vpxi test CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null || exit 1
server_cert() { # server_cert NAME IP
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null &&
        printf 'subjectAltName = IP:%s\n' "$2" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
            -days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
ok server_cert good 198.18.0.1
ok server_cert other 198.18.0.9
cat >"$T/https.py" <<'PY'
import functools, http.server, ssl, sys
port, cert, key, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
server = http.server.HTTPServer(("198.18.0.1", port), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
nn_start 1 web python3 "$T/https.py" 8443 "$T/good.pem" "$T/good.key" "$W"
nn_start 1 web2 python3 "$T/https.py" 8444 "$T/other.pem" "$T/other.key" "$W"
ok nn_wait 10 nq 2 bash -c 'exec 3<>/dev/tcp/198.18.0.1/8443'
ok nn_wait 10 nq 2 bash -c 'exec 3<>/dev/tcp/198.18.0.1/8444'

# --- an endorser's catalogue of one image, served over HTTPS
URL=https://198.18.0.1:8443
vpxi key gen -o "$K/E.key" >/dev/null && vpxi key pub "$K/E.key" >"$K/E.pub" || exit 1
mkdir -p "$NN_DIR/src/etc" && echo "this is hep-a" >"$NN_DIR/src/etc/motd"
tar -C "$NN_DIR/src" -cf "$W/images/hep-a.tar" .
ok vpxi -q catalog add -c "$K/E.draft" --name hep-a --image "$W/images/hep-a.tar" \
    --url "$URL/images/hep-a.tar" --approved
ok vpxi -q catalog sign -c "$K/E.draft" --key "$K/E.key" -o "$W/E.cat"
ok vpxi -q catalog trust -d "$P" add --endorser "$K/E.pub" --threshold 1 --scope hep-
ok vpxi -q catalog trust -d "$P" source "$URL/E.cat"

# --- the system's authorities do not know the test authority: refused
unset VPXI_CA_FILE
pv catalog import -d "$P" >"$NN_DIR/import0.txt" 2>&1
cat "$NN_DIR/import0.txt"
ok grep -qi "certificate" "$NN_DIR/import0.txt"
ok grep -q "1 refused" "$NN_DIR/import0.txt"
nok sh -c "ip netns exec $NS_PREFIX-2 vpxi --json catalog ls -d '$P' | grep -q hep-a"

# --- with the authority: imported, fetched and verified over HTTPS
export VPXI_CA_FILE=$T/ca.pem
pv catalog import -d "$P" >"$NN_DIR/import1.txt" 2>&1
cat "$NN_DIR/import1.txt"
ok grep -q "0 refused" "$NN_DIR/import1.txt"
ok pv catalog fetch -d "$P" hep-a
eq "$(pv catalog verify -d "$P" hep-a | awk '{ print $2 }')" OK "hep-a accepted and stored"

# --- the right authority, the wrong name: refused, the previous state kept
ok vpxi -q catalog sign -c "$K/E.draft" --key "$K/E.key" -o "$W/E.cat"   # version 2
ok vpxi -q catalog trust -d "$P" source --remove "$URL/E.cat"
ok vpxi -q catalog trust -d "$P" source "https://198.18.0.1:8444/E.cat"
pv catalog import -d "$P" >"$NN_DIR/import2.txt" 2>&1
cat "$NN_DIR/import2.txt"
ok grep -qi "certificate\|subject\|name" "$NN_DIR/import2.txt"
ok grep -q "refused" "$NN_DIR/import2.txt"
eq "$(pv catalog verify -d "$P" hep-a | awk '{ print $2 }')" OK "hep-a still accepted"
ok sh -c "ip netns exec $NS_PREFIX-2 vpxi --json catalog ls -d '$P' | grep -q '\"version\":1'"
nn_done
