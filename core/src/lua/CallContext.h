#pragma once
// Per-call context of one lua_State, reachable from the instruction hook, the allocator and the
// bindings through lua_getextraspace (one pointer; Debian builds Lua 5.4 with LUA_EXTRASPACE =
// sizeof(void*)). LuaState::CallScope sets it before the hook is armed and clears it after the hook
// is disarmed, so nothing running in Lua ever sees a context that outlived its call.
#include <chrono>
#include <cstdint>
#include <string_view>

#include <lua.hpp>

namespace gw::lua {

class EngineServices;
class LuaState;

enum class KillReason { None, Deadline, Memory, Stack };

struct CallContext {
  std::chrono::steady_clock::time_point deadline;
  std::string_view scriptName;         // whose code runs: gw.log prefix, messages
  EngineServices* services = nullptr;  // null while a state is being closed
  LuaState* state = nullptr;           // set by CallScope
  KillReason killed = KillReason::None;
  // Set by CallScope: a function entered with its frame below this address is stopped (Stack);
  // 0 when the thread's stack bounds are unknown.
  uintptr_t stackLimit = 0;
};

static_assert(LUA_EXTRASPACE >= sizeof(void*), "the call context needs one pointer of extra space");

// The context of the call running on `L`, or nullptr when the state is idle.
inline CallContext* CurrentContext(lua_State* L) {
  return *static_cast<CallContext**>(lua_getextraspace(L));
}

inline void SetCurrentContext(lua_State* L, CallContext* context) {
  *static_cast<CallContext**>(lua_getextraspace(L)) = context;
}

}  // namespace gw::lua
