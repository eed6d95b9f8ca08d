#include "ProxyRoute.h"

#include <orthanc/OrthancCPlugin.h>

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "DicomWebServers.h"
#include "OrthancGlue.h"
#include "PolicyAudit.h"
#include "ProxyOutput.h"
#include "gw/common/Log.h"
#include "gw/common/Metrics.h"
#include "gw/common/TraceContext.h"
#include "gw/common/SecretRegistry.h"
#include "gw/crypto/Encoding.h"
#include "gw/policy/PolicyEngine.h"
#include "gw/policy/PolicyErrors.h"
#include "gw/policy/TargetHealth.h"
#include "gw/proxy/AnswerWriter.h"
#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/proxy/Forwarder.h"
#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/QueueBody.h"
#include "gw/proxy/ResponseChannel.h"
#include "gw/proxy/ServerRoute.h"
#include "gw/proxy/SpoolBody.h"
#include "gw/proxy/UpstreamClient.h"
#include "gw/service/RateGate.h"

namespace gw::plugin {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kRouteRegex = "/oauth-dicom-web/servers/([^/]+)/(.*)";
constexpr std::chrono::seconds kDefaultIdleTimeout{120};

// Routing of one proxy-mode server (docs/policies.md): its policies, its upstream targets (the
// first is the primary, ServerRoute::upstream) and their observed health.
struct ServerRouting {
  std::vector<std::string> policies;
  std::vector<std::pair<std::string, proxy::UpstreamUrl>> targets;  // name, base URL
  std::shared_ptr<policy::TargetHealth> health;
  std::shared_ptr<const rapidjson::Document> config;  // PolicyConfig, may be null
  // The Authorization header the loopback definition makes the DICOMweb plugin send ("Basic ...",
  // empty without Username): anything else on a request is a caller's override (HttpHeaders).
  std::string expectedAuthorization;
};

struct ProxyState {
  std::map<std::string, proxy::ServerRoute> routes;
  std::map<std::string, ServerRouting> routing;
  const policy::PolicyEngine* policies = nullptr;  // owned by the Gateway
  std::map<std::string, proxy::DicomWebDefinition> definitions;
  std::shared_ptr<proxy::ICredentialSource> credentials;
  std::shared_ptr<proxy::UpstreamClient> client;
  std::unique_ptr<proxy::Forwarder> forwarder;
  proxy::AnswerLimits limits;
  // RateLimitRequests at the upstream stage; null without a limit (docs/operations.md#rate-limits).
  std::unique_ptr<service::ServerRateLimiter> limiter;
};

std::mutex g_mutex;
std::shared_ptr<ProxyState> g_state;
std::shared_ptr<audit::IAuditSink> g_audit;  // under g_mutex

// Request metrics per configured server, resolved once (SetProxyMetrics) so the request path only
// increments. A server name that is not configured (a PXY-002 refusal) is counted under
// kUnknownServer: the label never takes a caller's text.
constexpr const char* kUnknownServer = "_unknown";
struct ServerMetrics {
  Counter* byClass[6] = {};  // 1xx..5xx, then "other"
  Histogram* duration = nullptr;
};
struct ProxyMetrics {
  MetricsRegistry* registry = nullptr;  // the Gateway's: it outlives proxy mode (ShutdownProxy first)
  std::map<std::string, ServerMetrics, std::less<>> servers;
};
std::shared_ptr<const ProxyMetrics> g_metrics;  // under g_mutex

std::shared_ptr<const ProxyMetrics> Metrics() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_metrics;
}

std::shared_ptr<audit::IAuditSink> AuditSink() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_audit;
}

std::shared_ptr<ProxyState> State() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_state;
}

// What the route needs from Orthanc's request description.
struct Incoming {
  std::string method;
  std::string server;
  std::string tail;
  http::Headers headers;  // lower-case names, as Orthanc gives them
  proxy::QueryParams query;
  // A method override the request carries (Orthanc has already applied it to `method`), or none.
  std::optional<std::string> methodOverride;
  // W3C trace context sent upstream: the caller's trace continued (its trace id, a new parent id:
  // the gateway's span, also the request id in logs), or a new trace when the request carried
  // none or an invalid one.
  TraceContext trace;
  bool traceContinued = false;

  const std::string* Header(const char* lowerName) const {
    for (const auto& [k, v] : headers) {
      if (k == lowerName) return &v;
    }
    return nullptr;
  }
};

