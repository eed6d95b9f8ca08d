#include "service/GatewayBuilder.h"

#include "gw/audit/AuditedTokenSource.h"
#include "gw/cache/RedisClient.h"
#include "gw/cache/SharedTokenSource.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/ProviderResolver.h"
#include "gw/crypto/AesGcm.h"
#include "gw/policy/PolicyScripts.h"
#include "gw/service/LuaTokenSource.h"
#include "gw/service/ProviderAccess.h"
#include "gw/token/ResilientFetch.h"
#include "gw/token/SystemClock.h"
#include "gw/token/TokenKey.h"

namespace gw::service {

std::string TokenIdentity(const config::ServerConfig& server) {
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

std::function<gw::Status(const lua::SnapshotInfo&)> SnapshotValidatorFor(const config::GatewayConfig& config) {
  return [cfg = std::make_shared<config::GatewayConfig>(config)](const lua::SnapshotInfo& snapshot) -> gw::Status {
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
}

gw::Status GatewayBuilder::ApplyContracts(config::GatewayConfig& config) {
  if (config.contractsApplied) return gw::Status::Success();
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
  return gw::Status::Success();
}

Result<std::unique_ptr<Gateway>> GatewayBuilder::Build(config::GatewayConfig config,
                                                       const std::shared_ptr<http::IHttpClient>& httpClient,
                                                       std::shared_ptr<token::IClock> clock) {
  std::map<std::string, std::string> providers;
  for (const auto& [name, server] : config.servers) {
    providers[name] = config::ResolveProvider(server).script;
  }
  // A configuration parsed without the provider contracts (ParseOptions::loadContracts unset) gets
  // them from the scripts here, so no server runs unchecked (ProviderContracts.h).
  if (gw::Status applied = ApplyContracts(config); !applied.Ok()) return applied.GetError();

  // Files and variables a server's provider contract names are readable by its script (keys,
  // tokens, Google credential files; see ProviderAccess.h); secret variables are masked.
  lua::EngineOptions options = EngineOptionsFor(config);
  options.http = httpClient;
  // A snapshot that lacks a provider script some server uses is refused like a broken script.
  options.validator = SnapshotValidatorFor(config);

  auto engine = std::make_unique<lua::ScriptEngine>(std::move(options));
  auto first = engine->Reload();
  if (!first.Ok()) return first.GetError();

  std::unique_ptr<Gateway> gateway(new Gateway(std::move(config), std::move(engine)));
  gateway->providers_ = std::move(providers);
  gateway->policies_ = std::make_unique<policy::PolicyEngine>(
      *gateway->engine_, std::chrono::milliseconds(gateway->config_.global.policyTimeoutMs));
  gateway->RecordReload(ReloadTrigger::Start, first);
  if (gw::Status tokens = WireTokens(*gateway, httpClient, std::move(clock)); !tokens.Ok()) {
    return tokens.GetError();
  }
  return gateway;
}

gw::Status GatewayBuilder::WireTokens(Gateway& g, const std::shared_ptr<http::IHttpClient>& http,
                                      std::shared_ptr<token::IClock> clock) {
  if (!clock) clock = token::SystemClock::Instance();
  g.metrics_ = std::make_shared<MetricsRegistry>();
  // Every reload outcome series exists from the start (0); the start's own reload, recorded before
  // the registry existed, is counted now.
  g.reloads_.UseMetrics(g.metrics_);
  token::TokenManagerOptions options;
  options.clock = clock;
  options.metrics = g.metrics_;
  g.tokens_ = std::make_unique<token::TokenManager>(options);

  // CacheType redis: one Redis client for all keys, and the shared level in front of each key's
  // source (docs/token-engine.md, "The shared level").
  const config::GlobalConfig& global = g.config_.global;
  std::shared_ptr<cache::RedisClient> redis;
  if (global.cacheType == config::CacheType::Redis) {
    auto endpoint = cache::ParseRedisUrl(global.redisUrl);
    if (!endpoint.Ok()) return MakeError("CFG-002", "DicomWebOAuth.RedisUrl: " + endpoint.GetError().message);
    if (global.redisEncryptionKey.size() != crypto::kAesGcmKeyBytes) {
      return MakeError("CFG-001", "DicomWebOAuth.RedisEncryptionKey: required when CacheType is redis");
    }
    LogInfo("shared token cache: Redis at " + endpoint.Value().Describe() + ", tokens sealed with AES-256-GCM");
    redis = std::make_shared<cache::RedisClient>(std::move(endpoint).Value(), cache::RedisClientOptions{}, g.metrics_);
  }

  for (const auto& [name, server] : g.config_.servers) {
    const std::string& provider = g.providers_[name];
    if (g.engine_->HasFunction(provider, "sign")) g.signers_.insert(name);
    // A signing provider without `acquire` has no credential to cache.
    if (!g.engine_->HasFunction(provider, "acquire")) continue;
    auto source = LuaTokenSource::Create(*g.engine_, server, provider, clock, http);
    if (!source.Ok()) return source.GetError();
    const std::shared_ptr<const TokenValidator> validator = source.Value()->Validator();
    const std::string id = token::MakeTokenKey(provider, TokenIdentity(server), server.scope, server.resource);
    // Every acquisition's outcome (after retries) becomes a token.acquired / token.failed record.
    auto resilient = std::make_shared<audit::AuditedTokenSource>(
        std::make_shared<token::ResilientFetch>(std::shared_ptr<token::ITokenSource>(std::move(source).Value()),
                                                server.resilience, clock, name, g.metrics_),
        g.audit_, provider, [&g, id] { return g.keyServers_.at(id); }, clock);
    token::KeyOptions key;
    key.server = name;
    key.refreshBuffer = std::chrono::seconds(server.tokenRefreshBufferSeconds);
    // Servers sharing a key share one token: the first registration's callback tells them all.
    key.onNewToken = [&g, id](const token::TokenRecord&) {
      std::function<void(const std::string&)> listener;
      {
        std::lock_guard<std::mutex> lock(g.listenerMutex_);
        listener = g.listener_;
      }
      if (!listener) return;
      for (const auto& s : g.keyServers_.at(id)) listener(s);
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
      top = std::make_shared<cache::SharedTokenSource>(std::move(top), redis, global.redisEncryptionKey, id, clock,
                                                       name, g.metrics_, shared);
    }
    g.keyServers_[id].push_back(name);
    g.handles_[name] = g.tokens_->Register(id, std::move(top), std::move(key));
  }
  return gw::Status::Success();
}

}  // namespace gw::service
