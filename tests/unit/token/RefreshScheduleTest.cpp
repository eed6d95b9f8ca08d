#include <catch2/catch.hpp>

#include "gw/token/RefreshSchedule.h"

using namespace gw::token;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {
const SteadyTime kT0 = SteadyTime(std::chrono::hours(1000));

seconds RefreshAfter(seconds lifetime, RefreshPolicy policy, double random = 0.0,
                     std::optional<seconds> hint = std::nullopt) {
  std::optional<SteadyTime> hintAt;
  if (hint) hintAt = kT0 + *hint;
  return std::chrono::duration_cast<seconds>(ComputeRefreshAt(kT0, kT0 + lifetime, hintAt, policy, random) - kT0);
}
}  // namespace

TEST_CASE("RefreshSchedule/formula without jitter", "[schedule]") {
  RefreshPolicy p;
  p.jitterFraction = 0;
  SECTION("long token: expiry minus the buffer") { CHECK(RefreshAfter(seconds(3600), p) == seconds(3300)); }
  SECTION("5-minute token with the default 300 s buffer is cached for half its life, not 0 s") {
    CHECK(RefreshAfter(seconds(300), p) == seconds(150));
  }
  SECTION("short tokens: half their life") {
    CHECK(RefreshAfter(seconds(60), p) == seconds(30));
    CHECK(RefreshAfter(seconds(10), p) == seconds(5));
    CHECK(RefreshAfter(seconds(599), p) == seconds(299));  // 599/2 = 299.5 < 300
    CHECK(RefreshAfter(seconds(601), p) == seconds(301));  // buffer wins
  }
  SECTION("buffer 0: refresh at expiry") {
    p.buffer = seconds(0);
    CHECK(RefreshAfter(seconds(600), p) == seconds(600));
  }
  SECTION("token already expired on arrival: refresh now") {
    CHECK(ComputeRefreshAt(kT0, kT0, std::nullopt, p, 0) == kT0);
    CHECK(ComputeRefreshAt(kT0, kT0 - seconds(5), std::nullopt, p, 0) == kT0);
  }
}

TEST_CASE("RefreshSchedule/jitter is bounded and only moves the refresh earlier", "[schedule]") {
  RefreshPolicy p;  // 5 %, at most 30 s
  SECTION("5 % of a 5-minute lifetime: within [135 s, 150 s]") {
    CHECK(RefreshAfter(seconds(300), p, 0.0) == seconds(150));
    auto latest = ComputeRefreshAt(kT0, kT0 + seconds(300), std::nullopt, p, 0.0);
    auto earliest = ComputeRefreshAt(kT0, kT0 + seconds(300), std::nullopt, p, 0.999999);
    CHECK(latest - earliest <= seconds(15));
    CHECK(latest - earliest > seconds(14));
    CHECK(RefreshAfter(seconds(300), p, 0.5) == seconds(142));  // 150 - 7.5, truncated to whole seconds
  }
  SECTION("capped at maxJitter for long tokens") {
    auto latest = ComputeRefreshAt(kT0, kT0 + seconds(3600), std::nullopt, p, 0.0);
    auto earliest = ComputeRefreshAt(kT0, kT0 + seconds(3600), std::nullopt, p, 0.999999);
    CHECK(latest - earliest <= seconds(30));
    CHECK(latest - earliest > seconds(29));
  }
  SECTION("absurd fractions are clamped") {
    p.jitterFraction = 7.0;
    p.maxJitter = seconds(100000);
    // clamped to 25 %: never before 150 - 75 s for a 300 s token
    CHECK(RefreshAfter(seconds(300), p, 0.999999) >= seconds(75));
  }
}

TEST_CASE("RefreshSchedule/provider hint (refresh_in, refresh_on)", "[schedule]") {
  RefreshPolicy p;
  p.jitterFraction = 0;
  SECTION("honoured as given") { CHECK(RefreshAfter(seconds(3600), p, 0.9, seconds(1800)) == seconds(1800)); }
  SECTION("a hint at or after expiry is ignored") {
    CHECK(RefreshAfter(seconds(3600), p, 0, seconds(3600)) == seconds(3300));
    CHECK(RefreshAfter(seconds(3600), p, 0, seconds(9000)) == seconds(3300));
  }
  SECTION("a hint earlier than a tenth of the lifetime is raised, never a fetch per call") {
    CHECK(RefreshAfter(seconds(3600), p, 0, seconds(0)) == seconds(360));
    CHECK(RefreshAfter(seconds(3600), p, 0, seconds(-100)) == seconds(360));
  }
}

TEST_CASE("RefreshSchedule/back-off after failed fetches", "[schedule]") {
  BackoffPolicy b;
  b.jitterFraction = 0;
  SECTION("exponential from 1 s, capped at 60 s") {
    std::vector<int64_t> got;
    for (uint32_t n = 0; n <= 9; ++n) got.push_back(ComputeBackoff(n, b, 0).count());
    CHECK(got == std::vector<int64_t>{0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000});
    CHECK(ComputeBackoff(4000000000u, b, 0) == milliseconds(60000));
  }
  SECTION("jitter removes at most its fraction") {
    b.jitterFraction = 0.2;
    CHECK(ComputeBackoff(3, b, 0.0) == milliseconds(4000));
    CHECK(ComputeBackoff(3, b, 0.5) == milliseconds(3600));
    CHECK(ComputeBackoff(3, b, 0.999999) >= milliseconds(3200));
  }
  SECTION("multiplier below 1 is treated as 1") {
    b.multiplier = 0.5;
    CHECK(ComputeBackoff(5, b, 0) == milliseconds(1000));
  }
}
