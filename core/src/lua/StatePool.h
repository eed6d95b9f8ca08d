#pragma once
// The states of one snapshot: created lazily up to a cap, leased to one thread at a time.
// Callers beyond the cap wait for a state to come back, bounded by their own deadline (then
// LUA-004). A state that comes back broken (limit hit, unbalanced stack) is closed instead of
// being reused, which frees a slot. Thread safe. No lock is held while a state is created, closed
// or used.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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

// Isolation between servers (docs/lua-api.md, "Isolation between servers"): the share of the
// states each server's calls may hold at once. There is one bucket per configured server and one
// for calls made for no server (the "general" bucket). Every bucket keeps `reserved` states that
// only its own calls can take; a call beyond its bucket's reservation takes a state only if that
// state is not kept for another bucket's unused reservation. So, whatever one server's scripts do
// (hang on an IdP, loop until their deadline), its calls never hold more than
//   capacity - reserved * (buckets - 1)
// states, and every other server always finds its `reserved` states free. A caller over its
// share waits for one of its own bucket's states or an unreserved one, up to its deadline.
//
// Invariant: committed_ = reserved * buckets + sum over buckets of max(0, used - reserved)
// <= capacity, hence sum(used) <= capacity. committed_ may count one state too many for an
// instant (a claim is made before the bucket counter moves, and dropped after it moves back),
// never one too few, so the capacity is never exceeded. Lock-free when a state is available (one
// atomic read-modify-write of the bucket's own counter within the reservation, one more on
// committed_ beyond it); the mutex and condition variable serve waiters only.
class StateShares {
 public:
  // `capacity` is raised to reserved * buckets when smaller (Capacity() tells the result), so
  // that every reservation can be honoured at once. `reserved` 0 is taken as 1.
  StateShares(size_t capacity, size_t reserved, std::vector<std::string> servers);
  StateShares(const StateShares&) = delete;
  StateShares& operator=(const StateShares&) = delete;

  size_t Capacity() const { return capacity_; }
  size_t Reserved() const { return reserved_; }
  size_t Buckets() const { return names_.size() + 1; }
  // The bucket of a server; an empty or unknown name is the general bucket.
  size_t BucketOf(std::string_view server) const;
  const std::string& NameOf(size_t bucket) const;  // "" for the general bucket
  // The most states one bucket can hold at once (when every other bucket is idle).
  size_t MaxPerBucket() const { return capacity_ - reserved_ * (Buckets() - 1); }

  // Takes one state of `bucket`'s share, waiting until `deadline` for one; false on timeout.
  bool Take(size_t bucket, std::chrono::steady_clock::time_point deadline);
  void Give(size_t bucket);
  size_t InUse(size_t bucket) const { return used_[bucket].value.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Counter {  // one cache line per bucket: servers do not share a written line
    std::atomic<size_t> value{0};
  };
  bool TryTake(size_t bucket, bool& gaveBack);
  void WakeWaiters();

  const size_t reserved_;
  const std::vector<std::string> names_;  // sorted; bucket i < names_.size() is names_[i]
  const size_t capacity_;
  std::unique_ptr<Counter[]> used_;
  alignas(64) std::atomic<size_t> committed_;
  std::atomic<size_t> waiters_{0};
  std::mutex mutex_;  // waiters only
  std::condition_variable freed_;
};

}  // namespace gw::lua
