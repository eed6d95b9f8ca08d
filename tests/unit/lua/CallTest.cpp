// Call(): the return convention, error codes, stack balance and the pool.
#include <atomic>
#include <thread>

#include <lua.hpp>

#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

const char* kConvention = R"(
  local M = { name = "conv", version = "1", kind = "policy" }
  function M.decide(arg) return { allow = true, who = arg.user } end
  function M.deny_text() return nil, "not on the list" end
  function M.deny_coded() return nil, { code = "AUTH-001", message = "token rejected", status = 401 } end
  function M.deny_bad_code() return nil, { code = "auth-1", message = "lowercase code" } end
  function M.deny_bad_status() return nil, { code = "AUTH-002", message = "m", status = 200 } end
  function M.deny_empty() return nil, {} end
  function M.deny_number() return nil, 42 end
  function M.raise() local x = nil; return x.field end
  function M.raise_text() error("explicit failure") end
  function M.raise_table() error({ message = "table failure", code = "X-001" }) end
  function M.raise_nonstring() error(setmetatable({}, { __tostring = function() return "hidden" end })) end
  function M.ret_false() return false end
  function M.ret_zero() return 0 end
  function M.ret_multi() return 1, 2, 3 end
  function M.xp()
    local ok1, v1 = xpcall(function(a, b) return a + b end, function(e) return "h:" .. e end, 2, 3)
    local ok2, v2 = xpcall(function() error("inner", 0) end, function(e) return "handled " .. e end)
    local ok3, v3 = xpcall(function() error("inner", 0) end, function() error("handler broke", 0) end)
    local ok4, v4, w4 = xpcall(function() return 7, 8 end, print or function() end)
    return { ok1 = ok1, v1 = v1, ok2 = ok2, v2 = v2, ok3 = ok3, v3 = v3, ok4 = ok4, v4 = v4, w4 = w4 }
  end
  function M.grow(arg)
    local t = {}
    for i = 1, arg.n do t[i] = { i, tostring(i) } end
    return #t
  end
  return M)";

struct Conv {
  TempDir dir;
  std::unique_ptr<ScriptEngine> engine;
  explicit Conv(size_t maxStates = 4) {
    dir.Write("conv.lua", kConvention);
    EngineOptions options = OptionsFor(dir);
    options.maxStatesPerSnapshot = maxStates;
    engine = std::make_unique<ScriptEngine>(options);
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }
  gw::Error Error(const char* fn) {
    const auto arg = Json("{}");
    auto r = engine->Call("conv", fn, arg);
    if (r) FAIL(std::string("expected an error from ") + fn + ", got " + ToText(r.Value()));
    return r.GetError();
  }
};

}  // namespace

