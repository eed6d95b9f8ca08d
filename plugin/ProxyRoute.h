#pragma once
// Proxy mode in Orthanc: the route /oauth-dicom-web/servers/{name}/<DICOMweb path> and the loopback
// server definitions that make Orthanc's DICOMweb plugin use it (docs/proxy-mode.md). Orthanc glue
// only: what happens to a request is gw::proxy::ProxyService's (core/include/gw/proxy/ProxyService.h).
//
// Lifetime, called by the plugin's entry points:
//   RegisterProxy()     in OrthancPluginInitialize, once, after the Gateway exists;
//   OnOrthancStarted()  from the plugin's single OnChange callback, on OrthancPluginChangeType_
//                       OrthancStarted (Orthanc's REST API accepts the definitions from then on);
//   ShutdownProxy()     in OrthancPluginFinalize, before the credential source is destroyed.
#include <memory>
#include <optional>
#include <string>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/config/GatewayConfig.h"
#include "gw/policy/PolicyEngine.h"
#include "gw/policy/TargetHealth.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/proxy/ICredentialSource.h"

namespace gw::plugin {

// Registers the route (a chunked REST callback: GET, POST, PUT, DELETE; request bodies only
// through the chunked reader) and prepares every proxy-mode server: upstream URL, TLS, extra
// headers, a per-start loopback secret and the definition to write. `credentials` must stay valid
// until ShutdownProxy(). Fails with CFG-002 (nothing registered) for a proxy-mode server whose
// upstream URL or HttpHeaders cannot be used, or when DicomWeb.ServersInDatabase is true without
// AllowInjectWithServersInDatabase (the loopback secret would be stored in the database): the
// checks of config::CheckProxyMode, which the configuration pass (and check-config) runs first.
// `policies` runs the servers' routing policies (docs/policies.md); it must stay valid until
// ShutdownProxy(). Null while a server names policies: its requests are refused (POL-002).
// With RateLimitRequests, every request the route would send upstream counts against its server's
// budget; over it: PXY-015 with Retry-After. `metrics` (may be null) gets the refusal counter.
Status RegisterProxy(const config::GatewayConfig& config, std::shared_ptr<proxy::ICredentialSource> credentials,
                     const policy::PolicyEngine* policies = nullptr, MetricsRegistry* metrics = nullptr);

// Writes the loopback definition of every proxy-mode server (PUT /dicom-web/servers/{name});
// failures are logged with their code (PXY-008). Safe to call more than once.
void OnOrthancStarted();

// The loopback definition of a proxy-mode server (what OnOrthancStarted writes), or nothing. Holds
// the loopback secret: never log it.
std::optional<proxy::DicomWebDefinition> ProxyDefinition(const std::string& server);

// Every proxied request (forwarded, failed or refused) becomes a proxy.request audit event in
// `sink` (method, path, query, status, outcome, error code); while `sink` is not Accepting()
// (Audit.FailClosed and records are being lost) requests are refused with 503 AUD-005. Null: off.
void SetProxyAudit(std::shared_ptr<audit::IAuditSink> sink);

// Request and policy metrics (docs/operations.md, "Metrics"); call after RegisterProxy. `registry` must
// outlive proxy mode (ShutdownProxy).
void SetProxyMetrics(MetricsRegistry* registry);

// The health the route observes of a proxy-mode server's targets (GET /dicomweb-oauth/servers);
// null for any other server, or before RegisterProxy / after ShutdownProxy.
std::shared_ptr<const policy::TargetHealth> ProxyTargetHealth(const std::string& server);

// Stops serving: later requests get 503 (PXY-002); releases the credential source. Idempotent.
void ShutdownProxy();

}  // namespace gw::plugin
