#pragma once
// The token engine's only source of time. Production uses SystemClock; tests use ManualClock and
// move time by hand, so schedules, back-off and deadlines are checked deterministically.
//
// Two time lines: steady time (monotonic) for every decision (expiry, refresh, deadlines), and
// system (wall) time only for display. WaitUntil() is how engine threads sleep: it waits on the
// caller's condition variable until notified or until the clock reaches `deadline`, so a manual
// clock can wake sleepers when a test advances it.
// Thread safety: implementations are thread safe.
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace gw::token {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;

class IClock {
 public:
  virtual ~IClock() = default;

  virtual SteadyTime SteadyNow() const = 0;
  virtual SystemTime SystemNow() const = 0;

  // Precondition: `lock` holds the mutex associated with `cv`. Blocks until cv is notified (or a
  // spurious wake-up) or SteadyNow() >= deadline. Returns false when the deadline was reached,
  // true otherwise; callers re-check their own condition in a loop either way.
  // SteadyTime::max() means "no deadline".
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         SteadyTime deadline) = 0;

  // Wall-clock equivalent of a steady instant, for display (computed from both "now"s).
  SystemTime ToSystem(SteadyTime t) const {
    return SystemNow() + std::chrono::duration_cast<SystemTime::duration>(t - SteadyNow());
  }
  // Steady equivalent of a wall-clock instant (e.g. an `expires_on` given as Unix time).
  SteadyTime FromSystem(SystemTime t) const {
    return SteadyNow() + std::chrono::duration_cast<SteadyTime::duration>(t - SystemNow());
  }
};

}  // namespace gw::token
