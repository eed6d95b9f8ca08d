#include "gw/service/Gateway.h"

#include <chrono>
#include <ctime>

#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/config/ProviderResolver.h"
#include "gw/service/LuaTokenSource.h"
#include "gw/token/ResilientFetch.h"
#include "gw/token/SystemClock.h"
#include "gw/token/TokenKey.h"

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

std::string IsoTime(token::SystemTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Token state of a server for status pages: never the token itself.
void WriteTokenState(json::Writer& w, const token::TokenState* state, token::SystemTime now) {
  w.StartObject();
  w.Key("state");
  w.String(state ? token::ToString(state->status) : "none");
  if (state) {
    if (state->expiresAt) {
      w.Key("expiresAt");
      w.String(IsoTime(*state->expiresAt));
      w.Key("expiresInSeconds");
      w.Int(std::chrono::duration_cast<std::chrono::seconds>(*state->expiresAt - now).count());
    }
    if (state->refreshAt) {
      w.Key("refreshAt");
      w.String(IsoTime(*state->refreshAt));
    }
    if (!state->scopes.empty()) {
      w.Key("scopes");
      w.StartArray();
      for (const auto& sc : state->scopes) w.String(sc);
      w.EndArray();
    }
    w.Key("fetchSuccesses");
    w.Uint(state->fetchSuccesses);
    w.Key("fetchFailures");
    w.Uint(state->fetchFailures);
    if (!state->lastErrorCode.empty()) {
      w.Key("lastError");
      w.StartObject();
      w.Key("code");
      w.String(state->lastErrorCode);
      w.Key("message");
      w.String(state->lastErrorMessage);
      if (state->lastErrorAt) {
        w.Key("at");
        w.String(IsoTime(*state->lastErrorAt));
      }
      w.EndObject();
    }
  }
  w.EndObject();
}

// The settings that select an identity: everything in the server object except what only
// concerns the data path, so two servers with the same identity share one token.
std::string IdentityOf(const config::ServerConfig& server) {
  static const char* kDataPathKeys[] = {"Url", "Mode", "HasDelete", "ChunkedTransfers", "Timeout",
                                        "HttpHeaders", "Username", "Password", "CertificateFile",
                                        "CertificateKeyFile", "CertificateKeyPassword",
                                        "TokenRefreshBufferSeconds", "ResilienceConfig"};
  if (!server.raw || !server.raw->IsObject()) return {};
  rapidjson::Document copy;
  copy.CopyFrom(*server.raw, copy.GetAllocator());
  for (const char* k : kDataPathKeys) copy.RemoveMember(k);
  return token::CanonicalJson(copy);
}

token::ResilienceConfig ToTokenResilience(const config::ResilienceConfig& c) {
  token::ResilienceConfig r;
  r.circuitBreakerEnabled = c.circuitBreakerEnabled;
  r.circuitBreakerFailureThreshold = c.circuitBreakerFailureThreshold;
  r.circuitBreakerTimeout = c.circuitBreakerTimeoutSeconds;
  r.retryMaxAttempts = c.retryMaxAttempts;
  r.retryStrategy = c.retryStrategy == config::RetryStrategy::Fixed    ? token::RetryStrategy::Fixed
                    : c.retryStrategy == config::RetryStrategy::Linear ? token::RetryStrategy::Linear
                                                                       : token::RetryStrategy::Exponential;
  r.retryInitialDelay = c.retryInitialDelaySeconds;
  r.retryMultiplier = c.retryMultiplier;
  r.retryMaxDelay = c.retryMaxDelaySeconds;
  r.retryIncrement = c.retryIncrementSeconds;
  return r;
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

Gateway::~Gateway() {
  Stop();
  if (tokens_) tokens_->Stop();
}

Result<std::unique_ptr<Gateway>> Gateway::Create(config::GatewayConfig config,
                                                 std::shared_ptr<http::IHttpClient> httpClient,
                                                 std::shared_ptr<token::IClock> clock) {
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
  options.http = httpClient;
  // A snapshot that lacks a provider script some server uses is refused like a broken script.
  options.validator = [cfg = std::make_shared<config::GatewayConfig>(config)](
                          const lua::SnapshotInfo& snapshot) -> gw::Status {
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
  if (gw::Status tokens = gateway->RegisterTokens(std::move(httpClient), std::move(clock)); !tokens.Ok()) {
    return tokens.GetError();
  }
  return gateway;
}

gw::Status Gateway::RegisterTokens(std::shared_ptr<http::IHttpClient> http, std::shared_ptr<token::IClock> clock) {
  if (!clock) clock = token::SystemClock::Instance();
  metrics_ = std::make_shared<MetricsRegistry>();
  token::TokenManagerOptions options;
  options.clock = clock;
  options.metrics = metrics_;
  tokens_ = std::make_unique<token::TokenManager>(options);

  for (const auto& [name, server] : config_.servers) {
    const std::string& provider = providers_[name];
    // Signing providers (AWS SigV4) have no token to cache.
    if (!engine_->HasFunction(provider, "acquire")) continue;
    auto source = LuaTokenSource::Create(*engine_, server, provider, clock, http);
    if (!source.Ok()) return source.GetError();
    auto resilient = std::make_shared<token::ResilientFetch>(
        std::shared_ptr<token::ITokenSource>(std::move(source).Value()), ToTokenResilience(server.resilience),
        clock, name, metrics_);
    token::KeyOptions key;
    key.server = name;
    key.refreshBuffer = std::chrono::seconds(server.tokenRefreshBufferSeconds);
    const std::string id = token::MakeTokenKey(provider, IdentityOf(server), server.scope, server.resource);
    // Servers sharing a key share one token: the first registration's callback tells them all.
    key.onNewToken = [this, id](const token::TokenRecord&) {
      std::function<void(const std::string&)> listener;
      {
        std::lock_guard<std::mutex> lock(listenerMutex_);
        listener = listener_;
      }
      if (!listener) return;
      for (const auto& s : keyServers_.at(id)) listener(s);
    };
    keyServers_[id].push_back(name);
    handles_[name] = tokens_->Register(id, std::move(resilient), std::move(key));
  }
  return gw::Status::Success();
}

const token::TokenHandle* Gateway::HandleOf(const std::string& server) const {
  auto it = handles_.find(server);
  return it == handles_.end() ? nullptr : &it->second;
}

JsonAnswer Gateway::TestServer(const std::string& server, bool fresh) {
  auto fail = [](const Error& e) {
    json::Writer w;
    w.StartObject();
    w.Key("ok");
    w.Bool(false);
    w.Key("error");
    WriteError(w, e);
    w.EndObject();
    return JsonAnswer{e.httpStatus > 0 ? e.httpStatus : 500, w.Take()};
  };
  if (config_.servers.count(server) == 0) {
    return fail(MakeError("TOK-006", "unknown server '" + server + "'", 404));
  }
  const token::TokenHandle* handle = HandleOf(server);
  if (!handle) {
    return fail(MakeError("TOK-006", "server '" + server + "' uses provider '" + ProviderOf(server) +
                                         "', which signs requests and has no token to test", 404));
  }
  if (fresh) handle->Invalidate();
  const auto started = std::chrono::steady_clock::now();
  auto record = handle->Get();
  const auto elapsedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!record.Ok()) return fail(record.GetError());

  const auto& r = *record.Value();
  const auto clockNow = token::SystemClock::Instance();
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(r.expiresAt - clockNow->SteadyNow());
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("server");
  w.String(server);
  w.Key("provider");
  w.String(r.provider);
  w.Key("tokenType");
  w.String(r.tokenType);
  w.Key("expiresInSeconds");
  w.Int(remaining.count());
  w.Key("expiresAt");
  w.String(IsoTime(clockNow->ToSystem(r.expiresAt)));
  if (r.refreshAt) {
    w.Key("refreshAt");
    w.String(IsoTime(clockNow->ToSystem(*r.refreshAt)));
  }
  w.Key("scopes");
  w.StartArray();
  for (const auto& sc : r.scopes) w.String(sc);
  w.EndArray();
  w.Key("metadata");
  w.StartObject();
  for (const auto& [k, v] : r.metadata) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
  w.Key("elapsedMs");
  w.Int(elapsedMs);
  w.EndObject();
  return {200, w.Take()};
}

std::string Gateway::MetricsText() const { return metrics_->RenderPrometheus(); }

Result<http::Headers> Gateway::CredentialHeaders(const std::string& server, const proxy::OutgoingRequest&,
                                                 std::chrono::seconds minRemaining,
                                                 std::chrono::milliseconds timeout) {
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

std::map<std::string, token::TokenState> Gateway::TokenStatesByServer() const {
  std::map<std::string, token::TokenState> states;
  for (auto& st : tokens_->States()) {
    for (const auto& srv : st.servers) states[srv] = st;  // servers sharing a key share its state
  }
  return states;
}

JsonAnswer Gateway::Status() const {
  ReloadRecord reload;
  {
    std::lock_guard<std::mutex> lock(reloadMutex_);
    reload = lastReload_;
  }
  const lua::SnapshotInfo snapshot = engine_->CurrentInfo();
  const auto states = TokenStatesByServer();
  bool tokensOk = true;
  for (const auto& [name, st] : states) {
    tokensOk = tokensOk && st.status != token::TokenStatus::Expired && st.status != token::TokenStatus::Error;
  }
  const bool healthy = snapshot.version > 0;
  const auto now = std::chrono::system_clock::now();

  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String(healthy ? (reload.ok && tokensOk ? "ok" : "degraded") : "error");
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
    auto st = states.find(name);
    WriteTokenState(w, st == states.end() ? nullptr : &st->second, now);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return {healthy ? 200 : 503, w.Take()};
}

JsonAnswer Gateway::Servers() const {
  const auto states = TokenStatesByServer();
  const auto now = std::chrono::system_clock::now();
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
    auto st = states.find(name);
    WriteTokenState(w, st == states.end() ? nullptr : &st->second, now);
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
