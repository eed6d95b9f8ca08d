#pragma once
// One cache key: its current record, single-flight fetch state, back-off and counters.
// Private to the token module (TokenHandle and ManagerCore are its only users).
//
// Hot path design (Pin): the slot's `generation_` is a process-unique number that changes each
// time the cached record changes (new token, invalidation, removal). Each thread keeps, per slot
// id, a thread_local entry {generation, shared_ptr<const TokenRecord>, usableUntil}. A hit reads
// the generation (one atomic load of a line that is only written when the token changes), finds
// its own entry equal, compares the clock with usableUntil, and returns the record pointer: no
// lock, no reference count, no allocation, no write to memory another thread writes (the hit
// counter is sharded per thread). Only when the generation moved does the thread take the slot
// mutex once and copy the new shared_ptr into its entry. The entry also pins the record while a
// TokenHandle::Use() callback runs; a record replaced during that time is kept alive until the
// callback returns.
//
// Lock order: KeySlot::mu_ may be held while taking ManagerCore::mu_, never the reverse.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gw/common/Metrics.h"
#include "gw/token/ITokenSource.h"
#include "gw/token/TokenManager.h"

namespace gw::token::detail {

class ManagerCore;

class KeySlot : public std::enable_shared_from_this<KeySlot> {
 public:
  KeySlot(std::shared_ptr<ManagerCore> core, std::string key, std::shared_ptr<ITokenSource> source,
          KeyOptions options, uint64_t seed);
  ~KeySlot();
  KeySlot(const KeySlot&) = delete;
  KeySlot& operator=(const KeySlot&) = delete;

  const std::string& Key() const { return key_; }
  const std::string& Server() const { return label_; }
  void AddServer(const std::string& server);

  // Callers (TokenHandle).
  Result<const TokenRecord*> Pin(std::chrono::milliseconds minRemaining, std::chrono::milliseconds maxWait);
  void Unpin();
  Result<std::shared_ptr<const TokenRecord>> Acquire(std::chrono::milliseconds minRemaining,
                                                     std::chrono::milliseconds maxWait);
  void Invalidate();
  Result<std::shared_ptr<const TokenRecord>> FetchNow(std::chrono::milliseconds maxWait);
  void Prefetch();
  TokenState State() const;

  // ManagerCore.
  void OnDue();        // scheduler: a refresh or retry may be due
  void RunFetch();     // fetch thread: one Fetch() and its publication
  void AbortQueued(const Error& error);  // Stop(): a queued fetch will never run
  void CancelRunning();                  // Stop(): ask the source to give up
  void MarkRemoved();
  void UpdateGauges(SteadyTime now);

  SteadyTime dueAt = SteadyTime::max();  // guarded by ManagerCore's mutex

 private:
  enum class Trigger { Background, Caller };

  Result<const TokenRecord*> PinSlow(std::chrono::milliseconds minRemaining, std::chrono::milliseconds maxWait);
  const TokenRecord* PinLocked();
  Status StartFetchLocked(Trigger trigger);
  Error FailureLocked(SteadyTime now, std::chrono::milliseconds minRemaining) const;
  std::chrono::nanoseconds FreshWindowLocked() const;
  double Random01Locked();

  const std::shared_ptr<ManagerCore> core_;
  const std::shared_ptr<IClock> clock_;
  const std::string key_;
  const std::shared_ptr<ITokenSource> source_;
  const KeyOptions options_;
  const std::string label_;  // options_.server, or the key when empty
  const uint32_t id_;        // index of this slot in every thread's cache

  // Written only when the cached record changes; read on every hit, with hits_ next to it.
  // Starts a cache line; the fields written by slow paths start another one (mu_).
  alignas(64) std::atomic<uint64_t> generation_;
  Counter* hits_;  // metric series, resolved once

  Counter* misses_;
  Counter* successes_;
  Counter* failures_;
  Counter* backgroundRefreshes_;
  Counter* callerRefreshes_;
  Counter* invalidations_;
  Histogram* duration_;
  Gauge* remaining_;

  alignas(64) mutable std::mutex mu_;
  std::condition_variable cv_;  // fetch completed
  std::shared_ptr<const TokenRecord> current_;
  SteadyTime obtainedAt_{};
  SteadyTime usableUntil_ = SteadyTime::min();
  SteadyTime refreshAt_ = SteadyTime::min();
  SteadyTime::duration lifetime_{};
  bool hadToken_ = false;  // a token was cached and has not been dropped on purpose
  bool removed_ = false;
  bool fetching_ = false;
  Trigger trigger_ = Trigger::Background;
  uint64_t startedSeq_ = 0;
  uint64_t completedSeq_ = 0;
  uint64_t lastFailedSeq_ = 0;
  std::optional<Error> lastError_;
  std::optional<SystemTime> lastErrorAt_;
  SteadyTime nextAttemptAt_ = SteadyTime::min();
  uint32_t consecutiveFailures_ = 0;
  uint64_t fetchSuccesses_ = 0;
  uint64_t fetchFailures_ = 0;
  uint64_t callerWaits_ = 0;
  std::vector<std::string> servers_;
  std::string provider_;
  std::mt19937_64 rng_;
};

}  // namespace gw::token::detail
