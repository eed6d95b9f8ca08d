#include "lua/LuaState.h"

#include <stdexcept>

#include "lua/ProtectedCall.h"
#include "lua/StackGuard.h"

namespace gw::lua {
namespace {

// How many VM instructions run between two deadline checks. A numeric for-loop ran 2.0e8 VM
// instructions per second on the development machine (2 shared cores, loaded), so 10000
// instructions are about 50 microseconds: the deadline is honoured well within a millisecond while
// the clock is read only once per 10000 instructions.
constexpr int kInstructionsPerCheck = 10000;

// Registry keys (addresses are unique) of the messages raised by the hook. They are created when
// the state is built, so raising them later never needs memory.
char kDeadlineMessageKey;  // non-const: distinct objects, never merged
char kMemoryMessageKey;
char kStackMessageKey;
constexpr const char* kDeadlineMessage = "instruction deadline exceeded (call budget used up)";
constexpr const char* kMemoryMessage = "memory limit of the Lua state exceeded";
constexpr const char* kStackMessage =
    "C stack limit: calls nested too deeply for this thread's stack (recursion through pcall, "
    "metamethods, __tostring or library callbacks)";

// Both events: instructions for the deadline and memory, calls for the C stack.
constexpr int kHookMask = LUA_MASKCOUNT | LUA_MASKCALL;

int Panic(lua_State* L) {
  // Last resort: every allocating sequence of calls runs in protected mode, so this means a bug.
  // Throwing keeps the process alive; the owner marks the state broken.
  throw std::runtime_error("unprotected Lua error: " + DescribeErrorValue(L, -1));
}

}  // namespace

LuaState::LuaState(size_t memoryLimitBytes) : limit_(memoryLimitBytes) {
  L_ = lua_newstate(&LuaState::Allocate, this);
  if (L_ == nullptr) throw std::runtime_error("cannot create a Lua state within the memory limit");
  SetCurrentContext(L_, nullptr);  // the main thread's extra space is not initialised by Lua
  lua_atpanic(L_, &Panic);
  auto job = [](lua_State* L) {
    lua_pushstring(L, kDeadlineMessage);                      // stack: msg
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kDeadlineMessageKey);  // stack: (empty)
    lua_pushstring(L, kMemoryMessage);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kMemoryMessageKey);
    lua_pushstring(L, kStackMessage);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kStackMessageKey);
  };
  const ProtectedResult result = RunProtected(L_, job);
  if (!result.Ok() || MemoryExhausted()) {
    lua_close(L_);
    L_ = nullptr;
    throw std::runtime_error("cannot initialise a Lua state within the memory limit");
  }
}

LuaState::~LuaState() {
  if (L_ == nullptr) return;
  // Closing runs pending finalizers. Scripts cannot install any (setmetatable refuses __gc), but a
  // deadline stays armed as a second line of defence so that closing can never hang.
  CallContext closing;
  closing.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  closing.state = this;
  SetCurrentContext(L_, &closing);
  ArmHook(kInstructionsPerCheck);
  lua_close(L_);
  L_ = nullptr;
}

void LuaState::ArmHook(int instructionCount) {
  lua_sethook(L_, &LuaState::Hook, kHookMask, instructionCount);
}

void LuaState::Kill(KillReason reason) {
  broken_ = true;
  if (L_ == nullptr) return;
  CallContext* context = CurrentContext(L_);
  if (context == nullptr) return;  // no call running: nothing to stop, the owner sees Broken()
  if (context->killed == KillReason::None) context->killed = reason;
  ArmHook(1);  // from now on every instruction raises: pcall cannot swallow the kill
}

void LuaState::Hook(lua_State* L, lua_Debug* ar) {
  CallContext* context = CurrentContext(L);
  if (context == nullptr || context->state == nullptr) return;
  LuaState& self = *context->state;
  if (ar->event != LUA_HOOKCOUNT) {
    // A function is entered (call or tail call): the hot path, one comparison. Lua's 200-level
    // C-call limit does not know how small this thread's stack is; this check does.
    if (context->killed == KillReason::None) {
      if (CurrentStackAddress() >= context->stackLimit) return;
      self.Kill(KillReason::Stack);
    }
  } else if (context->killed == KillReason::None) {
    if (self.MemoryExhausted()) {
      self.Kill(KillReason::Memory);
    } else if (std::chrono::steady_clock::now() >= context->deadline) {
      self.Kill(KillReason::Deadline);
    } else {
      // An allocation refusal armed the hook on every instruction and Lua's retry succeeded.
      self.ArmHook(kInstructionsPerCheck);
      return;
    }
  }
  RaiseKilled(L, *context);
}

void LuaState::RaiseKilled(lua_State* L, const CallContext& context) {
  const void* key = &kDeadlineMessageKey;
  if (context.killed == KillReason::Memory) key = &kMemoryMessageKey;
  if (context.killed == KillReason::Stack) key = &kStackMessageKey;
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);  // stack: ..., msg
  lua_error(L);
  __builtin_unreachable();  // Lua is compiled as C++: lua_error throws
}

void* LuaState::Allocate(void* ud, void* ptr, size_t osize, size_t nsize) noexcept {
  auto* self = static_cast<LuaState*>(ud);
  const size_t old = ptr != nullptr ? osize : 0;  // for new blocks osize is a type tag
  if (nsize == 0) {
    self->blocks_.Free(ptr, old);
    self->used_ -= old;
    return nullptr;
  }
  const bool identicalToRefused = self->refusedBlock_ == ptr && self->refusedOld_ == osize &&
                                  self->refusedNew_ == nsize;
  if (nsize > old && nsize - old > self->limit_ - self->used_) {
    if (self->oomPending_) self->oomConfirmed_ = true;  // the retry failed, or no retry happened
    self->oomPending_ = true;
    self->refusedBlock_ = ptr;
    self->refusedOld_ = osize;
    self->refusedNew_ = nsize;
    // Check at the next instruction whether Lua's retry after a full collection resolved it.
    if (self->L_ != nullptr && CurrentContext(self->L_) != nullptr) self->ArmHook(1);
    return nullptr;
  }
  void* block = ptr != nullptr ? self->blocks_.Resize(ptr, osize, nsize) : self->blocks_.Allocate(nsize);
  if (block == nullptr) return nullptr;  // the process itself is out of memory; Lua raises
  if (self->oomPending_ && nsize > old) {
    // The identical request succeeding is Lua's retry after its emergency collection; any other
    // growth means the refused request was given up: memory really was exhausted.
    if (!identicalToRefused) self->oomConfirmed_ = true;
    self->oomPending_ = false;
  }
  self->used_ = self->used_ - old + nsize;
  return block;
}

LuaState::CallScope::CallScope(LuaState& state, CallContext& context) : state_(state) {
  context.state = &state;
  const uintptr_t lowest = StackLowestAddress();
  context.stackLimit = lowest != 0 ? lowest + kStackReserveBytes : 0;
  SetCurrentContext(state.L_, &context);  // context first, then the hook that reads it
  state.ArmHook(kInstructionsPerCheck);
}

LuaState::CallScope::~CallScope() {
  lua_sethook(state_.L_, nullptr, 0, 0);  // hook off first, then the context it reads
  SetCurrentContext(state_.L_, nullptr);
}

}  // namespace gw::lua
