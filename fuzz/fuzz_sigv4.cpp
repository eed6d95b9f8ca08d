// SigV4 canonicalisation: sign() of lua/providers/aws_sigv4.lua, run for real in the script engine
// (the shipped lua/ folder, as ScriptDirectories loads it). In proxy mode it canonicalises the URL,
// query and headers of every request Orthanc's DICOMweb client sends on, which carry the caller's
// study UIDs and QIDO arguments. The fuzzed data fills the request (method, URL, headers), the region
// and signing service, and the session token.
// Checked: no crash; sign() either returns headers or fails with its own code (SIG-/CFG-), never a
// Lua runtime error (a script bug), never the instruction deadline or the memory cap on an input of
// a few kilobytes; a success carries an Authorization header of the AWS4-HMAC-SHA256 form.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "FuzzSupport.h"
#include "gw/common/Json.h"
#include "gw/lua/ScriptEngine.h"

namespace {

gw::lua::ScriptEngine& Engine() {
  static std::unique_ptr<gw::lua::ScriptEngine> engine = [] {
    gw::lua::EngineOptions options;
    options.scriptDirs = {std::string(GW_SOURCE_DIR) + "/lua"};
    options.maxStatesPerSnapshot = 1;
    auto e = std::make_unique<gw::lua::ScriptEngine>(options);
    auto loaded = e->Reload();
    if (!loaded.Ok()) std::fprintf(stderr, "%s\n", loaded.GetError().ToString().c_str());
    GW_FUZZ_CHECK(loaded.Ok(), "the shipped scripts do not load");
    return e;
  }();
  return *engine;
}

rapidjson::Value Text(const std::string& s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gw::lua::ScriptEngine& engine = Engine();
  FuzzedDataProvider in(data, size);
  rapidjson::Document arg(rapidjson::kObjectType);
  auto& a = arg.GetAllocator();

  rapidjson::Value config(rapidjson::kObjectType);
  config.AddMember("Region", Text(in.ConsumeBool() ? "us-east-1" : in.ConsumeRandomLengthString(32), a), a);
  if (in.ConsumeBool()) config.AddMember("SigningService", Text(in.ConsumeRandomLengthString(16), a), a);
  arg.AddMember("config", config, a);

  std::string credential = "{\"AccessKeyId\":\"AKIDEXAMPLE\",\"SecretAccessKey\":\"secret\"";
  if (in.ConsumeBool()) {
    credential += ",\"SessionToken\":" + gw::json::Stringify(Text(in.ConsumeRandomLengthString(64), a));
  }
  arg.AddMember("credential", Text(credential + "}", a), a);
  arg.AddMember("server", "aws", a);
  arg.AddMember("time", "20150830T123600Z", a);

  rapidjson::Value request(rapidjson::kObjectType);
  static const char* const kMethods[] = {"GET", "POST", "DELETE", "PUT"};
  const std::string method = in.ConsumeBool() ? kMethods[in.ConsumeIntegralInRange<int>(0, 3)]
                                              : in.ConsumeRandomLengthString(16);
  request.AddMember("method", Text(method, a), a);
  std::string url = in.ConsumeBool() ? "https://medical-imaging.us-east-1.amazonaws.com/datastore/d/" : "";
  url += in.ConsumeRandomLengthString(1024);
  request.AddMember("url", Text(url, a), a);
  rapidjson::Value headers(rapidjson::kObjectType);
  const int count = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < count; ++i) {
    std::string name = in.ConsumeRandomLengthString(24);
    std::string value = in.ConsumeRandomLengthString(256);
    if (!headers.HasMember(name.c_str()) && name.find('\0') == std::string::npos) {
      headers.AddMember(Text(name, a), Text(value, a), a);
    }
  }
  request.AddMember("headers", headers, a);
  request.AddMember("payload_sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", a);
  arg.AddMember("request", request, a);

  auto out = engine.Call("aws_sigv4", "sign", arg, std::chrono::milliseconds(5000), "aws");
  if (!out.Ok()) {
    const std::string& code = out.GetError().code;
    if (code.rfind("LUA-", 0) == 0) std::fprintf(stderr, "%s\n", out.GetError().ToString().c_str());
    GW_FUZZ_CHECK(code.rfind("SIG-", 0) == 0 || code.rfind("CFG-", 0) == 0,
                  "sign() failed with a Lua error instead of its own code");
    return 0;
  }
  const auto& doc = out.Value();
  GW_FUZZ_CHECK(doc.IsObject() && doc.HasMember("headers") && doc["headers"].IsObject(), "sign() returned no headers");
  const auto& h = doc["headers"];
  GW_FUZZ_CHECK(h.HasMember("Authorization") && h["Authorization"].IsString() &&
                    std::string(h["Authorization"].GetString()).rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0) == 0,
                "sign() succeeded without an AWS4 Authorization header");
  return 0;
}
