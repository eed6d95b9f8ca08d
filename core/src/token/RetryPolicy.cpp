#include "gw/token/RetryPolicy.h"

#include <algorithm>
#include <cmath>

namespace gw::token {

namespace {
// Upper bound of any single delay: one day. Keeps the arithmetic finite for absurd inputs.
constexpr double kMaxSeconds = 86400.0;
}  // namespace

RetryPolicy::RetryPolicy(const ResilienceConfig& c)
    : maxAttempts_(std::max(1, c.retryMaxAttempts)),
      strategy_(c.retryStrategy),
      initial_(std::max(0.0, c.retryInitialDelay)),
      multiplier_(std::max(1.0, c.retryMultiplier)),
      increment_(std::max(0.0, c.retryIncrement)),
      maxDelay_(c.retryMaxDelay ? std::max(0.0, *c.retryMaxDelay) : -1.0),
      jitter_(std::clamp(c.retryJitter, 0.0, 1.0)) {}

std::chrono::milliseconds RetryPolicy::BaseDelay(int attempt) const {
  attempt = std::max(0, attempt);
  double seconds = initial_;
  switch (strategy_) {
    case RetryStrategy::Fixed: break;
    case RetryStrategy::Linear: seconds = initial_ + attempt * increment_; break;
    case RetryStrategy::Exponential: seconds = initial_ * std::pow(multiplier_, attempt); break;
  }
  if (!std::isfinite(seconds)) seconds = kMaxSeconds;
  if (maxDelay_ >= 0) seconds = std::min(seconds, maxDelay_);
  seconds = std::min(seconds, kMaxSeconds);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

std::chrono::milliseconds RetryPolicy::Delay(int attempt, double random01) const {
  const double base = static_cast<double>(BaseDelay(attempt).count());
  const double r = std::isnan(random01) ? 0.0 : std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(base * (1.0 - jitter_ * r)));
}

}  // namespace gw::token
