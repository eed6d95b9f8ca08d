#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <limits>
#include <set>
#include <thread>

#include "FakeTokenSource.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/token/ManualClock.h"
#include "gw/token/ResilientFetch.h"
#include "gw/token/TokenErrors.h"
#include "gw/token/TokenManager.h"

using namespace gw;
using namespace gw::token;
using gw::token::testing::FakeTokenSource;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr milliseconds kRealTimeout{10000};

// One manager on a manual clock, one key ("pacs") fed by a FakeTokenSource. Jitter is off so
// every instant below is exact; the jitter itself is covered by RefreshScheduleTest.
struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::shared_ptr<FakeTokenSource> source;
  std::unique_ptr<TokenManager> manager;
  TokenHandle handle;
  SteadyTime t0;

  explicit Fixture(seconds lifetime = seconds(3600), KeyOptions key = {}, size_t fetchThreads = 2,
                   size_t maxExtraFetchThreads = std::numeric_limits<size_t>::max()) {
    TokenManagerOptions o;
    o.clock = clock;
    o.metrics = metrics;
    o.fetchThreads = fetchThreads;
    o.maxExtraFetchThreads = maxExtraFetchThreads;
    o.refreshJitterFraction = 0;
    o.backoff.jitterFraction = 0;
    o.seed = 1;
    manager = std::make_unique<TokenManager>(o);
    source = std::make_shared<FakeTokenSource>(clock, lifetime);
    if (key.server.empty()) key.server = "pacs";
    handle = manager->Register("key-pacs", source, key);
    t0 = clock->SteadyNow();
  }

  void Step(std::chrono::nanoseconds d) {
    clock->Advance(d);
    REQUIRE(manager->WaitIdle(kRealTimeout));
  }
  void StepTo(seconds sinceStart) { Step(t0 + sinceStart - clock->SteadyNow()); }

  Result<std::shared_ptr<const TokenRecord>> Get(milliseconds minRemaining = milliseconds(0),
                                                 milliseconds maxWait = milliseconds(30000)) {
    return handle.Get(minRemaining, maxWait);
  }
  std::string Token(milliseconds minRemaining = milliseconds(0)) {
    auto r = Get(minRemaining);
    if (!r.Ok()) FAIL("unexpected error " << r.GetError().ToString());
    return r.Value()->accessToken;
  }
  uint64_t Count(const char* name, MetricLabels labels = {}) {
    labels.emplace_back("server", "pacs");
    return metrics->GetCounter(name, "", labels).Value();
  }
};

// Collects log lines to check that no token ever reaches a log.
class RecordingSink : public ILogSink {
 public:
  void Write(LogLevel, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(message);
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

}  // namespace

TEST_CASE("TokenManager/first Get fetches once, then serves from the cache", "[manager]") {
  Fixture f;
  CHECK(f.handle.State().status == TokenStatus::None);
  CHECK(f.Token() == "access-token-1");
  for (int i = 0; i < 100; ++i) CHECK(f.Token() == "access-token-1");
  CHECK(f.source->Calls() == 1);
  CHECK(f.source->LastDeadline() == f.t0 + seconds(30));  // KeyOptions::fetchTimeout
  CHECK(f.Count("dicomweb_oauth_cache_misses_total") == 1);
  CHECK(f.Count("dicomweb_oauth_cache_hits_total") == 100);

  TokenState s = f.handle.State();
  CHECK(s.status == TokenStatus::Valid);
  CHECK(s.fetchSuccesses == 1);
  CHECK(s.callerWaits == 1);
  CHECK(s.provider == "fake");
  CHECK(s.servers == std::vector<std::string>{"pacs"});
  CHECK(s.metadata.at("tenant") == "t1");
  CHECK(*s.expiresAt == f.clock->SystemNow() + seconds(3600));
  CHECK(*s.refreshAt == f.clock->SystemNow() + seconds(3300));
}

TEST_CASE("TokenManager/single flight: 500 concurrent callers on a miss cause exactly one Fetch", "[manager]") {
  Fixture f;
  f.source->CloseGate();
  const SteadyTime callerDeadline = f.clock->SteadyNow() + seconds(30);
  constexpr int kCallers = 500;
  std::vector<Result<std::shared_ptr<const TokenRecord>>> results(kCallers, MakeError("UNSET", ""));
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] { results[i] = f.handle.Get(milliseconds(0), seconds(30)); });
  }
  // All 500 are now blocked waiting for the one fetch, which is itself held at the gate.
  REQUIRE(f.clock->WaitForWaiters(kCallers, callerDeadline, milliseconds(30000)));
  REQUIRE(f.source->WaitForCalls(1));

  SECTION("success: all get the same token") {
    f.source->OpenGate();
    for (auto& t : threads) t.join();
    std::set<const TokenRecord*> records;
    for (auto& r : results) {
      REQUIRE(r.Ok());
      records.insert(r.Value().get());
    }
    CHECK(records.size() == 1);
    CHECK((*records.begin())->accessToken == "access-token-1");
  }
  SECTION("failure: all get the same error") {
    f.source->SetFailure(MakeError("AUTH-001", "invalid_client"));
    f.source->OpenGate();
    for (auto& t : threads) t.join();
    for (auto& r : results) {
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "TOK-002");
      CHECK(r.GetError().httpStatus == 503);
      CHECK(r.GetError().message.find("AUTH-001: invalid_client") != std::string::npos);
    }
  }
  CHECK(f.source->Calls() == 1);
  CHECK(f.Count("dicomweb_oauth_cache_misses_total") == kCallers);
  CHECK(f.handle.State().callerWaits == kCallers);
}

