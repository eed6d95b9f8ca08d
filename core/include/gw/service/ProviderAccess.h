#pragma once
// The bridge between the scripts' contracts and the configuration: the provider contracts of a
// checked script snapshot (their `schema` fields in the one dialect of config/ContractSchema.h),
// and the engine allowlists derived from them.
//
// What a provider script may read beyond the operator's EnvAllowlist / FileAllowlist is what its
// contract declares (file keys, `env` fallbacks, `file_refs`, the schema's `env` table), resolved
// per server by config::ApplyProviderContracts into ServerConfig::access; nothing is listed per
// provider here. Secret environment variables of a contract (`env = { NAME = { secret = true } }`)
// are registered with SecretRegistry when the engine is built.
//
// Thread safety: pure functions of their arguments, the environment and the script folders.
#include <string>
#include <vector>

#include "gw/common/Error.h"
#include "gw/config/GatewayConfig.h"
#include "gw/config/ProviderContracts.h"
#include "gw/lua/ScriptEngine.h"

namespace gw::service {

// The schema of every script of `snapshot`: LUA-003 naming the file when one is not in the
// dialect (policies' and audit rules' schemas are checked too, so there is one dialect). The
// result holds the provider scripts (null schema: the script declares none).
Result<config::ProviderContracts> ContractsOf(const lua::SnapshotInfo& snapshot);

// Checks the scripts of `global.scriptDirectories` like a reload (a throwaway engine) and returns
// their provider contracts: ParseOptions::loadContracts for the plugin and `check-config`.
Result<config::ProviderContracts> LoadProviderContracts(const config::GlobalConfig& global);

// The engine options of `config` (script folders, limits, isolation) with the allowlists: the
// operator's plus every server's ScriptAccess. Registers the values of the secret environment
// variables the contracts name with SecretRegistry.
lua::EngineOptions EngineOptionsFor(const config::GatewayConfig& config);

}  // namespace gw::service
