#include "gw/proxy/DefinitionMerge.h"

#include <optional>
#include <string>

#include "gw/common/JsonNumber.h"

namespace gw::proxy {

namespace {

// A value of DicomWeb.Servers.<name> carried over as a DICOMweb user property (string form).
std::optional<std::string> PropertyText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return std::string(v.GetBool() ? "1" : "0");
  // 7.0 is the integer 7 (never "7.000000"); a fraction has no exact text form Orthanc would read
  // back the same way, so it is left out rather than rounded.
  if (auto whole = json::WholeNumber(v)) return std::to_string(*whole);
  if (v.IsUint64()) return std::to_string(v.GetUint64());  // above int64
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
