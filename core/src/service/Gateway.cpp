#include "gw/service/Gateway.h"
#include "gw/service/ProviderAccess.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>

#include "gw/audit/AuditedTokenSource.h"
#include "gw/cache/RedisClient.h"
#include "gw/cache/SharedTokenSource.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/ProviderResolver.h"
#include "gw/crypto/AesGcm.h"
#include "gw/policy/DryRun.h"
#include "gw/policy/PolicyScripts.h"
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

// A string key of the server object as configured (provider keys have no typed field).
std::string RawString(const config::ServerConfig& server, const char* key) {
  if (!server.raw || !server.raw->IsObject()) return {};
  const auto it = server.raw->FindMember(key);
  return it != server.raw->MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
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
  // The audit log runs rules on engine_: close it (writing what is queued) while engine_ lives.
  audit_->SetTarget(nullptr);
  auditLog_.reset();
}

Result<std::unique_ptr<Gateway>> Gateway::Create(config::GatewayConfig config,
                                                 std::shared_ptr<http::IHttpClient> httpClient,
                                                 std::shared_ptr<token::IClock> clock) {
  std::map<std::string, std::string> providers;
  for (const auto& [name, server] : config.servers) {
    providers[name] = config::ResolveProvider(server).script;
  }

  // A configuration parsed without the provider contracts (ParseOptions::loadContracts unset) gets
  // them from the scripts here, so no server runs unchecked (ProviderContracts.h).
  if (!config.contractsApplied) {
    auto contracts = LoadProviderContracts(config.global);
    if (!contracts.Ok()) return contracts.GetError();
    config::ParseOptions parseOptions;
    parseOptions.checkFiles = false;
    const auto found = config::ApplyProviderContracts(config, contracts.Value(), parseOptions);
    config.contractsApplied = true;
    for (const std::string& secret : config::CollectSecrets(config)) SecretRegistry::Add(secret);
    for (const auto& d : found) {
      if (d.severity == config::Severity::Warning) LogWarning(d.ToString());
    }
    for (const auto& d : found) {
      if (d.severity == config::Severity::Error) return MakeError(d.code, d.path + ": " + d.message);
    }
  }
  // Files and variables a server's provider contract names are readable by its script (keys,
  // tokens, Google credential files; see ProviderAccess.h); secret variables are masked.
  lua::EngineOptions options = EngineOptionsFor(config);
  options.http = httpClient;
  // A snapshot that lacks a provider script some server uses is refused like a broken script.
  options.validator = [cfg = std::make_shared<config::GatewayConfig>(config)](
                          const lua::SnapshotInfo& snapshot) -> gw::Status {
    std::map<std::string, std::string> scripts;
    for (const auto& s : snapshot.scripts) scripts[s.name] = s.kind;
    auto problems = config::VerifyProviderScripts(*cfg, scripts);
    // The new scripts' schemas must still accept the running configuration (and be the dialect).
    auto contracts = ContractsOf(snapshot);
    if (!contracts.Ok()) return contracts.GetError();
    auto contractProblems = config::VerifyProviderContracts(*cfg, contracts.Value());
    problems.insert(problems.end(), contractProblems.begin(), contractProblems.end());
    auto policyProblems = policy::VerifyPolicyScripts(*cfg, scripts);
    problems.insert(problems.end(), policyProblems.begin(), policyProblems.end());
    for (auto& rule : audit::CheckAuditRules(cfg->global.audit, scripts)) {
      problems.push_back({config::Severity::Error, "CFG-002", "DicomWebOAuth.Audit.Rules", rule});
    }
    if (problems.empty()) return Status::Success();
    return MakeError(problems.front().code, problems.front().path + ": " + problems.front().message, 422);
  };

  auto engine = std::make_unique<lua::ScriptEngine>(std::move(options));
  auto first = engine->Reload();
  if (!first.Ok()) return first.GetError();

  std::unique_ptr<Gateway> gateway(new Gateway(std::move(config), std::move(engine)));
  gateway->providers_ = std::move(providers);
  gateway->policies_ = std::make_unique<policy::PolicyEngine>(
      *gateway->engine_, std::chrono::milliseconds(gateway->config_.global.policyTimeoutMs));
  gateway->RecordReload(ReloadTrigger::Start, first);
  if (gw::Status tokens = gateway->RegisterTokens(std::move(httpClient), std::move(clock)); !tokens.Ok()) {
    return tokens.GetError();
  }
  return gateway;
}

