#include "InjectGlue.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <vector>
#include <thread>

#include "DicomWebServers.h"
#include "OrthancGlue.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/service/InjectMode.h"

namespace gw::plugin {
namespace {

std::unique_ptr<service::InjectMode> g_inject;

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
int32_t Filter(OrthancPluginHttpMethod method, const char* uri, const char*, uint32_t, const char* const*,
               const char* const*, uint32_t, const char* const*, const char* const*) {
  if (!g_inject || (method != OrthancPluginHttpMethod_Post && method != OrthancPluginHttpMethod_Get)) return 1;
  try {
    const std::string server = ServerOfClientCall(uri);
    if (server.empty() || !g_inject->Manages(server)) return 1;
    {
      std::lock_guard<std::mutex> lock(g_callsMutex);
      g_lastCall[server] = std::chrono::steady_clock::now();
    }
    Status fresh = g_inject->EnsureFresh(server, std::chrono::seconds(0), std::chrono::milliseconds(15000));
    if (!fresh.Ok()) {
      LogError("inject mode: refusing " + std::string(uri) + ": " + fresh.GetError().ToString());
      return 0;
    }
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
  if (inject->Servers().empty()) return;
  LoadDicomWebRoot();  // the filter matches calls under DicomWeb.Root
  g_inject = std::move(inject);
  gateway.SetTokenListener([](const std::string& server) {
    // Token engine threads never call into Orthanc themselves: the worker writes the definition.
    g_worker.Post([server] {
      if (g_inject) g_inject->OnNewToken(server);
    });
  });
  OrthancPluginRegisterIncomingHttpRequestFilter2(Context(), Filter);
  LogInfo("inject mode: " + std::to_string(g_inject->Servers().size()) + " server(s)");
}

void UninstallInjectMode() {
  g_worker.Stop();
  g_inject.reset();
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
    return;
  }
  // Only retrieves are replayed: they are idempotent (the same instances are fetched again).
  if (jobType != "DicomWebWadoRetrieveClient") return;
  LogWarning("inject mode: resubmitting job " + jobId + " once with the renewed token");
  RestAnswer r = CallOrthanc(OrthancPluginHttpMethod_Post, "/jobs/" + jobId + "/resubmit", "{}");
  if (r.status != 200) LogError("inject mode: resubmitting job " + jobId + " answered " + std::to_string(r.status));
}

}  // namespace

void InjectOnJobFailure(const std::string& jobId) {
  if (!g_inject) return;
  g_worker.Post([jobId] { HandleJobFailure(jobId); });
}

}  // namespace gw::plugin
