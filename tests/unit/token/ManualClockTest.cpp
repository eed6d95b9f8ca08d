#include <catch2/catch.hpp>

#include <future>

#include "gw/token/ManualClock.h"
#include "gw/token/SystemClock.h"

using namespace gw::token;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("ManualClock/time moves only when advanced", "[clock]") {
  ManualClock clock;
  const SteadyTime s0 = clock.SteadyNow();
  const SystemTime w0 = clock.SystemNow();
  CHECK(std::chrono::duration_cast<seconds>(w0.time_since_epoch()).count() == 1704067200);
  clock.Advance(seconds(90));
  CHECK(clock.SteadyNow() - s0 == seconds(90));
  CHECK(clock.SystemNow() - w0 == seconds(90));
  clock.StepSystem(seconds(-30));  // NTP step: steady time unaffected
  CHECK(clock.SteadyNow() - s0 == seconds(90));
  CHECK(clock.SystemNow() - w0 == seconds(60));
  CHECK(clock.ToSystem(clock.SteadyNow() + seconds(10)) == clock.SystemNow() + seconds(10));
  CHECK(clock.FromSystem(clock.SystemNow() - seconds(5)) == clock.SteadyNow() - seconds(5));
}

TEST_CASE("ManualClock/WaitUntil wakes when the deadline is reached by Advance", "[clock]") {
  ManualClock clock;
  std::mutex m;
  std::condition_variable cv;
  const SteadyTime deadline = clock.SteadyNow() + seconds(10);
  auto waiter = std::async(std::launch::async, [&] {
    std::unique_lock<std::mutex> lock(m);
    int wakeups = 0;
    while (clock.WaitUntil(lock, cv, deadline)) ++wakeups;
    return clock.SteadyNow() >= deadline;
  });
  REQUIRE(clock.WaitForWaiters(1, deadline, milliseconds(10000)));
  clock.Advance(seconds(4));  // wakes it, not yet due: it sleeps again
  REQUIRE(clock.WaitForWaiters(1, deadline, milliseconds(10000)));
  clock.Advance(seconds(6));
  REQUIRE(waiter.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(waiter.get());
  CHECK(clock.Waiters() == 0);
}

TEST_CASE("ManualClock/WaitUntil returns at once when the deadline has passed", "[clock]") {
  ManualClock clock;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(m);
  CHECK_FALSE(clock.WaitUntil(lock, cv, clock.SteadyNow()));
  CHECK(lock.owns_lock());
}

TEST_CASE("SystemClock/WaitUntil with a deadline in the past returns false", "[clock]") {
  auto clock = SystemClock::Instance();
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(m);
  CHECK_FALSE(clock->WaitUntil(lock, cv, clock->SteadyNow() - seconds(1)));
  CHECK(lock.owns_lock());
  CHECK(clock->SystemNow() > SystemTime(seconds(1704067200)));
}
