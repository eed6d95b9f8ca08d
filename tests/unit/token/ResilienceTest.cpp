#include <catch2/catch.hpp>

#include <future>

#include "FakeTokenSource.h"
#include "gw/common/Metrics.h"
#include "gw/config/ResilienceConfig.h"
#include "gw/token/CircuitBreaker.h"
#include "gw/token/ManualClock.h"
#include "gw/token/ResilientFetch.h"
#include "gw/token/RetryPolicy.h"
#include "gw/token/TokenErrors.h"

using namespace gw;
using namespace gw::token;
using gw::config::ResilienceConfig;
using gw::config::RetryStrategy;
using gw::token::testing::FakeTokenSource;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

std::vector<int64_t> Delays(const RetryPolicy& p, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(p.BaseDelay(i).count());
  return out;
}

// The server defaults without what would blur a test: no jitter (exact delays), no circuit
// breaker (tests that want one turn it on), no delay cap below the policy's one day.
ResilienceConfig Exact() {
  ResilienceConfig c;
  c.retryJitter = 0;
  c.circuitBreakerEnabled = false;
  c.retryMaxDelaySeconds = 86400;
  return c;
}

}  // namespace

TEST_CASE("RetryPolicy/delay sequences per strategy", "[resilience]") {
  ResilienceConfig c = Exact();
  SECTION("exponential: initial * multiplier^attempt") {
    CHECK(Delays(RetryPolicy(c), 5) == std::vector<int64_t>{1000, 2000, 4000, 8000, 16000});
    c.retryInitialDelaySeconds = 0.5;
    c.retryMultiplier = 3;
    CHECK(Delays(RetryPolicy(c), 4) == std::vector<int64_t>{500, 1500, 4500, 13500});
  }
  SECTION("exponential capped by RetryMaxDelay") {
    c.retryMaxDelaySeconds = 5.0;
    CHECK(Delays(RetryPolicy(c), 5) == std::vector<int64_t>{1000, 2000, 4000, 5000, 5000});
  }
  SECTION("fixed") {
    c.retryStrategy = RetryStrategy::Fixed;
    c.retryInitialDelaySeconds = 2.0;
    CHECK(Delays(RetryPolicy(c), 4) == std::vector<int64_t>{2000, 2000, 2000, 2000});
  }
  SECTION("linear: initial + attempt * increment, capped too") {
    c.retryStrategy = RetryStrategy::Linear;
    c.retryInitialDelaySeconds = 1.0;
    c.retryIncrementSeconds = 1.5;
    CHECK(Delays(RetryPolicy(c), 4) == std::vector<int64_t>{1000, 2500, 4000, 5500});
    c.retryMaxDelaySeconds = 3.0;
    CHECK(Delays(RetryPolicy(c), 4) == std::vector<int64_t>{1000, 2500, 3000, 3000});
  }
  SECTION("jitter removes at most RetryJitter of the delay") {
    c.retryJitter = 0.25;
    RetryPolicy p(c);
    CHECK(p.Delay(2, 0.0) == milliseconds(4000));
    CHECK(p.Delay(2, 0.5) == milliseconds(3500));
    CHECK(p.Delay(2, 0.999999) >= milliseconds(3000));
  }
  SECTION("huge exponents stay finite") {
    CHECK(RetryPolicy(c).BaseDelay(5000) == milliseconds(86400000));
  }
  CHECK(RetryPolicy(c).MaxAttempts() == 3);
}

TEST_CASE("ClassifyFailure/one table decides what is retried", "[resilience]") {
  for (const char* code : {"NET-001", "NET-002", "NET-003", "NET-005", "AUTH-005", "TOK-004", "LUA-004"}) {
    INFO(code);
    CHECK(IsRetryable(MakeError(code, "x")));
  }
  for (const char* code : {"AUTH-001", "NET-004", "NET-006", "TOK-003", "TOK-007", "TOK-005", "LUA-006", "AUTH-002",
                           "CFG-001", "", "net-001"}) {
    INFO(code);
    CHECK_FALSE(IsRetryable(MakeError(code, "x")));
  }
}

