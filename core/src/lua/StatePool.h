#pragma once
// The states of one snapshot: created lazily up to a cap, leased to one thread at a time.
// Callers beyond the cap wait for a state to come back, bounded by their own deadline (then
// LUA-004). A state that comes back broken (limit hit, unbalanced stack) is closed instead of
// being reused, which frees a slot. Thread safe. No lock is held while a state is created, closed
// or used.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gw/common/Error.h"
#include "lua/ScriptState.h"

namespace gw::lua {

class StatePool {
 public:
  using Factory = std::function<Result<std::unique_ptr<ScriptState>>()>;

  StatePool(size_t maxStates, Factory factory);
  ~StatePool();
  StatePool(const StatePool&) = delete;
  StatePool& operator=(const StatePool&) = delete;

  // Exclusive use of one state until destroyed; returns it to the pool (or retires it).
  class Lease {
   public:
    Lease(StatePool* pool, std::unique_ptr<ScriptState> state) : pool_(pool), state_(std::move(state)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    ScriptState& operator*() const { return *state_; }
    ScriptState* operator->() const { return state_.get(); }

   private:
    StatePool* pool_;
    std::unique_ptr<ScriptState> state_;
  };

  Result<Lease> Acquire(std::chrono::steady_clock::time_point deadline);

  struct Stats {
    size_t live = 0;     // created and not retired (idle + leased)
    size_t idle = 0;
    uint64_t retired = 0;
    std::vector<int> idleStackTops;
  };
  Stats GetStats() const;

 private:
  void Release(std::unique_ptr<ScriptState> state);

  const size_t maxStates_;
  const Factory factory_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  size_t waiters_ = 0;  // callers blocked in Acquire (guarded by mutex_): Release signals only then,
                        // since signalling touches the condition variable's shared state every call
  std::vector<std::unique_ptr<ScriptState>> idle_;  // LIFO: the most recently used state is warm
  // idleOwners_[i]: the thread that released idle_[i]. A thread gets back the state it used last
  // when it is idle: a state's memory then stays on one thread's malloc arena. Handing states
  // across threads made every free cross arenas (two threads at once: 9 us per policy call instead
  // of 2.4; docs/PERFORMANCE.md, "Policies").
  std::vector<std::thread::id> idleOwners_;
  size_t live_ = 0;
  uint64_t retired_ = 0;
};

}  // namespace gw::lua
