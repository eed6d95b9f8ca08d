// The JSON <-> Lua bridge (core/src/lua/JsonBridge): gw.json.decode in scripts, and every
// ScriptEngine::Call argument and result. Scripts decode IdP answers, credential files and
// metadata-service answers with it.
// Checked: decoding never crashes; whatever decodes encodes again (the two sides agree on the depth
// bound) into JSON that gw::json::Parse accepts; documents from gw::json::Parse push and convert back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <lua.hpp>

#include "FuzzSupport.h"
#include "gw/common/Json.h"
#include "lua/JsonBridge.h"

namespace {

struct Job {
  std::string_view text;
  bool decoded = false;
  std::string encoded;
  std::string conversionError;
};

// Runs in protected mode (the bridge allocates through Lua).
int Run(lua_State* L) {
  auto* job = static_cast<Job*>(lua_touserdata(L, 1));
  std::string error;
  job->decoded = gw::lua::DecodeJson(L, job->text, error);
  if (!job->decoded) {
    GW_FUZZ_CHECK(!error.empty(), "decode failed without a message");
    return 0;
  }
  try {
    job->encoded = gw::lua::EncodeJson(L, -1);
    rapidjson::Document doc;
    gw::lua::ToJsonDocument(L, -1, doc);
  } catch (const gw::lua::ConversionError& e) {
    job->conversionError = e.what();
  }
  return 0;
}

// Pushes a document parsed by the gateway's own parser and converts it back.
int RunDocument(lua_State* L) {
  auto* doc = static_cast<const rapidjson::Document*>(lua_touserdata(L, 1));
  try {
    gw::lua::PushJson(L, *doc);
    gw::lua::EncodeJson(L, -1);
  } catch (const gw::lua::ConversionError&) {
    // Deeper than kMaxJsonDepth cannot happen (Parse stops at 64); the stack floor may refuse.
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lua_State* L = luaL_newstate();
  if (!L) return 0;
  Job job;
  job.text = std::string_view(reinterpret_cast<const char*>(data), size);
  lua_pushcfunction(L, Run);
  lua_pushlightuserdata(L, &job);
  const int status = lua_pcall(L, 1, 0, 0);
  GW_FUZZ_CHECK(status == LUA_OK, "the bridge raised a Lua error on a small input");
  if (job.decoded) {
    GW_FUZZ_CHECK(job.conversionError.empty(), "a decoded value does not encode again");
    auto reparsed = gw::json::Parse(job.encoded, "FUZ-001", gw::json::ParseOptions{false, false, true, {200, 1u << 24}});
    GW_FUZZ_CHECK(reparsed.Ok(), "EncodeJson wrote something that is not JSON");
  }
  auto doc = gw::json::Parse(job.text, "FUZ-001");
  if (doc.Ok()) {
    lua_pushcfunction(L, RunDocument);
    lua_pushlightuserdata(L, &doc.Value());
    GW_FUZZ_CHECK(lua_pcall(L, 1, 0, 0) == LUA_OK, "pushing a parsed document raised a Lua error");
  }
  lua_close(L);
  return 0;
}