// %XX -> byte, everything else as is ('+' stays '+': RFC 3986 query, not a form).
std::string PercentDecode(const char* text) {
  std::string out;
  for (const char* p = text; *p != '\0'; ++p) {
    if (p[0] == '%' && std::isxdigit(static_cast<unsigned char>(p[1])) &&
        std::isxdigit(static_cast<unsigned char>(p[2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(p + 1, 2), nullptr, 16)));
      p += 2;
    } else {
      out.push_back(*p);
    }
  }
  return out;
}

Incoming Read(const OrthancPluginHttpRequest* request) {
  Incoming in;
  in.method = MethodName(request->method);
  if (request->groupsCount >= 2) {
    in.server = request->groups[0];
    in.tail = request->groups[1];
  }
  for (uint32_t i = 0; i < request->headersCount; ++i) {
    in.headers.emplace_back(request->headersKeys[i], request->headersValues[i]);
  }
  // Orthanc hands the GET arguments over whatever method it made of the request (measured: a GET
  // with `_method=delete` arrives as DELETE with its arguments).
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < request->getCount; ++i) keys.emplace_back(request->getKeys[i]);
  in.methodOverride = proxy::HeaderPolicy::MethodOverride(in.headers, keys);
  std::optional<TraceContext> incoming;
  if (const std::string* traceparent = in.Header("traceparent")) incoming = TraceContext::Parse(*traceparent);
  in.traceContinued = incoming.has_value();
  in.trace = TraceContext::Continue(incoming);
  if (request->method == OrthancPluginHttpMethod_Get) {
    // Orthanc 1.10 hands GET arguments to this route still percent-encoded (measured: the DICOMweb
    // plugin's `Modality=%2A` arrived as "%2A" and went upstream as "%252A", so wildcard and
    // PatientName "Doe^J" searches matched nothing). Decode once; UpstreamUrl encodes again and
    // still refuses control characters, encoded or not.
    for (uint32_t i = 0; i < request->getCount; ++i) {
      in.query.emplace_back(PercentDecode(request->getKeys[i]), PercentDecode(request->getValues[i]));
    }
  }
  return in;
}

struct Prepared {
  const proxy::ServerRoute* route = nullptr;
  proxy::ForwardRequest request;
  // Routing: what the policies decided (for audit), the chosen target and where its health goes.
  policy::Decision decision;
  size_t target = 0;
  std::string targetName;  // the chosen target's name ("primary" unless Targets names it)
  std::shared_ptr<policy::TargetHealth> health;
  std::chrono::seconds retryAfter{0};  // refused by the rate limit: the Retry-After to answer
};

// Runs the server's policies for one request: the target's base URL, or the denial.
Result<const proxy::UpstreamUrl*> Route(const ProxyState& state, const ServerRouting& r, const Incoming& in,
                                        Prepared& p) {
  p.health = r.health;
  p.targetName = r.targets.front().first;
  if (r.policies.empty()) {
    p.decision.allow = true;  // no policy: allowed, to the primary
    p.decision.status = 200;
    return &r.targets.front().second;
  }
  if (state.policies == nullptr) {
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
  p.decision = state.policies->Decide(r.policies, request);
  if (auto metrics = Metrics()) CountPolicyDecision(metrics->registry, "upstream", in.server, p.decision);
  if (!p.decision.allow) return MakeError(p.decision.code, p.decision.reason, p.decision.status);
  for (size_t i = 0; i < r.targets.size(); ++i) {
    if (r.targets[i].first == p.decision.target) p.target = i;
  }
  p.targetName = r.targets[p.target].first;
  p.request.minRemaining = p.decision.minTokenSeconds;
  return &r.targets[p.target].second;
}

// A policy's header edits, after the allowlist filter (so a policy can add headers the filter
// would not forward, but never one the gateway owns: DecisionParser refuses those).
void ApplyHeaderEdits(const policy::Decision& d, http::Headers& headers) {
  auto same = [](const std::string& a, const std::string& b) { return strcasecmp(a.c_str(), b.c_str()) == 0; };
  for (const auto& name : d.removeHeaders) {
    headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return same(h.first, name); }),
                  headers.end());
  }
  for (const auto& [name, value] : d.setHeaders) {
    headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return same(h.first, name); }),
                  headers.end());
    headers.emplace_back(name, value);
  }
}

