-- Audit rule shipped with the gateway (docs/audit.md): keeps every field of every event, except
-- values that identify a patient. Those are replaced by a keyed pseudonym,
--   "hmac-sha256:" .. HMAC-SHA256(Audit.HashKey, value) in hex,
-- so two records about the same patient carry the same pseudonym (an investigator can correlate
-- them, and with the key, check a known ID against them) while the file never shows the ID.
-- Without a HashKey the value is replaced by "[redacted]" (an unkeyed hash of a patient ID could
-- be reversed by trying every ID).
--
-- Where PHI can appear in an event: query strings of DICOMweb requests (QIDO: PatientName=DOE^J,
-- 00100020=12345), as fields.query = { {name=, value=}, ... }. Request and response bodies are
-- never part of an event. A field of `fields` itself named like a patient attribute is treated the
-- same way.

local hmac_hex = gw.crypto.hmac_sha256_hex
local lower = string.lower
local match = string.match
local gsub = string.gsub
local char = string.char
local tonumber = tonumber
local type = type
local ipairs = ipairs
local pairs = pairs

local M = {
  name = "phi_redaction",
  version = "1.0.0",
  kind = "audit",
}

-- DICOM attributes that identify a patient, as QIDO-RS accepts them: keyword or tag (8 hex
-- digits), compared in lower case.
local PHI = {}
for _, k in ipairs({
  "PatientName", "00100010",
  "PatientID", "00100020",
  "PatientBirthDate", "00100030",
  "OtherPatientIDs", "00101000",
  "OtherPatientNames", "00101001",
  "PatientBirthName", "00101005",
  "PatientMotherBirthName", "00101060",
  "PatientAddress", "00101040",
  "PatientTelephoneNumbers", "00102154",
  "AccessionNumber", "00080050",
  "MedicalRecordLocator", "00380010",
}) do
  PHI[lower(k)] = true
end

-- True for "PatientID", "00100020", and nested forms such as "OtherPatientIDsSequence.PatientID".
local function is_phi(name)
  if type(name) ~= "string" then return false end
  local last = match(name, "([^.]+)$") or name
  return PHI[lower(last)] == true
end

-- Query values arrive as the route received them. Orthanc's DICOMweb client (1.7) percent-encodes
-- some characters twice (PatientName=DOE%5EJOHN reaches the route for DOE^JOHN), so %XX sequences
-- are decoded once before hashing: the same name then gets the same pseudonym however it came.
local function percent_decode(value)
  return (gsub(value, "%%(%x%x)", function(hex) return char(tonumber(hex, 16)) end))
end

local function pseudonym(value, key)
  if type(value) ~= "string" then value = tostring(value) end
  value = percent_decode(value)
  if type(key) == "string" and key ~= "" then
    return "hmac-sha256:" .. hmac_hex(key, value)
  end
  return "[redacted]"
end

function M.record(event)
  local fields = event.fields
  if type(fields) ~= "table" then return {} end
  local query = fields.query
  if type(query) == "table" then
    for _, item in ipairs(query) do
      if type(item) == "table" and is_phi(item.name) and item.value ~= nil then
        item.value = pseudonym(item.value, event.hash_key)
      end
    end
  end
  for name, value in pairs(fields) do
    if is_phi(name) then fields[name] = pseudonym(value, event.hash_key) end
  end
  return fields
end

function M.self_test()
  local out = M.record({
    type = "proxy.request",
    hash_key = "self-test-key-0123456789",
    fields = { query = { { name = "PatientID", value = "12345" }, { name = "limit", value = "10" } } },
  })
  local q = out.query
  return q[1].value ~= "12345"
    and q[1].value == "hmac-sha256:" .. hmac_hex("self-test-key-0123456789", "12345")
    and q[2].value == "10"
    and M.record({ hash_key = "k0123456789abcdef", fields = { PatientName = "DOE%5EJ" } }).PatientName
        == M.record({ hash_key = "k0123456789abcdef", fields = { PatientName = "DOE^J" } }).PatientName
    and M.record({ fields = { query = { { name = "00100010", value = "DOE^J" } } } }).query[1].value == "[redacted]"
end

return M
