#include "policy/RequestTable.h"

#include <strings.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include <lua.hpp>

namespace gw::policy {
namespace {

constexpr uint64_t kTokenRange = 1 << 16;

// The plain fields of a request table, in its order. The first five are always set (an empty path
// is ""), the others only when not empty (nil: left out).
struct Scalar {
  const char* name;
  std::string_view value;
  bool optional;
};
constexpr size_t kScalarCount = 9;
std::array<Scalar, kScalarCount> Scalars(const PolicyRequest& r) {
  return {{{"stage", ToString(r.stage), false},
           {"server", r.server, false},
           {"mode", r.mode, false},
           {"method", r.method, false},
           {"path", r.path, false},
           {"operation", r.operation, true},
           {"user", r.user, true},
           {"ip", r.ip, true},
           {"authorization", r.authorization, true}}};
}

// Slots of a state's chain cache (see PushLazyTable): the token of the RequestTable that filled
// it, its metatable, then the Scalars' values in order.
enum Slot : int { kToken = 1, kMeta, kFirstValue, kSlots = kFirstValue + kScalarCount - 1 };

bool Is(std::string_view name, const char* lower) {
  const size_t n = std::char_traits<char>::length(lower);
  return name.size() == n && strncasecmp(name.data(), lower, n) == 0;
}

void Push(lua_State* L, std::string_view text) { lua_pushlstring(L, text.data(), text.size()); }

// table[key] = value, or table[key] .. separator .. value when the key is already there.
// stack: ..., table -> ..., table
void SetOrAppend(lua_State* L, std::string_view key, std::string_view value, const char* separator) {
  Push(L, key);                          // stack: ..., table, key
  lua_pushvalue(L, -1);                  // stack: ..., table, key, key
  if (lua_rawget(L, -3) == LUA_TSTRING) {  // stack: ..., table, key, existing
    lua_pushstring(L, separator);
    Push(L, value);
    lua_concat(L, 3);                    // stack: ..., table, key, joined
  } else {
    lua_pop(L, 1);                       // stack: ..., table, key
    Push(L, value);                      // stack: ..., table, key, value
  }
  lua_rawset(L, -3);                     // stack: ..., table
}

void SetField(lua_State* L, const char* key, std::string_view value) {
  Push(L, value);
  lua_setfield(L, -2, key);
}

bool Hidden(std::string_view name) { return Is(name, "x-dicomweb-oauth-gateway") || Is(name, "cookie"); }

// What a script may see of one header: its lower-cased name, and only the scheme of a credential.
void LowerInto(std::string_view in, char* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;  // header names are ASCII tokens
  }
}

std::string_view ShownValue(std::string_view lowerName, std::string_view value) {
  if (lowerName == "authorization" || lowerName == "proxy-authorization") return value.substr(0, value.find(' '));
  return value;
}

void PushHeaders(lua_State* L, const http::Headers* headers) {
  lua_createtable(L, 0, headers ? static_cast<int>(headers->size()) : 0);  // stack: ..., headers
  if (headers == nullptr) return;
  std::string name;
  for (const auto& [rawName, rawValue] : *headers) {
    if (Hidden(rawName)) continue;
    name.resize(rawName.size());
    LowerInto(rawName, name.data());
    SetOrAppend(L, name, ShownValue(name, rawValue), ", ");
  }
}

void PushQuery(lua_State* L, const std::vector<std::pair<std::string, std::string>>* query) {
  lua_createtable(L, 0, query ? static_cast<int>(query->size()) : 0);  // stack: ..., query
  if (query == nullptr) return;
  for (const auto& [key, value] : *query) SetOrAppend(L, key, value, ",");
}

void PushTargets(lua_State* L, const std::vector<TargetView>& targets) {
  lua_createtable(L, static_cast<int>(targets.size()), 0);  // stack: ..., targets
  lua_Integer i = 0;
  for (const TargetView& t : targets) {
    lua_createtable(L, 0, 3);                               // stack: ..., targets, target
    SetField(L, "name", t.name);
    SetField(L, "url", t.url);
    lua_pushboolean(L, t.healthy ? 1 : 0);
    lua_setfield(L, -2, "healthy");
    lua_rawseti(L, -2, ++i);                                // stack: ..., targets
  }
}

// -- the lazy fields ----------------------------------------------------------------------------
//
// One userdata holds what headers, query and targets are built from, already filtered (hidden
// headers left out, names lower-cased, credentials cut to their scheme):
//   u32 header count, then per header: u32 name length, name, u32 value length, value
//   u32 parameter count, then per parameter: the same
//   u32 target count, then per target: u32 name length, name, u32 url length, url, u8 healthy

class BlobWriter {
 public:
  explicit BlobWriter(char* out) : out_(out) {}
  void U32(size_t v) {
    const uint32_t x = static_cast<uint32_t>(v);
    std::memcpy(out_ + size_, &x, sizeof x);
    size_ += sizeof x;
  }
  void Text(std::string_view t) {
    U32(t.size());
    std::memcpy(out_ + size_, t.data(), t.size());
    size_ += t.size();
  }
  // Returns the lower-cased copy it wrote.
  std::string_view LowerText(std::string_view t) {
    U32(t.size());
    char* lower = out_ + size_;
    LowerInto(t, lower);
    size_ += t.size();
    return {lower, t.size()};
  }
  size_t Size() const { return size_; }
  void Byte(bool b) { out_[size_++] = b ? 1 : 0; }