// What an exchange says about its target's health: transport failures and 5xx mark it down for
// the server's FailoverCooldownSeconds, any other answer marks it up. Body errors say nothing.
void ReportHealth(const Prepared& p, const Result<long>& outcome) {
  if (!p.health || p.route == nullptr) return;
  const bool transport =
      !outcome.Ok() && (outcome.GetError().code == "PXY-003" || outcome.GetError().code == "PXY-004");
  if (!outcome.Ok() && !transport) return;
  if (policy::TargetHealth::IsUpstreamFailure(transport, outcome.Ok() ? outcome.Value() : 0)) {
    if (p.health->Healthy(p.target)) {
      LogWarning("proxy: server '" + p.route->name + "': target #" + std::to_string(p.target + 1) +
                 " marked unhealthy (" + (transport ? outcome.GetError().code : "HTTP " + std::to_string(outcome.Value())) +
                 ")");
    }
    p.health->ReportFailure(p.target);
  } else {
    p.health->ReportSuccess(p.target);
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

// The checks every request passes before anything goes upstream, in this order: the loopback
// secret (403 before anything else is revealed), the server (404), a method override (400), the
// audit trail (503 with FailClosed), the routing policies, the path and query (400), the server's
// rate limit (PXY-015, counted only for a request that would go upstream; `count` false for the
// failover of a request already counted). Fills `p`; on a refusal by a policy, p.decision names it
// (for the audit record), by the rate limit p.retryAfter says when to retry.
Status Prepare(const ProxyState& state, const Incoming& in, Prepared& p, bool count = true) {
  const std::string* secret = in.Header("x-dicomweb-oauth-gateway");
  if (secret == nullptr) {
    return proxy::LoopbackRefused("missing X-DicomWeb-OAuth-Gateway header: this route only serves Orthanc's own "
                                  "DICOMweb client (use /dicom-web/servers/{name}/...)");
  }
  auto it = state.routes.find(in.server);
  if (it == state.routes.end()) return proxy::UnknownServer(in.server);
  if (!it->second.secret.Matches(*secret)) return proxy::LoopbackRefused("wrong X-DicomWeb-OAuth-Gateway header");
  // A caller's HttpHeaders (or a Uri with `_method=`) can make Orthanc turn the DICOMweb plugin's
  // GET into PUT/DELETE before this route runs: the operation's method is lost, refuse.
  if (in.methodOverride) return proxy::MethodOverrideRefused(*in.methodOverride);
  // DICOMweb 1.7's client never sends PUT: one only arrives through an override, and Orthanc does
  // not hand a PUT's GET arguments to a chunked route (measured: `?_method=put` arrived as a PUT
  // with no argument left to see).
  if (in.method == "PUT") {
    return proxy::MethodOverrideRefused("PUT, which Orthanc's DICOMweb client never sends: only a method override "
                                        "produces it");
  }
  if (auto audit = AuditSink(); audit && !audit->Accepting()) {
    return MakeError("AUD-005", "the audit trail cannot be written and Audit.FailClosed is set: request refused", 503);
  }
  p.route = &it->second;
  // Routing policies (docs/policies.md) may refuse, pick the target, edit headers and ask for a
  // longer-lived credential.
  const proxy::UpstreamUrl* upstream = &it->second.upstream;
  if (auto routing = state.routing.find(in.server); routing != state.routing.end()) {
    auto routed = Route(state, routing->second, in, p);
    if (!routed) return routed.GetError();
    upstream = routed.Value();
  }
  auto url = upstream->Resolve(in.tail, in.query);
  if (!url) return url.GetError();
  p.request.method = in.method;
  p.request.url = std::move(url).Value();
  p.request.headers = proxy::HeaderPolicy::RequestHeadersToForward(in.headers);
  ApplyHeaderEdits(p.decision, p.request.headers);
  SetTraceHeaders(in, p.request.headers);
  if (count && state.limiter) {
    if (auto refused = state.limiter->TryPass(in.server)) {
      p.retryAfter = refused->retryAfter;
      return refused->error;
    }
  }
  return Status::Success();
}

// A refusal with its Retry-After when the rate limit refused (Orthanc keeps the header with
// SendHttpStatus, measured on 1.10.1).
void AnswerRefusal(OrthancPluginRestOutput* output, const Prepared& p, const Error& e, std::string_view traceId) {
  if (p.retryAfter.count() > 0) {
    const std::string seconds = std::to_string(p.retryAfter.count());
    OrthancPluginSetHttpHeader(Context(), output, "Retry-After", seconds.c_str());
  }
  AnswerError(output, e, traceId);
}

// One proxy.request audit event. outcome: "forwarded" (upstream answered `status`), "failed"
// (the exchange broke: `error`), "denied" (refused before anything went upstream: `error`).
// `routed`: how the request was routed, as far as Prepare got (null when it never ran).
// It also counts the request (dicomweb_oauth_proxy_requests_total by the status class the caller
// got, dicomweb_oauth_proxy_request_duration_seconds): every request ends here exactly once.
void AuditRequest(const Incoming& in, const char* outcome, long status, const Error* error,
                  Clock::time_point started, uint64_t bytes, const Prepared* routed) {
  if (auto metrics = Metrics()) {
    auto it = metrics->servers.find(in.server);
    if (it == metrics->servers.end()) it = metrics->servers.find(kUnknownServer);
    if (it != metrics->servers.end()) {
      const long cls = status / 100;
      it->second.byClass[cls >= 1 && cls <= 5 ? cls - 1 : 5]->Inc();
      it->second.duration->Observe(std::chrono::duration<double>(Clock::now() - started).count());
    }
  }
  auto sink = AuditSink();
  if (!sink) return;
  audit::AuditEvent event("proxy.request", in.server);
  event.traceId = in.trace.traceId;
  event.Set("method", in.method);
  event.Set("path", in.tail);
  if (!in.query.empty()) event.SetQuery("query", in.query);
  event.Set("outcome", outcome);
  event.Set("status", static_cast<int64_t>(status));
  if (error) {
    event.Set("code", error->code);
    event.Set("reason", error->message);
  }
  if (routed) {
    // Which policies decided, and for a request that went upstream, where to and why: an allowed
    // decision is as much part of the trail as a denial (docs/audit.md).
    const bool wentUpstream = std::string_view(outcome) != "denied" && !routed->targetName.empty();
    SetDecisionFields(event, routed->decision, wentUpstream, routed->targetName);
  }
  event.Set("bytes", static_cast<int64_t>(bytes));
  event.Set("durationMs",
            static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
  sink->Record(std::move(event));
}

// Audits the end of a forwarded exchange, like LogDone logs it.
void AuditDone(const Incoming& in, const Prepared& prepared, const Result<long>& outcome,
               const proxy::AnswerWriter& writer, Clock::time_point started) {
  if (outcome.Ok() && !writer.Failure()) {
    AuditRequest(in, "forwarded", outcome.Value(), nullptr, started, writer.BodyBytes(), &prepared);
    return;
  }
  const Error& e = writer.Failure() ? *writer.Failure() : outcome.GetError();
  AuditRequest(in, "failed", e.httpStatus, &e, started, writer.BodyBytes(), &prepared);
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

void LogDone(const Incoming& in, const Result<long>& outcome, const proxy::AnswerWriter& writer,
             Clock::time_point started) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  const std::string& method = in.method;
  const std::string& server = in.server;
  if (outcome.Ok() && !writer.Failure()) {
    if (!LogEnabled(LogLevel::Debug)) return;
    LogEvent line = ProxyEvent(in, LogLevel::Debug, "forwarded");
    line.durationMs = ms;
    line.status = outcome.Value();
    line.message = "proxy: " + method + " server '" + server + "' -> " + std::to_string(outcome.Value()) + " (" +
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
  line.message = "proxy: " + method + " server '" + server + "' failed after " + std::to_string(ms) + " ms: " + e.ToString();
  Log(line);
}

OrthancPluginErrorCode Finish(proxy::AnswerWriter::Outcome outcome) {
  // Broken: a multipart answer was started and cannot be completed. An error code makes Orthanc
  // drop the connection without writing the closing boundary, so the client sees a truncated
  // answer instead of a well-formed one with missing instances.
  return outcome == proxy::AnswerWriter::Outcome::Complete ? OrthancPluginErrorCode_Success
                                                           : OrthancPluginErrorCode_NetworkProtocol;
}

Error NotRunning() { return MakeError("PXY-002", "proxy mode is not running", 503); }

// GET and DELETE: the exchange runs on Orthanc's HTTP thread and the answer streams straight out.
OrthancPluginErrorCode HandleWithoutBody(OrthancPluginRestOutput* output, const char*,
                                         const OrthancPluginHttpRequest* request) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    auto state = State();
    if (!state) {
      AnswerError(output, NotRunning());
      return OrthancPluginErrorCode_Success;
    }
    const Clock::time_point started = Clock::now();
    const Incoming in = Read(request);
    Prepared prepared;
    if (Status ready = Prepare(*state, in, prepared); !ready) {
      LogRefusal(in, ready.GetError());
      AuditRequest(in, "denied", ready.GetError().httpStatus, &ready.GetError(), started, 0, &prepared);
      AnswerRefusal(output, prepared, ready.GetError(), in.trace.traceId);
      return OrthancPluginErrorCode_Success;
    }
    ProxyOutput out(output, in.trace.traceId);
    proxy::AnswerWriter writer(out, state->limits);
    auto outcome = state->forwarder->Forward(*prepared.route, prepared.request, writer);
    // Failover inside the request: a bodyless request whose target could not be reached, with
    // nothing written to the caller yet, is decided again (the target is now unhealthy) and sent
    // to the new target, at most once per other target.
    const size_t targets = prepared.health ? prepared.health->Size() : 1;
    for (size_t retry = 1; retry < targets && !outcome.Ok() &&
                           outcome.GetError().code == "PXY-003" && !writer.Started();
         ++retry) {
      ReportHealth(prepared, outcome);
      Prepared again;
      if (!Prepare(*state, in, again, /*count=*/false) || again.target == prepared.target) break;
      LogWarning("proxy: " + in.method + " for server '" + in.server + "': target #" +
                 std::to_string(prepared.target + 1) + " unreachable, sent to target #" +
                 std::to_string(again.target + 1) + " instead");
      prepared = std::move(again);
      outcome = state->forwarder->Forward(*prepared.route, prepared.request, writer);
    }
    const auto result = writer.Finish(outcome);
    LogDone(in, outcome, writer, started);
    ReportHealth(prepared, outcome);
    AuditDone(in, prepared, outcome, writer, started);
    return Finish(result);
  });
}

// POST and PUT: Orthanc hands the body over in pieces (AddChunk) before it calls Execute, the only
// moment an answer can be written. The exchange therefore starts on a worker thread as soon as the
// reader exists, pulls the body from a bounded queue while AddChunk fills it, and its answer waits
// in a ResponseChannel until Execute drains it into the HTTP answer.
class ProxyReader {
 public:
  // `state` null: proxy mode is not running, the request is refused (503).
  ProxyReader(std::shared_ptr<ProxyState> state, Incoming in) : state_(std::move(state)), in_(std::move(in)) {}

  ~ProxyReader() {
    if (worker_.joinable()) {
      // Finalized without Execute (client gone, or Orthanc failed the request): stop the exchange.
      queue_.Fail(proxy::BodyError("the client went away before the body was complete"));
      channel_->Abandon();
      worker_.join();
    }
  }

  void Start() {
    started_ = Clock::now();
    if (!state_) {
      refusal_ = NotRunning();
      return;
    }
    if (Status ready = Prepare(*state_, in_, prepared_); !ready) {
      refusal_ = ready.GetError();
      LogRefusal(in_, *refusal_);
      return;
    }
    std::optional<uint64_t> declared;
    if (const std::string* length = in_.Header("content-length")) {
      try {
        declared = std::stoull(*length);
      } catch (const std::exception&) {
        refusal_ = proxy::BodyError("invalid Content-Length");
        return;
      }
    }
    const proxy::ServerRoute& route = *prepared_.route;
    if (route.spoolBody) {
      // The credential signs the body (SigV4): it is hashed whole, spooled to a file, before
      // anything is sent. The exchange then runs in Execute.
      auto spool = proxy::SpoolBody::Create(route.spoolDirectory);
      if (!spool) {
        refusal_ = spool.GetError();
        LogRefusal(in_, *refusal_);
        return;
      }
      spool_ = std::move(spool).Value();
      declared_ = declared;
      return;
    }
    body_ = std::make_unique<proxy::QueueBody>(queue_, declared, proxy::QueueBody::kDefaultReplayLimit,
                                               route.idleTimeout);
    channel_ = std::make_unique<proxy::ResponseChannel>(proxy::ResponseChannel::kDefaultCapacity, route.idleTimeout);
    prepared_.request.body = body_.get();
    worker_ = std::thread([this] {
      Result<long> outcome = MakeError("GW-500", "internal error", 500);
      try {
        outcome = state_->forwarder->Forward(*prepared_.route, prepared_.request, *channel_);
      } catch (const std::exception& e) {
        LogError(std::string("GW-500 proxy worker: ") + e.what());
      }
      if (!outcome.Ok() && outcome.GetError().code == "PXY-007") {
        if (auto why = channel_->PushFailure()) outcome = *why;
      }
      queue_.Detach();  // AddChunk may be blocked on a full queue: let it return
      channel_->Close(std::move(outcome));
    });
  }

  void AddChunk(const void* data, uint32_t size) {
    if (refusal_) return;  // refused: the body is read and dropped
    if (spool_) {
      if (!spoolError_) {
        if (Status s = spool_->Append(std::string_view(static_cast<const char*>(data), size)); !s) {
          spoolError_ = s.GetError();
        }
      }
      return;
    }
    if (!worker_.joinable()) return;
    queue_.Push(std::string_view(static_cast<const char*>(data), size));
  }

  OrthancPluginErrorCode Execute(OrthancPluginRestOutput* output) {
    if (refusal_) {
      AuditRequest(in_, "denied", refusal_->httpStatus, &*refusal_, started_, 0, &prepared_);
      AnswerRefusal(output, prepared_, *refusal_, in_.trace.traceId);
      return OrthancPluginErrorCode_Success;
    }
    if (spool_) return ExecuteSpooled(output);
    queue_.Finish();
    ProxyOutput out(output, in_.trace.traceId);
    proxy::AnswerWriter writer(out, state_->limits);
    auto outcome = channel_->DrainInto(writer);
    worker_.join();
    const auto result = writer.Finish(outcome);
    LogDone(in_, outcome, writer, started_);
    ReportHealth(prepared_, outcome);
    AuditDone(in_, prepared_, outcome, writer, started_);
    return Finish(result);
  }

 private:
  // The whole body is in the spool file and hashed: sign and send it from this thread.
  OrthancPluginErrorCode ExecuteSpooled(OrthancPluginRestOutput* output) {
    Status complete = spoolError_ ? Status(*spoolError_) : spool_->Finish(declared_);
    if (!complete) {
      const Error& e = complete.GetError();
      LogRefusal(in_, e);
      AuditRequest(in_, "denied", e.httpStatus, &e, started_, 0, &prepared_);
      AnswerError(output, e, in_.trace.traceId);
      return OrthancPluginErrorCode_Success;
    }
    prepared_.request.body = spool_.get();
    ProxyOutput out(output, in_.trace.traceId);
    proxy::AnswerWriter writer(out, state_->limits);
    auto outcome = state_->forwarder->Forward(*prepared_.route, prepared_.request, writer);
    const auto result = writer.Finish(outcome);
    LogDone(in_, outcome, writer, started_);
    ReportHealth(prepared_, outcome);
    AuditDone(in_, prepared_, outcome, writer, started_);
    return Finish(result);
  }

  std::shared_ptr<ProxyState> state_;
  Incoming in_;
  Clock::time_point started_;
  std::optional<Error> refusal_;
  Prepared prepared_;
  proxy::BodyQueue queue_;
  std::unique_ptr<proxy::QueueBody> body_;
  std::unique_ptr<proxy::SpoolBody> spool_;  // signing providers only
  std::optional<uint64_t> declared_;
  std::optional<Error> spoolError_;
  std::unique_ptr<proxy::ResponseChannel> channel_;
  std::thread worker_;
};

ProxyReader* AsReader(OrthancPluginServerChunkedRequestReader* reader) {
  return reinterpret_cast<ProxyReader*>(reader);
}

// The chunked-reader callbacks: each behind the exception barrier (an escaping exception is logged
// as GW-500 and reported to Orthanc as an internal error).
OrthancPluginErrorCode CreateReader(OrthancPluginServerChunkedRequestReader** reader, const char*,
                                    const OrthancPluginHttpRequest* request) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    // A refused request still gets a reader, so the refusal is answered with its error body in
    // Execute (the body is read and dropped meanwhile).
    auto created = std::make_unique<ProxyReader>(State(), Read(request));
    created->Start();
    *reader = reinterpret_cast<OrthancPluginServerChunkedRequestReader*>(created.release());
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode AddChunk(OrthancPluginServerChunkedRequestReader* reader, const void* data,
                                uint32_t size) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    AsReader(reader)->AddChunk(data, size);
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode Execute(OrthancPluginServerChunkedRequestReader* reader,
                               OrthancPluginRestOutput* output) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError,
               [&] { return AsReader(reader)->Execute(output); });
}

