#include "InjectGlue.h"

#include <strings.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <set>
#include <vector>
#include <thread>

#include "DicomWebServers.h"
#include "OrthancGlue.h"
#include "PolicyAudit.h"
#include "ProxyRoute.h"
#include "gw/audit/IAuditSink.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/common/TraceContext.h"
#include "gw/service/Health.h"
#include "gw/crypto/Encoding.h"
#include "gw/policy/PolicyRequest.h"
#include "gw/proxy/ClientUri.h"
#include "gw/service/InjectMode.h"
#include "gw/service/RateGate.h"

namespace gw::plugin {
namespace {

std::unique_ptr<service::InjectMode> g_inject;
service::Gateway* g_gateway = nullptr;  // set with g_inject; outlives it
std::shared_ptr<audit::IAuditSink> g_audit;  // set with g_inject, never null while it is
// RateLimitRequests at the client stage (docs/operations.md#rate-limits); null without a limit.
std::unique_ptr<service::ServerRateLimiter> g_clientLimit;

// client.request: a DICOMweb client call the filter handled (inject mode, client-stage policies),
// let through or refused. `decision`: what the client-stage policies decided, null when none ran.
// `trace`: the call's trace context (ClientTrace), its trace id goes into the record.
void AuditClientCall(OrthancPluginHttpMethod method, const char* uri, const std::string& server, const Error* refused,
                     const TraceContext& trace, const policy::Decision* decision = nullptr) {
  if (!g_audit) return;
  audit::AuditEvent event("client.request", server);
  event.traceId = trace.traceId;
  event.Set("method", MethodName(method));
  event.Set("uri", uri);
  event.Set("outcome", refused ? "denied" : "allowed");
  if (refused) {
    event.Set("code", refused->code);
    event.Set("reason", refused->message);
  }
  // No target: the client stage cannot route (the DICOMweb plugin uses the server's own definition).
  if (decision) SetDecisionFields(event, *decision, true);
  g_audit->Record(std::move(event));
}

// job.resubmitted: what the gateway did about a DICOMweb job refused for bad credentials.
void AuditJob(const std::string& jobId, std::string_view jobType, int functionError,
              const std::vector<std::string>& servers, bool resubmitted, const std::string& code,
              const std::string& reason) {
  if (!g_audit) return;
  audit::AuditEvent event("job.resubmitted", servers.empty() ? "" : servers.front());
  event.Set("job", jobId);
  event.Set("jobType", jobType);
  event.Set("functionError", static_cast<int64_t>(functionError));
  event.Set("servers", servers);
  event.Set("resubmitted", resubmitted);
  if (!code.empty()) event.Set("code", code);
  if (!reason.empty()) event.Set("reason", reason);
  g_audit->Record(std::move(event));
}

std::mutex g_resubmitMutex;
std::set<std::string> g_resubmitted;  // jobs already resubmitted once

// Orthanc calls on-change callbacks while holding internal locks (job events are signalled under
// the jobs registry lock): calling its REST API from there deadlocks (GET /jobs/{id} from a
// JobFailure callback hung every later /jobs call). Change handlers therefore only queue work for
// this thread, which makes the REST calls. It also runs a periodic task (the definitions check)
// whenever no work is queued for a whole period.
class Worker {
 public:
  void Start(std::function<void()> tick, std::chrono::milliseconds period) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stop_ = false;
    tick_ = std::move(tick);
    period_ = period;
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    auto next = std::chrono::steady_clock::now() + period_;
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait_until(lock, next, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        if (!tasks_.empty()) {
          task = std::move(tasks_.front());
          tasks_.pop_front();
        } else {
          task = tick_;
          next = std::chrono::steady_clock::now() + period_;
        }
      }
      if (!task) continue;
      try {
        task();
      } catch (const std::exception& e) {
        LogError(std::string("GW-500 inject mode worker: ") + e.what());
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::function<void()> tick_;
  std::chrono::milliseconds period_{std::chrono::hours(1)};
  std::thread thread_;
};

Worker g_worker;

// When the filter last saw a DICOMweb client call per inject-mode server. DICOMweb 1.7 jobs do not
// record their server, so a job refused for bad credentials is attributed to the servers used
// within the last kJobAttributionWindow.
constexpr std::chrono::hours kJobAttributionWindow{6};
std::mutex g_callsMutex;
std::map<std::string, std::chrono::steady_clock::time_point> g_lastCall;

class OrthancDefinitionWriter : public service::IDefinitionWriter {
 public:
  Status Write(const std::string& server, const proxy::DicomWebDefinition& definition) override {
    return WriteDicomWebServer(server, definition);
  }
};

// Incoming-request filter: before a DICOMweb client call on an inject-mode server starts, make sure
// the definition holds a token that outlives the operation by the server's refresh buffer. Fails
// closed: without a usable token the call is refused (Orthanc answers 403) with the reason logged.
// The Orthanc user of a request, from its Basic credentials, only when AuthenticationEnabled is
// true (Orthanc then has verified them before any filter runs; Filter2 is not given the user).
// Otherwise "" so that user-based policies fail closed.
std::string TrustedUser(const http::Headers& headers) {
  if (!g_gateway || !g_gateway->Config().orthanc.authenticationEnabled) return {};
  for (const auto& [name, value] : headers) {
    if (strcasecmp(name.c_str(), "authorization") != 0 || value.size() < 6 || strncasecmp(value.c_str(), "basic ", 6) != 0) {
      continue;
    }
    auto decoded = crypto::Base64Decode(std::string_view(value).substr(6));
    if (!decoded) return {};
    const size_t colon = decoded.Value().find(':');
    return colon == std::string::npos ? std::string() : decoded.Value().substr(0, colon);
  }
  return {};
}

bool HasPolicies(const std::string& server) {
  const auto it = g_gateway->Config().servers.find(server);
  return it != g_gateway->Config().servers.end() && !it->second.policies.empty();
}

// Routing policies at the client stage (docs/policies.md): their combined decision (allowed or
// not, the minimum token lifetime they ask for), or nothing when the server has no policies.
std::optional<policy::Decision> ClientPolicies(OrthancPluginHttpMethod method, const char* uri, const char* ip,
                                               uint32_t headersCount, const char* const* headersKeys,
                                               const char* const* headersValues, uint32_t getCount,
                                               const char* const* getKeys, const char* const* getValues,
                                               const std::string& server, const std::string& operation) {
  const auto it = g_gateway->Config().servers.find(server);
  if (it == g_gateway->Config().servers.end() || it->second.policies.empty()) return std::nullopt;
  const config::ServerConfig& cfg = it->second;
  http::Headers headers;
  for (uint32_t i = 0; i < headersCount; ++i) headers.emplace_back(headersKeys[i], headersValues[i]);
  std::vector<std::pair<std::string, std::string>> query;
  for (uint32_t i = 0; i < getCount; ++i) query.emplace_back(getKeys[i], getValues[i]);
  const std::string user = TrustedUser(headers);
  const std::string_view path(uri);
  policy::PolicyRequest request;
  request.stage = policy::Stage::Client;
  request.server = server;
  request.mode = config::ToString(cfg.mode);
  request.method = MethodName(method);
  request.path = path;
  request.operation = operation;
  request.headers = &headers;
  request.query = &query;
  request.user = user;
  request.ip = ip ? ip : "";
  for (const auto& t : cfg.targets) request.targets.push_back({t.name, t.url, true});
  request.config = cfg.policyConfig.get();
  policy::Decision d = g_gateway->Policies().Decide(cfg.policies, request);
  CountPolicyDecision(&g_gateway->Metrics(), "client", server, d);
  LogDebug("policies (client stage) of '" + server + "' " + (d.allow ? "allowed " : "refused ") + MethodName(method) + " " +
           uri + (user.empty() ? std::string(" (no authenticated user)") : " for user '" + user + "'"));
  return d;
}

// Refuses a request the filter cannot let through: logged with its code (Orthanc answers a bare 403)
// and audited.
// `what`: who refuses ("policies (client stage)", "inject mode", "request filter").
int32_t Refuse(const char* what, OrthancPluginHttpMethod method, const char* uri, const std::string& server,
               const Error& refused, const TraceContext& trace, const policy::Decision* decided = nullptr) {
  LogEvent line;
  line.level = refused.httpStatus >= 500 ? LogLevel::Error : LogLevel::Warning;
  line.event = "client.request";
  line.code = refused.code;
  line.server = server;
  line.requestId = trace.parentId;
  line.traceId = trace.traceId;
  line.outcome = "denied";
  line.status = 403;
  line.message = std::string(what) + ": refusing " + uri + " (" + MethodName(method) + ", HTTP " +
                 std::to_string(refused.httpStatus) + " answered as 403): " + refused.ToString();
  Log(line);
  AuditClientCall(method, uri, server, &refused, trace, decided);
  return 0;
}

// The trace context of a DICOMweb client call: the caller's `traceparent` continued (its trace id,
// a new span id for the gateway's part), or a new trace. In inject mode the gateway sends nothing
// upstream itself (docs/inject-mode.md, "Trace context"): the trace id ties the call's log line and
// audit record together, and to the upstream when the caller also puts the same traceparent into
// the call's HttpHeaders.
TraceContext ClientTrace(uint32_t headersCount, const char* const* headersKeys, const char* const* headersValues) {
  for (uint32_t i = 0; i < headersCount; ++i) {
    if (strcasecmp(headersKeys[i], "traceparent") == 0) return TraceContext::Continue(TraceContext::Parse(headersValues[i]));
  }
  return TraceContext::Start();
}

// The servers whose DICOMweb definition the gateway writes: proxy mode (the loopback definition)
// and inject mode (the token).
bool OwnsDefinition(const std::string& server) {
  if (g_inject && g_inject->Manages(server)) return true;
  const auto it = g_gateway->Config().servers.find(server);
  return it != g_gateway->Config().servers.end() && it->second.mode == config::ServerMode::Proxy;
}

// Servers whose client calls the filter acts on (refresh, policies) or whose definition it guards.
bool Protects(const std::string& server) {
  return OwnsDefinition(server) || HasPolicies(server);
}

// The server's rate limit at the client stage, for a call about to be let through: the refusal
// (PXY-015) when its budget is used up. Orthanc 1.10.1 lets a filter answer nothing but a bare 403:
// the code and the wait reach the log and the audit record, not the caller.
std::optional<Error> OverClientLimit(const std::string& server) {
  if (!g_clientLimit) return std::nullopt;
  auto refused = g_clientLimit->TryPass(server);
  if (!refused) return std::nullopt;
  refused->error.httpStatus = 429;  // what it means: logged as "HTTP 429 answered as 403", a warning
  return std::move(refused->error);
}

int32_t Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
               const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
               const char* const* getKeys, const char* const* getValues) {
  if (!g_gateway) return 1;
  try {
    // The probe user (Health.ProbeUser) reaches the health routes and nothing else.
    const std::string& probeUser = g_gateway->Config().global.health.probeUser;
    if (!probeUser.empty()) {
      for (uint32_t i = 0; i < headersCount; ++i) {
        if (std::string_view(headersKeys[i]) != "authorization") continue;
        if (service::IsProbeUser(headersValues[i], probeUser) &&
            !(method == OrthancPluginHttpMethod_Get && service::IsHealthRoute(uri))) {
          LogWarning(std::string("GW-403 refusing ") + uri + ": the probe user '" + probeUser +
                     "' may only call /dicomweb-oauth/health/{live,ready,startup}");
          return 0;
        }
      }
    }
    // Classified as Orthanc routes it: spelling variants of a URI (trailing '/', "%2F", "//", "%67et"
    // ...) reach the same DICOMweb handler, so they must meet the same checks (ClientUri.h).
    const proxy::ClientUri call = proxy::ClientUri::Classify(uri, DicomWebRoot());
    switch (call.kind) {
      case proxy::ClientUri::Kind::Other:
      case proxy::ClientUri::Kind::ServerList:
        return 1;
      case proxy::ClientUri::Kind::Unclassifiable:
        // Known servers the gateway leaves alone keep Orthanc's own answer; anything else is refused.
        if (g_gateway->Config().servers.count(call.server) > 0 && !Protects(call.server)) return 1;
        return Refuse("request filter", method, uri, call.server,
                      MakeError("PXY-012",
                                "a URI that looks meant for the DICOMweb servers routes but is no spelling Orthanc "
                                "routes unambiguously",
                                403),
                      ClientTrace(headersCount, headersKeys, headersValues));
      case proxy::ClientUri::Kind::Definition:
        // The definitions the gateway writes are its own: a PUT would re-point the server (with the
        // token or the loopback secret), a DELETE would remove it. Orthanc applies method overrides
        // before the filter, so `method` is the one the DICOMweb plugin will see.
        if ((method == OrthancPluginHttpMethod_Put || method == OrthancPluginHttpMethod_Delete) &&
            OwnsDefinition(call.server)) {
          return Refuse("request filter", method, uri, call.server,
                        MakeError("PXY-013",
                                  "the DICOMweb definition of '" + call.server +
                                      "' belongs to the gateway (DicomWebOAuth.Servers): change it there",
                                  403),
                        ClientTrace(headersCount, headersKeys, headersValues));
        }
        return 1;
      case proxy::ClientUri::Kind::Operation:
        break;
    }
    if (method != OrthancPluginHttpMethod_Post && method != OrthancPluginHttpMethod_Get) return 1;
    const std::string& server = call.server;
    // Inject-mode servers get their token refreshed here; servers of either mode with routing
    // policies get those checked here (the client stage, where the Orthanc user is known).
    const bool injected = g_inject && g_inject->Manages(server);
    if (!injected && !HasPolicies(server)) {
      // Proxy mode without policies: only the rate limit applies here (the route checks the rest).
      if (auto over = OverClientLimit(server)) return Refuse("rate limit (client stage)", method, uri, server, *over);
      return 1;
    }
    if (injected) {
      std::lock_guard<std::mutex> lock(g_callsMutex);
      g_lastCall[server] = std::chrono::steady_clock::now();
    }
    const TraceContext trace = ClientTrace(headersCount, headersKeys, headersValues);
    if (g_audit && !g_audit->Accepting()) {
      return Refuse(injected ? "inject mode" : "policies (client stage)", method, uri, server,
                    MakeError("AUD-005", "the audit trail cannot be written and Audit.FailClosed is set", 503), trace);
    }
    // Orthanc answers a refusal with a bare 403: the policy's code and reason go to the log.
    const auto decision = ClientPolicies(method, uri, ip, headersCount, headersKeys, headersValues, getCount, getKeys,
                                         getValues, server, call.operation);
    const policy::Decision* decided = decision ? &*decision : nullptr;
    if (decided && !decided->allow) {
      return Refuse("policies (client stage)", method, uri, server,
                    MakeError(decided->code, decided->reason, decided->status), trace, decided);
    }
    // Counted once the policies allowed the call: a refused call takes nothing from the budget.
    if (auto over = OverClientLimit(server)) {
      return Refuse("rate limit (client stage)", method, uri, server, *over, decided);
    }
    if (injected) {
      const std::chrono::seconds minToken = decided ? decided->minTokenSeconds : std::chrono::seconds(0);
      Status fresh = g_inject->EnsureFresh(server, minToken, std::chrono::milliseconds(15000));
      if (!fresh.Ok()) return Refuse("inject mode", method, uri, server, fresh.GetError(), trace, decided);
    }
    if (LogEnabled(LogLevel::Debug)) {
      LogEvent line;
      line.level = LogLevel::Debug;
      line.event = "client.request";
      line.server = server;
      line.requestId = trace.parentId;
      line.traceId = trace.traceId;
      line.outcome = "allowed";
      line.message = std::string(injected ? "inject mode" : "policies (client stage)") + ": " + MethodName(method) +
                     " " + uri + " let through";
      Log(line);
    }
    AuditClientCall(method, uri, server, nullptr, trace, decided);
    return 1;
  } catch (const std::exception& e) {
    LogError(std::string("filter error on ") + uri + ": " + e.what());
    return 0;
  }
}

// How often the definitions the gateway owns are compared with what the DICOMweb plugin holds.
constexpr std::chrono::seconds kDefinitionCheckPeriod{10};

// definition.restored: a definition the gateway owns had drifted and was written again.
void AuditRestored(const std::string& server, const std::string& drift, const Status& written) {
  if (!g_audit) return;
  audit::AuditEvent event("definition.restored", server);
  event.Set("reason", drift);
  event.Set("outcome", written.Ok() ? "restored" : "failed");
  if (!written.Ok()) event.Set("code", written.GetError().code);
  g_audit->Record(std::move(event));
}

// The incoming filter refuses PUT/DELETE of the definitions the gateway owns, but a definition can
// still change without passing it (an Orthanc Lua script's RestApiPut, another plugin's
// CallRestApi, a database shared with another Orthanc under ServersInDatabase). Runs on the worker:
// compares what GET {Root}servers?expand shows with what the gateway wrote and writes it again
// where they differ (PXY-014 in the log).
void RestoreDefinitions() {
  if (!g_gateway) return;
  std::vector<std::string> owned;
  for (const auto& [name, server] : g_gateway->Config().servers) {
    if (OwnsDefinition(name)) owned.push_back(name);
  }
  if (owned.empty()) return;
  const RestAnswer list = CallOrthanc(OrthancPluginHttpMethod_Get, DicomWebRoot() + "servers?expand");
  if (list.status != 200) return;  // the DICOMweb plugin is not there: nothing can drift
  auto doc = json::Parse(list.body, "PXY-014");
  if (!doc.Ok() || !doc.Value().IsObject()) return;
  for (const auto& name : owned) {
    const bool injected = g_inject && g_inject->Manages(name);
    std::optional<proxy::DicomWebDefinition> expected;
    if (injected) {
      if (!g_inject->Written(name)) continue;  // no token written yet: nothing to restore
      expected = g_inject->BuildDefinition(name, "");
    } else {
      expected = ProxyDefinition(name);
      if (!expected) continue;
    }
    const auto member = doc.Value().FindMember(name.c_str());
    const auto drift = expected->DriftFrom(member == doc.Value().MemberEnd() ? nullptr : &member->value);
    if (!drift) continue;
    const Status written = injected ? g_inject->Restore(name) : WriteDicomWebServer(name, *expected);
    if (written.Ok()) {
      LogWarning("PXY-014 the DICOMweb definition of '" + name + "' was changed outside the gateway (" + *drift +
                 "): written again");
    } else {
      LogError("PXY-014 the DICOMweb definition of '" + name + "' was changed outside the gateway (" + *drift +
               ") and cannot be written again: " + written.GetError().ToString());
    }
    AuditRestored(name, *drift, written);
  }
}

}  // namespace

RestAnswer CallOrthanc(OrthancPluginHttpMethod method, const std::string& uri, const std::string& body) {
  OrthancPluginMemoryBuffer answer{};
  OrthancPluginMemoryBuffer headers{};
  uint16_t status = 0;
  RestAnswer out;
  OrthancPluginErrorCode code =
      OrthancPluginCallRestApi(Context(), &answer, &headers, &status, method, uri.c_str(), 0, nullptr, nullptr,
                               body.data(), static_cast<uint32_t>(body.size()), 1);
  if (code == OrthancPluginErrorCode_Success) {
    out.status = status;
    if (answer.data) out.body.assign(static_cast<const char*>(answer.data), answer.size);
  }
  if (answer.data) OrthancPluginFreeMemoryBuffer(Context(), &answer);
  if (headers.data) OrthancPluginFreeMemoryBuffer(Context(), &headers);
  return out;
}

void InstallInjectMode(service::Gateway& gateway) {
  auto inject = std::make_unique<service::InjectMode>(gateway, std::make_shared<OrthancDefinitionWriter>());
  bool anyPolicies = false;
  bool anyProxy = false;
  for (const auto& [name, server] : gateway.Config().servers) {
    anyPolicies = anyPolicies || !server.policies.empty();
    anyProxy = anyProxy || server.mode == config::ServerMode::Proxy;
  }
  // The filter serves inject mode, the client stage of routing policies (any mode), guards the
  // definitions the gateway writes (inject and proxy mode) and confines the probe user.
  const bool probeUser = !gateway.Config().global.health.probeUser.empty();
  if (inject->Servers().empty() && !anyPolicies && !anyProxy && !probeUser) return;
  LoadDicomWebRoot();  // the filter matches calls under DicomWeb.Root
  g_audit = gateway.AuditSink();
  g_gateway = &gateway;
  g_clientLimit = service::ServerRateLimiter::Create(gateway.Config(), service::ServerRateLimiter::Stage::Client,
                                                     &gateway.Metrics());
  if (!inject->Servers().empty()) {
    g_inject = std::move(inject);
    gateway.SetTokenListener([](const std::string& server) {
      // Token engine threads never call into Orthanc themselves: the worker writes the definition.
      g_worker.Post([server] {
        if (g_inject) g_inject->OnNewToken(server);
      });
    });
    LogInfo("inject mode: " + std::to_string(g_inject->Servers().size()) + " server(s)");
  }
  OrthancPluginRegisterIncomingHttpRequestFilter2(Context(), Filter);
}

void UninstallInjectMode() {
  g_worker.Stop();
  g_gateway = nullptr;
  g_inject.reset();
  g_clientLimit.reset();
  g_audit.reset();
}

void InjectOnOrthancStarted() {
  if (!g_gateway) return;
  g_worker.Start(RestoreDefinitions, kDefinitionCheckPeriod);
  if (g_inject) g_worker.Post([] { g_inject->Start(); });
}

namespace {

// A DICOMweb client job failed: if it was refused for bad credentials on one of our inject-mode
// servers, renew the token and resubmit the job, once per job. Runs on the worker thread.
void HandleJobFailure(const std::string& jobId) {
  RestAnswer job = CallOrthanc(OrthancPluginHttpMethod_Get, "/jobs/" + jobId);
  if (job.status != 200) return;
  auto doc = json::Parse(job.body, "INJ-002");
  if (!doc.Ok() || !doc.Value().IsObject()) return;
  const auto& j = doc.Value();
  auto type = j.FindMember("Type");
  if (type == j.MemberEnd() || !type->value.IsString() ||
      std::string_view(type->value.GetString()).rfind("DicomWeb", 0) != 0) {
    return;
  }
  // Orthanc's ErrorCode_Unauthorized (29) is what a refused STOW reports. A WADO-RS retrieve
  // refused with a JSON 401 body fails earlier, with ErrorCode_NetworkProtocol (9), because
  // DICOMweb 1.7 parses the body's Content-Type before the status. Both renew the token.
  auto content = j.FindMember("Content");
  if (content == j.MemberEnd() || !content->value.IsObject()) return;
  auto code = content->value.FindMember("FunctionErrorCode");
  if (code == content->value.MemberEnd() || !code->value.IsInt()) return;
  const int functionError = code->value.GetInt();
  if (functionError != 29 && functionError != 9) return;
  const std::string_view jobType = type->value.GetString();
  // Error 9 also is every network failure (an upstream 503, a reset, an upstream Orthanc that went
  // away), of any server's job, proxy mode included. Only a retrieve reports a refused credential
  // that way; a refused STOW reports 29. Dropping the still-valid token of every inject-mode server
  // on a STOW's network failure cost an IdP call each time and, with the IdP down, turned an upstream
  // hiccup into refused calls (403) until the IdP was back (found by the soak run).
  if (functionError == 9 && jobType != "DicomWebWadoRetrieveClient") return;

  std::vector<std::string> servers;
  {
    std::lock_guard<std::mutex> lock(g_callsMutex);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [server, at] : g_lastCall) {
      if (now - at <= kJobAttributionWindow) servers.push_back(server);
    }
  }
  if (servers.empty()) return;
  {
    std::lock_guard<std::mutex> lock(g_resubmitMutex);
    if (!g_resubmitted.insert(jobId).second) return;
  }
  std::string names;
  for (const auto& s : servers) names += (names.empty() ? "" : ", ") + s;
  {
    LogEvent line;
    line.level = LogLevel::Warning;
    line.event = "job.failed";
    line.jobId = jobId;
    line.server = servers.size() == 1 ? servers.front() : std::string();
    line.message = "inject mode: DICOMweb job " + jobId + " (" + std::string(jobType) + ") failed (error " +
                   std::to_string(functionError) + "); renewing the token of " + names;
    Log(line);
  }
  for (const auto& server : servers) {
    g_inject->CredentialRejected(server);
    Status fresh = g_inject->EnsureFresh(server, std::chrono::seconds(0), std::chrono::milliseconds(15000));
    if (!fresh.Ok()) {
      LogError("inject mode: cannot renew the token of '" + server + "': " + fresh.GetError().ToString());
      AuditJob(jobId, jobType, functionError, servers, false, fresh.GetError().code,
               "the token could not be renewed: " + fresh.GetError().message);
      return;
    }
  }
  // DICOMweb 1.7 resubmits a STOW client job with an empty body and reports success (measured: a
  // 77-byte multipart reached the upstream, nothing was stored). Resubmitting it would hide a
  // failed upload, so STOW jobs stay failed, loudly; the renewed token serves the next attempt.
  if (jobType == "DicomWebStowClient") {
    LogEvent line;
    line.level = LogLevel::Error;
    line.event = "job.resubmitted";
    line.code = "INJ-003";
    line.jobId = jobId;
    line.outcome = "not-resubmitted";
    line.message = "INJ-003 inject mode: STOW job " + jobId +
                   " failed with bad credentials; the token was renewed, but DICOMweb 1.7 cannot resubmit a STOW "
                   "job (it would send nothing): send the resources again";
    Log(line);
    AuditJob(jobId, jobType, functionError, servers, false, "INJ-003",
             "token renewed; DICOMweb 1.7 cannot resubmit a STOW job");
    return;
  }
  // Only retrieves are replayed: they are idempotent (the same instances are fetched again).
  if (jobType != "DicomWebWadoRetrieveClient") {
    AuditJob(jobId, jobType, functionError, servers, false, "", "token renewed; only retrieve jobs are resubmitted");
    return;
  }
  LogWarning("inject mode: resubmitting job " + jobId + " once with the renewed token");
  RestAnswer r = CallOrthanc(OrthancPluginHttpMethod_Post, "/jobs/" + jobId + "/resubmit", "{}");
  if (r.status != 200) LogError("inject mode: resubmitting job " + jobId + " answered " + std::to_string(r.status));
  AuditJob(jobId, jobType, functionError, servers, r.status == 200, r.status == 200 ? "" : "INJ-004",
           "POST /jobs/" + jobId + "/resubmit answered " + std::to_string(r.status));
}

}  // namespace

void InjectOnJobFailure(const std::string& jobId) {
  if (!g_inject) return;
  g_worker.Post([jobId] { HandleJobFailure(jobId); });
}

}  // namespace gw::plugin
