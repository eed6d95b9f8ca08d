#include "lua/StatePool.h"

#include <algorithm>
#include <string>

#include "gw/common/Log.h"

namespace gw::lua {

StatePool::StatePool(size_t maxStates, Factory factory)
    : maxStates_(maxStates == 0 ? 1 : maxStates), factory_(std::move(factory)), slots_(new Slot[maxStates_]) {}

StatePool::~StatePool() = default;

StatePool::Lease::~Lease() {
  if (slot_ != nullptr && pool_ != nullptr) pool_->Release(slot_);
}

StatePool::Slot* StatePool::TakeLocked() {
  // A slot's fields are read only once it is ours (leased), since a fast-path caller may lease and
  // change a free slot without the mutex; slots looked at and not kept are given back at once.
  const auto self = std::this_thread::get_id();
  Slot* kept = nullptr;   // a free state of another thread, or else an empty slot
  for (size_t i = 0; i < maxStates_; ++i) {
    Slot& slot = slots_[i];
    if (slot.leased.load() || slot.leased.exchange(true)) continue;
    if (slot.state && slot.lastUser == self) {
      if (kept != nullptr) kept->leased.store(false);
      return &slot;
    }
    if (kept == nullptr && (slot.state || live_ < maxStates_)) {
      kept = &slot;
    } else if (kept != nullptr && !kept->state && slot.state) {
      kept->leased.store(false);
      kept = &slot;
    } else {
      slot.leased.store(false);
    }
  }
  return kept;
}

Result<StatePool::Lease> StatePool::Acquire(std::chrono::steady_clock::time_point deadline, Slot** hint) {
  if (hint != nullptr && *hint != nullptr) {
    Slot* slot = *hint;
    if (!slot->leased.exchange(true)) {  // acquire: sees the state its last holder left
      if (slot->state) return Lease(this, slot);
      Unlease(slot);  // retired meanwhile: the slow path creates one
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  bool waiting = false;
  const auto stopWaiting = [&] {
    if (waiting) waiters_.fetch_sub(1);
    waiting = false;
  };
  for (;;) {
    Slot* slot = TakeLocked();
    if (slot != nullptr && slot->state) {
      stopWaiting();
      if (hint != nullptr) *hint = slot;
      return Lease(this, slot);
    }
    if (slot != nullptr) {  // an empty slot, live_ < maxStates_
      stopWaiting();
      ++live_;  // reserve the slot, build without the lock
      lock.unlock();
      Result<std::unique_ptr<ScriptState>> created = Error{};
      try {
        created = factory_();
      } catch (const std::exception& e) {
        created = MakeError("LUA-005", std::string("cannot create a Lua state: ") + e.what());
      }
      if (created) {
        slot->state = std::move(created).Value();
        if (hint != nullptr) *hint = slot;
        return Lease(this, slot);
      }
      slot->leased.store(false);
      lock.lock();
      --live_;
      lock.unlock();
      returned_.notify_all();
      return created.GetError();
    }
    if (!waiting) {
      // Registered before looking again: a Release either sees this waiter or frees a slot the
      // next look finds (both sides sequentially consistent).
      waiters_.fetch_add(1);
      waiting = true;
      continue;
    }
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout) {
      slot = TakeLocked();
      stopWaiting();
      if (slot != nullptr && slot->state) {
        if (hint != nullptr) *hint = slot;
        return Lease(this, slot);
      }
      if (slot != nullptr) slot->leased.store(false);  // too late to create one
      return MakeError("LUA-004", "no Lua state became free within the call's time budget", 504);
    }
  }
}

void StatePool::Release(Slot* slot) {
  ScriptState& state = *slot->state;
  if (state.Broken() || state.StackTop() != 0) {
    if (!state.Broken()) LogError("Lua state retired: unbalanced stack after a call (bug)");
    slot->state.reset();  // close outside the lock, while the slot is still ours
    slot->leased.store(false);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --live_;
      ++retired_;
    }
    returned_.notify_all();
    return;
  }
  slot->lastUser = std::this_thread::get_id();
  Unlease(slot);
}

void StatePool::Unlease(Slot* slot) {
  slot->leased.store(false);  // sequentially consistent, before reading waiters_
  if (waiters_.load() == 0) return;
  { std::lock_guard<std::mutex> lock(mutex_); }  // a waiter between its look and its wait holds the mutex
  returned_.notify_all();
}

StatePool::Stats StatePool::GetStats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats stats;
  stats.live = live_;
  stats.retired = retired_;
  for (size_t i = 0; i < maxStates_; ++i) {
    Slot& slot = slots_[i];
    if (slot.leased.exchange(true)) continue;  // leased: not idle (held an instant for reading)
    if (slot.state) {
      ++stats.idle;
      stats.idleStackTops.push_back(slot.state->StackTop());
    }
    slot.leased.store(false);
  }
  return stats;
}

