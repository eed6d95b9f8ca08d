#include "gw/audit/AuditChain.h"

#include <algorithm>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Json.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

namespace gw::audit {

const char* const kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

namespace {



std::string HashHex(std::string_view canonical) { return crypto::HexEncode(crypto::Sha256(canonical)); }

bool IsHex64(const rapidjson::Value& v) {
  if (!v.IsString() || v.GetStringLength() != 64) return false;
  const std::string_view s(v.GetString(), v.GetStringLength());
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Error Bad(std::string message) { return MakeError("AUD-008", std::move(message), 422); }

}  // namespace

std::string CanonicalJson(const rapidjson::Value& value) { return json::Canonical(value); }

std::string SealRecord(rapidjson::Document& record, ChainPosition& position) {
  auto& a = record.GetAllocator();
  record.RemoveMember("seq");
  record.RemoveMember("prev");
  record.RemoveMember("hash");
  record.AddMember("seq", rapidjson::Value(static_cast<uint64_t>(position.seq + 1)), a);
  record.AddMember("prev", rapidjson::Value(position.hash.c_str(), a), a);
  const std::string hash = HashHex(CanonicalJson(record));
  record.AddMember("hash", rapidjson::Value(hash.c_str(), a), a);
  position.seq += 1;
  position.hash = hash;
  return CanonicalJson(record);
}

Result<CheckedLine> CheckLine(std::string_view line) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
  if (doc.HasParseError()) return Bad("not a JSON record (invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ")");
  if (!doc.IsObject()) return Bad("not a JSON object");
  if (CanonicalJson(doc) != line) return Bad("not in canonical form (members reordered, spaces added or values reformatted)");
  auto seq = doc.FindMember("seq");
  if (seq == doc.MemberEnd() || !seq->value.IsUint64() || seq->value.GetUint64() == 0) {
    return Bad("`seq` missing or not a positive integer");
  }
  auto prev = doc.FindMember("prev");
  if (prev == doc.MemberEnd() || !IsHex64(prev->value)) return Bad("`prev` missing or not 64 hex digits");
  auto hash = doc.FindMember("hash");
  if (hash == doc.MemberEnd() || !IsHex64(hash->value)) return Bad("`hash` missing or not 64 hex digits");
  CheckedLine out;
  out.position.seq = seq->value.GetUint64();
  out.position.hash.assign(hash->value.GetString(), hash->value.GetStringLength());
  out.prev.assign(prev->value.GetString(), prev->value.GetStringLength());
  auto time = doc.FindMember("time");
  if (time != doc.MemberEnd() && time->value.IsString()) out.time = time->value.GetString();
  doc.RemoveMember("hash");
  if (HashHex(CanonicalJson(doc)) != out.position.hash) {
    return Bad("`hash` does not match the record's content (the line was edited)");
  }
  return out;
}

}  // namespace gw::audit
