// Escape attempts: nothing outside the allowlist is reachable, scripts cannot see or change each
// other, and gw cannot be modified.
#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;

namespace {

// A probe whose decide(arg) returns type(_ENV[arg.name]).
const char* kTypeOfGlobal = "return type(_ENV[arg.name])";

struct Probe {
  TempDir dir;
  std::unique_ptr<ScriptEngine> engine;

  explicit Probe(const std::string& body, const std::string& other = "") {
    dir.Write("probe.lua", Policy("probe", body));
    if (!other.empty()) dir.Write("other.lua", other);
    engine = std::make_unique<ScriptEngine>(OptionsFor(dir));
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }
  std::string Call(const char* arg = "{}") {
    std::string out = CallText(*engine, "probe", "decide", arg);
    RequireBalanced(*engine);
    return out;
  }
};

}  // namespace

TEST_CASE("LuaSandbox/forbidden globals are absent", "[lua][sandbox]") {
  Probe probe(kTypeOfGlobal);
  for (const char* name : {"io", "os", "debug", "load", "loadstring", "dofile", "loadfile", "require", "package",
                           "collectgarbage", "coroutine", "print", "module", "setfenv", "getfenv", "newproxy",
                           "_G", "unpack", "gcinfo", "warn"}) {
    INFO(name);
    const std::string arg = std::string("{\"name\":\"") + name + "\"}";
    CHECK(probe.Call(arg.c_str()) == "\"nil\"");
  }
  RequireBalanced(*probe.engine);
}

TEST_CASE("LuaSandbox/allowed globals are present", "[lua][sandbox]") {
  Probe probe(kTypeOfGlobal);
  for (const char* name : {"assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "rawequal", "rawget",
                           "rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring",
                           "type"}) {
    INFO(name);
    const std::string arg = std::string("{\"name\":\"") + name + "\"}";
    CHECK(probe.Call(arg.c_str()) == "\"function\"");
  }
  for (const char* name : {"string", "table", "math", "utf8"}) {
    const std::string arg = std::string("{\"name\":\"") + name + "\"}";
    CHECK(probe.Call(arg.c_str()) == "\"table\"");
  }
  CHECK(probe.Call("{\"name\":\"_VERSION\"}") == "\"string\"");
  CHECK(probe.Call("{\"name\":\"gw\"}") == "\"userdata\"");
}

TEST_CASE("LuaSandbox/string.dump and the string metatable", "[lua][sandbox]") {
  Probe probe(R"(
    local r = {}
    r.dump = type(string.dump)
    r.method_dump = type(("x").dump)
    r.mt = getmetatable("")
    r.mt_index = type(getmetatable("").__index)
    r.set_mt = pcall(setmetatable, "", {})
    r.write_mt = pcall(function() getmetatable("").__index = {} end)
    r.method_load = type(("").load)
    r.string_load = type(string.load)
    r.randomseed = type(math.randomseed)
    r.upper = ("abc"):upper()
    return r)");
  CHECK_JSON(probe.Call(),
        R"({"dump":"nil","method_dump":"nil","mt":"locked","mt_index":"nil","set_mt":false,"write_mt":false,)"
        R"("method_load":"nil","string_load":"nil","randomseed":"nil","upper":"ABC"})");
  RequireBalanced(*probe.engine);
}

TEST_CASE("LuaSandbox/_ENV tricks reach nothing", "[lua][sandbox]") {
  Probe probe(R"(
    local r = {}
    r.env_mt = getmetatable(_ENV) == nil
    r.env_G = _ENV._G == nil
    r.registry = pcall(function() return debug.getregistry() end)
    do
      local _ENV = { type = type }
      r.inner_io = type(io)
    end
    r.outer_io = type(io)
    setmetatable(_ENV, { __index = function(_, k) return "fallback" end })
    r.after_mt = os
    setmetatable(_ENV, nil)
    return r)");
  CHECK_JSON(probe.Call(), R"({"env_mt":true,"env_G":true,"registry":false,"inner_io":"nil","outer_io":"nil","after_mt":"fallback"})");
  // Same answer on the next call: the first call restored its own _ENV.
  CHECK_JSON(probe.Call(), R"({"env_mt":true,"env_G":true,"registry":false,"inner_io":"nil","outer_io":"nil","after_mt":"fallback"})");
}

