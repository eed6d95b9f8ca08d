#pragma once
// A JWKS URL, fetched through IHttpClient and cached, for verifying tokens signed by an identity
// provider that rotates its keys.
//
//   - The set is refetched when older than `ttl`.
//   - A token whose "kid" is not in the set triggers one refetch (key rotation), but at most one
//     fetch attempt per `minRefetchInterval`: a stream of tokens with made-up kids cannot turn the
//     gateway into a traffic generator against the IdP.
//   - After a failed fetch, no new attempt is made before `minRefetchInterval`; meanwhile an expired
//     set keeps being used for up to `maxStale` past its ttl (the keys were genuine; the IdP being
//     down must not fail every verification), and without such a set callers get the last CRY-006.
//   - Concurrent callers share one fetch (single flight); no lock is held during network I/O.
// Thread safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/Jwt.h"
#include "gw/http/IHttpClient.h"

namespace gw::crypto {

struct JwksCacheOptions {
  std::string url;                              // http(s) URL of the JWK Set
  http::TlsOptions tls;
  std::chrono::milliseconds timeout{5000};
  std::chrono::seconds ttl{600};
  std::chrono::seconds minRefetchInterval{30};
  std::chrono::seconds maxStale{3600};
  size_t maxBytes = 512 * 1024;
  // Monotonic clock; tests inject their own. Default: std::chrono::steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class JwksCache {
 public:
  JwksCache(std::shared_ptr<http::IHttpClient> http, JwksCacheOptions options);

  // The current key set, fetching it when missing or expired. CRY-006 when it cannot be fetched
  // (transport error, non-200 status, invalid document) and no usable cached set exists.
  Result<std::shared_ptr<const Jwks>> Get();

  // Decode, pick the key by kid (refetching once on an unknown kid, rate limited), verify the
  // signature, check the claims. Error codes as in Jwt.h; CRY-006 for an unknown kid.
  Result<DecodedJwt> Verify(std::string_view token, const ClaimChecks& checks);

  // Number of fetch attempts so far (for tests and metrics).
  uint64_t FetchAttempts() const;

 private:
  std::chrono::steady_clock::time_point Now() const;
  Result<std::shared_ptr<const Jwks>> Obtain(bool unknownKid);
  Result<std::shared_ptr<const Jwks>> Fetch();

  std::shared_ptr<http::IHttpClient> http_;
  JwksCacheOptions options_;
  std::string target_;  // scheme://host[:port] for messages (never the path or query)

  mutable std::mutex mutex_;
  std::condition_variable fetched_;
  bool fetching_ = false;
  std::shared_ptr<const Jwks> current_;
  std::chrono::steady_clock::time_point fetchedAt_{};
  std::optional<std::chrono::steady_clock::time_point> lastAttempt_;
  std::optional<Error> lastError_;  // set while the last attempt failed
  uint64_t attempts_ = 0;
};

}  // namespace gw::crypto
