#include "gw/audit/AuditChain.h"

#include "gw/common/Json.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

namespace gw::audit {

const char* const kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";
const char* const kKeyEvent = "audit.key";

namespace {

constexpr std::string_view kFingerprintLabel = "dicomweb-oauth audit chain key fingerprint v1";

std::string HashHex(std::string_view canonical) { return crypto::HexEncode(crypto::Sha256(canonical)); }

bool IsHex64(const rapidjson::Value& v) {
  if (!v.IsString() || v.GetStringLength() != 64) return false;
  const std::string_view s(v.GetString(), v.GetStringLength());
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string StringOf(const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

Error Bad(std::string message) { return MakeError("AUD-008", std::move(message), 422); }

void SetMember(rapidjson::Document& record, const char* name, rapidjson::Value value) {
  record.RemoveMember(name);
  record.AddMember(rapidjson::StringRef(name), value, record.GetAllocator());
}

}  // namespace

std::string KeyFingerprint(std::string_view secret) {
  return crypto::HexEncode(crypto::HmacSha256(secret, kFingerprintLabel)).substr(0, 16);
}

ChainKey MakeChainKey(std::string secret, std::string id) {
  ChainKey key;
  key.fingerprint = KeyFingerprint(secret);
  key.id = id.empty() ? "fp-" + key.fingerprint : std::move(id);
  key.secret = std::move(secret);
  return key;
}

std::string CanonicalJson(const rapidjson::Value& value) { return json::Canonical(value); }

std::string ChainMac(const ChainKey& key, std::string_view prev, std::string_view input) {
  std::string data;
  data.reserve(prev.size() + input.size());
  data.append(prev).append(input);
  return crypto::HexEncode(crypto::HmacSha256(key.secret, data));
}

std::string SealRecord(rapidjson::Document& record, ChainPosition& position) {
  auto& a = record.GetAllocator();
  for (const char* m : {"seq", "prev", "hash", "mac", "kid", "closingMac"}) record.RemoveMember(m);
  record.AddMember("seq", rapidjson::Value(static_cast<uint64_t>(position.seq + 1)), a);
  record.AddMember("prev", rapidjson::Value(position.hash.c_str(), a), a);
  const std::string hash = HashHex(CanonicalJson(record));
  record.AddMember("hash", rapidjson::Value(hash.c_str(), a), a);
  position.seq += 1;
  position.hash = hash;
  position.keyed = false;
  position.kid.clear();
  return CanonicalJson(record);
}

std::string SealKeyedRecord(rapidjson::Document& record, ChainPosition& position, const ChainKey& key,
                            const ChainKey* closing) {
  auto& a = record.GetAllocator();
  for (const char* m : {"seq", "prev", "hash", "mac", "kid", "closingMac"}) record.RemoveMember(m);
  record.AddMember("seq", rapidjson::Value(static_cast<uint64_t>(position.seq + 1)), a);
  record.AddMember("prev", rapidjson::Value(position.hash.c_str(), a), a);
  record.AddMember("kid", rapidjson::Value(key.id.c_str(), a), a);
  if (closing != nullptr) {
    const std::string closingMac = ChainMac(*closing, position.hash, CanonicalJson(record));
    SetMember(record, "closingMac", rapidjson::Value(closingMac.c_str(), a));
  }
  const std::string mac = ChainMac(key, position.hash, CanonicalJson(record));
  record.AddMember("mac", rapidjson::Value(mac.c_str(), a), a);
  position.seq += 1;
  position.hash = mac;
  position.keyed = true;
  position.kid = key.id;
  return CanonicalJson(record);
}

Result<CheckedLine> CheckLine(std::string_view line) {
  // gw::json::Parse: the project's bounded parser (depth and size), since a line is hostile input.
  auto parsed = json::Parse(line, "AUD-008");
  if (!parsed.Ok()) return Bad("not a JSON record (" + parsed.GetError().message + ")");
  CheckedLine out;
  out.doc = std::move(parsed).Value();
  rapidjson::Document& doc = out.doc;
  if (!doc.IsObject()) return Bad("not a JSON object");
  if (CanonicalJson(doc) != line) return Bad("not in canonical form (members reordered, spaces added or values reformatted)");
  auto seq = doc.FindMember("seq");
  if (seq == doc.MemberEnd() || !seq->value.IsUint64() || seq->value.GetUint64() == 0) {
    return Bad("`seq` missing or not a positive integer");
  }
  auto prev = doc.FindMember("prev");
  if (prev == doc.MemberEnd() || !IsHex64(prev->value)) return Bad("`prev` missing or not 64 hex digits");
  out.position.seq = seq->value.GetUint64();
  out.prev = StringOf(prev->value);
  auto time = doc.FindMember("time");
  if (time != doc.MemberEnd() && time->value.IsString()) out.time = StringOf(time->value);
  auto event = doc.FindMember("event");
  if (event != doc.MemberEnd() && event->value.IsString()) out.event = StringOf(event->value);

  const bool hasHash = doc.HasMember("hash");
  const bool hasMac = doc.HasMember("mac");
  if (hasHash == hasMac) return Bad("a record has exactly one of `hash` (unkeyed) and `mac` (keyed)");
  if (hasHash) {
    if (doc.HasMember("kid") || doc.HasMember("closingMac")) return Bad("an unkeyed record (`hash`) with key members");
    auto hash = doc.FindMember("hash");
    if (!IsHex64(hash->value)) return Bad("`hash` not 64 hex digits");
    out.position.hash = StringOf(hash->value);
    doc.RemoveMember("hash");
    const bool match = HashHex(CanonicalJson(doc)) == out.position.hash;
    doc.AddMember("hash", rapidjson::Value(out.position.hash.c_str(), doc.GetAllocator()), doc.GetAllocator());
    if (!match) return Bad("`hash` does not match the record's content (the line was edited)");
    return out;
  }
  auto mac = doc.FindMember("mac");
  if (!IsHex64(mac->value)) return Bad("`mac` not 64 hex digits");
  auto kid = doc.FindMember("kid");
  if (kid == doc.MemberEnd() || !kid->value.IsString() || kid->value.GetStringLength() == 0) {
    return Bad("`kid` (the key id) missing in a keyed record");
  }
  out.position.keyed = true;
  out.position.kid = StringOf(kid->value);
  out.position.hash = StringOf(mac->value);
  doc.RemoveMember("mac");
  out.macInput = CanonicalJson(doc);
  auto closing = doc.FindMember("closingMac");
  if (closing != doc.MemberEnd()) {
    if (!IsHex64(closing->value)) return Bad("`closingMac` not 64 hex digits");
    out.closingMac = StringOf(closing->value);
    doc.RemoveMember("closingMac");
    out.closingInput = CanonicalJson(doc);
  }
  return out;
}

bool MacMatches(const CheckedLine& line, const ChainKey& key) {
  return line.position.keyed &&
         crypto::ConstantTimeEquals(ChainMac(key, line.prev, line.macInput), line.position.hash);
}

bool ClosingMacMatches(const CheckedLine& line, const ChainKey& key) {
  return !line.closingMac.empty() &&
         crypto::ConstantTimeEquals(ChainMac(key, line.prev, line.closingInput), line.closingMac);
}

}  // namespace gw::audit
