-- KINK (RFC 4430, Kerberized Internet Negotiation of Keys) dissector for Wireshark/tshark.
--
-- Wireshark's built-in "kink" dissector follows draft-ietf-kink-kink-05 (2003): RFC 4430 traffic
-- (racoon2's kinkd, kink) shows as malformed there. This one follows RFC 4430 and replaces the
-- built-in one on udp/910. Its filter name is "kink4430" (the name "kink" belongs to the
-- built-in protocol).
--
-- Shows: the header (Type, MjVer, Length, DOI, XID, NextPayload, ACKREQ, CksumLen), every KINK
-- payload (KINK_AP_REQ/AP_REP with EPOCH and the Kerberos message handed to Wireshark's
-- Kerberos dissector, KINK_KRB_ERROR, KINK_TGT_REQ, KINK_TGT_REP, KINK_ISAKMP with its Quick
-- Mode payloads, KINK_ENCRYPT, KINK_ERROR), the Cksum and any octets after Length.
-- KINK_ENCRYPT is shown as ciphertext: decrypting it needs the ticket session key, which is
-- `kink decode --keytab …`'s job.
--
-- Use:  wireshark -X lua_script:contrib/wireshark/kink.lua capture.pcap
--       tshark -X lua_script:contrib/wireshark/kink.lua -r capture.pcap -Y kink4430 -V
-- or copy it into ~/.local/lib/wireshark/plugins/.
--
-- Tested by tests/integration/wire/wireshark_test.ts: every field shown here equals what
-- `kink decode --json` reports for the same datagram.

local kink = Proto("kink4430", "Kerberized Internet Negotiation of Keys (RFC 4430)")

local MESSAGE_TYPES = {
  [0] = "RESERVED", [1] = "CREATE", [2] = "DELETE", [3] = "REPLY", [4] = "GETTGT", [5] = "ACK",
  [6] = "STATUS",
}
local PAYLOAD_TYPES = {
  [0] = "KINK_DONE", [1] = "KINK_AP_REQ", [2] = "KINK_AP_REP", [3] = "KINK_KRB_ERROR",
  [4] = "KINK_TGT_REQ", [5] = "KINK_TGT_REP", [6] = "KINK_ISAKMP", [7] = "KINK_ENCRYPT",
  [8] = "KINK_ERROR",
}
local KINK_ERRORS = {
  [0] = "KINK_OK", [1] = "KINK_PROTOERR", [2] = "KINK_INVDOI", [3] = "KINK_INVMAJ",
  [5] = "KINK_INTERR", [6] = "KINK_BADQMVERS", [7] = "KINK_U2UDENIED",
}
local ISAKMP_TYPES = {
  [0] = "NONE", [1] = "SA", [2] = "PROPOSAL", [3] = "TRANSFORM", [4] = "KE", [5] = "ID",
  [6] = "CERT", [7] = "CR", [8] = "HASH", [9] = "SIG", [10] = "NONCE", [11] = "NOTIFY",
  [12] = "DELETE", [13] = "VENDOR_ID",
}
local PROTOCOLS = { [1] = "ISAKMP", [2] = "AH", [3] = "ESP", [4] = "IPCOMP" }
local ESP_TRANSFORMS = {
  [1] = "ESP_DES_IV64", [2] = "ESP_DES", [3] = "ESP_3DES", [4] = "ESP_RC5", [5] = "ESP_IDEA",
  [6] = "ESP_CAST", [7] = "ESP_BLOWFISH", [8] = "ESP_3IDEA", [9] = "ESP_DES_IV32",
  [10] = "ESP_RC4", [11] = "ESP_NULL", [12] = "ESP_AES", [13] = "ESP_AES_CTR",
  [18] = "ESP_AES_GCM_8", [19] = "ESP_AES_GCM_12", [20] = "ESP_AES_GCM_16",
}
local AH_TRANSFORMS = {
  [2] = "AH_MD5", [3] = "AH_SHA", [4] = "AH_DES", [5] = "AH_SHA2_256", [6] = "AH_SHA2_384",
  [7] = "AH_SHA2_512",
}
local IPCOMP_TRANSFORMS = { [1] = "IPCOMP_OUI", [2] = "IPCOMP_DEFLATE", [3] = "IPCOMP_LZS" }
local ATTRIBUTES = {
  [1] = "LIFE_TYPE", [2] = "LIFE_DURATION", [3] = "GROUP_DESCRIPTION",
  [4] = "ENCAPSULATION_MODE", [5] = "AUTH_ALGORITHM", [6] = "KEY_LENGTH", [7] = "KEY_ROUNDS",
  [8] = "COMPRESS_DICTIONARY_SIZE", [9] = "COMPRESS_PRIVATE_ALGORITHM",
  [11] = "EXTENDED_SEQUENCE_NUMBER",
}
local ID_TYPES = {
  [1] = "IPV4_ADDR", [2] = "FQDN", [3] = "USER_FQDN", [4] = "IPV4_ADDR_SUBNET",
  [5] = "IPV6_ADDR", [6] = "IPV6_ADDR_SUBNET", [7] = "IPV4_ADDR_RANGE", [8] = "IPV6_ADDR_RANGE",
  [9] = "DER_ASN1_DN", [10] = "DER_ASN1_GN", [11] = "KEY_ID",
}
local NOTIFY_TYPES = {
  [1] = "INVALID_PAYLOAD_TYPE", [2] = "DOI_NOT_SUPPORTED", [3] = "SITUATION_NOT_SUPPORTED",
  [4] = "INVALID_COOKIE", [5] = "INVALID_MAJOR_VERSION", [6] = "INVALID_MINOR_VERSION",
  [7] = "INVALID_EXCHANGE_TYPE", [8] = "INVALID_FLAGS", [9] = "INVALID_MESSAGE_ID",
  [10] = "INVALID_PROTOCOL_ID", [11] = "INVALID_SPI", [12] = "INVALID_TRANSFORM_ID",
  [13] = "ATTRIBUTES_NOT_SUPPORTED", [14] = "NO_PROPOSAL_CHOSEN", [15] = "BAD_PROPOSAL_SYNTAX",
  [16] = "PAYLOAD_MALFORMED", [17] = "INVALID_KEY_INFORMATION", [18] = "INVALID_ID_INFORMATION",
  [19] = "INVALID_CERT_ENCODING", [20] = "INVALID_CERTIFICATE", [21] = "CERT_TYPE_UNSUPPORTED",
  [22] = "INVALID_CERT_AUTHORITY", [23] = "INVALID_HASH_INFORMATION",
  [24] = "AUTHENTICATION_FAILED", [25] = "INVALID_SIGNATURE", [26] = "ADDRESS_NOTIFICATION",
  [27] = "NOTIFY_SA_LIFETIME", [28] = "CERTIFICATE_UNAVAILABLE",
  [29] = "UNSUPPORTED_EXCHANGE_TYPE", [30] = "UNEQUAL_PAYLOAD_LENGTHS", [16384] = "CONNECTED",
  [24576] = "RESPONDER_LIFETIME", [24577] = "REPLAY_STATUS", [24578] = "INITIAL_CONTACT",
}

local f = kink.fields
-- Header (RFC 4430 §4)
f.type = ProtoField.uint8("kink4430.type", "Type", base.DEC, MESSAGE_TYPES)
f.version = ProtoField.uint8("kink4430.version", "MjVer", base.DEC, nil, 0xf0)
f.length = ProtoField.uint16("kink4430.length", "Length", base.DEC)
f.doi = ProtoField.uint32("kink4430.doi", "Domain of Interpretation", base.DEC)
f.xid = ProtoField.uint32("kink4430.xid", "Transaction ID", base.DEC)
f.next_payload = ProtoField.uint8("kink4430.next_payload", "Next Payload", base.DEC, PAYLOAD_TYPES)
f.ackreq = ProtoField.bool("kink4430.ackreq", "ACKREQ", 8, nil, 0x80)
f.cksum_len = ProtoField.uint16("kink4430.cksum_len", "CksumLen", base.DEC)
f.cksum = ProtoField.bytes("kink4430.cksum", "Cksum")
f.trailing = ProtoField.bytes("kink4430.trailing", "Octets after Length (ignored)")
-- Every KINK payload (§4.2)
f.payload = ProtoField.uint8("kink4430.payload", "Payload", base.DEC, PAYLOAD_TYPES)
f.payload_next = ProtoField.uint8("kink4430.payload.next", "Next Payload", base.DEC, PAYLOAD_TYPES)
f.payload_length = ProtoField.uint16("kink4430.payload.length", "Payload Length", base.DEC)
f.epoch = ProtoField.uint32("kink4430.epoch", "EPOCH", base.DEC)
f.princ_name = ProtoField.string("kink4430.princ_name", "PrincName")
f.ciphertext = ProtoField.bytes("kink4430.encrypt.ciphertext", "Ciphertext (decrypt with kink decode)")
f.error_code = ProtoField.uint32("kink4430.error_code", "ErrorCode", base.DEC, KINK_ERRORS)
-- KINK_ISAKMP (§4.2.6) and the Quick Mode payloads inside it (RFC 2408 §3, RFC 2407 §4.6)
f.inner_next = ProtoField.uint8("kink4430.isakmp.inner_next", "InnerNextPload", base.DEC, ISAKMP_TYPES)
f.qm_major = ProtoField.uint8("kink4430.isakmp.qm_major", "QMMaj", base.DEC, nil, 0xf0)
f.qm_minor = ProtoField.uint8("kink4430.isakmp.qm_minor", "QMMin", base.DEC, nil, 0x0f)
f.qm_payload = ProtoField.uint8("kink4430.qm.payload", "Quick Mode payload", base.DEC, ISAKMP_TYPES)
f.qm_next = ProtoField.uint8("kink4430.qm.next", "Next Payload", base.DEC, ISAKMP_TYPES)
f.qm_length = ProtoField.uint16("kink4430.qm.length", "Payload Length", base.DEC)
f.sa_doi = ProtoField.uint32("kink4430.sa.doi", "DOI", base.DEC)
f.sa_situation = ProtoField.uint32("kink4430.sa.situation", "Situation", base.HEX)
f.prop_next = ProtoField.uint8("kink4430.prop.next", "Next Payload", base.DEC, ISAKMP_TYPES)
f.prop_length = ProtoField.uint16("kink4430.prop.length", "Payload Length", base.DEC)
f.prop_number = ProtoField.uint8("kink4430.prop.number", "Proposal #", base.DEC)
f.prop_protocol = ProtoField.uint8("kink4430.prop.protocol", "Protocol-ID", base.DEC, PROTOCOLS)
f.prop_spi_size = ProtoField.uint8("kink4430.prop.spi_size", "SPI Size", base.DEC)
f.prop_transforms = ProtoField.uint8("kink4430.prop.transforms", "# of Transforms", base.DEC)
f.prop_spi = ProtoField.bytes("kink4430.prop.spi", "SPI")
f.trans_next = ProtoField.uint8("kink4430.trans.next", "Next Payload", base.DEC, ISAKMP_TYPES)
f.trans_length = ProtoField.uint16("kink4430.trans.length", "Payload Length", base.DEC)
f.trans_number = ProtoField.uint8("kink4430.trans.number", "Transform #", base.DEC)
f.trans_id = ProtoField.uint8("kink4430.trans.id", "Transform-ID", base.DEC)
f.attr_format = ProtoField.bool("kink4430.attr.tv", "Basic (TV) format", 16, nil, 0x8000)
f.attr_type = ProtoField.uint16("kink4430.attr.type", "Attribute Type", base.DEC, ATTRIBUTES, 0x7fff)
f.attr_length = ProtoField.uint16("kink4430.attr.length", "Attribute Length", base.DEC)
f.attr_value = ProtoField.uint64("kink4430.attr.value", "Attribute Value", base.DEC)
f.attr_bytes = ProtoField.bytes("kink4430.attr.value_bytes", "Attribute Value")
f.ke_data = ProtoField.bytes("kink4430.ke.data", "Key Exchange Data")
f.id_type = ProtoField.uint8("kink4430.id.type", "ID Type", base.DEC, ID_TYPES)
f.id_protocol = ProtoField.uint8("kink4430.id.protocol", "Protocol ID", base.DEC)
f.id_port = ProtoField.uint16("kink4430.id.port", "Port", base.DEC)
f.id_data = ProtoField.bytes("kink4430.id.data", "Identification Data")
f.nonce = ProtoField.bytes("kink4430.nonce", "Nonce Data")
f.n_doi = ProtoField.uint32("kink4430.notify.doi", "DOI", base.DEC)
f.n_protocol = ProtoField.uint8("kink4430.notify.protocol", "Protocol-ID", base.DEC, PROTOCOLS)
f.n_spi_size = ProtoField.uint8("kink4430.notify.spi_size", "SPI Size", base.DEC)
f.n_type = ProtoField.uint16("kink4430.notify.type", "Notify Message Type", base.DEC, NOTIFY_TYPES)
f.n_spi = ProtoField.bytes("kink4430.notify.spi", "SPI")
f.n_data = ProtoField.bytes("kink4430.notify.data", "Notification Data")
f.d_doi = ProtoField.uint32("kink4430.delete.doi", "DOI", base.DEC)
f.d_protocol = ProtoField.uint8("kink4430.delete.protocol", "Protocol-ID", base.DEC, PROTOCOLS)
f.d_spi_size = ProtoField.uint8("kink4430.delete.spi_size", "SPI Size", base.DEC)
f.d_count = ProtoField.uint16("kink4430.delete.count", "# of SPIs", base.DEC)
f.d_spi = ProtoField.bytes("kink4430.delete.spi", "SPI")
f.qm_data = ProtoField.bytes("kink4430.qm.data", "Payload Data")

local e_malformed = ProtoExpert.new("kink4430.malformed", "Malformed KINK message",
  expert.group.MALFORMED, expert.severity.ERROR)
local e_encrypted = ProtoExpert.new("kink4430.encrypted",
  "KINK_ENCRYPT: ciphertext under the ticket session key (decrypt with kink decode --keytab)",
  expert.group.SECURITY, expert.severity.NOTE)
kink.experts = { e_malformed, e_encrypted }

-- Wireshark's Kerberos dissector (the one on udp/88) reads the DER Kerberos messages.
local kerberos = DissectorTable.get("udp.port"):get_dissector(88)

local function name_of(t, v, fallback)
  return t[v] or string.format("%s(%d)", fallback, v)
end

local function align4(n)
  return n + (4 - n % 4) % 4
end

local function malformed(tree, range, text)
  tree:add_proto_expert_info(e_malformed, text)
  if range then tree:add(range, "[" .. text .. "]") end
end

-- One SA attribute (RFC 2408 §3.3) at `off`; returns the offset after it.
local function dissect_attribute(buf, tree, off, limit)
  if off + 4 > limit then
    malformed(tree, nil, "attribute header runs past its transform")
    return limit
  end
  local head = buf(off, 2):uint()
  local tv = head >= 0x8000
  local atype = head % 0x8000
  local size = tv and 4 or 4 + buf(off + 2, 2):uint()
  if off + size > limit then
    malformed(tree, buf(off, limit - off), "attribute runs past its transform")
    return limit
  end
  local sub = tree:add(kink, buf(off, size),
    "Attribute: " .. name_of(ATTRIBUTES, atype, "ATTR") .. (tv and " (TV)" or " (TLV)"))
  sub:add(f.attr_format, buf(off, 2))
  sub:add(f.attr_type, buf(off, 2))
  if tv then
    sub:add(f.attr_value, buf(off + 2, 2), UInt64(buf(off + 2, 2):uint()))
  else
    sub:add(f.attr_length, buf(off + 2, 2))
    local n = size - 4
    if n > 0 and n <= 8 then
      sub:add(f.attr_value, buf(off + 4, n), buf(off + 4, n):uint64())
    elseif n > 0 then
      sub:add(f.attr_bytes, buf(off + 4, n))
    end
  end
  return off + size
end

-- A Proposal payload with its Transforms (RFC 2408 §3.5, §3.6).
local function dissect_proposal(buf, tree, off, len)
  local sub = tree:add(kink, buf(off, len), "Proposal")
  sub:add(f.prop_next, buf(off, 1))
  sub:add(f.prop_length, buf(off + 2, 2))
  if len < 8 then return malformed(sub, nil, "proposal shorter than 8 octets") end
  sub:add(f.prop_number, buf(off + 4, 1))
  local protocol = buf(off + 5, 1):uint()
  sub:add(f.prop_protocol, buf(off + 5, 1))
  local spi_size = buf(off + 6, 1):uint()
  sub:add(f.prop_spi_size, buf(off + 6, 1))
  sub:add(f.prop_transforms, buf(off + 7, 1))
  sub:append_text(string.format(" #%d %s", buf(off + 4, 1):uint(), name_of(PROTOCOLS, protocol, "PROTO")))
  if 8 + spi_size > len then return malformed(sub, nil, "SPI runs past the proposal") end
  if spi_size > 0 then sub:add(f.prop_spi, buf(off + 8, spi_size)) end
  local names = protocol == 3 and ESP_TRANSFORMS or protocol == 2 and AH_TRANSFORMS or
    protocol == 4 and IPCOMP_TRANSFORMS or {}
  local t = off + 8 + spi_size
  local limit = off + len
  while t < limit do
    if t + 8 > limit then return malformed(sub, buf(t, limit - t), "transform header runs past the proposal") end
    local tlen = buf(t + 2, 2):uint()
    if tlen < 8 or t + tlen > limit then
      return malformed(sub, buf(t, limit - t), "transform length " .. tlen .. " does not fit")
    end
    local tid = buf(t + 5, 1):uint()
    local ts = sub:add(kink, buf(t, tlen), string.format("Transform #%d %s", buf(t + 4, 1):uint(),
      name_of(names, tid, "TRANSFORM")))
    ts:add(f.trans_next, buf(t, 1))
    ts:add(f.trans_length, buf(t + 2, 2))
    ts:add(f.trans_number, buf(t + 4, 1))
    ts:add(f.trans_id, buf(t + 5, 1)):append_text(" (" .. name_of(names, tid, "TRANSFORM") .. ")")
    local a = t + 8
    while a < t + tlen do a = dissect_attribute(buf, ts, a, t + tlen) end
    t = t + tlen
  end
end

-- The Quick Mode payload chain of a KINK_ISAKMP payload: packed, no padding (RFC 4430 §4.2.6).
local function dissect_qm_chain(buf, tree, first, off, limit)
  local ptype = first
  while ptype ~= 0 do
    if off + 4 > limit then
      return malformed(tree, nil, "Quick Mode payload " .. ptype .. " runs past KINK_ISAKMP")
    end
    local len = buf(off + 2, 2):uint()
    if len < 4 or off + len > limit then
      return malformed(tree, buf(off, limit - off), "Quick Mode payload length " .. len .. " does not fit")
    end
    local sub = tree:add(kink, buf(off, len), name_of(ISAKMP_TYPES, ptype, "PAYLOAD") .. " payload")
    sub:add(f.qm_payload, ptype):set_generated()
    sub:add(f.qm_next, buf(off, 1))
    sub:add(f.qm_length, buf(off + 2, 2))
    local b = off + 4
    local n = len - 4
    if ptype == 1 and n >= 8 then -- SA
      sub:add(f.sa_doi, buf(b, 4))
      sub:add(f.sa_situation, buf(b + 4, 4))
      local p = b + 8
      while p < off + len do
        if p + 4 > off + len then
          malformed(sub, nil, "proposal header runs past the SA")
          break
        end
        local plen = buf(p + 2, 2):uint()
        if plen < 8 or p + plen > off + len then
          malformed(sub, buf(p, off + len - p), "proposal length " .. plen .. " does not fit")
          break
        end
        dissect_proposal(buf, sub, p, plen)
        p = p + plen
      end
    elseif ptype == 4 and n > 0 then -- KE
      sub:add(f.ke_data, buf(b, n))
    elseif ptype == 5 and n >= 4 then -- ID (IPsec DOI, RFC 2407 §4.6.2)
      sub:add(f.id_type, buf(b, 1))
      sub:add(f.id_protocol, buf(b + 1, 1))
      sub:add(f.id_port, buf(b + 2, 2))
      if n > 4 then sub:add(f.id_data, buf(b + 4, n - 4)) end
    elseif ptype == 10 and n > 0 then -- NONCE
      sub:add(f.nonce, buf(b, n))
    elseif ptype == 11 and n >= 8 then -- NOTIFY
      local spi_size = buf(b + 5, 1):uint()
      sub:add(f.n_doi, buf(b, 4))
      sub:add(f.n_protocol, buf(b + 4, 1))
      sub:add(f.n_spi_size, buf(b + 5, 1))
      sub:add(f.n_type, buf(b + 6, 2))
      if 8 + spi_size > n then
        malformed(sub, nil, "SPI runs past the Notification payload")
      else
        if spi_size > 0 then sub:add(f.n_spi, buf(b + 8, spi_size)) end
        if n > 8 + spi_size then sub:add(f.n_data, buf(b + 8 + spi_size, n - 8 - spi_size)) end
      end
    elseif ptype == 12 and n >= 8 then -- DELETE
      local spi_size = buf(b + 5, 1):uint()
      local count = buf(b + 6, 2):uint()
      sub:add(f.d_doi, buf(b, 4))
      sub:add(f.d_protocol, buf(b + 4, 1))
      sub:add(f.d_spi_size, buf(b + 5, 1))
      sub:add(f.d_count, buf(b + 6, 2))
      if 8 + spi_size * count ~= n then
        malformed(sub, nil, "# of SPIs × SPI Size disagrees with the Payload Length")
      elseif spi_size > 0 then
        for i = 0, count - 1 do sub:add(f.d_spi, buf(b + 8 + i * spi_size, spi_size)) end
      end
    elseif n > 0 then
      sub:add(f.qm_data, buf(b, n))
    end
    ptype = buf(off, 1):uint()
    off = off + len
  end
end

-- A chain of KINK payloads (4-octet aligned, §4.2) in [off, limit); returns the end of the last.
local function dissect_chain(buf, pinfo, tree, first, off, limit)
  local ptype = first
  local last_end = off
  local infos = {}
  while ptype ~= 0 do
    off = align4(last_end)
    if off + 4 > limit then
      malformed(tree, nil, "payload " .. ptype .. " runs past the end")
      break
    end
    local len = buf(off + 2, 2):uint()
    if len < 4 or off + len > limit then
      malformed(tree, buf(off, limit - off), "payload length " .. len .. " does not fit")
      break
    end
    local pname = name_of(PAYLOAD_TYPES, ptype, "PAYLOAD")
    infos[#infos + 1] = pname
    local sub = tree:add(kink, buf(off, len), pname)
    sub:add(f.payload, ptype):set_generated()
    sub:add(f.payload_next, buf(off, 1))
    sub:add(f.payload_length, buf(off + 2, 2))
    local b = off + 4
    local n = len - 4
    if (ptype == 1 or ptype == 2) and n >= 4 then -- KINK_AP_REQ, KINK_AP_REP
      local epoch = buf(b, 4):uint()
      sub:add(f.epoch, buf(b, 4)):append_text(" (" .. os.date("!%Y-%m-%dT%H:%M:%SZ", epoch) .. ")")
      if n > 4 and kerberos then kerberos:call(buf(b + 4, n - 4):tvb(), pinfo, sub) end
    elseif (ptype == 3 or ptype == 5) and n > 0 then -- KINK_KRB_ERROR, KINK_TGT_REP
      if kerberos then kerberos:call(buf(b, n):tvb(), pinfo, sub) end
    elseif ptype == 4 and n > 0 then -- KINK_TGT_REQ
      sub:add(f.princ_name, buf(b, n))
    elseif ptype == 6 and n >= 4 then -- KINK_ISAKMP
      local inner = buf(b, 1):uint()
      sub:add(f.inner_next, buf(b, 1))
      sub:add(f.qm_major, buf(b + 1, 1))
      sub:add(f.qm_minor, buf(b + 1, 1))
      dissect_qm_chain(buf, sub, inner, b + 4, off + len)
    elseif ptype == 7 and n > 0 then -- KINK_ENCRYPT
      sub:add(f.ciphertext, buf(b, n))
      sub:add_proto_expert_info(e_encrypted)
    elseif ptype == 8 and n == 4 then -- KINK_ERROR
      local code = buf(b, 4):uint()
      sub:add(f.error_code, buf(b, 4))
      infos[#infos] = pname .. " " .. name_of(KINK_ERRORS, code, "ERROR")
    elseif n > 0 then
      malformed(sub, buf(b, n), pname .. ": unexpected value of " .. n .. " octets")
    end
    last_end = off + len
    ptype = buf(off, 1):uint()
  end
  return last_end, infos
end

function kink.dissector(buf, pinfo, tree)
  local total = buf:len()
  if total < 16 then return 0 end
  pinfo.cols.protocol = "KINK"
  local length = buf(2, 2):uint()
  local cksum_len = buf(14, 2):uint()
  local mtype = buf(0, 1):uint()
  local root = tree:add(kink, buf(0, math.min(length, total)))
  root:add(f.type, buf(0, 1))
  root:add(f.version, buf(1, 1))
  root:add(f.length, buf(2, 2))
  root:add(f.doi, buf(4, 4))
  root:add(f.xid, buf(8, 4))
  root:add(f.next_payload, buf(12, 1))
  root:add(f.ackreq, buf(13, 1))
  root:add(f.cksum_len, buf(14, 2))
  local info = name_of(MESSAGE_TYPES, mtype, "TYPE") .. " XID " .. buf(8, 4):uint()
  if buf(13, 1):uint() >= 0x80 then info = info .. " ACKREQ" end
  if length < 16 or length > total or cksum_len > length - 16 then
    malformed(root, nil, string.format("Length %d / CksumLen %d do not fit a datagram of %d octets",
      length, cksum_len, total))
    pinfo.cols.info = info .. " [malformed]"
    return total
  end
  local signed = length - cksum_len
  local _, infos = dissect_chain(buf, pinfo, root, buf(12, 1):uint(), 16, signed)
  if cksum_len > 0 then root:add(f.cksum, buf(signed, cksum_len)) end
  if total > length then root:add(f.trailing, buf(length, total - length)) end
  if #infos > 0 then info = info .. " " .. table.concat(infos, ", ") end
  -- (set last: the Kerberos dissector writes both columns too)
  pinfo.cols.protocol = "KINK"
  pinfo.cols.info = info
  return total
end

-- Replace the built-in (2003 draft) dissector on KINK's port.
DissectorTable.get("udp.port"):add(910, kink)
