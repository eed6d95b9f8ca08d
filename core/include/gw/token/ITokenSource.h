#pragma once
// Where tokens come from: one source per cache key. The real source runs a Lua provider script
// through gw::lua::ScriptEngine; ResilientFetch decorates a source with retries and a circuit
// breaker; a shared (Redis) level will be one more decorator in front of the real source. The
// TokenManager only sees this interface, so levels stack without the cache knowing.
//
// Contract for Fetch():
//  - returns within `deadline` (steady time of the manager's clock) or soon after, never blocks
//    forever; the remaining budget is what it may give to network calls;
//  - on success: a non-empty accessToken and expiresAt in the future; refreshAt only if the
//    provider said when to refresh;
//  - on failure: an Error whose code tells what happened (see TokenErrors.h: NET-xxx
//    transport, AUTH-001 credentials refused, AUTH-005 IdP answered 429/5xx, TOK-004 answer
//    without a usable token, LUA-xxx script failures) and a secret-free message.
// Thread safety: the manager calls Fetch() for one key from one thread at a time, but may call
// Invalidated(), CachedTokenChanged() and Cancel() from other threads concurrently.
#include "gw/common/Error.h"
#include "gw/token/TokenRecord.h"

namespace gw::token {

class ITokenSource {
 public:
  virtual ~ITokenSource() = default;

  virtual Result<TokenRecord> Fetch(SteadyTime deadline) = 0;

  // The last token obtained from this source was rejected upstream (HTTP 401) and dropped. A
  // source that caches (the shared level) must not hand that token out again. Default: nothing.
  virtual void Invalidated() {}

  // The key's cached token changed: it is usable until `usableUntil` (the engine's expiry minus
  // its safety margin), or SteadyTime::min() when none is cached any more (dropped, key removed).
  // ResilientFetch bounds an open circuit by it (CircuitBreaker.h); decorators forward it, as
  // they forward Invalidated(). Called with the key's lock held: must not block nor call back
  // into the manager. Default: nothing.
  virtual void CachedTokenChanged(SteadyTime usableUntil) { (void)usableUntil; }

  // Shutdown: asks Fetch() calls in progress to return as soon as they can (an error is fine).
  // Default: nothing (Fetch() then ends by its deadline).
  virtual void Cancel() {}
};

}  // namespace gw::token
