// Scripts on small-stack threads: Orthanc (Debian, libcivetweb) runs plugin callbacks on HTTP
// threads of 100 KiB, where Lua's own C-call limit (200 levels) is far too late. Every recursion
// shape that nests C calls must end in a clean error, whatever the script does to catch it, and the
// thread must live on.
#include <alloca.h>

#include <cstring>
#include <optional>

#include "LuaTestSupport.h"
#include "lua/StackGuard.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

// decide(arg) runs `body`; fine() is a plain call that must keep working afterwards.
std::string ProbeScript(const std::string& body) {
  return "local M = { name = \"probe\", version = \"1\", kind = \"policy\" }\n"
         "function M.decide(arg)\n" + body + "\nend\n"
         "function M.fine(arg) return { allow = true, n = #tostring(arg.n or '') } end\n"
         "return M\n";
}

struct Outcome {
  bool ran = false;
  std::optional<gw::Error> error;  // empty: success
  std::string value;
};

Outcome CallOn(size_t stackBytes, ScriptEngine& engine, const char* fn, const rapidjson::Document& arg) {
  Outcome outcome;
  const bool started = RunOnSmallStack(stackBytes, [&] {
    auto r = engine.Call("probe", fn, arg, milliseconds(5000));
    if (r) outcome.value = ToText(r.Value());
    else outcome.error = r.GetError();
    outcome.ran = true;
  });
  REQUIRE(started);
  REQUIRE(outcome.ran);  // the thread came back: no crash, no hang
  return outcome;
}

struct Shape {
  const char* name;
  const char* body;  // unbounded recursion through C calls
};

// Each shape nests interpreter C frames through a different path; all of them pass through a
// function call, where the hook checks the stack.
const Shape kShapes[] = {
    {"pcall chain", "local function f() return pcall(f) end\nreturn { allow = f() }"},
    {"gsub callback recursion",
     "local function f(s) return (string.gsub('x', 'x', f)) end\nreturn { allow = f('x') ~= nil }"},
    {"table.sort comparator recursion",
     "local function cmp(a, b) table.sort({ 3, 2, 1 }, cmp) return a < b end\n"
     "table.sort({ 3, 2, 1 }, cmp)\nreturn { allow = true }"},
    {"__tostring recursion",
     "local mt = {}\nmt.__tostring = function(v) return tostring(setmetatable({}, mt)) end\n"
     "return { allow = tostring(setmetatable({}, mt)) }"},
    {"__index function chain",
     "local mt = {}\nmt.__index = function(t, k) return setmetatable({}, mt)[k] end\n"
     "return { allow = setmetatable({}, mt).x }"},
    {"string.format %s with __tostring",
     "local mt = {}\nmt.__tostring = function(v) return string.format('%s', setmetatable({}, mt)) end\n"
     "return { allow = string.format('%s', setmetatable({}, mt)) }"},
    {"xpcall chain",
     "local function f() return xpcall(f, function(e) return e end) end\nreturn { allow = f() }"},
    {"__concat recursion",
     "local mt = {}\nmt.__concat = function(a, b) return setmetatable({}, mt) .. 'x' end\n"
     "return { allow = setmetatable({}, mt) .. 'x' }"},
    {"__lt inside table.sort",
     "local mt = {}\nmt.__lt = function(a, b) table.sort({ setmetatable({}, mt), setmetatable({}, mt) }) return true end\n"
     "table.sort({ setmetatable({}, mt), setmetatable({}, mt) })\nreturn { allow = true }"},
};

// Calls `work` with `bytes` of stack taken by this frame.
__attribute__((noinline)) void UseStackThen(size_t bytes, const std::function<void()>& work) {
  auto* area = static_cast<char*>(alloca(bytes));
  asm volatile("" : : "r"(area) : "memory");
  work();
}

bool IsStackError(const gw::Error& error) {
  return error.code == "LUA-006" && error.message.find("C stack") != std::string::npos;
}

}  // namespace

// Thread stacks the recursion shapes run on. Under AddressSanitizer a call needs kMinCallStackBytes
// (72 KiB: instrumented frames are larger) at entry, so a 64 KiB thread is refused before Lua runs,
// which the "too little stack" case below covers.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kRecursionStacks[] = {size_t{100} * 1024, size_t{128} * 1024, size_t{256} * 1024};
#else
constexpr size_t kRecursionStacks[] = {size_t{64} * 1024, size_t{100} * 1024, size_t{128} * 1024, size_t{256} * 1024};
#endif

