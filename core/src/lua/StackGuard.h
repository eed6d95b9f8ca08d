#pragma once
// How much C stack the calling thread has left, and running work on a thread with a known stack.
//
// Why: scripts run on Orthanc's HTTP threads (Debian's libcivetweb gives its workers 100 KiB of
// stack, measured), while Lua's own C-call limit (LUAI_MAXCCALLS = 200, fixed at build time)
// assumes a main-thread stack of megabytes. Every C-level recursion of the interpreter (pcall,
// metamethods, gsub/sort callbacks, __tostring) goes through a function call, so LuaState's hook
// checks the stack left on each call (see kStackReserveBytes); the Lua parser recurses without
// calls, so compiling runs on a thread of kCompileStackBytes (RunWithStack).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace gw::lua {

// Stack a call must keep free below the frame where Lua enters a function: enough for one more
// level of any C function of the libraries scripts get (luaL_Buffer, format buffers, a JSON
// conversion, a C++ exception unwinding) plus the interpreter frames to the next call event.
// Measured, see docs/lua-api.md "Limits" (the C stack).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr size_t kStackReserveBytes = 64 * 1024;  // instrumented frames are several times larger
#else
inline constexpr size_t kStackReserveBytes = 24 * 1024;
#endif

// Stack a script call needs at entry; a thread with less is refused before Lua runs.
inline constexpr size_t kMinCallStackBytes = kStackReserveBytes + 8 * 1024;

// Stack for compiling scripts: Lua's parser recurses up to 200 levels on nested expressions and
// blocks without any function call the hook could see.
inline constexpr size_t kCompileStackBytes = 2 * 1024 * 1024;

// Address below which the calling thread's stack (growing down) is exhausted: its lowest usable
// byte, guard page excluded. Computed once per thread (pthread_getattr_np). 0 if unknown.
uintptr_t StackLowestAddress();

// Approximate address of the caller's current frame.
uintptr_t CurrentStackAddress();

// Bytes of stack left below the caller's frame; SIZE_MAX if the bounds are unknown.
size_t StackRemaining();

// Runs `work` here if this thread has at least `stackBytes` left, otherwise on a new thread with a
// stack of `stackBytes`, joined before returning (exceptions are rethrown here). Returns false
// (and `error` says why) only if that thread cannot be started; `work` has then not run.
bool RunWithStack(size_t stackBytes, const std::function<void()>& work, std::string& error);

}  // namespace gw::lua
