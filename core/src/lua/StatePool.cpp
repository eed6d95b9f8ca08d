#include "lua/StatePool.h"

#include <algorithm>
#include <string>

#include "gw/common/Log.h"

namespace gw::lua {

StatePool::StatePool(size_t maxStates, Factory factory)
    : maxStates_(maxStates == 0 ? 1 : maxStates), factory_(std::move(factory)) {}

StatePool::~StatePool() = default;

StatePool::Lease::~Lease() {
  if (state_ && pool_ != nullptr) pool_->Release(std::move(state_));
}

Result<StatePool::Lease> StatePool::Acquire(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      const auto self = std::this_thread::get_id();
      for (size_t i = idle_.size(); i-- > 0;) {
        if (idleOwners_[i] != self) continue;
        std::swap(idle_[i], idle_.back());
        std::swap(idleOwners_[i], idleOwners_.back());
        break;
      }
      std::unique_ptr<ScriptState> state = std::move(idle_.back());
      idle_.pop_back();
      idleOwners_.pop_back();
      return Lease(this, std::move(state));
    }
    if (live_ < maxStates_) {
      ++live_;  // reserve the slot, build without the lock
      lock.unlock();
      Result<std::unique_ptr<ScriptState>> created = Error{};
      try {
        created = factory_();
      } catch (const std::exception& e) {
        created = MakeError("LUA-005", std::string("cannot create a Lua state: ") + e.what());
      }
      if (created) return Lease(this, std::move(created).Value());
      lock.lock();
      --live_;
      lock.unlock();
      returned_.notify_one();
      return created.GetError();
    }
    ++waiters_;
    const std::cv_status waited = returned_.wait_until(lock, deadline);
    --waiters_;
    if (waited == std::cv_status::timeout && idle_.empty() && live_ >= maxStates_) {
      return MakeError("LUA-004", "no Lua state became free within the call's time budget", 504);
    }
  }
}

void StatePool::Release(std::unique_ptr<ScriptState> state) {
  if (state->Broken() || state->StackTop() != 0) {
    if (!state->Broken()) LogError("Lua state retired: unbalanced stack after a call (bug)");
    state.reset();  // close outside the lock
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --live_;
      ++retired_;
    }
    returned_.notify_one();
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(state));
    idleOwners_.push_back(std::this_thread::get_id());
    wake = waiters_ > 0;
  }
  if (wake) returned_.notify_one();
}

StatePool::Stats StatePool::GetStats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Stats stats;
  stats.live = live_;
  stats.idle = idle_.size();
  stats.retired = retired_;
  for (const auto& state : idle_) stats.idleStackTops.push_back(state->StackTop());
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
  // re-check then finds (both sides use sequentially consistent operations).
  waiters_.fetch_add(1);
  bool taken = TryTake(bucket, gaveBack);
  while (!taken) {
    const bool timedOut = freed_.wait_until(lock, deadline) == std::cv_status::timeout;
    taken = TryTake(bucket, gaveBack);
    if (timedOut) break;
  }
  waiters_.fetch_sub(1);
  if (gaveBack) freed_.notify_all();  // the mutex is held: notify directly
  return taken;
}

void StateShares::Give(size_t bucket) {
  if (used_[bucket].value.fetch_sub(1) > reserved_) committed_.fetch_sub(1);
  WakeWaiters();
}

void StateShares::WakeWaiters() {
  if (waiters_.load() == 0) return;
  { std::lock_guard<std::mutex> lock(mutex_); }  // a waiter between its re-check and its wait holds the mutex
  freed_.notify_all();  // waiters of several buckets may wait: each checks its own share
}

}  // namespace gw::lua
