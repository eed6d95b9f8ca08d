// Defects found by the fuzz targets (fuzz/, docs/testing.md "Fuzzing") in the JSON <-> Lua bridge.
#include <catch2/catch.hpp>

#include <lua.hpp>

#include <string>

#include "gw/common/Json.h"
#include "lua/JsonBridge.h"

namespace {

struct Decoded {
  bool ok = false;
  std::string error;
  std::string encoded;
};

Decoded DecodeThenEncode(const std::string& text) {
  lua_State* L = luaL_newstate();
  Decoded out;
  struct Job {
    const std::string* text;
    Decoded* out;
  } job{&text, &out};
  lua_pushcfunction(L, [](lua_State* S) -> int {
    auto* j = static_cast<Job*>(lua_touserdata(S, 1));
    j->out->ok = gw::lua::DecodeJson(S, *j->text, j->out->error);
    if (j->out->ok) j->out->encoded = gw::lua::EncodeJson(S, -1);
    return 0;
  });
  lua_pushlightuserdata(L, &job);
  const int status = lua_pcall(L, 1, 0, 0);
  lua_close(L);
  REQUIRE(status == LUA_OK);
  return out;
}

}  // namespace

TEST_CASE("Fuzz finding: gw.json.decode refuses a lone surrogate escape instead of making invalid UTF-8", "[lua][json][fuzz]") {
  // fuzz/corpus/lua_json/regress-lone-surrogate: the decoded string encoded again into text the
  // gateway's own parser refused.
  const Decoded lone = DecodeThenEncode("[\"30eu\\\\90d\\ude00\",\"caf\\u00e9\"]");
  CHECK_FALSE(lone.ok);
  CHECK(lone.error.find("surrogate") != std::string::npos);

  const Decoded pair = DecodeThenEncode("[\"\\ud83d\\ude00\",\"caf\\u00e9\"]");
  REQUIRE(pair.ok);
  CHECK(gw::json::Parse(pair.encoded, "TST-001").Ok());
}
