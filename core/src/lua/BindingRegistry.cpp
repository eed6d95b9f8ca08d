#include "lua/BindingRegistry.h"

#include <string>

namespace gw::lua {
namespace {

char kGwKey;  // registry key of the gw proxy

const BindingNamespace* const kNamespaces[] = {
#define GW_LUA_LIST_NAMESPACE(Name) &Name##Namespace(),
    GW_LUA_NAMESPACES(GW_LUA_LIST_NAMESPACE)
#undef GW_LUA_LIST_NAMESPACE
};

int RefuseWrite(lua_State* L) {
  return luaL_error(L, "gw is read-only (attempt to set field '%s')",
                    lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

// stack: ..., table -> ..., proxy   (the table is only reachable through the proxy's metatable)
void WrapInProxy(lua_State* L, const char* name) {
  lua_newuserdatauv(L, 0, 0);                  // stack: ..., table, proxy
  lua_createtable(L, 0, 5);                    // stack: ..., table, proxy, mt
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");              // reads go to the private table
  lua_pushcfunction(L, &RefuseWrite);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");          // getmetatable(gw) == "locked"; setmetatable fails
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");               // tostring(gw.http) == "gw.http: 0x..."
  lua_setmetatable(L, -2);                     // stack: ..., table, proxy
  lua_remove(L, -2);                           // stack: ..., proxy
}

// stack: ..., table -> ..., table
void AddFunctions(lua_State* L, const BindingNamespace& ns) {
  for (const BindingFunction& f : ns.functions) {
    lua_pushcfunction(L, f.function);
    lua_setfield(L, -2, f.name);
  }
  if (ns.addConstants != nullptr) ns.addConstants(L, lua_gettop(L));
}

}  // namespace

void InstallGw(lua_State* L) {
  lua_newtable(L);  // stack: root
  for (const BindingNamespace* ns : kNamespaces) {
    if (ns->name[0] == '\0') {
      AddFunctions(L, *ns);                    // stack: root
      continue;
    }
    lua_newtable(L);                           // stack: root, table
    AddFunctions(L, *ns);
    WrapInProxy(L, (std::string("gw.") + ns->name).c_str());  // stack: root, proxy
    lua_setfield(L, -2, ns->name);             // stack: root
  }
  WrapInProxy(L, "gw");                        // stack: gw
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kGwKey);  // stack: (empty)
}

void PushGw(lua_State* L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &kGwKey); }

}  // namespace gw::lua
