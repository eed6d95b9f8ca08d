#include "gw/proxy/ProxyService.h"

#include <strings.h>

#include <algorithm>
#include <utility>

#include "gw/common/ErrorCatalog.h"
#include "gw/common/Log.h"
#include "gw/config/ProxyModeChecks.h"
#include "gw/crypto/Encoding.h"
#include "gw/policy/DecisionCounters.h"
#include "gw/policy/PolicyErrors.h"
#include "gw/proxy/DecisionAudit.h"
#include "gw/proxy/DefinitionMerge.h"
#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/RequestAudit.h"
#include "gw/proxy/UpstreamClient.h"
#include "gw/service/RateGate.h"

namespace gw::proxy {

namespace {

using Clock = ProxyService::Clock;

constexpr std::chrono::seconds kDefaultIdleTimeout{120};

// A server that is not configured (a PXY-002 refusal) is counted under this name: a metric label
// never takes a caller's text.
constexpr const char* kUnknownServer = "_unknown";

int64_t MillisecondsSince(Clock::time_point started) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
}

bool SameName(const std::string& a, const std::string& b) { return strcasecmp(a.c_str(), b.c_str()) == 0; }

void RemoveHeader(http::Headers& headers, const std::string& name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return SameName(h.first, name); }),
                headers.end());
}

// A policy's header edits, after the allowlist filter (so a policy can add headers the filter
// would not forward). Never one the gateway owns: DecisionParser refuses those already, and they
// are skipped here as well, so no decision can reach the loopback secret, Host or the framing.
// The credential and the server's HttpHeaders are added later, by the Forwarder.
void ApplyHeaderEdits(const policy::Decision& d, http::Headers& headers) {
  for (const auto& name : d.removeHeaders) RemoveHeader(headers, name);
  for (const auto& [name, value] : d.setHeaders) {
    if (HeaderPolicy::IsReservedHeader(name) || !HeaderPolicy::IsSafeValue(value)) continue;
    RemoveHeader(headers, name);
    headers.emplace_back(name, value);
  }
}

// The trace context goes upstream as the gateway's own: the caller's traceparent (or a policy's) is
// replaced by the continued one, and a tracestate only travels with the trace it belongs to (the
// specification: a tracestate without a valid traceparent is discarded).
void SetTraceHeaders(const Incoming& in, http::Headers& headers) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) {
                                 return strcasecmp(h.first.c_str(), "traceparent") == 0 ||
                                        (!in.traceContinued && strcasecmp(h.first.c_str(), "tracestate") == 0);
                               }),
                headers.end());
  headers.emplace_back("traceparent", in.trace.Header());
}

// What an exchange says about its target's health: transport failures and 5xx mark it down for
// the server's FailoverCooldownSeconds, any other answer marks it up. Body errors say nothing.
void ReportHealth(const Admission& a, const Result<long>& outcome) {
  if (!a.health || a.route == nullptr) return;
  const bool transport = !outcome.Ok() && IsUpstreamTransportFailure(outcome.GetError());
  if (!outcome.Ok() && !transport) return;
  if (policy::TargetHealth::IsUpstreamFailure(transport, outcome.Ok() ? outcome.Value() : 0)) {
    if (a.health->Healthy(a.target)) {
      LogWarning("proxy: server '" + a.route->name + "': target #" + std::to_string(a.target + 1) +
                 " marked unhealthy (" + (transport ? outcome.GetError().code : "HTTP " + std::to_string(outcome.Value())) +
                 ")");
    }
    a.health->ReportFailure(a.target);
  } else {
    a.health->ReportSuccess(a.target);
  }
}

// A proxy.request log event with the operation's correlation fields. Never the path, the query or
// a header value: they may name a patient or carry a credential.
LogEvent ProxyEvent(const Incoming& in, LogLevel level, const char* outcome) {
  LogEvent e;
  e.level = level;
  e.event = "proxy.request";
  e.server = in.server;
  e.requestId = in.trace.parentId;
  e.traceId = in.trace.traceId;
  e.outcome = outcome;
  return e;
}

