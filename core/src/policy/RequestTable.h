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
// The data is filtered and laid out once, when the RequestTable is made. Each policy of a chain
// gets a table of its own, but (`shared`) the policies after the first one in the same Lua state
// (a thread keeps its state for the whole chain) reuse what the first one made: the interned values and the
// metatable with its copy of the data, kept in the state's registry under this RequestTable's
// token (unique in the process). Making them again per policy was a third of a chain's
// instructions (bench_policy, callgrind). The cache keeps the last request's filtered values (no
// credential: see above) in the state until the next request replaces them; scripts cannot reach
// the registry.
#include <cstdint>
#include <string>

#include "gw/lua/Argument.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

class RequestTable final : public lua::Argument {
 public:
  enum class Build { Eager, Lazy };
  // `shared`: Lazy, for a chain of several policies (the cache below pays off from the second one).
  explicit RequestTable(const PolicyRequest& request, Build build = Build::Eager, bool shared = false);
  void Push(lua_State* L) const override;

 private:
  void PushLazyTable(lua_State* L) const;

  const PolicyRequest& request_;
  const Build build_;
  std::string blob_;
  const bool shared_;
  uint64_t token_ = 0;  // Lazy: what headers, query and targets are built from (RequestTable.cpp)
};

}  // namespace gw::policy
