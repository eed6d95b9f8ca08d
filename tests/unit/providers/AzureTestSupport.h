#pragma once
// Helpers for the Azure provider tests: an engine over the real lua/providers/azure_managed_identity.lua
// (and client_credentials.lua) with the Azure SDK's variables allowlisted, and a clean Azure
// environment. The generic parts (rig, HTTP double, query decoding) are in ProviderTestSupport.h.
#include <chrono>
#include <string>
#include <vector>

#include "ProviderTestSupport.h"

namespace gw::providers::test {

inline const std::vector<std::string>& AzureEnvNames() {
  static const std::vector<std::string> names = {
      "AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID",  "AZURE_CLIENT_ID",  "AZURE_CLIENT_SECRET",
      "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "AZURE_POD_IDENTITY_AUTHORITY_HOST"};
  return names;
}

// Clears every Azure variable of the process for one test.
class CleanAzureEnv : public CleanEnv {
 public:
  CleanAzureEnv() : CleanEnv(AzureEnvNames()) {}
};

class AzureRig : public EngineRig {
 public:
  explicit AzureRig(std::vector<std::string> fileAllowlist = {}, std::chrono::milliseconds budget = std::chrono::milliseconds(5000))
      : EngineRig({{"azure_managed_identity", "client_credentials"}, AzureEnvNames(), WithCryptoFixtures(std::move(fileAllowlist)),
                   budget}) {}

  Result<rapidjson::Document> Acquire(const std::string& configJson, const std::string& script = "azure_managed_identity") {
    return RunAcquire(script, "azure", configJson);
  }

 private:
  static std::vector<std::string> WithCryptoFixtures(std::vector<std::string> paths) {
    paths.push_back(CryptoFixtureDir());
    return paths;
  }
};

}  // namespace gw::providers::test
