#include "lua/Sandbox.h"

#include "lua/BindingRegistry.h"
#include "lua/PatternMatch.h"

namespace gw::lua {
namespace {

// ---- The allowlist --------------------------------------------------------------------------------

// Base functions copied into every _ENV. setmetatable and xpcall are replaced by the checked
// versions below (SafeSetMetatable, SafeXpcall).
constexpr const char* kBaseGlobals[] = {
    "assert", "error",    "getmetatable", "ipairs", "next",     "pairs",    "pcall",
    "rawequal", "rawget", "rawlen",       "rawset", "select",   "tonumber", "tostring",
    "type",   "_VERSION",
};

struct LibrarySpec {
  const char* name;
  lua_CFunction open;
  const char* removed[2];  // fields deleted from the library itself (nullptr-terminated)
  void (*patch)(lua_State* L, int library);  // replaces functions of the library, or nullptr
};

void PatchString(lua_State* L, int library);
void PatchTable(lua_State* L, int library);

// Libraries every script gets a private copy of.
//  - string.dump: turns functions into bytecode (bytecode is never loaded, but it also leaks
//    upvalue layout); removed from the master table, which is also the string metatable's __index.
//  - string.find/match/gmatch/gsub and string.rep are replaced (PatchString): they run in C where
//    the instruction hook never fires. Patched in the master table, so s:find() (the string
//    metatable's __index) gets them too.
//  - math.randomseed: the generator is shared by all scripts of a state; one script must not be
//    able to make another's math.random predictable.
constexpr LibrarySpec kLibraries[] = {
    {"string", luaopen_string, {"dump", nullptr}, &PatchString},
    {"table", luaopen_table, {nullptr, nullptr}, &PatchTable},
    {"math", luaopen_math, {"randomseed", nullptr}, nullptr},
    {"utf8", luaopen_utf8, {nullptr, nullptr}, nullptr},
};

// Deliberately absent (everything not listed above): io, os (process, files, clock), debug
// (breaks every guarantee), package/require/dofile/loadfile/load (code from outside the snapshot,
// bytecode), collectgarbage (scripts must not stop or tune the collector the limits rely on),
// coroutine (a coroutine would run without the call's hook), print (stdout; use gw.log).

// Registry keys (addresses are unique).
char kTemplateKey;   // table: base globals for a new _ENV
char kLibrariesKey;  // table: name -> master library table
char kVersionKey;    // string: _VERSION

// setmetatable without finalizers: a __gc metamethod would run at collection time, outside any
// call's deadline (even inside lua_close). Lua only registers a finalizer if __gc is present when
// the metatable is set, so checking here is enough. upvalue 1: the original setmetatable.
int SafeSetMetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");  // stack: t, mt, "__gc"
    lua_rawget(L, 2);            // stack: t, mt, mt.__gc
    const bool hasFinalizer = !lua_isnil(L, -1);
    lua_pop(L, 1);               // stack: t, mt
    if (hasFinalizer) return luaL_error(L, "setmetatable: __gc metamethods are not allowed in scripts");
  }
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));  // stack: t, mt, setmetatable
  lua_insert(L, 1);                       // stack: setmetatable, t, mt
  lua_call(L, 2, 1);                      // stack: t
  return 1;
}

// xpcall whose message handler runs after the error has unwound, as ordinary code under the hook.
// Lua calls a message handler at the point of the error; for an error raised by the instruction
// hook (deadline, memory) that point is inside the hook, where Lua disables hooks, so a handler
// that loops would never be stopped (found by LuaLimits/infinite loop inside pcall). Scripts
// cannot observe the difference: without the debug library a handler cannot inspect the stack.
// If the handler itself fails, xpcall returns false and the handler's error.
int SafeXpcall(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checkany(L, 2);                  // stack: f, handler, args...
  lua_pushboolean(L, 1);                // stack: f, handler, args..., true
  lua_pushvalue(L, 1);                  // stack: f, handler, args..., true, f
  lua_rotate(L, 3, 2);                  // stack: f, handler, true, f, args...
  if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
    return lua_gettop(L) - 2;           // stack: f, handler, true, results...
  }                                     // stack: f, handler, true, err
  lua_pushvalue(L, 2);
  lua_insert(L, -2);                    // stack: f, handler, true, handler, err
  lua_pcall(L, 1, 1, 0);                // stack: f, handler, true, result
  lua_pushboolean(L, 0);
  lua_replace(L, -3);                   // stack: f, handler, false, result
  return 2;
}

// string.rep without its one unbounded loop: Lua copies an empty string n times (n up to 2^63) in
// C, allocating nothing, so neither the deadline nor the memory cap stops string.rep("", 1e15).
// The arguments are checked exactly as Lua checks them; any other call is Lua's own.
// upvalue 1: the original string.rep.
int SafeRep(lua_State* L) {
  size_t length = 0;
  size_t separatorLength = 0;
  luaL_checklstring(L, 1, &length);
  luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &separatorLength);
  if (length == 0 && separatorLength == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));  // stack: s, n, sep, rep
  lua_insert(L, 1);                       // stack: rep, s, n, sep
  lua_call(L, 3, 1);
  return 1;
}

// table.move without its unbounded loop: Lua copies e - f + 1 slots in C even when they are all
// empty, allocating nothing, so neither the deadline nor the memory cap stops
// table.move({}, 1, 1e12, 2). A range longer than any table a state can hold (2^22 slots: 64 MiB of
// values, twice the default memory cap) is refused; any other call is Lua's own.
// upvalue 1: the original table.move.
constexpr lua_Integer kMaxMoveSlots = lua_Integer(1) << 22;

