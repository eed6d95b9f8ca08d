#pragma once
// The start-up checks of proxy mode (docs/proxy-mode.md), in one place for the configuration pass
// (ConfigParser::Parse: the plugin's start and `dicomweb-oauth check-config` give one verdict) and
// for the proxy service itself:
//   - the upstream Url and every Targets[i].Url must be a base URL the proxy can resolve below
//     (proxy::UpstreamUrl::FromBase);
//   - HttpHeaders may not name a header the proxy owns (proxy::HeaderPolicy::IsReservedHeader:
//     hop-by-hop, Host, Content-Length, Cookie, the loopback secret header, Proxy-*);
//   - DicomWeb.ServersInDatabase true refuses proxy mode unless AllowInjectWithServersInDatabase:
//     the loopback definition, with its per-start secret, would be written to the Orthanc database.
// All CFG-002 errors; messages name keys, never values.
#include <vector>

#include "gw/config/ConfigParser.h"
#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"

namespace gw::config {

std::vector<Diagnostic> CheckProxyMode(const GatewayConfig& config);

// Adds CheckProxyMode(result.bestEffort) to `result` (leaving out a problem at a path that already
// has an error: the parser said why first) and drops result.config when one was added. Nothing
// when the section is missing.
void ApplyProxyModeChecks(ParseResult& result);

}  // namespace gw::config
