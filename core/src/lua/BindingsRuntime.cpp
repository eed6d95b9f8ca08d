// gw.runtime: facts about the runtime itself.
#include "lua/BindingRegistry.h"
#include "lua/Sandbox.h"

namespace gw::lua {
namespace {

// gw.runtime.lua_version() -> _VERSION as the linked Lua library set it (e.g. "Lua 5.4"): proves
// at run time which Lua the gateway runs, whatever Lua the host process links.
int LuaVersion(lua_State* L) {
  PushLuaVersion(L);
  return 1;
}

}  // namespace

const BindingNamespace& RuntimeNamespace() {
  static const BindingNamespace ns{"runtime", {{"lua_version", &Protect<LuaVersion>}}};
  return ns;
}

}  // namespace gw::lua