void FinalizeReader(OrthancPluginServerChunkedRequestReader* reader) noexcept {
  GuardVoid("proxy", " releasing a request", [&] { delete AsReader(reader); });
}

Error ConfigError(const std::string& server, const std::string& key, const std::string& why) {
  return MakeError("CFG-002", "DicomWebOAuth.Servers." + server + "." + key + ": " + why, 500);
}

// A value of DicomWeb.Servers.<name> carried over as a DICOMweb user property (string form).
std::optional<std::string> PropertyText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsBool()) return std::string(v.GetBool() ? "1" : "0");
  if (v.IsInt()) return std::to_string(v.GetInt());
  return std::nullopt;
}

std::optional<bool> PropertyBool(const rapidjson::Value& object, const char* key) {
  auto it = object.FindMember(key);
  if (it == object.MemberEnd()) return std::nullopt;
  if (it->value.IsBool()) return it->value.GetBool();
  if (it->value.IsString()) {
    const std::string s = it->value.GetString();
    if (s == "1" || s == "true") return true;
    if (s == "0" || s == "false") return false;
  }
  return std::nullopt;
}

proxy::DicomWebDefinition BuildDefinition(const config::GatewayConfig& config, const config::ServerConfig& server,
                                          const proxy::LoopbackSecret& secret) {
  proxy::DicomWebDefinition d;
  d.url = proxy::LoopbackUrl(config.orthanc.httpPort, server.name);
  d.httpHeaders[proxy::kLoopbackSecretHeader] = secret.Value();
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
    const bool pointsHere = proxy::IsLoopbackRouteUrl(def.url, server.name);
    if (pointsHere && d.username.empty() && d.password.empty()) {
      // A Python-plugin configuration: DicomWeb.Servers.<name> already targets the route, with
      // the Orthanc credentials it needs. Keep them.
      d.username = def.username;
      d.password = def.password;
    }
    if (def.raw && def.raw->IsObject()) {
      const rapidjson::Value& raw = *def.raw;
      if (!d.hasDelete) d.hasDelete = PropertyBool(raw, "HasDelete");
      if (!d.chunkedTransfers) d.chunkedTransfers = PropertyBool(raw, "ChunkedTransfers");
      if (!d.timeoutSeconds) {
        auto t = raw.FindMember("Timeout");
        if (t != raw.MemberEnd() && t->value.IsInt() && t->value.GetInt() > 0) d.timeoutSeconds = t->value.GetInt();
      }
      for (auto m = raw.MemberBegin(); m != raw.MemberEnd(); ++m) {
        const std::string key(m->name.GetString(), m->name.GetStringLength());
        if (proxy::DicomWebDefinition::IsOwnedKey(key)) continue;
        if (auto text = PropertyText(m->value)) d.userProperties[key] = *text;
      }
    }
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

Status RegisterProxy(const config::GatewayConfig& config, std::shared_ptr<proxy::ICredentialSource> credentials,
                     const policy::PolicyEngine* policies, MetricsRegistry* metrics) {
  auto state = std::make_shared<ProxyState>();
  state->policies = policies;
  state->limiter = service::ServerRateLimiter::Create(config, service::ServerRateLimiter::Stage::Upstream, metrics);
  bool anyProxy = false;
  for (const auto& [name, server] : config.servers) {
    if (server.mode != config::ServerMode::Proxy) continue;
    anyProxy = true;
    auto upstream = proxy::UpstreamUrl::FromBase(server.url);
    if (!upstream) return ConfigError(name, "Url", upstream.GetError().message);
    http::Headers extra;
    for (const auto& [header, value] : server.httpHeaders) {
      if (proxy::HeaderPolicy::IsReservedHeader(header)) {
        return ConfigError(name, "HttpHeaders", "'" + header + "' cannot be set (the proxy owns it)");
      }
      extra.emplace_back(header, value);
    }
    auto secret = proxy::LoopbackSecret::Generate();
    if (!secret) return secret.GetError();

    http::TlsOptions tls;
    tls.verifyPeer = server.verifySsl;
    tls.caBundle = server.caBundle;
    tls.clientCertificate = server.certificateFile;
    tls.clientKey = server.certificateKeyFile;
    tls.clientKeyPassword = server.certificateKeyPassword;

    std::chrono::milliseconds idle = kDefaultIdleTimeout;
    if (server.timeoutSeconds && *server.timeoutSeconds > 0) idle = std::chrono::seconds(*server.timeoutSeconds);

    state->definitions.emplace(name, BuildDefinition(config, server, secret.Value()));
    ServerRouting routing;
    routing.policies = server.policies;
    routing.config = server.policyConfig;
    for (const auto& target : server.targets) {
      auto base = proxy::UpstreamUrl::FromBase(target.url);
      if (!base) return ConfigError(name, "Targets", target.name + ": " + base.GetError().message);
      routing.targets.emplace_back(target.name, std::move(base).Value());
    }
    if (routing.targets.empty()) routing.targets.emplace_back("primary", upstream.Value());
    routing.health = std::make_shared<policy::TargetHealth>(routing.targets.size(),
                                                            std::chrono::seconds(server.failoverCooldownSeconds));
    const auto& definition = state->definitions.at(name);
    if (!definition.username.empty() || !definition.password.empty()) {
      routing.expectedAuthorization = "Basic " + crypto::Base64Encode(definition.username + ":" + definition.password);
    }
    state->routing.emplace(name, std::move(routing));
    proxy::ServerRoute route{name, std::move(upstream).Value(), std::move(secret).Value(), tls,
                             std::move(extra), std::chrono::milliseconds(10000), idle, false, {}};
    // A credential that signs the body (SigV4) needs its hash first: bodies are spooled.
    route.spoolBody = credentials && credentials->NeedsPayloadHash(name);
    route.spoolDirectory = config.global.spoolDirectory;
    state->routes.emplace(name, std::move(route));
  }
  if (anyProxy && config.orthanc.dicomWebServersInDatabase && !config.global.allowInjectWithServersInDatabase) {
    return MakeError("CFG-002",
                     "DicomWeb.ServersInDatabase is true: the loopback definitions of proxy-mode servers (with their "
                     "per-start secret) would be written to the Orthanc database; set "
                     "DicomWebOAuth.AllowInjectWithServersInDatabase to true to accept that",
                     500);
  }
  state->credentials = std::move(credentials);
  state->client = std::make_shared<proxy::UpstreamClient>();
  state->forwarder = std::make_unique<proxy::Forwarder>(state->credentials, state->client);

  LoadDicomWebRoot();
  OrthancPluginRegisterChunkedRestCallback(Context(), kRouteRegex, &HandleWithoutBody, &CreateReader,
                                           &HandleWithoutBody, &CreateReader, &AddChunk, &Execute, &FinalizeReader);
  const size_t count = state->routes.size();
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_state = std::move(state);
  }
  LogInfo("proxy: route /oauth-dicom-web/servers/{name}/ registered for " + std::to_string(count) +
          " server(s) in proxy mode");
  return Status::Success();
}

