#pragma once
// A provider's contract is the single source of its configuration rules. The parser reads only
// the keys the gateway itself uses (GatewayServerKeys()); everything else a server object holds is
// the provider script's, described by the `schema` of its contract (ContractSchema.h).
// ApplyProviderContracts() then gives every server, shipped or custom provider alike:
//   - CFG-004 for keys neither the gateway nor the schema knows (with a "did you mean" hint);
//     a provider without a schema reads its own keys and gets none (as before schemas existed);
//   - CFG-001 for the schema's required keys, CFG-002 for types and ranges, CFG-003 for empty
//     secret, file and required values;
//   - secret keys resolved from env:/file:/keyvault:/literal: references (CFG-007) and collected
//     in ServerConfig::secrets, so SecretRegistry masks them;
//   - file keys resolved against the configuration's folder and checked (CFG-002), and with the
//     schema's environment variables, the files and variables the script may read
//     (ServerConfig::access), from which the engine's allowlists are built.
// The server's raw object (what the script receives) holds the resolved secrets and paths.
//
// Thread safety: a pure function of its arguments, the environment and the files it checks.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gw/config/ContractSchema.h"
#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"

namespace gw::config {

struct ParseOptions;

// Provider script name -> its schema; null when the script declares none.
using ProviderContracts = std::map<std::string, std::shared_ptr<const ContractSchema>>;

// The keys of a server object the gateway reads itself: ProviderType resolution (ProviderType,
// Provider, TokenEndpoint, CredentialsFile), mode, targets, policies, TLS, resilience, token
// identity and validation, and the DICOMweb plugin's server definition.
const std::vector<std::string>& GatewayServerKeys();

// A key of another gateway object (a section, ResilienceConfig, Audit or Health key) written on a
// server: the parser reports it as misplaced for every server, so the contract check skips it.
bool IsMisplacedServerKey(const std::string& key);

// Checks and completes every server of `config` against its provider's contract (see above);
// servers whose provider has no entry in `contracts` are left alone (VerifyProviderScripts
// reports a missing script). `options` gives the base folder, checkFiles, ${VAR} uses and the
// secret resolvers.
std::vector<Diagnostic> ApplyProviderContracts(GatewayConfig& config, const ProviderContracts& contracts,
                                               const ParseOptions& options);

// The same checks without resolving anything again, for a reload: a new script snapshot whose
// schemas the running configuration no longer satisfies is refused (errors only).
std::vector<Diagnostic> VerifyProviderContracts(const GatewayConfig& config, const ProviderContracts& contracts);

}  // namespace gw::config