void LogRefusal(const Incoming& in, const Error& e) {
  LogEvent line = ProxyEvent(in, LogLevel::Warning, "denied");
  line.code = e.code;
  line.status = e.httpStatus;
  line.message = "proxy: " + in.method + " for server '" + in.server + "' refused: " + e.ToString();
  Log(line);
}

void LogDone(const Incoming& in, const Result<long>& outcome, const AnswerWriter& writer, Clock::time_point started) {
  const auto ms = MillisecondsSince(started);
  if (outcome.Ok() && !writer.Failure()) {
    if (!LogEnabled(LogLevel::Debug)) return;
    LogEvent line = ProxyEvent(in, LogLevel::Debug, "forwarded");
    line.durationMs = ms;
    line.status = outcome.Value();
    line.message = "proxy: " + in.method + " server '" + in.server + "' -> " + std::to_string(outcome.Value()) + " (" +
                   std::to_string(writer.BodyBytes()) + " bytes, " + std::to_string(writer.PartsSent()) + " parts, " +
                   std::to_string(ms) + " ms)";
    Log(line);
    return;
  }
  const Error& e = writer.Failure() ? *writer.Failure() : outcome.GetError();
  LogEvent line = ProxyEvent(in, LogLevel::Warning, "failed");
  line.code = e.code;
  line.durationMs = ms;
  line.status = e.httpStatus;
  line.message =
      "proxy: " + in.method + " server '" + in.server + "' failed after " + std::to_string(ms) + " ms: " + e.ToString();
  Log(line);
}

}  // namespace

// Routing of one proxy-mode server (docs/policies.md): its policies, its upstream targets (the
// first is the primary, ServerRoute::upstream) and their observed health.
struct ProxyService::ServerRouting {
  std::vector<std::string> policies;
  std::vector<std::pair<std::string, UpstreamUrl>> targets;  // name, base URL
  std::shared_ptr<policy::TargetHealth> health;
  std::shared_ptr<const rapidjson::Document> config;  // PolicyConfig, may be null
  // The Authorization header the loopback definition makes the DICOMweb plugin send ("Basic ...",
  // empty without Username): anything else on a request is a caller's override (HttpHeaders).
  std::string expectedAuthorization;
};

// Request metrics per configured server, resolved once (SetMetrics) so the request path only
// increments.
struct ProxyService::Metrics {
  struct Server {
    Counter* byClass[6] = {};  // 1xx..5xx, then "other"
    Histogram* duration = nullptr;
    Counter* requestBytes = nullptr;   // body bytes from Orthanc's DICOMweb client, sent upstream
    Counter* responseBytes = nullptr;  // body bytes answered to it
    std::unique_ptr<policy::DecisionCounters> decisions;  // servers with routing policies
  };
  MetricsRegistry* registry = nullptr;
  std::map<std::string, Server, std::less<>> servers;
};

namespace {

// The loopback definition of a proxy-mode server: the route's URL, the secret header, the server's
// own settings, then what DicomWeb.Servers.<name> adds (MergeExistingDefinition).
DicomWebDefinition LoopbackDefinition(const config::GatewayConfig& config, const config::ServerConfig& server,
                                      const LoopbackSecret& secret) {
  DicomWebDefinition d;
  d.url = LoopbackUrl(config.orthanc.httpPort, server.name);
  d.httpHeaders[kLoopbackSecretHeader] = secret.Value();
  d.hasDelete = server.hasDelete;
  d.chunkedTransfers = server.chunkedTransfers;
  d.timeoutSeconds = server.timeoutSeconds;
  // Username/Password are what the DICOMweb plugin sends to this route, i.e. an Orthanc user when
  // AuthenticationEnabled is true. They never reach the upstream (the route drops Authorization).
  d.username = server.username;
  d.password = server.password;

  auto existing = config.orthanc.dicomWebServers.find(server.name);
  if (existing != config.orthanc.dicomWebServers.end()) {
    const auto& def = existing->second;
    const bool pointsHere = IsLoopbackRouteUrl(def.url, server.name);
    if (pointsHere && d.username.empty() && d.password.empty()) {
      // A Python-plugin configuration: DicomWeb.Servers.<name> already targets the route, with
      // the Orthanc credentials it needs. Keep them.
      d.username = def.username;
      d.password = def.password;
    }
    if (def.raw) MergeExistingDefinition(d, *def.raw);
    if (!pointsHere) {
      LogInfo("proxy: DicomWeb.Servers." + server.name +
              " is replaced by the gateway's loopback definition (the upstream URL stays in DicomWebOAuth)");
    }
  }
  // Streaming needs chunked transfers: without them Orthanc delivers the body in one piece.
  if (!d.chunkedTransfers) d.chunkedTransfers = true;
  if (!*d.chunkedTransfers) {
    LogWarning("proxy: server " + server.name + " has ChunkedTransfers false: every STOW body is then held whole "
               "by Orthanc before the gateway sees it");
  }
  return d;
}

}  // namespace