void OnOrthancStarted() {
  auto state = State();
  if (!state) return;
  for (const auto& [name, definition] : state->definitions) {
    Status written = WriteDicomWebServer(name, definition);
    if (!written) {
      LogError("proxy: " + written.GetError().ToString());
      continue;
    }
    LogInfo("proxy: DICOMweb server '" + name + "' now goes through the gateway (" + definition.url + ")");
  }
}

std::optional<proxy::DicomWebDefinition> ProxyDefinition(const std::string& server) {
  const auto state = State();
  if (!state) return std::nullopt;
  const auto it = state->definitions.find(server);
  if (it == state->definitions.end()) return std::nullopt;
  return it->second;
}

void SetProxyMetrics(MetricsRegistry* registry) {
  auto metrics = std::make_shared<ProxyMetrics>();
  metrics->registry = registry;
  if (registry != nullptr) {
    std::vector<std::string> servers{kUnknownServer};
    if (auto state = State()) {
      for (const auto& [name, route] : state->routes) servers.push_back(name);
    }
    // Every series exists from the start (0): a rate over a series that appears with its first
    // 5xx would miss that one.
    static const char* kClasses[6] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
    static const std::vector<double> kBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                             2.5,   5,    10,    30,   60,  120, 300};
    for (const auto& server : servers) {
      ServerMetrics& m = metrics->servers[server];
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
    }
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  g_metrics = std::move(metrics);
}

void SetProxyAudit(std::shared_ptr<audit::IAuditSink> sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_audit = std::move(sink);
}

std::shared_ptr<const policy::TargetHealth> ProxyTargetHealth(const std::string& server) {
  const auto state = State();
  if (!state) return nullptr;
  const auto it = state->routing.find(server);
  return it == state->routing.end() ? nullptr : it->second.health;
}

void ShutdownProxy() {
  std::shared_ptr<ProxyState> state;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    state.swap(g_state);
    g_audit.reset();
    g_metrics.reset();
  }
  // Requests still running hold their own reference; Orthanc has stopped serving HTTP when
  // Finalize calls this, so `state` is normally the last one and releases the credential source here.
}

}  // namespace gw::plugin
