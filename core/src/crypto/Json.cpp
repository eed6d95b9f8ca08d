#include "Json.h"

#include <set>

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Json.h"
#include "gw/crypto/Errors.h"

namespace gw::crypto::detail {

Result<rapidjson::Document> ParseObject(std::string_view text, const char* what) {
  json::ParseFailure failure;
  auto parsed = json::Parse(text, errc::kBadEncoding, json::ParseOptions{}, &failure);  // bounded, UTF-8 checked
  if (!parsed.Ok()) {
    return MakeError(errc::kBadEncoding, std::string(what) + " is not valid JSON: " + failure.reason + " at offset " +
                                             std::to_string(failure.offset), 400);
  }
  rapidjson::Document doc = std::move(parsed).Value();
  if (!doc.IsObject()) return MakeError(errc::kBadEncoding, std::string(what) + " is not a JSON object", 400);
  std::set<std::string_view> names;
  for (const auto& m : doc.GetObject()) {
    if (!names.emplace(m.name.GetString(), m.name.GetStringLength()).second) {
      return MakeError(errc::kBadEncoding, std::string(what) + " has a duplicate member '" +
                                               Printable({m.name.GetString(), m.name.GetStringLength()}) + "'", 400);
    }
  }
  return Result<rapidjson::Document>(std::move(doc));  // Document is move-only
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string Printable(std::string_view text, size_t maxLength) {
  std::string out;
  for (char c : text.substr(0, maxLength)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (text.size() > maxLength) out += "...";
  return out;
}

}  // namespace gw::crypto::detail
