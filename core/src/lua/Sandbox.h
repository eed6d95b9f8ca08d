#pragma once
// The environment every script runs in. The allowlist itself is data in Sandbox.cpp.
//
// A script sees only its own _ENV table: the allowed base functions, private copies of the allowed
// libraries (so one script cannot change string.format for another) and the read-only `gw` proxy.
// Nothing else of the state is reachable: no io, os, debug, package, load*, dofile, require,
// collectgarbage, coroutine, print; string.dump is removed even from the table behind the shared
// string metatable, and that metatable is locked (__metatable).
#include <lua.hpp>

namespace gw::lua {

// Opens the allowed libraries into a fresh state, strips what scripts must never reach, locks the
// string metatable, empties the real global table and installs `gw`. Protected mode; once per state.
void InstallSandbox(lua_State* L);

// Pushes a new _ENV table for one script. Protected mode. stack: ... -> ..., env
void PushScriptEnv(lua_State* L);

// Pushes _VERSION as the linked Lua library reports it (e.g. "Lua 5.4"). stack: ... -> ..., s
void PushLuaVersion(lua_State* L);

}  // namespace gw::lua
