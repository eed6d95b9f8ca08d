// gw.env.get(name): environment variables named in EngineOptions::envAllowlist.
#include <cstdlib>
#include <string>

#include "gw/common/Log.h"
#include "lua/BindingRegistry.h"
#include "lua/EngineServices.h"

namespace gw::lua {
namespace {

// gw.env.get(name) -> string, or nil when the variable is unset or not allowlisted. A refused name
// is logged once (warning) per engine so operators see what a script wanted; its value is never
// read. getenv is safe here because the gateway never modifies its environment after start-up.
int Get(lua_State* L) {
  const std::string_view name = ArgString(L, 1, "gw.env.get", "name");
  CallContext& context = RequireContext(L, "gw.env.get");
  if (!context.services->EnvAllowed(name)) {
    if (context.services->FirstEnvRefusal(name)) {
      std::string message = "[lua:";
      message.append(context.scriptName.data(), context.scriptName.size());
      message += "] gw.env.get refused '";
      message.append(name.data(), name.size() < 128 ? name.size() : 128);
      message += "': not in the environment allowlist (logged once per name)";
      LogWarning(message);
    }
    lua_pushnil(L);
    return 1;
  }
  const std::string key(name);  // NUL-terminated copy for getenv
  const char* value = std::getenv(key.c_str());
  if (value == nullptr) {
    lua_pushnil(L);
  } else {
    lua_pushstring(L, value);
  }
  return 1;
}

}  // namespace

const BindingNamespace& EnvNamespace() {
  static const BindingNamespace ns{"env", {{"get", &Protect<Get>}}};
  return ns;
}

}  // namespace gw::lua