TEST_CASE("TokenErrors/HTTP status per code", "[resilience]") {
  CHECK(MakeTokenError(codes::kExpiredRefreshFailed, "m").httpStatus == 503);
  CHECK(MakeTokenError(codes::kAcquisitionFailed, "m").httpStatus == 503);
  CHECK(MakeTokenError(codes::kCircuitOpen, "m").httpStatus == 503);
  CHECK(MakeTokenError(codes::kInvalidTokenResponse, "m").httpStatus == 502);
  CHECK(MakeTokenError(codes::kValidationFailed, "m").httpStatus == 502);
  CHECK(MakeTokenError(codes::kUnknownKey, "m").httpStatus == 404);
  CHECK(MakeTokenError(codes::kDeadlineExceeded, "m").httpStatus == 503);
  CHECK(MakeTokenError(codes::kDeadlineExceeded, "m").ToString() == "TOK-007: m");
}

TEST_CASE("CircuitBreaker/closed, open, half-open with one probe", "[resilience]") {
  auto clock = std::make_shared<ManualClock>();
  CircuitBreaker b(3, seconds(60), clock);
  CHECK(b.State() == CircuitState::Closed);

  SECTION("opens after the threshold of consecutive failures; a success resets the count") {
    CHECK(b.TryAcquire());
    b.RecordFailure();
    CHECK(b.TryAcquire());
    b.RecordFailure();
    CHECK(b.TryAcquire());
    b.RecordSuccess();
    CHECK(b.ConsecutiveFailures() == 0);
    for (int i = 0; i < 3; ++i) {
      CHECK(b.TryAcquire());
      b.RecordFailure();
    }
    CHECK(b.State() == CircuitState::Open);
    CHECK_FALSE(b.TryAcquire());
    CHECK(b.RemainingOpen() == seconds(60));
  }

  for (int i = 0; i < 3; ++i) {
    b.TryAcquire();
    b.RecordFailure();
  }
  REQUIRE(b.State() == CircuitState::Open);

  SECTION("refuses until the timeout, then lets exactly one probe through") {
    clock->Advance(seconds(59));
    CHECK_FALSE(b.TryAcquire());
    CHECK(b.RemainingOpen() == seconds(1));
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire());
    CHECK(b.State() == CircuitState::HalfOpen);
    CHECK_FALSE(b.TryAcquire());  // the probe is out
    CHECK_FALSE(b.TryAcquire());
    b.RecordSuccess();
    CHECK(b.State() == CircuitState::Closed);
    CHECK(b.TryAcquire());
    CHECK(b.TryAcquire());
  }
  SECTION("a failed probe opens it again for a full period") {
    clock->Advance(seconds(60));
    CHECK(b.TryAcquire());
    b.RecordFailure();
    CHECK(b.State() == CircuitState::Open);
    clock->Advance(seconds(59));
    CHECK_FALSE(b.TryAcquire());
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire());
    CHECK(b.State() == CircuitState::HalfOpen);
  }
  CHECK(std::string(ToString(CircuitState::HalfOpen)) == "half-open");
}

