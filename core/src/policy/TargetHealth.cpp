#include "gw/policy/TargetHealth.h"

namespace gw::policy {
namespace {

int64_t Ns(TargetHealth::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TargetHealth::TargetHealth(size_t targets, std::chrono::milliseconds cooldown)
    : size_(targets),
      cooldown_(cooldown),
      downUntil_(new std::atomic<int64_t>[targets]),
      failures_(new std::atomic<uint64_t>[targets]),
      changedAtMs_(new std::atomic<int64_t>[targets]) {
  for (size_t i = 0; i < size_; ++i) {
    downUntil_[i].store(0);
    failures_[i].store(0);
    changedAtMs_[i].store(0);
  }
}

bool TargetHealth::Healthy(size_t target, Clock::time_point now) const {
  if (target >= size_) return false;
  const int64_t until = downUntil_[target].load(std::memory_order_relaxed);
  return until == 0 || Ns(now) >= until;
}

void TargetHealth::ReportFailure(size_t target, Clock::time_point now) {
  if (target >= size_) return;
  const int64_t was = downUntil_[target].exchange(Ns(now + cooldown_), std::memory_order_relaxed);
  failures_[target].fetch_add(1, std::memory_order_relaxed);
  if (was == 0) changedAtMs_[target].store(NowUnixMs(), std::memory_order_relaxed);
}

void TargetHealth::ReportSuccess(size_t target) {
  if (target >= size_) return;
  // Called for every successful exchange: read first, so a healthy target's line is never written.
  if (downUntil_[target].load(std::memory_order_relaxed) != 0 &&
      downUntil_[target].exchange(0, std::memory_order_relaxed) != 0) {
    changedAtMs_[target].store(NowUnixMs(), std::memory_order_relaxed);
  }
}

uint64_t TargetHealth::Failures(size_t target) const {
  return target < size_ ? failures_[target].load(std::memory_order_relaxed) : 0;
}

int64_t TargetHealth::LastChangeUnixMs(size_t target) const {
  return target < size_ ? changedAtMs_[target].load(std::memory_order_relaxed) : 0;
}

bool TargetHealth::IsUpstreamFailure(bool transportError, long status) { return transportError || status >= 500; }

}  // namespace gw::policy
