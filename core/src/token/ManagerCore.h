#pragma once
// The shared part of a TokenManager: slots by key and by server, the scheduler thread that
// wakes at the earliest due refresh/retry, and the pool of fetch threads. Slots hold a
// shared_ptr to it, so handles outlive the TokenManager safely; Stop() breaks the cycle.
// Private to the token module.
//
// Isolation between keys: a key has at most one fetch queued or running (single flight, see
// KeySlot), so it never occupies more than one fetch thread, retries and back-off sleeps of
// ResilientFetch included. The `fetchThreads` threads are always there; when a fetch is queued and
// none of them is free (other keys' fetches hang on their IdP until their timeout), an extra thread
// starts for it at once and ends when the queue is empty. A key's fetch therefore never waits for
// another key's, and there are never more than fetchThreads + (number of keys) fetch threads.
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gw/token/TokenManager.h"

namespace gw::token::detail {

class KeySlot;

class ManagerCore : public std::enable_shared_from_this<ManagerCore> {
 public:
  explicit ManagerCore(TokenManagerOptions options);
  ~ManagerCore();

  void Start();  // after construction (needs shared_from_this)
  void Stop();

  const std::shared_ptr<IClock>& Clock() const { return options_.clock; }
  MetricsRegistry& Metrics() const { return *options_.metrics; }
  const TokenManagerOptions& Options() const { return options_; }

  std::shared_ptr<KeySlot> Register(const std::string& key, std::shared_ptr<ITokenSource> source, KeyOptions options);
  bool Remove(std::string_view key);
  std::shared_ptr<KeySlot> Find(std::string_view key) const;
  std::shared_ptr<KeySlot> FindServer(std::string_view server) const;
  std::vector<std::shared_ptr<KeySlot>> Slots() const;

  // Called by slots, possibly with their own mutex held (order: slot, then core).
  void Schedule(KeySlot* slot, SteadyTime due);
  bool Enqueue(std::shared_ptr<KeySlot> slot);  // false once stopping
  bool Stopping() const;

  bool WaitIdle(std::chrono::milliseconds realTimeout) const;

  // Extra fetch threads started so far (isolation: a fetch found every thread busy).
  uint64_t ExtraThreadsStarted() const;

 private:
  void SchedulerLoop();
  void WorkerLoop(bool extra);
  bool IdleLocked() const;
  void StartExtraWorkerLocked();

  TokenManagerOptions options_;
  uint64_t hookId_ = 0;

  mutable std::mutex mu_;
  std::condition_variable schedulerCv_;
  std::condition_variable jobCv_;
  mutable std::condition_variable idleCv_;
  std::map<std::string, std::shared_ptr<KeySlot>, std::less<>> slots_;
  std::map<std::string, std::shared_ptr<KeySlot>, std::less<>> byServer_;
  std::deque<std::shared_ptr<KeySlot>> queue_;
  std::vector<std::shared_ptr<KeySlot>> running_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> extraThreads_;      // started on demand; joined when reaped or at Stop()
  std::vector<std::thread::id> exitedExtras_;  // extra threads that left their loop, to be joined
  size_t idleWorkers_ = 0;                     // fetch threads waiting for a job
  size_t liveExtras_ = 0;                      // extra threads in their loop
  uint64_t extraStarted_ = 0;                  // for tests and diagnostics
  uint64_t seedCounter_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  bool schedulerSleeping_ = false;
  bool dirty_ = false;
  SteadyTime sleepingUntil_ = SteadyTime::min();
};

}  // namespace gw::token::detail
