// gw.json: encode(value) -> string, decode(text) -> value | nil, message, and the null sentinel.
#include <string>

#include "lua/BindingRegistry.h"
#include "lua/JsonBridge.h"

namespace gw::lua {
namespace {

// gw.json.encode(value) -> string. Raises on values without a JSON form (functions, cycles,
// NaN, mixed tables...); see JsonBridge.h for the mapping.
int Encode(lua_State* L) {
  if (lua_isnone(L, 1)) throw BindingError("gw.json.encode: value expected");
  std::string text;
  try {
    text = EncodeJson(L, 1);
  } catch (const ConversionError& e) {
    throw BindingError(std::string("gw.json.encode: ") + e.what());
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

// gw.json.decode(text) -> value, or nil plus a message for invalid JSON (data from the outside is
// expected to be wrong sometimes, so this is a value and not an error). JSON null decodes to
// gw.json.null.
int Decode(lua_State* L) {
  const std::string_view text = ArgString(L, 1, "gw.json.decode", "text");
  std::string error;
  if (DecodeJson(L, text, error)) return 1;  // stack: ..., value
  lua_pushnil(L);
  error.insert(0, "gw.json.decode: ");
  lua_pushlstring(L, error.data(), error.size());
  return 2;
}

void AddNull(lua_State* L, int table) {
  PushJsonNull(L);
  lua_setfield(L, table, "null");
}

}  // namespace

const BindingNamespace& JsonNamespace() {
  static const BindingNamespace ns{"json", {{"encode", &Protect<Encode>}, {"decode", &Protect<Decode>}}, &AddNull};
  return ns;
}

}  // namespace gw::lua
