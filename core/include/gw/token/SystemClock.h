#pragma once
// The real clock: std::chrono::steady_clock and system_clock. Stateless; one shared instance.
#include <memory>

#include "gw/token/IClock.h"

namespace gw::token {

class SystemClock final : public IClock {
 public:
  // Process-wide instance (never destroyed before its users: held by shared_ptr).
  static std::shared_ptr<SystemClock> Instance();

  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
  SystemTime SystemNow() const override { return std::chrono::system_clock::now(); }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline) override;
};

}  // namespace gw::token
