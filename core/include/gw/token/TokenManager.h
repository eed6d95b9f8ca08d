#pragma once
// The token cache: one entry per key (see TokenKey.h), each with its own ITokenSource.
//
// - Refresh ahead: a scheduler thread sleeps until the earliest refresh instant (RefreshSchedule.h)
//   and hands due keys to a small pool of fetch threads, so callers never wait for the IdP while a
//   valid token exists.
// - Single flight: at most one fetch per key is in flight; every caller that needs it waits for
//   that fetch (up to its own maxWait) and gets its outcome, success or the same error.
// - Failures: after a failed fetch the key backs off (exponential with jitter, capped) and the
//   scheduler retries when the back-off ends (transient failures only: refused credentials wait for
//   a caller after the back-off, see KeySlot::RunFetch); callers arriving meanwhile get the still-valid token,
//   or at once an error carrying the last failure, never a fetch of their own (no storm). A token
//   past its expiry (minus a small safety margin) is never handed out. When the IdP is back, the
//   next scheduled retry succeeds and service resumes by itself.
// - Fetches run on the pool with the key's fetchTimeout as deadline, never on a caller's thread, so
//   a caller with a short maxWait does not cut the fetch short for others.
// - Isolation between keys (servers): a key never occupies more than one fetch thread (single
//   flight, retries included), and a key's fetch never waits for another key's: when every fetch
//   thread is busy (IdPs hanging until their timeout), an extra thread starts for it at once and
//   ends when no fetch is queued. Threads: fetchThreads, plus at most one per key while needed.
// A second (shared, Redis) level goes in front of the real source as an ITokenSource decorator.
//
// Metrics (labels: server = KeyOptions::server of the first registration):
//   dicomweb_oauth_cache_hits_total, dicomweb_oauth_cache_misses_total,
//   dicomweb_oauth_token_acquisitions_total{status="success"|"failure"},
//   dicomweb_oauth_token_acquisition_duration_seconds (histogram),
//   dicomweb_oauth_token_refreshes_total{trigger="background"|"caller"},
//   dicomweb_oauth_token_invalidations_total, dicomweb_oauth_token_remaining_seconds (at scrape).
//
// Thread safety: every method may be called from any thread. Handles stay usable after the
// manager is destroyed (fetches then fail with TOK-002) and never dangle.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/token/IClock.h"
#include "gw/token/ITokenSource.h"
#include "gw/token/RefreshSchedule.h"
#include "gw/token/TokenHandle.h"
#include "gw/token/TokenState.h"

namespace gw::token {

namespace detail {
class ManagerCore;
}

struct KeyOptions {
  std::string server;                              // metrics label and name in messages
  std::chrono::seconds refreshBuffer{300};         // TokenRefreshBufferSeconds
  std::chrono::milliseconds fetchTimeout{30000};   // deadline given to each Fetch()
  // A token counts as expired this long before its expiry (capped at a tenth of its lifetime),
  // so a token handed out is not already dead when the request reaches the upstream.
  std::chrono::milliseconds expirySafety{5000};
  // Optional check of every fetched token (signature, audience...); a failure becomes TOK-005
  // and the token is not cached. Called on a fetch thread, without locks held. It runs after the
  // source returned, i.e. after a shared (Redis) level stored the token: give the shared level the
  // check too (SharedCacheOptions::validator), as the gateway does.
  std::function<Status(const TokenRecord&)> validator;
  // Optional: called after each new token is cached (inject mode pushes it to Orthanc), on the
  // thread that fetched it, without locks held. Must not block for long.
  std::function<void(const TokenRecord&)> onNewToken;
};

struct TokenManagerOptions {
  std::shared_ptr<IClock> clock;             // null: SystemClock
  std::shared_ptr<MetricsRegistry> metrics;  // null: a private registry
  size_t fetchThreads = 2;                   // fetch threads always running (>= 1); more start on demand
  // Extra fetch threads that may run at once when every fetch thread is busy (one per key at
  // most: a key never has two fetches). 0 restores a fixed pool, where a fetch queues behind the
  // others (tests of queueing; not isolated).
  size_t maxExtraFetchThreads = std::numeric_limits<size_t>::max();
  double refreshJitterFraction = 0.05;       // RefreshPolicy::jitterFraction
  std::chrono::seconds maxRefreshJitter{30};
  BackoffPolicy backoff;                     // after failed fetches: 1 s doubling, capped at 60 s
  uint64_t seed = 0;                         // 0: random jitter; otherwise reproducible
};

class TokenManager {
 public:
  explicit TokenManager(TokenManagerOptions options = {});
  ~TokenManager();  // Stop()
  TokenManager(const TokenManager&) = delete;
  TokenManager& operator=(const TokenManager&) = delete;

  // Adds a key. Idempotent by key: when the key exists (two servers with the same provider,
  // identity and scope), the existing entry is returned, keeping its source and options, and
  // `options.server` is recorded as one more server sharing it. A null source is a programming
  // error (std::invalid_argument).
  TokenHandle Register(const std::string& key, std::shared_ptr<ITokenSource> source, KeyOptions options);
  // Drops a key; handles still held then fail with TOK-006. False if unknown.
  bool Remove(std::string_view key);

  // Lookups (a shared map: resolve once, then keep the handle). TOK-006 [404] if unknown.
  Result<TokenHandle> Find(std::string_view key) const;
  Result<TokenHandle> FindServer(std::string_view server) const;

  // Convenience for rare paths: Find(key) then Get().
  Result<std::shared_ptr<const TokenRecord>> Get(std::string_view key,
                                                 std::chrono::milliseconds minRemaining = std::chrono::milliseconds(0),
                                                 std::chrono::milliseconds maxWait = kDefaultMaxWait) const;
  Status Invalidate(std::string_view key) const;

  std::vector<TokenState> States() const;
  MetricsRegistry& Metrics() const;

  // Blocks (real time, at most `realTimeout`) until no fetch is queued or running and the
  // scheduler has handled everything due at the clock's current time. For tests and orderly
  // shutdown; false on timeout.
  bool WaitIdle(std::chrono::milliseconds realTimeout) const;

  // Extra fetch threads started so far because every fetch thread was busy (diagnostics, tests).
  uint64_t ExtraFetchThreadsStarted() const;

  // Stops the scheduler and fetch threads (asks running fetches to cancel, then joins them).
  // Queued fetches fail with TOK-002 for their waiters. Idempotent.
  void Stop();

 private:
  std::shared_ptr<detail::ManagerCore> core_;
};

}  // namespace gw::token