int SafeMove(lua_State* L) {
  const lua_Integer first = luaL_checkinteger(L, 2);
  const lua_Integer last = luaL_checkinteger(L, 3);
  if (last >= first && (first <= 0 ? last >= first + kMaxMoveSlots : last - first >= kMaxMoveSlots)) {
    return luaL_error(L, "table.move: a range of more than %d slots is refused (no script table is that large)",
                      static_cast<int>(kMaxMoveSlots));
  }
  const int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));  // stack: args..., move
  lua_insert(L, 1);                       // stack: move, args...
  lua_call(L, n, 1);
  return 1;
}

// stack: ..., table, ...  (the library at `library`)
void PatchTable(lua_State* L, int library) {
  library = lua_absindex(L, library);
  lua_getfield(L, library, "move");        // stack: ..., move
  lua_pushcclosure(L, &SafeMove, 1);       // stack: ..., safe
  lua_setfield(L, library, "move");        // stack: ...
}

// The string library's functions that would run unbounded in C: pattern matching (backtracking is
// exponential; PatternMatch.h gives the same results but honours the call's deadline) and rep.
// stack: ..., string, ...  (the library at `library`)
void PatchString(lua_State* L, int library) {
  library = lua_absindex(L, library);
  InstallPatternFunctions(L, library);
  lua_getfield(L, library, "rep");         // stack: ..., rep
  lua_pushcclosure(L, &SafeRep, 1);        // stack: ..., safe
  lua_setfield(L, library, "rep");         // stack: ...
}

// stack: ..., src -> ..., src, copy  (shallow, raw)
void PushShallowCopy(lua_State* L) {
  const int source = lua_gettop(L);
  lua_newtable(L);                    // stack: ..., src, copy
  lua_pushnil(L);                     // stack: ..., src, copy, nil
  while (lua_next(L, source) != 0) {  // stack: ..., src, copy, k, v
    lua_pushvalue(L, -2);             // stack: ..., src, copy, k, v, k
    lua_insert(L, -2);                // stack: ..., src, copy, k, k, v
    lua_rawset(L, -4);                // stack: ..., src, copy, k
  }
}

}  // namespace

void InstallSandbox(lua_State* L) {
  luaL_requiref(L, "_G", luaopen_base, 0);  // stack: G
  const int globals = lua_gettop(L);

  lua_getfield(L, globals, "_VERSION");             // stack: G, version
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kVersionKey);  // stack: G

  lua_newtable(L);                                  // stack: G, template
  for (const char* name : kBaseGlobals) {
    lua_getfield(L, globals, name);                 // stack: G, template, value
    lua_setfield(L, -2, name);                      // stack: G, template
  }
  lua_getfield(L, globals, "setmetatable");         // stack: G, template, setmetatable
  lua_pushcclosure(L, &SafeSetMetatable, 1);        // stack: G, template, safe
  lua_setfield(L, -2, "setmetatable");              // stack: G, template
  lua_pushcfunction(L, &SafeXpcall);
  lua_setfield(L, -2, "xpcall");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kTemplateKey); // stack: G

  lua_newtable(L);                                  // stack: G, libraries
  for (const LibrarySpec& library : kLibraries) {
    luaL_requiref(L, library.name, library.open, 0);  // stack: G, libraries, lib
    for (const char* removed : library.removed) {
      if (removed == nullptr) break;
      lua_pushnil(L);
      lua_setfield(L, -2, removed);
    }
    if (library.patch != nullptr) library.patch(L, -1);
    lua_setfield(L, -2, library.name);              // stack: G, libraries
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kLibrariesKey);  // stack: G

  // The shared string metatable: getmetatable("") returns "locked" and setmetatable cannot
  // replace it, so scripts never reach its __index (the master string table).
  lua_pushliteral(L, "");                           // stack: G, ""
  if (lua_getmetatable(L, -1)) {                    // stack: G, "", mt
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);                                  // stack: G, ""
  }
  lua_pop(L, 1);                                    // stack: G

  // Empty the real global table: nothing a script can reach refers to it, and keeping it empty
  // means a future mistake cannot expose load, print or dofile through it.
  lua_pushnil(L);                                   // stack: G, nil
  while (lua_next(L, globals) != 0) {               // stack: G, k, v
    lua_pop(L, 1);                                  // stack: G, k
    lua_pushvalue(L, -1);                           // stack: G, k, k
    lua_pushnil(L);                                 // stack: G, k, k, nil
    lua_rawset(L, globals);                         // stack: G, k  (clearing a field during traversal is allowed)
  }
  lua_pop(L, 1);                                    // stack: (empty)

  InstallGw(L);
}

void PushScriptEnv(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kTemplateKey);  // stack: ..., template
  PushShallowCopy(L);                                // stack: ..., template, env
  lua_remove(L, -2);                                 // stack: ..., env
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLibrariesKey); // stack: ..., env, libraries
  for (const LibrarySpec& library : kLibraries) {
    lua_getfield(L, -1, library.name);               // stack: ..., env, libraries, lib
    PushShallowCopy(L);                              // stack: ..., env, libraries, lib, copy
    lua_setfield(L, -4, library.name);               // stack: ..., env, libraries, lib
    lua_pop(L, 1);                                   // stack: ..., env, libraries
  }
  lua_pop(L, 1);                                     // stack: ..., env
  PushGw(L);                                         // stack: ..., env, gw
  lua_setfield(L, -2, "gw");                         // stack: ..., env
}

void PushLuaVersion(lua_State* L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &kVersionKey); }

}  // namespace gw::lua
