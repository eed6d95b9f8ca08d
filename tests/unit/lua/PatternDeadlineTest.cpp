// Pattern matching runs in C, out of the instruction hook's reach: the sandbox's own matcher
// (lua/PatternMatch) must stop a backtracking pattern at the call's deadline, in providers and
// policies alike, whatever function or syntax reaches it and even under pcall.
#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

// Exponential in the subject length with Lua's matcher: (.-) x4 then a 'b' that never comes.
constexpr const char* kPrelude = R"(
local subject = ("a"):rep(30000)
local pattern = "(.-)(.-)(.-)(.-)b"
)";

std::string Provider(const std::string& name, const std::string& body) {
  return "local M = { name = \"" + name + "\", version = \"1.0\", kind = \"provider\" }\n"
         "function M.acquire(ctx)\n" + body + "\nend\nreturn M\n";
}

struct Runner {
  TempDir dir;
  std::unique_ptr<ScriptEngine> engine;

  explicit Runner(const std::string& body) {
    dir.Write("policy.lua", Policy("probe_policy", std::string(kPrelude) + body));
    dir.Write("provider.lua", Provider("probe_provider", std::string(kPrelude) + body));
    engine = std::make_unique<ScriptEngine>(OptionsFor(dir));
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }

  // Calls script.fn with a 100 ms budget; requires the deadline error well within 2 s.
  void RequireDeadline(const char* script, const char* fn) {
    INFO(script << "." << fn);
    const auto arg = Json("{}");
    const auto start = std::chrono::steady_clock::now();
    auto r = engine->Call(script, fn, arg, milliseconds(100));
    const double elapsed = MillisecondsSince(start);
    INFO("elapsed " << elapsed << " ms");
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-004");
    CHECK(r.GetError().httpStatus == 504);
    CHECK(elapsed < 2000);  // Lua's own matcher runs for minutes here
    RequireBalanced(*engine);
  }

  void RequireDeadlineInBoth() {
    const auto retiredBefore = engine->DebugPoolInfo().retiredStates;
    RequireDeadline("probe_policy", "decide");
    RequireDeadline("probe_provider", "acquire");
    CHECK(engine->DebugPoolInfo().retiredStates == retiredBefore + 2);  // a killed state is never reused
  }
};

}  // namespace

TEST_CASE("Hardening: a backtracking pattern in string.find stops at the deadline", "[lua][pattern][limits]") {
  Runner runner("return string.find(subject, pattern)");
  runner.RequireDeadlineInBoth();
}

TEST_CASE("Hardening: a backtracking pattern in string.match stops at the deadline", "[lua][pattern][limits]") {
  Runner runner("return string.match(subject, pattern)");
  runner.RequireDeadlineInBoth();
}

TEST_CASE("Hardening: a backtracking pattern in string.gmatch stops at the deadline", "[lua][pattern][limits]") {
  Runner runner(R"(
    local n = 0
    for a in string.gmatch(subject, "(.-)(.-)(.-)b") do n = n + 1 end
    return n)");
  runner.RequireDeadlineInBoth();
}

TEST_CASE("Hardening: a backtracking pattern in a gsub replacement function stops at the deadline",
          "[lua][pattern][limits]") {
  Runner runner(R"(
    return (("x"):rep(10):gsub(".", function(c)
      return string.find(subject, pattern) and "" or c
    end)))");
  runner.RequireDeadlineInBoth();
}

TEST_CASE("Hardening: a backtracking pattern in string.gsub stops at the deadline", "[lua][pattern][limits]") {
  Runner runner("return (string.gsub(subject, pattern, \"%1\"))");
  runner.RequireDeadlineInBoth();
}

TEST_CASE("Hardening: a backtracking pattern through s:method() syntax stops at the deadline",
          "[lua][pattern][limits]") {
  SECTION("find") {
    Runner runner("return subject:find(pattern)");
    runner.RequireDeadlineInBoth();
  }
  SECTION("match") {
    Runner runner("return subject:match(pattern)");
    runner.RequireDeadlineInBoth();
  }
  SECTION("gmatch") {
    Runner runner("for a in subject:gmatch(pattern) do end return 1");
    runner.RequireDeadlineInBoth();
  }
  SECTION("gsub") {
    Runner runner("return (subject:gsub(pattern, function(a) return a end))");
    runner.RequireDeadlineInBoth();
  }
}

TEST_CASE("Hardening: pcall cannot swallow a pattern match stopped at the deadline", "[lua][pattern][limits]") {
  SECTION("caught, then return success") {
    Runner runner(R"(
      local ok = pcall(string.find, subject, pattern)
      return { caught = not ok })");
    runner.RequireDeadlineInBoth();
  }
  SECTION("caught in a loop") {
    Runner runner(R"(
      while true do pcall(function() return subject:match(pattern) end) end)");
    runner.RequireDeadlineInBoth();
  }
}

TEST_CASE("Hardening: back-references and balanced matches stop at the deadline", "[lua][pattern][limits]") {
  SECTION("back-reference compared at every split") {
    Runner runner("return subject:find(\"(.*)%1b\")");
    runner.RequireDeadlineInBoth();
  }
  SECTION("unclosed %b scanned from every position") {
    Runner runner(R"LUA(
      local open = ("("):rep(30000)
      for i = 1, 1000 do open:find("%b()") end
      return 1)LUA");
    runner.RequireDeadlineInBoth();
  }
}

