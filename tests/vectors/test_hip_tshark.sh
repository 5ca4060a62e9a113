#!/usr/bin/env bash
# test_hip_tshark.sh - checks our HIP packets with tshark, a dissector we did
# not write. test_hip_bex writes a pcap of a full exchange over UDP 10500
# (Ethernet / IPv4 / UDP / 4 zero bytes / HIP: I1, R1, I2, R2, rekey UPDATEs,
# a certificate-renewal UPDATE, NOTIFY, CLOSE, CLOSE_ACK); tshark, with the
# HIP/ESP demux script of shared/VERIFY.md, must find:
#   - packet types I1, R1, I2, R2 in that order, version 2, fixed bits;
#   - Header Length consistent with the UDP length for every packet;
#   - exactly our parameter sequences (so every TLV length and padding was
#     walked the same way), ascending;
#   - checksum accepted (0 over UDP) and good UDP checksums;
#   - no malformed packet, no expert error, no expert item of the malformed
#     group; the only warnings allowed are "Unknown algorithm type" on the
#     HOST_ID of R1/I2 (tshark 4.0 reads HOST_ID with the HIPv1 layout);
#   - puzzle fields: R1 K = 0, Lifetime 42 (2 * r1_rotate_ms = 600 s <= 2^10 s),
#     Opaque 0, #I of 48 bytes (SHA-384, HIT suite 2); I2 echoes K, Opaque
#     and #I and carries a 48-byte #J;
#   - HITs consistent across the four packets.
set -u
command -v tshark >/dev/null || { echo "SKIP: tshark not installed (apt-get install tshark)"; exit 77; }
src=${VPXI_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VPXI_BUILD:-$src/build}
bin=$build/tests/test_hip_bex
[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
export HOME=/tmp/scratch
mkdir -p "$HOME"
tmp=$(mktemp -d "$HOME/hip-tshark.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

VPXI_HIP_PCAP=$tmp/hip.pcap VPXI_VECTORS=$src/tests/vectors "$bin" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; echo "FAIL: test_hip_bex"; exit 1; }
[ -s "$tmp/hip.pcap" ] || { echo "FAIL: no pcap written"; exit 1; }

cat >"$tmp/demux.lua" <<'EOF'
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

ts() { tshark -X lua_script:"$tmp/demux.lua" -r "$tmp/hip.pcap" -o udp.check_checksum:TRUE "$@" 2>"$tmp/err"; }
field() { ts -Y "frame.number == $1" -T fields -E occurrence=f -e "$2"; }

n=$(ts -T fields -e frame.number | wc -l)
[ "$n" -ge 8 ] || bad "only $n packets in the capture"
[ "$(ts -Y hip -T fields -e frame.number | wc -l)" = "$n" ] || bad "not every packet dissects as HIP"

# packet types, version, fixed bits
types=$(ts -T fields -e hip.packet_type | head -4 | tr '\n' ' ')
[ "$types" = "1 2 3 4 " ] || bad "packet types of the base exchange: $types"
ts -T fields -e hip.version -e hip.shim6_fixed_p -e hip.shim6_fixed_s -e udp.srcport -e udp.dstport >"$tmp/hdr"
while read -r ver p s sp dp; do
    [ "$ver" = 2 ] || bad "version $ver"
    [ "$p" = 0 ] && [ "$s" = 1 ] || bad "fixed bits P=$p S=$s"
    [ "$sp" = 10500 ] && [ "$dp" = 10500 ] || bad "ports $sp -> $dp"
done <"$tmp/hdr"

# Header Length vs UDP length (8-byte UDP header + 4-byte zero marker)
ts -T fields -e frame.number -e hip.hdr_len -e udp.length >"$tmp/len"
while read -r f hl ul; do
    [ $(((hl + 1) * 8 + 12)) = "$ul" ] || bad "frame $f: header length $hl vs UDP length $ul"
done <"$tmp/len"

# parameter sequences of the base exchange
want=("511"
      "129,257,511,513,579,705,715,2049,4095,61633"
      "65,129,321,513,579,705,768,2049,4095,61505,61697"
      "65,61569,61697")
for f in 1 2 3 4; do
    got=$(ts -Y "frame.number == $f" -T fields -e hip.type)
    [ "$got" = "${want[$((f - 1))]}" ] || bad "frame $f parameters: $got, expected ${want[$((f - 1))]}"
done
# every packet's parameters in ascending order
ts -T fields -e frame.number -e hip.type >"$tmp/types"
while read -r f list; do
    prev=0
    for t in ${list//,/ }; do
        [ "$t" -ge "$prev" ] || bad "frame $f: parameter $t after $prev"
        prev=$t
    done
done <"$tmp/types"

# checksums: HIP (0 over UDP, accepted) and UDP
[ "$(ts -Y 'hip.checksum.status != 1' -T fields -e frame.number | wc -l)" = 0 ] ||
    bad "HIP checksum not accepted"
[ "$(ts -Y 'udp.checksum.status != 1' -T fields -e frame.number | wc -l)" = 0 ] ||
    bad "UDP checksum bad"
[ "$(ts -T fields -e hip.checksum | sort -u)" = "0x0000" ] || bad "HIP checksum over UDP is not 0"

# malformed packets and expert information
[ "$(ts -Y '_ws.malformed' -T fields -e frame.number | wc -l)" = 0 ] || bad "malformed packets"
[ "$(ts -Y '_ws.expert.severity == error || _ws.expert.group == malformed' -T fields -e frame.number | wc -l)" = 0 ] ||
    bad "expert errors or malformed-group items"
ts -Y '_ws.expert' -T fields -E occurrence=a -E aggregator='|' -e frame.number -e _ws.expert.message >"$tmp/expert"
while IFS=$'\t' read -r f msgs; do
    IFS='|' read -ra m <<<"$msgs"
    for x in "${m[@]}"; do
        case "$f:$x" in
        2:"Unknown algorithm type" | 3:"Unknown algorithm type") ;;
        *) bad "frame $f: unexpected expert item: $x" ;;
        esac
    done
