// Isolation between keys in the fetch pool (ManagerCore): servers whose IdP hangs, or whose
// fetches sit in retry back-off, never make another server's fetch wait for a thread.
#include <catch2/catch.hpp>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "FakeTokenSource.h"
#include "gw/token/ManualClock.h"
#include "gw/token/ResilientFetch.h"
#include "gw/token/TokenManager.h"

using namespace gw;
using namespace gw::token;
using gw::token::testing::FakeTokenSource;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr milliseconds kRealTimeout{10000};

struct Pool {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::unique_ptr<TokenManager> manager;

  explicit Pool(size_t maxExtraFetchThreads = std::numeric_limits<size_t>::max()) {
    TokenManagerOptions o;
    o.clock = clock;
    o.metrics = metrics;
    o.fetchThreads = 2;
    o.maxExtraFetchThreads = maxExtraFetchThreads;
    o.refreshJitterFraction = 0;
    o.backoff.jitterFraction = 0;
    o.seed = 1;
    manager = std::make_unique<TokenManager>(o);
  }
  TokenHandle Add(const std::string& server, std::shared_ptr<ITokenSource> source) {
    KeyOptions key;
    key.server = server;
    key.fetchTimeout = std::chrono::hours(24);  // the clock moves 10 minutes below: no fetch times out
    return manager->Register("key-" + server, std::move(source), key);
  }
  // Get() on its own thread; the manual clock never moves meanwhile, so the caller returns only if
  // the fetch really ran (a queued fetch would keep it waiting until the real-time cap).
  Result<std::shared_ptr<const TokenRecord>> GetPromptly(const TokenHandle& handle, milliseconds minRemaining) {
    auto caller = std::async(std::launch::async, [&] { return handle.Get(minRemaining, seconds(30)); });
    if (caller.wait_for(kRealTimeout) != std::future_status::ready) {
      FAIL("the fetch did not run: it waits for a fetch thread");
    }
    return caller.get();
  }
};

}  // namespace

