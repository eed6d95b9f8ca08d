#pragma once
// Health of one server's upstream targets as the proxy observes it: a target that failed (no
// connection, timeout, or a 5xx answer) is unhealthy for `cooldown`; after that it is reported
// healthy again, so the next request routed to it is the probe that confirms the recovery or
// marks it down for another cooldown. A success marks it healthy at once.
//
// Thread safety: every method may be called from any thread; lock-free (one atomic per target).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace gw::policy {

class TargetHealth {
 public:
  using Clock = std::chrono::steady_clock;

  TargetHealth(size_t targets, std::chrono::milliseconds cooldown);

  size_t Size() const { return size_; }
  bool Healthy(size_t target, Clock::time_point now = Clock::now()) const;
  void ReportFailure(size_t target, Clock::time_point now = Clock::now());
  void ReportSuccess(size_t target);

  // For the status route: failures reported so far, and when the target was last marked down or
  // back up (wall clock, Unix ms; 0 = never changed since start).
  uint64_t Failures(size_t target) const;
  int64_t LastChangeUnixMs(size_t target) const;

  // Whether an exchange outcome counts as a failure of the upstream: a transport error (no
  // connection, TLS, timeout: PXY-003, PXY-004) or an answer of 500 and above.
  static bool IsUpstreamFailure(bool transportError, long status);

 private:
  size_t size_;
  std::chrono::milliseconds cooldown_;
  std::unique_ptr<std::atomic<int64_t>[]> downUntil_;  // steady-clock ns; 0 = healthy
  std::unique_ptr<std::atomic<uint64_t>[]> failures_;
  std::unique_ptr<std::atomic<int64_t>[]> changedAtMs_;
};

}  // namespace gw::policy