TEST_CASE("ResilientFetch/retries transient failures with the policy's delays", "[resilience]") {
  auto clock = std::make_shared<ManualClock>();
  auto inner = std::make_shared<FakeTokenSource>(clock);
  auto metrics = std::make_shared<MetricsRegistry>();
  ResilienceConfig c = Exact();
  c.retryMaxAttempts = 4;
  ResilientFetch fetch(inner, c, clock, "pacs", metrics, 42);
  const SteadyTime t0 = clock->SteadyNow();

  SECTION("NET-002, AUTH-005, TOK-004, then success: 4 attempts at 0 s, 1 s, 3 s, 7 s") {
    inner->Script({MakeError("NET-002", "timeout"), MakeError("AUTH-005", "IdP answered 503"),
                   MakeError("TOK-004", "no access_token")});
    auto future = std::async(std::launch::async, [&] { return fetch.Fetch(t0 + seconds(30)); });
    for (int64_t wake : {1, 3, 7}) {
      INFO("waiting for the sleep that ends at +" << wake << " s");
      REQUIRE(clock->WaitForWaiters(1, t0 + seconds(wake), milliseconds(10000)));
      clock->Advance(t0 + seconds(wake) - clock->SteadyNow());
    }
    REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto r = future.get();
    REQUIRE(r.Ok());
    CHECK(r.Value().accessToken == "access-token-1");
    CHECK(inner->Calls() == 4);
    CHECK(metrics->GetCounter("dicomweb_oauth_retry_attempts_total", "", {{"server", "pacs"}}).Value() == 3);
  }
  SECTION("never retries bad credentials (AUTH-001)") {
    inner->SetFailure(MakeError("AUTH-001", "invalid_client"));
    auto r = fetch.Fetch(t0 + seconds(30));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "AUTH-001");
    CHECK(r.GetError().message == "invalid_client");
    CHECK(inner->Calls() == 1);
  }
  SECTION("unknown failures are not retried either") {
    inner->SetFailure(MakeError("LUA-006", "attempt to index a nil value"));
    CHECK(fetch.Fetch(t0 + seconds(30)).GetError().code == "LUA-006");
    CHECK(inner->Calls() == 1);
  }
  SECTION("exhausted: the last error, saying how many attempts") {
    c.retryMaxAttempts = 2;
    ResilientFetch two(inner, c, clock, "pacs", nullptr, 1);
    inner->SetFailure(MakeError("NET-001", "connection refused"));
    auto future = std::async(std::launch::async, [&] { return two.Fetch(t0 + seconds(30)); });
    REQUIRE(clock->WaitForWaiters(1, t0 + seconds(1), milliseconds(10000)));
    clock->Advance(seconds(1));
    auto r = future.get();
    CHECK(r.GetError().code == "NET-001");
    CHECK(r.GetError().message == "connection refused (after 2 attempts)");
    CHECK(inner->Calls() == 2);
  }
  SECTION("respects the overall deadline: no attempt that cannot start in time") {
    c.acquisitionTimeoutSeconds = 5;
    c.retryMaxAttempts = 10;
    ResilientFetch bounded(inner, c, clock, "pacs", nullptr, 1);
    inner->SetFailure(MakeError("NET-002", "timeout"));
    auto future = std::async(std::launch::async, [&] { return bounded.Fetch(t0 + seconds(30)); });
    for (int64_t wake : {1, 3}) {
      REQUIRE(clock->WaitForWaiters(1, t0 + seconds(wake), milliseconds(10000)));
      clock->Advance(t0 + seconds(wake) - clock->SteadyNow());
    }
    auto r = future.get();  // the next delay (4 s) would end at 7 s > 5 s
    CHECK(r.GetError().code == "NET-002");
    CHECK(r.GetError().message.find("no time left for attempt 4") != std::string::npos);
    CHECK(inner->Calls() == 3);
    CHECK(inner->LastDeadline() == t0 + seconds(5));  // the inner source got the overall deadline
  }
  SECTION("TOK-007 when the deadline has already passed") {
    auto r = fetch.Fetch(t0);
    CHECK(r.GetError().code == "TOK-007");
    CHECK(r.GetError().httpStatus == 503);
    CHECK(inner->Calls() == 0);
  }
  SECTION("Cancel() ends a pending delay at once") {
    inner->SetFailure(MakeError("NET-001", "refused"));
    auto future = std::async(std::launch::async, [&] { return fetch.Fetch(t0 + seconds(30)); });
    REQUIRE(clock->WaitForWaiters(1, t0 + seconds(1), milliseconds(10000)));
    fetch.Cancel();
    REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(future.get().GetError().message.find("cancelled") != std::string::npos);
    CHECK(clock->SteadyNow() == t0);
  }
  SECTION("Invalidated() is forwarded") {
    fetch.Invalidated();
    CHECK(inner->Invalidations() == 1);
  }
}