TEST_CASE("TokenManager/regression: 5-minute token with the 300 s buffer is not fetched on every call "
          "(Python plugin bug)",
          "[manager][regression]") {
  // The Python plugin treated a token as valid only while now + buffer < expiry: with a 5-minute
  // token and the default 300 s buffer that is never true, so it fetched on every request.
  KeyOptions key;
  key.refreshBuffer = seconds(300);
  Fixture f(seconds(300), key);
  CHECK(f.Token() == "access-token-1");
  for (int t = 1; t < 150; ++t) {
    f.StepTo(seconds(t));
    for (int i = 0; i < 10; ++i) REQUIRE(f.Token() == "access-token-1");
  }
  CHECK(f.source->Calls() == 1);  // 1490 calls, one fetch
  f.StepTo(seconds(150));          // refreshed ahead, at half its life
  CHECK(f.source->Calls() == 2);
  CHECK(f.Token() == "access-token-2");
  CHECK(f.handle.State().callerWaits == 1);
}

TEST_CASE("TokenManager/refresh ahead replaces the token before expiry without blocking callers", "[manager]") {
  Fixture f;  // 1 h tokens, refreshed at 55 min
  CHECK(f.Token() == "access-token-1");
  f.StepTo(seconds(3299));
  CHECK(f.source->Calls() == 1);

  f.source->CloseGate();
  f.clock->Advance(seconds(1));  // 3300 s: the scheduler starts the refresh, held at the gate
  REQUIRE(f.source->WaitForCalls(2));
  CHECK(f.handle.State().status == TokenStatus::Refreshing);

  // While the IdP call is in flight, callers get the current token at once. Run them on another
  // thread with a real-time bound: a caller that blocked would fail this, not hang the suite.
  auto callers = std::async(std::launch::async, [&] {
    int served = 0;
    for (int i = 0; i < 1000; ++i) {
      auto r = f.handle.Get(milliseconds(0), seconds(30));
      if (r.Ok() && r.Value()->accessToken == "access-token-1") ++served;
    }
    return served;
  });
  REQUIRE(callers.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(callers.get() == 1000);
  CHECK(f.handle.State().callerWaits == 1);  // only the very first Get ever waited

  f.source->OpenGate();
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  CHECK(f.Token() == "access-token-2");
  CHECK(f.handle.State().callerWaits == 1);
  CHECK(f.Count("dicomweb_oauth_token_refreshes_total", {{"trigger", "background"}}) == 1);
  CHECK(f.Count("dicomweb_oauth_token_refreshes_total", {{"trigger", "caller"}}) == 1);
}

TEST_CASE("TokenManager/IdP down: valid token served, never an expired one, back-off, recovery", "[manager]") {
  KeyOptions key;
  key.refreshBuffer = seconds(300);
  Fixture f(seconds(600), key);  // refresh at 300 s, expiry at 600 s, usable until 595 s
  CHECK(f.Token() == "access-token-1");
  f.source->SetFailure(MakeError("NET-001", "connection refused"));

  int gets = 0;
  for (int t = 1; t <= 594; ++t) {
    f.StepTo(seconds(t));
    for (int i = 0; i < 5; ++i, ++gets) REQUIRE(f.Token() == "access-token-1");
  }
  TokenState during = f.handle.State();
  CHECK(during.status == TokenStatus::Valid);
  CHECK(during.lastErrorCode == "NET-001");
  CHECK(during.consecutiveFailures >= 5);

  for (int t = 595; t <= 900; ++t) {
    f.StepTo(seconds(t));
    for (int i = 0; i < 5; ++i, ++gets) {
      auto r = f.Get();
      REQUIRE_FALSE(r.Ok());  // never the expired token
      CHECK(r.GetError().code == "TOK-001");
      CHECK(r.GetError().httpStatus == 503);
      CHECK(r.GetError().message.rfind("token for server 'pacs' expired and refresh failed: NET-001: "
                                       "connection refused",
                                       0) == 0);
    }
  }
  CHECK(f.handle.State().status == TokenStatus::Expired);
  // No storm: attempts at 300, 301, 303, 307, 315, 331, 363, 423, 483, ... 60 s apart once capped,
  // whatever the number of callers (4500 Get calls meanwhile). The one after 543 s comes at 585 s,
  // 10 s before the token becomes unusable, not at 603 s (LastChanceBefore).
  const int attempts = f.source->Calls() - 1;
  CHECK(attempts == 16);  // 300 301 303 307 315 331 363 423 483 543 585 645 705 765 825 885
  CHECK(gets == 4500);

  // The IdP comes back: the next scheduled retry (945 s) succeeds without any caller's help.
  f.source->SetFailure(std::nullopt);
  f.StepTo(seconds(944));
  CHECK(f.handle.State().status == TokenStatus::Expired);
  f.StepTo(seconds(945));
  TokenState after = f.handle.State();
  CHECK(after.status == TokenStatus::Valid);
  CHECK(after.consecutiveFailures == 0);
  CHECK(f.Token() == "access-token-2");
  CHECK(f.Count("dicomweb_oauth_token_acquisitions_total", {{"status", "failure"}}) == 16);
  CHECK(f.Count("dicomweb_oauth_token_acquisitions_total", {{"status", "success"}}) == 2);
}

TEST_CASE("TokenManager/regression: a back-off grown past the token's usable end tries once before it",
          "[manager]") {
  // Without a circuit breaker nothing else brought the attempt forward: a refresh failing from
  // 300 s on backed off to 543 s, then 603 s, and the token (usable until 595 s) expired at 595 s
  // although the IdP was back at 560 s; callers got TOK-001 for 8 s.
  KeyOptions key;
  key.refreshBuffer = seconds(300);
  Fixture f(seconds(600), key);
  CHECK(f.Token() == "access-token-1");
  f.source->SetFailure(MakeError("NET-001", "connection refused"));
  for (int t = 1; t <= 543; ++t) f.StepTo(seconds(t));
  const int failed = f.source->Calls() - 1;
  CHECK(failed == 10);  // 300 301 303 307 315 331 363 423 483 543
  CHECK(f.handle.State().nextAttemptAt == f.clock->ToSystem(f.t0 + seconds(585)));
  f.source->SetFailure(std::nullopt);  // the IdP is back at 560 s
  for (int t = 544; t <= 584; ++t) f.StepTo(seconds(t));
  CHECK(f.source->Calls() == failed + 1);
  f.StepTo(seconds(585));
  CHECK(f.source->Calls() == failed + 2);
  for (int t = 586; t <= 600; ++t) {
    f.StepTo(seconds(t));
    CHECK(f.Token() == "access-token-2");  // never TOK-001
  }

  SECTION("once per token: a failure inside the last 10 s backs off as usual") {
    f.source->SetFailure(MakeError("NET-001", "connection refused"));
    // access-token-2 (obtained at 585 s): refresh at 885 s, usable until 1180 s.
    for (int t = 601; t <= 886; ++t) f.StepTo(seconds(t));
    const int before = f.source->Calls();
    for (int t = 887; t <= 1180; ++t) f.StepTo(seconds(t));
    // 888 892 900 916 948 1008 1068 1128, then 1170 (the last chance), not 1188.
    CHECK(f.source->Calls() - before == 9);
    CHECK(f.handle.State().nextAttemptAt == f.clock->ToSystem(f.t0 + seconds(1230)));
  }
}

TEST_CASE("TokenManager/failure without any token: TOK-002 at once while backing off", "[manager]") {
  Fixture f;
  f.source->SetFailure(MakeError("AUTH-001", "invalid_client"));
  auto first = f.Get();
  REQUIRE_FALSE(first.Ok());
  CHECK(first.GetError().code == "TOK-002");
  CHECK(first.GetError().message ==
        "token acquisition for server 'pacs' failed: AUTH-001: invalid_client; next attempt in 1 s");
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  auto second = f.Get();  // backing off: no fetch of its own, same error
  CHECK(second.GetError().code == "TOK-002");
  CHECK(f.source->Calls() == 1);
  CHECK(f.handle.State().status == TokenStatus::Error);
  // Bad credentials are not retried in the background when the back-off ends...
  f.Step(seconds(1));
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  CHECK(f.source->Calls() == 1);
  auto third = f.Get();  // ...only when a caller asks again after it
  CHECK(third.GetError().code == "TOK-002");
  CHECK(f.source->Calls() == 2);
  f.source->SetFailure(std::nullopt);
  f.Step(seconds(2));
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  CHECK(f.source->Calls() == 2);
  CHECK(f.Token() == "access-token-1");
  CHECK(f.source->Calls() == 3);
}

TEST_CASE("TokenManager/transient failure without any token is retried in the background", "[manager]") {
  Fixture f;
  f.source->SetFailure(MakeError("NET-001", "connection refused"));
  CHECK(f.Get().GetError().code == "TOK-002");
  CHECK(f.source->Calls() == 1);
  f.source->SetFailure(std::nullopt);
  f.Step(seconds(1));  // the back-off ends: the scheduler retries with no caller
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  CHECK(f.source->Calls() == 2);
  CHECK(f.handle.State().status == TokenStatus::Valid);
}

TEST_CASE("TokenManager/minRemaining: just-in-time refresh, single flight, no fetch per call", "[manager]") {
  Fixture f;  // 1 h tokens
  CHECK(f.Token() == "access-token-1");
  f.StepTo(seconds(1000));
  // The cached token has 2600 s left (minus 5 s safety): not enough for 3000 s.
  CHECK(f.Token(seconds(3000)) == "access-token-2");
  CHECK(f.source->Calls() == 2);
  CHECK(f.Token(seconds(3000)) == "access-token-2");
  // Longer than any token the IdP issues: the freshest token is the answer, without a fetch per call.
  CHECK(f.Token(seconds(7200)) == "access-token-2");
  CHECK(f.source->Calls() == 2);
  f.StepTo(seconds(1000 + 181));  // older than 5% of its life: one more try, then fresh again
  CHECK(f.Token(seconds(7200)) == "access-token-3");
  CHECK(f.Token(seconds(7200)) == "access-token-3");
  CHECK(f.source->Calls() == 3);
  CHECK(f.Token() == "access-token-3");
  // Absurd durations are clamped, not overflowed (UBSan would catch the overflow).
  CHECK(f.handle.Get(milliseconds::max(), milliseconds::max()).Value()->accessToken == "access-token-3");
  CHECK(f.handle.Get(milliseconds(-5), milliseconds(-5)).Value()->accessToken == "access-token-3");
  CHECK(f.source->Calls() == 3);

  SECTION("while the IdP is down, a caller needing more than the remaining life gets TOK-002") {
    f.StepTo(seconds(3000));
    f.source->SetFailure(MakeError("NET-002", "timed out"));
    auto r = f.Get(seconds(3000));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-002");
    CHECK(r.GetError().message.find("valid for another 3000 s") != std::string::npos);
    CHECK(r.GetError().message.find("NET-002: timed out") != std::string::npos);
    CHECK(f.Token() == "access-token-3");  // still valid for a caller with no requirement
  }
}

TEST_CASE("TokenManager/Invalidate drops the token; the refetch is single flight", "[manager]") {
  Fixture f;
  CHECK(f.Token() == "access-token-1");
  f.source->CloseGate();
  f.handle.Invalidate();
  CHECK(f.source->Invalidations() == 1);
  REQUIRE(f.source->WaitForCalls(2));  // the background refetch started at once
  std::vector<std::future<std::string>> callers;
  for (int i = 0; i < 50; ++i) {
    callers.push_back(std::async(std::launch::async, [&] {
      auto r = f.handle.Get(milliseconds(0), seconds(30));
      return r.Ok() ? r.Value()->accessToken : r.GetError().ToString();
    }));
  }
  REQUIRE(f.clock->WaitForWaiters(50, f.clock->SteadyNow() + seconds(30), kRealTimeout));
  f.source->OpenGate();
  for (auto& c : callers) CHECK(c.get() == "access-token-2");
  CHECK(f.source->Calls() == 2);
  CHECK(f.Count("dicomweb_oauth_token_invalidations_total") == 1);
  CHECK(f.manager->Invalidate("no-such-key").GetError().code == "TOK-006");
  CHECK(f.manager->Invalidate("key-pacs").Ok());
}

TEST_CASE("TokenManager/FetchNow asks the source now and keeps a working token when it fails", "[manager]") {
  Fixture f(seconds(60));
  CHECK(f.Token() == "access-token-1");

  SECTION("success: a new token, the shared level told to drop its copy") {
    auto r = f.handle.FetchNow(seconds(30));
    REQUIRE(r.Ok());
    CHECK(r.Value()->accessToken == "access-token-2");
    CHECK(f.source->Invalidations() == 1);
    CHECK(f.Token() == "access-token-2");
    CHECK(f.Count("dicomweb_oauth_token_invalidations_total") == 0);
  }

  SECTION("failure: TOK-002 naming the cause, and the cached token still served") {
    f.source->SetFailure(MakeError("NET-001", "connection refused"));
    auto r = f.handle.FetchNow(seconds(30));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-002");
    CHECK(r.GetError().message.find("NET-001: connection refused") != std::string::npos);
    CHECK(r.GetError().message.find("the cached token stays in use") != std::string::npos);
    CHECK(f.Token() == "access-token-1");

    SECTION("during the back-off a second FetchNow still asks the source (the operator asks whether the IdP answers now)") {
      const int calls = f.source->Calls();
      f.source->SetFailure(std::nullopt);
      auto again = f.handle.FetchNow(seconds(30));
      REQUIRE(again.Ok());
      CHECK(f.source->Calls() == calls + 1);
      CHECK(f.Token() == again.Value()->accessToken);
    }
  }

  SECTION("a fetch already running is waited for, then a new one starts") {
    f.source->CloseGate();
    f.clock->Advance(seconds(31));  // past the refresh instant: a background refresh starts and blocks
    REQUIRE(f.source->WaitForCalls(2));
    auto now = std::async(std::launch::async, [&] { return f.handle.FetchNow(seconds(30)); });
    REQUIRE(f.clock->WaitForWaiters(1, f.clock->SteadyNow() + seconds(30), kRealTimeout));
    f.source->OpenGate();
    auto r = now.get();
    REQUIRE(r.Ok());
    CHECK(r.Value()->accessToken == "access-token-3");
    CHECK(f.source->Calls() == 3);
  }

  SECTION("a source slower than maxWait: TOK-007, the cached token untouched") {
    f.source->CloseGate();
    auto now = std::async(std::launch::async, [&] { return f.handle.FetchNow(seconds(2)); });
    REQUIRE(f.clock->WaitForWaiters(1, f.clock->SteadyNow() + seconds(2), kRealTimeout));
    f.clock->Advance(seconds(3));
    auto r = now.get();
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-007");
    f.source->OpenGate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
  }
}

TEST_CASE("TokenManager/deadlines: a caller waits at most maxWait", "[manager]") {
  Fixture f;
  f.source->CloseGate();
  SECTION("TOK-007 when the fetch outlasts maxWait; others still get its result") {
    const SteadyTime deadline = f.clock->SteadyNow() + seconds(2);
    auto caller = std::async(std::launch::async, [&] { return f.handle.Get(milliseconds(0), seconds(2)); });
    REQUIRE(f.clock->WaitForWaiters(1, deadline, kRealTimeout));
    f.clock->Advance(seconds(2));
    REQUIRE(caller.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto r = caller.get();
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-007");
    CHECK(r.GetError().httpStatus == 503);
    f.source->OpenGate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
    CHECK(f.Token() == "access-token-1");
    CHECK(f.source->Calls() == 1);
  }
  SECTION("maxWait 0 starts the fetch and returns at once") {
    auto r = f.handle.Get(milliseconds(0), milliseconds(0));
    CHECK(r.GetError().code == "TOK-007");
    REQUIRE(f.source->WaitForCalls(1));
    f.source->OpenGate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
    CHECK(f.handle.Get(milliseconds(0), milliseconds(0)).Ok());
  }
}

TEST_CASE("TokenManager/invalid answers and validation failures are not cached", "[manager]") {
  SECTION("empty access token: TOK-004") {
    Fixture f;
    f.source->SetEmptyToken(true);
    auto r = f.Get();
    CHECK(r.GetError().code == "TOK-002");
    CHECK(r.GetError().message.find("TOK-004: token response for server 'pacs' has no access token") !=
          std::string::npos);
  }
  SECTION("already expired on arrival: TOK-004") {
    Fixture f;
    f.source->SetLifetime(seconds(0));
    CHECK(f.Get().GetError().message.find("TOK-004") != std::string::npos);
  }
  SECTION("validator refusal: TOK-005") {
    KeyOptions key;
    key.validator = [](const TokenRecord& r) -> Status {
      if (r.accessToken == "access-token-1") return MakeError("CRY-010", "audience mismatch");
      return Status::Success();
    };
    Fixture f(seconds(3600), key);
    auto r = f.Get();
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().message.find("TOK-005: token for server 'pacs' failed validation: CRY-010: audience "
                                    "mismatch") != std::string::npos);
    CHECK(f.handle.State().lastErrorCode == "TOK-005");
    f.Step(seconds(1));  // retry after back-off: the next token passes
    CHECK(f.Token() == "access-token-2");
  }
}

TEST_CASE("TokenManager/provider refresh hint is honoured", "[manager]") {
  Fixture f;
  f.source->SetRefreshIn(seconds(600));
  CHECK(f.Token() == "access-token-1");
  f.StepTo(seconds(599));
  CHECK(f.source->Calls() == 1);
  f.StepTo(seconds(600));
  CHECK(f.source->Calls() == 2);
}

TEST_CASE("TokenManager/onNewToken is called for every new token", "[manager]") {
  std::mutex m;
  std::vector<std::string> seen;
  KeyOptions key;
  key.onNewToken = [&](const TokenRecord& r) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(r.accessToken);
  };
  Fixture f(seconds(3600), key);
  f.handle.Prefetch();  // inject mode at start-up: no caller waits
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  f.StepTo(seconds(3300));
  std::lock_guard<std::mutex> lock(m);
  CHECK(seen == std::vector<std::string>{"access-token-1", "access-token-2"});
  CHECK(f.handle.State().callerWaits == 0);
}