namespace {

std::vector<std::string> SortedUnique(std::vector<std::string> names) {
  names.erase(std::remove(names.begin(), names.end(), std::string()), names.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

StateShares::StateShares(size_t capacity, size_t reserved, std::vector<std::string> servers)
    : reserved_(std::max<size_t>(1, reserved)),
      names_(SortedUnique(std::move(servers))),
      capacity_(std::max(capacity, reserved_ * (names_.size() + 1))),
      used_(new Counter[names_.size() + 1]),
      committed_(reserved_ * (names_.size() + 1)) {}

size_t StateShares::BucketOf(std::string_view server) const {
  const auto it = std::lower_bound(names_.begin(), names_.end(), server,
                                   [](const std::string& name, std::string_view s) { return name < s; });
  if (it == names_.end() || *it != server) return names_.size();
  return static_cast<size_t>(it - names_.begin());
}

const std::string& StateShares::NameOf(size_t bucket) const {
  static const std::string general;
  return bucket < names_.size() ? names_[bucket] : general;
}

bool StateShares::TryTake(size_t bucket, bool& gaveBack) {
  std::atomic<size_t>& used = used_[bucket].value;
  size_t u = used.load();
  while (u < reserved_) {
    if (used.compare_exchange_weak(u, u + 1)) return true;  // within the reservation: always there
  }
  // Beyond the reservation: claim an unreserved state first, then count it.
  size_t c = committed_.load();
  do {
    if (c >= capacity_) return false;
  } while (!committed_.compare_exchange_weak(c, c + 1));
  if (used.fetch_add(1) < reserved_) {
    // A call of this bucket ended meanwhile: the state taken is one of the bucket's reserved ones,
    // so the claim was not needed.
    committed_.fetch_sub(1);
    gaveBack = true;  // a waiter may have seen the claim: it must look again
  }
  return true;
}

bool StateShares::Take(size_t bucket, std::chrono::steady_clock::time_point deadline) {
  bool gaveBack = false;
  if (TryTake(bucket, gaveBack)) {
    if (gaveBack) WakeWaiters();
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  // Registered before the re-check: a Give() either sees this waiter or frees the state the
  // re-check then finds (both sides use sequentially consistent operations). A thread keeping an
  // idle share either sees this waiter and gives it back, or the reclaimer finds it.
  waiters_.fetch_add(1);
  const auto tryTake = [&] {
    if (TryTake(bucket, gaveBack)) return true;
    if (!reclaimer_ || reclaimer_() == 0) return false;
    gaveBack = true;  // other waiters may use what was reclaimed
    return TryTake(bucket, gaveBack);
  };
  bool taken = tryTake();
  while (!taken) {
    const bool timedOut = freed_.wait_until(lock, deadline) == std::cv_status::timeout;
    taken = tryTake();
    if (timedOut) break;
  }
  waiters_.fetch_sub(1);
  if (gaveBack) freed_.notify_all();  // the mutex is held: notify directly
  return taken;
}

void StateShares::Give(size_t bucket) {
  Return(bucket);
  WakeWaiters();
}

void StateShares::Return(size_t bucket) {
  if (used_[bucket].value.fetch_sub(1) > reserved_) committed_.fetch_sub(1);
}

void StateShares::WakeWaiters() {
  if (waiters_.load() == 0) return;
  { std::lock_guard<std::mutex> lock(mutex_); }  // a waiter between its re-check and its wait holds the mutex
  freed_.notify_all();  // waiters of several buckets may wait: each checks its own share
}

}  // namespace gw::lua
