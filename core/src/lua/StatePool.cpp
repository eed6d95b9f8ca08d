#include "lua/StatePool.h"

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

}  // namespace gw::lua
