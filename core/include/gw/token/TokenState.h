#pragma once
// Per-key state for status pages and the CLI. Never contains the token.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gw/token/IClock.h"

namespace gw::token {

enum class TokenStatus {
  None,        // never fetched
  Valid,       // a usable token is cached (refreshes may have failed: see consecutiveFailures)
  Refreshing,  // a fetch is in flight
  Expired,     // the last token expired and could not be replaced
  Error,       // no token was ever obtained and the last fetch failed
};
const char* ToString(TokenStatus status);  // "none" | "valid" | "refreshing" | "expired" | "error"

struct TokenState {
  std::string key;
  std::vector<std::string> servers;  // servers sharing this key (first = metrics label)
  std::string provider;
  TokenStatus status = TokenStatus::None;
  std::optional<SystemTime> expiresAt;   // wall clock, for display
  std::optional<SystemTime> refreshAt;
  std::optional<SystemTime> obtainedAt;
  std::optional<SystemTime> nextAttemptAt;  // set while backing off after failures
  std::vector<std::string> scopes;
  std::map<std::string, std::string> metadata;
  std::string lastErrorCode;     // empty if no fetch ever failed
  std::string lastErrorMessage;  // secret-free
  std::optional<SystemTime> lastErrorAt;
  uint64_t fetchSuccesses = 0;
  uint64_t fetchFailures = 0;
  uint32_t consecutiveFailures = 0;
  uint64_t callerWaits = 0;  // Get() calls that had to wait for a fetch
};

// A token is held and has not run out (a refresh may be failing meanwhile: the token still serves).
// What readiness and the status pages call a usable token.
bool HasUsableToken(const TokenState& state, SystemTime now);

}  // namespace gw::token
