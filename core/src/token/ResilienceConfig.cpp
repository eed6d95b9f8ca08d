#include "gw/token/ResilienceConfig.h"

#include <cmath>

namespace gw::token {

const char* ToString(RetryStrategy strategy) {
  switch (strategy) {
    case RetryStrategy::Fixed: return "fixed";
    case RetryStrategy::Linear: return "linear";
    case RetryStrategy::Exponential: return "exponential";
  }
  return "?";
}

bool ParseRetryStrategy(std::string_view text, RetryStrategy& out) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lower == "fixed") out = RetryStrategy::Fixed;
  else if (lower == "linear") out = RetryStrategy::Linear;
  else if (lower == "exponential") out = RetryStrategy::Exponential;
  else return false;
  return true;
}

std::string ResilienceConfig::Check() const {
  auto bad = [](double v) { return !std::isfinite(v); };
  if (circuitBreakerFailureThreshold < 1) return "CircuitBreakerFailureThreshold must be >= 1";
  if (bad(circuitBreakerTimeout) || circuitBreakerTimeout < 0) return "CircuitBreakerTimeout must be >= 0";
  if (retryMaxAttempts < 1) return "RetryMaxAttempts must be >= 1";
  if (bad(retryInitialDelay) || retryInitialDelay < 0) return "RetryInitialDelay must be >= 0";
  if (bad(retryMultiplier) || retryMultiplier < 1) return "RetryMultiplier must be >= 1";
  if (retryMaxDelay && (bad(*retryMaxDelay) || *retryMaxDelay < 0)) return "RetryMaxDelay must be >= 0";
  if (bad(retryIncrement) || retryIncrement < 0) return "RetryIncrement must be >= 0";
  if (bad(retryJitter) || retryJitter < 0 || retryJitter > 1) return "RetryJitter must be between 0 and 1";
  if (bad(acquisitionTimeout) || acquisitionTimeout <= 0) return "AcquisitionTimeout must be > 0";
  return {};
}

}  // namespace gw::token