 private:
  char* out_;
  size_t size_ = 0;
};

// At least the size of the blob of `r` (hidden headers counted too: one pass, no filtering).
size_t BlobBound(const PolicyRequest& r) {
  size_t n = 3 * sizeof(uint32_t);
  if (r.headers != nullptr) {
    for (const auto& [name, value] : *r.headers) n += 2 * sizeof(uint32_t) + name.size() + value.size();
  }
  if (r.query != nullptr) {
    for (const auto& [key, value] : *r.query) n += 2 * sizeof(uint32_t) + key.size() + value.size();
  }
  for (const TargetView& t : r.targets) n += 2 * sizeof(uint32_t) + t.name.size() + t.url.size() + 1;
  return n;
}

// Writes the blob of `r` into `out` (BlobBound bytes at least); returns its size.
size_t WriteBlob(const PolicyRequest& r, char* out) {
  BlobWriter w(out);
  w.U32(0);  // header count, written once known
  uint32_t shown = 0;
  if (r.headers != nullptr) {
    for (const auto& [name, value] : *r.headers) {
      if (Hidden(name)) continue;
      ++shown;
      w.Text(ShownValue(w.LowerText(name), value));
    }
  }
  std::memcpy(out, &shown, sizeof shown);
  w.U32(r.query != nullptr ? r.query->size() : 0);
  if (r.query != nullptr) {
    for (const auto& [key, value] : *r.query) {
      w.Text(key);
      w.Text(value);
    }
  }
  w.U32(r.targets.size());
  for (const TargetView& t : r.targets) {
    w.Text(t.name);
    w.Text(t.url);
    w.Byte(t.healthy);
  }
  return w.Size();
}

class BlobReader {
 public:
  explicit BlobReader(const char* in) : in_(in) {}
  uint32_t U32() {
    uint32_t x;
    std::memcpy(&x, in_, sizeof x);
    in_ += sizeof x;
    return x;
  }
  std::string_view Text() {
    const uint32_t n = U32();
    std::string_view t(in_, n);
    in_ += n;
    return t;
  }
  bool Byte() { return *in_++ != 0; }
  void SkipPairs() {
    for (uint32_t n = U32(); n > 0; --n) {
      Text();
      Text();
    }
  }

