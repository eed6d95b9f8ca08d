#pragma once
// The incoming-request filter's rules (the plugin registers it with Orthanc and translates
// Orthanc's arguments into a ClientCall): which DICOMweb client calls concern which configured
// server, and whether each may go on (docs/inject-mode.md, docs/policies.md).
//
// In order, for one request:
//   1. The probe user (Health.ProbeUser) reaches the health routes and nothing else (GW-403).
//   2. The URI is classified as Orthanc routes it (proxy::ClientUri): spelling variants (trailing
//      '/', "%2F", "//", "%67et", ...) reach the same DICOMweb handler, so they meet the same checks.
//      A URI near the servers routes that Orthanc does not route unambiguously is refused (PXY-012)
//      unless it names a known server the gateway leaves alone.
//   3. PUT/DELETE of a definition the gateway writes (inject and proxy mode) is refused (PXY-013).
//   4. A client call (GET/POST {Root}servers/{name}/{operation}) on a server in inject mode or with
//      routing policies: audit must accept records when Audit.FailClosed is set (AUD-005), the
//      client-stage policies must allow it, the server's client-stage rate limit (RateLimitRequests,
//      PXY-015) must have budget, and in inject mode the token must outlive the call by what the
//      policies ask (InjectMode::EnsureFresh, TOK-xxx). Proxy-mode servers without policies only
//      meet the rate limit here (the proxy route checks the rest).
// Orthanc 1.10.1 lets a filter answer nothing but a bare 403: every refusal is logged
// (client.request, with its code and what its HTTP status would have been) and audited; the
// caller sees 403. Everything fails closed.
//
// Thread safe: Check() runs on Orthanc's HTTP threads concurrently.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gw/common/Error.h"
#include "gw/common/TraceContext.h"
#include "gw/http/HttpTypes.h"
#include "gw/policy/DecisionCounters.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::audit {
class IAuditSink;
}

namespace gw::service {

class Gateway;
class InjectMode;
class ServerRateLimiter;

// One request as the incoming filter receives it (after Orthanc's method overrides and its
// decoding of the path; GET arguments still percent-encoded).
struct ClientCall {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string uri;
  std::string ip;
  http::Headers headers;  // names in lower case, as Orthanc passes them
  std::vector<std::pair<std::string, std::string>> query;
};

struct ClientVerdict {
  bool allow = true;
  std::string server;           // the server the call names ("" when it names none)
  std::optional<Error> refusal;  // set when !allow: the code and reason that were logged
};

class ClientCallFilter {
 public:
  // `gateway` outlives the filter; `inject` (may be null: no inject-mode server) too.
  // `dicomWebRoot`: DicomWeb.Root with leading and trailing '/'.
  ClientCallFilter(Gateway& gateway, InjectMode* inject, std::string dicomWebRoot);
  ~ClientCallFilter();

  ClientVerdict Check(const ClientCall& call);

  // The servers whose DICOMweb definition the gateway writes: inject mode (the token) and proxy
  // mode (the loopback definition).
  bool OwnsDefinition(const std::string& server) const;

  // The inject-mode servers whose client calls reached the filter within `window` (job attribution:
  // DICOMweb 1.7 jobs do not record their server).
  std::vector<std::string> ServersCalledWithin(std::chrono::steady_clock::duration window) const;

  // The Orthanc user of a request, from its Basic credentials, only when AuthenticationEnabled is
  // true (Orthanc then has verified them before any filter runs; the filter is not given the user).
  // Otherwise "" so that user-based policies fail closed.
  std::string TrustedUser(const http::Headers& headers) const;

 private:
  bool HasPolicies(const std::string& server) const;
  bool Protects(const std::string& server) const;
  std::optional<policy::Decision> ClientPolicies(const ClientCall& call, const std::string& server,
                                                 const std::string& operation) const;
  std::optional<Error> OverClientLimit(const std::string& server);
  ClientVerdict Refuse(const char* what, const ClientCall& call, const std::string& server, Error refused,
                       const TraceContext& trace, const policy::Decision* decided = nullptr) const;
  void Audit(const ClientCall& call, const std::string& server, const Error* refused, const TraceContext& trace,
             const policy::Decision* decision) const;

  Gateway& gateway_;
  InjectMode* inject_;
  const std::string root_;
  std::shared_ptr<audit::IAuditSink> audit_;  // null without an audit log
  // RateLimitRequests at the client stage (docs/operations.md#rate-limits); null without a limit.
  std::unique_ptr<ServerRateLimiter> clientLimit_;
  // Policy verdict counters of each server with client-stage policies, resolved once (no registry
  // lock per request).
  std::map<std::string, std::unique_ptr<policy::DecisionCounters>, std::less<>> decisions_;

  mutable std::mutex callsMutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> lastCall_;  // inject-mode server -> last call
};

// The trace context of a DICOMweb client call: the caller's `traceparent` continued (its trace id,
// a new span id for the gateway's part), or a new trace. In inject mode the gateway sends nothing
// upstream itself (docs/inject-mode.md, "Trace context"): the trace id ties the call's log line and
// audit record together, and to the upstream when the caller also puts the same traceparent into
// the call's HttpHeaders.
TraceContext ClientTrace(const http::Headers& headers);

}  // namespace gw::service
