// The per-thread fast paths of the Lua call (docs/PERFORMANCE.md, "Policies"): StatePool's
// affinity hint, ScriptEngine's per-thread snapshot cache and the share of the pool a thread keeps
// for its next call. None of them may weaken what the slow paths guarantee: a state is used by one
// thread at a time, a reload never disturbs a call in flight and never lets an idle thread keep an
// old snapshot alive, a server over its share is refused.
#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "LuaTestSupport.h"
#include "lua/EngineServices.h"
#include "lua/ScriptSource.h"
#include "lua/ScriptState.h"
#include "lua/StatePool.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

// A thread that makes calls when asked and otherwise stays alive and idle (its caches intact).
class IdleThread {
 public:
  explicit IdleThread(std::function<std::string()> call) : call_(std::move(call)), thread_([this] { Run(); }) {}
  ~IdleThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  std::string Call() {
    std::unique_lock<std::mutex> lock(mutex_);
    asked_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !asked_; });
    return answer_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || asked_; });
      if (stop_) return;
      lock.unlock();
      std::string answer = call_();
      lock.lock();
      answer_ = std::move(answer);
      asked_ = false;
      changed_.notify_all();
    }
  }
  std::function<std::string()> call_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool asked_ = false;
  bool stop_ = false;
  std::string answer_;
  std::thread thread_;  // last: starts once the rest is built
};

std::string CallFor(ScriptEngine& engine, std::string_view script, std::string_view server, const char* arg,
                    milliseconds budget) {
  const rapidjson::Document a = Json(arg);
  auto r = engine.Call(script, "decide", a, budget, server);
  if (!r) return "ERR " + r.GetError().code;
  return ToText(r.Value());
}

size_t InUse(const ScriptEngine& engine, const std::string& server) {
  for (const auto& [name, used] : engine.DebugPoolInfo().inUseByServer) {
    if (name == server) return used;
  }
  return 999;
}

}  // namespace

