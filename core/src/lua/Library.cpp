// Library scripts: registration, read-only views and gw.library(name). See Library.h.
#include "lua/Library.h"

#include <algorithm>
#include <string>
#include <vector>

#include "lua/BindingRegistry.h"

namespace gw::lua {
namespace {

constexpr size_t kMaxNameShown = 64;  // of a name given to gw.library, in messages

// Registry keys (addresses are unique).
char kLoadedKey;    // table: library name -> view of its contract
char kViewsKey;     // table with weak keys: real table -> its view
char kViewMetaKey;  // the metatable shared by every view

// Pushes `value` (at `index`) as a script may see it: a table as its view, anything else as it is.
// stack: ... -> ..., value | view
void PushView(lua_State* L, int index);

// The table behind the view at index 1. stack: view, ... -> view, ..., table
void PushTarget(lua_State* L) { lua_getiuservalue(L, 1, 1); }

// view[key]: the table's field (its own metamethods apply), nested tables as views.
int ViewIndex(lua_State* L) {
  lua_settop(L, 2);
  PushTarget(L);             // stack: view, key, table
  lua_pushvalue(L, 2);       // stack: view, key, table, key
  lua_gettable(L, 3);        // stack: view, key, table, value
  PushView(L, 4);            // stack: view, key, table, value, shown
  return 1;
}

int ViewRefuseWrite(lua_State* L) {
  std::string key;
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t length = 0;
    const char* text = lua_tolstring(L, 2, &length);
    key = "'" + std::string(text, std::min(length, kMaxNameShown)) + "'";
  } else {
    key = std::string("of type ") + luaL_typename(L, 2);
  }
  throw BindingError("library tables are read-only (attempt to set field " + key + ")");
}

int ViewLength(lua_State* L) {
  lua_settop(L, 1);  // stack: view (Lua passes the operand twice)
  PushTarget(L);     // stack: view, table
  lua_len(L, 2);     // stack: view, table, length
  return 1;
}

// The iterator of pairs(view): raw traversal of the table, keys and values as views. It keeps the
// table's own last key in upvalue 2, so the control value the loop hands back (a key's view)
// never has to be mapped back to the key. upvalue 1: the table.
int ViewNext(lua_State* L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));     // stack: table
  lua_pushvalue(L, lua_upvalueindex(2));     // stack: table, last key
  if (lua_next(L, 1) == 0) {                 // stack: table, key, value | table
    lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_replace(L, lua_upvalueindex(2));       // remember the real key
  PushView(L, 2);                            // stack: table, key, value, key'
  PushView(L, 3);                            // stack: table, key, value, key', value'
  return 2;
}

int ViewPairs(lua_State* L) {
  lua_settop(L, 1);
  PushTarget(L);                                  // stack: view, table
  lua_pushnil(L);                                 // stack: view, table, nil
  lua_pushcclosure(L, &Protect<ViewNext>, 2);     // stack: view, next
  lua_pushvalue(L, 1);                            // stack: view, next, view
  lua_pushnil(L);                                 // stack: view, next, view, nil
  return 3;
}

// stack: ... -> ..., metatable of views (created once per state)
void PushViewMetatable(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kViewMetaKey) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 6);                      // stack: ..., mt
  lua_pushcfunction(L, &Protect<ViewIndex>);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, &Protect<ViewRefuseWrite>);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, &Protect<ViewLength>);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, &Protect<ViewPairs>);
  lua_setfield(L, -2, "__pairs");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");            // getmetatable(view) == "locked"
  lua_pushliteral(L, "library");
  lua_setfield(L, -2, "__name");                 // tostring(view) == "library: 0x..."
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kViewMetaKey);
}

// stack: ... -> ..., the registry table at `key` (created on first use; `mode` its __mode or null)
void PushRegistryTable(lua_State* L, const void* key, const char* mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);                               // stack: ..., t
  if (mode != nullptr) {
    lua_createtable(L, 0, 1);                    // stack: ..., t, mt
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);                     // stack: ..., t
  }
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void PushView(lua_State* L, int index) {
  index = lua_absindex(L, index);
  if (lua_type(L, index) != LUA_TTABLE) {
    lua_pushvalue(L, index);
    return;
  }
  // Weak keys: a view lives as long as its table (the view refers to the table only through its
  // user value, which does not keep the cache entry alive: the cache is an ephemeron table).
  PushRegistryTable(L, &kViewsKey, "k");         // stack: ..., views
  lua_pushvalue(L, index);
  if (lua_rawget(L, -2) != LUA_TNIL) {           // stack: ..., views, view
    lua_remove(L, -2);                           // stack: ..., view
    return;
  }
  lua_pop(L, 1);                                 // stack: ..., views
  lua_newuserdatauv(L, 0, 1);                    // stack: ..., views, view
  lua_pushvalue(L, index);
  lua_setiuservalue(L, -2, 1);                   // the view's table
  PushViewMetatable(L);
  lua_setmetatable(L, -2);                       // stack: ..., views, view
  lua_pushvalue(L, index);
  lua_pushvalue(L, -2);                          // stack: ..., views, view, table, view
  lua_rawset(L, -4);                             // stack: ..., views, view
  lua_remove(L, -2);                             // stack: ..., view
}

// gw.library(name) -> the read-only view of library `name`. Raises when no library of that name
// has been loaded in this state (yet): libraries load in order, before every other script.
int Library(lua_State* L) {
  const std::string_view name = ArgString(L, 1, "gw.library", "name");
  PushRegistryTable(L, &kLoadedKey, nullptr);    // stack: name, loaded
  lua_pushvalue(L, 1);
  if (lua_rawget(L, 2) != LUA_TNIL) return 1;    // stack: name, loaded, view
  lua_pop(L, 1);                                 // stack: name, loaded

  std::vector<std::string> loaded;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {                  // stack: name, loaded, key, view
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) loaded.emplace_back(lua_tostring(L, -1));
  }
  std::sort(loaded.begin(), loaded.end());
  std::string list;
  for (const std::string& n : loaded) list += (list.empty() ? "" : ", ") + n;
  const std::string shown(name.substr(0, kMaxNameShown));
  throw BindingError("gw.library: no library '" + shown + "' is loaded (loaded: " +
                     (list.empty() ? std::string("none") : list) +
                     "); libraries are the kind \"library\" scripts of lib/ folders, loaded in order before all "
                     "other scripts, so a library can use only the libraries loaded before it");
}

}  // namespace

void RegisterLibrary(lua_State* L, int contract, std::string_view name) {
  contract = lua_absindex(L, contract);
  PushRegistryTable(L, &kLoadedKey, nullptr);    // stack: ..., loaded
  lua_pushlstring(L, name.data(), name.size());  // stack: ..., loaded, name
  PushView(L, contract);                         // stack: ..., loaded, name, view
  lua_rawset(L, -3);                             // stack: ..., loaded
  lua_pop(L, 1);                                 // stack: ...
}

const BindingNamespace& LibraryNamespace() {
  static const BindingNamespace ns{"", {{"library", &Protect<Library>}}};
  return ns;
}

}  // namespace gw::lua
