#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gw/service/RuntimeSlot.h"

using namespace gw::service;

namespace {

struct Runtime {
  std::atomic<bool> destroyed{false};
  std::atomic<int> served{0};
};

}  // namespace

TEST_CASE("RuntimeSlot/a callback before Publish or after Withdraw gets nothing", "[runtime]") {
  RuntimeSlot<Runtime> slot;
  CHECK_FALSE(slot.Acquire());
  CHECK(slot.Held() == 0);

  Runtime runtime;
  REQUIRE(slot.Publish(&runtime));
  {
    auto lease = slot.Acquire();
    REQUIRE(lease);
    CHECK(lease.get() == &runtime);
    CHECK(slot.Held() == 1);
    auto nested = slot.Acquire();  // a callback may lease again (counted twice)
    CHECK(nested);
    CHECK(slot.Held() == 2);
  }
  CHECK(slot.Held() == 0);

  CHECK(slot.Withdraw() == &runtime);
  CHECK_FALSE(slot.Acquire());
  CHECK(slot.Held() == 0);
  CHECK(slot.Withdraw() == nullptr);  // nothing published: returns at once
}

TEST_CASE("RuntimeSlot/one runtime at a time", "[runtime]") {
  RuntimeSlot<Runtime> slot;
  Runtime first;
  Runtime second;
  REQUIRE(slot.Publish(&first));
  CHECK_FALSE(slot.Publish(&second));
  CHECK(slot.Acquire().get() == &first);
  CHECK(slot.Withdraw() == &first);
  CHECK(slot.Publish(&second));
  CHECK(slot.Withdraw() == &second);
}

TEST_CASE("RuntimeSlot/a moved lease is released once", "[runtime]") {
  RuntimeSlot<Runtime> slot;
  Runtime runtime;
  REQUIRE(slot.Publish(&runtime));
  auto a = slot.Acquire();
  auto b = std::move(a);
  CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from lease is empty by contract
  CHECK(b);
  CHECK(slot.Held() == 1);
  RuntimeSlot<Runtime>::Lease c;
  c = std::move(b);
  CHECK(slot.Held() == 1);
  c = RuntimeSlot<Runtime>::Lease();
  CHECK(slot.Held() == 0);
  CHECK(slot.Withdraw() == &runtime);
}

// Finalize must not destroy the runtime under a callback that is still running in it.
TEST_CASE("RuntimeSlot/Withdraw waits for the callback that holds a lease", "[runtime]") {
  RuntimeSlot<Runtime> slot;
  auto runtime = std::make_unique<Runtime>();
  REQUIRE(slot.Publish(runtime.get()));

  std::mutex m;
  std::condition_variable cv;
  bool leased = false;
  bool finish = false;
  std::atomic<bool> gotLease{false};
  std::atomic<bool> aliveAtEnd{false};
  // Catch2 assertions stay on the test's thread: the callback only records what it saw.
  std::thread callback([&] {
    auto lease = slot.Acquire();
    gotLease = static_cast<bool>(lease);
    {
      std::unique_lock<std::mutex> lock(m);
      leased = true;
      cv.notify_all();
      cv.wait(lock, [&] { return finish; });
    }
    // Still in the callback: the runtime must be alive.
    if (lease) {
      aliveAtEnd = !lease->destroyed.load();
      lease->served++;
    }
  });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return leased; });
  }
  CHECK(gotLease.load());

  auto withdrawn = std::async(std::launch::async, [&] {
    Runtime* back = slot.Withdraw();
    back->destroyed = true;  // what Finalize does next
    return back;
  });
  // Withdraw cannot return while the callback holds its lease; once the pointer is cleared, new
  // callbacks are refused at once.
  while (slot.Acquire()) std::this_thread::yield();
  CHECK(withdrawn.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  CHECK_FALSE(runtime->destroyed.load());
  {
    std::lock_guard<std::mutex> lock(m);
    finish = true;
    cv.notify_all();
  }
  CHECK(withdrawn.get() == runtime.get());
  callback.join();
  CHECK(aliveAtEnd.load());
  CHECK(runtime->served.load() == 1);
  CHECK(runtime->destroyed.load());
}

// Many callbacks racing with Withdraw: none of them may ever see the runtime after Withdraw returned,
// and callers that keep arriving while it waits do not hold it up.
TEST_CASE("RuntimeSlot/no callback sees the runtime after Withdraw under contention", "[runtime]") {
  constexpr int kCallers = 3;
  constexpr int kRefusalsBeforeExit = 200;  // each caller keeps trying this long after Withdraw
  for (int round = 0; round < 10; ++round) {
    RuntimeSlot<Runtime> slot;
    Runtime runtime;
    REQUIRE(slot.Publish(&runtime));
    std::atomic<int> afterDestroy{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < kCallers; ++t) {
      callers.emplace_back([&] {
        int refusals = 0;
        while (refusals < kRefusalsBeforeExit) {
          auto lease = slot.Acquire();
          if (!lease) {
            ++refusals;
            continue;
          }
          if (lease->destroyed.load()) afterDestroy++;
          lease->served++;
        }
      });
    }
    while (runtime.served.load() < 100) std::this_thread::yield();
    Runtime* back = slot.Withdraw();
    REQUIRE(back == &runtime);
    back->destroyed = true;
    const int servedAtWithdraw = runtime.served.load();
    for (auto& t : callers) t.join();
    CHECK(afterDestroy.load() == 0);
    CHECK(runtime.served.load() == servedAtWithdraw);
    CHECK(slot.Held() == 0);
  }
}