 private:
  const char* in_;
};

enum class Lazy { Headers, Query, Targets };

// Builds one lazy field from the blob. stack: ... -> ..., field
void PushLazy(lua_State* L, const char* blob, Lazy which) {
  BlobReader in(blob);
  if (which != Lazy::Headers) in.SkipPairs();
  if (which == Lazy::Targets) {
    in.SkipPairs();
    const uint32_t n = in.U32();
    lua_createtable(L, static_cast<int>(n), 0);              // stack: ..., targets
    for (uint32_t i = 1; i <= n; ++i) {
      lua_createtable(L, 0, 3);                              // stack: ..., targets, target
      SetField(L, "name", in.Text());
      SetField(L, "url", in.Text());
      lua_pushboolean(L, in.Byte() ? 1 : 0);
      lua_setfield(L, -2, "healthy");
      lua_rawseti(L, -2, i);                                 // stack: ..., targets
    }
    return;
  }
  const uint32_t n = in.U32();
  lua_createtable(L, 0, static_cast<int>(n));                // stack: ..., headers|query
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view key = in.Text();
    SetOrAppend(L, key, in.Text(), which == Lazy::Headers ? ", " : ",");
  }
}

constexpr std::pair<const char*, Lazy> kLazyFields[] = {
    {"headers", Lazy::Headers}, {"query", Lazy::Query}, {"targets", Lazy::Targets}};

// __index(request, key), upvalue 1: the blob. Builds a lazy field on its first read and stores it
// in the table (later reads are plain table reads); nil for any other key.
int LazyIndex(lua_State* L) {
  size_t length = 0;
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &length) : nullptr;
  if (key != nullptr) {
    for (const auto& [name, which] : kLazyFields) {
      if (std::strlen(name) != length || std::memcmp(name, key, length) != 0) continue;
      PushLazy(L, static_cast<const char*>(lua_touserdata(L, lua_upvalueindex(1))), which);
      lua_pushvalue(L, 2);  // stack: request, key, field, key
      lua_pushvalue(L, 3);  // stack: request, key, field, key, field
      lua_rawset(L, 1);     // stack: request, key, field
      return 1;
    }
  }
  lua_pushnil(L);
  return 1;
}

int RawNext(lua_State* L) {
  lua_settop(L, 2);
  if (lua_next(L, 1) != 0) return 2;
  lua_pushnil(L);
  return 1;
}

// __pairs(request). Builds every field not read yet (through __index), then iterates raw.
int LazyPairs(lua_State* L) {
  for (const auto& [name, which] : kLazyFields) {
    if (lua_getfield(L, 1, name) == LUA_TNIL) {  // through __index: builds and stores it
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
  }
  lua_pushcfunction(L, &RawNext);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

// The metatable of a lazy request table, with its own copy of `blob`: a script that keeps its
// table never reaches the RequestTable's memory. stack: ... -> ..., metatable
void PushMetatable(lua_State* L, const std::string& blob) {
  std::memcpy(lua_newuserdatauv(L, blob.size(), 0), blob.data(), blob.size());  // stack: blob
  lua_createtable(L, 0, 3);                      // stack: blob, metatable
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, &LazyIndex, 1);            // stack: blob, metatable, __index
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, &LazyPairs);              // a light C function: nothing allocated
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);                         // getmetatable gives false, setmetatable fails
  lua_setfield(L, -2, "__metatable");
  lua_remove(L, -2);                             // stack: metatable
}

char kChainKey;  // registry key (its address) of a state's chain cache, see PushLazyTable

// A token no other RequestTable of the process ever gets. Threads take ranges of a shared counter,
// so making a table writes no shared cache line (one shared increment per 65536 tables).
uint64_t NextToken() {
  static std::atomic<uint64_t> next{1};
  thread_local uint64_t current = 0;
  thread_local uint64_t end = 0;
  if (current == end) {
    current = next.fetch_add(kTokenRange, std::memory_order_relaxed);
    end = current + kTokenRange;
  }
  return current++;
}

