#pragma once
// The one catalog of the gateway's error codes, every family in the same style: the code, the HTTP
// status a REST route answers with unless the place that raises it knows better, what it means,
// and the traits that the predicates below test, so that no module compares code strings to learn
// whether an error is a timeout or a failure of a script.
//
// Every code the sources use (core, plugin, tools, the shipped Lua scripts) is listed, and
// docs/errors.md lists the same codes with the same statuses: tests/unit/common/ErrorCatalogTest.cpp
// greps both. Family pages (token-engine.md, proxy-mode.md, lua-api.md, ...) keep their tables;
// the test checks that the statuses they give agree with this catalog.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw {

enum ErrorTrait : uint8_t {
  kTraitNone = 0,
  kTraitTimeout = 1,        // a deadline or time budget ran out
  kTraitTransient = 2,      // may succeed if tried again soon (the token engine's retry table agrees)
  kTraitScriptFault = 4,    // a Lua script itself failed (not a deliberate refusal, not a busy pool)
  kTraitScriptRefusal = 8,  // a script returned an error of its own, without a code of its own
  kTraitLogOnly = 16,       // never answered to an HTTP caller: logs, the CLI, start-up, audit records
};

struct ErrorCodeInfo {
  std::string_view code;
  int httpStatus;  // the default answer; 500 for log-only codes (an internal error if one ever leaks)
  uint8_t traits;
  std::string_view meaning;
};

// The whole catalog, sorted by code (binary search).
struct ErrorCatalogView {
  const ErrorCodeInfo* first;
  size_t size;
  const ErrorCodeInfo* begin() const { return first; }
  const ErrorCodeInfo* end() const { return first + size; }
};
ErrorCatalogView ErrorCatalog();

// The entry of `code`, or null when it is not catalogued (a code a custom script made up).
const ErrorCodeInfo* FindErrorCode(std::string_view code);

// The catalogue's default status of `code`; 500 for a code it does not list.
int DefaultHttpStatus(std::string_view code);

// An error with the catalogue's default status for its code (MakeError() with the status given).
inline Error CatalogError(std::string_view code, std::string message) {
  return MakeError(std::string(code), std::move(message), DefaultHttpStatus(code));
}

// Whether the catalogue gives `code` the trait. A code it does not list has no trait, except that
// any LUA-xxx code counts as a script fault (fail closed: an unknown script failure is a failure).
bool HasTrait(std::string_view code, ErrorTrait trait);

// The codes that C++ code raises through a helper or decides on, named once. Everything that
// needs to know what kind of failure an error is asks a predicate below, never `code == "..."`.
namespace codes {
// Transport (the libcurl clients: gw/http, gw/proxy/UpstreamClient).
inline constexpr char kNetConnect[] = "NET-001";         // could not connect or resolve
inline constexpr char kNetTimeout[] = "NET-002";         // the request timed out
inline constexpr char kNetTls[] = "NET-003";             // a TLS failure
inline constexpr char kNetInvalidRequest[] = "NET-004";  // URL, scheme, method or header refused
inline constexpr char kNetOther[] = "NET-005";           // another transport error
inline constexpr char kNetTooLarge[] = "NET-006";        // an answer larger than allowed
// The token engine (gw::token::codes is this namespace).
inline constexpr char kExpiredRefreshFailed[] = "TOK-001";
inline constexpr char kAcquisitionFailed[] = "TOK-002";
inline constexpr char kCircuitOpen[] = "TOK-003";
inline constexpr char kInvalidTokenResponse[] = "TOK-004";
inline constexpr char kValidationFailed[] = "TOK-005";
inline constexpr char kUnknownKey[] = "TOK-006";
inline constexpr char kDeadlineExceeded[] = "TOK-007";
// Proxy mode's upstream exchange (gw/proxy/ProxyErrors.h builds them).
inline constexpr char kUpstreamUnreachable[] = "PXY-003";
inline constexpr char kUpstreamTimedOut[] = "PXY-004";
inline constexpr char kUpstreamMalformed[] = "PXY-007";
}  // namespace codes

inline bool IsTimeout(const Error& e) { return HasTrait(e.code, kTraitTimeout); }
inline bool IsTransient(const Error& e) { return HasTrait(e.code, kTraitTransient); }
inline bool IsScriptFault(const Error& e) { return HasTrait(e.code, kTraitScriptFault); }
inline bool IsScriptRefusal(const Error& e) { return HasTrait(e.code, kTraitScriptRefusal); }

// Proxy mode: the target could not be reached at all (nothing was answered): a bodyless request may
// go to another target.
inline bool IsUpstreamUnreachable(const Error& e) { return e.code == codes::kUpstreamUnreachable; }
// Proxy mode: the target failed at the transport level (unreachable, or no answer in time): it is
// marked unhealthy. An answer that cannot be forwarded says nothing about the target's health.
inline bool IsUpstreamTransportFailure(const Error& e) {
  return IsUpstreamUnreachable(e) || e.code == codes::kUpstreamTimedOut;
}
// Proxy mode: the upstream answered, but its answer cannot be passed on to the caller.
inline bool IsUpstreamMalformed(const Error& e) { return e.code == codes::kUpstreamMalformed; }
// An HTTP answer was larger than the caller allowed (NET-006).
inline bool IsResponseTooLarge(std::string_view code) { return code == codes::kNetTooLarge; }

}  // namespace gw