ProxyService::~ProxyService() = default;

Error ProxyService::NotRunning() { return MakeError("PXY-002", "proxy mode is not running", 503); }

Result<std::shared_ptr<ProxyService>> ProxyService::Create(const config::GatewayConfig& config,
                                                           ProxyDependencies deps) {
  for (const config::Diagnostic& d : config::CheckProxyMode(config)) {
    if (d.severity == config::Severity::Error) return MakeError(d.code, d.path + ": " + d.message, 500);
  }
  std::shared_ptr<ProxyService> service(new ProxyService());
  service->limiter_ =
      gw::service::ServerRateLimiter::Create(config, gw::service::ServerRateLimiter::Stage::Upstream, deps.metrics);
  for (const auto& [name, server] : config.servers) {
    if (server.mode != config::ServerMode::Proxy) continue;
    const std::string& serverName = name;  // a structured binding cannot be captured in C++17
    const auto configError = [&serverName](const char* key, const std::string& why) {
      return MakeError("CFG-002", "DicomWebOAuth.Servers." + serverName + "." + key + ": " + why, 500);
    };
    auto upstream = UpstreamUrl::FromBase(server.url);
    if (!upstream) return configError("Url", upstream.GetError().message);
    http::Headers extra(server.httpHeaders.begin(), server.httpHeaders.end());
    auto secret = LoopbackSecret::Generate();
    if (!secret) return secret.GetError();

    http::TlsOptions tls;
    tls.verifyPeer = server.verifySsl;
    tls.caBundle = server.caBundle;
    tls.clientCertificate = server.certificateFile;
    tls.clientKey = server.certificateKeyFile;
    tls.clientKeyPassword = server.certificateKeyPassword;

    std::chrono::milliseconds idle = kDefaultIdleTimeout;
    if (server.timeoutSeconds && *server.timeoutSeconds > 0) idle = std::chrono::seconds(*server.timeoutSeconds);

    const DicomWebDefinition& definition =
        service->definitions_.emplace(name, LoopbackDefinition(config, server, secret.Value())).first->second;
    auto routing = std::make_unique<ServerRouting>();
    routing->policies = server.policies;
    routing->config = server.policyConfig;
    for (const auto& target : server.targets) {
      auto base = UpstreamUrl::FromBase(target.url);
      if (!base) return configError("Targets", target.name + ": " + base.GetError().message);
      routing->targets.emplace_back(target.name, std::move(base).Value());
    }
    if (routing->targets.empty()) routing->targets.emplace_back("primary", upstream.Value());
    routing->health = std::make_shared<policy::TargetHealth>(routing->targets.size(),
                                                             std::chrono::seconds(server.failoverCooldownSeconds));
    if (!definition.username.empty() || !definition.password.empty()) {
      routing->expectedAuthorization =
          "Basic " + crypto::Base64Encode(definition.username + ":" + definition.password);
    }
    service->routing_.emplace(name, std::move(routing));
    ServerRoute route{name, std::move(upstream).Value(), std::move(secret).Value(), tls,
                      std::move(extra), std::chrono::milliseconds(10000), idle, false, {}};
    // A credential that signs the body (SigV4) needs its hash first: bodies are spooled.
    route.spoolBody = deps.credentials && deps.credentials->NeedsPayloadHash(name);
    route.spoolDirectory = config.global.spoolDirectory;
    service->routes_.emplace(name, std::move(route));
  }
  if (!deps.forward) {
    service->forwarder_ = std::make_shared<Forwarder>(deps.credentials, std::make_shared<UpstreamClient>());
  }
  service->deps_ = std::move(deps);
  return service;
}

