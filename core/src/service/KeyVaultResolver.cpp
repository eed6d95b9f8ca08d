#include "gw/service/KeyVaultResolver.h"

#include <cctype>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>

#include "gw/common/Json.h"
#include "gw/config/HttpUrl.h"

namespace gw::service {
namespace {

constexpr const char* kCode = "CFG-007";

// Key Vault DNS suffixes of the Azure clouds and the resource their tokens are for.
struct Cloud {
  const char* suffix;
  const char* resource;
};
constexpr Cloud kClouds[] = {
    {".vault.azure.net", "https://vault.azure.net"},
    {".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net"},
    {".vault.azure.cn", "https://vault.azure.cn"},
};

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsName(const std::string& s, bool allowDash) {
  if (s.empty() || s.size() > 127) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && !(allowDash && c == '-')) return false;
  }
  return true;
}

std::string QueryEscape(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct SecretUrl {
  std::string url;       // scheme://host[:port]/secrets/<name>[/<version>]
  std::string resource;  // what the managed identity token is for
  std::string display;   // "<host>/secrets/<name>" for messages
};

class KeyVault {
 public:
  explicit KeyVault(KeyVaultOptions options) : options_(std::move(options)) {
    if (!options_.env) {
      options_.env = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr || *v == '\0') return std::nullopt;
        return std::string(v);
      };
    }
  }

  Result<std::string> Resolve(const std::string& reference) {
    auto parsed = Parse(reference);
    if (!parsed.Ok()) return parsed.GetError();
    const SecretUrl& secret = parsed.Value();
    auto token = Token(secret.resource);
    if (!token.Ok()) {
      return MakeError(kCode, "Key Vault secret " + secret.display +
                                  ": no managed identity token for the vault: " + token.GetError().message);
    }
    http::HttpRequest request;
    request.url = secret.url + "?api-version=7.4";
    request.headers = {{"Authorization", "Bearer " + token.Value()}, {"Accept", "application/json"}};
    request.timeout = options_.timeout;
    auto response = options_.http->Perform(request);
    if (!response.Ok()) {
      return MakeError(kCode, "Key Vault secret " + secret.display + ": " + response.GetError().code + " " +
                                  response.GetError().message);
    }
    const http::HttpResponse& r = response.Value();
    auto body = json::Parse(r.body, kCode);
    if (r.status != 200) {
      std::string detail = "Key Vault answered " + std::to_string(r.status);
      if (body.Ok() && body.Value().IsObject() && body.Value().HasMember("error") &&
          body.Value()["error"].IsObject() && body.Value()["error"].HasMember("code") &&
          body.Value()["error"]["code"].IsString()) {
        detail += " (" + std::string(body.Value()["error"]["code"].GetString()).substr(0, 80) + ")";
      }
      if (r.status == 401 || r.status == 403) detail += ": the identity may not read this secret";
      if (r.status == 404) detail += ": no such secret or version";
      return MakeError(kCode, "Key Vault secret " + secret.display + ": " + detail);
    }
    if (!body.Ok() || !body.Value().IsObject() || !body.Value().HasMember("value") ||
        !body.Value()["value"].IsString() || body.Value()["value"].GetStringLength() == 0) {
      return MakeError(kCode, "Key Vault secret " + secret.display + ": the answer has no string `value`");
    }
    return std::string(body.Value()["value"].GetString(), body.Value()["value"].GetStringLength());
  }

 private:
  Result<SecretUrl> Parse(const std::string& reference) const {
    const auto url = config::ParseHttpUrl(reference);
    if (!url) return MakeError(kCode, "a keyvault: reference must be https://<vault>.vault.azure.net/secrets/<name>");
    SecretUrl out;
    std::string host = url->host;
    for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const Cloud& cloud : kClouds) {
      if (EndsWith(host, cloud.suffix)) out.resource = cloud.resource;
    }
    const bool loopback = url->IsLoopback();
    if (url->scheme == "https" && !out.resource.empty()) {
      // an Azure vault
    } else if (url->scheme == "http" && loopback && options_.env("DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK") ==
                                                        std::optional<std::string>("1")) {
      out.resource = "https://vault.azure.net";  // a local test vault stands for the public cloud
    } else {
      return MakeError(kCode, "keyvault: reference to " + host +
                                  ": only https Key Vault hosts (*.vault.azure.net, *.vault.usgovcloudapi.net, "
                                  "*.vault.azure.cn) are accepted");
    }
    // /secrets/<name>[/<version>], nothing else (no query, no dot segments).
    std::vector<std::string> parts;
    size_t i = 1;
    const std::string& path = url->path;
    if (path.empty() || path[0] != '/') return MakeError(kCode, "keyvault: reference without /secrets/<name>");
    while (i <= path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      parts.push_back(path.substr(i, j - i));
      i = j + 1;
    }
    if (!parts.empty() && parts.back().empty()) parts.pop_back();
    if (parts.size() < 2 || parts.size() > 3 || parts[0] != "secrets" || !IsName(parts[1], true) ||
        (parts.size() == 3 && !IsName(parts[2], false)) || reference.find('?') != std::string::npos ||
        reference.find('#') != std::string::npos) {
      return MakeError(kCode, "keyvault: reference to " + host +
                                  " must be <vault URL>/secrets/<name>[/<version>] (letters, digits, dashes)");
    }
    const bool defaultPort = (url->scheme == "https" && url->port == 443) || (url->scheme == "http" && url->port == 80);
    out.url = url->scheme + "://" + url->host + (defaultPort ? "" : ":" + std::to_string(url->port)) + "/secrets/" +
              parts[1] + (parts.size() == 3 ? "/" + parts[2] : "");
    out.display = host + "/secrets/" + parts[1] + (parts.size() == 3 ? "/" + parts[2] : "");
    return out;
  }

  // A managed identity token for `resource`: App Service / Container Apps, else IMDS.
  Result<std::string> Token(const std::string& resource) {
    if (auto it = tokens_.find(resource); it != tokens_.end()) return it->second;
    http::HttpRequest request;
    request.timeout = options_.timeout;
    std::string query = "resource=" + QueryEscape(resource);
    const auto clientId = options_.env("AZURE_CLIENT_ID");
    if (clientId) query += "&client_id=" + QueryEscape(*clientId);
    const auto endpoint = options_.env("IDENTITY_ENDPOINT");
    const auto header = options_.env("IDENTITY_HEADER");
    if (endpoint && header) {
      request.url = *endpoint + (endpoint->find('?') == std::string::npos ? "?" : "&") +
                    "api-version=2019-08-01&" + query;
      request.headers = {{"X-IDENTITY-HEADER", *header}, {"Accept", "application/json"}};
    } else {
      std::string host = options_.env("AZURE_POD_IDENTITY_AUTHORITY_HOST").value_or("http://169.254.169.254");
      while (!host.empty() && host.back() == '/') host.pop_back();
      request.url = host + "/metadata/identity/oauth2/token?api-version=2018-02-01&" + query;
      request.headers = {{"Metadata", "true"}, {"Accept", "application/json"}};
    }
    auto delay = options_.retryDelay;
    for (int attempt = 1;; ++attempt) {
      auto response = options_.http->Perform(request);
      if (!response.Ok()) return MakeError(kCode, response.GetError().code + " " + response.GetError().message);
      const long status = response.Value().status;
      const bool transient = status == 404 || status == 410 || status == 429 || status >= 500;
      if (transient && attempt < options_.attempts) {
        std::this_thread::sleep_for(delay);
        delay *= 2;
        continue;
      }
      if (status != 200) {
        return MakeError(kCode, "the managed identity endpoint answered " + std::to_string(status));
      }
      auto body = json::Parse(response.Value().body, kCode);
      if (!body.Ok() || !body.Value().IsObject() || !body.Value().HasMember("access_token") ||
          !body.Value()["access_token"].IsString()) {
        return MakeError(kCode, "the managed identity endpoint answered without an access_token");
      }
      std::string token = body.Value()["access_token"].GetString();
      tokens_[resource] = token;
      return token;
    }
  }

  KeyVaultOptions options_;
  std::map<std::string, std::string> tokens_;
};

}  // namespace

config::SecretResolver MakeKeyVaultResolver(KeyVaultOptions options) {
  auto vault = std::make_shared<KeyVault>(std::move(options));
  return [vault](const std::string& reference) { return vault->Resolve(reference); };
}

config::SecretResolver MakeKeyVaultResolver(std::shared_ptr<http::IHttpClient> http) {
  KeyVaultOptions options;
  options.http = std::move(http);
  return MakeKeyVaultResolver(std::move(options));
}

}  // namespace gw::service
