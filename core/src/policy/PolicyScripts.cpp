#include "gw/policy/PolicyScripts.h"

namespace gw::policy {

std::vector<config::Diagnostic> VerifyPolicyScripts(const config::GatewayConfig& config,
                                                    const std::map<std::string, std::string>& scripts) {
  std::vector<config::Diagnostic> out;
  auto check = [&](const std::string& name, const std::string& path, const std::string& who) {
    const auto it = scripts.find(name);
    if (it == scripts.end()) {
      out.push_back({config::Severity::Error, "CFG-002", path,
                     who + " needs the policy script `" + name + "`, which is not among the checked scripts; add " +
                         name + ".lua to one of the ScriptDirectories folders"});
    } else if (it->second != "policy") {
      out.push_back({config::Severity::Error, "CFG-002", path,
                     who + " needs the policy script `" + name + "`, but that script is of kind `" + it->second +
                         "`, not `policy`"});
    }
  };
  for (size_t i = 0; i < config.global.policies.size(); ++i) {
    check(config.global.policies[i], "DicomWebOAuth.Policies[" + std::to_string(i) + "]", "the default policy list");
  }
  for (const auto& [name, server] : config.servers) {
    if (!server.policiesExplicit) continue;  // the default list, checked above
    for (size_t i = 0; i < server.policies.size(); ++i) {
      check(server.policies[i], "DicomWebOAuth.Servers." + name + ".Policies[" + std::to_string(i) + "]",
            "server `" + name + "`");
    }
  }
  return out;
}

}  // namespace gw::policy
