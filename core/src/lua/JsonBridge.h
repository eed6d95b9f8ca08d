#pragma once
// JSON <-> Lua conversion, shared by ScriptEngine::Call (argument and result) and gw.json.
//
// JSON -> Lua: object -> table with string keys, array -> sequence 1..n, null -> gw.json.null (a
// light userdata sentinel, the same value in every state), integral numbers that fit int64 ->
// integers, other numbers -> floats. Every conversion builds fresh tables.
// Lua -> JSON: a table whose keys are exactly 1..n (n >= 1) -> array; a table whose keys are all
// strings -> object; an empty table -> {} (object). Refused with ConversionError (LUA-008):
// functions, userdata other than gw.json.null, threads, cycles, NaN and infinities, keys that are
// neither strings nor positive integers, tables mixing both kinds of key, sparse sequences, and
// nesting deeper than kMaxJsonDepth. Key order of objects follows Lua's table traversal.
// Limits (hostile input, small-stack threads): decoding takes at most kMaxJsonTextBytes of text and
// kMaxJsonDepth levels and uses a constant C stack (iterative parser); the recursive conversions
// (PushJson, encoding) stop at kMaxJsonDepth levels and also when the thread's C stack runs low.
//
// All functions must run in Lua protected mode (they allocate); Lua errors (memory) propagate.
#include <stdexcept>
#include <string>
#include <string_view>

#include <lua.hpp>
#include <rapidjson/document.h>

namespace gw::lua {

class ConversionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kMaxJsonDepth = 128;
// The largest text DecodeJson accepts: tokens, JWKS and Redis values are kilobytes; the parser's own
// buffers live outside the Lua state's memory cap.
inline constexpr size_t kMaxJsonTextBytes = 16u * 1024 * 1024;
// Stack the recursive conversions keep free (enough to raise the error).
inline constexpr size_t kJsonStackFloorBytes = 16 * 1024;

void PushJsonNull(lua_State* L);
bool IsJsonNull(lua_State* L, int index);

// Pushes a fresh Lua value for `value`. Throws ConversionError if nested too deeply.
void PushJson(lua_State* L, const rapidjson::Value& value);

// Parses `text` (UTF-8, the whole string must be one JSON value) and pushes the result. On invalid,
// too large or too deeply nested input pushes nothing, stores a message (with the byte offset) in `error` and returns false.
bool DecodeJson(lua_State* L, std::string_view text, std::string& error);

// Converts the Lua value at `index` into `out`. Throws ConversionError.
void ToJsonDocument(lua_State* L, int index, rapidjson::Document& out);

// Serialises the Lua value at `index` as compact JSON. Throws ConversionError.
std::string EncodeJson(lua_State* L, int index);

}  // namespace gw::lua
