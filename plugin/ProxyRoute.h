#pragma once
// Proxy mode in Orthanc: the route /oauth-dicom-web/servers/{name}/<DICOMweb path> and the loopback
// server definitions that make Orthanc's DICOMweb plugin use it (docs/proxy-mode.md). Orthanc glue
// only: what happens to a request is gw::proxy::ProxyService's (core/include/gw/proxy/ProxyService.h).
//
// Lifetime: one per plugin run, owned by the PluginRuntime (PluginRuntime.h):
//   Register()          in OrthancPluginInitialize, once, after the Gateway exists;
//   OnOrthancStarted()  from the plugin's single OnChange callback, on OrthancPluginChangeType_
//                       OrthancStarted (Orthanc's REST API accepts the definitions from then on);
//   Shutdown()          in OrthancPluginFinalize (the runtime's destructor), before the credential
//                       source is destroyed.
// The route's callbacks find this object through the runtime (PluginRuntime::Enter()).
#include <orthanc/OrthancCPlugin.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "DicomWebServers.h"
#include "gw/audit/IAuditSink.h"
#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/config/GatewayConfig.h"
#include "gw/policy/PolicyEngine.h"
#include "gw/policy/TargetHealth.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/proxy/ICredentialSource.h"

namespace gw::proxy {
class ProxyService;
}

namespace gw::plugin {

class ProxyRoute {
 public:
  // Registers the route (a chunked REST callback: GET, POST, PUT, DELETE; request bodies only
  // through the chunked reader) and prepares every proxy-mode server: upstream URL, TLS, extra
  // headers, a per-start loopback secret and the definition to write. `credentials` must stay valid
  // until Shutdown(). Fails with CFG-002 (nothing registered) for a proxy-mode server whose
  // upstream URL or HttpHeaders cannot be used, or when DicomWeb.ServersInDatabase is true without
  // AllowInjectWithServersInDatabase (the loopback secret would be stored in the database): the
  // checks of config::CheckProxyMode, which the configuration pass (and check-config) runs first.
  // `policies` runs the servers' routing policies (docs/policies.md); it must stay valid until
  // Shutdown(). Null while a server names policies: its requests are refused (POL-002).
  // With RateLimitRequests, every request the route would send upstream counts against its server's
  // budget; over it: PXY-015 with Retry-After. `metrics` (may be null) gets the refusal counter.
  static Result<std::unique_ptr<ProxyRoute>> Register(OrthancPluginContext* context, const DicomWebServers& dicomWeb,
                                                      const config::GatewayConfig& config,
                                                      std::shared_ptr<proxy::ICredentialSource> credentials,
                                                      const policy::PolicyEngine* policies = nullptr,
                                                      MetricsRegistry* metrics = nullptr);
  // Shutdown().
  ~ProxyRoute();
  ProxyRoute(const ProxyRoute&) = delete;
  ProxyRoute& operator=(const ProxyRoute&) = delete;

  // Writes the loopback definition of every proxy-mode server (PUT /dicom-web/servers/{name});
  // failures are logged with their code (PXY-008). Safe to call more than once.
  void OnOrthancStarted();

  // The loopback definition of a proxy-mode server (what OnOrthancStarted writes), or nothing. Holds
  // the loopback secret: never log it. Thread safe.
  std::optional<proxy::DicomWebDefinition> Definition(const std::string& server) const;

  // Every proxied request (forwarded, failed or refused) becomes a proxy.request audit event in
  // `sink` (method, path, query, status, outcome, error code); while `sink` is not Accepting()
  // (Audit.FailClosed and records are being lost) requests are refused with 503 AUD-005. Null: off.
  void SetAudit(std::shared_ptr<audit::IAuditSink> sink);

  // Request and policy metrics (docs/operations.md, "Metrics"). `registry` must outlive Shutdown().
  void SetMetrics(MetricsRegistry* registry);

  // The health the route observes of a proxy-mode server's targets (GET /dicomweb-oauth/servers);
  // null for any other server, or after Shutdown(). Thread safe.
  std::shared_ptr<const policy::TargetHealth> TargetHealth(const std::string& server) const;

  // Stops serving: later requests get 503 (PXY-002); releases the credential source. Idempotent.
  void Shutdown();

  // The service requests run on (null after Shutdown). Each request keeps its own reference.
  std::shared_ptr<proxy::ProxyService> Service() const;

 private:
  ProxyRoute(DicomWebServers dicomWeb, std::shared_ptr<proxy::ProxyService> service);

  const DicomWebServers dicomWeb_;
  mutable std::mutex mutex_;
  std::shared_ptr<proxy::ProxyService> service_;  // under mutex_; swapped out by Shutdown()
};

}  // namespace gw::plugin