Result<long> ProxyService::Exchange(const ServerRoute& route, const ForwardRequest& request,
                                    IResponseSink& sink) const {
  if (deps_.forward) return deps_.forward(route, request, sink);
  return forwarder_->Forward(route, request, sink);
}

// Runs the server's policies for one request: the target's base URL, or the denial.
Result<const UpstreamUrl*> ProxyService::Route(const ServerRouting& r, const Incoming& in, Admission& a) const {
  a.health = r.health;
  a.targetName = r.targets.front().first;
  if (r.policies.empty()) {
    a.decision.allow = true;  // no policy: allowed, to the primary
    a.decision.status = 200;
    return &r.targets.front().second;
  }
  if (!deps_.decide) {
    return MakeError(policy::kScriptFailed, "routing policies are configured but no policy engine is running", 500);
  }
  policy::PolicyRequest request;
  request.stage = policy::Stage::Upstream;
  request.server = in.server;
  request.mode = "proxy";
  request.method = in.method;
  request.path = in.tail;
  request.headers = &in.headers;
  request.query = &in.query;
  const std::string* authorization = in.Header("authorization");
  request.authorization = authorization == nullptr ? "none"
                          : !r.expectedAuthorization.empty() && *authorization == r.expectedAuthorization ? "expected"
                                                                                                          : "other";
  const auto now = policy::TargetHealth::Clock::now();
  for (size_t i = 0; i < r.targets.size(); ++i) {
    request.targets.push_back({r.targets[i].first, r.targets[i].second.Base(), r.health->Healthy(i, now)});
  }
  request.config = r.config.get();
  a.decision = deps_.decide(r.policies, request);
  if (auto metrics = CurrentMetrics()) {
    const auto it = metrics->servers.find(in.server);
    if (it != metrics->servers.end() && it->second.decisions) it->second.decisions->Count(a.decision);
  }
  if (!a.decision.allow) return MakeError(a.decision.code, a.decision.reason, a.decision.status);
  for (size_t i = 0; i < r.targets.size(); ++i) {
    if (r.targets[i].first == a.decision.target) a.target = i;
  }
  a.targetName = r.targets[a.target].first;
  a.request.minRemaining = a.decision.minTokenSeconds;
  return &r.targets[a.target].second;
}

Status ProxyService::Admit(const Incoming& in, Admission& a, bool count) const {
  const std::string* secret = in.Header("x-dicomweb-oauth-gateway");
  if (secret == nullptr) {
    return LoopbackRefused("missing X-DicomWeb-OAuth-Gateway header: this route only serves Orthanc's own "
                           "DICOMweb client (use /dicom-web/servers/{name}/...)");
  }
  auto it = routes_.find(in.server);
  if (it == routes_.end()) return UnknownServer(in.server);
  if (!it->second.secret.Matches(*secret)) return LoopbackRefused("wrong X-DicomWeb-OAuth-Gateway header");
  // A caller's HttpHeaders (or a Uri with `_method=`) can make Orthanc turn the DICOMweb plugin's
  // GET into PUT/DELETE before this route runs: the operation's method is lost, refuse.
  if (in.methodOverride) return MethodOverrideRefused(*in.methodOverride);
  // DICOMweb 1.7's client never sends PUT: one only arrives through an override, and Orthanc does
  // not hand a PUT's GET arguments to a chunked route (measured: `?_method=put` arrived as a PUT
  // with no argument left to see).
  if (in.method == "PUT") {
    return MethodOverrideRefused("PUT, which Orthanc's DICOMweb client never sends: only a method override "
                                 "produces it");
  }
  if (auto audit = AuditSink(); audit && !audit->Accepting()) {
    return MakeError("AUD-005", "the audit trail cannot be written and Audit.FailClosed is set: request refused", 503);
  }
  a.route = &it->second;
  // Routing policies (docs/policies.md) may refuse, pick the target, edit headers and ask for a
  // longer-lived credential.
  const UpstreamUrl* upstream = &it->second.upstream;
  if (auto routing = routing_.find(in.server); routing != routing_.end()) {
    auto routed = Route(*routing->second, in, a);
    if (!routed) return routed.GetError();
    upstream = routed.Value();
  }
  auto url = upstream->Resolve(in.tail, in.query);
  if (!url) return url.GetError();
  a.request.method = in.method;
  a.request.url = std::move(url).Value();
  a.request.headers = HeaderPolicy::RequestHeadersToForward(in.headers);
  ApplyHeaderEdits(a.decision, a.request.headers);
  SetTraceHeaders(in, a.request.headers);
  if (count && limiter_) {
    if (auto refused = limiter_->TryPass(in.server)) {
      a.retryAfter = refused->retryAfter;
      return refused->error;
    }
  }
  return Status::Success();
}

