#pragma once
// How C++ functions are exposed to scripts under `gw`.
//
// A binding is a plain `int Fn(lua_State*)` registered as Protect<Fn>, the one thunk template of
// the runtime: a std::exception thrown by Fn (BindingError for bad arguments or refused requests)
// becomes the Lua error "file:line: message", raised only after every C++ object of Fn and of the
// handler has been destroyed. Bindings signal failure by throwing, never by calling lua_error.
// Lua's own errors (e.g. out of memory while pushing a result) are not std::exception types and
// pass through untouched; Lua is compiled as C++, so they unwind Fn's frames with destructors run.
//
// Each namespace is one BindingNamespace (name, function list, optional constants) defined in its
// own Bindings<Name>.cpp file and listed once in BindingRegistry.h. Scripts see every namespace
// through a read-only proxy.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <lua.hpp>

#include "lua/CallContext.h"

namespace gw::lua {

// A refusal or argument problem to report to the script as a Lua error. The message must not
// contain secrets (header values, file contents, passwords).
class BindingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BindingFunction {
  const char* name;
  lua_CFunction function;  // always Protect<Fn>
};

struct BindingNamespace {
  const char* name;  // "gw.<name>"; "" places the functions directly on gw (gw.log)
  std::vector<BindingFunction> functions;
  // Optional: adds non-function members to the namespace table at `table` (e.g. gw.json.null).
  void (*addConstants)(lua_State* L, int table) = nullptr;
};

template <int (*Fn)(lua_State*)>
int Protect(lua_State* L) {
  {
    try {
      return Fn(L);
    } catch (const std::exception& e) {
      luaL_where(L, 1);          // stack: ..., "file:line: " of the calling script, or ""
      lua_pushstring(L, e.what());
      lua_concat(L, 2);          // stack: ..., message
    }
  }  // the exception object and everything Fn owned are gone here
  return lua_error(L);
}

// The context of the running call. Throws BindingError when no call is running (closing state).
CallContext& RequireContext(lua_State* L, const char* function);

// Typed argument access. `function` names the binding in messages ("gw.file.read").
// The returned views point into Lua strings that stay alive while they are on the stack or in
// the argument tables, i.e. until the binding returns.
std::string_view ArgString(lua_State* L, int index, const char* function, const char* what);
void ArgTable(lua_State* L, int index, const char* function, const char* what);

// Raw (metamethod-free) reads of fields of the table at absolute index `table`.
// Absent (nil) gives std::nullopt / false; a value of another type throws BindingError.
std::optional<std::string_view> FieldString(lua_State* L, int table, const char* key, const char* function);
std::optional<lua_Integer> FieldInteger(lua_State* L, int table, const char* key, const char* function);
std::optional<bool> FieldBoolean(lua_State* L, int table, const char* key, const char* function);
// Pushes the table stored in field `key` and returns true, or pushes nothing and returns false.
bool PushFieldTable(lua_State* L, int table, const char* key, const char* function);

}  // namespace gw::lua
