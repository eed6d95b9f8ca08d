// gw.time: now() -> unix seconds (float), monotonic_ms() -> integer milliseconds.
#include <chrono>

#include "lua/BindingRegistry.h"

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

}  // namespace

const BindingNamespace& TimeNamespace() {
  static const BindingNamespace ns{"time", {{"now", &Protect<Now>}, {"monotonic_ms", &Protect<MonotonicMs>}}};
  return ns;
}

}  // namespace gw::lua
