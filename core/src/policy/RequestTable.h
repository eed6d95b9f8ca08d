#pragma once
// The table a policy's decide(request) receives (fields in docs/policies.md), built straight on the
// Lua stack of the leased state: no JSON document in between, since this runs for every request.
//
// Credentials never reach a script: `authorization` and `proxy-authorization` keep only their scheme,
// `cookie` and the gateway's loopback secret header are left out. Header names are lower-cased and
// repeated headers joined with ", "; repeated query parameters are joined with ",".
//
// Lazy (what PolicyEngine::Decide uses): `headers`, `query` and `targets` are built on their first
// read. Building them was most of a decision's cost (bench_policy: 8 headers, 2 parameters and 2
// targets are ~35 Lua strings and 5 tables per policy, per call), while most policies read a few
// scalar fields only. The data they are built from is copied into one userdata when the table is
// pushed, so a script that keeps the table past the call never reaches the caller's memory. The
// table's metatable is protected (getmetatable gives false, setmetatable fails); pairs() builds
// every field first; only raw access (next, rawget) can tell a field that was not read yet.
#include "gw/lua/Argument.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

class RequestTable final : public lua::Argument {
 public:
  enum class Build { Eager, Lazy };
  explicit RequestTable(const PolicyRequest& request, Build build = Build::Eager) : request_(request), build_(build) {}
  void Push(lua_State* L) const override;

 private:
  const PolicyRequest& request_;
  const Build build_;
};

}  // namespace gw::policy
