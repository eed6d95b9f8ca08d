#pragma once
// Lua 5.4 pattern matching that honours the call's deadline.
//
// The string library's find, match, gmatch and gsub run their matcher in C, where the instruction
// hook never fires, and a backtracking pattern is exponential in the subject length: one call could
// run for minutes past its budget. These replacements implement the same language (Lua 5.4 manual,
// section 6.4.1) with the same results and error messages, but count their steps and check the
// running call's deadline every few thousand of them; on expiry they kill the call exactly as the
// hook does (the state is retired, pcall cannot swallow it). Recursion is bounded like Lua's own
// matcher ("pattern too complex"), so a hostile pattern cannot exhaust a small C stack either.
#include <lua.hpp>

namespace gw::lua {

// Replaces find, match, gmatch and gsub in the table at `stringTable` (the string library).
void InstallPatternFunctions(lua_State* L, int stringTable);

}  // namespace gw::lua
