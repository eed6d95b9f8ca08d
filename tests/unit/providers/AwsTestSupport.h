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

namespace gw::providers::test {

// Every variable the provider may read; each test starts with all of them unset.
inline const std::vector<std::string>& AwsEnvNames() {
  static const std::vector<std::string> kNames = {
      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
      "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS",
      "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"};
  return kNames;
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
