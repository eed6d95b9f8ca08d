#include "gw/token/RetryPolicy.h"

#include <algorithm>
#include <cmath>

namespace gw::token {

namespace {
// Upper bound of any single delay: one day. Keeps the arithmetic finite for absurd inputs.
constexpr double kMaxSeconds = 86400.0;
}  // namespace

RetryPolicy::RetryPolicy(const config::ResilienceConfig& c)
    : maxAttempts_(std::max(1, c.retryMaxAttempts)),
      strategy_(c.retryStrategy),
      initial_(std::max(0.0, c.retryInitialDelaySeconds)),
      multiplier_(std::max(1.0, c.retryMultiplier)),
      increment_(std::max(0.0, c.retryIncrementSeconds)),
      maxDelay_(std::max(0.0, c.retryMaxDelaySeconds)),
      jitter_(std::clamp(c.retryJitter, 0.0, 1.0)) {}

std::chrono::milliseconds RetryPolicy::BaseDelay(int attempt) const {
  attempt = std::max(0, attempt);
  double seconds = initial_;
  switch (strategy_) {
    case config::RetryStrategy::Fixed: break;
    case config::RetryStrategy::Linear: seconds = initial_ + attempt * increment_; break;
    case config::RetryStrategy::Exponential: seconds = initial_ * std::pow(multiplier_, attempt); break;
  }
  if (!std::isfinite(seconds)) seconds = kMaxSeconds;
  seconds = std::min({seconds, maxDelay_, kMaxSeconds});
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

std::chrono::milliseconds RetryPolicy::Delay(int attempt, double random01) const {
  const double base = static_cast<double>(BaseDelay(attempt).count());
  const double r = std::isnan(random01) ? 0.0 : std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(base * (1.0 - jitter_ * r)));
}

}  // namespace gw::token
