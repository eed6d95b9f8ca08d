#pragma once
// Helpers for the Azure provider tests: an engine over the real lua/providers/azure_managed_identity.lua
// (and client_credentials.lua) with the Azure SDK's variables allowlisted, a scoped environment
// variable, and a query-string decoder.
#include <stdlib.h>

#include <map>
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

// Clears every Azure variable of the process for one test, so the machine's environment cannot
// pick a credential.
class CleanAzureEnv {
 public:
  CleanAzureEnv() {
    for (const std::string& n : AzureEnvNames()) guards_.emplace_back(std::make_unique<ScopedEnv>(n.c_str(), nullptr));
  }

 private:
  std::vector<std::unique_ptr<ScopedEnv>> guards_;
};

class AzureRig {
 public:
  explicit AzureRig(std::vector<std::string> fileAllowlist = {}, std::chrono::milliseconds budget = std::chrono::milliseconds(5000))
      : scripts_({"azure_managed_identity", "client_credentials"}), http_(std::make_shared<RecordingHttp>()) {
    lua::EngineOptions options;
    options.scriptDirs = {scripts_.Path()};
    options.defaultBudget = budget;
    options.maxStatesPerSnapshot = 2;
    options.envAllowlist = AzureEnvNames();
    options.fileAllowlist = std::move(fileAllowlist);
    options.fileAllowlist.push_back(SourcePath("tests/fixtures/crypto/"));
    options.http = http_;
    engine_ = std::make_unique<lua::ScriptEngine>(std::move(options));
    auto loaded = engine_->Reload();
    if (!loaded.Ok()) throw std::runtime_error("cannot load provider scripts: " + loaded.GetError().ToString());
  }

  RecordingHttp& Http() { return *http_; }

  Result<rapidjson::Document> Acquire(const std::string& configJson, const std::string& script = "azure_managed_identity") {
    rapidjson::Document arg(rapidjson::kObjectType);
    auto& a = arg.GetAllocator();
    rapidjson::Document config;
    config.Parse(configJson.c_str());
    if (config.HasParseError()) throw std::runtime_error("bad test JSON: " + configJson);
    rapidjson::Value copy;
    copy.CopyFrom(config, a);
    arg.AddMember("server", rapidjson::Value("azure", a), a);
    arg.AddMember("config", copy, a);
    return engine_->Call(script, "acquire", arg);
  }

  void RequireBalanced() const {
    for (int top : engine_->DebugPoolInfo().idleStackTops) REQUIRE(top == 0);
  }

 private:
  ScriptFolder scripts_;
  std::shared_ptr<RecordingHttp> http_;
  std::unique_ptr<lua::ScriptEngine> engine_;
};

// URL without its query, and the decoded query parameters (a repeated name fails the test).
inline std::string UrlPath(const std::string& url) { return url.substr(0, url.find('?')); }

inline std::map<std::string, std::string> QueryOf(const std::string& url) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return {};
  return ParseForm(url.substr(q + 1));
}

inline http::HttpResponse JsonResponse(long status, std::string body,
                                       http::Headers extra = {}) {
  http::HttpResponse r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  for (auto& h : extra) r.headers.push_back(h);
  r.body = std::move(body);
  return r;
}

}  // namespace gw::providers::test
