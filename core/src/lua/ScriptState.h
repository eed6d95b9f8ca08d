#pragma once
// One lua_State with every script of a snapshot loaded: the unit the pool leases to one caller.
//
// Loading compiles each script's stored text (text mode only) with its own _ENV, runs the chunk
// under the memory cap and a per-script deadline (EngineOptions::defaultBudget), validates the
// contract table it returns and keeps a registry reference to each contract function, so a call
// costs no lookup by name inside Lua. Compiling runs on a thread with kCompileStackBytes of stack
// when the caller's is smaller (an Orthanc HTTP thread).
// Not thread safe: one caller at a time (the pool guarantees it).
#include <chrono>
#include <memory>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/lua/Argument.h"
#include "lua/ScriptSource.h"

namespace gw::lua {

class EngineServices;
class LuaState;

class ScriptState {
 public:
  enum class Mode {
    Check,  // reload check: fills `scripts` from the contracts, runs self_test, names must be unique
    Pool,   // serving state: contracts must match `scripts` exactly
  };

  // Errors: LUA-001 syntax (incl. bytecode refused), LUA-002 chunk raised (or its calls nested too
  // deeply for the C stack), LUA-003 contract, LUA-004/005 limits while loading, LUA-010 duplicate name, LUA-011 self_test failed.
  static Result<std::unique_ptr<ScriptState>> Load(const std::vector<ScriptSource>& sources,
                                                   std::vector<ScriptMeta>& scripts, Mode mode,
                                                   EngineServices& services);
  ~ScriptState();

  // Runs scripts[script].functions[function](arg) before `deadline`. See ScriptEngine::Call for
  // the return convention and error codes. A call that hits a limit leaves the state Broken().
  // Whatever the function returns after `deadline` is discarded (LUA-004); a thread with less
  // than kMinCallStackBytes of stack left is refused before Lua runs (LUA-006).
  // The returned value is written into `result` (left unspecified on error).
  Status Invoke(size_t script, size_t function, const ScriptMeta& meta, const Argument& arg,
                std::chrono::steady_clock::time_point deadline, rapidjson::Document& result);

  bool Broken() const;
  int StackTop() const;  // 0 between calls; anything else is a bug and retires the state
  size_t MemoryUsed() const;

 private:
  ScriptState(std::unique_ptr<LuaState> state, EngineServices& services);
  // Load() on the calling thread, whatever its stack.
  static Result<std::unique_ptr<ScriptState>> LoadHere(const std::vector<ScriptSource>& sources,
                                                       std::vector<ScriptMeta>& scripts, Mode mode,
                                                       EngineServices& services);
  // Compiles and runs one script, validates its contract into `meta`, appends its function refs.
  Status LoadScript(const ScriptSource& source, ScriptMeta& meta, bool runSelfTest, std::vector<int>& refs);

  std::unique_ptr<LuaState> state_;
  EngineServices& services_;
  std::vector<std::vector<int>> refs_;  // [script][function] -> registry reference
};

}  // namespace gw::lua
