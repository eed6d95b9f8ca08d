// Isolation between servers in the Lua state pool (StateShares, docs/lua-api.md "Isolation between
// servers"): one server's slow calls never take the states kept for the others.
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "LuaTestSupport.h"
#include "lua/StatePool.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

// Scripts: `slow` waits for the hanging IdP, `quick` answers at once.
struct Servers {
  TempDir dir;
  std::shared_ptr<HangingHttp> http = std::make_shared<HangingHttp>();
  std::unique_ptr<ScriptEngine> engine;

  Servers(size_t maxStates, std::vector<std::string> servers, size_t reserved = 1) {
    dir.Write("slow.lua", Policy("slow", R"(
      local r, err = gw.http.request{ url = "https://idp.example/hang" }
      return { allow = r ~= nil })"));
    dir.Write("quick.lua", Policy("quick", "return { allow = true, server = arg.server }"));
    EngineOptions options = OptionsFor(dir);
    options.maxStatesPerSnapshot = maxStates;
    options.servers = std::move(servers);
    options.reservedStatesPerServer = reserved;
    options.http = http;
    engine = std::make_unique<ScriptEngine>(options);
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }
  ~Servers() { http->Open(); }  // never leave a caller blocked

  gw::Status Call(std::string_view script, std::string_view server, milliseconds budget) {
    const auto arg = Json(R"({"server":"x"})");
    auto r = engine->Call(script, "decide", arg, budget, server);
    if (!r) return r.GetError();
    return gw::Status::Success();
  }
  // Starts `n` slow calls for `server` on their own threads.
  std::vector<std::future<gw::Status>> Hog(std::string_view server, int n, milliseconds budget) {
    std::vector<std::future<gw::Status>> calls;
    for (int i = 0; i < n; ++i) {
      calls.push_back(std::async(std::launch::async, [this, s = std::string(server), budget] {
        return Call("slow", s, budget);
      }));
    }
    return calls;
  }
  size_t InUse(const std::string& server) const {
    for (const auto& [name, used] : engine->DebugPoolInfo().inUseByServer) {
      if (name == server) return used;
    }
    return 999;
  }
};

}  // namespace

TEST_CASE("Hardening: a slow script hogging one server's Lua calls leaves other servers their states",
          "[lua][isolation]") {
  // 6 states, 3 servers + the calls made for no server, 1 reserved each: one server holds at most 3.
  Servers s(6, {"slow-server", "fast-server", "other-server"});
  const auto info = s.engine->DebugPoolInfo();
  CHECK(info.capacity == 6);
  CHECK(info.reservedPerServer == 1);
  CHECK(info.maxPerServer == 3);

  // Eight slow calls for one server: three run (they hang on the IdP), five wait for its share.
  auto hogs = s.Hog("slow-server", 8, milliseconds(8000));
  REQUIRE(s.http->WaitInside(3));
  std::this_thread::sleep_for(milliseconds(100));  // give a fourth call the chance it must not get
  CHECK(s.http->Inside() == 3);
  CHECK(s.InUse("slow-server") == 3);

  // The other servers and the gateway's own calls are served at once, several times over; a budget
  // far shorter than the hog proves they never waited for its states.
  for (int round = 0; round < 20; ++round) {
    for (const char* server : {"fast-server", "other-server", ""}) {
      const gw::Status called = s.Call("quick", server, milliseconds(500));
      INFO("server '" << server << "' round " << round);
      REQUIRE(called.Ok());
    }
  }
  // A call beyond the hog's share fails with a clear code when its own budget ends.
  const gw::Status over = s.Call("quick", "slow-server", milliseconds(150));
  REQUIRE_FALSE(over.Ok());
  CHECK(over.GetError().code == "LUA-012");
  CHECK(over.GetError().httpStatus == 503);
  CHECK_THAT(over.GetError().message, Catch::Contains("slow-server") && Catch::Contains("3 of 6"));

  // When the IdP answers, the waiting calls of the slow server run in its share, all succeed.
  s.http->Open();
  for (auto& hog : hogs) CHECK(hog.get().Ok());
  CHECK(s.InUse("slow-server") == 0);
  RequireBalanced(*s.engine);
}

TEST_CASE("Hardening: two servers hogging the Lua pool at once still leave a third its state", "[lua][isolation]") {
  Servers s(6, {"a", "b", "c"});
  auto a = s.Hog("a", 6, milliseconds(8000));
  REQUIRE(s.http->WaitInside(3));
  auto b = s.Hog("b", 6, milliseconds(8000));
  // a holds its maximum (3); b gets only what is not kept for c and the general bucket: 1.
  REQUIRE(s.http->WaitInside(4));
  std::this_thread::sleep_for(milliseconds(100));
  CHECK(s.http->Inside() == 4);
  CHECK(s.InUse("a") == 3);
  CHECK(s.InUse("b") == 1);
  for (int round = 0; round < 20; ++round) {
    REQUIRE(s.Call("quick", "c", milliseconds(500)).Ok());
    REQUIRE(s.Call("quick", "", milliseconds(500)).Ok());
  }
  // c may use every state no one else needs: while a and b hang, its one reserved state.
  auto cSlow = s.Hog("c", 1, milliseconds(8000));
  REQUIRE(s.http->WaitInside(5));
  const gw::Status cOver = s.Call("quick", "c", milliseconds(150));
  REQUIRE_FALSE(cOver.Ok());
  CHECK(cOver.GetError().code == "LUA-012");
  REQUIRE(s.Call("quick", "", milliseconds(500)).Ok());  // the general bucket still has its own
  s.http->Open();
  for (auto& f : a) CHECK(f.get().Ok());
  for (auto& f : b) CHECK(f.get().Ok());
  for (auto& f : cSlow) CHECK(f.get().Ok());
}

