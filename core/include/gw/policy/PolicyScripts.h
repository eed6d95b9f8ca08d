#pragma once
// Checks that every policy script the configuration names is in a script snapshot and is of kind
// "policy". Used at start-up (a problem is a CFG-002 and nothing starts) and as part of the
// reload validator (a snapshot without a needed policy is refused, the old one keeps serving).
#include <map>
#include <string>
#include <vector>

#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"

namespace gw::policy {

// `scripts`: name -> kind of the snapshot's scripts.
std::vector<config::Diagnostic> VerifyPolicyScripts(const config::GatewayConfig& config,
                                                    const std::map<std::string, std::string>& scripts);

}  // namespace gw::policy
