#include "gw/common/ErrorCatalog.h"

#include <algorithm>
#include <iterator>

namespace gw {
namespace {

constexpr uint8_t T = kTraitTimeout;
constexpr uint8_t R = kTraitTransient;
constexpr uint8_t F = kTraitScriptFault;
constexpr uint8_t S = kTraitScriptRefusal;
constexpr uint8_t L = kTraitLogOnly;

// Sorted by code. A status given where an error is raised wins over the one here (for instance
// CFG-xxx answers 422 when a reload is refused); the meaning is what docs/errors.md says.
constexpr ErrorCodeInfo kCatalog[] = {
    {"AUD-001", 500, 0, "the audit file cannot be opened or created"},
    {"AUD-002", 500, 0, "the audit file is locked by another process"},
    {"AUD-003", 500, 0, "the audit file's last line is not a valid record"},
    {"AUD-004", 500, 0, "an audit record could not be written"},
    {"AUD-005", 503, 0, "request refused: the audit trail cannot be written and FailClosed is set"},
    {"AUD-006", 500, 0, "an audit rule returned neither a table nor false"},
    {"AUD-007", 500, L, "the audit queue is full: a record was dropped"},
    {"AUD-008", 422, 0, "audit verification found a problem (edited, forged, inserted, moved or cut records)"},
    {"AUD-009", 500, 0, "the audit chain cannot be continued under the configured key"},
    {"AUD-010", 500, L, "the audit chain is not keyed (warning at start)"},
    {"AUD-011", 500, 0, "the audit checkpoint file cannot be opened or written"},
    {"AUD-012", 500, L, "audit verify: no key, or not the chain's key"},
    {"AUD-013", 500, L, "audit verify: the file is truncated before a checkpoint, or a checkpoint is malformed"},
    {"AUD-014", 500, L, "audit verify: a key was given but no record is keyed"},
    {"AUD-015", 400, 0, "audit verify: a malformed checkpoint argument"},
    {"AUTH-001", 503, 0, "the identity provider refused the credentials (never retried)"},
    {"AUTH-002", 503, 0, "the identity provider answered another 4xx"},
    {"AUTH-005", 503, R, "the identity provider answered 429 or 5xx (retried)"},
    {"CFG-001", 500, 0, "a required configuration key is missing"},
    {"CFG-002", 500, 0, "an invalid configuration value"},
    {"CFG-003", 500, 0, "a configuration value is empty after ${VAR} substitution"},
    {"CFG-004", 500, L, "an unknown configuration key, ignored (warning)"},
    {"CFG-005", 500, 0, "a configuration file is unreadable or not JSON"},
    {"CFG-006", 500, L, "a valid but insecure or ineffective setting (warning)"},
    {"CFG-007", 500, 0, "a secret reference (env:, file:, keyvault:) cannot be resolved"},
    {"CFG-008", 500, L, "proxy mode under Orthanc authentication without an Orthanc user (warning)"},
    {"CFG-009", 500, L, "an inject-mode Url with a path below the host (warning)"},
    {"CLI-001", 500, L, "the CLI cannot read --body-file"},
    {"CLI-002", 500, L, "the CLI refused a --url outside the server's upstreams"},
    {"CLI-003", 500, L, "the CLI was given a target the server does not have"},
    {"CRY-001", 500, 0, "a bad key or PEM"},
    {"CRY-002", 500, 0, "bad input encoding (base64, hex, JSON, JWT structure)"},
    {"CRY-003", 500, 0, "an invalid signature"},
    {"CRY-004", 500, 0, "a claim check failed"},
    {"CRY-005", 500, 0, "an unsupported algorithm or key type"},
    {"CRY-006", 500, 0, "JWKS fetch failed, invalid JWKS, or no matching key"},
    {"CRY-007", 500, 0, "decryption failed"},
    {"CRY-008", 500, 0, "the random number generator failed"},
    {"GW-400", 400, 0, "a malformed body on a gateway route"},
    {"GW-403", 403, 0, "a cross-site POST to a gateway route"},
    {"GW-404", 404, 0, "no such gateway route or server"},
    {"GW-429", 503, 0, "too many forced fetches of the test route (answered 503 with Retry-After)"},
    {"GW-500", 500, 0, "an internal error; details are in Orthanc's log"},
    {"INJ-002", 500, L, "inject mode: a job's details cannot be read"},
    {"INJ-003", 500, L, "inject mode: a STOW job failed for its credentials and is not resubmitted"},
    {"INJ-004", 500, L, "inject mode: resubmitting a retrieve job failed"},
    {"LUA-001", 500, F, "a script has a syntax error or is a binary chunk"},
    {"LUA-002", 500, F, "a script's top level raised an error while loading"},
    {"LUA-003", 500, F, "an invalid contract table"},
    {"LUA-004", 504, T | R | F, "a script's time budget was exceeded"},
    {"LUA-005", 500, F, "a script's memory limit was exceeded"},
    {"LUA-006", 500, F, "a script function raised an error or nested its calls too deeply"},
    {"LUA-007", 500, F, "an unknown script or function"},
    {"LUA-008", 500, F, "a script returned an invalid value"},
    {"LUA-009", 500, S, "a script returned an error without a code of its own"},
    {"LUA-010", 500, F, "no script folder, no scripts, a duplicate script name or a file too large"},
    {"LUA-011", 500, F, "a script's self_test failed"},
    {"LUA-012", 503, 0, "the server's share of the Lua states stayed busy for the call's whole budget"},
    {"NET-001", 502, R, "could not connect or resolve"},
    {"NET-002", 504, T | R, "a request timed out"},
    {"NET-003", 502, R, "a TLS failure"},
    {"NET-004", 502, 0, "an invalid request (URL, scheme, method, header)"},
    {"NET-005", 502, R, "another transport error"},
    {"NET-006", 502, 0, "an answer larger than allowed"},
    {"POL-001", 403, 0, "denied by a policy"},
    {"POL-002", 500, 0, "a policy script failed (details in the log)"},
    {"POL-003", 500, 0, "a policy returned an invalid decision table"},
    {"POL-004", 500, 0, "a policy chose a target the server does not have"},
    {"POL-005", 500, 0, "a policy asked to set or remove a header it may not touch"},
    {"POL-010", 403, 0, "read_only policy: the server is read-only"},
    {"POL-011", 403, 0, "no_authorization_override policy: the caller tried to set Authorization"},
    {"POL-012", 403, 0, "user_server_acl policy: the ACL is not configured"},
    {"POL-013", 403, 0, "user_server_acl policy: the user may not use the server"},
    {"PXY-001", 400, 0, "path or query refused (could reach outside the upstream base)"},
    {"PXY-002", 404, 0, "no server of that name in proxy mode"},
    {"PXY-003", 502, 0, "upstream unreachable"},
    {"PXY-004", 504, T, "upstream timed out"},
    {"PXY-005", 400, 0, "request body error"},
    {"PXY-006", 403, 0, "missing or wrong loopback secret header"},
    {"PXY-007", 502, 0, "the upstream answer cannot be forwarded"},
    {"PXY-008", 500, 0, "(log only) the DICOMweb plugin refused the loopback definition"},
    {"PXY-009", 500, 0, "a request body could not be spooled for signing"},
    {"PXY-010", 502, 0, "the upstream answered a redirect"},
    {"PXY-011", 400, 0, "a method override on the route"},
    {"PXY-012", 403, 0, "(incoming filter) a URI near the DICOMweb servers routes that cannot be classified"},
    {"PXY-013", 403, 0, "(incoming filter) PUT/DELETE of a DICOMweb server definition the gateway owns"},
    {"PXY-014", 500, L, "a definition the gateway owns was changed behind its back and written again"},
    {"PXY-015", 503, 0, "the server's rate limit is used up"},
    {"RDS-001", 500, L, "connecting to Redis failed"},
    {"RDS-002", 500, L, "Redis I/O failed or timed out"},
    {"RDS-003", 500, L, "Redis answered an error"},
    {"RDS-004", 500, 0, "an invalid Redis URL"},
    {"RDS-005", 500, L, "Redis not tried: in back-off after a failure"},
    {"RDS-006", 500, L, "a shared value that is not valid JSON once opened"},
    {"RDS-007", 500, L, "a shared value that does not open with this key"},
    {"RDS-008", 500, L, "a shared token that failed the server's token validation"},
    {"SIG-001", 500, 0, "a signing provider failed to sign the request"},
    {"TOK-001", 503, 0, "the cached token expired and refreshing it failed"},
    {"TOK-002", 503, 0, "token acquisition failed"},
    {"TOK-003", 503, 0, "circuit breaker open"},
    {"TOK-004", 502, R, "the identity provider answered without a usable token"},
    {"TOK-005", 502, 0, "the token failed validation"},
    {"TOK-006", 404, 0, "unknown server or token key"},
    {"TOK-007", 503, T, "deadline exceeded while waiting for a token"},
};

}  // namespace

ErrorCatalogView ErrorCatalog() { return {kCatalog, std::size(kCatalog)}; }

const ErrorCodeInfo* FindErrorCode(std::string_view code) {
  const auto* end = std::end(kCatalog);
  const auto* it = std::lower_bound(std::begin(kCatalog), end, code,
                                    [](const ErrorCodeInfo& e, std::string_view c) { return e.code < c; });
  return it != end && it->code == code ? it : nullptr;
}

int DefaultHttpStatus(std::string_view code) {
  const ErrorCodeInfo* info = FindErrorCode(code);
  return info ? info->httpStatus : 500;
}

bool HasTrait(std::string_view code, ErrorTrait trait) {
  if (const ErrorCodeInfo* info = FindErrorCode(code)) return (info->traits & trait) != 0;
  return trait == kTraitScriptFault && code.size() > 4 && code.substr(0, 4) == "LUA-";
}

}  // namespace gw
