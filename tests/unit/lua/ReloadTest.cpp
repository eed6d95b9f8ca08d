// Snapshots: contract validation, atomic publication, versions, digests, and reload while calls
// are running.
#include <atomic>
#include <thread>

#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

gw::Error ReloadError(const TempDir& dir) {
  ScriptEngine engine(OptionsFor(dir));
  auto r = engine.Reload();
  if (r) FAIL("expected the reload to fail");
  CHECK(engine.CurrentInfo().version == 0);
  return r.GetError();
}

std::string Contract(const std::string& fields) { return "return { " + fields + " }\n"; }

}  // namespace

TEST_CASE("LuaReload/publishes a snapshot", "[lua][reload]") {
  TempDir dir;
  dir.Write("b.lua", Policy("beta", "return 'b'"));
  dir.Write("sub/a.lua", Policy("alpha", "return 'a'"));
  dir.Write("sub/deeper/c.lua", R"(
    local M = { name = "gamma", version = "2.1", kind = "provider" }
    function M.acquire(cfg) return { access_token = "t", expires_in = 60 } end
    function M.helper() return 1 end
    M.not_a_function = 5
    return M)");
  dir.Write("notes.txt", "not a script");
  dir.Write(".hidden.lua", "this is not Lua at all (");
  dir.Write(".git/x.lua", "neither is this (");
  ScriptEngine engine(OptionsFor(dir));
  CHECK(engine.CurrentInfo().version == 0);
  CHECK_FALSE(engine.HasScript("alpha"));

  const auto r = engine.Reload();
  REQUIRE(r);
  const SnapshotInfo& info = r.Value();
  CHECK(info.version == 1);
  CHECK(info.digest.size() == 64);
  CHECK(info.digest.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(info.publishedAtUnixMs > 0);
  REQUIRE(info.scripts.size() == 3);
  // Sorted by path: <dir>/b.lua < <dir>/sub/a.lua < <dir>/sub/deeper/c.lua
  CHECK(info.scripts[0].name == "beta");
  CHECK(info.scripts[1].name == "alpha");
  CHECK(info.scripts[2].name == "gamma");
  CHECK(info.scripts[2].version == "2.1");
  CHECK(info.scripts[2].kind == "provider");
  CHECK(info.scripts[2].file == dir / "sub/deeper/c.lua");

  CHECK(engine.HasScript("gamma"));
  CHECK(engine.HasFunction("gamma", "acquire"));
  CHECK(engine.HasFunction("gamma", "helper"));
  CHECK_FALSE(engine.HasFunction("gamma", "not_a_function"));
  CHECK_FALSE(engine.HasFunction("gamma", "self_test"));
  CHECK_FALSE(engine.HasScript("delta"));
  CHECK(CallText(engine, "alpha", "decide") == "\"a\"");
  CHECK(engine.CurrentInfo().version == 1);

  // An explicit reload always publishes, even without changes; the digest stays.
  const auto again = engine.Reload();
  REQUIRE(again);
  CHECK(again.Value().version == 2);
  CHECK(again.Value().digest == info.digest);

  dir.Write("b.lua", Policy("beta", "return 'b2'"));
  const auto changed = engine.Reload();
  REQUIRE(changed);
  CHECK(changed.Value().version == 3);
  CHECK(changed.Value().digest != info.digest);
  CHECK(CallText(engine, "beta", "decide") == "\"b2\"");
}

TEST_CASE("LuaReload/failed reload keeps the old snapshot", "[lua][reload]") {
  TempDir dir;
  dir.Write("p.lua", Policy("p", "return 'v1'"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  const std::string digest = engine.CurrentInfo().digest;

  dir.Write("p.lua", "local M = {\n  name = 'p',\n  version = '2' kind = 'policy'\n}\nreturn M\n");
  const auto r = engine.Reload();
  REQUIRE_FALSE(r);
  CHECK(r.GetError().code == "LUA-001");
  CHECK_THAT(r.GetError().message, Catch::Contains("p.lua:3:"));
  CHECK(engine.CurrentInfo().version == 1);
  CHECK(engine.CurrentInfo().digest == digest);
  CHECK(CallText(engine, "p", "decide") == "\"v1\"");

  dir.Write("p.lua", Policy("p", "return 'v2'"));
  const auto fixed = engine.Reload();
  REQUIRE(fixed);
  CHECK(fixed.Value().version == 2);  // failures do not consume versions
  CHECK(CallText(engine, "p", "decide") == "\"v2\"");
}

TEST_CASE("LuaReload/contract validation names file and field", "[lua][reload]") {
  TempDir dir;
  const std::string file = dir / "s.lua";
  struct Case {
    const char* text;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"return 42", "contract table"},
      {"local x = 1", "contract table"},
      {"return { version = '1', kind = 'policy', decide = print or function() end }", "'name'"},
      {"return { name = 'Bad-Name', version = '1', kind = 'policy', decide = function() end }", "'name'"},
      {"return { name = 7, version = '1', kind = 'policy', decide = function() end }", "'name'"},
      {"return { name = 'ok', kind = 'policy', decide = function() end }", "'version'"},
      {"return { name = 'ok', version = '', kind = 'policy', decide = function() end }", "'version'"},
      {"return { name = 'ok', version = '1', kind = 'router', decide = function() end }", "'kind'"},
      {"return { name = 'ok', version = '1', kind = 'policy' }", "'decide'"},
      {"return { name = 'ok', version = '1', kind = 'policy', decide = 'yes' }", "'decide'"},
      {"return { name = 'ok', version = '1', kind = 'provider', refresh = function() end }", "'acquire' or 'sign'"},
      {"return { name = 'ok', version = '1', kind = 'audit', decide = function() end }", "'record'"},
      {"return { name = 'ok', version = '1', kind = 'policy', decide = function() end, schema = 'x' }", "'schema'"},
      {"return { name = 'ok', version = '1', kind = 'policy', decide = function() end, self_test = true }",
       "'self_test'"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    dir.Write("s.lua", c.text);
    const auto error = ReloadError(dir);
    CHECK(error.code == "LUA-003");
    CHECK_THAT(error.message, Catch::Contains(file) && Catch::Contains(c.field));
  }
}

TEST_CASE("LuaReload/valid contracts of every kind", "[lua][reload]") {
  TempDir dir;
  dir.Write("a.lua", Contract("name = 'signer', version = '1', kind = 'provider', sign = function() end"));
  dir.Write("b.lua", Contract("name = 'audit_all', version = '1', kind = 'audit', record = function() end,"
                              " schema = { type = 'object' }"));
  ScriptEngine engine(OptionsFor(dir));
  const auto r = engine.Reload();
  REQUIRE(r);
  CHECK(r.Value().scripts.size() == 2);
}

TEST_CASE("LuaReload/errors while running the chunk", "[lua][reload]") {
  TempDir dir;
  dir.Write("boom.lua", "local x = 1\nerror('top level failure')\n");
  const auto error = ReloadError(dir);
  CHECK(error.code == "LUA-002");
  CHECK_THAT(error.message, Catch::Contains("boom.lua:2:") && Catch::Contains("top level failure"));
}

TEST_CASE("LuaReload/duplicate names", "[lua][reload]") {
  TempDir dir;
  dir.Write("one.lua", Policy("same", "return 1"));
  dir.Write("two/two.lua", Policy("same", "return 2"));
  const auto error = ReloadError(dir);
  CHECK(error.code == "LUA-010");
  CHECK_THAT(error.message, Catch::Contains("'same'") && Catch::Contains("one.lua") && Catch::Contains("two.lua"));
}

TEST_CASE("LuaReload/self_test", "[lua][reload]") {
  TempDir dir;
  auto withSelfTest = [](const std::string& body) {
    return "local M = { name = 't', version = '1', kind = 'policy' }\n"
           "function M.decide() return { tested = tested == true } end\n"
           "function M.self_test()\n" + body + "\nend\nreturn M\n";
  };
  SECTION("passes, and runs only in the throwaway state") {
    dir.Write("t.lua", withSelfTest("tested = true return true"));
    ScriptEngine engine(OptionsFor(dir));
    REQUIRE(engine.Reload());
    CHECK_JSON(CallText(engine, "t", "decide"), R"({"tested":false})");
  }
  SECTION("raises") {
    dir.Write("t.lua", withSelfTest("error('expected 3, got 4')"));
    const auto error = ReloadError(dir);
    CHECK(error.code == "LUA-011");
    CHECK_THAT(error.message, Catch::Contains("t.lua") && Catch::Contains("expected 3, got 4"));
  }
  SECTION("returns nil and a reason") {
    dir.Write("t.lua", withSelfTest("return nil, 'fixture mismatch'"));
    const auto error = ReloadError(dir);
    CHECK(error.code == "LUA-011");
    CHECK_THAT(error.message, Catch::Contains("fixture mismatch"));
  }
  SECTION("returns something other than true") {
    for (const char* result : {"return false", "return", "return 1", "return 'true'"}) {
      INFO(result);
      dir.Write("t.lua", withSelfTest(result));
      const auto error = ReloadError(dir);
      CHECK(error.code == "LUA-011");
      CHECK_THAT(error.message, Catch::Contains("must return true"));
    }
  }
}

TEST_CASE("LuaReload/folders", "[lua][reload]") {
  SECTION("missing folder") {
    EngineOptions options;
    options.scriptDirs = {"/nonexistent/gw-lua-test"};
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-010");
  }
  SECTION("no folder configured") {
    ScriptEngine engine(EngineOptions{});
    const auto r = engine.Reload();
    REQUIRE_FALSE(r);
    CHECK(r.GetError().code == "LUA-010");
  }
  SECTION("empty folder") {
    TempDir dir;
    dir.Write("readme.md", "# nothing");
    CHECK(ReloadError(dir).code == "LUA-010");
  }
  SECTION("several folders, overlapping") {
    TempDir one;
    TempDir two;
    one.Write("x.lua", Policy("x", "return 1"));
    one.Write("nested/y.lua", Policy("y", "return 2"));
    two.Write("z.lua", Policy("z", "return 3"));
    EngineOptions options = OptionsFor(one);
    options.scriptDirs = {one.Path(), one / "nested", two.Path()};
    ScriptEngine engine(options);
    const auto r = engine.Reload();
    REQUIRE(r);
    CHECK(r.Value().scripts.size() == 3);  // nested/y.lua once
  }
}

TEST_CASE("LuaReload/check does not publish", "[lua][reload]") {
  TempDir dir;
  dir.Write("p.lua", Policy("p", "return 1"));
  ScriptEngine engine(OptionsFor(dir));
  const auto checked = engine.Check();
  REQUIRE(checked);
  CHECK(checked.Value().version == 0);
  CHECK(checked.Value().scripts.size() == 1);
  CHECK(engine.CurrentInfo().version == 0);
  CHECK_FALSE(engine.HasScript("p"));
  REQUIRE(engine.Reload());
  CHECK(engine.CurrentInfo().digest == checked.Value().digest);

  dir.Write("p.lua", "return {");
  const auto bad = engine.Check();
  REQUIRE_FALSE(bad);
  CHECK(bad.GetError().code == "LUA-001");
  CHECK(engine.CurrentInfo().version == 1);
}

TEST_CASE("LuaReload/digest covers names and contents", "[lua][reload]") {
  TempDir one;
  TempDir two;
  one.Write("a.lua", Policy("a", "return 1"));
  two.Write("a.lua", Policy("a", "return 1"));
  ScriptEngine e1(OptionsFor(one));
  ScriptEngine e2(OptionsFor(two));
  REQUIRE(e1.Reload());
  REQUIRE(e2.Reload());
  CHECK(e1.CurrentInfo().digest == e2.CurrentInfo().digest);  // relative paths: location-independent
  two.Remove("a.lua");
  two.Write("b.lua", Policy("a", "return 1"));
  REQUIRE(e2.Reload());
  CHECK(e1.CurrentInfo().digest != e2.CurrentInfo().digest);
}

TEST_CASE("LuaReload/reload under concurrent calls", "[lua][reload][concurrency]") {
  TempDir dir;
  auto generation = [](int n) {
    return Policy("gen", "return { generation = " + std::to_string(n) + ", echo = arg.i }");
  };
  dir.Write("gen.lua", generation(1));
  EngineOptions options = OptionsFor(dir);
  options.maxStatesPerSnapshot = 3;
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> regressions{0};
  std::atomic<long> calls{0};
  std::atomic<int> published{1};  // highest generation known to be published
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      int seen = 0;
      for (int i = 0; !stop.load(); ++i) {
        const int floor = published.load();
        const std::string text = "{\"i\":" + std::to_string(i) + "}";
        const auto arg = Json(text.c_str());
        auto r = engine.Call("gen", "decide", arg, milliseconds(2000));
        if (!r) {
          ++failures;
          continue;
        }
        const int generation = r.Value()["generation"].GetInt();
        if (generation < seen || generation < floor || r.Value()["echo"].GetInt() != i) ++regressions;
        seen = generation;
        ++calls;
      }
    });
  }

  int good = 1;
  int expectedVersion = 1;
  for (int round = 0; round < 30; ++round) {
    if (round % 2 == 0) {
      dir.Write("gen.lua", "return { name = 'gen', version = '1', kind = 'policy', decide = ");  // broken
      const auto r = engine.Reload();
      CHECK_FALSE(r);
      CHECK(engine.CurrentInfo().version == static_cast<uint64_t>(expectedVersion));
    } else {
      dir.Write("gen.lua", generation(++good));
      const auto r = engine.Reload();
      REQUIRE(r);
      CHECK(r.Value().version == static_cast<uint64_t>(++expectedVersion));
      published.store(good);
    }
  }
  std::this_thread::sleep_for(milliseconds(50));
  stop.store(true);
  for (auto& t : callers) t.join();
  CHECK(failures.load() == 0);
  CHECK(regressions.load() == 0);
  CHECK(calls.load() > 100);
  CHECK(engine.CurrentInfo().version == static_cast<uint64_t>(expectedVersion));
  CHECK_JSON(CallText(engine, "gen", "decide", R"({"i":7})"),
             "{\"generation\":" + std::to_string(good) + ",\"echo\":7}");
  const auto pool = engine.DebugPoolInfo();
  CHECK(pool.liveStates <= 3);
  CHECK(pool.retiredStates == 0);
  RequireBalanced(engine);
}

TEST_CASE("LuaReload/validator can refuse a snapshot", "[lua][reload]") {
  TempDir dir;
  dir.Write("needed.lua", Policy("needed", "return 1"));
  EngineOptions options = OptionsFor(dir);
  std::vector<std::string> seen;
  options.validator = [&](const SnapshotInfo& info) -> gw::Status {
    seen.clear();
    for (const auto& s : info.scripts) seen.push_back(s.name);
    for (const auto& s : info.scripts) {
      if (s.name == "needed") return gw::Status::Success();
    }
    return gw::MakeError("CFG-042", "provider script 'needed' is gone");
  };
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  CHECK(seen == std::vector<std::string>{"needed"});

  dir.Remove("needed.lua");
  dir.Write("other.lua", Policy("other", "return 2"));
  const auto refused = engine.Reload();
  REQUIRE_FALSE(refused);
  CHECK(refused.GetError().code == "CFG-042");
  CHECK(seen == std::vector<std::string>{"other"});
  CHECK(engine.CurrentInfo().version == 1);
  CHECK(CallText(engine, "needed", "decide") == "1");
  CHECK(engine.Check());  // Check() does not consult the validator
}