done <"$tmp/expert"
[ -s "$tmp/err" ] && grep -qi "error" "$tmp/err" && bad "tshark: $(cat "$tmp/err")"

# puzzle fields
[ "$(field 2 hip.tlv_puzzle_k)" = 0 ] || bad "R1 puzzle K $(field 2 hip.tlv_puzzle_k)"
[ "$(field 2 hip.tlv_puzzle_lifetime)" = 42 ] || bad "R1 puzzle lifetime $(field 2 hip.tlv_puzzle_lifetime)"
[ "$(field 2 hip.tlv_puzzle_opaque)" = 0x0000 ] || bad "R1 puzzle opaque $(field 2 hip.tlv_puzzle_opaque)"
i_r1=$(field 2 hip.tlv.puzzle_random_i)
[ ${#i_r1} = 96 ] || bad "R1 #I is ${#i_r1} hex digits, expected 96 (SHA-384)"
[ "$i_r1" != "$(printf '0%.0s' {1..96})" ] || bad "R1 #I is zero (not filled in per I1)"
[ "$(field 3 hip.tlv_solution_k)" = 0 ] || bad "I2 solution K"
[ "$(field 3 hip.tlv_solution_opaque)" = 0x0000 ] || bad "I2 solution opaque"
[ "$(field 3 hip.tlv.solution_random_i)" = "$i_r1" ] || bad "I2 does not echo #I"
j=$(field 3 hip.tlv_solution_j)
[ ${#j} = 96 ] || bad "I2 #J is ${#j} hex digits"

# HITs
hi=$(field 1 hip.hit_sndr)
hr=$(field 1 hip.hit_rcvr)
[ "$(field 2 hip.hit_sndr)" = "$hr" ] && [ "$(field 2 hip.hit_rcvr)" = "$hi" ] || bad "R1 HITs"
[ "$(field 3 hip.hit_sndr)" = "$hi" ] && [ "$(field 3 hip.hit_rcvr)" = "$hr" ] || bad "I2 HITs"
[ "$(field 4 hip.hit_sndr)" = "$hr" ] && [ "$(field 4 hip.hit_rcvr)" = "$hi" ] || bad "R2 HITs"
case $hi in 2001002*) ;; *) bad "sender HIT $hi is not an ORCHIDv2" ;; esac

if [ "$fail" -eq 0 ]; then
    echo "ok: $n HIP packets dissected by tshark without errors"
    exit 0
fi
echo "$fail failures"
exit 1