TEST_CASE("TokenManager/Use pins the record even if it is replaced inside the callback", "[manager]") {
  Fixture f;
  std::string outer;
  std::string inner;
  Status s = f.handle.Use([&](const TokenRecord& r) {
    f.handle.Invalidate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
    auto again = f.handle.Get();  // replaces this thread's cache entry
    REQUIRE(again.Ok());
    inner = again.Value()->accessToken;
    outer = r.accessToken;  // still readable: pinned
  });
  CHECK(s.Ok());
  CHECK(outer == "access-token-1");
  CHECK(inner == "access-token-2");
  std::string third;
  CHECK(f.handle.Use(seconds(0), seconds(1), [&](const TokenRecord& r) { third = r.accessToken; }).Ok());
  CHECK(third == "access-token-2");
}

TEST_CASE("TokenManager/keys, servers and lookups", "[manager]") {
  Fixture f;
  auto other = std::make_shared<FakeTokenSource>(f.clock);
  KeyOptions second;
  second.server = "archive";
  TokenHandle shared = f.manager->Register("key-pacs", other, second);  // same identity: shared key
  CHECK(shared.Key() == "key-pacs");
  CHECK(f.Token() == "access-token-1");
  CHECK(shared.Get().Value()->accessToken == "access-token-1");
  CHECK(other->Calls() == 0);
  CHECK(f.handle.State().servers == std::vector<std::string>{"pacs", "archive"});
  CHECK(f.manager->FindServer("archive").Value().Key() == "key-pacs");
  CHECK(f.manager->Get("key-pacs").Value()->accessToken == "access-token-1");

  auto unknown = f.manager->Find("nope");
  CHECK(unknown.GetError().code == "TOK-006");
  CHECK(unknown.GetError().httpStatus == 404);
  CHECK(f.manager->FindServer("nope").GetError().message == "unknown server 'nope'");
  CHECK(TokenHandle().Get().GetError().code == "TOK-006");
  CHECK(TokenHandle().Use([](const TokenRecord&) {}).GetError().code == "TOK-006");
  CHECK(TokenHandle().State().status == TokenStatus::None);
  CHECK_THROWS_AS(f.manager->Register("key-null", nullptr, KeyOptions{}), std::invalid_argument);
  CHECK(f.manager->States().size() == 1);

  CHECK(f.manager->Remove("key-pacs"));
  CHECK_FALSE(f.manager->Remove("key-pacs"));
  CHECK(f.handle.Get().GetError().code == "TOK-006");
  CHECK(f.manager->States().empty());
}

