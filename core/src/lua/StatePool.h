#pragma once
// The states of one snapshot: created lazily up to a cap, leased to one thread at a time.
// Callers beyond the cap wait for a state to come back, bounded by their own deadline (then
// LUA-004). A state that comes back broken (limit hit, unbalanced stack) is closed instead of
// being reused, which frees a slot. Thread safe. No lock is held while a state is created, closed
// or used.
//
// Each state sits in a Slot of its own cache line whose `leased` flag is the only way to own it
// (taken with one atomic exchange, so no state is ever used by two threads at once). A caller may
// pass the slot it used last (its affinity hint): when that state is free, the lease costs one
// uncontended atomic on that slot's own line and nothing else, and the mutex is taken only on the
// slow path (no hint, hint busy or retired, waiting). Two threads calling at once used to bounce
// the pool mutex's line between their cores twice a call (docs/PERFORMANCE.md, "Policies").
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

  // One state's place in the pool. Opaque to callers: they keep a pointer as an affinity hint,
  // valid as long as the pool.
  struct alignas(64) Slot {
    std::atomic<bool> leased{false};
    std::unique_ptr<ScriptState> state;  // owned by whoever set `leased`; null when not created
    std::thread::id lastUser;            // guarded by `leased`: the slow path prefers a thread's own
  };

  StatePool(size_t maxStates, Factory factory);
  ~StatePool();
  StatePool(const StatePool&) = delete;
  StatePool& operator=(const StatePool&) = delete;

  // Exclusive use of one state until destroyed; returns it to the pool (or retires it).
  class Lease {
   public:
    Lease(StatePool* pool, Slot* slot) : pool_(pool), slot_(slot) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.slot_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    ScriptState& operator*() const { return *slot_->state; }
    ScriptState* operator->() const { return slot_->state.get(); }

   private:
    StatePool* pool_;
    Slot* slot_;
  };

  // `hint` (may be null): in, the slot this caller used last in this pool (tried first, without the
  // mutex); out, the slot leased. A hint must come from this pool.
  Result<Lease> Acquire(std::chrono::steady_clock::time_point deadline, Slot** hint = nullptr);

  struct Stats {
    size_t live = 0;     // created and not retired (idle + leased)
    size_t idle = 0;
    uint64_t retired = 0;
    std::vector<int> idleStackTops;
  };
  Stats GetStats() const;

 private:
  void Release(Slot* slot);
  void Unlease(Slot* slot);  // gives a slot back and wakes waiters, if any
  // Under mutex_: leases and returns a free slot holding a state, the caller's own first (its
  // memory stays on this thread's malloc arena: handing states across threads made every free
  // cross arenas), else an empty slot when live_ < maxStates_ (the caller creates its state), else
  // null.
  Slot* TakeLocked();

  const size_t maxStates_;
  const Factory factory_;
  std::unique_ptr<Slot[]> slots_;  // maxStates_ of them
  mutable std::mutex mutex_;       // slow path: creation, retirement, waiting, stats
  std::condition_variable returned_;
  // Callers blocked in Acquire. Release reads it (a line written only when someone waits) and
  // signals only then: signalling touches the condition variable's shared state every call.
  std::atomic<size_t> waiters_{0};
  size_t live_ = 0;  // guarded by mutex_
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
  // Give without waking waiters: for a reclaimer, which runs with the waiters' mutex held.
  void Return(size_t bucket);
  // Whether a caller waits for a share (then a thread keeping an idle share must give it back).
  bool Waiting() const { return waiters_.load() != 0; }
  // Called by a caller short of a share, before it waits (with the waiters' mutex held): gives
  // back, through Return(), the shares threads keep idle for their next call (ScriptEngine's
  // per-thread cache); returns how many. It must not call Take, Give or WakeWaiters.
  void SetReclaimer(std::function<size_t()> reclaimer) { reclaimer_ = std::move(reclaimer); }
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
  alignas(64) std::atomic<size_t> waiters_{0};  // read at every call's end: a line of its own
  std::mutex mutex_;  // waiters only
  std::condition_variable freed_;
  std::function<size_t()> reclaimer_;  // set before any call
};

}  // namespace gw::lua
