#include "gw/config/ProxyModeChecks.h"

#include <algorithm>
#include <string>

#include "gw/config/JsonPath.h"
#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/UpstreamUrl.h"

namespace gw::config {

std::vector<Diagnostic> CheckProxyMode(const GatewayConfig& config) {
  std::vector<Diagnostic> found;
  const auto error = [&found](const std::string& path, const std::string& message) {
    found.push_back(Diagnostic{Severity::Error, "CFG-002", path, message});
  };
  for (const auto& [name, server] : config.servers) {
    if (server.mode != ServerMode::Proxy) continue;
    const std::string p = JoinPath("DicomWebOAuth.Servers", name);
    // The Url is the primary target (Targets without Url: the first one's); an empty one was
    // reported by the parser. A target with the same URL gets the same verdict, reported once.
    if (!server.url.empty()) {
      if (auto upstream = proxy::UpstreamUrl::FromBase(server.url); !upstream) {
        error(JoinPath(p, "Url"), upstream.GetError().message);
      }
    }
    for (size_t i = 0; i < server.targets.size(); ++i) {
      if (server.targets[i].url.empty() || server.targets[i].url == server.url) continue;
      if (auto base = proxy::UpstreamUrl::FromBase(server.targets[i].url); !base) {
        error(JoinPath(JoinIndex(JoinPath(p, "Targets"), i), "Url"), base.GetError().message);
      }
    }
    for (const auto& [header, value] : server.httpHeaders) {
      if (proxy::HeaderPolicy::IsReservedHeader(header)) {
        error(JoinPath(JoinPath(p, "HttpHeaders"), header), "cannot be set in proxy mode (the proxy owns it)");
      }
    }
    if (config.orthanc.dicomWebServersInDatabase && !config.global.allowInjectWithServersInDatabase) {
      error(JoinPath(p, "Mode"),
            std::string("proxy mode") + (server.modeExplicit ? "" : " (the default for this provider)") +
                " would store the server's loopback definition, with its per-start secret, in the Orthanc "
                "database, because DicomWeb.ServersInDatabase is true; set DicomWeb.ServersInDatabase to false, "
                "or set DicomWebOAuth.AllowInjectWithServersInDatabase to true to accept that");
    }
  }
  return found;
}

void ApplyProxyModeChecks(ParseResult& result) {
  if (result.section != SectionStatus::Present) return;
  bool added = false;
  for (Diagnostic& d : CheckProxyMode(result.bestEffort)) {
    const bool reported = std::any_of(result.diagnostics.begin(), result.diagnostics.end(), [&](const Diagnostic& e) {
      return e.severity == Severity::Error && e.path == d.path;
    });
    if (reported) continue;
    result.diagnostics.push_back(std::move(d));
    added = true;
  }
  if (added) result.config.reset();
}

}  // namespace gw::config