TEST_CASE("TokenManager/Stop fails queued fetches; handles outlive the manager", "[manager]") {
  Fixture f(seconds(3600), KeyOptions{}, 1, 0);  // one fetch thread, no extra one: the second fetch queues
  auto slowSource = std::make_shared<FakeTokenSource>(f.clock);
  KeyOptions k2;
  k2.server = "slow";
  TokenHandle slow = f.manager->Register("key-slow", slowSource, k2);
  slowSource->CloseGate();
  slow.Prefetch();  // occupies the only fetch thread
  REQUIRE(slowSource->WaitForCalls(1));
  auto queued = std::async(std::launch::async, [&] { return f.handle.Get(milliseconds(0), seconds(30)); });
  REQUIRE(f.clock->WaitForWaiters(1, f.clock->SteadyNow() + seconds(30), kRealTimeout));
  f.manager->Stop();  // cancels the running fetch, fails the queued one
  auto r = queued.get();
  REQUIRE_FALSE(r.Ok());
  CHECK(r.GetError().code == "TOK-002");
  CHECK(r.GetError().message.find("stopped") != std::string::npos);

  f.manager.reset();
  auto after = f.handle.Get();
  CHECK(after.GetError().code == "TOK-002");
  CHECK(after.GetError().message.find("stopped") != std::string::npos);
}

