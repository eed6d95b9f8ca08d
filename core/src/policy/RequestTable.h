#pragma once
// The table a policy's decide(request) receives (fields in docs/policies.md), built straight on the
// Lua stack of the leased state: no JSON document in between, since this runs for every request.
//
// Credentials never reach a script: `authorization` and `proxy-authorization` keep only their scheme,
// `cookie` and the gateway's loopback secret header are left out. Header names are lower-cased and
// repeated headers joined with ", "; repeated query parameters are joined with ",".
#include "gw/lua/Argument.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

class RequestTable final : public lua::Argument {
 public:
  explicit RequestTable(const PolicyRequest& request) : request_(request) {}
  void Push(lua_State* L) const override;

 private:
  const PolicyRequest& request_;
};

}  // namespace gw::policy
