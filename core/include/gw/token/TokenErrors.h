#pragma once
// Error codes of the token engine and the one place that decides which failures are worth
// retrying. Both read the error catalog (gw/common/ErrorCatalog.h): a code's HTTP status is its
// catalog status, and a failure is retried when the catalog marks its code transient. Nothing here
// keeps a table of its own.
//
//   TOK-001 the cached token expired and refreshing it failed (message carries the last fetch
//           error, e.g. "TOK-001: token for server 'x' expired and refresh failed: AUTH-001: ...")
//   TOK-002 token acquisition failed (no token was cached, or none valid long enough)
//   TOK-003 circuit breaker open: the IdP is not called until the open period ends
//   TOK-004 the IdP answered without a usable token (missing/empty access_token, expiry in the
//           past, unparsable answer)
//   TOK-005 the token failed validation (signature, audience, issuer, algorithm, custom validator)
//   TOK-006 unknown server or cache key
//   TOK-007 deadline exceeded while waiting for a token
#include <string>

#include "gw/common/Error.h"
#include "gw/common/ErrorCatalog.h"

namespace gw::token {

// The TOK-xxx constants (codes::kCircuitOpen, ...) live with the catalog; one namespace, two names.
namespace codes = gw::codes;

// A TOK-xxx error with the catalog's status for its code (CatalogError()).
Error MakeTokenError(const char* code, std::string message);

enum class FailureKind {
  Transient,  // may succeed if tried again soon: retried by ResilientFetch
  Permanent,  // will fail the same way again (bad credentials, bad configuration): never retried
};

// Transient exactly when the catalog marks the code transient (kTraitTransient). Why each is:
//   NET-001 connect/resolve failed ........ Transient
//   NET-002 timed out ..................... Transient
//   NET-003 TLS failure ................... Transient (resets during handshakes happen; a bad
//                                           certificate fails the few bounded retries anyway)
//   NET-005 other transport error ......... Transient
//   NET-004 invalid request (URL, method) . Permanent (configuration)
//   NET-006 answer larger than allowed .... Permanent (the same answer comes back)
//   AUTH-005 IdP answered 429 or 5xx ...... Transient (providers report an IdP 429/5xx this way;
//                                           the message names the status)
//   AUTH-001 credentials refused .......... Permanent (invalid_client, unauthorized_client,
//                                           invalid_grant, invalid_scope, 401/403)
//   TOK-004 200 without a usable token .... Transient (seen with overloaded IdPs and proxies)
//   LUA-004 script deadline exceeded ...... Transient (a slow IdP; the overall deadline bounds it)
//   TOK-003 circuit open / TOK-007 deadline Permanent for this call (retrying cannot help now)
//   anything else ......................... Permanent (fail closed: do not hammer an IdP with
//                                           requests that fail for reasons we do not know)
FailureKind ClassifyFailure(const Error& error);
inline bool IsRetryable(const Error& error) { return ClassifyFailure(error) == FailureKind::Transient; }

}  // namespace gw::token
