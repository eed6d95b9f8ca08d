#pragma once
// Delays between attempts of one acquisition, from a server's config::ResilienceConfig. `attempt` counts failed
// attempts from 0, as the Python plugin does: the delay after the first failure is
//   fixed:        RetryInitialDelay
//   linear:       RetryInitialDelay + attempt * RetryIncrement
//   exponential:  RetryInitialDelay * RetryMultiplier^attempt
// then capped by RetryMaxDelay (the Python plugin capped only the exponential strategy; a cap that
// applies to all is what operators expect from the key's name) and by one day. Jitter removes up to
// RetryJitter of the delay at random, so the delay never exceeds the configured value.
// Immutable and thread safe.
#include <chrono>

#include "gw/config/ResilienceConfig.h"

namespace gw::token {

class RetryPolicy {
 public:
  explicit RetryPolicy(const config::ResilienceConfig& config);

  int MaxAttempts() const { return maxAttempts_; }
  std::chrono::milliseconds BaseDelay(int attempt) const;
  // `random01` in [0, 1): base * (1 - RetryJitter * random01).
  std::chrono::milliseconds Delay(int attempt, double random01) const;

 private:
  int maxAttempts_;
  config::RetryStrategy strategy_;
  double initial_;
  double multiplier_;
  double increment_;
  double maxDelay_;
  double jitter_;
};

}  // namespace gw::token