void ProxyService::Record(const Incoming& in, const char* outcome, long status, const Error* error,
                          Clock::time_point started, BodyBytes bytes, const Admission* routed) const {
  if (auto metrics = CurrentMetrics()) {
    auto it = metrics->servers.find(in.server);
    if (it == metrics->servers.end()) it = metrics->servers.find(kUnknownServer);
    if (it != metrics->servers.end()) {
      const long cls = status / 100;
      it->second.byClass[cls >= 1 && cls <= 5 ? cls - 1 : 5]->Inc();
      it->second.duration->Observe(std::chrono::duration<double>(Clock::now() - started).count());
      it->second.requestBytes->Inc(bytes.request);
      it->second.responseBytes->Inc(bytes.response);
    }
  }
  auto sink = AuditSink();
  if (!sink) return;
  RequestEnd end;
  end.outcome = outcome;
  end.status = status;
  end.error = error;
  end.bytes = bytes.response;
  end.requestBytes = bytes.request;
  end.durationMs = MillisecondsSince(started);
  end.routed = routed;
  sink->Record(BuildRequestAudit(in, end));
}

void ProxyService::Done(const Incoming& in, const Admission& a, const Result<long>& outcome,
                        const AnswerWriter& writer, Clock::time_point started, uint64_t requestBytes) const {
  LogDone(in, outcome, writer, started);
  ReportHealth(a, outcome);
  const BodyBytes bytes{requestBytes, writer.BodyBytes()};
  if (outcome.Ok() && !writer.Failure()) {
    Record(in, "forwarded", outcome.Value(), nullptr, started, bytes, &a);
    return;
  }
  const Error& e = writer.Failure() ? *writer.Failure() : outcome.GetError();
  Record(in, "failed", e.httpStatus, &e, started, bytes, &a);
}

void ProxyService::Refused(const Incoming& in, const Admission& a, const Error& e, Clock::time_point started,
                           IProxyAnswer& out) const {
  Record(in, "denied", e.httpStatus, &e, started, {}, &a);
  out.SendRefusal(e, a.retryAfter);
}

