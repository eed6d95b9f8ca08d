#include "gw/proxy/DicomWebDefinition.h"

#include <array>
#include <set>

#include "gw/common/Json.h"

namespace gw::proxy {

namespace {
constexpr std::array<const char*, 13> kOwned = {
    "Url",  "URL",  "Username", "Password", "HttpHeaders", "HasDelete", "ChunkedTransfers",
    "Timeout", "CertificateFile", "CertificateKeyFile", "CertificateKeyPassword", "Pkcs11",
    "UserProperties"};
constexpr std::string_view kRoutePrefix = "/oauth-dicom-web/servers/";
}  // namespace

bool DicomWebDefinition::IsOwnedKey(std::string_view key) {
  for (const char* owned : kOwned) {
    if (key == owned) return true;
  }
  return false;
}

std::string DicomWebDefinition::ToJson() const {
  json::Writer w;
  w.StartObject();
  w.Key("Url");
  w.String(url);
  if (!username.empty() || !password.empty()) {
    w.Key("Username");
    w.String(username);
    w.Key("Password");
    w.String(password);
  }
  w.Key("HttpHeaders");
  w.StartObject();
  for (const auto& [name, value] : httpHeaders) {
    w.Key(name);
    w.String(value);
  }
  w.EndObject();
  if (hasDelete) {
    w.Key("HasDelete");
    w.String(*hasDelete ? "1" : "0");
  }
  if (chunkedTransfers) {
    w.Key("ChunkedTransfers");
    w.String(*chunkedTransfers ? "1" : "0");
  }
  if (timeoutSeconds) {
    w.Key("Timeout");
    w.Int(*timeoutSeconds);
  }
  if (!certificateFile.empty()) {
    w.Key("CertificateFile");
    w.String(certificateFile);
    w.Key("CertificateKeyFile");
    w.String(certificateKeyFile);
    w.Key("CertificateKeyPassword");
    w.String(certificateKeyPassword);
  }
  for (const auto& [key, value] : userProperties) {
    if (IsOwnedKey(key)) continue;
    w.Key(key);
    w.String(value);
  }
  w.EndObject();
  return w.Take();
}

std::optional<std::string> DicomWebDefinition::DriftFrom(const rapidjson::Value* shown) const {
  if (shown == nullptr || !shown->IsObject()) return std::string("the definition is gone");
  auto text = [&](const char* key) -> std::optional<std::string> {
    const auto it = shown->FindMember(key);
    if (it == shown->MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  // Orthanc's WebServiceParameters::SetUrl appends a '/' to a Url without one.
  const std::string stored = !url.empty() && url.back() != '/' ? url + "/" : url;
  if (const auto shownUrl = text("Url"); shownUrl != stored && shownUrl != url) return std::string("Url differs");
  if (text("Username").value_or("") != username) return std::string("Username differs");
  std::set<std::string> names;
  if (const auto it = shown->FindMember("HttpHeaders"); it != shown->MemberEnd() && it->value.IsArray()) {
    for (const auto& n : it->value.GetArray()) {
      if (n.IsString()) names.emplace(n.GetString(), n.GetStringLength());
    }
  }
  std::set<std::string> expected;
  for (const auto& [name, value] : httpHeaders) expected.insert(name);
  if (names != expected) return std::string("HttpHeaders differ");
  const std::optional<std::string> del = text("HasDelete");
  if (hasDelete ? del != std::string(*hasDelete ? "1" : "0") : del.has_value() && del != "0") {
    return std::string("HasDelete differs");
  }
  return std::nullopt;
}

std::string LoopbackUrl(int httpPort, std::string_view name) {
  return "http://127.0.0.1:" + std::to_string(httpPort) + std::string(kRoutePrefix) + std::string(name) + "/";
}

bool IsLoopbackRouteUrl(std::string_view url, std::string_view name) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  const size_t path = url.find('/', scheme + 3);
  if (path == std::string_view::npos) return false;
  std::string_view p = url.substr(path);
  if (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p.size() == kRoutePrefix.size() + name.size() && p.substr(0, kRoutePrefix.size()) == kRoutePrefix &&
         p.substr(kRoutePrefix.size()) == name;
}

}  // namespace gw::proxy