TEST_CASE("Hardening: two servers whose IdP hangs do not delay a third server's token fetch",
          "[manager][isolation]") {
  Pool p;
  // Server 1: its IdP accepts and never answers. Server 2: its IdP fails and the fetch sits in a
  // retry delay (ResilientFetch). Both fetch threads are theirs. Servers 3 and 4 hang too, on
  // extra threads. Only then does the healthy server ask for a token.
  auto hanging = std::make_shared<FakeTokenSource>(p.clock);
  hanging->CloseGate();
  auto failing = std::make_shared<FakeTokenSource>(p.clock);
  failing->SetFailure(MakeError("NET-002", "IdP timed out"));
  config::ResilienceConfig rc;
  rc.circuitBreakerEnabled = false;
  rc.retryMaxAttempts = 5;
  rc.retryStrategy = config::RetryStrategy::Fixed;
  rc.retryInitialDelaySeconds = 3600;  // the manual clock never gets there: the thread stays in the delay
  rc.retryMaxDelaySeconds = 3600;
  rc.acquisitionTimeoutSeconds = 36000;
  rc.retryJitter = 0;
  auto retrying = std::make_shared<ResilientFetch>(failing, rc, p.clock, "retrying", p.metrics, 3);
  auto hanging3 = std::make_shared<FakeTokenSource>(p.clock);
  hanging3->CloseGate();
  auto hanging4 = std::make_shared<FakeTokenSource>(p.clock);
  hanging4->CloseGate();
  auto healthy = std::make_shared<FakeTokenSource>(p.clock);

  TokenHandle h1 = p.Add("hanging", hanging);
  TokenHandle h2 = p.Add("retrying", retrying);
  TokenHandle h3 = p.Add("hanging3", hanging3);
  TokenHandle h4 = p.Add("hanging4", hanging4);
  TokenHandle ok = p.Add("healthy", healthy);
  h1.Prefetch();
  h2.Prefetch();
  REQUIRE(hanging->WaitForCalls(1));
  REQUIRE(failing->WaitForCalls(1));
  h3.Prefetch();
  h4.Prefetch();
  REQUIRE(hanging3->WaitForCalls(1));
  REQUIRE(hanging4->WaitForCalls(1));

  SECTION("a first fetch, a just-in-time refresh and a test-route refetch all run at once") {
    auto first = p.GetPromptly(ok, milliseconds(0));
    REQUIRE(first.Ok());
    CHECK(first.Value()->accessToken == "access-token-1");

    // Just in time: the caller needs the token for longer than it has left.
    p.clock->Advance(std::chrono::minutes(10));
    auto refreshed = p.GetPromptly(ok, std::chrono::minutes(55));
    REQUIRE(refreshed.Ok());
    CHECK(refreshed.Value()->accessToken == "access-token-2");

    // The test route with fresh=true: FetchNow.
    auto now = std::async(std::launch::async, [&] { return ok.FetchNow(seconds(30)); });
    if (now.wait_for(kRealTimeout) != std::future_status::ready) FAIL("the fresh fetch waited for a fetch thread");
    auto fresh = now.get();
    REQUIRE(fresh.Ok());
    CHECK(fresh.Value()->accessToken == "access-token-3");
    // At least the third and fourth hanging servers needed extra threads; the healthy fetches
    // got one each or reused one that was still looking at the queue.
    CHECK(p.manager->ExtraFetchThreadsStarted() >= 2);
  }

  SECTION("a hanging server never holds more than one fetch thread") {
    // Two at least (servers 3 and 4), more if a fetch came before a base thread was waiting.
    const uint64_t extras = p.manager->ExtraFetchThreadsStarted();
    CHECK(extras >= 2);
    for (int i = 0; i < 50; ++i) {
      h1.Invalidate();
      h1.Prefetch();
      CHECK(h1.Get(milliseconds(0), milliseconds(0)).GetError().code == "TOK-007");
      h2.Invalidate();
      h2.Prefetch();
    }
    REQUIRE(p.manager->WaitIdle(milliseconds(50)) == false);  // the hanging fetches are still running
    CHECK(hanging->Calls() == 1);
    CHECK(failing->Calls() == 1);  // one attempt, then the retry delay on the same fetch
    CHECK(p.manager->ExtraFetchThreadsStarted() == extras);  // none for the repeats
    REQUIRE(p.GetPromptly(ok, milliseconds(0)).Ok());
  }

  // Stop() cancels the hanging fetches (on the base and on the extra threads) and joins them.
  p.manager->Stop();
  CHECK(hanging->Calls() == 1);
}

TEST_CASE("Isolation: with a fixed fetch pool the third server's fetch queues behind the hanging ones",
          "[manager][isolation]") {
  // The behaviour the extra threads remove (maxExtraFetchThreads 0): proof that the test above
  // would catch its return.
  Pool p(0);
  auto hanging = std::make_shared<FakeTokenSource>(p.clock);
  hanging->CloseGate();
  auto hanging2 = std::make_shared<FakeTokenSource>(p.clock);
  hanging2->CloseGate();
  auto healthy = std::make_shared<FakeTokenSource>(p.clock);
  TokenHandle h1 = p.Add("hanging", hanging);
  TokenHandle h2 = p.Add("hanging2", hanging2);
  TokenHandle ok = p.Add("healthy", healthy);
  h1.Prefetch();
  h2.Prefetch();
  REQUIRE(hanging->WaitForCalls(1));
  REQUIRE(hanging2->WaitForCalls(1));
  auto r = ok.Get(milliseconds(0), milliseconds(0));
  CHECK(r.GetError().code == "TOK-007");
  CHECK_FALSE(healthy->WaitForCalls(1, milliseconds(200)));  // queued: no thread for it
  hanging->OpenGate();  // a thread comes free: the queued fetch runs
  REQUIRE(healthy->WaitForCalls(1));
  CHECK(p.manager->ExtraFetchThreadsStarted() == 0);
  p.manager->Stop();
}
