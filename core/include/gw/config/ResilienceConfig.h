#pragma once
// `ResilienceConfig` of a server: the keys of the Python plugin (orthanc-dicomweb-oauth) plus
// AcquisitionTimeout; times in seconds. The one definition of these settings: ConfigParser fills
// it from JSON and checks every range (docs/configuration.md), the token engine (RetryPolicy,
// ResilientFetch) applies it as given. Plain data, safe to copy and share between threads.
namespace gw::config {

enum class RetryStrategy { Fixed, Linear, Exponential };
const char* ToString(RetryStrategy value);  // "fixed" | "linear" | "exponential"

struct ResilienceConfig {
  bool circuitBreakerEnabled = true;              // CircuitBreakerEnabled
  int circuitBreakerFailureThreshold = 5;         // CircuitBreakerFailureThreshold: consecutive failures
  double circuitBreakerTimeoutSeconds = 60.0;     // CircuitBreakerTimeout: open this long, then one probe
  int retryMaxAttempts = 3;                       // RetryMaxAttempts: attempts in total, first included
  RetryStrategy retryStrategy = RetryStrategy::Exponential;  // RetryStrategy
  double retryInitialDelaySeconds = 1.0;          // RetryInitialDelay
  double retryMultiplier = 2.0;                   // RetryMultiplier, exponential only
  double retryMaxDelaySeconds = 30.0;             // RetryMaxDelay: caps every strategy
  double retryIncrementSeconds = 1.0;             // RetryIncrement, linear only
  double acquisitionTimeoutSeconds = 30.0;        // AcquisitionTimeout (gw): one deadline per acquisition,
                                                  // retries and delays included
  // Fraction of each delay removed at random, so replicas do not retry in step. Not a
  // configuration key: always 0.1 in the gateway; tests set 0 for exact delays.
  double retryJitter = 0.1;
};

}  // namespace gw::config
