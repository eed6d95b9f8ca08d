#include <catch2/catch.hpp>

#include "gw/policy/TargetHealth.h"

using gw::policy::TargetHealth;

TEST_CASE("TargetHealth/failure, cooldown, probe, success", "[policy]") {
  TargetHealth health(2, std::chrono::milliseconds(1000));
  const auto t0 = TargetHealth::Clock::now();
  CHECK(health.Healthy(0, t0));
  CHECK(health.Healthy(1, t0));
  CHECK_FALSE(health.Healthy(2, t0));  // out of range: never healthy

  health.ReportFailure(0, t0);
  CHECK_FALSE(health.Healthy(0, t0));
  CHECK_FALSE(health.Healthy(0, t0 + std::chrono::milliseconds(999)));
  CHECK(health.Healthy(1, t0));
  // After the cooldown the target is offered again: the next request is the probe.
  CHECK(health.Healthy(0, t0 + std::chrono::milliseconds(1000)));
  // A failed probe starts another cooldown.
  health.ReportFailure(0, t0 + std::chrono::milliseconds(1000));
  CHECK_FALSE(health.Healthy(0, t0 + std::chrono::milliseconds(1500)));
  health.ReportSuccess(0);
  CHECK(health.Healthy(0, t0 + std::chrono::milliseconds(1500)));
}

TEST_CASE("TargetHealth/what counts as an upstream failure", "[policy]") {
  CHECK(TargetHealth::IsUpstreamFailure(true, 0));
  CHECK(TargetHealth::IsUpstreamFailure(false, 500));
  CHECK(TargetHealth::IsUpstreamFailure(false, 503));
  CHECK_FALSE(TargetHealth::IsUpstreamFailure(false, 200));
  CHECK_FALSE(TargetHealth::IsUpstreamFailure(false, 404));
  CHECK_FALSE(TargetHealth::IsUpstreamFailure(false, 409));
  CHECK_FALSE(TargetHealth::IsUpstreamFailure(false, 401));
}

TEST_CASE("TargetHealth/failures counted, change time only on a change", "[policy]") {
  TargetHealth health(2, std::chrono::milliseconds(1000));
  CHECK(health.Failures(0) == 0);
  CHECK(health.LastChangeUnixMs(0) == 0);
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  health.ReportFailure(0);
  const int64_t down = health.LastChangeUnixMs(0);
  CHECK(down >= before);
  health.ReportFailure(0);  // still down: counted, not a change
  CHECK(health.Failures(0) == 2);
  CHECK(health.LastChangeUnixMs(0) == down);
  health.ReportSuccess(1);  // healthy all along: not a change
  CHECK(health.LastChangeUnixMs(1) == 0);
  health.ReportSuccess(0);
  CHECK(health.LastChangeUnixMs(0) >= down);
  CHECK(health.Failures(0) == 2);
  CHECK(health.Failures(5) == 0);  // out of range
  CHECK(health.LastChangeUnixMs(5) == 0);
}
