#pragma once
// Proxy mode without Orthanc (docs/proxy-mode.md): admits, routes and forwards the requests of the
// route /oauth-dicom-web/servers/{name}/..., given a request description (Incoming) and where the
// answer goes (IProxyAnswer). The Orthanc glue (plugin/ProxyRoute.cpp) only reads Orthanc's request
// into an Incoming, feeds request bodies to a BodyExchange and writes answers through Orthanc.
//
// Per request: admission (Admit), then the exchange with the upstream (the Forwarder: credential,
// 401 replay), with failover to another target for a bodyless request whose target could not be
// reached, the target's health, one log line on failure (debug on success), and exactly one
// proxy.request audit record and metrics observation.
//
// Thread safety: every method may be called from any thread; a BodyExchange is used by one request.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/config/GatewayConfig.h"
#include "gw/policy/PolicyRequest.h"
#include "gw/policy/TargetHealth.h"
#include "gw/proxy/AnswerWriter.h"
#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/proxy/ICredentialSource.h"
#include "gw/proxy/IAnswerOutput.h"
#include "gw/proxy/ProxyRequest.h"
#include "gw/proxy/QueueBody.h"
#include "gw/proxy/ResponseChannel.h"
#include "gw/proxy/SpoolBody.h"

namespace gw::service {
class ServerRateLimiter;
}

namespace gw::proxy {

// Where the answer of one proxied request goes: an IAnswerOutput that can also answer a refusal
// with its Retry-After.
class IProxyAnswer : public IAnswerOutput {
 public:
  // The error document of a request refused before anything went upstream; `retryAfter` > 0 adds
  // a Retry-After header (a rate-limit refusal).
  virtual void SendRefusal(const Error& error, std::chrono::seconds retryAfter) = 0;
};

struct ProxyDependencies {
  // The upstream credential of each server; must stay valid while the service exists.
  std::shared_ptr<ICredentialSource> credentials;
  // Runs a server's routing policies (PolicyEngine::Decide). Empty while no policy engine runs: the
  // requests of a server that names policies are then refused (POL-002).
  std::function<policy::Decision(const std::vector<std::string>&, const policy::PolicyRequest&)> decide;
  // Gets the rate limiter's refusal counter (may be null).
  MetricsRegistry* metrics = nullptr;
  // The upstream exchange. Empty: a Forwarder over an UpstreamClient (tests give a fake).
  std::function<Result<long>(const ServerRoute&, const ForwardRequest&, IResponseSink&)> forward;
};

class ProxyService : public std::enable_shared_from_this<ProxyService> {
 public:
  using Clock = std::chrono::steady_clock;

  // Prepares every proxy-mode server of `config`: upstream and targets, TLS, extra headers, a
  // per-start loopback secret and the loopback definition. Fails with the first CFG-002 of
  // config::CheckProxyMode (what check-config reports too).
  static Result<std::shared_ptr<ProxyService>> Create(const config::GatewayConfig& config, ProxyDependencies deps);

  ~ProxyService();

  // PXY-002, 503: what a request gets while proxy mode is not running.
  static Error NotRunning();

  // The checks every request passes before anything goes upstream, in this order: the loopback
  // secret (403 before anything else is revealed), the server (404), a method override (400), the
  // audit trail (503 AUD-005 while the sink is not Accepting: Audit.FailClosed), the routing
  // policies, the path and query (400), the server's rate limit (PXY-015 with a Retry-After,
  // counted only for a request that would go upstream; `count` false for the failover of a request
  // already counted). Fills `a`; on a refusal by a policy a.decision names it (for the audit
  // record), by the rate limit a.retryAfter says when to retry.
  Status Admit(const Incoming& in, Admission& a, bool count = true) const;

  // A bodyless request (GET, DELETE), answered through `out` on the calling thread. Broken: a
  // multipart answer was started and cannot be completed (the caller must fail the HTTP request).
  AnswerWriter::Outcome Serve(const Incoming& in, IProxyAnswer& out) const;

  // The loopback definitions to write (PUT /dicom-web/servers/{name}), by server. Hold the loopback
  // secrets: never log them.
  const std::map<std::string, DicomWebDefinition>& Definitions() const { return definitions_; }
  // The health the service observes of a server's targets; null for a server not in proxy mode.
  std::shared_ptr<const policy::TargetHealth> TargetHealth(const std::string& server) const;
  size_t ServerCount() const { return routes_.size(); }