TEST_CASE("Hardening: a plain find never backtracks", "[lua][pattern][limits]") {
  // Lua compares the needle at every position (here 5e5 x 5e5 byte comparisons, many seconds); the
  // sandbox's plain search is linear, so this call finishes well within its budget.
  TempDir dir;
  dir.Write("plain.lua", Policy("plain", R"(
    local haystack = ("a"):rep(1000000)
    local needle = ("a"):rep(500000) .. "b"
    return { plain = haystack:find(needle, 1, true) == nil,
             special = haystack:find(needle) == nil,
             found = haystack:find(("a"):rep(500000), 1, true) })"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  CHECK_JSON(CallText(engine, "plain", "decide", "{}", milliseconds(5000)), R"({"plain":true,"special":true,"found":1})");
}

TEST_CASE("Hardening: a deeply nested pattern fails as too complex instead of exhausting the stack",
          "[lua][pattern][limits]") {
  TempDir dir;
  dir.Write("deep.lua", Policy("deep", R"(
    local ok, err = pcall(string.find, ("a"):rep(5000), ("a?"):rep(5000))
    local ok2, err2 = pcall(string.gsub, ("a"):rep(5000), ("a?"):rep(5000), "x")
    return { ok = ok, err = err, ok2 = ok2, err2 = err2 })"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  CHECK_JSON(CallText(engine, "deep", "decide"),
             R"({"ok":false,"err":"pattern too complex","ok2":false,"err2":"pattern too complex"})");
}

TEST_CASE("PatternMatch/ordinary matches in scripts are unaffected", "[lua][pattern]") {
  TempDir dir;
  dir.Write("paths.lua", Policy("paths", R"LUA(
    local study, series = arg.path:match("^/studies/([^/]+)/series/([^/]+)")
    local words = {}
    for w in ("a bb  ccc"):gmatch("%a+") do words[#words + 1] = w end
    return { study = study, series = series, words = words,
             count = select(2, arg.path:gsub("/", "/")),
             first = arg.path:find("/series/", 1, true) })LUA"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  CHECK_JSON(CallText(engine, "paths", "decide", R"({"path":"/studies/1.2.3/series/4.5"})"),
             R"({"study":"1.2.3","series":"4.5","words":["a","bb","ccc"],"count":4,"first":15})");
}

TEST_CASE("Hardening: string.rep of an empty string returns at once", "[lua][limits]") {
  // Lua copies an empty string n times in C (no allocation, no hook): string.rep("", 1e9) took 9 s
  // and math.maxinteger would never end. Everything else about rep is Lua's own.
  TempDir dir;
  dir.Write("rep.lua", Policy("rep", R"LUA(
    local function try(...) local ok, v = pcall(...) return ok and ("ok:" .. v) or ("err:" .. v) end
    return {
      huge = string.rep("", math.maxinteger),
      huge_sep = (""):rep(1e15, ""),
      zero = string.rep("", 0), negative = string.rep("x", -1),
      normal = string.rep("ab", 3, ","), number = string.rep(12, 2), one = ("x"):rep(1, "-"),
      no_count = try(string.rep, ""), bad_sep = try(string.rep, "", 2, {}),
      fraction = try(string.rep, "", 1.5), too_large = try(string.rep, "x", math.maxinteger),
    })LUA"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  const auto start = std::chrono::steady_clock::now();
  CHECK_JSON(CallText(engine, "rep", "decide", "{}", milliseconds(2000)),
             R"J({"huge":"","huge_sep":"","zero":"","negative":"","normal":"ab,ab,ab","number":"1212","one":"x",
                 "no_count":"err:bad argument #2 to 'string.rep' (number expected, got no value)",
                 "bad_sep":"err:bad argument #3 to 'string.rep' (string expected, got table)",
                 "fraction":"err:bad argument #2 to 'string.rep' (number has no integer representation)",
                 "too_large":"err:resulting string too large"})J");
  CHECK(MillisecondsSince(start) < 1000);
}

TEST_CASE("Hardening: table.move of a huge empty range is refused at once", "[lua][limits]") {
  // Lua copies e - f + 1 slots in C even when they are all empty (no allocation, no hook):
  // table.move({}, 1, 1e8, 2) took 5.7 s, and a larger range would outlive any budget.
  TempDir dir;
  dir.Write("move.lua", Policy("move", R"LUA(
    local function try(...) local ok, v = pcall(...) return ok and "ok" or ("err:" .. v) end
    local small = table.move({1, 2, 3}, 1, 3, 2)
    return {
      small = small, empty = #table.move({}, 1, 0, 1),
      huge = try(table.move, {}, 1, 1e12, 2),
      negative = try(table.move, {}, math.mininteger, math.maxinteger, 1),
      bound = try(table.move, {}, 1, (1 << 22) + 1, 1), under = try(table.move, {}, 1, 1 << 22, 1),
      other = #table.move({7, 8}, 1, 2, 1, {}),
    })LUA"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  const auto start = std::chrono::steady_clock::now();
  const std::string text = CallText(engine, "move", "decide", "{}", milliseconds(5000));
  CHECK(text.find(R"("small":[1,1,2,3])") != std::string::npos);
  CHECK(text.find(R"("huge":"err:)") != std::string::npos);
  CHECK(text.find(R"("negative":"err:)") != std::string::npos);
  CHECK(text.find(R"("bound":"err:)") != std::string::npos);
  CHECK(text.find(R"("under":"ok")") != std::string::npos);
  CHECK(text.find(R"("other":2)") != std::string::npos);
  CHECK(text.find("slots is refused") != std::string::npos);
  CHECK(MillisecondsSince(start) < 3000);
}
