#pragma once
// A rig for the Google, static-token and token-file provider tests: the real scripts from
// lua/providers/ in the EngineRig of ProviderTestSupport.h (a private folder the scripts may read
// for credential files, subject tokens and token files; an environment allowlist; the
// RecordingHttp). Environment variables are real (setenv), scoped by ScopedEnv.
#include <string>
#include <vector>

#include "ProviderTestSupport.h"

namespace gw::providers::test {

class ScriptRig : public EngineRig {
 public:
  explicit ScriptRig(std::vector<std::string> scripts, std::vector<std::string> envAllowlist = {})
      : EngineRig({std::move(scripts), std::move(envAllowlist), {CryptoFixtureDir()}}) {}

  // script.acquire{server="cloud", config=<configJson>}
  Result<rapidjson::Document> Acquire(const std::string& script, const std::string& configJson) {
    return RunAcquire(script, "cloud", configJson);
  }
};

}  // namespace gw::providers::test
