#include "lua/JsonBridge.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Json.h"
#include "gw/common/JsonNumber.h"
#include "lua/StackGuard.h"

namespace gw::lua {
namespace {

char kJsonNullSentinel;  // its address is gw.json.null (non-const: a distinct object)

// ---- JSON -> Lua (DOM) --------------------------------------------------------------------------

void PushJsonValue(lua_State* L, const rapidjson::Value& value, int depth) {
  if (depth > kMaxJsonDepth) throw ConversionError("JSON nested deeper than 128 levels");
  if (!lua_checkstack(L, 3)) throw ConversionError("JSON nested too deeply for the Lua stack");
  if (StackRemaining() < kJsonStackFloorBytes) throw ConversionError("JSON nested too deeply for this thread's stack");
  switch (value.GetType()) {
    case rapidjson::kNullType: PushJsonNull(L); return;
    case rapidjson::kFalseType: lua_pushboolean(L, 0); return;
    case rapidjson::kTrueType: lua_pushboolean(L, 1); return;
    case rapidjson::kNumberType:
      if (value.IsInt64()) {
        lua_pushinteger(L, static_cast<lua_Integer>(value.GetInt64()));
      } else {
        lua_pushnumber(L, static_cast<lua_Number>(value.GetDouble()));  // doubles and big uint64
      }
      return;
    case rapidjson::kStringType:
      lua_pushlstring(L, value.GetString(), value.GetStringLength());
      return;
    case rapidjson::kArrayType: {
      const auto size = value.Size();
      lua_createtable(L, static_cast<int>(size), 0);  // stack: ..., array
      lua_Integer i = 0;
      for (const auto& element : value.GetArray()) {
        PushJsonValue(L, element, depth + 1);            // stack: ..., array, element
        lua_rawseti(L, -2, ++i);                         // stack: ..., array
      }
      return;
    }
    case rapidjson::kObjectType: {
      lua_createtable(L, 0, static_cast<int>(value.MemberCount()));  // stack: ..., object
      for (const auto& member : value.GetObject()) {
        lua_pushlstring(L, member.name.GetString(), member.name.GetStringLength());  // ..., object, key
        PushJsonValue(L, member.value, depth + 1);                                   // ..., object, key, value
        lua_rawset(L, -3);                                                            // ..., object
      }
      return;
    }
  }
}

// ---- JSON text -> Lua (SAX, no intermediate DOM, constant C stack) ------------------------------

class SaxToLua : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, SaxToLua> {
 public:
  explicit SaxToLua(lua_State* L) : L_(L) {}

  bool Null() { PushJsonNull(L_); return Attach(); }
  bool Bool(bool b) { lua_pushboolean(L_, b ? 1 : 0); return Attach(); }
  bool Int(int i) { lua_pushinteger(L_, i); return Attach(); }
  bool Uint(unsigned u) { lua_pushinteger(L_, static_cast<lua_Integer>(u)); return Attach(); }
  bool Int64(int64_t i) { lua_pushinteger(L_, static_cast<lua_Integer>(i)); return Attach(); }
  bool Uint64(uint64_t u) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<lua_Integer>::max())) {
      lua_pushinteger(L_, static_cast<lua_Integer>(u));
    } else {
      lua_pushnumber(L_, static_cast<lua_Number>(u));
    }
    return Attach();
  }
  bool Double(double d) { lua_pushnumber(L_, d); return Attach(); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag): gw::json::ReadJsonNumber says why.
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    gw::json::JsonNumber number;
    if (!gw::json::ReadJsonNumber(s, n, number)) {
      tooBig_ = true;
      return false;
    }
    switch (number.kind) {
      case gw::json::JsonNumber::Kind::Int64: return Int64(number.i);
      case gw::json::JsonNumber::Kind::Uint64: return Uint64(number.u);
      default: return Double(number.d);
    }
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (Surrogate(s, n)) return false;
    lua_pushlstring(L_, s, n);
    return Attach();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (Surrogate(s, n)) return false;
    lua_pushlstring(L_, s, n);
    return true;
  }
  bool StartObject() { return Open(false); }
  bool EndObject(rapidjson::SizeType) { --depth_; return Attach(); }
  bool StartArray() { return Open(true); }
  bool EndArray(rapidjson::SizeType) { --depth_; return Attach(); }

  bool TooDeep() const { return tooDeep_; }
  bool SurrogateFound() const { return surrogate_; }
  bool TooBig() const { return tooBig_; }

 private:
  // A "\udc00" escape decodes to bytes that are not UTF-8 (gw/common/Json.h, HasSurrogateBytes).
  bool Surrogate(const char* s, rapidjson::SizeType n) {
    if (gw::json::HasSurrogateBytes(s, n)) surrogate_ = true;
    return surrogate_;
  }
  bool Open(bool array) {
    if (depth_ >= kMaxJsonDepth || !lua_checkstack(L_, 4)) {
      tooDeep_ = true;
      return false;  // stops the parser
    }
    lua_newtable(L_);  // stack: ..., container
    frames_[depth_++] = Frame{array, 0};
    return true;
  }

  // Moves the value on top of the stack into the open container (the root stays on the stack).
  bool Attach() {
    if (depth_ == 0) return true;
    Frame& frame = frames_[depth_ - 1];
    if (frame.array) {
      lua_rawseti(L_, -2, ++frame.next);  // stack: ..., array, value -> ..., array
    } else {
      lua_rawset(L_, -3);                 // stack: ..., object, key, value -> ..., object
    }
    return true;
  }

  struct Frame {
    bool array;
    lua_Integer next;
  };
  lua_State* L_;
  std::array<Frame, kMaxJsonDepth> frames_{};
  int depth_ = 0;
  bool tooDeep_ = false;
  bool surrogate_ = false;
  bool tooBig_ = false;
};