TEST_CASE("TokenManager/circuit breaker behind the cache: TOK-003 inside the caller's error", "[manager]") {
  Fixture f;
  auto idp = std::make_shared<FakeTokenSource>(f.clock);
  config::ResilienceConfig rc;
  rc.circuitBreakerEnabled = true;
  rc.circuitBreakerFailureThreshold = 1;
  rc.retryMaxAttempts = 1;
  KeyOptions key;
  key.server = "cloud";
  TokenHandle h = f.manager->Register(
      "key-cloud", std::make_shared<ResilientFetch>(idp, rc, f.clock, "cloud", f.metrics, 3), key);
  idp->SetFailure(MakeError("AUTH-005", "IdP answered 503"));
  CHECK(h.Get().GetError().message.find("AUTH-005") != std::string::npos);
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  f.Step(seconds(1));  // back-off retry: refused by the open circuit, the IdP is not called
  CHECK(idp->Calls() == 1);
  auto r = h.Get();
  CHECK(r.GetError().code == "TOK-002");
  CHECK(r.GetError().message.find("TOK-003: circuit breaker open for server 'cloud'") != std::string::npos);
  CHECK(f.metrics->GetGauge("dicomweb_oauth_circuit_breaker_state", "", {{"server", "cloud"}}).Value() == 1);
}

