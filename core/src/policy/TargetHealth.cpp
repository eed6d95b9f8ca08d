#include "gw/policy/TargetHealth.h"

namespace gw::policy {
namespace {

int64_t Ns(TargetHealth::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

TargetHealth::TargetHealth(size_t targets, std::chrono::milliseconds cooldown)
    : size_(targets), cooldown_(cooldown), downUntil_(new std::atomic<int64_t>[targets]) {
  for (size_t i = 0; i < size_; ++i) downUntil_[i].store(0);
}

bool TargetHealth::Healthy(size_t target, Clock::time_point now) const {
  if (target >= size_) return false;
  const int64_t until = downUntil_[target].load(std::memory_order_relaxed);
  return until == 0 || Ns(now) >= until;
}

void TargetHealth::ReportFailure(size_t target, Clock::time_point now) {
  if (target < size_) downUntil_[target].store(Ns(now + cooldown_), std::memory_order_relaxed);
}

void TargetHealth::ReportSuccess(size_t target) {
  if (target < size_) downUntil_[target].store(0, std::memory_order_relaxed);
}

bool TargetHealth::IsUpstreamFailure(bool transportError, long status) { return transportError || status >= 500; }

}  // namespace gw::policy