TEST_CASE("LuaCall/return convention", "[lua][call]") {
  Conv conv;
  CHECK_JSON(CallText(*conv.engine, "conv", "decide", R"({"user":"ann"})"), R"({"allow":true,"who":"ann"})");
  RequireBalanced(*conv.engine);
  CHECK(CallText(*conv.engine, "conv", "ret_false") == "false");
  CHECK(CallText(*conv.engine, "conv", "ret_zero") == "0");
  CHECK(CallText(*conv.engine, "conv", "ret_multi") == "1");  // only the first result counts

  SECTION("nil plus text") {
    const auto e = conv.Error("deny_text");
    CHECK(e.code == "LUA-009");
    CHECK_THAT(e.message, Catch::Contains("not on the list") && Catch::Contains("conv.deny_text"));
  }
  SECTION("nil plus coded table") {
    const auto e = conv.Error("deny_coded");
    CHECK(e.code == "AUTH-001");
    CHECK(e.message == "token rejected");
    CHECK(e.httpStatus == 401);
  }
  SECTION("invalid code is ignored") {
    const auto e = conv.Error("deny_bad_code");
    CHECK(e.code == "LUA-009");
    CHECK_THAT(e.message, Catch::Contains("lowercase code"));
  }
  SECTION("status outside 400-599 is ignored") {
    const auto e = conv.Error("deny_bad_status");
    CHECK(e.code == "AUTH-002");
    CHECK(e.httpStatus == 500);
  }
  SECTION("empty error table") {
    const auto e = conv.Error("deny_empty");
    CHECK(e.code == "LUA-009");
  }
  SECTION("non-string error value") {
    const auto e = conv.Error("deny_number");
    CHECK(e.code == "LUA-009");
    CHECK_THAT(e.message, Catch::Contains("42"));
  }
  SECTION("runtime error carries file and line") {
    const auto e = conv.Error("raise");
    CHECK(e.code == "LUA-006");
    CHECK_THAT(e.message, Catch::Contains("conv.lua:10:") && Catch::Contains("conv.raise"));
  }
  SECTION("error() with text") {
    const auto e = conv.Error("raise_text");
    CHECK(e.code == "LUA-006");
    CHECK_THAT(e.message, Catch::Contains("conv.lua:11:") && Catch::Contains("explicit failure"));
  }
  SECTION("error() with a table is still LUA-006") {
    const auto e = conv.Error("raise_table");
    CHECK(e.code == "LUA-006");
    CHECK_THAT(e.message, Catch::Contains("table failure"));
  }
  SECTION("error() with an object: no metamethod runs") {
    const auto e = conv.Error("raise_nonstring");
    CHECK(e.code == "LUA-006");
    CHECK_THAT(e.message, !Catch::Contains("hidden"));
  }
  SECTION("unknown script or function") {
    const auto arg = Json("{}");
    auto noScript = conv.engine->Call("nope", "decide", arg);
    REQUIRE_FALSE(noScript);
    CHECK(noScript.GetError().code == "LUA-007");
    auto noFunction = conv.engine->Call("conv", "nope", arg);
    REQUIRE_FALSE(noFunction);
    CHECK(noFunction.GetError().code == "LUA-007");
  }
  RequireBalanced(*conv.engine);
}

TEST_CASE("LuaCall/before any reload", "[lua][call]") {
  ScriptEngine engine(EngineOptions{});
  const auto arg = Json("{}");
  auto r = engine.Call("x", "decide", arg);
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-007");
  CHECK(engine.CurrentInfo().version == 0);
  CHECK(engine.DebugPoolInfo().liveStates == 0);
}

TEST_CASE("LuaCall/xpcall semantics", "[lua][call]") {
  Conv conv;
  CHECK_JSON(CallText(*conv.engine, "conv", "xp"),
             R"({"ok1":true,"v1":5,"ok2":false,"v2":"handled inner","ok3":false,"v3":"handler broke",)"
             R"("ok4":true,"v4":7,"w4":8})");
  RequireBalanced(*conv.engine);
}

TEST_CASE("LuaCall/stack stays balanced after every kind of call", "[lua][call]") {
  Conv conv(1);  // one state: every call below runs on it
  for (const char* fn : {"decide", "deny_text", "deny_coded", "deny_bad_code", "deny_empty", "deny_number",
                         "raise", "raise_text", "raise_table", "raise_nonstring", "ret_false", "ret_multi", "xp"}) {
    INFO(fn);
    CallText(*conv.engine, "conv", fn, R"({"user":"x"})");
    const auto pool = conv.engine->DebugPoolInfo();
    CHECK(pool.liveStates == 1);
    CHECK(pool.retiredStates == 0);
    REQUIRE(pool.idleStackTops.size() == 1);
    CHECK(pool.idleStackTops[0] == 0);
  }
  // A deep argument is refused by the glue: still balanced, still the same state.
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  rapidjson::Document arg;
  arg.Parse<rapidjson::kParseIterativeFlag>(deep.c_str());
  CHECK_FALSE(conv.engine->Call("conv", "decide", arg));
  CHECK(conv.engine->DebugPoolInfo().idleStackTops == std::vector<int>{0});
}

