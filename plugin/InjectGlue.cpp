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
#include "gw/audit/IAuditSink.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/crypto/Encoding.h"
#include "gw/policy/PolicyRequest.h"
#include "gw/service/InjectMode.h"

namespace gw::plugin {
namespace {

std::unique_ptr<service::InjectMode> g_inject;
service::Gateway* g_gateway = nullptr;  // set with g_inject; outlives it
std::shared_ptr<audit::IAuditSink> g_audit;  // set with g_inject, never null while it is

// client.request: a DICOMweb client call the filter handled (inject mode, client-stage policies),
// let through or refused. `decision`: what the client-stage policies decided, null when none ran.
void AuditClientCall(OrthancPluginHttpMethod method, const char* uri, const std::string& server, const Error* refused,
                     const policy::Decision* decision = nullptr) {
  if (!g_audit) return;
  audit::AuditEvent event("client.request", server);
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
// this thread, which makes the REST calls.
class Worker {
 public:
  void Start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable()) return;
    stop_ = false;
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
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
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

// Parses "<prefix><name>/<operation>" for the DICOMweb client operations that use the server's
// credential. Returns the server name or "".
std::string ServerOfClientCall(std::string_view uri) {
  // Runs for every HTTP request Orthanc serves: compare in place, allocate nothing.
  const std::string& root = DicomWebRoot();
  constexpr std::string_view kServers = "servers/";
  if (uri.compare(0, root.size(), root) != 0) return {};
  uri.remove_prefix(root.size());
  if (uri.compare(0, kServers.size(), kServers) != 0) return {};
  uri.remove_prefix(kServers.size());
  const size_t slash = uri.find('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  const std::string_view op = uri.substr(slash + 1);
  static const char* kOps[] = {"stow", "retrieve", "get", "post", "qido", "delete", "wado"};
  for (const char* k : kOps) {
    if (op == k) return std::string(uri.substr(0, slash));
  }
  return {};
}

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
                                               const std::string& server) {
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
  request.operation = path.substr(path.rfind('/') + 1);  // ServerOfClientCall checked it
  request.headers = &headers;
  request.query = &query;
  request.user = user;
  request.ip = ip ? ip : "";
  for (const auto& t : cfg.targets) request.targets.push_back({t.name, t.url, true});
  request.config = cfg.policyConfig.get();
  policy::Decision d = g_gateway->Policies().Decide(cfg.policies, request);
  LogDebug("policies (client stage) of '" + server + "' " + (d.allow ? "allowed " : "refused ") + MethodName(method) + " " +
           uri + (user.empty() ? std::string(" (no authenticated user)") : " for user '" + user + "'"));
  return d;
}

int32_t Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
               const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
               const char* const* getKeys, const char* const* getValues) {
  if (!g_gateway || (method != OrthancPluginHttpMethod_Post && method != OrthancPluginHttpMethod_Get)) return 1;
  try {
    const std::string server = ServerOfClientCall(uri);
    if (server.empty()) return 1;
    // Inject-mode servers get their token refreshed here; servers of either mode with routing
    // policies get those checked here (the client stage, where the Orthanc user is known).
    const bool injected = g_inject && g_inject->Manages(server);
    if (!injected && !HasPolicies(server)) return 1;
    if (injected) {
      std::lock_guard<std::mutex> lock(g_callsMutex);
      g_lastCall[server] = std::chrono::steady_clock::now();
    }
    if (g_audit && !g_audit->Accepting()) {
      const Error refused = MakeError("AUD-005", "the audit trail cannot be written and Audit.FailClosed is set", 503);
      LogError("inject mode: refusing " + std::string(uri) + ": " + refused.ToString());
      AuditClientCall(method, uri, server, &refused);
      return 0;
    }
    // Orthanc answers a refusal with a bare 403: the policy's code and reason go to the log.
    const auto decision = ClientPolicies(method, uri, ip, headersCount, headersKeys, headersValues, getCount, getKeys,
                                         getValues, server);
    const policy::Decision* decided = decision ? &*decision : nullptr;
    if (decided && !decided->allow) {
      const Error refused = MakeError(decided->code, decided->reason, decided->status);
      LogWarning("policies (client stage) refused " + std::string(MethodName(method)) + " " + uri + " (HTTP " +
                 std::to_string(refused.httpStatus) + " answered as 403): " + refused.ToString());
      AuditClientCall(method, uri, server, &refused, decided);
      return 0;
    }
    if (injected) {
      const std::chrono::seconds minToken = decided ? decided->minTokenSeconds : std::chrono::seconds(0);
      Status fresh = g_inject->EnsureFresh(server, minToken, std::chrono::milliseconds(15000));
      if (!fresh.Ok()) {
        LogError("inject mode: refusing " + std::string(uri) + ": " + fresh.GetError().ToString());
        AuditClientCall(method, uri, server, &fresh.GetError(), decided);
        return 0;
      }
    }
    AuditClientCall(method, uri, server, nullptr, decided);
    return 1;
  } catch (const std::exception& e) {
    LogError(std::string("inject mode: filter error on ") + uri + ": " + e.what());
    return 0;
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
  for (const auto& [name, server] : gateway.Config().servers) anyPolicies = anyPolicies || !server.policies.empty();
  // The filter serves inject mode and the client stage of routing policies (any mode).
  if (inject->Servers().empty() && !anyPolicies) return;
  LoadDicomWebRoot();  // the filter matches calls under DicomWeb.Root
  g_audit = gateway.AuditSink();
  g_gateway = &gateway;
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
  g_audit.reset();
}

void InjectOnOrthancStarted() {
  if (!g_inject) return;
  g_worker.Start();
  g_worker.Post([] { g_inject->Start(); });
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
  LogWarning("inject mode: DICOMweb job " + jobId + " (" + std::string(jobType) + ") failed (error " +
             std::to_string(functionError) + "); renewing the token of " + names);
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
    LogError("INJ-003 inject mode: STOW job " + jobId +
             " failed with bad credentials; the token was renewed, but DICOMweb 1.7 cannot resubmit a STOW "
             "job (it would send nothing): send the resources again");
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