gw::Status Gateway::RegisterTokens(std::shared_ptr<http::IHttpClient> http, std::shared_ptr<token::IClock> clock) {
  if (!clock) clock = token::SystemClock::Instance();
  metrics_ = std::make_shared<MetricsRegistry>();
  // Every reload outcome series exists from the start (0), so the first failure shows as an
  // increase; the start's own reload happened before the registry existed.
  for (ReloadTrigger t : {ReloadTrigger::Start, ReloadTrigger::Rest, ReloadTrigger::FileWatch}) {
    for (const char* outcome : {"success", "failure"}) CountReload(t, outcome);
  }
  CountReload(ReloadTrigger::Start, "success").Inc();
  token::TokenManagerOptions options;
  options.clock = clock;
  options.metrics = metrics_;
  tokens_ = std::make_unique<token::TokenManager>(options);

  // CacheType redis: one Redis client for all keys, and the shared level in front of each key's
  // source (docs/token-engine.md, "The shared level").
  std::shared_ptr<cache::RedisClient> redis;
  if (config_.global.cacheType == config::CacheType::Redis) {
    auto endpoint = cache::ParseRedisUrl(config_.global.redisUrl);
    if (!endpoint.Ok()) return MakeError("CFG-002", "DicomWebOAuth.RedisUrl: " + endpoint.GetError().message);
    if (config_.global.redisEncryptionKey.size() != crypto::kAesGcmKeyBytes) {
      return MakeError("CFG-001", "DicomWebOAuth.RedisEncryptionKey: required when CacheType is redis");
    }
    LogInfo("shared token cache: Redis at " + endpoint.Value().Describe() + ", tokens sealed with AES-256-GCM");
    redis = std::make_shared<cache::RedisClient>(std::move(endpoint).Value(), cache::RedisClientOptions{}, metrics_);
  }

  for (const auto& [name, server] : config_.servers) {
    const std::string& provider = providers_[name];
    if (engine_->HasFunction(provider, "sign")) signers_.insert(name);
    // A signing provider without `acquire` has no credential to cache.
    if (!engine_->HasFunction(provider, "acquire")) continue;
    auto source = LuaTokenSource::Create(*engine_, server, provider, clock, http);
    if (!source.Ok()) return source.GetError();
    const std::shared_ptr<const TokenValidator> validator = source.Value()->Validator();
    const std::string id = token::MakeTokenKey(provider, IdentityOf(server), server.scope, server.resource);
    // Every acquisition's outcome (after retries) becomes a token.acquired / token.failed record.
    auto resilient = std::make_shared<audit::AuditedTokenSource>(
        std::make_shared<token::ResilientFetch>(std::shared_ptr<token::ITokenSource>(std::move(source).Value()),
                                                server.resilience, clock, name, metrics_),
        audit_, provider, [this, id] { return keyServers_.at(id); }, clock);
    token::KeyOptions key;
    key.server = name;
    key.refreshBuffer = std::chrono::seconds(server.tokenRefreshBufferSeconds);
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
    std::shared_ptr<token::ITokenSource> top = std::move(resilient);
    if (redis) {
      cache::SharedCacheOptions shared;
      shared.refresh.buffer = key.refreshBuffer;
      // Only tokens that pass the server's JWT checks are shared (LuaTokenSource checks what it
      // acquires), and a token read from Redis is checked again before it is used.
      if (validator) {
        shared.validator = [validator](const token::TokenRecord& r) { return validator->Check(r.accessToken); };
        shared.innerValidates = true;
      }
      top = std::make_shared<cache::SharedTokenSource>(std::move(top), redis, config_.global.redisEncryptionKey, id,
                                                       clock, name, metrics_, shared);
    }
    keyServers_[id].push_back(name);
    handles_[name] = tokens_->Register(id, std::move(top), std::move(key));
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
  const auto started = std::chrono::steady_clock::now();
  auto record = fresh ? handle->FetchNow() : handle->Get();
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

// Calls the provider's sign(ctx) (contract in docs/lua-api.md, "Signing providers"):
// ctx = {server, config, credential, request = {method, url, headers, payload_sha256}, time}.
Result<http::Headers> Gateway::SignedHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                             std::chrono::seconds minRemaining, std::chrono::milliseconds timeout,
                                             const std::string& fixedTime) {
  const auto started = std::chrono::steady_clock::now();
  rapidjson::Document arg(rapidjson::kObjectType);
  auto& a = arg.GetAllocator();
  auto text = [&a](std::string_view s) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  if (const token::TokenHandle* handle = HandleOf(server)) {
    std::string credential;
    gw::Status used = handle->Use(std::chrono::duration_cast<std::chrono::milliseconds>(minRemaining), timeout,
                                  [&credential](const token::TokenRecord& r) { credential = r.accessToken; });
    if (!used.Ok()) return used.GetError();
    arg.AddMember("credential", text(credential), a);
  }
  arg.AddMember("server", text(server), a);
  rapidjson::Value config;
  const auto& servers = config_.servers;
  auto it = servers.find(server);
  if (it != servers.end() && it->second.raw) config.CopyFrom(*it->second.raw, a);
  else config.SetObject();
  arg.AddMember("config", config, a);

  // Repeated header lines become one value joined with ',' (how SigV4 canonicalises them).
  rapidjson::Value headers(rapidjson::kObjectType);
  if (request.headers != nullptr) {
    std::map<std::string, std::string> joined;
    std::vector<std::string> order;
    for (const auto& [name, value] : *request.headers) {
      auto found = joined.find(name);
      if (found == joined.end()) {
        joined.emplace(name, value);
        order.push_back(name);
      } else {
        found->second += "," + value;
      }
    }
    for (const auto& name : order) headers.AddMember(text(name), text(joined[name]), a);
  }
  rapidjson::Value req(rapidjson::kObjectType);
  req.AddMember("method", text(request.method), a);
  req.AddMember("url", text(request.url), a);
  req.AddMember("headers", headers, a);
  req.AddMember("payload_sha256", text(request.payloadSha256), a);
  arg.AddMember("request", req, a);
  if (!fixedTime.empty()) arg.AddMember("time", text(fixedTime), a);

  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const auto budget = std::max(std::chrono::milliseconds(1), timeout - spent);
  auto out = engine_->Call(ProviderOf(server), "sign", arg, budget, server);
  if (!out.Ok()) {
    Error e = out.GetError();
    if (e.httpStatus < 500) e.httpStatus = 500;  // the caller's request is fine; signing failed
    return e;
  }
  const rapidjson::Document& doc = out.Value();
  auto list = doc.IsObject() ? doc.FindMember("headers") : doc.MemberEnd();
  if (!doc.IsObject() || list == doc.MemberEnd() || !list->value.IsObject()) {
    return MakeError("SIG-001", "provider '" + ProviderOf(server) + "' returned no headers table from sign", 500);
  }
  http::Headers added;
  for (const auto& m : list->value.GetObject()) {
    if (!m.value.IsString()) {
      return MakeError("SIG-001", "provider '" + ProviderOf(server) + "' returned a non-string header value", 500);
    }
    std::string value(m.value.GetString(), m.value.GetStringLength());
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return MakeError("SIG-001", "provider '" + ProviderOf(server) + "' returned a header value with CR, LF or NUL", 500);
    }
    added.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()), std::move(value));
  }
  return added;
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

