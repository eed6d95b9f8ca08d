#include "gw/service/Gateway.h"

#include <chrono>

#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/config/ProviderResolver.h"

namespace gw::service {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void WriteError(json::Writer& w, const Error& e) {
  w.StartObject();
  w.Key("code");
  w.String(e.code);
  w.Key("message");
  w.String(e.message);
  w.EndObject();
}

void WriteSnapshot(json::Writer& w, const lua::SnapshotInfo& s) {
  w.StartObject();
  w.Key("version");
  w.Uint(s.version);
  w.Key("digest");
  w.String(s.digest);
  w.Key("publishedAtUnixMs");
  w.Int(s.publishedAtUnixMs);
  w.Key("scripts");
  w.StartArray();
  for (const auto& script : s.scripts) {
    w.StartObject();
    w.Key("name");
    w.String(script.name);
    w.Key("version");
    w.String(script.version);
    w.Key("kind");
    w.String(script.kind);
    w.Key("file");
    w.String(script.file);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

const char* ToString(ReloadTrigger trigger) {
  switch (trigger) {
    case ReloadTrigger::Start: return "start";
    case ReloadTrigger::Rest: return "rest";
    case ReloadTrigger::FileWatch: return "file-watch";
  }
  return "?";
}

Gateway::Gateway(config::GatewayConfig config, std::unique_ptr<lua::ScriptEngine> engine)
    : config_(std::move(config)), engine_(std::move(engine)) {}

Gateway::~Gateway() { Stop(); }

Result<std::unique_ptr<Gateway>> Gateway::Create(config::GatewayConfig config,
                                                 std::shared_ptr<http::IHttpClient> httpClient) {
  std::map<std::string, std::string> providers;
  for (const auto& [name, server] : config.servers) {
    providers[name] = config::ResolveProvider(server).script;
  }

  lua::EngineOptions options;
  options.scriptDirs = config.global.scriptDirectories;
  options.memoryLimitBytes = static_cast<size_t>(config.global.luaMemoryLimitMb) * 1024 * 1024;
  options.defaultBudget = std::chrono::milliseconds(config.global.luaTimeoutMs);
  options.maxStatesPerSnapshot = static_cast<size_t>(config.global.luaPoolSize);
  options.envAllowlist = config.global.envAllowlist;
  options.fileAllowlist = config.global.fileAllowlist;
  // Files named in the configuration are readable by the scripts that need them (keys, tokens).
  for (const auto& [name, server] : config.servers) {
    for (const std::string* f : {&server.privateKeyFile, &server.clientCertificate, &server.clientKey,
                                 &server.tokenFile, &server.caBundle}) {
      if (!f->empty()) options.fileAllowlist.push_back(*f);
    }
  }
  options.http = std::move(httpClient);
  // A snapshot that lacks a provider script some server uses is refused like a broken script.
  options.validator = [cfg = std::make_shared<config::GatewayConfig>(config)](
                          const lua::SnapshotInfo& snapshot) -> Status {
    std::map<std::string, std::string> scripts;
    for (const auto& s : snapshot.scripts) scripts[s.name] = s.kind;
    auto problems = config::VerifyProviderScripts(*cfg, scripts);
    if (problems.empty()) return Status::Success();
    return MakeError(problems.front().code, problems.front().path + ": " + problems.front().message, 422);
  };

  auto engine = std::make_unique<lua::ScriptEngine>(std::move(options));
  auto first = engine->Reload();
  if (!first.Ok()) return first.GetError();

  std::unique_ptr<Gateway> gateway(new Gateway(std::move(config), std::move(engine)));
  gateway->providers_ = std::move(providers);
  gateway->RecordReload(ReloadTrigger::Start, first);
  return gateway;
}

const std::string& Gateway::ProviderOf(const std::string& server) const {
  static const std::string kNone;
  auto it = providers_.find(server);
  return it == providers_.end() ? kNone : it->second;
}

void Gateway::RecordReload(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome) {
  std::lock_guard<std::mutex> lock(reloadMutex_);
  lastReload_.trigger = trigger;
  lastReload_.atUnixMs = NowUnixMs();
  lastReload_.ok = outcome.Ok();
  if (outcome.Ok()) {
    lastReload_.snapshotVersion = outcome.Value().version;
    lastReload_.error = Error{};
  } else {
    lastReload_.error = outcome.GetError();
    ++lastReload_.failures;
  }
}

JsonAnswer Gateway::Reload(ReloadTrigger trigger) {
  auto outcome = engine_->Reload();
  RecordReload(trigger, outcome);
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(outcome.Ok());
  w.Key("trigger");
  w.String(ToString(trigger));
  if (outcome.Ok()) {
    LogInfo("scripts reloaded (" + std::string(ToString(trigger)) + "): snapshot version " +
            std::to_string(outcome.Value().version));
    w.Key("snapshot");
    WriteSnapshot(w, outcome.Value());
  } else {
    LogWarning("script reload refused (" + std::string(ToString(trigger)) +
               "), previous snapshot keeps serving: " + outcome.GetError().ToString());
    w.Key("error");
    WriteError(w, outcome.GetError());
    w.Key("serving");
    WriteSnapshot(w, engine_->CurrentInfo());
  }
  w.EndObject();
  return {outcome.Ok() ? 200 : 422, w.Take()};
}

JsonAnswer Gateway::Status() const {
  ReloadRecord reload;
  {
    std::lock_guard<std::mutex> lock(reloadMutex_);
    reload = lastReload_;
  }
  const lua::SnapshotInfo snapshot = engine_->CurrentInfo();
  const bool healthy = snapshot.version > 0;

  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String(healthy ? (reload.ok ? "ok" : "degraded") : "error");
  w.Key("plugin");
  w.StartObject();
  w.Key("name");
  w.String("dicomweb-oauth-gateway");
  w.Key("version");
  w.String(GW_VERSION);
  w.EndObject();
  w.Key("lua");
  w.StartObject();
  w.Key("version");
  w.String(lua::ScriptEngine::LuaVersion());
  w.Key("snapshot");
  WriteSnapshot(w, snapshot);
  w.Key("lastReload");
  w.StartObject();
  w.Key("ok");
  w.Bool(reload.ok);
  w.Key("trigger");
  w.String(ToString(reload.trigger));
  w.Key("atUnixMs");
  w.Int(reload.atUnixMs);
  w.Key("failures");
  w.Uint(reload.failures);
  if (!reload.ok) {
    w.Key("error");
    WriteError(w, reload.error);
  }
  w.EndObject();
  w.Key("watching");
  w.Bool(config_.global.watchScripts);
  w.EndObject();
  w.Key("servers");
  w.StartObject();
  w.Key("configured");
  w.Uint(config_.servers.size());
  w.Key("states");
  w.StartObject();
  for (const auto& [name, server] : config_.servers) {
    w.Key(name);
    w.StartObject();
    w.Key("provider");
    w.String(ProviderOf(name));
    w.Key("mode");
    w.String(config::ToString(server.mode));
    w.Key("token");
    w.String("none");
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return {healthy ? 200 : 503, w.Take()};
}

JsonAnswer Gateway::Servers() const {
  json::Writer w;
  w.StartObject();
  w.Key("servers");
  w.StartArray();
  for (const auto& [name, server] : config_.servers) {
    w.StartObject();
    w.Key("name");
    w.String(name);
    w.Key("url");
    w.String(server.url);
    w.Key("provider");
    w.String(ProviderOf(name));
    w.Key("providerType");
    w.String(server.providerType);
    w.Key("mode");
    w.String(config::ToString(server.mode));
    if (!server.tokenEndpoint.empty()) {
      w.Key("tokenEndpoint");
      w.String(server.tokenEndpoint);
    }
    if (!server.clientId.empty()) {
      w.Key("clientId");
      w.String(server.clientId);
    }
    w.Key("clientAuthMethod");
    w.String(config::ToString(server.clientAuthMethod));
    w.Key("hasClientSecret");
    w.Bool(!server.clientSecret.empty());
    w.Key("token");
    w.StartObject();
    w.Key("state");
    w.String("none");
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {200, w.Take()};
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
}

}  // namespace gw::service
