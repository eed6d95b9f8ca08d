#pragma once
// The list of namespaces exposed to scripts as `gw`, and the read-only proxies that expose them.
//
// Adding a namespace (e.g. gw.crypto):
//   1. write core/src/lua/BindingsCrypto.cpp with
//        const BindingNamespace& CryptoNamespace() {
//          static const BindingNamespace ns{"crypto", {{"sha256", &Protect<Sha256>}, ...}};
//          return ns;
//        }
//      (static functions `int Sha256(lua_State*)` that throw BindingError on bad input; see
//      Binding.h for the helpers and BindingsJson.cpp for a complete example);
//   2. add one line `X(Crypto)` to GW_LUA_NAMESPACES below.
// core/CMakeLists.txt globs the folder, so no build change is needed.
#include <lua.hpp>

#include "lua/Binding.h"

#define GW_LUA_NAMESPACES(X) \
  X(Root)                    \
  X(Library)                 \
  X(Json)                    \
  X(Time)                    \
  X(Env)                     \
  X(File)                    \
  X(Http)                    \
  X(Runtime)                 \
  X(Crypto)                  \
  X(Base64)                  \
  X(Url)                     \
  X(Jwt)

namespace gw::lua {

#define GW_LUA_DECLARE_NAMESPACE(Name) const BindingNamespace& Name##Namespace();
GW_LUA_NAMESPACES(GW_LUA_DECLARE_NAMESPACE)
#undef GW_LUA_DECLARE_NAMESPACE

// Builds `gw` for a fresh state and stores it in the registry. Protected mode; called by
// InstallSandbox. `gw` and every namespace are userdata proxies: reads go to a private table,
// writes raise "gw is read-only", getmetatable returns "locked", and rawset does not apply.
void InstallGw(lua_State* L);

// stack: ... -> ..., gw
void PushGw(lua_State* L);

}  // namespace gw::lua
