#pragma once
// A rig for the Google, static-token and token-file provider tests: the real scripts from
// lua/providers/ in a real ScriptEngine, a private folder the scripts may read (credential files,
// subject tokens, token files), an environment allowlist, and the RecordingHttp of
// ProviderTestSupport.h. Environment variables are real (setenv), scoped by ScopedEnv.
#include <stdlib.h>

#include "ProviderTestSupport.h"

namespace gw::providers::test {

class ScriptRig {
 public:
  explicit ScriptRig(std::vector<std::string> scripts, std::vector<std::string> envAllowlist = {})
      : scripts_(scripts), data_({}), http_(std::make_shared<RecordingHttp>()) {
    lua::EngineOptions options;
    options.scriptDirs = {scripts_.Path()};
    options.defaultBudget = std::chrono::milliseconds(5000);
    options.maxStatesPerSnapshot = 2;
    options.fileAllowlist = {data_.Path(), SourcePath("tests/fixtures/crypto/")};
    options.envAllowlist = std::move(envAllowlist);
    options.http = http_;
    engine_ = std::make_unique<lua::ScriptEngine>(std::move(options));
    auto loaded = engine_->Reload();
    if (!loaded.Ok()) throw std::runtime_error("cannot load provider scripts: " + loaded.GetError().ToString());
  }

  RecordingHttp& Http() { return *http_; }

  // A file in the folder the scripts may read; returns its absolute path.
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = data_.Path() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    return path;
  }
  std::string DataPath(const std::string& name) const { return data_.Path() + "/" + name; }

  // script.acquire{server="cloud", config=<configJson>}
  Result<rapidjson::Document> Acquire(const std::string& script, const std::string& configJson) {
    rapidjson::Document arg(rapidjson::kObjectType);
    auto& a = arg.GetAllocator();
    rapidjson::Document config;
    config.Parse(configJson.c_str());
    if (config.HasParseError()) throw std::runtime_error("bad test JSON: " + configJson);
    rapidjson::Value copy;
    copy.CopyFrom(config, a);
    arg.AddMember("server", rapidjson::Value("cloud", a), a);
    arg.AddMember("config", copy, a);
    return engine_->Call(script, "acquire", arg);
  }

  void RequireBalanced() const {
    for (int top : engine_->DebugPoolInfo().idleStackTops) REQUIRE(top == 0);
  }

 private:
  ScriptFolder scripts_;
  ScriptFolder data_;  // an empty private folder
  std::shared_ptr<RecordingHttp> http_;
  std::unique_ptr<lua::ScriptEngine> engine_;
};

// The query string value of `name` in `url` (percent-decoded), or "" when absent.
inline std::string QueryParam(const std::string& url, const std::string& name) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return {};
  const auto form = ParseForm(url.substr(q + 1));
  const auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

// An answer with explicit headers.
inline http::HttpResponse Answer(long status, std::string body,
                                 std::vector<std::pair<std::string, std::string>> headers = {
                                     {"content-type", "application/json"}}) {
  http::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

inline std::string ErrorCode(const Result<rapidjson::Document>& r) { return r.Ok() ? "ok" : r.GetError().code; }

}  // namespace gw::providers::test
