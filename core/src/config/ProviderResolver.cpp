#include "gw/config/ProviderResolver.h"

#include <array>

#include "gw/config/HttpUrl.h"
#include "gw/config/JsonPath.h"

namespace gw::config {
namespace {

// Microsoft Entra ID authorities: public cloud, US Government, China (21Vianet) and its partner
// alias. Azure AD B2C tenants use <tenant>.b2clogin.com.
constexpr std::array<std::string_view, 4> kEntraHosts = {
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn"};
constexpr std::array<std::string_view, 2> kGoogleTokenHosts = {"oauth2.googleapis.com",
                                                               "accounts.google.com"};

// True when `host` is a subdomain of `domain` (compared on a label boundary).
bool IsSubdomainOf(std::string_view host, std::string_view domain) {
  return host.size() > domain.size() + 1 && host.substr(host.size() - domain.size()) == domain &&
         host[host.size() - domain.size() - 1] == '.';
}

template <size_t N>
bool IsOneOf(std::string_view host, const std::array<std::string_view, N>& hosts) {
  for (std::string_view h : hosts) {
    if (host == h) return true;
  }
  return false;
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Keycloak's token endpoint: [prefix]/realms/<realm>/protocol/openid-connect/token, where the
// prefix is "/auth" before Keycloak 17 (and any reverse-proxy prefix).
bool IsKeycloakTokenPath(std::string_view path, bool* legacy) {
  const std::vector<std::string_view> s = Segments(path);
  const size_t n = s.size();
  if (n < 5) return false;
  const bool match = s[n - 5] == "realms" && s[n - 3] == "protocol" && s[n - 2] == "openid-connect" &&
                     s[n - 1] == "token";
  if (match && legacy) *legacy = n >= 6 && s[n - 6] == "auth";
  return match;
}

void SetReason(std::string* reason, std::string text) {
  if (reason) *reason = std::move(text);
}

}  // namespace

std::string DetectProviderType(std::string_view tokenEndpoint, std::string_view url, std::string* reason) {
  if (!tokenEndpoint.empty()) {
    const std::optional<HttpUrl> endpoint = ParseHttpUrl(tokenEndpoint);
    if (!endpoint) {
      SetReason(reason, "TokenEndpoint is not a valid http(s) URL, so nothing was recognised: generic");
      return "generic";
    }
    const std::string& host = endpoint->host;
    if (IsOneOf(host, kEntraHosts) || IsSubdomainOf(host, "b2clogin.com")) {
      SetReason(reason, "token endpoint host " + host + " is a Microsoft Entra ID authority");
      return "azure";
    }
    if (IsOneOf(host, kGoogleTokenHosts)) {
      SetReason(reason, "token endpoint host " + host + " is Google's OAuth2 server");
      return "google";
    }
    bool legacy = false;
    if (IsKeycloakTokenPath(endpoint->path, &legacy)) {
      SetReason(reason, std::string("token endpoint path is a Keycloak realm token endpoint") +
                            (legacy ? " (legacy /auth prefix)" : ""));
      return "keycloak";
    }
    SetReason(reason, "token endpoint host " + host +
                          " is not a recognised provider: standard OAuth2 client credentials");
    return "generic";
  }
  if (const std::optional<HttpUrl> upstream = ParseHttpUrl(url)) {
    if (IsSubdomainOf(upstream->host, "amazonaws.com")) {
      SetReason(reason, "no TokenEndpoint, and the DICOMweb host " + upstream->host +
                            " is an AWS service endpoint: SigV4 request signing");
      return "aws";
    }
    if (upstream->host == "healthcare.googleapis.com") {
      SetReason(reason, "no TokenEndpoint, and the DICOMweb host is Google Cloud Healthcare");
      return "google";
    }
  }
  SetReason(reason, "no TokenEndpoint and nothing recognised in the DICOMweb URL: generic");
  return "generic";
}

bool IsGoogleCredentialType(std::string_view type) {
  return type == "service_account" || type == "external_account";
}

ProviderResolution ResolveProvider(const ServerConfig& server) {
  if (!server.provider.empty()) {
    return {server.provider, "custom", "Provider names a custom provider script"};
  }
  std::string type = server.providerType.empty() ? "auto" : server.providerType;
  std::string reason = "ProviderType " + type;
  if (type == "auto" && IsGoogleCredentialType(server.credentialsFileType)) {
    // Only the google provider reads CredentialsFile, and its "type" says it is Google's.
    type = "google";
    reason = "ProviderType auto: CredentialsFile is a Google " + server.credentialsFileType + " file";
  } else if (type == "auto") {
    std::string why;
    type = DetectProviderType(server.tokenEndpoint, server.url, &why);
    reason = "ProviderType auto: " + why;
  }
  if (type == "generic" || type == "keycloak" || type == "auth0" || type == "okta") {
    return {"client_credentials", type, reason};
  }
  if (type == "azure" || type == "entra") return {"client_credentials", "azure", reason};
  if (type == "azuremanagedidentity" || type == "azureworkloadidentity") {
    return {"azure_managed_identity", type, reason};
  }
  if (type == "google") return {"google", type, reason};
  if (type == "aws") return {"aws_sigv4", type, reason};
  if (type == "static") return {"static_token", type, reason};
  if (type == "file") return {"token_file", type, reason};
  return {"", type, "unknown ProviderType"};
}

std::vector<Diagnostic> VerifyProviderScripts(const GatewayConfig& config,
                                              const std::map<std::string, std::string>& scripts) {
  std::vector<Diagnostic> out;
  for (const auto& [name, server] : config.servers) {
    const ProviderResolution resolved = ResolveProvider(server);
    if (resolved.script.empty()) continue;  // an invalid ProviderType, already reported
    const std::string path = JoinPath(JoinPath(JoinPath("DicomWebOAuth", "Servers"), name),
                                      server.provider.empty() ? "ProviderType" : "Provider");
    const auto it = scripts.find(resolved.script);
    if (it == scripts.end()) {
      out.push_back({Severity::Error, "CFG-002", path,
                     "server `" + name + "` needs the provider script `" + resolved.script + "` (" +
                         resolved.reason + "), which is not among the checked scripts; add " +
                         resolved.script + ".lua to one of the ScriptDirectories folders"});
    } else if (it->second != "provider") {
      out.push_back({Severity::Error, "CFG-002", path,
                     "server `" + name + "` needs the provider script `" + resolved.script +
                         "`, but that script is of kind `" + it->second + "`, not `provider`"});
    }
  }
  return out;
}

}  // namespace gw::config
