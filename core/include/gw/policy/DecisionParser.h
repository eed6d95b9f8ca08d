#pragma once
// Strict validation of one decision table returned by a policy's decide(). The gateway acts on
// what it validated here only; anything it does not understand is a denial (POL-003), so a typo
// in a policy (`alow = true`, `target = 1`) can never widen access.
//
// Accepted fields (all others refused):
//   allow              boolean, required
//   status             integer 400-599, only with allow = false (default 403)
//   code               "AAA-000" style (2-10 capitals, dash, 3 digits), only with allow = false
//   reason             string, at most 512 bytes, no control characters
//   target             string, the name of one of the request's targets (else POL-004)
//   set_headers        object: header name (HTTP token) -> string value (no CR/LF/NUL)
//   remove_headers     array of header names (an empty table is accepted as an empty list)
//   min_token_seconds  integer 0-86400
// Headers that belong to the gateway (Authorization, Host, Content-Length, hop-by-hop,
// Proxy-*, Cookie, the loopback secret; see proxy::HeaderPolicy::IsReservedHeader) can neither be
// set nor removed (POL-005).
#include <string_view>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

class DecisionParser {
 public:
  static constexpr size_t kMaxReasonBytes = 512;
  static constexpr int64_t kMaxMinTokenSeconds = 86400;

  // The decision of one policy for `request`, or the POL-xxx error that denies it.
  static Result<Decision> Parse(const rapidjson::Value& table, const PolicyRequest& request);

  static bool IsHeaderToken(std::string_view name);
};

}  // namespace gw::policy
