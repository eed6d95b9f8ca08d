#pragma once
// The POL-xxx error codes of routing policies, in one place so that the engine, the glue, the tests
// and docs/policies.md agree. Every one of them is a denial: a policy that cannot be evaluated
// never lets a request through.
//
//   POL-001 403  denied by a policy (`allow = false` without a code of its own)
//   POL-002 500  a policy script failed (raised an error, exceeded its time or memory budget,
//                is missing from the serving snapshot); the detail is logged, not answered
//   POL-003 500  a policy returned an invalid decision table (unknown field, wrong type, range)
//   POL-004 500  a policy chose a target the server does not have
//   POL-005 500  a policy asked to set or remove a header it may not touch (Authorization, Host,
//                hop-by-hop, Content-Length, the loopback secret, ...) or an unsafe value
// The shipped policies (lua/policies/routing/) use POL-010 read-only, POL-011 Authorization
// override, POL-012 ACL not configured, POL-013 user not allowed. All of them, with their default
// statuses, are in the one catalog (gw/common/ErrorCatalog.h, docs/errors.md).
namespace gw::policy {

inline constexpr const char* kDenied = "POL-001";
inline constexpr const char* kScriptFailed = "POL-002";
inline constexpr const char* kInvalidDecision = "POL-003";
inline constexpr const char* kUnknownTarget = "POL-004";
inline constexpr const char* kHeaderRefused = "POL-005";

}  // namespace gw::policy
