#pragma once
// Circuit breaker for one IdP (one key): after `failureThreshold` consecutive failed acquisitions
// it opens and refuses calls for `openDuration`; then it lets exactly one probe through
// (half-open). The probe's success closes it, its failure opens it again for a full period.
//
//   Closed --threshold consecutive failures--> Open --openDuration elapsed, TryAcquire--> HalfOpen
//   HalfOpen --probe succeeds--> Closed          HalfOpen --probe fails--> Open
//
// The key's cached token bounds the open period. Callers pass the instant its usable life ends
// (`cachedUsableUntil`, U; SteadyTime::min() when the key holds no token). While now < U, the
// probe is let through at
//   min(openedAt + openDuration, max(U - kProbeLead, openedAt + (U - openedAt) / 2))
// i.e. kProbeLead before the token becomes unusable, or halfway through what was left of it when
// the circuit opened if that is later (a circuit that opens late in a token's life still waits
// for the IdP a while). An open period that ended past U let the token expire while the IdP
// may already have been back: callers failed until the probe (the soak, docs/PERFORMANCE.md).
// What the breaker protects stays: one early probe per token (the token's U is remembered;
// a failed early probe opens the circuit for a full period like any failed probe, and that
// token gives no second one), and without a usable token the configured period holds.
//
// Every caller granted by TryAcquire() must report RecordSuccess() or RecordFailure().
// The numeric values match the Python plugin's dicomweb_oauth_circuit_breaker_state gauge.
// Thread safe.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "gw/token/IClock.h"
#include "gw/token/RefreshSchedule.h"

namespace gw::token {

enum class CircuitState { Closed = 0, Open = 1, HalfOpen = 2 };
const char* ToString(CircuitState state);  // "closed" | "open" | "half-open"

class CircuitBreaker {
 public:
  // How long before the cached token becomes unusable its early probe is let through
  // (LastChanceBefore, gw/token/RefreshSchedule.h).
  static constexpr std::chrono::seconds kProbeLead = kLastChanceLead;

  CircuitBreaker(int failureThreshold, std::chrono::milliseconds openDuration, std::shared_ptr<IClock> clock);

  // True: make the call, then report its outcome. False: refused (open, or a probe is out).
  bool TryAcquire(SteadyTime cachedUsableUntil = SteadyTime::min());
  void RecordSuccess();
  void RecordFailure();

  CircuitState State() const;
  uint32_t ConsecutiveFailures() const;
  // While open: time left before a probe is allowed; otherwise 0.
  std::chrono::milliseconds RemainingOpen(SteadyTime cachedUsableUntil = SteadyTime::min()) const;

 private:
  // While open: when the cached token lets the probe through early (nullopt: no usable token, or
  // its early probe was spent). Caller holds mutex_.
  std::optional<SteadyTime> EarlyProbeAtLocked(SteadyTime now, SteadyTime cachedUsableUntil) const;

  const uint32_t threshold_;
  const std::chrono::milliseconds openDuration_;
  const std::shared_ptr<IClock> clock_;
  mutable std::mutex mutex_;
  CircuitState state_ = CircuitState::Closed;
  uint32_t failures_ = 0;
  SteadyTime openedAt_{};
  bool probeOut_ = false;
  // U of the token whose early probe was granted: that token gives no second one.
  SteadyTime earlyProbeSpentFor_ = SteadyTime::min();
};

}  // namespace gw::token