TEST_CASE("Hardening: recursion through C calls fails cleanly on a small stack", "[lua][limits][stack]") {
  // Measured (the [.][measure] case below): up to Lua's own limit of 200 C levels these shapes use
  // 53 KiB (__index) to 415 KiB (gsub) of stack; 100 KiB is Orthanc's HTTP thread, of which its
  // own frames take a part before a script runs.
  const auto arg = Json(R"({"n":1})");
  for (const Shape& shape : kShapes) {
    for (const bool swallowed : {false, true}) {
      // The swallowing variant catches whatever the recursion raises and answers "allow": the
      // stop must not be catchable, or the policy would fail open.
      const std::string body = swallowed ? std::string("pcall(function()\n") + shape.body +
                                               "\nend)\nreturn { allow = true, swallowed = true }"
                                         : shape.body;
      TempDir dir;
      dir.Write("probe.lua", ProbeScript(body));
      ScriptEngine engine(OptionsFor(dir));
      REQUIRE(engine.Reload());
      for (const size_t stack : kRecursionStacks) {
        INFO(shape.name << (swallowed ? " (inside pcall)" : "") << ", stack " << stack / 1024 << " KiB");
        const Outcome hostile = CallOn(stack, engine, "decide", arg);  // returns: the thread lived
        if (hostile.error) INFO(hostile.error->ToString());
        if (stack == 64 * 1024) {
          // Too small for 200 levels of any shape: only the guard can end it cleanly.
          REQUIRE(hostile.error.has_value());
          CHECK(IsStackError(*hostile.error));
        } else if (hostile.error) {
          // Either the guard, or Lua's own 200-level limit when the stack was large enough for it.
          CHECK(hostile.error->code == "LUA-006");
        } else {
          // Lua's own limit came first and the script caught it: its answer is its own business.
          CHECK_THAT(hostile.value, !Catch::Contains("C stack limit"));
        }
        // A stopped state is retired; the next call on the same kind of thread works.
        const Outcome after = CallOn(stack, engine, "fine", arg);
        CHECK_FALSE(after.error.has_value());
        CHECK_JSON(after.value, R"({"allow":true,"n":1})");
        RequireBalanced(engine);
      }
    }
  }
}

