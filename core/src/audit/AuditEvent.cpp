#include "gw/audit/AuditEvent.h"

#include <ctime>

namespace gw::audit {
namespace {

rapidjson::Value Str(std::string_view s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void Put(rapidjson::Document& doc, std::string_view key, rapidjson::Value value) {
  auto& a = doc.GetAllocator();
  auto it = doc.FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
  if (it != doc.MemberEnd()) {
    it->value = std::move(value);
  } else {
    doc.AddMember(Str(key, a), value, a);
  }
}

}  // namespace

AuditEvent::AuditEvent(std::string type_, std::string server_)
    : type(std::move(type_)), time(std::chrono::system_clock::now()), server(std::move(server_)) {
  fields.SetObject();
}

AuditEvent& AuditEvent::Set(std::string_view key, std::string_view value) {
  Put(fields, key, Str(value, fields.GetAllocator()));
  return *this;
}

AuditEvent& AuditEvent::Set(std::string_view key, int64_t value) {
  Put(fields, key, rapidjson::Value(value));
  return *this;
}

AuditEvent& AuditEvent::Set(std::string_view key, bool value) {
  Put(fields, key, rapidjson::Value(value));
  return *this;
}

AuditEvent& AuditEvent::Set(std::string_view key, const std::vector<std::string>& values) {
  rapidjson::Value array(rapidjson::kArrayType);
  for (const auto& v : values) array.PushBack(Str(v, fields.GetAllocator()), fields.GetAllocator());
  Put(fields, key, std::move(array));
  return *this;
}

AuditEvent& AuditEvent::SetJson(std::string_view key, const rapidjson::Value& value) {
  Put(fields, key, rapidjson::Value(value, fields.GetAllocator()));
  return *this;
}

AuditEvent& AuditEvent::SetQuery(std::string_view key,
                                 const std::vector<std::pair<std::string, std::string>>& query) {
  auto& a = fields.GetAllocator();
  rapidjson::Value array(rapidjson::kArrayType);
  for (const auto& [name, value] : query) {
    rapidjson::Value item(rapidjson::kObjectType);
    item.AddMember("name", Str(name, a), a);
    item.AddMember("value", Str(value, a), a);
    array.PushBack(item, a);
  }
  Put(fields, key, std::move(array));
  return *this;
}

std::string IsoTimeMs(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", millis);
  return buf;
}

}  // namespace gw::audit
