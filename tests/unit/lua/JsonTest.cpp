// JSON <-> Lua conversion at the Call() boundary and in gw.json.
#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;

namespace {

struct Echo {
  TempDir dir;
  std::unique_ptr<ScriptEngine> engine;

  Echo() {
    dir.Write("echo.lua", R"(
      local M = { name = "echo", version = "1", kind = "policy" }
      function M.decide(arg) return arg end
      function M.wrap(arg) return { value = arg } end
      function M.is_null(arg) return { null = arg.v == gw.json.null, type = type(arg.v) } end
      function M.via_lua(arg) return gw.json.decode(gw.json.encode(arg)) end
      return M)");
    engine = std::make_unique<ScriptEngine>(OptionsFor(dir));
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }
};

}  // namespace

TEST_CASE("LuaJson/round trips", "[lua][json]") {
  Echo echo;
  for (const char* text : {
           R"({"a":1,"b":"two","c":true,"d":false,"e":null,"f":1.5})",
           R"([1,2,3])",
           R"({"nested":{"list":[{"x":1},{"y":[true,false,null]}],"empty":{}}})",
           R"("just a string")",
           R"(42)",
           R"(-9007199254740993)",
           R"(9223372036854775807)",
           R"(0.1)",
           R"(1e300)",
           R"(true)",
           R"({"unicode":"h\u00e9llo \u4e16\u754c \ud83d\ude00","ctrl":"a\tb\nc\u0000d"})",
           R"({"":"empty key","sp ace":"v"})",
           R"([[[[[[[[[[1]]]]]]]]]])",
       }) {
    INFO(text);
    CHECK_JSON(CallText(*echo.engine, "echo", "decide", text), text);
    CHECK_JSON(CallText(*echo.engine, "echo", "via_lua", text), text);
  }
  RequireBalanced(*echo.engine);
}

TEST_CASE("LuaJson/documented asymmetries", "[lua][json]") {
  Echo echo;
  CHECK(CallText(*echo.engine, "echo", "decide", "[]") == "{}");  // an empty table is an object
  CHECK(CallText(*echo.engine, "echo", "decide", "{}") == "{}");
  CHECK(CallText(*echo.engine, "echo", "decide", "1.0") == "1.0");  // floats stay floats
  // Integers beyond int64 become floats.
  const auto big = Json(CallText(*echo.engine, "echo", "decide", "18446744073709551615").c_str());
  REQUIRE(big.IsDouble());
  CHECK(big.GetDouble() == Approx(1.8446744073709552e19));
}

TEST_CASE("LuaJson/null is gw.json.null", "[lua][json]") {
  Echo echo;
  CHECK_JSON(CallText(*echo.engine, "echo", "is_null", R"({"v":null})"), R"({"null":true,"type":"userdata"})");
  CHECK_JSON(CallText(*echo.engine, "echo", "is_null", R"({"v":0})"), R"({"null":false,"type":"number"})");
  CHECK(CallText(*echo.engine, "echo", "decide", "null") == "null");  // a null result is a value
}

TEST_CASE("LuaJson/invalid return values are LUA-008", "[lua][json]") {
  TempDir dir;
  dir.Write("bad.lua", R"(
    local M = { name = "bad", version = "1", kind = "policy" }
    local cases = {
      fn = function() return function() end end,
      nested_fn = function() return { ok = 1, f = print or function() end } end,
      cycle = function() local t = {} t.self = t return t end,
      deep_cycle = function() local t = { a = { b = {} } } t.a.b.c = t return t end,
      nan = function() return { x = 0/0 } end,
      inf = function() return { x = math.huge } end,
      neg_inf = function() return { -math.huge } end,
      mixed = function() return { 1, 2, a = 3 } end,
      sparse = function() return { [1] = 1, [3] = 3 } end,
      zero_key = function() return { [0] = 1 } end,
      float_key = function() return { [1.5] = 1 } end,
      bool_key = function() return { [true] = 1 } end,
      table_key = function() return { [{}] = 1 } end,
      userdata = function() return { g = gw } end,
      too_deep = function() local t = {} local c = t for i = 1, 200 do c.x = {} c = c.x end return t end,
      nothing = function() end,
      explicit_nil = function() return nil end,
    }
    for k, f in pairs(cases) do M[k] = f end
    M.decide = function() return true end
    return M)");
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  for (const char* fn : {"fn", "nested_fn", "cycle", "deep_cycle", "nan", "inf", "neg_inf", "mixed", "sparse",
                         "zero_key", "float_key", "bool_key", "table_key", "userdata", "too_deep", "nothing",
                         "explicit_nil"}) {
    INFO(fn);
    const auto arg = Json("{}");
    auto r = engine.Call("bad", fn, arg);
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-008");
    CHECK_THAT(r.GetError().message, Catch::Contains(std::string("bad.") + fn));
  }
  // The path of the offending value is named.
  const auto arg = Json("{}");
  CHECK_THAT(engine.Call("bad", "deep_cycle", arg).GetError().message, Catch::Contains("$.a.b.c"));
  CHECK_THAT(engine.Call("bad", "neg_inf", arg).GetError().message, Catch::Contains("$[1]"));
  RequireBalanced(engine);
}

