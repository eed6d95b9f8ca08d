#include "gw/service/ProviderAccess.h"

#include <cstdlib>

#include "gw/common/SecretRegistry.h"

namespace gw::service {

Result<config::ProviderContracts> ContractsOf(const lua::SnapshotInfo& snapshot) {
  config::ProviderContracts out;
  for (const lua::ScriptInfo& script : snapshot.scripts) {
    std::shared_ptr<const config::ContractSchema> schema;
    if (script.schema) {
      auto parsed = config::ContractSchema::FromJson(*script.schema);
      if (!parsed.Ok()) return MakeError("LUA-003", script.file + ": contract: " + parsed.GetError().message);
      schema = std::make_shared<const config::ContractSchema>(std::move(parsed).Value());
    }
    if (script.kind == "provider") out[script.name] = std::move(schema);
  }
  return out;
}

lua::EngineOptions EngineOptionsFor(const config::GatewayConfig& config) {
  const config::GlobalConfig& g = config.global;
  lua::EngineOptions options;
  options.scriptDirs = g.scriptDirectories;
  options.memoryLimitBytes = static_cast<size_t>(g.luaMemoryLimitMb) * 1024 * 1024;
  options.defaultBudget = std::chrono::milliseconds(g.luaTimeoutMs);
  options.maxStatesPerSnapshot = static_cast<size_t>(g.luaPoolSize);
  // Each server's calls get a share of the pool of their own (docs/lua-api.md, "Isolation between servers").
  for (const auto& [name, server] : config.servers) options.servers.push_back(name);
  options.reservedStatesPerServer = static_cast<size_t>(g.luaReservedStatesPerServer);
  options.envAllowlist = g.envAllowlist;
  options.fileAllowlist = g.fileAllowlist;
  for (const auto& [name, server] : config.servers) {
    const config::ScriptAccess& access = server.access;
    options.fileAllowlist.insert(options.fileAllowlist.end(), access.files.begin(), access.files.end());
    options.envAllowlist.insert(options.envAllowlist.end(), access.envNames.begin(), access.envNames.end());
    // Secrets the scripts read from the environment are masked in logs like configured ones.
    for (const std::string& env : access.secretEnvNames) {
      if (const char* value = std::getenv(env.c_str()); value != nullptr && *value != '\0') SecretRegistry::Add(value);
    }
  }
  return options;
}

Result<config::ProviderContracts> LoadProviderContracts(const config::GlobalConfig& global) {
  config::GatewayConfig scriptsOnly;
  scriptsOnly.global = global;
  lua::ScriptEngine engine(EngineOptionsFor(scriptsOnly));
  const Result<lua::SnapshotInfo> checked = engine.Check();
  if (!checked.Ok()) return checked.GetError();
  return ContractsOf(checked.Value());
}

}  // namespace gw::service