AnswerWriter::Outcome ProxyService::Serve(const Incoming& in, IProxyAnswer& out) const {
  const Clock::time_point started = Clock::now();
  Admission admission;
  if (Status ready = Admit(in, admission); !ready) {
    LogRefusal(in, ready.GetError());
    Refused(in, admission, ready.GetError(), started, out);
    return AnswerWriter::Outcome::Complete;
  }
  AnswerWriter writer(out, limits_);
  auto outcome = Exchange(*admission.route, admission.request, writer);
  // Failover inside the request: a bodyless request whose target could not be reached, with
  // nothing written to the caller yet, is decided again (the target is now unhealthy) and sent
  // to the new target, at most once per other target.
  const size_t targets = admission.health ? admission.health->Size() : 1;
  for (size_t retry = 1;
       retry < targets && !outcome.Ok() && IsUpstreamUnreachable(outcome.GetError()) && !writer.Started(); ++retry) {
    ReportHealth(admission, outcome);
    Admission again;
    if (!Admit(in, again, /*count=*/false) || again.target == admission.target) break;
    LogWarning("proxy: " + in.method + " for server '" + in.server + "': target #" +
               std::to_string(admission.target + 1) + " unreachable, sent to target #" +
               std::to_string(again.target + 1) + " instead");
    admission = std::move(again);
    outcome = Exchange(*admission.route, admission.request, writer);
  }
  const auto result = writer.Finish(outcome);
  Done(in, admission, outcome, writer, started);
  return result;
}

std::shared_ptr<const policy::TargetHealth> ProxyService::TargetHealth(const std::string& server) const {
  const auto it = routing_.find(server);
  return it == routing_.end() ? nullptr : it->second->health;
}

std::shared_ptr<audit::IAuditSink> ProxyService::AuditSink() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return audit_;
}

std::shared_ptr<const ProxyService::Metrics> ProxyService::CurrentMetrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

void ProxyService::SetAudit(std::shared_ptr<audit::IAuditSink> sink) {
  std::lock_guard<std::mutex> lock(mutex_);
  audit_ = std::move(sink);
}

void ProxyService::SetMetrics(MetricsRegistry* registry) {
  auto metrics = std::make_shared<Metrics>();
  metrics->registry = registry;
  if (registry != nullptr) {
    std::vector<std::string> servers{kUnknownServer};
    for (const auto& [name, route] : routes_) servers.push_back(name);
    // Every series exists from the start (0): a rate over a series that appears with its first
    // 5xx would miss that one.
    static const char* kClasses[6] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    static const std::vector<double> kBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                             2.5,   5,    10,    30,   60,  120, 300};
    for (const auto& server : servers) {
      Metrics::Server& m = metrics->servers[server];
      for (int i = 0; i < 6; ++i) {
        m.byClass[i] = &registry->GetCounter(
            "dicomweb_oauth_proxy_requests_total",
            "Proxy-mode requests by server and the status class answered to Orthanc's DICOMweb client "
            "(upstream answers and the gateway's own refusals and failures)",
            {{"server", server}, {"status_class", kClasses[i]}});
      }
      m.duration = &registry->GetHistogram("dicomweb_oauth_proxy_request_duration_seconds",
                                           "Proxy-mode request duration, from the request to the end of the answer",
                                           {{"server", server}}, kBounds);
      static const char* kBytesHelp =
          "Proxy-mode body bytes by server: direction=request, received from Orthanc's DICOMweb client for an "
          "admitted request, to be sent upstream (once: replays not counted again); direction=response, answered "
          "to it";
      m.requestBytes =
          &registry->GetCounter("dicomweb_oauth_proxy_body_bytes_total", kBytesHelp,
                                {{"server", server}, {"direction", "request"}});
      m.responseBytes =
          &registry->GetCounter("dicomweb_oauth_proxy_body_bytes_total", kBytesHelp,
                                {{"server", server}, {"direction", "response"}});
      const auto routing = routing_.find(server);
      if (routing != routing_.end() && !routing->second->policies.empty()) {
        m.decisions = std::make_unique<policy::DecisionCounters>(*registry, "upstream", server, routing->second->policies);
      }
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_ = std::move(metrics);
}

void ProxyService::Detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  audit_.reset();
  metrics_.reset();
}

// --- BodyExchange ---

std::unique_ptr<BodyExchange> BodyExchange::Open(std::shared_ptr<const ProxyService> service, Incoming in) {
  std::unique_ptr<BodyExchange> exchange(new BodyExchange(std::move(service), std::move(in)));
  exchange->Start();
  return exchange;
}

BodyExchange::~BodyExchange() {
  if (worker_.joinable()) {
    // Finalized without Execute (client gone, or Orthanc failed the request): stop the exchange.
    queue_.Fail(BodyError("the client went away before the body was complete"));
    channel_->Abandon();
    worker_.join();
  }
}

