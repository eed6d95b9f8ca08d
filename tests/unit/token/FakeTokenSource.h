#pragma once
// Test double for ITokenSource: scripted success/failure, a gate that holds Fetch() until the
// test opens it (real-time bounded, so a broken engine fails the test instead of hanging it), and
// counters the tests assert on. Tokens are "access-token-<n>" and live `lifetime` on the clock.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gw/token/ITokenSource.h"
#include "gw/token/ManualClock.h"

namespace gw::token::testing {

class FakeTokenSource : public ITokenSource {
 public:
  explicit FakeTokenSource(std::shared_ptr<IClock> clock, std::chrono::seconds lifetime = std::chrono::seconds(3600))
      : clock_(std::move(clock)), lifetime_(lifetime) {}

  Result<TokenRecord> Fetch(SteadyTime deadline) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_;
    lastDeadline_ = deadline;
    changed_.notify_all();
    const bool opened = changed_.wait_for(lock, std::chrono::seconds(20), [&] { return gateOpen_ || cancelled_; });
    if (!opened) return MakeError("TEST-001", "fake source gate never opened");
    if (cancelled_) return MakeError("TEST-002", "fake source cancelled");
    ++completed_;
    changed_.notify_all();
    std::optional<Error> failure = failure_;
    if (!scripted_.empty()) {
      failure = scripted_.front();
      scripted_.pop_front();
    }
    if (failure) return *failure;
    TokenRecord r;
    r.accessToken = prefix_ + std::to_string(++issued_);
    if (fixedText_) r.accessToken = prefix_;
    r.tokenType = "Bearer";
    r.expiresAt = clock_->SteadyNow() + lifetimeOverride_.value_or(lifetime_);
    if (refreshIn_) r.refreshAt = clock_->SteadyNow() + *refreshIn_;
    r.scopes = {"dicom.read", "dicom.write"};
    r.provider = "fake";
    r.metadata = {{"tenant", "t1"}};
    if (emptyToken_) r.accessToken.clear();
    return r;
  }

  void Invalidated() override { ++invalidated_; }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }

  // Every Fetch() fails with `error` until cleared (nullopt).
  void SetFailure(std::optional<Error> error) {
    std::lock_guard<std::mutex> lock(mutex_);
    failure_ = std::move(error);
  }
  // The next Fetch() calls fail with these errors, in order, then the standing behaviour resumes.
  void Script(std::deque<std::optional<Error>> outcomes) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripted_ = std::move(outcomes);
  }
  void SetLifetime(std::chrono::seconds lifetime) {
    std::lock_guard<std::mutex> lock(mutex_);
    lifetimeOverride_ = lifetime;
  }
  void SetRefreshIn(std::optional<std::chrono::seconds> refreshIn) {
    std::lock_guard<std::mutex> lock(mutex_);
    refreshIn_ = refreshIn;
  }
  void SetPrefix(std::string prefix) {
    std::lock_guard<std::mutex> lock(mutex_);
    prefix_ = std::move(prefix);
  }
  // Every token has the text of the prefix alone (an IdP answering from its own cache).
  void SetFixedText(bool fixed) {
    std::lock_guard<std::mutex> lock(mutex_);
    fixedText_ = fixed;
  }
  void SetEmptyToken(bool empty) {
    std::lock_guard<std::mutex> lock(mutex_);
    emptyToken_ = empty;
  }
  void CloseGate() {
    std::lock_guard<std::mutex> lock(mutex_);
    gateOpen_ = false;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> lock(mutex_);
    gateOpen_ = true;
    changed_.notify_all();
  }

  int Calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  int Completed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return completed_;
  }
  int Invalidations() const { return invalidated_.load(); }
  SteadyTime LastDeadline() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lastDeadline_;
  }
  // Real-time bounded wait until Fetch() has been entered `n` times.
  bool WaitForCalls(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

 private:
  std::shared_ptr<IClock> clock_;
  std::chrono::seconds lifetime_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool gateOpen_ = true;
  bool cancelled_ = false;
  bool emptyToken_ = false;
  bool fixedText_ = false;
  int calls_ = 0;
  int completed_ = 0;
  int issued_ = 0;
  std::atomic<int> invalidated_{0};
  std::string prefix_ = "access-token-";
  std::optional<Error> failure_;
  std::deque<std::optional<Error>> scripted_;
  std::optional<std::chrono::seconds> lifetimeOverride_;
  std::optional<std::chrono::seconds> refreshIn_;
  SteadyTime lastDeadline_{};
};

}  // namespace gw::token::testing
