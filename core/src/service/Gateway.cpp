#include "gw/service/Gateway.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "gw/common/Log.h"
#include "gw/service/RequestSigner.h"
#include "gw/service/StatusViews.h"
#include "service/GatewayBuilder.h"

namespace gw::service {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Gateway::Gateway(config::GatewayConfig config, std::unique_ptr<lua::ScriptEngine> engine)
    : config_(std::move(config)), engine_(std::move(engine)) {}

Gateway::~Gateway() {
  Stop();
  if (tokens_) tokens_->Stop();
  // The audit log runs rules on engine_: close it (writing what is queued) while engine_ lives.
  audit_->SetTarget(nullptr);
  auditLog_.reset();
}

Result<std::unique_ptr<Gateway>> Gateway::Create(config::GatewayConfig config,
                                                 const std::shared_ptr<http::IHttpClient>& httpClient,
                                                 std::shared_ptr<token::IClock> clock) {
  return GatewayBuilder::Build(std::move(config), httpClient, std::move(clock));
}

const token::TokenHandle* Gateway::HandleOf(const std::string& server) const {
  auto it = handles_.find(server);
  return it == handles_.end() ? nullptr : &it->second;
}

JsonAnswer Gateway::TestServer(const std::string& server, bool fresh) {
  if (config_.servers.count(server) == 0) {
    return views::ErrorAnswer(MakeError("TOK-006", "unknown server '" + server + "'", 404));
  }
  const token::TokenHandle* handle = HandleOf(server);
  if (!handle) {
    return views::ErrorAnswer(MakeError("TOK-006", "server '" + server + "' uses provider '" + ProviderOf(server) +
                                                       "', which signs requests and has no token to test",
                                        404));
  }
  const auto started = std::chrono::steady_clock::now();
  auto record = fresh ? handle->FetchNow() : handle->Get();
  const auto elapsedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!record.Ok()) return views::TestFailureAnswer(server, record.GetError());
  return views::TestAnswer(server, *record.Value(), elapsedMs);
}

std::string Gateway::MetricsText() const { return metrics_->RenderPrometheus(); }

Result<http::Headers> Gateway::CredentialHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                                 std::chrono::seconds minRemaining,
                                                 std::chrono::milliseconds timeout) {
  if (IsSigning(server)) return SignedHeaders(server, request, minRemaining, timeout, std::string());
  const token::TokenHandle* handle = HandleOf(server);
  if (!handle) return MakeError("TOK-006", "no token source for server '" + server + "'", 404);
  http::Headers headers;
  gw::Status used = handle->Use(std::chrono::duration_cast<std::chrono::milliseconds>(minRemaining), timeout,
                            [&headers](const token::TokenRecord& r) {
                              headers.emplace_back("Authorization", r.tokenType + " " + r.accessToken);
                            });
  if (!used.Ok()) return used.GetError();
  return headers;
}

Result<http::Headers> Gateway::RequestHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                              std::chrono::seconds minRemaining, std::chrono::milliseconds timeout,
                                              const std::string& fixedTime) {
  if (IsSigning(server)) return SignedHeaders(server, request, minRemaining, timeout, fixedTime);
  return CredentialHeaders(server, request, minRemaining, timeout);
}

// The credential (when the provider acquires one) comes from the token engine; building the
// context and reading sign()'s answer is RequestSigner's.
Result<http::Headers> Gateway::SignedHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                             std::chrono::seconds minRemaining, std::chrono::milliseconds timeout,
                                             const std::string& fixedTime) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<std::string> credential;
  if (const token::TokenHandle* handle = HandleOf(server)) {
    gw::Status used = handle->Use(std::chrono::duration_cast<std::chrono::milliseconds>(minRemaining), timeout,
                                  [&credential](const token::TokenRecord& r) { credential = r.accessToken; });
    if (!used.Ok()) return used.GetError();
  }
  const auto it = config_.servers.find(server);
  const rapidjson::Value* raw = it != config_.servers.end() && it->second.raw ? it->second.raw.get() : nullptr;
  const rapidjson::Document context = BuildSignContext(server, raw, credential, request, fixedTime);
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const auto budget = std::max(std::chrono::milliseconds(1), timeout - spent);
  return SignRequest(*engine_, ProviderOf(server), server, context, budget);
}

void Gateway::SetTokenListener(std::function<void(const std::string& server)> listener) {
  std::lock_guard<std::mutex> lock(listenerMutex_);
  listener_ = std::move(listener);
}

void Gateway::CredentialRejected(const std::string& server) {
  if (const token::TokenHandle* handle = HandleOf(server)) handle->Invalidate();
}

const std::string& Gateway::ProviderOf(const std::string& server) const {
  static const std::string kNone;
  auto it = providers_.find(server);
  return it == providers_.end() ? kNone : it->second;
}

void Gateway::RecordReload(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome) {
  reloads_.Add(trigger, outcome, outcome.Ok() ? 0 : engine_->CurrentInfo().version, NowUnixMs());
}

JsonAnswer Gateway::Reload(ReloadTrigger trigger) {
  auto outcome = engine_->Reload();
  RecordReload(trigger, outcome);
  if (outcome.Ok()) {
    LogInfo("scripts reloaded (" + std::string(ToString(trigger)) + "): snapshot version " +
            std::to_string(outcome.Value().version));
    return views::ReloadAnswer(trigger, outcome, outcome.Value());
  }
  LogWarning("script reload refused (" + std::string(ToString(trigger)) +
             "), previous snapshot keeps serving: " + outcome.GetError().ToString());
  return views::ReloadAnswer(trigger, outcome, engine_->CurrentInfo());
}

