// StartWatching: changes in the script folders are reloaded after they settle.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "LuaTestSupport.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

// Collects watcher outcomes; Wait() blocks until `count` have arrived or the timeout passes.
class Outcomes {
 public:
  void Add(const gw::Result<SnapshotInfo>& r) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (r) results_.push_back("ok v" + std::to_string(r.Value().version));
    else results_.push_back("error " + r.GetError().code);
    changed_.notify_all();
  }
  bool Wait(size_t count, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return results_.size() >= count; });
  }
  std::vector<std::string> All() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> results_;
};

}  // namespace

TEST_CASE("LuaWatch/reloads after changes settle", "[lua][watch]") {
  TempDir dir;
  dir.Write("p.lua", Policy("p", "return 1"));
  ScriptEngine engine(OptionsFor(dir));
  REQUIRE(engine.Reload());
  Outcomes outcomes;
  engine.StartWatching([&](const gw::Result<SnapshotInfo>& r) { outcomes.Add(r); });
  std::atomic<bool> secondCalled{false};
  engine.StartWatching([&](const gw::Result<SnapshotInfo>&) { secondCalled = true; });  // idempotent: ignored

  // A burst of writes is one reload.
  for (int i = 2; i <= 5; ++i) {
    dir.Write("p.lua", Policy("p", "return " + std::to_string(i)));
    std::this_thread::sleep_for(milliseconds(20));
  }
  REQUIRE(outcomes.Wait(1));
  std::this_thread::sleep_for(milliseconds(400));
  CHECK(outcomes.All() == std::vector<std::string>{"ok v2"});
  CHECK(CallText(engine, "p", "decide") == "5");

  // A broken script is reported, the old snapshot keeps serving.
  dir.Write("p.lua", "return {");
  REQUIRE(outcomes.Wait(2));
  CHECK(outcomes.All().back() == "error LUA-001");
  CHECK(engine.CurrentInfo().version == 2);
  CHECK(CallText(engine, "p", "decide") == "5");

  // A new subfolder, then a script inside it.
  dir.Write("p.lua", Policy("p", "return 6"));
  REQUIRE(outcomes.Wait(3));
  std::filesystem::create_directories(dir / "new/inner");
  std::this_thread::sleep_for(milliseconds(300));
  const size_t before = outcomes.All().size();
  dir.Write("new/inner/q.lua", Policy("q", "return 'q'"));
  REQUIRE(outcomes.Wait(before + 1));
  CHECK(engine.HasScript("q"));
  CHECK(CallText(engine, "q", "decide") == "\"q\"");

  // Touching without a content change publishes nothing.
  const uint64_t version = engine.CurrentInfo().version;
  const size_t count = outcomes.All().size();
  std::filesystem::last_write_time(dir / "p.lua", std::filesystem::file_time_type::clock::now());
  dir.Write("notes.swp", "scratch");
  std::this_thread::sleep_for(milliseconds(600));
  CHECK(outcomes.All().size() == count);
  CHECK(engine.CurrentInfo().version == version);

  engine.StopWatching();
  engine.StopWatching();  // idempotent
  dir.Write("p.lua", Policy("p", "return 7"));
  std::this_thread::sleep_for(milliseconds(500));
  CHECK(outcomes.All().size() == count);
  CHECK(CallText(engine, "p", "decide") == "6");
  CHECK_FALSE(secondCalled.load());
}

TEST_CASE("LuaWatch/a folder that appears later is watched", "[lua][watch]") {
  TempDir base;
  const std::string later = base / "later";
  EngineOptions options;
  options.scriptDirs = {later};
  ScriptEngine engine(options);
  Outcomes outcomes;
  engine.StartWatching([&](const gw::Result<SnapshotInfo>& r) { outcomes.Add(r); });
  std::this_thread::sleep_for(milliseconds(200));
  base.Write("later/x.lua", Policy("x", "return 'x'"));
  REQUIRE(outcomes.Wait(1, milliseconds(5000)));
  CHECK(outcomes.All().front() == "ok v1");
  CHECK(CallText(engine, "x", "decide") == "\"x\"");
}