void BodyExchange::Start() {
  started_ = ProxyService::Clock::now();
  if (!service_) {
    refusal_ = ProxyService::NotRunning();
    return;
  }
  if (Status ready = service_->Admit(in_, admission_); !ready) {
    refusal_ = ready.GetError();
    LogRefusal(in_, *refusal_);
    return;
  }
  std::optional<uint64_t> declared;
  if (const std::string* length = in_.Header("content-length")) {
    try {
      declared = std::stoull(*length);
    } catch (const std::exception&) {
      refusal_ = BodyError("invalid Content-Length");
      return;
    }
  }
  const ServerRoute& route = *admission_.route;
  if (route.spoolBody) {
    // The credential signs the body (SigV4): it is hashed whole, spooled to a file, before
    // anything is sent. The exchange then runs in Execute.
    auto spool = SpoolBody::Create(route.spoolDirectory);
    if (!spool) {
      refusal_ = spool.GetError();
      LogRefusal(in_, *refusal_);
      return;
    }
    spool_ = std::move(spool).Value();
    declared_ = declared;
    return;
  }
  body_ = std::make_unique<QueueBody>(queue_, declared, QueueBody::kDefaultReplayLimit, route.idleTimeout);
  channel_ = std::make_unique<ResponseChannel>(ResponseChannel::kDefaultCapacity, route.idleTimeout);
  admission_.request.body = body_.get();
  worker_ = std::thread([this] {
    Result<long> outcome = MakeError("GW-500", "internal error", 500);
    try {
      outcome = service_->Exchange(*admission_.route, admission_.request, *channel_);
    } catch (const std::exception& e) {
      LogError(std::string("GW-500 proxy worker: ") + e.what());
    }
    if (!outcome.Ok() && IsUpstreamMalformed(outcome.GetError())) {
      if (auto why = channel_->PushFailure()) outcome = *why;
    }
    queue_.Detach();  // AddChunk may be blocked on a full queue: let it return
    channel_->Close(std::move(outcome));
  });
}

void BodyExchange::AddChunk(std::string_view data) {
  if (refusal_) return;  // refused: the body is read and dropped
  received_ += data.size();
  if (spool_) {
    if (!spoolError_) {
      if (Status s = spool_->Append(data); !s) spoolError_ = s.GetError();
    }
    return;
  }
  if (!worker_.joinable()) return;
  queue_.Push(data);
}

AnswerWriter::Outcome BodyExchange::Execute(IProxyAnswer& out) {
  if (refusal_) {
    if (service_) {
      service_->Refused(in_, admission_, *refusal_, started_, out);
    } else {
      out.SendRefusal(*refusal_, std::chrono::seconds(0));
    }
    return AnswerWriter::Outcome::Complete;
  }
  if (spool_) return ExecuteSpooled(out);
  queue_.Finish();
  AnswerWriter writer(out, service_->Limits());
  auto outcome = channel_->DrainInto(writer);
  worker_.join();
  const auto result = writer.Finish(outcome);
  service_->Done(in_, admission_, outcome, writer, started_, received_);
  return result;
}

// The whole body is in the spool file and hashed: sign and send it from this thread.
AnswerWriter::Outcome BodyExchange::ExecuteSpooled(IProxyAnswer& out) {
  Status complete = spoolError_ ? Status(*spoolError_) : spool_->Finish(declared_);
  if (!complete) {
    const Error& e = complete.GetError();
    LogRefusal(in_, e);
    service_->Record(in_, "denied", e.httpStatus, &e, started_, {}, &admission_);
    out.SendError(e);
    return AnswerWriter::Outcome::Complete;
  }
  admission_.request.body = spool_.get();
  AnswerWriter writer(out, service_->Limits());
  auto outcome = service_->Exchange(*admission_.route, admission_.request, writer);
  const auto result = writer.Finish(outcome);
  service_->Done(in_, admission_, outcome, writer, started_, received_);
  return result;
}

}  // namespace gw::proxy
