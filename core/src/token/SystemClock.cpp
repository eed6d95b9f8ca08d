#include "gw/token/SystemClock.h"

namespace gw::token {

std::shared_ptr<SystemClock> SystemClock::Instance() {
  static const std::shared_ptr<SystemClock> instance = std::make_shared<SystemClock>();
  return instance;
}

bool SystemClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            SteadyTime deadline) {
  if (deadline == SteadyTime::max()) {
    cv.wait(lock);
    return true;
  }
  return cv.wait_until(lock, deadline) == std::cv_status::no_timeout;
}

}  // namespace gw::token
