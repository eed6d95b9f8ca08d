#pragma once
// Helpers shared by the configuration tests: fixture paths, a fake environment, and lookups in
// diagnostic lists.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <stdlib.h>
#include <unistd.h>

#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/Diagnostic.h"
#include "gw/config/VariableSubstitution.h"
#include "gw/service/ProviderAccess.h"

namespace gw::config::test {

inline std::string FixtureDir() { return std::string(GW_SOURCE_DIR) + "/tests/fixtures/config"; }
inline std::string Fixture(const std::string& relative) { return FixtureDir() + "/" + relative; }

// An environment that holds exactly `vars`.
inline EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Options that do not depend on where the gateway is installed.
inline ParseOptions TestOptions() {
  ParseOptions options;
  options.baseDirectory = FixtureDir();
  options.defaultScriptDirectory = std::string(GW_SOURCE_DIR) + "/lua";
  // The shipped providers' contracts, as the plugin and check-config load them (whatever folders
  // a test's configuration names).
  options.loadContracts = [](const GlobalConfig&) {
    GlobalConfig shipped;
    shipped.scriptDirectories = {std::string(GW_SOURCE_DIR) + "/lua"};
    return gw::service::LoadProviderContracts(shipped);
  };
  return options;
}

// Parsed with Orthanc's leniency (ConfigLoader::ParseText): a repeated key keeps its last value,
// which lets a test override a key of BaseServer() by appending it.
inline std::shared_ptr<rapidjson::Document> Json(const std::string& text) {
  std::vector<Diagnostic> diagnostics;
  std::shared_ptr<rapidjson::Document> doc = ConfigLoader::ParseText(text, "test", diagnostics);
  INFO(text);
  REQUIRE(doc != nullptr);
  return doc;
}

inline ParseResult ParseJson(const std::string& text, const ParseOptions& options = TestOptions()) {
  return ConfigParser::Parse(*Json(text), options);
}

// A whole configuration around one server object (given as JSON text).
inline std::string WithServer(const std::string& serverJson, const std::string& extraGlobal = "",
                              const std::string& extraRoot = "") {
  return "{" + extraRoot + (extraRoot.empty() ? "" : ",") + R"("DicomWebOAuth": {)" + extraGlobal +
         (extraGlobal.empty() ? "" : ",") + R"("Servers": {"s": )" + serverJson + "}}}";
}

// A valid client-credentials server, to which a test adds or overrides keys.
inline std::string BaseServer(const std::string& extra = "") {
  return R"({"Url": "https://dicom.example.com/v2/", "TokenEndpoint": "https://idp.example.com/token",
             "ClientId": "orthanc", "ClientSecret": "base-secret-value")" +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}

// A string key of a server's object as its provider script receives it (provider keys have no
// typed field: the contract describes them).
inline std::string RawString(const ServerConfig& server, const char* key) {
  if (!server.raw || !server.raw->IsObject()) return "<no raw object>";
  const auto it = server.raw->FindMember(key);
  if (it == server.raw->MemberEnd()) return "<absent>";
  return it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength()) : "<not a string>";
}

inline std::string Dump(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += d.ToString() + "\n";
  return out;
}

inline const Diagnostic* Find(const std::vector<Diagnostic>& diagnostics, const std::string& code,
                              const std::string& path) {
  for (const auto& d : diagnostics) {
    if (d.code == code && d.path == path) return &d;
  }
  return nullptr;
}

inline bool Has(const std::vector<Diagnostic>& diagnostics, const std::string& code, const std::string& path,
                Severity severity = Severity::Error) {
  const Diagnostic* d = Find(diagnostics, code, path);
  return d != nullptr && d->severity == severity;
}

inline size_t CountCode(const std::vector<Diagnostic>& diagnostics, const std::string& code) {
  size_t n = 0;
  for (const auto& d : diagnostics) n += d.code == code ? 1 : 0;
  return n;
}

// Sets a variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// A fresh temporary folder, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("gw-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }
  std::string Path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace gw::config::test