JsonAnswer Gateway::DryRun() const {
  const lua::SnapshotInfo serving = engine_->CurrentInfo();
  return views::DryRunAnswer(serving, engine_->DryRun());
}

std::map<std::string, token::TokenState> Gateway::TokenStatesByServer() const {
  std::map<std::string, token::TokenState> states;
  for (auto& st : tokens_->States()) {
    for (const auto& srv : st.servers) states[srv] = st;  // servers sharing a key share its state
  }
  return states;
}

JsonAnswer Gateway::Health(HealthProbe probe) const {
  HealthFacts facts;
  if (probe == HealthProbe::Live) {
    const auto start = std::chrono::steady_clock::now();
    facts.engineAnswered = engine_->Ping(std::chrono::milliseconds(config_.global.health.liveTimeoutMs)).Ok();
    facts.engineTime = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  } else {
    facts.snapshotVersion = engine_->CurrentInfo().version;
    const auto states = TokenStatesByServer();
    const auto now = std::chrono::system_clock::now();
    const auto& optional = config_.global.health.optionalServers;
    for (const auto& [name, server] : config_.servers) {
      ServerHealth& s = facts.servers[name];
      s.optional = std::find(optional.begin(), optional.end(), name) != optional.end();
      const auto it = states.find(name);
      if (it == states.end()) {
        s.hasCredential = false;
        continue;
      }
      const token::TokenState& st = it->second;
      s.usable = token::HasUsableToken(st, now);
      s.attempted = st.fetchSuccesses + st.fetchFailures > 0;
      s.expected = config_.global.health.acquireAtStart;
    }
  }
  const HealthAnswer answer = EvaluateHealth(probe, facts);
  return JsonAnswer{answer.status, answer.body};
}

void Gateway::PrefetchCredentials() {
  if (!config_.global.health.acquireAtStart) return;
  for (const auto& [server, handle] : handles_) handle.Prefetch();
}

JsonAnswer Gateway::Status() const {
  const ReloadRecord reload = reloads_.Last();
  const lua::SnapshotInfo snapshot = engine_->CurrentInfo();
  return views::StatusAnswer(
      config_, [this](const std::string& s) -> const std::string& { return ProviderOf(s); }, snapshot, reload,
      TokenStatesByServer(),
      [this](json::Writer& w) { views::WriteAuditState(w, config_.global.audit, auditLog_.get(), *metrics_); });
}

JsonAnswer Gateway::Servers(const TargetHealthLookup& health) const {
  return views::ServersAnswer(
      config_, [this](const std::string& s) -> const std::string& { return ProviderOf(s); }, TokenStatesByServer(),
      health);
}

void Gateway::StartWatching() {
  if (!config_.global.watchScripts) return;
  engine_->StartWatching([this](const Result<lua::SnapshotInfo>& outcome) {
    RecordReload(ReloadTrigger::FileWatch, outcome);
    if (outcome.Ok()) {
      LogInfo("scripts reloaded (file-watch): snapshot version " + std::to_string(outcome.Value().version));
    } else {
      LogWarning("script reload refused (file-watch), previous snapshot keeps serving: " +
                 outcome.GetError().ToString());
    }
  });
}

void Gateway::Stop() {
  if (engine_) engine_->StopWatching();
  if (auditLog_) auditLog_->Flush(std::chrono::seconds(5));
}

gw::Status Gateway::StartAudit() {
  const config::AuditConfig& ac = config_.global.audit;
  if (!ac.enabled || auditLog_) return gw::Status::Success();
  auto log = audit::AuditLog::Open(ac, *engine_, metrics_);
  if (!log.Ok()) return log.GetError();
  auditLog_ = std::move(log).Value();
  audit_->SetTarget(auditLog_);
  LogInfo("audit: records go to " + ac.file + " (chain continues at seq " +
          std::to_string(auditLog_->Writer().Position().seq + 1) + ")");

  audit::AuditEvent loaded("config.loaded");
  loaded.Set("version", GW_VERSION);
  loaded.Set("rules", ac.rules);
  loaded.Set("failClosed", ac.failClosed);
  loaded.Set("hashKeyConfigured", !ac.hashKey.empty());
  rapidjson::Document servers(rapidjson::kArrayType);
  auto& a = servers.GetAllocator();
  for (const auto& [name, server] : config_.servers) {
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("name", rapidjson::Value(name.c_str(), a), a);
    s.AddMember("mode", rapidjson::Value(config::ToString(server.mode), a), a);
    s.AddMember("provider", rapidjson::Value(ProviderOf(name).c_str(), a), a);
    s.AddMember("url", rapidjson::Value(server.url.c_str(), a), a);
    servers.PushBack(s, a);
  }
  loaded.SetJson("servers", servers);
  audit_->Record(std::move(loaded));

  const lua::SnapshotInfo snapshot = engine_->CurrentInfo();
  audit::AuditEvent published("script.published");
  published.Set("trigger", ToString(ReloadTrigger::Start));
  published.Set("version", static_cast<int64_t>(snapshot.version));
  published.Set("digest", snapshot.digest);
  audit_->Record(std::move(published));
  return gw::Status::Success();
}

}  // namespace gw::service