// ---- Lua -> JSON (SAX events into a Writer or a Document) ----------------------------------------

template <class Handler>
class LuaToJson {
 public:
  LuaToJson(lua_State* L, Handler& handler) : L_(L), handler_(handler) {}

  void Emit(int index, int depth) {
    switch (lua_type(L_, index)) {
      case LUA_TNIL: handler_.Null(); return;
      case LUA_TBOOLEAN: handler_.Bool(lua_toboolean(L_, index) != 0); return;
      case LUA_TNUMBER:
        if (lua_isinteger(L_, index)) {
          handler_.Int64(static_cast<int64_t>(lua_tointeger(L_, index)));
        } else {
          const double d = static_cast<double>(lua_tonumber(L_, index));
          if (!std::isfinite(d)) Fail(depth, "NaN and infinite numbers have no JSON form");
          handler_.Double(d);
        }
        return;
      case LUA_TSTRING: {
        size_t length = 0;
        const char* text = lua_tolstring(L_, index, &length);  // a string: no conversion
        if (length > std::numeric_limits<rapidjson::SizeType>::max()) Fail(depth, "string too long");
        handler_.String(text, static_cast<rapidjson::SizeType>(length), true);
        return;
      }
      case LUA_TLIGHTUSERDATA:
        if (IsJsonNull(L_, index)) {
          handler_.Null();
          return;
        }
        Fail(depth, "a userdata value has no JSON form");
      case LUA_TTABLE: EmitTable(index, depth); return;
      default:
        Fail(depth, std::string("a ") + lua_typename(L_, lua_type(L_, index)) + " value has no JSON form");
    }
  }

 private:
  struct PathElement {
    const char* key;  // object member (points into a live Lua string); nullptr for arrays
    size_t keyLength;
    lua_Integer index;  // array element when key == nullptr
  };

  void EmitTable(int index, int depth) {
    const void* identity = lua_topointer(L_, index);
    for (int i = 0; i < depth; ++i) {
      if (tables_[i] == identity) Fail(depth, "cycle: a table contains itself");
    }
    if (depth >= kMaxJsonDepth) Fail(depth, "nested deeper than 128 levels");
    if (!lua_checkstack(L_, 4)) Fail(depth, "nested too deeply for the Lua stack");
    if (StackRemaining() < kJsonStackFloorBytes) Fail(depth, "nested too deeply for this thread's stack");
    tables_[depth] = identity;

    size_t count = 0;
    lua_Integer maxIndex = 0;
    bool stringKeys = false;
    bool indexKeys = false;
    lua_pushnil(L_);                   // stack: ..., nil
    while (lua_next(L_, index) != 0) {  // stack: ..., key, value
      lua_pop(L_, 1);                  // stack: ..., key
      ++count;
      const int keyType = lua_type(L_, -1);
      if (keyType == LUA_TSTRING) {
        stringKeys = true;
      } else if (keyType == LUA_TNUMBER && lua_isinteger(L_, -1) && lua_tointeger(L_, -1) >= 1) {
        indexKeys = true;
        if (lua_tointeger(L_, -1) > maxIndex) maxIndex = lua_tointeger(L_, -1);
      } else {
        Fail(depth, std::string("a table key of type ") + lua_typename(L_, keyType) +
                        " has no JSON form (keys must be strings, or 1..n for arrays)");
      }
    }
    if (count == 0) {
      handler_.StartObject();
      handler_.EndObject(0);
      return;
    }
    if (stringKeys && indexKeys) Fail(depth, "a table mixes array indices and string keys");
    if (indexKeys) {
      if (static_cast<size_t>(maxIndex) != count) Fail(depth, "sparse array (keys are not exactly 1..n)");
      handler_.StartArray();
      for (lua_Integer i = 1; i <= maxIndex; ++i) {
        lua_rawgeti(L_, index, i);  // stack: ..., element
        path_[depth] = PathElement{nullptr, 0, i};
        Emit(lua_gettop(L_), depth + 1);
        lua_pop(L_, 1);             // stack: ...
      }
      handler_.EndArray(static_cast<rapidjson::SizeType>(count));
      return;
    }
    handler_.StartObject();
    lua_pushnil(L_);                    // stack: ..., nil
    while (lua_next(L_, index) != 0) {  // stack: ..., key, value
      size_t length = 0;
      const char* key = lua_tolstring(L_, -2, &length);  // a string: no conversion
      handler_.Key(key, static_cast<rapidjson::SizeType>(length), true);
      path_[depth] = PathElement{key, length, 0};
      Emit(lua_gettop(L_), depth + 1);
      lua_pop(L_, 1);                   // stack: ..., key
    }
    handler_.EndObject(static_cast<rapidjson::SizeType>(count));
  }