TEST_CASE("LuaJson/gw.json in scripts", "[lua][json]") {
  TempDir dir;
  dir.Write("j.lua", Policy("j", R"(
    local r = {}
    r.encoded = gw.json.encode({ list = { 1, 2, 3 } })
    r.scalar = gw.json.encode("a\"b")
    r.null = gw.json.encode(gw.json.null)
    local v, err = gw.json.decode('{"a": [1, {"b": null}]}')
    r.decoded_b_null = v.a[2].b == gw.json.null
    r.decoded_len = #v.a
    local bad, why = gw.json.decode('{"a": }')
    r.bad_is_nil = bad == nil
    r.bad_reason = why:find("offset", 1, true) ~= nil
    local deep = gw.json.decode(string.rep("[", 300) .. string.rep("]", 300))
    r.deep_refused = deep == nil
    local trailing = gw.json.decode('{"a":1} x')
    r.trailing_refused = trailing == nil
    local nul = gw.json.decode('{"a":1}\0')
    r.embedded_nul_refused = nul == nil
    local invalid_utf8 = gw.json.decode('"\255"')
    r.invalid_utf8_refused = invalid_utf8 == nil
    r.encode_fn = pcall(gw.json.encode, { f = function() end })
    local ok, msg = pcall(function() return gw.json.encode({ 0/0 }) end)
    r.encode_msg = msg:find("gw.json.encode", 1, true) ~= nil and msg:find("j.lua:", 1, true) ~= nil
    r.decode_type = pcall(gw.json.decode, 5)
    return r)"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  CHECK_JSON(CallText(engine, "j", "decide"),
             R"({"encoded":"{\"list\":[1,2,3]}","scalar":"\"a\\\"b\"","null":"null","decoded_b_null":true,)"
             R"("decoded_len":2,"bad_is_nil":true,"bad_reason":true,"deep_refused":true,"trailing_refused":true,)"
             R"("embedded_nul_refused":true,"invalid_utf8_refused":true,"encode_fn":false,"encode_msg":true,)"
             R"("decode_type":false})");
  RequireBalanced(engine);
}

TEST_CASE("LuaJson/deep arguments are refused, not crashed on", "[lua][json]") {
  Echo echo;
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  rapidjson::Document arg;
  arg.Parse<rapidjson::kParseIterativeFlag>(deep.c_str());
  REQUIRE_FALSE(arg.HasParseError());
  auto r = echo.engine->Call("echo", "decide", arg);
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-006");
  CHECK_THAT(r.GetError().message, Catch::Contains("argument"));
  RequireBalanced(*echo.engine);
}

namespace {

// Runs engine.Call on a thread of `stackBytes`; returns the result text or "ERR <code>: <message>".
std::string CallOnSmallStack(size_t stackBytes, ScriptEngine& engine, const char* script, const char* fn,
                             const rapidjson::Document& arg) {
  std::string text = "(thread did not run)";
  REQUIRE(RunOnSmallStack(stackBytes, [&] {
    auto r = engine.Call(script, fn, arg);
    text = r ? ToText(r.Value()) : "ERR " + r.GetError().code + ": " + r.GetError().message;
  }));
  return text;
}

}  // namespace

// The refusal of a too-deep conversion: the depth bound, or under AddressSanitizer (larger frames)
// the stack check, which then comes first on a small thread. Either is a clean error.
#if defined(__SANITIZE_ADDRESS__)
#define GW_DEEP_REFUSAL (Catch::Contains("nested deeper than 128 levels") || \
                         Catch::Contains("nested too deeply for this thread's stack"))
#else
#define GW_DEEP_REFUSAL Catch::Contains("nested deeper than 128 levels")
#endif

