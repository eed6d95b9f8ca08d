#include "gw/proxy/DefinitionMerge.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace gw::proxy {

namespace {

constexpr double kExactIntegers = 9007199254740992.0;  // 2^53: every integer up to it is a double

// A value of DicomWeb.Servers.<name> carried over as a DICOMweb user property (string form).
std::optional<std::string> PropertyText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return std::string(v.GetBool() ? "1" : "0");
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  // 7.0 is the integer 7 (never "7.000000"); a fraction has no exact text form Orthanc would read
  // back the same way, so it is left out rather than rounded.
  if (v.IsDouble()) {
    const double x = v.GetDouble();
    if (std::isfinite(x) && x == std::trunc(x) && std::fabs(x) <= kExactIntegers) {
      return std::to_string(static_cast<int64_t>(x));
    }
  }
  return std::nullopt;
}

std::optional<bool> PropertyBool(const rapidjson::Value& object, const char* key) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd()) return std::nullopt;
  if (it->value.IsBool()) return it->value.GetBool();
  if (it->value.IsString()) {
    const std::string s(it->value.GetString(), it->value.GetStringLength());
    if (s == "1" || s == "true") return true;
    if (s == "0" || s == "false") return false;
  }
  return std::nullopt;
}

}  // namespace

void MergeExistingDefinition(DicomWebDefinition& d, const rapidjson::Value& existing) {
  if (!existing.IsObject()) return;
  if (!d.hasDelete) d.hasDelete = PropertyBool(existing, "HasDelete");
  if (!d.chunkedTransfers) d.chunkedTransfers = PropertyBool(existing, "ChunkedTransfers");
  if (!d.timeoutSeconds) {
    auto t = existing.FindMember("Timeout");
    if (t != existing.MemberEnd() && t->value.IsInt() && t->value.GetInt() > 0) d.timeoutSeconds = t->value.GetInt();
  }
  for (auto m = existing.MemberBegin(); m != existing.MemberEnd(); ++m) {
    const std::string key(m->name.GetString(), m->name.GetStringLength());
    if (DicomWebDefinition::IsOwnedKey(key)) continue;
    if (auto text = PropertyText(m->value)) d.userProperties[key] = *text;
  }
}

}  // namespace gw::proxy
