#include "gw/token/CircuitBreaker.h"

#include <algorithm>

#include "gw/token/RefreshSchedule.h"

namespace gw::token {

const char* ToString(CircuitState state) {
  switch (state) {
    case CircuitState::Closed: return "closed";
    case CircuitState::Open: return "open";
    case CircuitState::HalfOpen: return "half-open";
  }
  return "?";
}

CircuitBreaker::CircuitBreaker(int failureThreshold, std::chrono::milliseconds openDuration,
                               std::shared_ptr<IClock> clock)
    : threshold_(static_cast<uint32_t>(std::max(1, failureThreshold))),
      openDuration_(std::max(std::chrono::milliseconds(0), openDuration)),
      clock_(std::move(clock)) {}

std::optional<SteadyTime> CircuitBreaker::EarlyProbeAtLocked(SteadyTime now, SteadyTime cachedUsableUntil) const {
  if (cachedUsableUntil <= now || cachedUsableUntil == earlyProbeSpentFor_) return std::nullopt;
  return LastChanceBefore(openedAt_, cachedUsableUntil);
}

bool CircuitBreaker::TryAcquire(SteadyTime cachedUsableUntil) {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (state_) {
    case CircuitState::Closed:
      return true;
    case CircuitState::Open: {
      const SteadyTime now = clock_->SteadyNow();
      // Durations, not openedAt_ + openDuration_: a huge CircuitBreakerTimeout must not overflow.
      if (now - openedAt_ < openDuration_) {
        const std::optional<SteadyTime> early = EarlyProbeAtLocked(now, cachedUsableUntil);
        if (!early || now < *early) return false;
        earlyProbeSpentFor_ = cachedUsableUntil;
      }
      state_ = CircuitState::HalfOpen;
      probeOut_ = true;
      return true;
    }
    case CircuitState::HalfOpen:
      if (probeOut_) return false;
      probeOut_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::RecordSuccess() {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_ = 0;
  probeOut_ = false;
  state_ = CircuitState::Closed;
}

void CircuitBreaker::RecordFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failures_;
  if (state_ == CircuitState::HalfOpen || failures_ >= threshold_) {
    state_ = CircuitState::Open;
    openedAt_ = clock_->SteadyNow();
  }
  probeOut_ = false;
}

CircuitState CircuitBreaker::State() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

uint32_t CircuitBreaker::ConsecutiveFailures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

std::chrono::milliseconds CircuitBreaker::RemainingOpen(SteadyTime cachedUsableUntil) const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != CircuitState::Open) return milliseconds(0);
  const SteadyTime now = clock_->SteadyNow();
  milliseconds left = openDuration_ - duration_cast<milliseconds>(now - openedAt_);
  if (const std::optional<SteadyTime> early = EarlyProbeAtLocked(now, cachedUsableUntil)) {
    left = std::min(left, duration_cast<milliseconds>(*early - now));
  }
  return std::max(milliseconds(0), left);
}

}  // namespace gw::token