TEST_CASE("Hardening: 1000-deep JSON is refused cleanly in both directions on a small stack", "[lua][json][stack]") {
  TempDir dir;
  dir.Write("deep.lua", R"(
    local M = { name = "deep", version = "1", kind = "policy" }
    local function nest(kind, n)
      local root = {}
      local t = root
      for i = 1, n do
        local child = {}
        if kind == "array" then t[1] = child else t.k = child end
        t = child
      end
      return root
    end
    local function text(kind, n)
      if kind == "array" then return string.rep("[", n) .. string.rep("]", n) end
      return string.rep('{"k":', n) .. "1" .. string.rep("}", n)
    end
    function M.decide(arg) return arg end
    function M.decode(arg)
      local v, err = gw.json.decode(text(arg.kind, 1000))
      return { refused = v == nil, err = err }
    end
    function M.decode_ok(arg)  -- within the limit
      local v = gw.json.decode(text(arg.kind, 100))
      return { ok = v ~= nil }
    end
    function M.encode(arg)
      local ok, err = pcall(gw.json.encode, nest(arg.kind, 1000))
      return { refused = not ok, err = err }
    end
    function M.encode_raise(arg) return gw.json.encode(nest(arg.kind, 1000)) end
    function M.encode_cycle(arg)
      local t = {} t.self = { t }
      local ok, err = pcall(gw.json.encode, t)
      return { refused = not ok, err = err }
    end
    function M.give_back(arg) return nest(arg.kind, 1000) end
    return M)");
  ScriptEngine engine(OptionsFor(dir));
  const auto loaded = engine.Reload();
  if (!loaded) FAIL(loaded.GetError().ToString());
  for (const char* kind : {"array", "object"}) {
    for (const size_t stack : {size_t{128} * 1024, size_t{256} * 1024}) {
      INFO(kind << ", stack " << stack / 1024 << " KiB");
      const std::string argText = std::string(R"({"kind":")") + kind + "\"}";
      const auto arg = Json(argText.c_str());

      // Lua -> JSON (gw.json.encode), caught and uncaught, and as a call's result.
      std::string out = CallOnSmallStack(stack, engine, "deep", "encode", arg);
      INFO(out);
      const auto encoded = Json(out.c_str());
      CHECK(encoded["refused"].GetBool());
      CHECK_THAT(encoded["err"].GetString(), GW_DEEP_REFUSAL);
      out = CallOnSmallStack(stack, engine, "deep", "encode_raise", arg);
      CHECK_THAT(out, Catch::StartsWith("ERR LUA-006") && GW_DEEP_REFUSAL);
      out = CallOnSmallStack(stack, engine, "deep", "give_back", arg);
      CHECK_THAT(out, Catch::StartsWith("ERR LUA-008") && GW_DEEP_REFUSAL);
      out = CallOnSmallStack(stack, engine, "deep", "encode_cycle", arg);
      CHECK_THAT(out, Catch::Contains("cycle"));

      // JSON -> Lua (gw.json.decode), and as a call's argument.
      out = CallOnSmallStack(stack, engine, "deep", "decode", arg);
      const auto decoded = Json(out.c_str());
      CHECK(decoded["refused"].GetBool());
      CHECK_THAT(decoded["err"].GetString(), Catch::Contains("nested deeper than 128 levels"));
      CHECK(CallOnSmallStack(stack, engine, "deep", "decode_ok", arg) == R"({"ok":true})");
      const std::string deepText = std::string(kind) == "array"
                                       ? std::string(1000, '[') + std::string(1000, ']')
                                       : [] {
                                           std::string t;
                                           for (int i = 0; i < 1000; ++i) t += R"({"k":)";
                                           return t + "1" + std::string(1000, '}');
                                         }();
      rapidjson::Document deepArg;
      deepArg.Parse<rapidjson::kParseIterativeFlag>(deepText.c_str());
      REQUIRE_FALSE(deepArg.HasParseError());
      out = CallOnSmallStack(stack, engine, "deep", "decide", deepArg);
      CHECK_THAT(out, Catch::StartsWith("ERR LUA-006") && Catch::Contains("argument"));
    }
  }
  RequireBalanced(engine);
}

TEST_CASE("Hardening: gw.json.decode refuses text larger than 16 MiB", "[lua][json]") {
  TempDir dir;
  dir.Write("big.lua", Policy("big", R"(
    local body = '"' .. string.rep("a", 16 * 1024 * 1024) .. '"'
    local v, err = gw.json.decode(body)
    local fits = gw.json.decode('"' .. string.rep("a", 1024 * 1024) .. '"')
    return { refused = v == nil, err = err, fits = #fits })"));
  EngineOptions options = OptionsFor(dir);
  options.memoryLimitBytes = 96u * 1024 * 1024;
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  const std::string out = CallText(engine, "big", "decide");
  INFO(out);
  const auto r = Json(out.c_str());
  CHECK(r["refused"].GetBool());
  CHECK_THAT(r["err"].GetString(), Catch::Contains("larger than the limit of 16 MiB"));
  CHECK(r["fits"].GetInt() == 1024 * 1024);
}
