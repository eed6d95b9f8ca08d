#pragma once
// A clock that only moves when told to, for deterministic tests of schedules, back-off and
// deadlines (here and in the plugin's tests). Advance() wakes every thread sleeping in
// WaitUntil() so it can re-check its deadline against the new time.
//
// WaitForWaiters() lets a test block (in real time, bounded) until N threads are sleeping on a
// given deadline, e.g. "all 500 callers are now waiting for the fetch", instead of sleeping and
// hoping.
// Thread safety: all methods may be called from any thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>

#include "gw/token/IClock.h"

namespace gw::token {

class ManualClock final : public IClock {
 public:
  // Starts at an arbitrary steady instant (far from the epoch) and at 2024-01-01T00:00:00Z.
  ManualClock();

  SteadyTime SteadyNow() const override;
  SystemTime SystemNow() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline) override;

  // Moves both time lines forward by `d` (must be >= 0) and wakes all sleepers.
  void Advance(std::chrono::nanoseconds d);
  // Moves the wall clock only (simulates an NTP step); steady time is untouched.
  void StepSystem(std::chrono::nanoseconds d);

  // Number of threads currently inside WaitUntil() (any deadline / this exact deadline).
  size_t Waiters() const;
  size_t WaitersWithDeadline(SteadyTime deadline) const;
  // Blocks up to `realTimeout` (real time) until at least `count` threads sleep on `deadline`.
  bool WaitForWaiters(size_t count, SteadyTime deadline, std::chrono::milliseconds realTimeout) const;

 private:
  struct Waiter {
    std::mutex* mutex;
    std::condition_variable* cv;
    SteadyTime deadline;
  };

  std::atomic<int64_t> steadyNs_;
  std::atomic<int64_t> systemNs_;
  // Lock order: notifyMutex_ before mutex_; a waiter never holds its own mutex while taking
  // notifyMutex_ (see WaitUntil), so Advance() may lock waiters' mutexes under notifyMutex_.
  std::mutex notifyMutex_;
  mutable std::mutex mutex_;
  mutable std::condition_variable waitersChanged_;
  std::list<Waiter> waiters_;
};

}  // namespace gw::token