TEST_CASE("LuaSandbox/gw is read-only", "[lua][sandbox]") {
  Probe probe(R"(
    local r = {}
    r.set_field = pcall(function() gw.extra = 1 end)
    r.replace_ns = pcall(function() gw.http = {} end)
    r.set_nested = pcall(function() gw.http.request = function() end end)
    r.set_json_null = pcall(function() gw.json.null = 0 end)
    r.rawset = pcall(rawset, gw, "x", 1)
    r.rawset_ns = pcall(rawset, gw.json, "encode", print)
    r.setmetatable = pcall(setmetatable, gw, {})
    r.getmetatable = getmetatable(gw)
    r.getmetatable_ns = getmetatable(gw.time)
    r.still_function = type(gw.http.request)
    r.pairs = pcall(function() for _ in pairs(gw) do end end)
    return r)");
  CHECK_JSON(probe.Call(),
        R"({"set_field":false,"replace_ns":false,"set_nested":false,"set_json_null":false,"rawset":false,)"
        R"("rawset_ns":false,"setmetatable":false,"getmetatable":"locked","getmetatable_ns":"locked",)"
        R"("still_function":"function","pairs":false})");
  RequireBalanced(*probe.engine);
}

TEST_CASE("LuaSandbox/no cross-script leakage", "[lua][sandbox]") {
  // Script "probe" tampers with everything it can; "other" must not notice, in the same state.
  Probe probe(R"(
      leaked = "secret"
      string.upper = nil
      table.insert = nil
      math.pi = 3
      string.format = function() return "hijacked" end
      return ("x"):upper())",
              Policy("other", R"(
      return { leaked = type(leaked), upper = type(string.upper), insert = type(table.insert),
               pi_ok = math.pi > 3.14, fmt = string.format("%d", 7), method = ("y"):upper() })"));
  ScriptEngine& engine = *probe.engine;
  CHECK(probe.Call() == "\"X\"");  // the shared string metatable still works for the tamperer
  CHECK_JSON(CallText(engine, "other", "decide"),
        R"({"leaked":"nil","upper":"function","insert":"function","pi_ok":true,"fmt":"7","method":"Y"})");
  RequireBalanced(engine);
}

TEST_CASE("LuaSandbox/finalizers are refused", "[lua][sandbox]") {
  Probe probe(R"(
    local ok, err = pcall(setmetatable, {}, { __gc = function() while true do end end })
    local plain = setmetatable({}, { __index = { a = 1 } })
    return { ok = ok, named = tostring(err):find("__gc", 1, true) ~= nil, plain = plain.a })");
  CHECK_JSON(probe.Call(), R"({"ok":false,"named":true,"plain":1})");
}

TEST_CASE("LuaSandbox/bytecode chunks are refused", "[lua][sandbox]") {
  TempDir dir;
  // A binary chunk starts with ESC 'Lua'; text mode refuses it before reading further.
  dir.Write("binary.lua", std::string("\x1bLua\x54\x00\x19\x93\r\n\x1a\n", 12) + "garbage");
  ScriptEngine engine(OptionsFor(dir));
  const auto r = engine.Reload();
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-001");
  CHECK_THAT(r.GetError().message, Catch::Contains("binary.lua") && Catch::Contains("binary"));
  CHECK(engine.CurrentInfo().version == 0);
}

TEST_CASE("LuaSandbox/globals of a script persist only in its own _ENV", "[lua][sandbox]") {
  Probe probe(R"(
    counter = (counter or 0) + 1
    return { counter_type = type(counter), string_is_private = string ~= getmetatable("") })");
  CHECK_JSON(probe.Call(), R"({"counter_type":"number","string_is_private":true})");
}