Counter& Gateway::CountReload(ReloadTrigger trigger, const char* outcome) {
  return metrics_->GetCounter("dicomweb_oauth_script_reloads_total",
                              "Script reloads by trigger (start, rest, file-watch) and outcome (success, failure)",
                              {{"trigger", ToString(trigger)}, {"outcome", outcome}});
}

void Gateway::RecordReload(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome) {
  if (metrics_) CountReload(trigger, outcome.Ok() ? "success" : "failure").Inc();
  audit::AuditEvent event(outcome.Ok() ? "script.published" : "script.refused");
  event.Set("trigger", ToString(trigger));
  if (outcome.Ok()) {
    event.Set("version", static_cast<int64_t>(outcome.Value().version));
    event.Set("digest", outcome.Value().digest);
  } else {
    event.Set("code", outcome.GetError().code);
    event.Set("message", outcome.GetError().message);
    event.Set("servingVersion", static_cast<int64_t>(engine_->CurrentInfo().version));
  }
  audit_->Record(std::move(event));
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

JsonAnswer Gateway::DryRun() const {
  const lua::SnapshotInfo serving = engine_->CurrentInfo();
  const auto candidate = engine_->DryRun();
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(candidate.Ok());
  w.Key("serving");
  w.StartObject();
  w.Key("version");
  w.Uint(serving.version);
  w.Key("digest");
  w.String(serving.digest);
  w.EndObject();
  if (candidate.Ok()) {
    const auto changes = policy::CompareSnapshots(serving, candidate.Value());
    w.Key("changed");
    w.Bool(candidate.Value().digest != serving.digest);
    w.Key("candidate");
    WriteSnapshot(w, candidate.Value());
    w.Key("changes");
    policy::WriteChanges(w, changes);
    LogInfo("script dry run: would publish " + std::to_string(candidate.Value().scripts.size()) + " script(s), " +
            std::to_string(changes.size()) + " change(s) against version " + std::to_string(serving.version));
  } else {
    w.Key("error");
    WriteError(w, candidate.GetError());
    LogInfo("script dry run: a reload would be refused: " + candidate.GetError().ToString());
  }
  w.EndObject();
  return {candidate.Ok() ? 200 : 422, w.Take()};
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
      s.usable = st.expiresAt && *st.expiresAt > now && st.status != token::TokenStatus::Expired;
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
  WriteAuditState(w);
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

// The audit trail for status pages: where it goes, whether it is keyed and accepting, and its
// counters (the same series /metrics exports). Never a key: only whether one is set.
void Gateway::WriteAuditState(json::Writer& w) const {
  const config::AuditConfig& a = config_.global.audit;
  w.Key("audit");
  w.StartObject();
  w.Key("enabled");
  w.Bool(a.enabled && auditLog_ != nullptr);
  if (a.enabled) {
    w.Key("file");
    w.String(a.file);
    w.Key("keyed");
    w.Bool(!a.chainKey.empty());
    w.Key("failClosed");
    w.Bool(a.failClosed);
    w.Key("rules");
    w.StartArray();
    for (const auto& r : a.rules) w.String(r);
    w.EndArray();
  }
  if (auditLog_) {
    w.Key("accepting");
    w.Bool(auditLog_->Accepting());
    uint64_t records = 0, droppedRule = 0, droppedQueue = 0, writeErrors = 0, ruleFailures = 0;
    for (const auto& family : metrics_->Collect()) {
      for (const auto& sample : family.samples) {
        const auto n = static_cast<uint64_t>(sample.value);
        if (sample.name == "dicomweb_oauth_audit_records_total") records += n;
        else if (sample.name == "dicomweb_oauth_audit_write_errors_total") writeErrors += n;
        else if (sample.name == "dicomweb_oauth_audit_rule_failures_total") ruleFailures += n;
        else if (sample.name == "dicomweb_oauth_audit_records_dropped_total") {
          for (const auto& [k, v] : sample.labels) {
            if (k == "reason" && v == "rule") droppedRule += n;
            if (k == "reason" && v == "queue_full") droppedQueue += n;
          }
        }
      }
    }
    w.Key("records");
    w.Uint(records);
    w.Key("droppedByRule");
    w.Uint(droppedRule);
    w.Key("droppedQueueFull");
    w.Uint(droppedQueue);
    w.Key("writeErrors");
    w.Uint(writeErrors);
    w.Key("ruleFailures");
    w.Uint(ruleFailures);
  }
  w.EndObject();
}

JsonAnswer Gateway::Servers(const TargetHealthLookup& health) const {
  const auto states = TokenStatesByServer();
  const auto now = std::chrono::system_clock::now();
  const auto steadyNow = policy::TargetHealth::Clock::now();
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
    if (const std::string clientId = RawString(server, "ClientId"); !clientId.empty()) {
      w.Key("clientId");
      w.String(clientId);
    }
    w.Key("clientAuthMethod");
    w.String(config::ToString(server.clientAuthMethod));
    w.Key("hasClientSecret");
    w.Bool(!RawString(server, "ClientSecret").empty());
    w.Key("policies");
    w.StartArray();
    for (const auto& p : server.policies) w.String(p);
    w.EndArray();
    // Targets in configuration order (the first is the primary); health only where it is observed.
    const std::shared_ptr<const policy::TargetHealth> tracker = health ? health(name) : nullptr;
    w.Key("targets");
    w.StartArray();
    for (size_t i = 0; i < server.targets.size(); ++i) {
      w.StartObject();
      w.Key("name");
      w.String(server.targets[i].name);
      w.Key("url");
      w.String(server.targets[i].url);
      if (tracker && i < tracker->Size()) {
        w.Key("healthy");
        w.Bool(tracker->Healthy(i, steadyNow));
        w.Key("failures");
        w.Uint(tracker->Failures(i));
        if (const int64_t changed = tracker->LastChangeUnixMs(i); changed > 0) {
          w.Key("lastChange");
          w.String(IsoTime(token::SystemTime(std::chrono::milliseconds(changed))));
        }
      }
      w.EndObject();
    }
    w.EndArray();
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
