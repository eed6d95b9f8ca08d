#pragma once
// `ResilienceConfig` of a server, with the keys and defaults of the Python plugin
// (orthanc-dicomweb-oauth): circuit breaker off, threshold 5, open for 60 s; 3 attempts,
// exponential from 1 s doubling, linear increment 1 s, no delay cap. Two additions:
// RetryJitter (fraction of each delay removed at random, so replicas do not retry in step) and
// AcquisitionTimeout (one deadline for a whole acquisition, retries and delays included).
// The configuration module fills this struct from JSON; Check() tells what is out of range.
#include <optional>
#include <string>
#include <string_view>

namespace gw::token {

enum class RetryStrategy { Fixed, Linear, Exponential };
const char* ToString(RetryStrategy strategy);  // "fixed" | "linear" | "exponential"
// Case-insensitive; false if unknown.
bool ParseRetryStrategy(std::string_view text, RetryStrategy& out);

struct ResilienceConfig {
  bool circuitBreakerEnabled = false;         // CircuitBreakerEnabled
  int circuitBreakerFailureThreshold = 5;     // CircuitBreakerFailureThreshold (>= 1)
  double circuitBreakerTimeout = 60.0;        // CircuitBreakerTimeout, seconds (>= 0)
  int retryMaxAttempts = 3;                   // RetryMaxAttempts: attempts in total, first included (>= 1)
  RetryStrategy retryStrategy = RetryStrategy::Exponential;  // RetryStrategy
  double retryInitialDelay = 1.0;             // RetryInitialDelay, seconds (>= 0)
  double retryMultiplier = 2.0;               // RetryMultiplier (>= 1), exponential only
  std::optional<double> retryMaxDelay;        // RetryMaxDelay, seconds (>= 0); caps every strategy
  double retryIncrement = 1.0;                // RetryIncrement, seconds (>= 0), linear only
  double retryJitter = 0.1;                   // RetryJitter, fraction in [0, 1]
  double acquisitionTimeout = 30.0;           // AcquisitionTimeout, seconds (> 0)

  // Empty when every value is in range; otherwise the first problem, naming the JSON key
  // (e.g. "RetryMultiplier must be >= 1"), for the configuration module to wrap in a CFG error.
  std::string Check() const;
};

}  // namespace gw::token