TEST_CASE("ResilientFetch/circuit breaker: TOK-003 while open, probe after the timeout", "[resilience]") {
  auto clock = std::make_shared<ManualClock>();
  auto inner = std::make_shared<FakeTokenSource>(clock);
  auto metrics = std::make_shared<MetricsRegistry>();
  ResilienceConfig c = Exact();
  c.circuitBreakerEnabled = true;
  c.circuitBreakerFailureThreshold = 2;
  c.circuitBreakerTimeoutSeconds = 30;
  c.retryMaxAttempts = 1;
  ResilientFetch fetch(inner, c, clock, "pacs", metrics, 7);
  auto& state = metrics->GetGauge("dicomweb_oauth_circuit_breaker_state", "", {{"server", "pacs"}});
  auto& rejected = metrics->GetCounter("dicomweb_oauth_circuit_breaker_rejections_total", "", {{"server", "pacs"}});
  auto deadline = [&] { return clock->SteadyNow() + seconds(30); };

  inner->SetFailure(MakeError("AUTH-005", "IdP answered 502"));
  CHECK(fetch.Fetch(deadline()).GetError().code == "AUTH-005");
  CHECK(state.Value() == 0);
  CHECK(fetch.Fetch(deadline()).GetError().code == "AUTH-005");
  CHECK(fetch.Circuit() == CircuitState::Open);
  CHECK(state.Value() == 1);

  auto refused = fetch.Fetch(deadline());
  CHECK(refused.GetError().code == "TOK-003");
  CHECK(refused.GetError().httpStatus == 503);
  CHECK(refused.GetError().message ==
        "circuit breaker open for server 'pacs' after AUTH-005: IdP answered 502; next probe in 30 s");
  CHECK(inner->Calls() == 2);  // the IdP was not called
  CHECK(rejected.Value() == 1);

  clock->Advance(seconds(30));
  inner->SetFailure(std::nullopt);
  auto probe = fetch.Fetch(deadline());
  REQUIRE(probe.Ok());
  CHECK(fetch.Circuit() == CircuitState::Closed);
  CHECK(state.Value() == 0);
  CHECK(inner->Calls() == 3);
}