TEST_CASE("LuaCall/pool creates states lazily up to the cap", "[lua][call][concurrency]") {
  Conv conv(2);
  CHECK(conv.engine->DebugPoolInfo().liveStates == 1);  // the reload prewarms one
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (CallText(*conv.engine, "conv", "grow", R"({"n":2000})") != "2000") ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  const auto pool = conv.engine->DebugPoolInfo();
  CHECK(pool.liveStates <= 2);
  CHECK(pool.liveStates == pool.idleStates);
  RequireBalanced(*conv.engine);
}

TEST_CASE("LuaCall/old snapshot serves calls that started on it", "[lua][call][reload]") {
  TempDir dir;
  dir.Write("slow.lua", Policy("slow", R"(
    local t0 = gw.time.monotonic_ms()
    while gw.time.monotonic_ms() - t0 < 300 do end
    return "old")"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  std::string slowResult;
  std::thread slow([&] { slowResult = CallText(engine, "slow", "decide"); });
  std::this_thread::sleep_for(milliseconds(100));
  dir.Write("slow.lua", Policy("slow", "return 'new'"));
  REQUIRE(engine.Reload());  // published while the old call still runs
  CHECK(CallText(engine, "slow", "decide") == "\"new\"");
  slow.join();
  CHECK(slowResult == "\"old\"");
}

TEST_CASE("LuaCall/runtime reports Lua 5.4", "[lua][call]") {
  CHECK(ScriptEngine::LuaVersion() == "Lua 5.4");
  TempDir dir;
  dir.Write("v.lua", Policy("v", "return { v = gw.runtime.lua_version(), env = _VERSION }"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  CHECK_JSON(CallText(engine, "v", "decide"), R"({"v":"Lua 5.4","env":"Lua 5.4"})");
}

namespace {

// Pushes {user = <name>, n = 3} straight onto the stack, as a hot-path caller would.
class UserArgument final : public Argument {
 public:
  explicit UserArgument(const char* user) : user_(user) {}
  void Push(lua_State* L) const override {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, user_);
    lua_setfield(L, -2, "user");
    lua_pushinteger(L, 3);
    lua_setfield(L, -2, "n");
  }

 private:
  const char* user_;
};

class FailingArgument final : public Argument {
 public:
  void Push(lua_State* L) const override {
    lua_pushstring(L, "argument could not be built");
    lua_error(L);
  }
};

}  // namespace

TEST_CASE("LuaCall/an argument that pushes itself", "[lua][call]") {
  Conv conv(1);
  SECTION("the script sees it like a JSON argument") {
    auto r = conv.engine->Call("conv", "decide", UserArgument("alice"));
    REQUIRE(r);
    CHECK_JSON(ToText(r.Value()), R"({"allow":true,"who":"alice"})");
    auto json = ToJson(UserArgument("bob"));
    REQUIRE(json);
    CHECK_JSON(ToText(json.Value()), R"({"user":"bob","n":3})");
  }
  SECTION("the result goes into the caller's document and allocator") {
    char buffer[1024];
    rapidjson::MemoryPoolAllocator<> allocator(buffer, sizeof buffer);
    rapidjson::Document result(&allocator);
    REQUIRE(conv.engine->Call("conv", "grow", UserArgument("carol"), result));
    CHECK(result.GetInt() == 3);
    CHECK(conv.engine->Call("conv", "deny_coded", UserArgument("carol"), result).GetError().code == "AUTH-001");
  }
  SECTION("an argument that fails to build fails the call, and the state is not reused") {
    auto r = conv.engine->Call("conv", "decide", FailingArgument());
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-006");
    CHECK(r.GetError().message.find("argument could not be built") != std::string::npos);
    CHECK(conv.engine->DebugPoolInfo().retiredStates == 1);
    CHECK_FALSE(ToJson(FailingArgument()));
    REQUIRE(conv.engine->Call("conv", "decide", UserArgument("dave")));  // a fresh state serves
  }
  RequireBalanced(*conv.engine);
}
