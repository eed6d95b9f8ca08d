#pragma once
// RAII owner of one lua_State with the two limits every script runs under:
//  - memory: a counting allocator refuses to grow past the cap; a refusal that Lua's emergency
//    collection cannot resolve kills the state;
//  - time: an instruction-count hook compares the call's deadline with the clock; once exceeded it
//    re-arms itself to fire on every instruction so that a script's pcall cannot swallow the error;
//  - C stack: the same hook also fires on every function call and stops the call when the frame
//    is within kStackReserveBytes of the thread's stack bottom (see StackGuard.h); every C-level
//    recursion of the interpreter passes through a call.
// A killed state is marked broken and must be closed rather than reused.
// One thread at a time: the pool hands a state to one caller per lease.
#include <chrono>
#include <cstddef>

#include <lua.hpp>

#include "lua/BlockCache.h"
#include "lua/CallContext.h"

namespace gw::lua {

class LuaState {
 public:
  // Throws std::runtime_error if Lua cannot create its initial structures within the cap.
  explicit LuaState(size_t memoryLimitBytes);
  ~LuaState();
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;

  lua_State* Get() const { return L_; }
  size_t MemoryUsed() const { return used_; }
  size_t MemoryLimit() const { return limit_; }

  // A broken state hit a limit or lost consistency: close it, never reuse it.
  bool Broken() const { return broken_; }
  void MarkBroken() { broken_ = true; }

  // Stops the running call for `reason`: records it in the current context (the first reason
  // wins), marks the state broken and arms the hook on every instruction.
  void Kill(KillReason reason);

  // Raises the message of the kill recorded in `context` (deadline, memory or C stack), as the
  // hook does: whoever notices a kill (the hook, the pattern matcher) reports it the same way.
  // The messages live in the registry, so raising never allocates.
  [[noreturn]] static void RaiseKilled(lua_State* L, const CallContext& context);

  // True if an allocation was refused and not resolved by Lua's retry after a full collection.
  bool MemoryExhausted() const { return oomPending_ || oomConfirmed_; }

  // Installs `context` for one call and arms the deadline hook; the destructor disarms the hook
  // first, then clears the context. Scopes do not nest.
  class CallScope {
   public:
    CallScope(LuaState& state, CallContext& context);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    LuaState& state_;
  };

 private:
  static void* Allocate(void* ud, void* ptr, size_t osize, size_t nsize) noexcept;
  static void Hook(lua_State* L, lua_Debug* ar);
  void ArmHook(int instructionCount);

  BlockCache blocks_;  // declared before L_: lua_close (in ~LuaState) still frees into it
  lua_State* L_ = nullptr;
  size_t used_ = 0;
  size_t limit_;
  bool broken_ = false;
  // Last refused allocation. Lua retries the same request once after an emergency collection;
  // only a refusal that is not followed by a successful identical retry means memory is exhausted.
  bool oomPending_ = false;
  bool oomConfirmed_ = false;
  const void* refusedBlock_ = nullptr;
  size_t refusedOld_ = 0;
  size_t refusedNew_ = 0;
};

}  // namespace gw::lua
