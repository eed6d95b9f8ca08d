#include "gw/service/RateGate.h"

#include <algorithm>

namespace gw::service {

std::chrono::seconds RateGate::TryPass(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& passes = passes_[key];
  while (!passes.empty() && passes.front() + window_ <= now) passes.pop_front();
  if (passes.size() < maxPasses_) {
    passes.push_back(now);
    return std::chrono::seconds(0);
  }
  // Rounded up: a Retry-After that is too short would only be refused again.
  const auto wait = passes.front() + window_ - now;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(wait);
  return seconds < wait ? seconds + std::chrono::seconds(1) : std::max(seconds, std::chrono::seconds(1));
}

}  // namespace gw::service
