#pragma once
// The shared (Redis) token level: an ITokenSource decorator in front of the real source, so all
// replicas of the gateway share one token per cache key and a fleet makes one IdP call per key.
//
// Fetch():
//   1. GET <valuePrefix><key id>; the value is a sealed record (AES-256-GCM, the key id as
//      associated data, so a value copied under another key does not open). A record that opens,
//      is neither the token last invalidated here nor the token this source returned last (the
//      manager holds that one and asks for another: refresh due, or a caller needing a longer
//      life), is not yet due for refresh and passes the validator (below) is returned: no IdP
//      call. A value that does not open (wrong key, tampering) or fails the validator counts as a
//      miss and is replaced.
//   2. Otherwise SET <leasePrefix><key id> <random> NX PX <leaseTtl>: the winner calls the inner
//      source, checks the token with the validator (a failure is returned, TOK-005, and nothing is
//      stored), stores the sealed record with PX = its remaining lifetime, and releases the lease
//      if it still holds it (compare-and-delete in one Lua script).
//   3. A loser polls the value (and retries the lease, in case its holder died) for at most
//      min(leaseTtl, half the remaining budget), then calls the inner source itself.
//   Any Redis failure: the inner source is called, as if there were no shared level. Redis being
//   down never fails a fetch; it only costs the IdP calls the lease would have saved.
// Invalidated(): deletes the shared value if it is still the sealed record of the token this
//   source last returned (compare-and-delete), remembers a SHA-256 of that token so it is never
//   taken from Redis again, and tells the inner source.
//
// The sealed record holds: token, type, expiry and refresh instant as wall-clock Unix
// milliseconds (replicas' clocks must agree to well under the refresh buffer: NTP), scopes,
// provider and metadata (JSON). The refresh instant is computed once, by the replica that fetched
// (RefreshSchedule with its jitter), and handed to each replica's manager as the provider hint, so
// the whole fleet refreshes at the same instant and the lease turns that into one IdP call.
// Neither the token nor the plaintext record is ever logged or stored outside the sealed value.
// The validator (the server's JWT checks, service::TokenValidator) runs on both sides because a
// value in Redis comes from any holder of the encryption key, may have been stored by a replica
// that validated differently (another version, a JWKS that has since dropped the signing key), and
// may have passed the expiry its JWT claims while the record's own expiry looked fine.
//
// Metrics (registry may be null), label server:
//   dicomweb_oauth_shared_cache_hits_total, dicomweb_oauth_shared_cache_misses_total (the IdP
//   was called through this level), dicomweb_oauth_shared_cache_lease_waits_total (fetches that
//   waited for another replica), dicomweb_oauth_shared_cache_errors_total{reason="redis"|"decrypt"|
//   "invalid"} (invalid: a shared token that failed the validator).
// Thread safety: concurrent Fetch(), Invalidated() and Cancel() calls are safe.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "gw/cache/RedisClient.h"
#include "gw/common/Metrics.h"
#include "gw/token/ITokenSource.h"
#include "gw/token/RefreshSchedule.h"

namespace gw::cache {

struct SharedCacheOptions {
  std::string valuePrefix = "dicomweb-oauth:token:";
  std::string leasePrefix = "dicomweb-oauth:lease:";
  // Refresh arithmetic for the records this level stores (buffer = TokenRefreshBufferSeconds).
  token::RefreshPolicy refresh;
  // A shared record with less life left than this is not taken (also clamps skewed clocks).
  std::chrono::milliseconds minRemaining{10000};
  std::chrono::milliseconds leaseTtl{15000};
  std::chrono::milliseconds pollInterval{50};
  // Optional check of every token this level stores or takes (see above); its error (TOK-005) is
  // what Fetch() returns for a freshly acquired token that fails. Called without locks held.
  std::function<Status(const token::TokenRecord&)> validator;
  // True when the inner source already applies this same validator to every token it returns
  // (the gateway's LuaTokenSource does, inside the audited and retried fetch): a fresh token is
  // then stored as it comes, and only tokens read from Redis are checked here. Not checked twice.
  bool innerValidates = false;
};

class SharedTokenSource final : public token::ITokenSource {
 public:
  // `encryptionKey`: 32 raw bytes (std::invalid_argument otherwise: tokens are never stored in
  // clear). `keyId`: the TokenManager key (MakeTokenKey), also the associated data. `server`
  // names the server in metric labels and log lines. `metrics` may be null.
  SharedTokenSource(std::shared_ptr<token::ITokenSource> inner, std::shared_ptr<RedisClient> redis,
                    std::string encryptionKey, std::string keyId, std::shared_ptr<token::IClock> clock,
                    std::string server, const std::shared_ptr<MetricsRegistry>& metrics = nullptr,
                    SharedCacheOptions options = {});
  ~SharedTokenSource() override;

  Result<token::TokenRecord> Fetch(token::SteadyTime deadline) override;
  void Invalidated() override;
  // Forwarded: the circuit breaker behind this level bounds its open period by the key's token.
  void CachedTokenChanged(token::SteadyTime usableUntil) override { inner_->CachedTokenChanged(usableUntil); }
  void Cancel() override;

  // Exposed for tests: the sealed form of `record` as stored, and its inverse (nullopt when the
  // value does not open or is not a record).
  Result<std::string> Seal(const token::TokenRecord& record) const;
  std::optional<token::TokenRecord> Open(std::string_view sealed) const;

 private:
  enum class Lookup { Hit, Miss, Error };
  // `haveHash`: SHA-256 of the token this source returned last (the one the manager holds).
  Lookup TryShared(token::SteadyTime deadline, const std::string& haveHash, token::TokenRecord& out);
  Result<token::TokenRecord> FetchAndStore(token::SteadyTime deadline, const std::string& leaseValue);
  // The inner source's token, refused with the validator's error when it fails the check.
  Result<token::TokenRecord> FetchChecked(token::SteadyTime deadline);
  Result<token::TokenRecord> FetchInner(token::SteadyTime deadline);
  bool Usable(const token::TokenRecord& record) const;
  Status Validate(const token::TokenRecord& record) const;
  std::chrono::milliseconds Budget(token::SteadyTime deadline) const;
  void CountError(const char* reason, const Error& error);
  void Remember(const token::TokenRecord& record, std::string sealed);
  bool SleepUntil(token::SteadyTime until);
  double Random01();

  const std::shared_ptr<token::ITokenSource> inner_;
  const std::shared_ptr<RedisClient> redis_;
  const std::string key_;
  const std::string keyId_;
  const std::string valueKey_;
  const std::string leaseKey_;
  const std::shared_ptr<token::IClock> clock_;
  const std::string server_;
  const SharedCacheOptions options_;

  Counter* hits_ = nullptr;
  Counter* misses_ = nullptr;
  Counter* leaseWaits_ = nullptr;
  Counter* redisErrors_ = nullptr;
  Counter* decryptErrors_ = nullptr;
  Counter* invalidErrors_ = nullptr;

  std::mutex mutex_;  // guards the fields below; never held during I/O
  std::condition_variable sleepCv_;
  std::mt19937_64 rng_;
  std::string lastSealed_;       // sealed value of the token last returned (for compare-and-delete)
  std::string lastTokenHash_;    // SHA-256 of the token last returned
  std::string invalidatedHash_;  // SHA-256 of the token last invalidated: never taken again
  bool decryptWarned_ = false;
  bool invalidWarned_ = false;
  std::atomic<bool> cancelled_{false};
};

}  // namespace gw::cache
