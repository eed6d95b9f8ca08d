// RateLimitRequests / RateLimitWindowSeconds (docs/operations.md#rate-limits): parsed since the
// start but never enforced. ServerRateLimiter gives every server its own budget per stage.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "config/ConfigTestSupport.h"
#include "gw/common/Metrics.h"
#include "gw/service/RateGate.h"

using namespace gw::config::test;
using gw::service::RateGate;
using gw::service::ServerRateLimiter;
using std::chrono::seconds;

namespace {

gw::config::GatewayConfig TwoServers(const std::string& global) {
  const std::string text = R"({"DicomWebOAuth": {)" + global + R"(, "Servers": {"busy": )" + BaseServer() +
                           R"(, "quiet": )" + BaseServer() + "}}}";
  const auto parsed = ParseJson(text);
  INFO(Dump(parsed.diagnostics));
  REQUIRE(parsed.config.has_value());
  return *parsed.config;
}

double Series(const gw::MetricsRegistry& metrics, const std::string& server, const std::string& stage) {
  for (const auto& family : metrics.Collect()) {
    if (family.name != "dicomweb_oauth_rate_limited_total") continue;
    for (const auto& sample : family.samples) {
      const gw::MetricLabels want = {{"server", server}, {"stage", stage}};
      if (sample.labels == want) return sample.value;
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("RateLimit: RateLimitRequests was parsed but never enforced", "[service][ratelimit]") {
  gw::MetricsRegistry metrics;
  auto limiter = ServerRateLimiter::Create(TwoServers(R"("RateLimitRequests": 3, "RateLimitWindowSeconds": 60)"),
                                           ServerRateLimiter::Stage::Upstream, &metrics);
  REQUIRE(limiter);
  const auto t0 = RateGate::Clock::time_point() + seconds(5000);
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter->TryPass("busy", t0 + seconds(i)));

  const auto refused = limiter->TryPass("busy", t0 + seconds(20));
  REQUIRE(refused);
  CHECK(refused->error.code == "PXY-015");
  CHECK(refused->error.httpStatus == 503);  // 429 as Orthanc 1.10.1 can send it (StatusMap.h)
  CHECK(refused->retryAfter == seconds(40));  // when the first pass leaves the window
  CHECK(refused->error.message.find("'busy'") != std::string::npos);
  CHECK(refused->error.message.find("upstream stage") != std::string::npos);
  CHECK(refused->error.message.find("retry in 40 s") != std::string::npos);

  // The other server keeps its whole budget; a refusal takes none.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(limiter->TryPass("quiet", t0 + seconds(20)));
  CHECK(limiter->TryPass("quiet", t0 + seconds(20)));
  CHECK_FALSE(limiter->TryPass("busy", t0 + seconds(60)));  // the first pass has left the window

  CHECK(limiter->Refused("busy") == 1);
  CHECK(limiter->Refused("quiet") == 1);
  CHECK(Series(metrics, "busy", "upstream") == 1);
  CHECK(Series(metrics, "quiet", "upstream") == 1);
  // A server that is not configured is not the limiter's to refuse.
  for (int i = 0; i < 10; ++i) CHECK_FALSE(limiter->TryPass("elsewhere", t0));
}

TEST_CASE("RateLimit: no limiter without RateLimitRequests, series from the start with one", "[service][ratelimit]") {
  gw::MetricsRegistry metrics;
  CHECK_FALSE(ServerRateLimiter::Create(TwoServers(R"("RateLimitWindowSeconds": 10)"), ServerRateLimiter::Stage::Client,
                                        &metrics));
  auto limiter = ServerRateLimiter::Create(TwoServers(R"("RateLimitRequests": 1)"), ServerRateLimiter::Stage::Client,
                                           &metrics);
  REQUIRE(limiter);
  // Every server's series exists (at 0) before any refusal, so alerts can rate() it.
  CHECK(Series(metrics, "busy", "client") == 0);
  CHECK(Series(metrics, "quiet", "client") == 0);
  const auto t0 = RateGate::Clock::time_point() + seconds(100);
  CHECK_FALSE(limiter->TryPass("busy", t0));
  const auto refused = limiter->TryPass("busy", t0 + std::chrono::milliseconds(100));
  REQUIRE(refused);
  CHECK(refused->retryAfter == seconds(60));  // the default window, 59.9 s rounded up
  CHECK(refused->error.message.find("client stage") != std::string::npos);
  CHECK(Series(metrics, "busy", "client") == 1);
}

TEST_CASE("RateLimit: concurrent requests never exceed a server's budget", "[service][ratelimit]") {
  auto limiter = ServerRateLimiter::Create(TwoServers(R"("RateLimitRequests": 50, "RateLimitWindowSeconds": 3600)"),
                                           ServerRateLimiter::Stage::Upstream, nullptr);
  REQUIRE(limiter);
  std::atomic<int> busy{0}, quiet{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (!limiter->TryPass(t % 2 ? "busy" : "quiet")) ++(t % 2 ? busy : quiet);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(busy == 50);
  CHECK(quiet == 50);
  CHECK(limiter->Refused("busy") == 350);
  CHECK(limiter->Refused("quiet") == 350);
}

TEST_CASE("RateLimit: a gate with a fixed key set lets other keys through", "[service][ratelimit]") {
  RateGate gate(1, seconds(60), {"a"});
  const auto t0 = RateGate::Clock::time_point() + seconds(100);
  CHECK(gate.TryPass("a", t0) == seconds(0));
  CHECK(gate.TryPass("a", t0) == seconds(60));
  CHECK(gate.TryPass("b", t0) == seconds(0));
  CHECK(gate.TryPass("b", t0) == seconds(0));
}
