#pragma once
// ITokenSource decorator that applies a server's config::ResilienceConfig to another source:
//  - one overall deadline per acquisition: min(caller's deadline, now + AcquisitionTimeout);
//  - retries only what ClassifyFailure() calls transient (NET-001/2/3/5, AUTH-005 for an IdP
//    429/5xx, TOK-004, LUA-004), with RetryPolicy's delays, and never bad credentials (AUTH-001)
//    or anything unknown; an error that is not retried is returned unchanged, the last error of
//    an exhausted series gets " (after N attempts)" appended;
//  - a circuit breaker (when enabled) counted per acquisition attempt; while it is open Fetch()
//    returns TOK-003 at once, naming the last failure and when the next probe is allowed; the
//    key's cached token, as CachedTokenChanged() reports it, bounds the open period
//    (CircuitBreaker.h: the probe goes out before that token becomes unusable);
//  - TOK-007 when the deadline is reached before an attempt could start;
//  - Cancel() ends a pending delay at once (shutdown) and is forwarded to the inner source.
// Metrics (when a registry is given): dicomweb_oauth_retry_attempts_total{server},
// dicomweb_oauth_circuit_breaker_state{server} (0 closed, 1 open, 2 half-open),
// dicomweb_oauth_circuit_breaker_rejections_total{server}.
// Thread safety: as ITokenSource; concurrent Fetch() calls are also safe.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "gw/common/Metrics.h"
#include "gw/config/ResilienceConfig.h"
#include "gw/token/CircuitBreaker.h"
#include "gw/token/ITokenSource.h"
#include "gw/token/RetryPolicy.h"

namespace gw::token {

class ResilientFetch final : public ITokenSource {
 public:
  // `server` names the server in messages and metric labels. `metrics` may be null.
  // `seed` 0: random jitter; other values: reproducible jitter (tests).
  ResilientFetch(std::shared_ptr<ITokenSource> inner, const config::ResilienceConfig& config, std::shared_ptr<IClock> clock,
                 std::string server, std::shared_ptr<MetricsRegistry> metrics = nullptr, uint64_t seed = 0);

  Result<TokenRecord> Fetch(SteadyTime deadline) override;
  void Invalidated() override;
  void CachedTokenChanged(SteadyTime usableUntil) override;
  void Cancel() override;

  CircuitState Circuit() const;  // Closed when the breaker is disabled
  const RetryPolicy& Policy() const { return policy_; }

 private:
  double Random01();
  void PublishCircuitState();
  // Sleeps until `until` on the clock; false if cancelled.
  bool SleepUntil(SteadyTime until);

  const std::shared_ptr<ITokenSource> inner_;
  const config::ResilienceConfig config_;
  const RetryPolicy policy_;
  const std::shared_ptr<IClock> clock_;
  const std::string server_;
  const std::shared_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<CircuitBreaker> breaker_;  // null when disabled

  Counter* retries_ = nullptr;
  Counter* rejections_ = nullptr;
  Gauge* circuitGauge_ = nullptr;

  std::mutex mutex_;  // guards rng_, lastFailure_, and the sleep below
  std::condition_variable sleepCv_;
  std::mt19937_64 rng_;
  std::optional<Error> lastFailure_;
  std::atomic<bool> cancelled_{false};
  // The key's cached token's usable end (SteadyTime's count; min: none). Atomic: it is set with the
  // key's lock held, and must never wait for a Fetch() in progress.
  std::atomic<SteadyTime::rep> cachedUsableUntil_{SteadyTime::min().time_since_epoch().count()};
};

}  // namespace gw::token
