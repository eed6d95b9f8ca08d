// A script's returned error carries its origin as fields (script, function, the script's own
// words), so that callers such as PolicyEngine never cut the message apart.
#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;

namespace {

const char* kRefuser = R"(
  local M = { name = "refuser", version = "1", kind = "policy" }
  function M.decide() return nil, "closed for maintenance: returned an error: twice" end
  function M.coded() return nil, { code = "POL-010", message = "read only", status = 403 } end
  function M.raise() error("broken") end
  return M)";

gw::Error ErrorOf(ScriptEngine& engine, const char* fn) {
  const auto arg = Json("{}");
  auto r = engine.Call("refuser", fn, arg);
  REQUIRE_FALSE(r.Ok());
  return r.GetError();
}

}  // namespace

TEST_CASE("ErrorOrigin/a returned error names its script, function and its own words", "[lua][call][errors]") {
  TempDir dir;
  dir.Write("refuser.lua", kRefuser);
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload().Ok());

  SECTION("without a code of its own: LUA-009, the reason unprefixed even when it quotes the prefix") {
    const gw::Error e = ErrorOf(engine, "decide");
    CHECK(e.code == "LUA-009");
    REQUIRE(e.origin != nullptr);
    CHECK(e.origin->script == "refuser");
    CHECK(e.origin->function == "decide");
    CHECK(e.origin->reason == "closed for maintenance: returned an error: twice");
    CHECK(e.message == "refuser.decide returned an error: closed for maintenance: returned an error: twice");
  }
  SECTION("with a code of its own: the code, its status and the same origin") {
    const gw::Error e = ErrorOf(engine, "coded");
    CHECK(e.code == "POL-010");
    CHECK(e.httpStatus == 403);
    REQUIRE(e.origin != nullptr);
    CHECK(e.origin->function == "coded");
    CHECK(e.origin->reason == "read only");
  }
  SECTION("a raised error is a fault of the script, not a refusal, and has no reason") {
    const gw::Error e = ErrorOf(engine, "raise");
    CHECK(e.code == "LUA-006");
    CHECK((e.origin == nullptr || e.origin->reason.empty()));
  }
}
