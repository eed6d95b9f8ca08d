#pragma once
// Circuit breaker for one IdP (one key): after `failureThreshold` consecutive failed acquisitions
// it opens and refuses calls for `openDuration`; then it lets exactly one probe through
// (half-open). The probe's success closes it, its failure opens it again for a full period.
//
//   Closed --threshold consecutive failures--> Open --openDuration elapsed, TryAcquire--> HalfOpen
//   HalfOpen --probe succeeds--> Closed          HalfOpen --probe fails--> Open
//
// Every caller granted by TryAcquire() must report RecordSuccess() or RecordFailure().
// The numeric values match the Python plugin's dicomweb_oauth_circuit_breaker_state gauge.
// Thread safe.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "gw/token/IClock.h"

namespace gw::token {

enum class CircuitState { Closed = 0, Open = 1, HalfOpen = 2 };
const char* ToString(CircuitState state);  // "closed" | "open" | "half-open"

class CircuitBreaker {
 public:
  CircuitBreaker(int failureThreshold, std::chrono::milliseconds openDuration, std::shared_ptr<IClock> clock);

  // True: make the call, then report its outcome. False: refused (open, or a probe is out).
  bool TryAcquire();
  void RecordSuccess();
  void RecordFailure();

  CircuitState State() const;
  uint32_t ConsecutiveFailures() const;
  // While open: time left before a probe is allowed; otherwise 0.
  std::chrono::milliseconds RemainingOpen() const;

 private:
  const uint32_t threshold_;
  const std::chrono::milliseconds openDuration_;
  const std::shared_ptr<IClock> clock_;
  mutable std::mutex mutex_;
  CircuitState state_ = CircuitState::Closed;
  uint32_t failures_ = 0;
  SteadyTime openedAt_{};
  bool probeOut_ = false;
};

}  // namespace gw::token