TEST_CASE("Hardening: legitimate recursion still works on a small stack", "[lua][limits][stack]") {
  // Plain Lua recursion does not nest C frames (Lua calls Lua without recursing in C), so it is
  // bounded by memory, not by the thread's stack.
  TempDir dir;
  dir.Write("probe.lua", ProbeScript(R"(
    local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
    local ok, nested = pcall(function() return pcall(function() return tostring(depth(5000)) end) end)
    return { allow = ok, depth = depth(5000) })"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  const auto arg = Json("{}");
  const Outcome outcome = CallOn(128 * 1024, engine, "decide", arg);
  REQUIRE_FALSE(outcome.error.has_value());
  CHECK_JSON(outcome.value, R"({"allow":true,"depth":5000})");
}

TEST_CASE("Hardening: a thread with too little stack is refused before Lua runs", "[lua][limits][stack]") {
  TempDir dir;
  dir.Write("probe.lua", ProbeScript("return { allow = true }"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  const auto arg = Json("{}");
  // The thread has used all but 20 KiB of its stack when it calls (frames of its own).
  Outcome refused;
  REQUIRE(RunOnSmallStack(128 * 1024, [&] {
    UseStackThen(StackRemaining() - 20 * 1024, [&] {
      auto r = engine.Call("probe", "decide", arg, milliseconds(5000));
      if (r) refused.value = ToText(r.Value());
      else refused.error = r.GetError();
      refused.ran = true;
    });
  }));
  REQUIRE(refused.ran);
  REQUIRE(refused.error.has_value());
  INFO(refused.error->ToString());
  CHECK(refused.error->code == "LUA-006");
  CHECK_THAT(refused.error->message, Catch::Contains("KiB of stack left"));
  // Nothing ran, nothing was retired.
  CHECK(engine.DebugPoolInfo().retiredStates == 0);
  const Outcome served = CallOn(128 * 1024, engine, "decide", arg);
  CHECK_FALSE(served.error.has_value());
}

namespace {

// Lua source of decide() nesting `depth` parentheses, and `depth` do-blocks.
std::string NestedScript(int depth) {
  std::string expression = std::string(static_cast<size_t>(depth), '(') + "1" + std::string(static_cast<size_t>(depth), ')');
  std::string blocks;
  for (int i = 0; i < depth; ++i) blocks += "do ";
  blocks += "local x = 1 ";
  for (int i = 0; i < depth; ++i) blocks += "end ";
  return ProbeScript(blocks + "\nreturn { allow = " + expression + " == 1 }");
}

struct ReloadOutcome {
  bool ran = false;
  bool ok = false;
  std::string code;
  std::string message;
};

ReloadOutcome ReloadOn(size_t stackBytes, ScriptEngine& engine) {
  ReloadOutcome outcome;
  auto work = [&] {
    const auto r = engine.Reload();
    outcome.ok = static_cast<bool>(r);
    if (!r) {
      outcome.code = r.GetError().code;
      outcome.message = r.GetError().message;
    }
    outcome.ran = true;
  };
  if (stackBytes == 0) work();
  else REQUIRE(RunOnSmallStack(stackBytes, work));
  REQUIRE(outcome.ran);
  return outcome;
}

}  // namespace

TEST_CASE("Hardening: deeply nested scripts compile cleanly when reloaded on a small stack",
          "[lua][limits][stack]") {
  // Lua's parser recurses once per nesting level, up to its limit of 200 C levels, without any
  // function call: reload (POST /dicomweb-oauth/reload runs on an HTTP thread) compiles on a thread
  // of its own. The outcome must not depend on the caller's stack.
  for (const int depth : {190, 1000}) {
    INFO("nesting " << depth);
    TempDir dir;
    dir.Write("probe.lua", NestedScript(depth));
    ScriptEngine reference(OptionsFor(dir));
    const ReloadOutcome expected = ReloadOn(0, reference);  // main thread: megabytes of stack
    ScriptEngine engine(OptionsFor(dir));
    const ReloadOutcome small = ReloadOn(100 * 1024, engine);
    INFO(small.code << " " << small.message);
    CHECK(small.ok == expected.ok);
    CHECK(small.code == expected.code);
    if (depth == 1000) {
      CHECK_FALSE(small.ok);
      CHECK(small.code == "LUA-001");
      CHECK_THAT(small.message, Catch::Contains("probe.lua"));
    } else if (small.ok) {
      // The pooled state is compiled on a big stack too, even when the first call comes from a
      // small one; running the nested code needs no C recursion.
      const auto arg = Json("{}");
      const Outcome called = CallOn(100 * 1024, engine, "decide", arg);
      CHECK_FALSE(called.error.has_value());
      CHECK(called.value == R"({"allow":true})");
    } else {
      CHECK(small.code == "LUA-001");
    }
  }
}

namespace {

constexpr unsigned char kPaint = 0xA5;

// Paints `bytes` below the caller's frame; returns the lowest painted address.
__attribute__((noinline)) uintptr_t PaintStackBelow(size_t bytes) {
  auto* area = static_cast<unsigned char*>(alloca(bytes));
  std::memset(area, kPaint, bytes);
  asm volatile("" : : "r"(area) : "memory");  // keep the writes
  return reinterpret_cast<uintptr_t>(area);
}

// Runs `work` on a thread of `stackBytes` whose unused stack was painted first; returns the bytes
// between the stack's lowest usable address and the deepest byte `work` touched.
size_t UntouchedStackBytes(size_t stackBytes, const std::function<void()>& work) {
  size_t untouched = 0;
  REQUIRE(RunOnSmallStack(stackBytes, [&] {
    const uintptr_t lowest = StackLowestAddress();
    const uintptr_t painted = PaintStackBelow(StackRemaining() - 1024);
    work();
    const auto* p = reinterpret_cast<const unsigned char*>(painted);
    while (*p == kPaint) ++p;
    untouched = reinterpret_cast<uintptr_t>(p) - lowest;
  }));
  return untouched;
}

}  // namespace

TEST_CASE("Hardening: no recursion shape reaches into the last part of the stack reserve", "[lua][limits][stack]") {
  // The guard stops a call at the first function entered with less than kStackReserveBytes left;
  // what runs after that point (the last library function, the error unwinding) must fit in the
  // reserve with room to spare, or the reserve is too small and a crash is only a matter of luck.
#if defined(__SANITIZE_ADDRESS__)
  WARN("not measured under AddressSanitizer (it reports reads of unused stack memory)");
  return;
#endif
  const auto arg = Json(R"({"n":1})");
  size_t worst = SIZE_MAX;
  for (const Shape& shape : kShapes) {
    TempDir dir;
    dir.Write("probe.lua", ProbeScript(std::string("pcall(function()\n") + shape.body + "\nend)\nreturn { allow = true }"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    REQUIRE(engine.Call("probe", "fine", arg));  // the pooled state exists before the measurement
    std::optional<gw::Error> error;
    const size_t untouched = UntouchedStackBytes(64 * 1024, [&] {
      auto r = engine.Call("probe", "decide", arg, milliseconds(5000));
      if (!r) error = r.GetError();
    });
    INFO(shape.name << ": " << untouched << " bytes of the stack never touched, reserve "
                    << kStackReserveBytes);
    REQUIRE(error.has_value());
    CHECK(IsStackError(*error));
    CHECK(untouched >= 8 * 1024);
    worst = std::min(worst, untouched);
  }
  WARN("deepest recursion shape left " << worst / 1024.0 << " KiB of " << kStackReserveBytes / 1024
                                       << " KiB reserve untouched");
}

// Not a test: prints the stack each shape uses on several thread sizes (the figures in
// docs/lua-api.md). Hidden; run with: unit_lua "[measure]"
TEST_CASE("Measure: stack used per recursion shape", "[.][measure]") {
  const auto arg = Json(R"({"n":1})");
  for (const Shape& shape : kShapes) {
    TempDir dir;
    dir.Write("probe.lua", ProbeScript(shape.body));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    REQUIRE(engine.Call("probe", "fine", arg));
    for (size_t kib : {64, 100, 128, 256, 2048}) {
      std::string text;
      const size_t untouched = UntouchedStackBytes(kib * 1024, [&] {
        auto r = engine.Call("probe", "decide", arg, milliseconds(5000));
        text = r ? ToText(r.Value()) : r.GetError().ToString();
      });
      WARN(shape.name << " @" << kib << " KiB: used " << (kib * 1024 - untouched) / 1024.0 << " KiB, untouched "
                      << untouched << ": " << text.substr(0, 120));
    }
  }
}
