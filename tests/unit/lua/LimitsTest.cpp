// The deadline and the memory cap hold even when the script catches errors, and a state that hit
// a limit is retired.
#include <thread>

#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

constexpr size_t kCap = 8u * 1024 * 1024;

struct Limits {
  TempDir dir;
  std::unique_ptr<ScriptEngine> engine;

  explicit Limits(const std::string& body, size_t maxStates = 4) {
    dir.Write("probe.lua", Policy("probe", body));
    EngineOptions options = OptionsFor(dir);
    options.memoryLimitBytes = kCap;
    options.maxStatesPerSnapshot = maxStates;
    engine = std::make_unique<ScriptEngine>(options);
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }

  gw::Error CallError(milliseconds budget = milliseconds(200)) {
    const auto arg = Json("{}");
    auto r = engine->Call("probe", "decide", arg, budget);
    if (r) FAIL("expected an error, got " + ToText(r.Value()));
    RequireBalanced(*engine);
    return r.GetError();
  }
};

}  // namespace

TEST_CASE("LuaLimits/infinite loop", "[lua][limits]") {
  Limits limits("while true do end");
  const auto start = std::chrono::steady_clock::now();
  const auto error = limits.CallError(milliseconds(100));
  const double elapsed = MillisecondsSince(start);
  CHECK(error.code == "LUA-004");
  CHECK(error.httpStatus == 504);
  CHECK(elapsed >= 100);
  CHECK(elapsed < 100 + 400);  // generous slack for a loaded CI machine; typically < 1 ms late
  const auto pool = limits.engine->DebugPoolInfo();
  CHECK(pool.retiredStates == 1);
  RequireBalanced(*limits.engine);
}

TEST_CASE("LuaLimits/infinite loop inside pcall cannot swallow the deadline", "[lua][limits]") {
  SECTION("pcall in a loop") {
    Limits limits("while true do pcall(function() while true do end end) end");
    CHECK(limits.CallError().code == "LUA-004");
  }
  SECTION("caught, then return success") {
    Limits limits(R"(
      local ok = pcall(function() while true do end end)
      return { caught = not ok })");
    CHECK(limits.CallError().code == "LUA-004");
  }
  SECTION("nested pcall and xpcall with a looping handler") {
    Limits limits(R"(
      while true do
        pcall(function()
          xpcall(function() while true do end end, function(e) while true do end end)
        end)
        xpcall(function() error("x") end, function() while true do end end)
      end)");
    CHECK(limits.CallError().code == "LUA-004");
  }
  SECTION("error handler that calls pcall again") {
    Limits limits(R"(
      local function again() return pcall(function() while true do end end) end
      while true do xpcall(again, again) end)");
    CHECK(limits.CallError().code == "LUA-004");
  }
  SECTION("to-be-closed variable that loops") {
    Limits limits(R"(
      local guard <close> = setmetatable({}, { __close = function() while true do end end })
      error("leave"))");
    CHECK(limits.CallError().code == "LUA-004");
  }
}

TEST_CASE("LuaLimits/deadline is honoured within slack", "[lua][limits]") {
  Limits limits("local x = 0 while true do x = x + 1 end");
  for (int budget : {20, 150, 400}) {
    const auto start = std::chrono::steady_clock::now();
    CHECK(limits.CallError(milliseconds(budget)).code == "LUA-004");
    const double elapsed = MillisecondsSince(start);
    INFO("budget " << budget << " ms, elapsed " << elapsed << " ms");
    CHECK(elapsed >= budget);
    CHECK(elapsed < budget + 300);
  }
}

