#pragma once
// Rig for lua/providers/aws_sigv4.lua: the real script in a real ScriptEngine whose environment
// allowlist holds the AWS SDK variable names (as the gateway sets it for this provider), a private
// folder the script may read (token files), and the RecordingHttp double of ProviderTestSupport.h.
#include <stdlib.h>

#include <initializer_list>
#include <utility>
#include <cmath>
#include <ctime>

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
class AwsEnv {
 public:
  AwsEnv(std::initializer_list<std::pair<const char*, std::string>> values = {}) {
    for (const auto& name : AwsEnvNames()) ::unsetenv(name.c_str());
    for (const auto& [name, value] : values) ::setenv(name, value.c_str(), 1);
  }
  ~AwsEnv() {
    for (const auto& name : AwsEnvNames()) ::unsetenv(name.c_str());
  }
  AwsEnv(const AwsEnv&) = delete;
  AwsEnv& operator=(const AwsEnv&) = delete;
};

class AwsRig {
 public:
  AwsRig() : scripts_({"aws_sigv4"}), files_({}), http_(std::make_shared<RecordingHttp>()) {
    lua::EngineOptions options;
    options.scriptDirs = {scripts_.Path()};
    options.defaultBudget = std::chrono::milliseconds(5000);
    options.maxStatesPerSnapshot = 2;
    options.envAllowlist = AwsEnvNames();
    options.fileAllowlist = {files_.Path()};
    options.http = http_;
    engine_ = std::make_unique<lua::ScriptEngine>(std::move(options));
    auto loaded = engine_->Reload();
    if (!loaded.Ok()) throw std::runtime_error("cannot load aws_sigv4.lua: " + loaded.GetError().ToString());
  }

  RecordingHttp& Http() { return *http_; }
  lua::ScriptEngine& Engine() { return *engine_; }

  // Writes a file into the folder the script may read; returns its path.
  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = files_.Path() + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    return path;
  }

  gw::Result<rapidjson::Document> Call(const char* fn, const std::string& argJson) {
    rapidjson::Document arg;
    arg.Parse(argJson.c_str());
    if (arg.HasParseError()) throw std::runtime_error("bad test JSON: " + argJson);
    return engine_->Call("aws_sigv4", fn, arg);
  }

  gw::Result<rapidjson::Document> Acquire(const std::string& configJson) {
    return Call("acquire", "{\"server\":\"aws\",\"config\":" + configJson + "}");
  }

  void RequireBalanced() const {
    for (int top : engine_->DebugPoolInfo().idleStackTops) REQUIRE(top == 0);
  }

 private:
  ScriptFolder scripts_;
  ScriptFolder files_;
  std::shared_ptr<RecordingHttp> http_;
  std::unique_ptr<lua::ScriptEngine> engine_;
};

}  // namespace gw::providers::test
