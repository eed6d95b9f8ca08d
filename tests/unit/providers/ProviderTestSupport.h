#pragma once
// Helpers for the provider script tests: the real scripts from lua/providers/ copied into a private
// folder and loaded in a real ScriptEngine (EngineRig, the base of every provider's rig), a fake
// IHttpClient that records every request and answers with canned responses, scoped environment
// variables, and small decoders (form bodies, query strings, Basic credentials) written
// independently of the engine's own encoders so the tests do not check the code with itself.
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/crypto/Encoding.h"
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

// Unsets every variable in `names`, then sets `values`, for the lifetime of the object; restores
// what was there before. A provider's test starts from none of its variables, so the machine's
// own environment cannot pick a credential.
class CleanEnv {
 public:
  explicit CleanEnv(const std::vector<std::string>& names,
                    std::initializer_list<std::pair<const char*, std::string>> values = {}) {
    for (const std::string& name : names) guards_.push_back(std::make_unique<ScopedEnv>(name.c_str()));
    for (const auto& [name, value] : values) guards_.push_back(std::make_unique<ScopedEnv>(name, value));
  }
  // Last set, first restored: a name both cleared and set comes back to its original value.
  ~CleanEnv() {
    while (!guards_.empty()) guards_.pop_back();
  }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;

 private:
  std::vector<std::unique_ptr<ScopedEnv>> guards_;
};

inline std::string SourcePath(const std::string& relative) { return std::string(GW_SOURCE_DIR) + "/" + relative; }
inline std::string CryptoFixtureDir() { return SourcePath("tests/fixtures/crypto/"); }
inline std::string CryptoFixture(const std::string& name) { return CryptoFixtureDir() + name; }

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

// A canned answer: `status`, `body` and `headers` (by default a JSON content type only).
inline http::HttpResponse Response(long status, std::string body,
                                   http::Headers headers = {{"content-type", "application/json"}}) {
  http::HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

// A JSON answer with `extra` headers after the content type.
inline http::HttpResponse JsonResponse(long status, std::string body, http::Headers extra = {}) {
  http::Headers headers = {{"content-type", "application/json"}};
  for (auto& h : extra) headers.push_back(std::move(h));
  return Response(status, std::move(body), std::move(headers));
}

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
      return JsonResponse(status, body);
    };
  }

 private:
  mutable std::mutex mutex_;
  std::vector<http::HttpRequest> requests_;
};

// What an EngineRig loads and lets the scripts reach.
struct RigOptions {
  std::vector<std::string> scripts;        // provider names, copied from lua/providers/
  std::vector<std::string> envAllowlist;   // variables gw.env.get may read
  std::vector<std::string> fileAllowlist;  // besides the rig's own data folder
  std::chrono::milliseconds budget{5000};
};

// A real ScriptEngine over private copies of provider scripts, talking to a RecordingHttp, with a
// private data folder the scripts may read (credential files, subject tokens, token files).
// Every provider's test rig is one of these plus its own way of calling acquire().
class EngineRig {
 public:
  explicit EngineRig(RigOptions rig) : scripts_(rig.scripts), data_({}), http_(std::make_shared<RecordingHttp>()) {
    lua::EngineOptions options;
    options.scriptDirs = {scripts_.Path()};
    options.defaultBudget = rig.budget;
    options.maxStatesPerSnapshot = 2;
    options.envAllowlist = std::move(rig.envAllowlist);
    options.fileAllowlist = std::move(rig.fileAllowlist);
    options.fileAllowlist.push_back(data_.Path());
    options.http = http_;
    engine_ = std::make_unique<lua::ScriptEngine>(std::move(options));
    auto loaded = engine_->Reload();
    if (!loaded.Ok()) throw std::runtime_error("cannot load provider scripts: " + loaded.GetError().ToString());
  }

  RecordingHttp& Http() { return *http_; }
  std::shared_ptr<RecordingHttp> HttpPtr() { return http_; }
  lua::ScriptEngine& Engine() { return *engine_; }

  // A file in the folder the scripts may read; returns its absolute path.
  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = DataPath(name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    return path;
  }
  std::string DataPath(const std::string& name) const { return data_.Path() + "/" + name; }

  // Runs script.acquire{server=<server>, config=<configJson>}.
  Result<rapidjson::Document> RunAcquire(const std::string& script, const std::string& server,
                                         const std::string& configJson) {
    rapidjson::Document arg(rapidjson::kObjectType);
    auto& a = arg.GetAllocator();
    rapidjson::Document config;
    config.Parse(configJson.c_str());
    if (config.HasParseError()) throw std::runtime_error("bad test JSON: " + configJson);
    rapidjson::Value copy;
    copy.CopyFrom(config, a);
    arg.AddMember("server", rapidjson::Value(server.c_str(), a), a);
    arg.AddMember("config", copy, a);
    return engine_->Call(script, "acquire", arg);
  }

  // Every idle Lua state has an empty stack (the glue kept it balanced).
  void RequireBalanced() const {
    for (int top : engine_->DebugPoolInfo().idleStackTops) REQUIRE(top == 0);
  }

 private:
  ScriptFolder scripts_;
  ScriptFolder data_;  // an empty private folder
  std::shared_ptr<RecordingHttp> http_;
  std::unique_ptr<lua::ScriptEngine> engine_;
};

// The rig of the client_credentials tests: the scripts read key files from tests/fixtures/crypto.
class ProviderRig : public EngineRig {
 public:
  explicit ProviderRig(std::vector<std::string> providers = {"client_credentials"})
      : EngineRig({std::move(providers), {}, {CryptoFixtureDir()}}) {}

  // Runs client_credentials.acquire{server=, config=<configJson>}.
  Result<rapidjson::Document> Acquire(const std::string& configJson, const std::string& server = "cloud") {
    return RunAcquire("client_credentials", server, configJson);
  }
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

// URL without its query.
inline std::string UrlPath(const std::string& url) { return url.substr(0, url.find('?')); }

// The decoded query parameters of `url` (a repeated name fails the test).
inline std::map<std::string, std::string> QueryOf(const std::string& url) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return {};
  return ParseForm(url.substr(q + 1));
}

// The query string value of `name` in `url` (percent-decoded), or "" when absent.
inline std::string QueryParam(const std::string& url, const std::string& name) {
  const auto query = QueryOf(url);
  const auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
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

// An unsigned JWT whose payload is {"exp": exp}: the static and file token providers read the
// expiry from it and never verify a signature.
inline std::string UnsignedJwt(int64_t exp) {
  return crypto::Base64UrlEncode(R"({"alg":"none"})") + "." +
         crypto::Base64UrlEncode("{\"exp\":" + std::to_string(exp) + "}") + ".";
}

// A JSON string literal (quotes and escapes) for building test configurations.
inline std::string Quote(const std::string& text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

// The error code of a failed call, "ok" for a success.
inline std::string ErrorCode(const Result<rapidjson::Document>& r) { return r.Ok() ? "ok" : r.GetError().code; }

inline int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace gw::providers::test
