#include "gw/crypto/JwksCache.h"

#include <algorithm>

#include "gw/common/Log.h"
#include "gw/crypto/Errors.h"

namespace gw::crypto {

namespace {

// "scheme://host[:port]" of a URL: enough to say where a fetch went, never the path or query.
std::string Origin(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "<invalid url>";
  size_t end = url.find_first_of("/?#", scheme + 3);
  std::string origin = url.substr(0, end);
  const size_t at = origin.find('@', scheme + 3);  // drop user:password@
  if (at != std::string::npos) origin.erase(scheme + 3, at - scheme - 2);
  return origin;
}

}  // namespace

JwksCache::JwksCache(std::shared_ptr<http::IHttpClient> http, JwksCacheOptions options)
    : http_(std::move(http)), options_(std::move(options)), target_(Origin(options_.url)) {}

std::chrono::steady_clock::time_point JwksCache::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

uint64_t JwksCache::FetchAttempts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return attempts_;
}

Result<std::shared_ptr<const Jwks>> JwksCache::Fetch() {
  if (!http_) return MakeError(errc::kJwks, "JWKS fetch from " + target_ + " failed: no HTTP client", 502);
  http::HttpRequest request;
  request.url = options_.url;
  request.headers = {{"Accept", "application/json, application/jwk-set+json"}};
  request.tls = options_.tls;
  request.timeout = options_.timeout;
  request.connectTimeout = std::min(options_.timeout, request.connectTimeout);
  request.maxResponseBytes = options_.maxBytes;
  Result<http::HttpResponse> response = MakeError(errc::kJwks, "not attempted");
  try {
    response = http_->Perform(request);
  } catch (const std::exception&) {
    return MakeError(errc::kJwks, "JWKS fetch from " + target_ + " failed: HTTP client error", 502);
  }
  if (!response) {
    return MakeError(errc::kJwks, "JWKS fetch from " + target_ + " failed: " + response.GetError().ToString(), 502);
  }
  if (response.Value().status != 200) {
    return MakeError(errc::kJwks,
                     "JWKS fetch from " + target_ + " failed: HTTP status " + std::to_string(response.Value().status), 502);
  }
  auto jwks = Jwks::Parse(response.Value().body);
  if (!jwks) return MakeError(errc::kJwks, "JWKS from " + target_ + ": " + jwks.GetError().message, 502);
  return std::shared_ptr<const Jwks>(std::make_shared<Jwks>(std::move(jwks.Value())));
}

Result<std::shared_ptr<const Jwks>> JwksCache::Obtain(bool unknownKid) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const auto now = Now();
    const bool fresh = current_ && now < fetchedAt_ + options_.ttl;
    const bool recentAttempt = lastAttempt_ && now < *lastAttempt_ + options_.minRefetchInterval;
    const bool staleUsable = current_ && now < fetchedAt_ + options_.ttl + options_.maxStale;

    if (fresh && !unknownKid) return current_;
    if (unknownKid && current_ && recentAttempt) return current_;  // rate limited: keep what we have
    if (!fresh && !unknownKid && lastError_ && recentAttempt) {     // the last attempt failed: back off
      if (staleUsable) return current_;
      return *lastError_;
    }
    if (fetching_) {
      // Someone else is fetching: wait for that result instead of fetching again.
      fetched_.wait(lock, [&] { return !fetching_; });
      unknownKid = false;
      if (lastError_ && !current_) return *lastError_;
      if (lastError_ && current_ && !(Now() < fetchedAt_ + options_.ttl + options_.maxStale)) return *lastError_;
      if (current_) return current_;
      continue;
    }

    fetching_ = true;
    lastAttempt_ = now;
    ++attempts_;
    lock.unlock();
    auto result = Fetch();  // network I/O without the lock
    lock.lock();
    fetching_ = false;
    if (result) {
      current_ = std::move(result.Value());
      fetchedAt_ = Now();
      lastError_.reset();
    } else {
      lastError_ = result.GetError();
      LogWarning(result.GetError().ToString());
    }
    fetched_.notify_all();
    if (result) return current_;
    if (current_ && Now() < fetchedAt_ + options_.ttl + options_.maxStale) return current_;
    return *lastError_;
  }
}

Result<std::shared_ptr<const Jwks>> JwksCache::Get() { return Obtain(false); }

Result<DecodedJwt> JwksCache::Verify(std::string_view token, const ClaimChecks& checks) {
  auto jwt = DecodeJwt(token);
  if (!jwt) return jwt.GetError();
  auto jwks = Obtain(false);
  if (!jwks) return jwks.GetError();
  if (!jwt.Value().kid.empty() && !jwks.Value()->HasKid(jwt.Value().kid)) {
    // Possibly a key the IdP has just rotated in: one (rate-limited) refetch.
    auto refreshed = Obtain(true);
    if (refreshed) jwks = std::move(refreshed);
  }
  if (auto s = VerifySignature(jwt.Value(), *jwks.Value()); !s) return s.GetError();
  if (auto s = CheckClaims(jwt.Value().claims, checks); !s) return s.GetError();
  return jwt;
}

}  // namespace gw::crypto
