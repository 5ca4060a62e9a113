#!/usr/bin/env bash
# test_esp_tshark.sh - our ESP packets and tshark key log lines, read by
# Wireshark's ESP dissector (an implementation we did not write).
#
# test_esp --emit-pcap writes, for suites 13, 7 and 8 (five packets each, in
# Ethernet/IPv4/UDP port 10500, split from HIP by the Lua demux of VERIFY.md):
#   esp.pcap        our packets as sent;
#   esp-noesn.pcap  the same with the ICV (GCM: tag) computed without the
#                   high half of the sequence number;
#   keys.txt        vpxi_esp_keylog_line() for each SA, fed to -o uat:esp_sa;
#   expect.txt      spi, seq, pad length, next header, inner UDP payload.
#
# tshark 4.0 (Debian 12) has no ESN support: its esp_sa table has no
# sequence-number fields and it leaves the high half out of the GCM AAD and
# the HMAC input, so it reports icv_bad on every packet we send (RFC 7402
# makes ESN mandatory). Hence the second pcap, whose packets differ from ours
# only in their ICV. Checks:
#   1. right keys, esp-noesn.pcap: every packet icv_good = 1, decrypted
#      padding, next header and inner payload as expected;
#   2. right keys, esp.pcap: every packet decrypts to the expected inner
#      packet (the ICV verdict is reported, and must be good if this tshark
#      does ESN);
#   3. a wrong ICV key (GCM: the AES key; suites 7, 8: the HMAC key; one hex
#      digit changed), esp-noesn.pcap: no packet icv_good, every packet that
#      tshark dissects to the end icv_bad = 1;
#   4. a wrong encryption key (suites 13, 8): no packet decrypts to what we
#      sealed. (A wrong CBC key can make tshark give up on a packet before
#      its ICV fields, so 3 keeps the CBC key right.)
set -u
command -v tshark >/dev/null || { echo "SKIP: tshark not installed"; exit 77; }
build=${VPXI_BUILD:-$(cd "$(dirname "$0")/../../build" 2>/dev/null && pwd)}
test_esp=$build/tests/test_esp
[ -x "$test_esp" ] || { echo "test_esp not built ($test_esp)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/home"
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

cat >"$tmp/hip_udp_demux.lua" <<'EOF'
local udp_tab = DissectorTable.get("udp.port")
local hip = udp_tab:get_dissector(10500)
local esp = Dissector.get("esp")
local p = Proto("hipudpdemux", "HIP-over-UDP / ESP-in-UDP demux")
function p.dissector(tvb, pinfo, tree)
  if tvb:len() >= 4 and tvb(0,4):uint() == 0 then return hip:call(tvb, pinfo, tree)
  elseif tvb:len() == 1 and tvb(0,1):uint() == 0xff then pinfo.cols.info = "NAT keepalive"; return 1
  else return esp:call(tvb, pinfo, tree) end
end
udp_tab:add(10500, p)
EOF

"$test_esp" --emit-pcap "$tmp" || { echo "test_esp --emit-pcap failed"; exit 1; }
n=$(wc -l <"$tmp/expect.txt")

# wrong_keys FIELD...: the key log with the first hex digit of the named
# fields changed (6: encryption key, for GCM the AES key and not the salt;
# 8: authentication key); empty keys stay empty.
wrong_keys() {
    awk -F'","' -v OFS='","' -v fields="$*" 'BEGIN { n = split(fields, f, " ") } {
        for (j = 1; j <= n; j++) {
            i = f[j]
            if ($i ~ /^0x[0-9a-f]+"?$/) {
                first = substr($i, 3, 1)
                $i = "0x" (first == "0" ? "1" : "0") substr($i, 4)
            }
        }
        print }' "$tmp/keys.txt"
}
# the key that makes the ICV: the AES key for GCM, else the HMAC key
{ wrong_keys 6 | grep '"AES-GCM'; wrong_keys 8 | grep -v '"AES-GCM'; } >"$tmp/wrong-auth.txt"
wrong_keys 6 | grep -v '","NULL","","' >"$tmp/wrong-enc.txt"
[ "$(wc -l <"$tmp/wrong-auth.txt")" -eq 3 ] && [ "$(wc -l <"$tmp/wrong-enc.txt")" -eq 2 ] &&
    ! grep -qxFf "$tmp/keys.txt" "$tmp/wrong-auth.txt" "$tmp/wrong-enc.txt" ||
    bad "could not make wrong keys"

