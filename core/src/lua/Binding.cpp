#include "lua/Binding.h"

namespace gw::lua {
namespace {

[[noreturn]] void Fail(const char* function, const std::string& what) {
  throw BindingError(std::string(function) + ": " + what);
}

std::string TypeOf(lua_State* L, int index) { return lua_typename(L, lua_type(L, index)); }

// stack: ..., value of t[key]
void PushRawField(lua_State* L, int table, const char* key) {
  lua_pushstring(L, key);
  lua_rawget(L, table);
}

}  // namespace

CallContext& RequireContext(lua_State* L, const char* function) {
  CallContext* context = CurrentContext(L);
  if (context == nullptr || context->services == nullptr) Fail(function, "not available here");
  return *context;
}

std::string_view ArgString(lua_State* L, int index, const char* function, const char* what) {
  if (lua_type(L, index) != LUA_TSTRING) Fail(function, std::string(what) + " must be a string, got " + TypeOf(L, index));
  size_t length = 0;
  const char* text = lua_tolstring(L, index, &length);
  return std::string_view(text, length);
}

void ArgTable(lua_State* L, int index, const char* function, const char* what) {
  if (lua_type(L, index) != LUA_TTABLE) Fail(function, std::string(what) + " must be a table, got " + TypeOf(L, index));
}

std::optional<std::string_view> FieldString(lua_State* L, int table, const char* key, const char* function) {
  PushRawField(L, table, key);  // stack: ..., v
  std::optional<std::string_view> out;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t length = 0;
    const char* text = lua_tolstring(L, -1, &length);
    out = std::string_view(text, length);  // still referenced by the table after the pop
  } else if (!lua_isnil(L, -1)) {
    const std::string type = TypeOf(L, -1);
    lua_pop(L, 1);
    Fail(function, std::string("field '") + key + "' must be a string, got " + type);
  }
  lua_pop(L, 1);  // stack: ...
  return out;
}

std::optional<lua_Integer> FieldInteger(lua_State* L, int table, const char* key, const char* function) {
  PushRawField(L, table, key);  // stack: ..., v
  std::optional<lua_Integer> out;
  if (lua_type(L, -1) == LUA_TNUMBER) {
    int isInteger = 0;
    const lua_Integer value = lua_tointegerx(L, -1, &isInteger);  // accepts 5.0, refuses 5.5
    if (!isInteger) {
      lua_pop(L, 1);
      Fail(function, std::string("field '") + key + "' must be an integer");
    }
    out = value;
  } else if (!lua_isnil(L, -1)) {
    const std::string type = TypeOf(L, -1);
    lua_pop(L, 1);
    Fail(function, std::string("field '") + key + "' must be an integer, got " + type);
  }
  lua_pop(L, 1);
  return out;
}

std::optional<bool> FieldBoolean(lua_State* L, int table, const char* key, const char* function) {
  PushRawField(L, table, key);
  std::optional<bool> out;
  if (lua_type(L, -1) == LUA_TBOOLEAN) {
    out = lua_toboolean(L, -1) != 0;
  } else if (!lua_isnil(L, -1)) {
    const std::string type = TypeOf(L, -1);
    lua_pop(L, 1);
    Fail(function, std::string("field '") + key + "' must be a boolean, got " + type);
  }
  lua_pop(L, 1);
  return out;
}

bool PushFieldTable(lua_State* L, int table, const char* key, const char* function) {
  PushRawField(L, table, key);  // stack: ..., v
  if (lua_type(L, -1) == LUA_TTABLE) return true;
  const bool absent = lua_isnil(L, -1);
  const std::string type = TypeOf(L, -1);
  lua_pop(L, 1);
  if (!absent) Fail(function, std::string("field '") + key + "' must be a table, got " + type);
  return false;
}

}  // namespace gw::lua