TEST_CASE("TokenManager/metrics after a scenario, and the token never leaks", "[manager][metrics]") {
  auto sink = std::make_shared<RecordingSink>();
  SetLogSink(sink);
  SetLogLevel(LogLevel::Debug);
  {
    Fixture f;
    CHECK(f.Token() == "access-token-1");
    CHECK(SecretRegistry::Redact("Bearer access-token-1") == "Bearer ***");
    for (int i = 0; i < 9; ++i) f.Token();
    f.Step(seconds(600));
    f.source->SetFailure(MakeError("NET-001", "refused"));
    f.handle.Invalidate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
    CHECK_FALSE(f.Get().Ok());

    CHECK(f.Count("dicomweb_oauth_token_acquisitions_total", {{"status", "success"}}) == 1);
    CHECK(f.Count("dicomweb_oauth_token_acquisitions_total", {{"status", "failure"}}) == 1);
    CHECK(f.Count("dicomweb_oauth_cache_hits_total") == 9);
    CHECK(f.Count("dicomweb_oauth_cache_misses_total") == 2);
    auto& hist = f.metrics->GetHistogram("dicomweb_oauth_token_acquisition_duration_seconds", "", {{"server", "pacs"}});
    CHECK(hist.Read().count == 2);

    f.source->SetFailure(std::nullopt);
    f.Step(seconds(1));  // retry succeeds
    f.Step(seconds(100));
    const std::string text = f.metrics->RenderPrometheus();
    CHECK(text.find("# TYPE dicomweb_oauth_token_acquisitions_total counter\n") != std::string::npos);
    CHECK(text.find("dicomweb_oauth_token_acquisitions_total{server=\"pacs\",status=\"success\"} 2\n") !=
          std::string::npos);
    CHECK(text.find("dicomweb_oauth_token_acquisition_duration_seconds_count{server=\"pacs\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("dicomweb_oauth_token_remaining_seconds{server=\"pacs\"} 3500\n") != std::string::npos);
    CHECK(text.find("dicomweb_oauth_token_invalidations_total{server=\"pacs\"} 1\n") != std::string::npos);
    CHECK(text.find("access-token") == std::string::npos);

    for (const TokenState& s : f.manager->States()) {
      for (const std::string& field : {s.key, s.provider, s.lastErrorCode, s.lastErrorMessage}) {
        CHECK(field.find("access-token") == std::string::npos);
      }
    }
  }
  SetLogSink(nullptr);
  SetLogLevel(LogLevel::Info);
  const auto lines = sink->Lines();
  CHECK_FALSE(lines.empty());
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line.find("access-token") == std::string::npos);
  }
}

