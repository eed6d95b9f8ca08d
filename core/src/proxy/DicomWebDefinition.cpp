#include "gw/proxy/DicomWebDefinition.h"

#include <array>

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
