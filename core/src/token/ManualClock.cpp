#include "gw/token/ManualClock.h"

#include <vector>

namespace gw::token {

namespace {
// 2024-01-01T00:00:00Z in nanoseconds since the Unix epoch.
constexpr int64_t kInitialSystemNs = 1704067200LL * 1000000000LL;
// Steady time starts one million hours after the steady epoch so that "now - something" never
// underflows in tests.
constexpr int64_t kInitialSteadyNs = 3600LL * 1000000LL * 1000000000LL;
}  // namespace

ManualClock::ManualClock() : steadyNs_(kInitialSteadyNs), systemNs_(kInitialSystemNs) {}

SteadyTime ManualClock::SteadyNow() const {
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(
      std::chrono::nanoseconds(steadyNs_.load(std::memory_order_acquire))));
}

SystemTime ManualClock::SystemNow() const {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::nanoseconds(systemNs_.load(std::memory_order_acquire))));
}

bool ManualClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            SteadyTime deadline) {
  std::list<Waiter>::iterator self;
  {
    // Register and check the time in one critical section: an Advance() either happened before
    // (we see the new time) or will find us registered and notify us once we are in cv.wait
    // (it needs our mutex, which cv.wait releases atomically).
    std::lock_guard<std::mutex> g(mutex_);
    if (SteadyNow() >= deadline) return false;
    self = waiters_.insert(waiters_.end(), Waiter{lock.mutex(), &cv, deadline});
  }
  waitersChanged_.notify_all();
  cv.wait(lock);
  // Unregister without holding the caller's mutex: Advance() may hold notifyMutex_ while it
  // waits for that mutex. Once unregistered, no Advance() can touch our mutex or cv any more.
  lock.unlock();
  {
    std::lock_guard<std::mutex> n(notifyMutex_);
    std::lock_guard<std::mutex> g(mutex_);
    waiters_.erase(self);
  }
  waitersChanged_.notify_all();
  lock.lock();
  return SteadyNow() < deadline;
}

void ManualClock::Advance(std::chrono::nanoseconds d) {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  std::lock_guard<std::mutex> n(notifyMutex_);
  std::vector<Waiter> toWake;
  {
    std::lock_guard<std::mutex> g(mutex_);
    steadyNs_.fetch_add(d.count(), std::memory_order_acq_rel);
    systemNs_.fetch_add(d.count(), std::memory_order_acq_rel);
    toWake.assign(waiters_.begin(), waiters_.end());
  }
  for (const Waiter& w : toWake) {
    std::lock_guard<std::mutex> wl(*w.mutex);
    w.cv->notify_all();
  }
}

void ManualClock::StepSystem(std::chrono::nanoseconds d) {
  systemNs_.fetch_add(d.count(), std::memory_order_acq_rel);
}

size_t ManualClock::Waiters() const {
  std::lock_guard<std::mutex> g(mutex_);
  return waiters_.size();
}

size_t ManualClock::WaitersWithDeadline(SteadyTime deadline) const {
  std::lock_guard<std::mutex> g(mutex_);
  size_t n = 0;
  for (const Waiter& w : waiters_) n += (w.deadline == deadline) ? 1 : 0;
  return n;
}

bool ManualClock::WaitForWaiters(size_t count, SteadyTime deadline, std::chrono::milliseconds realTimeout) const {
  std::unique_lock<std::mutex> g(mutex_);
  return waitersChanged_.wait_for(g, realTimeout, [&] {
    size_t n = 0;
    for (const Waiter& w : waiters_) n += (w.deadline == deadline) ? 1 : 0;
    return n >= count;
  });
}

}  // namespace gw::token