TEST_CASE("CircuitBreaker/the cached token's usable end bounds the open period, one early probe per token",
          "[resilience]") {
  // Found by the soak (docs/PERFORMANCE.md, "Soak"): with 60 s tokens the circuit opened for 60 s
  // as the IdP came back, the cached token expired meanwhile and callers failed until the probe.
  auto clock = std::make_shared<ManualClock>();
  CircuitBreaker b(3, seconds(60), clock);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(b.TryAcquire());
    b.RecordFailure();
  }
  REQUIRE(b.State() == CircuitState::Open);
  const SteadyTime opened = clock->SteadyNow();

  SECTION("plenty of life left: the probe goes out kProbeLead before the token becomes unusable") {
    const SteadyTime usable = opened + seconds(40);
    CHECK(b.RemainingOpen(usable) == seconds(30));
    CHECK(b.RemainingOpen() == seconds(60));  // what a key without a token is told
    clock->Advance(seconds(29));
    CHECK_FALSE(b.TryAcquire(usable));
    CHECK(b.RemainingOpen(usable) == seconds(1));
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire(usable));
    CHECK(b.State() == CircuitState::HalfOpen);
    CHECK_FALSE(b.TryAcquire(usable));  // one probe at a time, as always

    SECTION("its success closes the circuit") {
      b.RecordSuccess();
      CHECK(b.State() == CircuitState::Closed);
    }
    SECTION("its failure opens it for a full period: the same token gives no second early probe") {
      b.RecordFailure();
      CHECK(b.State() == CircuitState::Open);
      CHECK(b.RemainingOpen(usable) == seconds(60));
      for (int i = 0; i < 59; ++i) {
        clock->Advance(seconds(1));
        CHECK_FALSE(b.TryAcquire(usable));
      }
      clock->Advance(seconds(1));
      CHECK(b.TryAcquire(usable));
      b.RecordFailure();
      SECTION("a new token has its own early probe") {
        const SteadyTime next = clock->SteadyNow() + seconds(20);
        CHECK(b.RemainingOpen(next) == seconds(10));
        clock->Advance(seconds(10));
        CHECK(b.TryAcquire(next));
      }
    }
  }
  SECTION("little life left: halfway through what was left when the circuit opened") {
    const SteadyTime usable = opened + seconds(8);
    CHECK(b.RemainingOpen(usable) == seconds(4));
    clock->Advance(seconds(3));
    CHECK_FALSE(b.TryAcquire(usable));
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire(usable));
  }
  SECTION("a token that outlives the open period changes nothing") {
    const SteadyTime usable = opened + seconds(3600);
    CHECK(b.RemainingOpen(usable) == seconds(60));
    clock->Advance(seconds(59));
    CHECK_FALSE(b.TryAcquire(usable));
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire(usable));
  }
  SECTION("without a usable token the configured period holds") {
    const SteadyTime expired = opened + seconds(8);
    clock->Advance(seconds(8));  // the token's usable life ends before its early probe was asked for
    CHECK(b.RemainingOpen(expired) == seconds(52));
    for (int i = 0; i < 51; ++i) {
      clock->Advance(seconds(1));
      CHECK_FALSE(b.TryAcquire(expired));
      CHECK_FALSE(b.TryAcquire());  // no token at all
    }
    clock->Advance(seconds(1));
    CHECK(b.TryAcquire());
  }
}

TEST_CASE("ResilientFetch/the key's cached token reaches the circuit breaker", "[resilience]") {
  auto clock = std::make_shared<ManualClock>();
  auto inner = std::make_shared<FakeTokenSource>(clock);
  ResilienceConfig c = Exact();
  c.circuitBreakerEnabled = true;
  c.circuitBreakerFailureThreshold = 1;
  c.circuitBreakerTimeoutSeconds = 60;
  c.retryMaxAttempts = 1;
  ResilientFetch fetch(inner, c, clock, "pacs", nullptr, 7);
  auto deadline = [&] { return clock->SteadyNow() + seconds(30); };
  fetch.CachedTokenChanged(clock->SteadyNow() + seconds(50));
  inner->SetFailure(MakeError("NET-001", "connection refused"));
  CHECK(fetch.Fetch(deadline()).GetError().code == "NET-001");
  REQUIRE(fetch.Circuit() == CircuitState::Open);
  CHECK(fetch.Fetch(deadline()).GetError().message ==
        "circuit breaker open for server 'pacs' after NET-001: connection refused; next probe in 40 s");

  SECTION("the probe goes out before the token becomes unusable") {
    clock->Advance(seconds(40));
    inner->SetFailure(std::nullopt);
    REQUIRE(fetch.Fetch(deadline()).Ok());
    CHECK(fetch.Circuit() == CircuitState::Closed);
    CHECK(inner->Calls() == 2);
  }
  SECTION("a dropped token leaves the configured period") {
    fetch.CachedTokenChanged(SteadyTime::min());
    clock->Advance(seconds(40));
    CHECK(fetch.Fetch(deadline()).GetError().message ==
          "circuit breaker open for server 'pacs' after NET-001: connection refused; next probe in 20 s");
    CHECK(inner->Calls() == 1);
  }
}
