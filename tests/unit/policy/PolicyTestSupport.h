#pragma once
// Helpers for the routing policy tests: a private script folder holding copies of the real
// policies from lua/policies/routing/ (and any test scripts), a real ScriptEngine over it, and a
// request description that owns the data its views point at.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include "gw/lua/ScriptEngine.h"
#include "gw/policy/PolicyEngine.h"

namespace gw::policy::test {

inline const std::vector<std::string>& ShippedPolicies() {
  static const std::vector<std::string> names = {"default_routing", "failover", "read_only",
                                                 "no_authorization_override", "user_server_acl"};
  return names;
}

class PolicyFolder {
 public:
  explicit PolicyFolder(const std::vector<std::string>& shipped = ShippedPolicies()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-policy-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    for (const std::string& name : shipped) {
      std::filesystem::copy_file(std::string(GW_SOURCE_DIR) + "/lua/policies/routing/" + name + ".lua",
                                 std::filesystem::path(path_) / (name + ".lua"));
    }
  }
  ~PolicyFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  PolicyFolder(const PolicyFolder&) = delete;
  PolicyFolder& operator=(const PolicyFolder&) = delete;

  // A test policy named `name` whose decide(request) body is `body`.
  void AddPolicy(const std::string& name, const std::string& body) const {
    std::ofstream(std::filesystem::path(path_) / (name + ".lua"))
        << "local M = { name = '" << name << "', version = '1', kind = 'policy' }\n"
        << "function M.decide(request)\n" << body << "\nend\nreturn M\n";
  }
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

// A ScriptEngine over a folder, loaded once.
inline std::unique_ptr<lua::ScriptEngine> LoadEngine(const PolicyFolder& folder) {
  lua::EngineOptions options;
  options.scriptDirs = {folder.Path()};
  auto engine = std::make_unique<lua::ScriptEngine>(options);
  auto loaded = engine->Reload();
  INFO((loaded ? std::string("ok") : loaded.GetError().ToString()));
  REQUIRE(loaded.Ok());
  return engine;
}

// Owns what a PolicyRequest views.
struct RequestData {
  std::string server = "cloud";
  std::string mode = "proxy";
  std::string method = "GET";
  std::string path = "studies";
  std::string operation;
  std::string user;
  std::string ip;
  std::string authorization;
  Stage stage = Stage::Upstream;
  http::Headers headers;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, bool>> targets = {{"primary", true}};
  rapidjson::Document config;

  PolicyRequest View() const {
    PolicyRequest r;
    r.stage = stage;
    r.server = server;
    r.mode = mode;
    r.method = method;
    r.path = path;
    r.operation = operation;
    r.headers = &headers;
    r.query = &query;
    r.user = user;
    r.ip = ip;
    r.authorization = authorization;
    for (const auto& [name, healthy] : targets) {
      r.targets.push_back({name, name == "primary" ? "https://a.example/dicom-web/" : "https://b.example/dicom-web/",
                           healthy});
    }
    if (config.IsObject()) r.config = &config;
    return r;
  }
};

inline rapidjson::Document ParseJson(const char* text) {
  rapidjson::Document d;
  d.Parse(text);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace gw::policy::test