TEST_CASE("Isolation: a lone busy server may use every state not kept for the others", "[lua][isolation]") {
  Servers s(6, {"busy", "idle"});
  // 6 states, 2 kept (idle + general): busy runs 4 slow calls at once.
  auto busy = s.Hog("busy", 4, milliseconds(8000));
  REQUIRE(s.http->WaitInside(4));
  CHECK(s.InUse("busy") == 4);
  const gw::Status fifth = s.Call("quick", "busy", milliseconds(150));
  CHECK(fifth.GetError().code == "LUA-012");
  REQUIRE(s.Call("quick", "idle", milliseconds(500)).Ok());
  s.http->Open();
  for (auto& f : busy) CHECK(f.get().Ok());
  // No servers configured (the CLI, older callers): one bucket, the whole pool.
  Servers single(3, {});
  auto all = single.Hog("", 3, milliseconds(8000));
  REQUIRE(single.http->WaitInside(3));
  CHECK(single.engine->DebugPoolInfo().maxPerServer == 3);
  single.http->Open();
  for (auto& f : all) CHECK(f.get().Ok());
}

TEST_CASE("Isolation: the pool is raised so that every server keeps its reserved states", "[lua][isolation]") {
  ScopedSink log;
  Servers s(2, {"s1", "s2", "s3", "s4"}, 2);
  const auto info = s.engine->DebugPoolInfo();
  CHECK(info.capacity == 10);  // 5 buckets x 2
  CHECK(info.maxPerServer == 2);
  CHECK(log->Count("Lua pool raised from 2 to 10 states") == 1);
  // A name the engine does not know shares the bucket of the calls made for no server.
  auto unknown = s.Hog("not-configured", 2, milliseconds(8000));
  REQUIRE(s.http->WaitInside(2));
  CHECK(s.InUse("") == 2);
  CHECK(s.Call("quick", "", milliseconds(150)).GetError().code == "LUA-012");
  REQUIRE(s.Call("quick", "s1", milliseconds(500)).Ok());
  s.http->Open();
  for (auto& f : unknown) CHECK(f.get().Ok());
}

TEST_CASE("Isolation: StateShares never exceeds the capacity nor takes another bucket's reservation",
          "[lua][isolation]") {
  // 8 states, 4 buckets, 1 reserved each: sum(used) <= 8, one bucket <= 5, and a bucket under its
  // reservation always gets a state without waiting, whatever the others do at the same time.
  StateShares shares(8, 1, {"w", "x", "y"});
  REQUIRE(shares.Capacity() == 8);
  REQUIRE(shares.MaxPerBucket() == 5);
  std::atomic<int> total{0};
  std::atomic<int> perBucket[4] = {};
  std::atomic<int> violations{0};
  std::atomic<int> reservedRefused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      const size_t bucket = static_cast<size_t>(t % 4);
      for (int i = 0; i < 20000; ++i) {
        const auto deadline = std::chrono::steady_clock::now() + milliseconds(rng() % 2);
        if (!shares.Take(bucket, deadline)) continue;  // over the bucket's share: allowed to fail
        const int now = ++total;
        const int mine = ++perBucket[bucket];
        if (now > 8 || mine > 5) ++violations;
        if (rng() % 4 == 0) std::this_thread::yield();
        --perBucket[bucket];
        --total;
        shares.Give(bucket);
      }
    });
  }
  // One more thread alone in its own bucket: a single thread is never above its reservation, so it
  // must never wait, let alone be refused.
  StateShares lone(8, 1, {"busy", "lone"});
  std::thread loneThread([&] {
    for (int i = 0; i < 20000; ++i) {
      if (!lone.Take(lone.BucketOf("lone"), std::chrono::steady_clock::now())) ++reservedRefused;
      else lone.Give(lone.BucketOf("lone"));
    }
  });
  std::vector<std::thread> busy;
  std::atomic<bool> stop{false};
  for (int t = 0; t < 4; ++t) {
    busy.emplace_back([&] {
      while (!stop.load()) {
        if (lone.Take(lone.BucketOf("busy"), std::chrono::steady_clock::now() + milliseconds(1))) {
          std::this_thread::yield();
          lone.Give(lone.BucketOf("busy"));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  loneThread.join();
  stop = true;
  for (auto& th : busy) th.join();
  CHECK(violations.load() == 0);
  CHECK(reservedRefused.load() == 0);
  for (size_t b = 0; b < shares.Buckets(); ++b) CHECK(shares.InUse(b) == 0);
}
