#pragma once
// Rig for lua/providers/aws_sigv4.lua: the real script in a real ScriptEngine whose environment
// allowlist holds the AWS SDK variable names (as the gateway sets it for this provider), a private
// folder the script may read (token files), and the RecordingHttp double of ProviderTestSupport.h.
#include <cmath>
#include <ctime>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "ProviderTestSupport.h"
#include "gw/service/ProviderAccess.h"

namespace gw::providers::test {

// Every variable the provider may read, exactly the list the gateway allowlists for it (its
// contract's schema: `env` and the keys' `env` fallbacks); each test starts with all of them unset.
inline const std::vector<std::string>& AwsEnvNames() {
  static const std::vector<std::string> names = [] {
    gw::config::GlobalConfig global;
    global.scriptDirectories = {std::string(GW_SOURCE_DIR) + "/lua"};
    auto contracts = gw::service::LoadProviderContracts(global);
    if (!contracts.Ok()) throw std::runtime_error(contracts.GetError().ToString());
    const gw::config::ContractSchema& schema = *contracts.Value().at("aws_sigv4");
    std::vector<std::string> out;
    for (const auto& [name, env] : schema.Env()) out.push_back(name);
    for (const auto& [key, field] : schema.Properties()) {
      if (!field->env.empty()) out.push_back(field->env);
    }
    return out;
  }();
  return names;
}

// Sets the given variables for the lifetime of the object, every other AWS variable unset.
class AwsEnv : public CleanEnv {
 public:
  AwsEnv(std::initializer_list<std::pair<const char*, std::string>> values = {}) : CleanEnv(AwsEnvNames(), values) {}
};

// The script may read files from the rig's data folder (token files) only.
class AwsRig : public EngineRig {
 public:
  AwsRig() : EngineRig({{"aws_sigv4"}, AwsEnvNames(), {}}) {}

  gw::Result<rapidjson::Document> Call(const char* fn, const std::string& argJson) {
    rapidjson::Document arg;
    arg.Parse(argJson.c_str());
    if (arg.HasParseError()) throw std::runtime_error("bad test JSON: " + argJson);
    return Engine().Call("aws_sigv4", fn, arg);
  }

  gw::Result<rapidjson::Document> Acquire(const std::string& configJson) {
    return RunAcquire("aws_sigv4", "aws", configJson);
  }
};

}  // namespace gw::providers::test
