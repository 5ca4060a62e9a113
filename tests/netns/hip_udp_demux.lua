-- hip_udp_demux.lua: tshark plugin for port 10500, where HIP (after a
-- 4-byte zero marker, RFC 5770/9028) and ESP (SPI first, never zero) share
-- one UDP port. Hands each datagram to the HIP or the ESP dissector.
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
