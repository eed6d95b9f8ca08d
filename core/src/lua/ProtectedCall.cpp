#include "lua/ProtectedCall.h"

#include <cstdio>

namespace gw::lua {

std::string DescribeErrorValue(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      size_t length = 0;
      const char* text = lua_tolstring(L, index, &length);  // a string: no conversion, no allocation
      return std::string(text, length);
    }
    case LUA_TNUMBER: {
      char buffer[64];
      if (lua_isinteger(L, index)) {
        std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(lua_tointeger(L, index)));
      } else {
        std::snprintf(buffer, sizeof buffer, "%.14g", static_cast<double>(lua_tonumber(L, index)));
      }
      return buffer;
    }
    case LUA_TNONE:
      return "(no error value)";
    default:
      return std::string("(error object is a ") + lua_typename(L, lua_type(L, index)) + " value)";
  }
}

}  // namespace gw::lua