TEST_CASE("TokenManager/cached tokens are masked in logs while cached, and only then", "[manager]") {
  const std::string token = "mask-check-token-1";
  {
    Fixture f;
    f.source->SetPrefix("mask-check-token-");
    // Fetch and read on another thread: its thread-local cache entry dies with it.
    std::thread([&] {
      auto r = f.handle.Get();
      REQUIRE(r.Ok());
      CHECK(r.Value()->accessToken == token);
    }).join();
    CHECK(SecretRegistry::Redact("Authorization: Bearer " + token) == "Authorization: Bearer ***");
    f.handle.Invalidate();
    REQUIRE(f.manager->WaitIdle(kRealTimeout));
    CHECK(SecretRegistry::Redact(token) == token);  // dropped, no longer cached anywhere
    CHECK(SecretRegistry::Redact("mask-check-token-2") == "***");
  }
  // Manager, slot and records are gone: nothing is masked any more.
  CHECK(SecretRegistry::Redact("mask-check-token-2") == "mask-check-token-2");
}

TEST_CASE("TokenManager/an IdP that returns the same token again keeps it masked", "[manager]") {
  // Azure managed identity answers with its own cached token until close to expiry: replacing a
  // record by one with the same text must not unregister the secret.
  Fixture f;
  f.source->SetPrefix("same-token-every-time");
  f.source->SetFixedText(true);
  std::thread([&] { REQUIRE(f.handle.Get().Ok()); }).join();
  f.handle.Invalidate();
  REQUIRE(f.manager->WaitIdle(kRealTimeout));
  CHECK(f.source->Calls() == 2);
  CHECK(SecretRegistry::Redact("same-token-every-time") == "***");
}

TEST_CASE("TokenManager/regression: refusals by an open circuit do not push the next attempt out", "[manager]") {
  // Found by tests/integration/test_faults_idp.py: each TOK-003 refusal (no IdP call) doubled the
  // back-off like a real failure, so after an outage the next attempt came up to a minute after the
  // circuit allowed its probe ("next probe in 2 s; next attempt in 56 s") and the token stayed expired.
  Fixture f;
  const Error net = MakeError("NET-001", "connection refused");
  const Error open = MakeTokenError(codes::kCircuitOpen, "circuit breaker open for server 'pacs'; next probe in 3 s");
  f.source->Script({net, net, net, open, open, open});
  CHECK(f.Get().GetError().code == "TOK-002");  // attempt 1: NET-001, back-off 1 s
  f.Step(seconds(1));                             // attempt 2: NET-001, back-off 2 s
  f.Step(seconds(2));                             // attempt 3: NET-001, back-off 4 s
  CHECK(f.source->Calls() == 3);
  f.Step(seconds(4));  // attempt 4: refused by the circuit; the back-off stays at its first step
  CHECK(f.source->Calls() == 4);
  f.Step(seconds(1));  // attempts 5, 6: refused again, each 1 s later
  f.Step(seconds(1));
  CHECK(f.source->Calls() == 6);
  f.Step(seconds(1));  // attempt 7: the circuit lets the probe through, the IdP answers
  CHECK(f.source->Calls() == 7);
  CHECK(f.handle.State().status == TokenStatus::Valid);
  CHECK(f.Token() == "access-token-1");
}

namespace {

// A second key ("cloud") whose IdP (a FakeTokenSource of 60 s tokens) sits behind a ResilientFetch
// with the default 60 s open period. One attempt per fetch, so the key's own back-off alone spaces
// the attempts (1, 2, 4 s; 1 s after each refusal by the open circuit) and every step below is exact.
struct BreakerKey {
  std::shared_ptr<FakeTokenSource> idp;
  std::shared_ptr<ResilientFetch> resilient;
  TokenHandle handle;