TEST_CASE("LuaLimits/memory bombs", "[lua][limits]") {
  SECTION("string doubling") {
    Limits limits(R"(local s = "x" while true do s = s .. s end)");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
  SECTION("string.rep") {
    Limits limits(R"(return string.rep("x", 1 << 30))");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
  SECTION("table growth") {
    Limits limits(R"(local t = {} local i = 0 while true do i = i + 1 t[i] = { i } end)");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
  SECTION("table.concat of many pieces") {
    Limits limits(R"(
      local parts = {}
      for i = 1, 1e7 do parts[i] = "0123456789" end
      return table.concat(parts))");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
}

TEST_CASE("LuaLimits/memory bomb inside pcall is still fatal", "[lua][limits]") {
  SECTION("caught string.rep") {
    Limits limits(R"(
      local ok = pcall(string.rep, "x", 1 << 30)
      return { survived = true, ok = ok })");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
  SECTION("caught table growth, then keeps going") {
    Limits limits(R"(
      local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end)
      local n = 0
      for i = 1, 1e6 do n = n + i end
      return { n = n })");
    CHECK(limits.CallError(milliseconds(5000)).code == "LUA-005");
  }
  SECTION("caught, then loops: stopped at once as a memory error") {
    Limits limits(R"(
      pcall(string.rep, "x", 1 << 30)
      while true do end)");
    const auto start = std::chrono::steady_clock::now();
    CHECK(limits.CallError(milliseconds(3000)).code == "LUA-005");
    CHECK(MillisecondsSince(start) < 1000);
  }
  SECTION("a retired state is replaced by a fresh one") {
    Limits limits(R"(
      if arg.bomb then pcall(string.rep, "x", 1 << 30) end
      return "fine")");
    const auto bomb = Json(R"({"bomb":true})");
    const auto calm = Json(R"({"bomb":false})");
    auto first = limits.engine->Call("probe", "decide", bomb);
    REQUIRE_FALSE(first);
    CHECK(first.GetError().code == "LUA-005");
    CHECK(limits.engine->DebugPoolInfo().retiredStates == 1);
    auto second = limits.engine->Call("probe", "decide", calm);
    REQUIRE(second);
    CHECK(ToText(second.Value()) == "\"fine\"");
    RequireBalanced(*limits.engine);
  }
}

TEST_CASE("LuaLimits/garbage below the cap is not a memory error", "[lua][limits]") {
  // 200 x 1 MiB of short-lived strings through an 8 MiB state: the collector keeps up (or Lua's
  // emergency collection resolves a refused allocation), so the call succeeds.
  Limits limits(R"(
    local n = 0
    for i = 1, 200 do local s = string.rep("y", 1024 * 1024) n = n + #s end
    return n)");
  const auto arg = Json("{}");
  auto r = limits.engine->Call("probe", "decide", arg, milliseconds(10000));
  REQUIRE(r);
  CHECK(ToText(r.Value()) == "209715200");
  CHECK(limits.engine->DebugPoolInfo().retiredStates == 0);
}

TEST_CASE("LuaLimits/waiting for a state is bounded by the budget", "[lua][limits]") {
  Limits limits(R"(
    if arg.spin then while true do end end
    return "quick")", 1);
  std::thread hog([&] {
    const auto arg = Json(R"({"spin":true})");
    auto r = limits.engine->Call("probe", "decide", arg, milliseconds(800));
    CHECK_FALSE(r);
  });
  std::this_thread::sleep_for(milliseconds(100));  // the hog holds the only state
  const auto start = std::chrono::steady_clock::now();
  const auto arg = Json(R"({"spin":false})");
  auto r = limits.engine->Call("probe", "decide", arg, milliseconds(100));
  const double elapsed = MillisecondsSince(start);
  hog.join();
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-004");
  CHECK(elapsed >= 90);
  CHECK(elapsed < 600);
  // Once the hog is gone the pool serves again.
  CHECK(CallText(*limits.engine, "probe", "decide", R"({"spin":false})") == "\"quick\"");
}

TEST_CASE("LuaLimits/limits apply while loading", "[lua][limits]") {
  TempDir dir;
  EngineOptions options = OptionsFor(dir);
  options.defaultBudget = milliseconds(150);
  options.memoryLimitBytes = kCap;
  SECTION("endless top level") {
    dir.Write("loop.lua", "while true do end");
    ScriptEngine engine(options);
    const auto start = std::chrono::steady_clock::now();
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-004");
    CHECK_THAT(r.GetError().message, Catch::Contains("loop.lua"));
    CHECK(MillisecondsSince(start) < 1000);
  }
  SECTION("memory bomb at top level, caught") {
    dir.Write("bomb.lua", "pcall(string.rep, 'x', 1 << 30)\n" + Policy("bomb", "return 1"));
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-005");
    CHECK_THAT(r.GetError().message, Catch::Contains("bomb.lua"));
  }
  SECTION("endless self_test") {
    dir.Write("slow.lua", R"(
      return { name = "slow", version = "1", kind = "policy",
               decide = function() return true end,
               self_test = function() while true do end end })");
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-004");
  }
}

TEST_CASE("LuaLimits/a cap too small for the sandbox fails cleanly", "[lua][limits]") {
  TempDir dir;
  dir.Write("p.lua", Policy("p", "return 1"));
  for (size_t cap : {size_t{0}, size_t{4096}, size_t{16 * 1024}}) {
    INFO("cap " << cap);
    EngineOptions options = OptionsFor(dir);
    options.memoryLimitBytes = cap;
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-005");
    CHECK(engine.CurrentInfo().version == 0);
  }
}

TEST_CASE("Hardening: a result that arrives after the deadline is refused", "[lua][limits]") {
  // The last step is one long C call (table.sort of a big array, no comparator: no instruction,
  // no function call, so the hook never fires) followed by "return allow". The data is built at
  // load time, so the call itself runs only a handful of VM instructions.
  TempDir dir;
  dir.Write("late.lua", R"(
    local data = {}
    for i = 1, 400000 do data[i] = (i * 7919) % 400009 end
    local M = { name = "late", version = "1", kind = "policy" }
    function M.decide(arg)
      local copy = table.move(data, 1, #data, 1, {})
      table.sort(copy)
      return { allow = true }
    end
    function M.quick(arg) return { allow = true } end
    return M)");
  EngineOptions options = OptionsFor(dir);
  options.memoryLimitBytes = 64u * 1024 * 1024;
  options.defaultBudget = milliseconds(10000);
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  const auto arg = Json("{}");
  // With a generous budget the same call is allowed: the refusal below is about time only.
  auto slow = engine.Call("late", "decide", arg, milliseconds(10000));
  REQUIRE(slow);
  CHECK(ToText(slow.Value()) == R"({"allow":true})");

  const auto start = std::chrono::steady_clock::now();
  auto late = engine.Call("late", "decide", arg, milliseconds(2));
  const double elapsed = MillisecondsSince(start);
  INFO("elapsed " << elapsed << " ms");
  REQUIRE(elapsed > 2);  // the sort really ran past the budget
  REQUIRE_FALSE(late);
  CHECK(late.GetError().code == "LUA-004");
  CHECK(late.GetError().httpStatus == 504);
  CHECK_THAT(late.GetError().message, Catch::Contains("after the deadline"));
  // Not a limit of the state: it keeps serving.
  CHECK(engine.DebugPoolInfo().retiredStates == 0);
  CHECK(CallText(engine, "late", "quick") == R"({"allow":true})");
  RequireBalanced(engine);
}