TEST_CASE("StatePool: a state is never leased twice under a stress of 8 threads", "[lua][pool][concurrency]") {
  EngineOptions options;
  EngineServices services(options);
  const std::vector<ScriptSource> sources = {
      {"p.lua", "p.lua", Policy("p", "return { allow = true }"), false}};
  constexpr size_t kStates = 3;
  std::atomic<int> created{0};
  StatePool pool(kStates, [&]() -> gw::Result<std::unique_ptr<ScriptState>> {
    std::vector<ScriptMeta> scripts;
    ++created;
    return ScriptState::Load(sources, scripts, ScriptState::Mode::Check, services);
  });

  std::array<std::atomic<const ScriptState*>, kStates + 1> known{};
  std::array<std::atomic<int>, kStates + 1> users{};
  std::atomic<int> overlaps{0};
  std::atomic<int> failures{0};
  std::atomic<int> unknown{0};
  const auto indexOf = [&](const ScriptState* state) -> int {
    for (size_t i = 0; i < known.size(); ++i) {
      const ScriptState* k = known[i].load();
      if (k == nullptr && known[i].compare_exchange_strong(k, state)) return static_cast<int>(i);
      if (k == state) return static_cast<int>(i);
    }
    return -1;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      StatePool::Slot* hint = nullptr;
      for (int i = 0; i < 4000; ++i) {
        // Mostly the fast path (hint), sometimes the slow one, sometimes two leases at once.
        StatePool::Slot* none = nullptr;
        auto lease = pool.Acquire(std::chrono::steady_clock::now() + std::chrono::seconds(10),
                                  (i + t) % 7 == 0 ? &none : &hint);
        if (!lease) {
          ++failures;
          continue;
        }
        const int index = indexOf(&*lease.Value());
        if (index < 0) {
          ++unknown;
          continue;
        }
        if (users[static_cast<size_t>(index)].fetch_add(1) != 0) ++overlaps;
        for (volatile int spin = 0; spin < 50; spin = spin + 1) {
        }
        if (i % 13 == 0) std::this_thread::yield();  // let another thread try this state meanwhile
        users[static_cast<size_t>(index)].fetch_sub(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(overlaps.load() == 0);
  CHECK(failures.load() == 0);
  CHECK(unknown.load() == 0);  // never more states than the cap
  CHECK(created.load() <= static_cast<int>(kStates));
  const auto stats = pool.GetStats();
  CHECK(stats.live <= kStates);
  CHECK(stats.idle == stats.live);
}

TEST_CASE("StatePool: a thread gets back the state it used last through its hint, another one when it is leased",
          "[lua][pool]") {
  EngineOptions options;
  EngineServices services(options);
  const std::vector<ScriptSource> sources = {
      {"p.lua", "p.lua", Policy("p", "return { allow = true }"), false}};
  StatePool pool(2, [&]() -> gw::Result<std::unique_ptr<ScriptState>> {
    std::vector<ScriptMeta> scripts;
    return ScriptState::Load(sources, scripts, ScriptState::Mode::Check, services);
  });
  const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(5); };
  StatePool::Slot* hint = nullptr;
  const ScriptState* first = nullptr;
  {
    auto lease = pool.Acquire(deadline(), &hint);
    REQUIRE(lease);
    first = &*lease.Value();
    REQUIRE(hint != nullptr);
  }
  for (int i = 0; i < 3; ++i) {
    auto again = pool.Acquire(deadline(), &hint);
    REQUIRE(again);
    CHECK(&*again.Value() == first);
  }
  auto held = pool.Acquire(deadline(), &hint);
  REQUIRE(held);
  StatePool::Slot* otherHint = hint;  // busy: the slow path must hand out the other state
  auto second = pool.Acquire(deadline(), &otherHint);
  REQUIRE(second);
  CHECK(&*second.Value() != &*held.Value());
  CHECK(otherHint != hint);
  // Both leased, cap 2: a third caller waits until its deadline and is refused.
  StatePool::Slot* none = nullptr;
  auto third = pool.Acquire(std::chrono::steady_clock::now() + milliseconds(50), &none);
  REQUIRE_FALSE(third);
  CHECK(third.GetError().code == "LUA-004");
}

TEST_CASE("StatePool: a waiter is woken by a fast-path release", "[lua][pool][concurrency]") {
  EngineOptions options;
  EngineServices services(options);
  const std::vector<ScriptSource> sources = {
      {"p.lua", "p.lua", Policy("p", "return { allow = true }"), false}};
  StatePool pool(1, [&]() -> gw::Result<std::unique_ptr<ScriptState>> {
    std::vector<ScriptMeta> scripts;
    return ScriptState::Load(sources, scripts, ScriptState::Mode::Check, services);
  });
  StatePool::Slot* hint = nullptr;
  auto held = std::make_unique<gw::Result<StatePool::Lease>>(
      pool.Acquire(std::chrono::steady_clock::now() + std::chrono::seconds(5), &hint));
  REQUIRE(*held);
  auto waiter = std::async(std::launch::async, [&] {
    const auto start = std::chrono::steady_clock::now();
    auto lease = pool.Acquire(start + std::chrono::seconds(10));
    return lease ? std::chrono::steady_clock::now() - start : std::chrono::steady_clock::duration::max();
  });
  // The waiter may or may not be asleep yet: either way the release must reach it.
  std::this_thread::sleep_for(milliseconds(20));
  held.reset();
  REQUIRE(waiter.wait_for(std::chrono::seconds(9)) == std::future_status::ready);
  CHECK(waiter.get() < std::chrono::seconds(5));
}

TEST_CASE("LuaReload: a reload while threads keep the old snapshot cached", "[lua][reload][concurrency]") {
  TempDir dir;
  auto generation = [](int n) {
    return Policy("gen", "if arg.hang then gw.http.request{ url = \"https://idp.example/hang\" } end\n"
                         "return { generation = " + std::to_string(n) + " }");
  };
  dir.Write("gen.lua", generation(1));
  EngineOptions options = OptionsFor(dir);
  auto http = std::make_shared<HangingHttp>();
  options.http = http;
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());

  IdleThread idle([&] { return CallFor(engine, "gen", "", "{}", milliseconds(2000)); });
  CHECK_JSON(idle.Call(), R"({"generation":1})");
  CHECK_JSON(CallText(engine, "gen", "decide"), R"({"generation":1})");

  SECTION("no call in flight: the old snapshot is freed by the reload itself") {
    dir.Write("gen.lua", generation(2));
    REQUIRE(engine.Reload());
    CHECK(engine.DebugPoolInfo().retiredSnapshots == 0);  // the idle thread's cache does not keep it
    CHECK_JSON(idle.Call(), R"({"generation":2})");
    CHECK_JSON(CallText(engine, "gen", "decide"), R"({"generation":2})");
  }

  SECTION("a call in flight keeps its snapshot until it ends, then it is freed") {
    auto inFlight = std::async(std::launch::async, [&] {
      return CallFor(engine, "gen", "", R"({"hang":true})", milliseconds(15000));
    });
    REQUIRE(http->WaitInside(1));
    dir.Write("gen.lua", generation(2));
    REQUIRE(engine.Reload());
    CHECK(engine.DebugPoolInfo().retiredSnapshots == 1);
    CHECK_JSON(idle.Call(), R"({"generation":2})");  // cached generation 1: sees the reload
    CHECK_JSON(CallText(engine, "gen", "decide"), R"({"generation":2})");
    CHECK(engine.DebugPoolInfo().retiredSnapshots == 1);
    http->Open();
    CHECK_JSON(inFlight.get(), R"({"generation":1})");  // ran to its end on its own snapshot
    CHECK(engine.DebugPoolInfo().retiredSnapshots == 0);
    dir.Write("gen.lua", generation(3));
    REQUIRE(engine.Reload());
    CHECK(engine.DebugPoolInfo().retiredSnapshots == 0);
    CHECK_JSON(idle.Call(), R"({"generation":3})");
  }
  http->Open();
  RequireBalanced(engine);
}

TEST_CASE("Isolation: a share kept by an idle thread is reclaimed and a server over its share is still refused",
          "[lua][isolation]") {
  TempDir dir;
  dir.Write("slow.lua", Policy("slow", R"(
    local r, err = gw.http.request{ url = "https://idp.example/hang" }
    return { allow = r ~= nil })"));
  dir.Write("quick.lua", Policy("quick", "return { allow = true }"));
  EngineOptions options = OptionsFor(dir);
  options.maxStatesPerSnapshot = 3;  // 2 servers + the general bucket, 1 reserved each: 1 per server at most
  options.servers = {"a", "b"};
  options.reservedStatesPerServer = 1;
  auto http = std::make_shared<HangingHttp>();
  options.http = http;
  ScriptEngine engine(options);
  REQUIRE(engine.Reload());
  REQUIRE(engine.DebugPoolInfo().maxPerServer == 1);

  IdleThread idle([&] { return CallFor(engine, "quick", "a", "{}", milliseconds(200)); });
  CHECK_JSON(idle.Call(), R"({"allow":true})");  // keeps a share of "a" for its next call
  CHECK(InUse(engine, "a") == 0);                // kept, not in use
  // Another thread's call for "a" gets the one share "a" may hold: reclaimed from the idle thread.
  CHECK_JSON(CallFor(engine, "quick", "a", "{}", milliseconds(2000)), R"({"allow":true})");

  auto hog = std::async(std::launch::async, [&] { return CallFor(engine, "slow", "a", "{}", milliseconds(15000)); });
  REQUIRE(http->WaitInside(1));
  CHECK(InUse(engine, "a") == 1);
  // "a" is at its share: refused, on the thread that kept a share before and on this one.
  CHECK(idle.Call() == "ERR LUA-012");
  CHECK(CallFor(engine, "quick", "a", "{}", milliseconds(100)) == "ERR LUA-012");
  // The other server and the general bucket are untouched.
  CHECK_JSON(CallFor(engine, "quick", "b", "{}", milliseconds(2000)), R"({"allow":true})");
  CHECK_JSON(CallFor(engine, "quick", "", "{}", milliseconds(2000)), R"({"allow":true})");
  http->Open();
  CHECK_JSON(hog.get(), R"({"allow":true})");
  CHECK_JSON(idle.Call(), R"({"allow":true})");
  for (const auto& [name, used] : engine.DebugPoolInfo().inUseByServer) {
    INFO("server " << name);
    CHECK(used == 0);
  }
}
