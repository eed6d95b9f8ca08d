#pragma once
// A call argument that pushes itself onto the Lua stack, for hot paths where building a JSON
// document first and converting it would cost more than the script itself (routing policies run
// on every proxied request: building the request table straight in Lua halved a decision's cost).
// ScriptEngine::Call with a rapidjson::Value is the general way; use this only when measured.
#include <rapidjson/document.h>

#include "gw/common/Error.h"

struct lua_State;

namespace gw::lua {

class Argument {
 public:
  virtual ~Argument() = default;
  // Pushes exactly one fresh value (never a value shared between calls: scripts may modify it).
  // Runs in Lua protected mode on the leased state: Lua errors (memory) may propagate.
  virtual void Push(lua_State* L) const = 0;
};

// Pushes `value` the way Call() converts a JSON argument (see lua/JsonBridge.h), for Argument
// implementations that embed JSON (a policy's PolicyConfig, for instance). Throws
// ConversionError on nesting deeper than 128 levels; the call then fails with LUA-006.
void PushJson(lua_State* L, const rapidjson::Value& value);  // defined in lua/JsonBridge.cpp

// `arg` as JSON, exactly as a script receives it (built in a throwaway Lua state: for tests and
// diagnostics, never for a hot path). LUA-008 if it cannot be converted.
Result<rapidjson::Document> ToJson(const Argument& arg);

}  // namespace gw::lua
