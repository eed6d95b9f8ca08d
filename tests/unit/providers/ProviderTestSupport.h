#pragma once
// Helpers for the provider script tests: the real script from lua/providers/ copied into a private
// folder and loaded in a real ScriptEngine, a fake IHttpClient that records every request and
// answers with canned responses, and small decoders (form bodies, Basic credentials) written
// independently of the engine's own encoders so the tests do not check the code with itself.
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/http/IHttpClient.h"
#include "gw/lua/ScriptEngine.h"

namespace gw::providers::test {

// Sets, or unsets, one environment variable for the lifetime of the object and restores what was
// there before. The unit tests run on one thread; the engine reads variables with getenv at call
// time. One definition for every provider test (two classes of the same name in one test binary
// would break the one-definition rule).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ScopedEnv(const char* name, const std::string& value) : ScopedEnv(name, value.c_str()) {}
  explicit ScopedEnv(const char* name) : ScopedEnv(name, nullptr) {}  // guaranteed unset
  ~ScopedEnv() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

inline std::string SourcePath(const std::string& relative) { return std::string(GW_SOURCE_DIR) + "/" + relative; }
inline std::string CryptoFixture(const std::string& name) { return SourcePath("tests/fixtures/crypto/" + name); }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A folder under the system temp directory holding copies of the named provider scripts and of
// the shipped libraries they use (lua/lib/ as lib/); removed at destruction.
class ScriptFolder {
 public:
  explicit ScriptFolder(const std::vector<std::string>& providers) {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-providers-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    std::filesystem::copy(SourcePath("lua/lib"), std::filesystem::path(path_) / "lib");
    for (const std::string& name : providers) {
      std::filesystem::copy_file(SourcePath("lua/providers/" + name + ".lua"),
                                 std::filesystem::path(path_) / (name + ".lua"));
    }
  }
  ~ScriptFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScriptFolder(const ScriptFolder&) = delete;
  ScriptFolder& operator=(const ScriptFolder&) = delete;
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

// IHttpClient double: records every request; answers with `respond`, or 500 when none is set.
class RecordingHttp : public http::IHttpClient {
 public:
  std::function<Result<http::HttpResponse>(const http::HttpRequest&)> respond;

  Result<http::HttpResponse> Perform(const http::HttpRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
    }
    if (respond) return respond(request);
    http::HttpResponse r;
    r.status = 500;
    return r;
  }
  std::vector<http::HttpRequest> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  http::HttpRequest Last() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (requests_.empty()) throw std::runtime_error("no request was made");
    return requests_.back();
  }
  size_t Count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_.size();
  }

  // Always answers `status` with `body` (JSON content type).
  void Answer(long status, std::string body) {
    respond = [status, body = std::move(body)](const http::HttpRequest&) -> Result<http::HttpResponse> {
      http::HttpResponse r;
      r.status = status;
      r.headers = {{"content-type", "application/json"}};
      r.body = body;
      return r;
    };
  }

 private:
  mutable std::mutex mutex_;
  std::vector<http::HttpRequest> requests_;
};

// One engine over a private copy of lua/providers/client_credentials.lua, reading files from
// tests/fixtures/crypto, talking to a RecordingHttp.
class ProviderRig {
 public:
  explicit ProviderRig(std::vector<std::string> providers = {"client_credentials"})
      : scripts_(providers), http_(std::make_shared<RecordingHttp>()) {
    lua::EngineOptions options;
    options.scriptDirs = {scripts_.Path()};
    options.defaultBudget = std::chrono::milliseconds(5000);
    options.maxStatesPerSnapshot = 2;
    options.fileAllowlist = {SourcePath("tests/fixtures/crypto/")};
    options.http = http_;
    engine_ = std::make_unique<lua::ScriptEngine>(std::move(options));
    auto loaded = engine_->Reload();
    if (!loaded.Ok()) throw std::runtime_error("cannot load provider scripts: " + loaded.GetError().ToString());
  }

  RecordingHttp& Http() { return *http_; }
  std::shared_ptr<RecordingHttp> HttpPtr() { return http_; }
  lua::ScriptEngine& Engine() { return *engine_; }

  // Runs client_credentials.acquire{server=, config=<configJson>}.
  Result<rapidjson::Document> Acquire(const std::string& configJson, const std::string& server = "cloud") {
    rapidjson::Document arg(rapidjson::kObjectType);
    auto& a = arg.GetAllocator();
    rapidjson::Document config;
    config.Parse(configJson.c_str());
    if (config.HasParseError()) throw std::runtime_error("bad test JSON: " + configJson);
    rapidjson::Value copy;
    copy.CopyFrom(config, a);
    arg.AddMember("server", rapidjson::Value(server.c_str(), a), a);
    arg.AddMember("config", copy, a);
    return engine_->Call("client_credentials", "acquire", arg);
  }

  // Every idle Lua state has an empty stack (the glue kept it balanced).
  void RequireBalanced() const {
    for (int top : engine_->DebugPoolInfo().idleStackTops) REQUIRE(top == 0);
  }

 private:
  ScriptFolder scripts_;
  std::shared_ptr<RecordingHttp> http_;
  std::unique_ptr<lua::ScriptEngine> engine_;
};

// ---- independent decoders --------------------------------------------------------------------

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::runtime_error("bad hex digit");
}

// application/x-www-form-urlencoded value decoding ('+' is a space).
inline std::string FormUnescape(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) throw std::runtime_error("truncated escape in " + in);
      out += static_cast<char>(HexDigit(in[i + 1]) * 16 + HexDigit(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// Form body -> name/value; a repeated name fails the test (the script never sends one twice).
inline std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (eq == std::string::npos) throw std::runtime_error("form field without '=': " + pair);
    const std::string name = FormUnescape(pair.substr(0, eq));
    if (out.count(name) != 0) throw std::runtime_error("repeated form field " + name);
    out[name] = FormUnescape(pair.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

inline std::string Base64Decode(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0;
  uint32_t value = 0;  // only the low bits not yet emitted matter
  for (char c : in) {
    if (c == '=') break;
    const size_t index = kAlphabet.find(c);
    if (index == std::string::npos) throw std::runtime_error("bad base64");
    value = ((value << 6) | static_cast<uint32_t>(index)) & 0xffffffu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

inline std::string HexToBase64Url(std::string hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) raw += static_cast<char>(HexDigit(hex[i]) * 16 + HexDigit(hex[i + 1]));
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int bits = 0;
  uint32_t value = 0;  // only the low bits not yet emitted matter
  for (unsigned char c : raw) {
    value = ((value << 8) | c) & 0xffffu;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(value >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(value << (6 - bits)) & 63];
  return out;
}

// First value of a request header, compared case-insensitively; "" when absent.
inline std::string HeaderOf(const http::HttpRequest& request, const std::string& name) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return s;
  };
  for (const auto& [n, v] : request.headers) {
    if (lower(n) == lower(name)) return v;
  }
  return {};
}

inline size_t HeaderCount(const http::HttpRequest& request, const std::string& name) {
  size_t n = 0;
  for (const auto& h : request.headers) {
    std::string a = h.first;
    std::string b = name;
    for (char& c : a) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    for (char& c : b) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    n += a == b;
  }
  return n;
}

inline std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A JSON string literal (quotes and escapes) for building test configurations.
inline std::string Quote(const std::string& text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

inline int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace gw::providers::test
