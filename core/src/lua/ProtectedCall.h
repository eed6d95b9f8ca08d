#pragma once
// Running C++ work that touches a lua_State in Lua's protected mode.
//
// Outside a protected call, any Lua error (most often "not enough memory" from the capped
// allocator) reaches the panic handler and aborts the process. So every sequence of lua_* calls
// that may allocate runs as a job inside RunProtected: Lua errors come back as a status and a
// message, and C++ exceptions thrown by the job are caught inside the trampoline (a C++ exception
// escaping into Lua's own try/catch would be reported with a meaningless status).
// Lua is compiled as C++ here, so a Lua error unwinds the job's C++ frames with destructors run.
#include <exception>
#include <string>

#include <lua.hpp>

namespace gw::lua {

struct ProtectedResult {
  int status = LUA_OK;  // LUA_OK, a LUA_ERR* status, or kCppErrorStatus
  std::string message;  // empty on success
  bool Ok() const { return status == LUA_OK; }
};

inline constexpr int kCppErrorStatus = 1000;

// Text of the error value at `index`. Never allocates inside Lua (safe outside protected mode):
// strings are copied, other values are described by type.
std::string DescribeErrorValue(lua_State* L, int index);

namespace detail {
template <class Job>
struct ProtectedFrame {
  Job* job;
  std::string error;
  bool threw = false;
};

template <class Job>
int ProtectedTrampoline(lua_State* L) {
  auto* frame = static_cast<ProtectedFrame<Job>*>(lua_touserdata(L, 1));
  lua_settop(L, 0);  // stack: (empty)
  try {
    (*frame->job)(L);
  } catch (const std::exception& e) {  // Lua's own errors are not std::exception: they pass
    frame->threw = true;
    frame->error = e.what();
  }
  return 0;  // whatever the job left on the stack is dropped by Lua
}
}  // namespace detail

// Runs job(L) in protected mode. The stack is left as it was before the call.
template <class Job>
ProtectedResult RunProtected(lua_State* L, Job& job) {
  detail::ProtectedFrame<Job> frame{&job, {}, false};
  lua_pushcfunction(L, &detail::ProtectedTrampoline<Job>);  // stack: fn (no allocation)
  lua_pushlightuserdata(L, &frame);                         // stack: fn, frame
  ProtectedResult result;
  result.status = lua_pcall(L, 1, 0, 0);                    // stack: | err
  if (result.status != LUA_OK) {
    result.message = DescribeErrorValue(L, -1);
    lua_pop(L, 1);
  } else if (frame.threw) {
    result.status = kCppErrorStatus;
    result.message = std::move(frame.error);
  }
  return result;
}

}  // namespace gw::lua
