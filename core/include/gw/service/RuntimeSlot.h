#pragma once
// The one place where a host without user-data pointers finds the object that serves its callbacks.
//
// Orthanc's REST, chunked-reader, incoming-filter, change and metrics callbacks are plain C function
// pointers that carry no user pointer, so a callback can only reach the plugin's state through a
// process-wide variable. A bare global pointer is not enough: a callback that loaded it while the
// plugin is being finalized would use a destroyed object. RuntimeSlot pairs the pointer with a count
// of the callbacks that hold it:
//   - Publish() makes an object reachable (once it is completely built);
//   - Lease() is what every callback does first: an empty lease (before Publish, after Withdraw) means
//     "nothing serves", and the callback refuses; a non-empty one keeps the object alive until the
//     lease is dropped;
//   - Withdraw() makes the object unreachable to new callbacks, waits until every lease taken before
//     is dropped, and hands the object back to be destroyed: after it returns, no callback can touch
//     the object any more.
//
// Cost of a lease: a compare-and-swap and a decrement on one atomic word, and an atomic load; no
// lock (the mutex is only taken once Withdraw() waits). A caller that finds the slot closed does not
// touch the count, so callers arriving during Withdraw() never delay it. Leases may nest (a callback
// that leases again is counted twice). A thread that holds a lease must not call Withdraw() (it
// would wait for itself).
// Thread safe. Does not own the object: the caller of Withdraw() destroys it.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

namespace gw::service {

template <typename T>
class RuntimeSlot {
 public:
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept
        : slot_(std::exchange(other.slot_, nullptr)), value_(std::exchange(other.value_, nullptr)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        Drop();
        slot_ = std::exchange(other.slot_, nullptr);
        value_ = std::exchange(other.value_, nullptr);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { Drop(); }

    explicit operator bool() const noexcept { return value_ != nullptr; }
    T* get() const noexcept { return value_; }
    T* operator->() const noexcept { return value_; }
    T& operator*() const noexcept { return *value_; }

   private:
    friend class RuntimeSlot;
    Lease(RuntimeSlot* slot, T* value) noexcept : slot_(slot), value_(value) {}
    void Drop() noexcept {
      if (slot_ != nullptr) slot_->Release();
      slot_ = nullptr;
      value_ = nullptr;
    }

    RuntimeSlot* slot_ = nullptr;
    T* value_ = nullptr;
  };

  RuntimeSlot() = default;
  RuntimeSlot(const RuntimeSlot&) = delete;
  RuntimeSlot& operator=(const RuntimeSlot&) = delete;

  // Makes `value` reachable. Returns false (and changes nothing) when an object is already
  // published: there is one runtime at a time.
  bool Publish(T* value) noexcept {
    T* expected = nullptr;
    if (value == nullptr || !value_.compare_exchange_strong(expected, value)) return false;
    state_.fetch_or(kOpen);
    return true;
  }

  // The published object, kept alive until the lease is dropped; empty when none is published.
  Lease Acquire() noexcept {
    // A lease is counted only while the slot is open: once Withdraw() closed it, callers that come
    // later leave the count alone, so a steady stream of them cannot keep Withdraw() waiting.
    uint64_t state = state_.load();
    do {
      if ((state & kOpen) == 0) return {};
    } while (!state_.compare_exchange_weak(state, state + 1));
    return Lease(this, value_.load());
  }

  // Unreachable from now on; returns once no lease on it is held any more (null when none was
  // published). The caller destroys what it gets back.
  T* Withdraw() noexcept {
    state_.fetch_and(~kOpen);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      drained_.wait(lock, [this] { return (state_.load() & kCount) == 0; });
    }
    return value_.exchange(nullptr);
  }

  // Leases held right now (for tests and diagnostics).
  size_t Held() const noexcept { return static_cast<size_t>(state_.load() & kCount); }

 private:
  // state_: the open flag (set by Publish, cleared by Withdraw) and the number of leases held.
  static constexpr uint64_t kOpen = uint64_t{1} << 63;
  static constexpr uint64_t kCount = kOpen - 1;

  void Release() noexcept {
    // Only the release of the last lease of a closed slot may end a Withdraw(); the notification is
    // sent under the mutex so it cannot fall between the waiter's check of the count and its sleep.
    const uint64_t before = state_.fetch_sub(1);
    if ((before & kCount) == 1 && (before & kOpen) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      drained_.notify_all();
    }
  }

  std::atomic<T*> value_{nullptr};
  std::atomic<uint64_t> state_{0};
  std::mutex mutex_;
  std::condition_variable drained_;
};

}  // namespace gw::service
