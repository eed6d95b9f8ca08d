#include "gw/token/RefreshSchedule.h"

#include <algorithm>
#include <cmath>

namespace gw::token {

namespace {
double Clamp01(double v, double hi) { return std::isnan(v) ? 0.0 : std::clamp(v, 0.0, hi); }
}  // namespace

SteadyTime ComputeRefreshAt(SteadyTime obtainedAt, SteadyTime expiresAt, std::optional<SteadyTime> providerHint,
                            const RefreshPolicy& policy, double random01) {
  using std::chrono::duration_cast;
  using Dur = SteadyTime::duration;
  if (expiresAt <= obtainedAt) return obtainedAt;
  const Dur lifetime = expiresAt - obtainedAt;

  if (providerHint && *providerHint < expiresAt) {
    const SteadyTime earliest = obtainedAt + lifetime / 10;
    return std::max(*providerHint, earliest);
  }

  const Dur buffer = duration_cast<Dur>(policy.buffer.count() < 0 ? std::chrono::seconds(0) : policy.buffer);
  const Dur margin = std::min(buffer, lifetime / 2);
  const double fraction = Clamp01(policy.jitterFraction, 0.25);
  const Dur byLifetime = duration_cast<Dur>(std::chrono::duration<double, Dur::period>(
      static_cast<double>(lifetime.count()) * fraction));
  const Dur jitterBound = std::min(byLifetime, duration_cast<Dur>(std::max(policy.maxJitter, std::chrono::seconds(0))));
  const Dur jitter = duration_cast<Dur>(std::chrono::duration<double, Dur::period>(
      static_cast<double>(jitterBound.count()) * Clamp01(random01, 1.0)));
  return expiresAt - margin - jitter;
}

std::chrono::milliseconds ComputeBackoff(uint32_t consecutiveFailures, const BackoffPolicy& policy, double random01) {
  if (consecutiveFailures == 0) return std::chrono::milliseconds(0);
  const double multiplier = std::max(1.0, policy.multiplier);
  const double cap = static_cast<double>(std::max<int64_t>(0, policy.max.count()));
  double delay = static_cast<double>(std::max<int64_t>(0, policy.initial.count()));
  for (uint32_t i = 1; i < consecutiveFailures && delay < cap; ++i) delay *= multiplier;
  delay = std::min(delay, cap);
  delay *= 1.0 - Clamp01(policy.jitterFraction, 1.0) * Clamp01(random01, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(delay));
}

SteadyTime LastChanceBefore(SteadyTime from, SteadyTime usableUntil) {
  return std::max(usableUntil - kLastChanceLead, from + (usableUntil - from) / 2);
}

}  // namespace gw::token
