#include "gw/lua/Argument.h"

#include <memory>

#include "lua/JsonBridge.h"
#include "lua/ProtectedCall.h"

namespace gw::lua {

Result<rapidjson::Document> ToJson(const Argument& arg) {
  const std::unique_ptr<lua_State, decltype(&lua_close)> state(luaL_newstate(), &lua_close);
  if (!state) return MakeError("LUA-005", "cannot create a Lua state");
  rapidjson::Document out;
  auto job = [&](lua_State* L) {
    arg.Push(L);               // stack: value
    ToJsonDocument(L, 1, out);
  };
  const ProtectedResult result = RunProtected(state.get(), job);
  if (!result.Ok()) return MakeError("LUA-008", "the argument cannot be converted: " + result.message);
  return Result<rapidjson::Document>(std::move(out));
}

}  // namespace gw::lua