  [[noreturn]] void Fail(int depth, const std::string& reason) const {
    std::string where = "$";
    for (int i = 0; i < depth && i < kMaxJsonDepth; ++i) {
      if (path_[i].key != nullptr) {
        where += ".";
        where.append(path_[i].key, path_[i].keyLength < 64 ? path_[i].keyLength : 64);
      } else {
        where += "[" + std::to_string(static_cast<long long>(path_[i].index)) + "]";
      }
    }
    throw ConversionError("at " + where + ": " + reason);
  }

  lua_State* L_;
  Handler& handler_;
  std::array<const void*, kMaxJsonDepth + 1> tables_;  // entries [0, depth) are set; no per-call clearing
  std::array<PathElement, kMaxJsonDepth + 1> path_;
};

}  // namespace

void PushJsonNull(lua_State* L) {
  lua_pushlightuserdata(L, &kJsonNullSentinel);
}

bool IsJsonNull(lua_State* L, int index) {
  return lua_type(L, index) == LUA_TLIGHTUSERDATA && lua_touserdata(L, index) == &kJsonNullSentinel;
}

void PushJson(lua_State* L, const rapidjson::Value& value) { PushJsonValue(L, value, 0); }

bool DecodeJson(lua_State* L, std::string_view text, std::string& error) {
  // A raw NUL is never valid JSON, and rapidjson would take it for the end of the input.
  if (text.find('\0') != std::string_view::npos) {
    error = "invalid JSON at offset " + std::to_string(text.find('\0')) + ": NUL byte";
    return false;
  }
  if (text.size() > kMaxJsonTextBytes) {
    error = "JSON text of " + std::to_string(text.size()) + " bytes is larger than the limit of " +
            std::to_string(kMaxJsonTextBytes / (1024 * 1024)) + " MiB";
    return false;
  }
  const int top = lua_gettop(L);
  rapidjson::MemoryStream memory(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> input(memory);
  SaxToLua handler(L);
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseValidateEncodingFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(input, handler);
  if (!result) {
    lua_settop(L, top);  // drop the partial value
    if (handler.TooDeep()) {
      error = "JSON nested deeper than 128 levels";
    } else if (handler.TooBig()) {
      error = "invalid JSON at offset " + std::to_string(result.Offset()) + ": number too big to be stored in double";
    } else if (handler.SurrogateFound()) {
      error = "invalid JSON at offset " + std::to_string(result.Offset()) +
              ": a \\u escape names a surrogate code point, which is not a character";
    } else {
      error = std::string("invalid JSON at offset ") + std::to_string(result.Offset()) + ": " +
              rapidjson::GetParseError_En(result.Code());
    }
    return false;
  }
  return true;
}

void ToJsonDocument(lua_State* L, int index, rapidjson::Document& out) {
  const int absolute = lua_absindex(L, index);
  LuaToJson<rapidjson::Document> converter(L, out);
  auto generator = [&](rapidjson::Document&) {
    converter.Emit(absolute, 0);
    return true;
  };
  out.Populate(generator);
}

std::string EncodeJson(lua_State* L, int index) {
  const int absolute = lua_absindex(L, index);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  LuaToJson<rapidjson::Writer<rapidjson::StringBuffer>> converter(L, writer);
  converter.Emit(absolute, 0);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace gw::lua
