// gw.time: now() -> unix seconds (float), monotonic_ms() -> integer milliseconds,
// sleep(seconds) -> seconds actually slept, within the call's budget; remaining_ms() -> budget left.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <thread>

#include "lua/Binding.h"
#include "lua/BindingRegistry.h"
#include "lua/CallContext.h"

namespace gw::lua {
namespace {

// gw.time.now() -> seconds since the Unix epoch as a float (sub-millisecond resolution).
int Now(lua_State* L) {
  const auto since = std::chrono::system_clock::now().time_since_epoch();
  lua_pushnumber(L, std::chrono::duration<double>(since).count());
  return 1;
}

// gw.time.monotonic_ms() -> milliseconds of a clock that never jumps (for measuring durations).
int MonotonicMs(lua_State* L) {
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  lua_pushinteger(L, static_cast<lua_Integer>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count()));
  return 1;
}

// gw.time.sleep(seconds) -> seconds slept. For provider-level back-off (Azure IMDS asks clients to
// wait between retries). Never sleeps past the call's deadline: the wait is cut to what is left of
// the budget, and the script sees how long it really slept. Blocks this thread only (no Lua runs).
int Sleep(lua_State* L) {
  constexpr const char* kFn = "gw.time.sleep";
  if (lua_type(L, 1) != LUA_TNUMBER) throw BindingError(std::string(kFn) + ": seconds must be a number");
  const double seconds = lua_tonumber(L, 1);
  if (!std::isfinite(seconds) || seconds < 0) {
    throw BindingError(std::string(kFn) + ": seconds must be a finite number >= 0");
  }
  CallContext& context = RequireContext(L, kFn);
  const auto start = std::chrono::steady_clock::now();
  const auto wanted = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::min(seconds, 86400.0)));
  const auto until = std::min(start + wanted, context.deadline);
  if (until > start) std::this_thread::sleep_until(until);
  lua_pushnumber(L, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 1;
}

// gw.time.remaining_ms() -> integer milliseconds left in this call's time budget (0 when none),
// so a script can tell whether one more retry fits before it starts it.
int RemainingMs(lua_State* L) {
  CallContext& context = RequireContext(L, "gw.time.remaining_ms");
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(context.deadline -
                                                                          std::chrono::steady_clock::now());
  lua_pushinteger(L, static_cast<lua_Integer>(std::max<int64_t>(0, left.count())));
  return 1;
}

}  // namespace

const BindingNamespace& TimeNamespace() {
  static const BindingNamespace ns{
      "time", {{"now", &Protect<Now>}, {"monotonic_ms", &Protect<MonotonicMs>}, {"sleep", &Protect<Sleep>},
               {"remaining_ms", &Protect<RemainingMs>}}};
  return ns;
}

}  // namespace gw::lua
