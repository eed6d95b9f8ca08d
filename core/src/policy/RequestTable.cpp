#include "policy/RequestTable.h"

#include <strings.h>

#include <string>

#include <lua.hpp>

namespace gw::policy {
namespace {

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

void PushHeaders(lua_State* L, const http::Headers* headers) {
  lua_createtable(L, 0, headers ? static_cast<int>(headers->size()) : 0);  // stack: ..., headers
  if (headers == nullptr) return;
  std::string name;
  for (const auto& [rawName, rawValue] : *headers) {
    if (Is(rawName, "x-dicomweb-oauth-gateway") || Is(rawName, "cookie")) continue;
    name.assign(rawName);
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // header names are ASCII tokens
    }
    std::string_view value = rawValue;
    if (name == "authorization" || name == "proxy-authorization") value = value.substr(0, value.find(' '));
    SetOrAppend(L, name, value, ", ");
  }
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

}  // namespace

void RequestTable::Push(lua_State* L) const {
  const PolicyRequest& r = request_;
  lua_createtable(L, 0, 14);                     // stack: request
  SetField(L, "stage", ToString(r.stage));
  SetField(L, "server", r.server);
  SetField(L, "mode", r.mode);
  SetField(L, "method", r.method);
  SetField(L, "path", r.path);
  if (!r.operation.empty()) SetField(L, "operation", r.operation);
  if (!r.user.empty()) SetField(L, "user", r.user);
  if (!r.ip.empty()) SetField(L, "ip", r.ip);
  if (!r.authorization.empty()) SetField(L, "authorization", r.authorization);

  lua_createtable(L, 0, r.query ? static_cast<int>(r.query->size()) : 0);  // stack: request, query
  if (r.query) {
    for (const auto& [key, value] : *r.query) SetOrAppend(L, key, value, ",");
  }
  lua_setfield(L, -2, "query");                  // stack: request
  PushHeaders(L, r.headers);                     // stack: request, headers
  lua_setfield(L, -2, "headers");
  PushTargets(L, r.targets);                     // stack: request, targets
  lua_setfield(L, -2, "targets");
  if (r.config && r.config->IsObject()) {
    lua::PushJson(L, *r.config);                 // stack: request, config
    lua_setfield(L, -2, "config");
  }
}

}  // namespace gw::policy