  // Every request ends in one proxy.request event of `sink` (null: off).
  void SetAudit(std::shared_ptr<audit::IAuditSink> sink);
  // Request metrics per server (docs/operations.md, "Metrics"); `registry` must outlive Detach().
  void SetMetrics(MetricsRegistry* registry);
  // Stops auditing and counting (shutdown: requests still running may hold the service longer).
  void Detach();

  // For BodyExchange and tests.
  Result<long> Exchange(const ServerRoute& route, const ForwardRequest& request, IResponseSink& sink) const;
  const AnswerLimits& Limits() const { return limits_; }
  // The body bytes of one request: what Orthanc's DICOMweb client sent to the route for the
  // upstream and what the route answered it.
  struct BodyBytes {
    uint64_t request = 0;
    uint64_t response = 0;
  };
  // Ends a request: metrics, then the audit record.
  void Record(const Incoming& in, const char* outcome, long status, const Error* error, Clock::time_point started,
              BodyBytes bytes, const Admission* routed) const;
  // Ends an exchange: log line, target health, metrics, audit record. `requestBytes`: the body
  // received from the client (0 for a bodyless request).
  void Done(const Incoming& in, const Admission& a, const Result<long>& outcome, const AnswerWriter& writer,
            Clock::time_point started, uint64_t requestBytes = 0) const;
  void Refused(const Incoming& in, const Admission& a, const Error& e, Clock::time_point started,
               IProxyAnswer& out) const;

 private:
  struct ServerRouting;
  struct Metrics;

  ProxyService() = default;
  Result<const UpstreamUrl*> Route(const ServerRouting& r, const Incoming& in, Admission& a) const;
  std::shared_ptr<audit::IAuditSink> AuditSink() const;
  std::shared_ptr<const Metrics> CurrentMetrics() const;

  std::map<std::string, ServerRoute> routes_;
  std::map<std::string, std::unique_ptr<ServerRouting>> routing_;
  std::map<std::string, DicomWebDefinition> definitions_;
  ProxyDependencies deps_;
  std::shared_ptr<Forwarder> forwarder_;  // when deps_.forward is empty
  AnswerLimits limits_;
  // RateLimitRequests at the upstream stage; null without a limit (docs/operations.md#rate-limits).
  std::unique_ptr<service::ServerRateLimiter> limiter_;

  mutable std::mutex mutex_;
  std::shared_ptr<audit::IAuditSink> audit_;  // under mutex_
  std::shared_ptr<const Metrics> metrics_;    // under mutex_
};

// A request with a body (POST, PUT). Orthanc hands the body over in pieces (AddChunk) before it
// calls Execute, the only moment an answer can be written. The exchange therefore starts on a
// worker thread as soon as the exchange is opened, pulls the body from a bounded queue while
// AddChunk fills it, and its answer waits in a ResponseChannel until Execute drains it into the
// answer. A credential that signs the body (SigV4) needs it whole first: it is spooled to a file
// and the exchange runs in Execute. A refused request is answered in Execute (the body is read
// and dropped meanwhile).
class BodyExchange {
 public:
  // `service` null: proxy mode is not running, the request is refused (503).
  static std::unique_ptr<BodyExchange> Open(std::shared_ptr<const ProxyService> service, Incoming in);
  // Finalized without Execute (client gone, or Orthanc failed the request): stops the exchange.
  ~BodyExchange();

  void AddChunk(std::string_view data);
  AnswerWriter::Outcome Execute(IProxyAnswer& out);
  // The operation's trace id, for the error bodies the glue writes itself.
  const std::string& TraceId() const { return in_.trace.traceId; }

 private:
  BodyExchange(std::shared_ptr<const ProxyService> service, Incoming in)
      : service_(std::move(service)), in_(std::move(in)) {}
  void Start();
  AnswerWriter::Outcome ExecuteSpooled(IProxyAnswer& out);

  std::shared_ptr<const ProxyService> service_;
  Incoming in_;
  ProxyService::Clock::time_point started_;
  std::optional<Error> refusal_;
  Admission admission_;
  BodyQueue queue_;
  std::unique_ptr<QueueBody> body_;
  std::unique_ptr<SpoolBody> spool_;  // signing providers only
  std::optional<uint64_t> declared_;
  uint64_t received_ = 0;  // body bytes taken from the client, for Done()
  std::optional<Error> spoolError_;
  std::unique_ptr<ResponseChannel> channel_;
  std::thread worker_;
};

}  // namespace gw::proxy