  explicit BreakerKey(Fixture& f) : idp(std::make_shared<FakeTokenSource>(f.clock, seconds(60))) {
    config::ResilienceConfig rc;
    rc.circuitBreakerFailureThreshold = 3;
    rc.retryMaxAttempts = 1;
    rc.retryJitter = 0;
    resilient = std::make_shared<ResilientFetch>(idp, rc, f.clock, "cloud", f.metrics, 3);
    KeyOptions key;
    key.server = "cloud";
    handle = f.manager->Register("key-cloud", resilient, key);
  }
  std::string Token() {
    auto r = handle.Get(milliseconds(0), milliseconds(0));
    return r.Ok() ? r.Value()->accessToken : r.GetError().ToString();
  }
};

}  // namespace

TEST_CASE("Circuit breaker: an open circuit lets a probe through before the cached token expires", "[manager]") {
  // Found by the soak (docs/PERFORMANCE.md, "Soak"): with 60 s tokens an IdP outage opened the
  // circuit for 60 s, the cached token (usable 55 s) expired meanwhile, and every request failed
  // (TOK-001 "circuit breaker open") until the probe, although the IdP was back.
  Fixture f(seconds(60));
  BreakerKey k(f);
  auto first = k.handle.Get();  // t = 0: usable until 55 s, refresh at 30 s
  REQUIRE(first.Ok());
  CHECK(first.Value()->accessToken == "access-token-1");
  k.idp->SetFailure(MakeError("NET-001", "connection refused"));
  f.StepTo(seconds(30));  // the refresh fails (1), back-off 1 s
  f.StepTo(seconds(31));  // (2), back-off 2 s
  f.StepTo(seconds(33));  // (3): the circuit opens for 60 s; back-off 4 s
  CHECK(k.resilient->Circuit() == CircuitState::Open);
  CHECK(k.idp->Calls() == 4);
  for (int s = 37; s <= 44; ++s) {  // refused each second without asking the IdP
    f.StepTo(seconds(s));
    CHECK(k.idp->Calls() == 4);
    CHECK(k.Token() == "access-token-1");
  }
  CHECK(k.handle.State().lastErrorMessage.find("next probe in 1 s") != std::string::npos);

  SECTION("the IdP is back: the probe 10 s before the token becomes unusable renews it") {
    k.idp->SetFailure(std::nullopt);
    f.StepTo(seconds(45));
    CHECK(k.idp->Calls() == 5);
    CHECK(k.resilient->Circuit() == CircuitState::Closed);
    CHECK(k.Token() == "access-token-2");
    f.StepTo(seconds(56));  // the first token would be unusable now
    CHECK(k.Token() == "access-token-2");
  }
  SECTION("the IdP is still down: one early probe, then the configured open period") {
    f.StepTo(seconds(45));
    CHECK(k.idp->Calls() == 5);
    CHECK(k.resilient->Circuit() == CircuitState::Open);
    for (int s = 46; s <= 104; ++s) {
      f.StepTo(seconds(s));
      CHECK(k.idp->Calls() == 5);  // not hammered: the token's early probe is spent
    }
    CHECK(k.Token().find("TOK-001") == 0);  // expired at 55 s, and never handed out after
    k.idp->SetFailure(std::nullopt);
    f.StepTo(seconds(105));  // 45 + 60: the regular probe
    CHECK(k.idp->Calls() == 6);
    CHECK(k.Token() == "access-token-2");
  }
}

TEST_CASE("Circuit breaker: without a cached token the configured open period holds", "[manager]") {
  Fixture f(seconds(60));
  BreakerKey k(f);
  k.idp->SetFailure(MakeError("NET-001", "connection refused"));
  CHECK(k.handle.Get().GetError().code == "TOK-002");  // t = 0: (1), back-off 1 s
  f.StepTo(seconds(1));                                 // (2), back-off 2 s
  f.StepTo(seconds(3));                                 // (3): open until 63 s
  REQUIRE(k.resilient->Circuit() == CircuitState::Open);
  k.idp->SetFailure(std::nullopt);
  for (int s = 7; s <= 62; ++s) {
    f.StepTo(seconds(s));
    CHECK(k.idp->Calls() == 3);
  }
  f.StepTo(seconds(63));
  CHECK(k.idp->Calls() == 4);
  CHECK(k.Token() == "access-token-1");

  SECTION("a token dropped on purpose (upstream 401) leaves no early probe either") {
    k.idp->SetFailure(MakeError("NET-001", "connection refused"));
    // Refresh at 93 s fails, back-off 1 s, fails again (2 s), then a third time: open until 156 s.
    f.StepTo(seconds(93));
    f.StepTo(seconds(94));
    f.StepTo(seconds(96));
    REQUIRE(k.resilient->Circuit() == CircuitState::Open);
    CHECK(k.idp->Calls() == 7);
    k.handle.Invalidate();  // the token (usable until 118 s) is dropped
    k.idp->SetFailure(std::nullopt);
    for (int s = 100; s <= 155; ++s) {
      f.StepTo(seconds(s));
      CHECK(k.idp->Calls() == 7);
    }
    f.StepTo(seconds(156));
    CHECK(k.idp->Calls() == 8);
    CHECK(k.Token() == "access-token-2");
  }
}