// A new request table with the plain fields (no headers, query or targets): what both the eager
// build and a lone policy's lazy table start from.
void PushScalarFields(lua_State* L, const PolicyRequest& r) {
  lua_createtable(L, 0, 14);
  for (const Scalar& field : Scalars(r)) {
    if (!field.optional || !field.value.empty()) SetField(L, field.name, field.value);
  }
  if (r.config && r.config->IsObject()) {
    lua::PushJson(L, *r.config);                 // stack: request, config
    lua_setfield(L, -2, "config");
  }
}

}  // namespace

RequestTable::RequestTable(const PolicyRequest& request, Build build, bool shared)
    : request_(request), build_(build), shared_(shared) {
  if (build_ != Build::Lazy) return;
  token_ = NextToken();
  blob_.resize(BlobBound(request_));
  blob_.resize(WriteBlob(request_, blob_.data()));
}

void RequestTable::Push(lua_State* L) const {
  if (build_ == Build::Lazy) return PushLazyTable(L);
  const PolicyRequest& r = request_;
  PushScalarFields(L, r);                        // stack: request
  PushQuery(L, r.query);                         // stack: request, query
  lua_setfield(L, -2, "query");                  // stack: request
  PushHeaders(L, r.headers);                     // stack: request, headers
  lua_setfield(L, -2, "headers");
  PushTargets(L, r.targets);                     // stack: request, targets
  lua_setfield(L, -2, "targets");
}

void RequestTable::PushLazyTable(lua_State* L) const {
  const PolicyRequest& r = request_;
  if (!shared_) {  // one policy: nothing to share, the cache would only cost
    PushScalarFields(L, r);                       // stack: request
    PushMetatable(L, blob_);                      // stack: request, metatable
    lua_setmetatable(L, -2);                      // stack: request
    return;
  }
  // The state's chain cache: registry[&kChainKey] = { [kToken] = token of the RequestTable that
  // filled it, [kMeta] = its metatable (with its copy of the blob), then the Scalars' values }.
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kChainKey);  // stack: cache | nil
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, kSlots, 0);                // stack: cache (one per state, reused)
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kChainKey);
  }
  const int cache = lua_gettop(L);
  lua_rawgeti(L, cache, kToken);
  const bool filled = lua_tointeger(L, -1) == static_cast<lua_Integer>(token_);
  lua_pop(L, 1);
  if (!filled) {
    // The first policy of this chain in this state: the values and the metatable are made once
    // here and shared by the tables of the following policies (strings are immutable, the
    // metatable protected and unreachable: nothing a policy does to its table reaches the next).
    int slot = kFirstValue;
    for (const Scalar& field : Scalars(r)) {
      if (field.optional && field.value.empty()) lua_pushnil(L);
      else lua_pushlstring(L, field.value.data(), field.value.size());
      lua_rawseti(L, cache, slot++);
    }
    PushMetatable(L, blob_);                      // stack: cache, metatable
    lua_rawseti(L, cache, kMeta);                 // stack: cache
    lua_pushinteger(L, static_cast<lua_Integer>(token_));
    lua_rawseti(L, cache, kToken);
  }
  lua_createtable(L, 0, 14);                      // stack: cache, request
  int slot = kFirstValue;  // same fields, same order as the eager table
  for (const Scalar& field : Scalars(r)) {
    if (lua_rawgeti(L, cache, slot++) == LUA_TNIL) {  // stack: cache, request, value
      lua_pop(L, 1);
      continue;
    }
    lua_setfield(L, -2, field.name);              // stack: cache, request
  }
  if (r.config && r.config->IsObject()) {
    lua::PushJson(L, *r.config);                  // stack: cache, request, config (fresh per policy)
    lua_setfield(L, -2, "config");
  }
  lua_rawgeti(L, cache, kMeta);                   // stack: cache, request, metatable
  lua_setmetatable(L, -2);                        // stack: cache, request
  lua_remove(L, cache);                           // stack: request
}

}  // namespace gw::policy
