// Library scripts: kind "library" in lib/, shared through gw.library(name), loaded before the
// other scripts, read-only for the scripts that use them, checked like any script at reload and
// in every pooled state.
#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

std::string LibraryScript(const std::string& name, const std::string& body) {
  return "local M = { name = \"" + name + "\", version = \"1.0\", kind = \"library\" }\n" + body + "\nreturn M\n";
}

gw::Error LibraryReloadError(const EngineOptions& options) {
  ScriptEngine engine(options);
  auto r = engine.Reload();
  if (r) FAIL("expected the reload to fail");
  return r.GetError();
}

}  // namespace

TEST_CASE("LuaLibrary/a library exports its table to the other scripts", "[lua][library]") {
  TempDir dir;
  dir.Write("lib/text.lua", LibraryScript("text", R"(
    function M.shout(s) return s:upper() .. "!" end
    M.GREETING = "hello")"));
  // Used at the top level, in a call and in self_test (which runs in the reload's state).
  dir.Write("a_policy.lua", R"(
    local text = gw.library("text")
    local shout = text.shout
    local M = { name = "greeter", version = "1", kind = "policy" }
    function M.decide(arg) return { said = shout(arg.word), also = gw.library("text").GREETING } end
    function M.self_test() return text.shout("a") == "A!" end
    return M)");
  ScriptEngine engine(OptionsFor(dir));
  const auto r = engine.Reload();
  REQUIRE(r);
  REQUIRE(r.Value().scripts.size() == 2);
  CHECK(r.Value().scripts[0].name == "text");  // libraries first, although a_policy.lua sorts before lib/
  CHECK(r.Value().scripts[0].kind == "library");
  CHECK(r.Value().scripts[0].file == dir / "lib/text.lua");
  CHECK_JSON(CallText(engine, "greeter", "decide", R"({"word":"hi"})"), R"({"said":"HI!","also":"hello"})");

  // The gateway never calls a library.
  CHECK(engine.HasScript("text"));
  CHECK_FALSE(engine.HasFunction("text", "shout"));
  const rapidjson::Document arg = Json(R"("x")");
  const auto called = engine.Call("text", "shout", arg);
  REQUIRE_FALSE(called);
  CHECK(called.GetError().code == "LUA-007");
  CHECK_THAT(called.GetError().message, Catch::Contains("is a library"));
  RequireBalanced(engine);
}

TEST_CASE("LuaLibrary/an unknown name is an error that names it", "[lua][library]") {
  TempDir dir;
  dir.Write("lib/text.lua", LibraryScript("text", ""));
  SECTION("at the top level: the reload is refused with file and line") {
    dir.Write("p.lua", "local x = 1\nlocal lib = gw.library('nope')\n" + Policy("p", "return 1"));
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-002");
    CHECK_THAT(error.message, Catch::Contains("p.lua:2:") && Catch::Contains("'nope'") &&
                                  Catch::Contains("loaded: text"));
  }
  SECTION("in a call: the call fails, the state stays usable") {
    dir.Write("p.lua", Policy("p", "if arg.name then return gw.library(arg.name) ~= nil end return 'ok'"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    const rapidjson::Document arg = Json(R"({"name":"missing"})");
    const auto r = engine.Call("p", "decide", arg);
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-006");
    CHECK_THAT(r.GetError().message, Catch::Contains("p.lua:3:") && Catch::Contains("no library 'missing'"));
    CHECK(CallText(engine, "p", "decide", R"({"name":"text"})") == "true");
    CHECK(CallText(engine, "p", "decide") == "\"ok\"");
    RequireBalanced(engine);
  }
  SECTION("a name that is not a string") {
    dir.Write("p.lua", Policy("p", "return gw.library(42)"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    const rapidjson::Document arg = Json("{}");
    const auto r = engine.Call("p", "decide", arg);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.GetError().message, Catch::Contains("gw.library: name must be a string"));
  }
}

TEST_CASE("LuaLibrary/kind library belongs in lib/ and lib/ holds libraries only", "[lua][library]") {
  TempDir dir;
  dir.Write("p.lua", Policy("p", "return 1"));
  SECTION("a library outside lib/") {
    const std::string file = dir.Write("helpers.lua", LibraryScript("helpers", ""));
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-003");
    CHECK_THAT(error.message, Catch::Contains(file) && Catch::Contains("only allowed in a lib/ folder"));
  }
  SECTION("a lib/ folder that is not directly under a script folder") {
    const std::string file = dir.Write("providers/lib/helpers.lua", LibraryScript("helpers", ""));
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-003");
    CHECK_THAT(error.message, Catch::Contains(file) && Catch::Contains("only allowed in a lib/ folder"));
  }
  SECTION("a provider in lib/") {
    const std::string file = dir.Write("lib/token.lua", R"(
      return { name = "token", version = "1", kind = "provider", acquire = function() end })");
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-003");
    CHECK_THAT(error.message, Catch::Contains(file) && Catch::Contains("must have kind \"library\"") &&
                                  Catch::Contains("got \"provider\""));
  }
  SECTION("below lib/ is lib/ too; a library needs no function") {
    dir.Write("lib/more/constants.lua", LibraryScript("constants", "M.ANSWER = 42"));
    dir.Write("q.lua", Policy("q", "return gw.library('constants').ANSWER"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    CHECK(CallText(engine, "q", "decide") == "42");
  }
  SECTION("a lib/ folder that is also listed as a script folder of its own stays a library") {
    dir.Write("lib/constants.lua", LibraryScript("constants", "M.ANSWER = 42"));
    dir.Write("q.lua", Policy("q", "return gw.library('constants').ANSWER"));
    for (const auto& folders : {std::vector<std::string>{dir.Path(), dir / "lib"},
                                std::vector<std::string>{dir / "lib", dir.Path()}}) {
      EngineOptions options = OptionsFor(dir);
      options.scriptDirs = folders;
      ScriptEngine engine(options);
      const auto r = engine.Reload();
      REQUIRE(r);
      CHECK(r.Value().scripts.size() == 3);  // each file once
      CHECK(CallText(engine, "q", "decide") == "42");
    }
  }
  SECTION("a library's name is unique among all scripts") {
    dir.Write("lib/p.lua", LibraryScript("p", ""));
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-010");
    CHECK_THAT(error.message, Catch::Contains("duplicate script name 'p'"));
  }
}

TEST_CASE("LuaLibrary/a broken library refuses the reload, the old snapshot keeps serving", "[lua][library]") {
  TempDir dir;
  dir.Write("lib/text.lua", LibraryScript("text", "function M.word() return 'v1' end"));
  dir.Write("p.lua", "local text = gw.library('text')\n" + Policy("p", "return text.word()"));
  EngineOptions options = OptionsFor(dir);
  options.defaultBudget = milliseconds(300);
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  const std::string file = dir / "lib/text.lua";
  struct Case {
    std::string text;
    const char* code;
    std::string where;
  };
  const std::vector<Case> cases = {
      {"local M = { name = 'text', version = '1', kind = 'library' }\nfunction M.word()\n  return 'v2' +\nend\n"
       "return M\n",
       "LUA-001", file + ":4:"},
      {"local M = { name = 'text', version = '1', kind = 'library' }\nerror('library top level failed')\nreturn M\n",
       "LUA-002", file + ":2:"},
      {LibraryScript("text", "function M.self_test() return false end"), "LUA-011", file},
      {LibraryScript("text", "while true do end"), "LUA-004", file},
      {"return { name = 'text', version = '1', kind = 'library', schema = 3 }", "LUA-003", file},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    dir.Write("lib/text.lua", c.text);
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == c.code);
    CHECK_THAT(r.GetError().message, Catch::Contains(c.where));
    CHECK(engine.CurrentInfo().version == 1);
    CHECK(CallText(engine, "p", "decide") == "\"v1\"");
  }
  dir.Write("lib/text.lua", LibraryScript("text", "function M.word() return 'v2' end"));
  REQUIRE(engine.Reload());
  CHECK(CallText(engine, "p", "decide") == "\"v2\"");
}

TEST_CASE("LuaLibrary/a library uses the libraries loaded before it, never a later one", "[lua][library]") {
  TempDir dir;
  SECTION("in path order within a folder") {
    dir.Write("lib/a_base.lua", LibraryScript("base", "function M.twice(x) return 2 * x end"));
    dir.Write("lib/b_more.lua", LibraryScript("more", R"(
      local base = gw.library("base")
      function M.four_times(x) return base.twice(base.twice(x)) end)"));
    dir.Write("p.lua", Policy("p", "return gw.library('more').four_times(arg.x)"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    CHECK(CallText(engine, "p", "decide", R"({"x":3})") == "12");
  }
  SECTION("asking for a later library names it and explains the order") {
    dir.Write("lib/a_first.lua", LibraryScript("first", "local later = gw.library('second')"));
    dir.Write("lib/b_second.lua", LibraryScript("second", ""));
    dir.Write("p.lua", Policy("p", "return 1"));
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-002");
    CHECK_THAT(error.message, Catch::Contains(dir / "lib/a_first.lua:2:") && Catch::Contains("'second'") &&
                                  Catch::Contains("loaded: none") && Catch::Contains("loaded before it"));
  }
  SECTION("a cycle is the same error, at once") {
    dir.Write("lib/a.lua", LibraryScript("a", "local b = gw.library('b')"));
    dir.Write("lib/b.lua", LibraryScript("b", "local a = gw.library('a')"));
    dir.Write("p.lua", Policy("p", "return 1"));
    const auto start = std::chrono::steady_clock::now();
    const gw::Error error = LibraryReloadError(OptionsFor(dir));
    CHECK(error.code == "LUA-002");
    CHECK_THAT(error.message, Catch::Contains("a.lua:2:") && Catch::Contains("no library 'b'"));
    CHECK(MillisecondsSince(start) < 1000);  // a refusal, not the time budget running out
  }
  SECTION("folders in configured order: a later folder uses the libraries of an earlier one") {
    // The custom folder sorts first by path; the configured order still loads the shipped one first.
    dir.Write("z-shipped/lib/base.lua", LibraryScript("base", "M.NAME = 'shipped'"));
    dir.Write("a-custom/lib/extra.lua", LibraryScript("extra", "M.FROM = gw.library('base').NAME"));
    dir.Write("a-custom/p.lua", Policy("p", "return gw.library('extra').FROM"));
    EngineOptions options = OptionsFor(dir);
    options.scriptDirs = {dir / "z-shipped", dir / "a-custom"};
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE(r);
    CHECK(r.Value().scripts[0].name == "base");
    CHECK(r.Value().scripts[1].name == "extra");
    CHECK(CallText(engine, "p", "decide") == "\"shipped\"");
  }
}

TEST_CASE("LuaLibrary/scripts cannot change a library, the library can change itself", "[lua][library]") {
  TempDir dir;
  dir.Write("lib/shared.lua", LibraryScript("shared", R"(
    M.LIST = { "a", "b", "c" }
    M.NESTED = { inner = { value = 1 } }
    local calls = 0
    function M.count() calls = calls + 1 return calls end
    function M.value() return M.NESTED.inner.value end)"));
  dir.Write("attacker.lua", Policy("attacker", R"(
    local lib = gw.library("shared")
    local out = {}
    local function try(name, f)
      local ok, err = pcall(f)
      out[name] = ok and "allowed" or tostring(err)
    end
    try("replace_function", function() lib.value = function() return 99 end end)
    try("nested_write", function() lib.NESTED.inner.value = 99 end)
    try("list_write", function() lib.LIST[1] = "z" end)
    try("rawset", function() rawset(lib, "value", 1) end)
    try("setmetatable", function() setmetatable(lib, {}) end)
    out.metatable = getmetatable(lib)
    out.type = type(lib)
    out.same_view = lib.NESTED == lib.NESTED
    return out)"));
  dir.Write("reader.lua", Policy("reader", R"(
    local lib = gw.library("shared")
    local keys = {}
    for k in pairs(lib) do keys[#keys + 1] = k end
    table.sort(keys)
    local items = {}
    for i, v in ipairs(lib.LIST) do items[i] = v end
    local nested_keys = {}
    for k, v in pairs(lib.NESTED) do nested_keys[#nested_keys + 1] = k .. ":" .. type(v) end
    return { keys = table.concat(keys, ","), items = table.concat(items), length = #lib.LIST,
             concat = table.concat(lib.LIST, "-"), nested = table.concat(nested_keys),
             value = lib.value(), count = lib.count() })"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());

  const rapidjson::Document empty = Json("{}");
  const auto attacked = engine.Call("attacker", "decide", empty);
  REQUIRE(attacked);
  const rapidjson::Value& a = attacked.Value();
  for (const char* write : {"replace_function", "nested_write", "list_write"}) {
    INFO(write);
    CHECK_THAT(a[write].GetString(), Catch::Contains("attacker.lua:") && Catch::Contains("read-only"));
  }
  CHECK_THAT(a["rawset"].GetString(), Catch::Contains("table expected"));
  CHECK_THAT(a["setmetatable"].GetString(), Catch::Contains("table expected"));
  CHECK(std::string(a["metatable"].GetString()) == "locked");
  CHECK(std::string(a["type"].GetString()) == "userdata");
  CHECK(a["same_view"].GetBool());

  // The same state (one caller, one state): nothing the attacker tried reached the library.
  CHECK_JSON(CallText(engine, "reader", "decide"),
             R"({"keys":"LIST,NESTED,count,kind,name,value,version","items":"abc","length":3,"concat":"a-b-c",
                 "nested":"inner:userdata","value":1,"count":1})");
  CHECK_THAT(CallText(engine, "reader", "decide"), Catch::Contains("\"count\":2"));  // its own state changes
  CHECK(engine.DebugPoolInfo().liveStates == 1);
  RequireBalanced(engine);
}

TEST_CASE("LuaLibrary/every pooled state checks a library's contract against the reload's", "[lua][library]") {
  TempDir dir;
  TempDir data;
  const std::string versionFile = data.Write("version.txt", "1");
  // A library whose contract depends on the outside world: each new state reads it again.
  dir.Write("lib/moody.lua", R"(
    return { name = "moody", version = gw.file.read(")" + versionFile + R"("), kind = "library" })");
  dir.Write("p.lua", "local moody = gw.library('moody')\n" +
                         Policy("p", "if arg.spin then while true do end end return moody.version"));
  EngineOptions options = OptionsFor(dir);
  options.fileAllowlist = {data.Path()};
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  CHECK(CallText(engine, "p", "decide") == "\"1\"");

  data.Write("version.txt", "2");
  // Retire the only state (time budget), so the next call builds a new one.
  CHECK(CallText(engine, "p", "decide", R"({"spin":true})", milliseconds(50)) == "ERR LUA-004");
  const rapidjson::Document empty = Json("{}");
  const auto r = engine.Call("p", "decide", empty);
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-003");
  CHECK_THAT(r.GetError().message, Catch::Contains(dir / "lib/moody.lua") &&
                                       Catch::Contains("differs from the one checked at reload"));

  data.Write("version.txt", "1");
  CHECK(CallText(engine, "p", "decide") == "\"1\"");
}