# dissect PCAP KEYFILE > lines "spi seq icv_good icv_bad pad_len protocol payload"
dissect() {
    local args=() line
    while IFS= read -r line; do args+=(-o "uat:esp_sa:$line"); done <"$2"
    HOME=$tmp/home tshark -X lua_script:"$tmp/hip_udp_demux.lua" -r "$1" \
        -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE \
        "${args[@]}" -Y esp -T fields -E separator=' ' -E occurrence=l \
        -e esp.spi -e esp.sequence -e esp.icv_good -e esp.icv_bad -e esp.pad_len \
        -e esp.protocol -e data.data 2>"$tmp/tshark.err"
}

# compare OUT [icv]: decrypted fields against expect.txt; with icv, also
# require icv_good = 1
compare() {
    local out=$1 want_icv=$2 i=0 spi seq good badicv pad proto data espi eseq epad enh edata
    [ "$(wc -l <"$out")" -eq "$n" ] || { bad "$out: $(wc -l <"$out") ESP packets, expected $n"; cat "$tmp/tshark.err"; return; }
    while read -r spi seq good badicv pad proto data && read -r espi eseq epad enh edata <&3; do
        i=$((i + 1))
        [ "$spi" = "$espi" ] && [ "$seq" = "$eseq" ] || { bad "packet $i: spi/seq $spi/$seq, expected $espi/$eseq"; continue; }
        [ "$pad" = "$epad" ] || bad "packet $i ($spi #$seq): pad length '$pad', expected $epad"
        [ "$proto" = "$(printf '0x%02x' "$enh")" ] || bad "packet $i ($spi #$seq): next header '$proto'"
        [ "$data" = "$edata" ] || bad "packet $i ($spi #$seq): inner payload differs"
        if [ "$want_icv" = icv ] && { [ "$good" != 1 ] || [ "$badicv" != 0 ]; }; then
            bad "packet $i ($spi #$seq): icv_good=$good icv_bad=$badicv with the right keys"
        fi
    done <"$out" 3<"$tmp/expect.txt"
}

# 1. the key log lines let tshark decrypt and verify
dissect "$tmp/esp-noesn.pcap" "$tmp/keys.txt" >"$tmp/out1"
compare "$tmp/out1" icv

# 2. our packets as sent decrypt to what we sealed
dissect "$tmp/esp.pcap" "$tmp/keys.txt" >"$tmp/out2"
compare "$tmp/out2" noicv
good=$(awk '$3 == 1 && $4 == 0' "$tmp/out2" | wc -l)
badicv=$(awk '$3 == 0 && $4 == 1' "$tmp/out2" | wc -l)
if [ "$good" -eq "$n" ]; then
    echo "note: this tshark verifies ESN ICVs: all $n good"
elif [ "$badicv" -eq "$n" ]; then
    echo "note: tshark $(tshark --version 2>/dev/null | head -1 | awk '{print $3}') leaves the ESN high half out of the ICV: $n packets icv_bad as expected"
else
    bad "esp.pcap: $good good and $badicv bad ICVs out of $n: neither ESN nor non-ESN"
fi

# 3. a wrong ICV key (GCM: AES key; 7, 8: HMAC key) fails every ICV
dissect "$tmp/esp-noesn.pcap" "$tmp/wrong-auth.txt" >"$tmp/out3"
[ "$(wc -l <"$tmp/out3")" -eq "$n" ] || bad "wrong keys: $(wc -l <"$tmp/out3") ESP packets, expected $n"
# (garbage from a wrong GCM key can make tshark stop before the ICV fields:
# such a packet shows no ICV verdict; it must not count as good)
w=$(awk '$3 == 0 && $4 == 1' "$tmp/out3" | wc -l)
gave_up=$(awk 'NF < 3' "$tmp/out3" | wc -l)
if [ "$(awk '$3 == 1' "$tmp/out3" | wc -l)" -ne 0 ] || [ $((w + gave_up)) -ne "$n" ] || [ "$w" -eq 0 ]; then
    bad "wrong ICV keys: $w of $n packets icv_bad, $gave_up undissected"
    cat "$tmp/out3"
fi

# 4. a wrong encryption key (suites 13, 8) decrypts nothing we sealed
dissect "$tmp/esp-noesn.pcap" "$tmp/wrong-enc.txt" >"$tmp/out4"
hits=$(awk 'NR == FNR { want[$1 " " $2] = $5; next }
            ($1 == "0x00001001" || $1 == "0x00001003") && $7 != "" && $7 == want[$1 " " $2]' \
       "$tmp/expect.txt" "$tmp/out4" | wc -l)
[ "$hits" -eq 0 ] || bad "wrong encryption keys: $hits packets still decrypt to the inner packet"

echo "$n packets x 4 runs, $fail failures"
[ "$fail" -eq 0 ]
