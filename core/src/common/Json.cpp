#include "gw/common/Json.h"

#include <rapidjson/error/en.h>

namespace gw::json {

std::string Stringify(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<rapidjson::Document> Parse(std::string_view text, const char* code, bool allowComments) {
  rapidjson::Document doc;
  if (allowComments) {
    doc.Parse<rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag>(text.data(),
                                                                                    text.size());
  } else {
    doc.Parse(text.data(), text.size());
  }
  if (doc.HasParseError()) {
    return MakeError(code, std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                               ": " + rapidjson::GetParseError_En(doc.GetParseError()),
                     400);
  }
  return doc;
}

}  // namespace gw::json
