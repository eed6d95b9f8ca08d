#include "gw/cache/SharedTokenSource.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <stdexcept>

#include "gw/common/ErrorCatalog.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/crypto/AesGcm.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

namespace gw::cache {

namespace {

using std::chrono::milliseconds;

// Deletes KEYS[1] only while it still holds ARGV[1]: releases a lease we own, or drops the token
// we returned without touching a newer one another replica stored meanwhile.
constexpr const char* kCompareAndDelete =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

// Version and key id together are the associated data: a record sealed for another key, or in
// another format, does not open.
std::string AssociatedData(const std::string& keyId) { return "dicomweb-oauth/token/v1\n" + keyId; }

int64_t ToUnixMs(token::SystemTime t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// How far from now a shared record's times may lie. A record comes from any holder of the key
// (another replica, another version): a time far away would overflow the nanosecond clock
// arithmetic of FromUnixMs and IClock::FromSystem (undefined behaviour; in practice a far-future
// expiry wrapped into the past). Tokens live minutes to days; such a record is refused as invalid.
constexpr int64_t kMaxRecordDistanceMs = int64_t{100} * 366 * 24 * 3600 * 1000;

token::SystemTime FromUnixMs(int64_t ms) { return token::SystemTime(std::chrono::duration_cast<token::SystemTime::duration>(milliseconds(ms))); }

// Wipes a buffer that held plaintext before it is freed.
struct Wipe {
  std::string& s;
  ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
};

}  // namespace

SharedTokenSource::SharedTokenSource(std::shared_ptr<token::ITokenSource> inner, std::shared_ptr<RedisClient> redis,
                                     std::string encryptionKey, std::string keyId,
                                     std::shared_ptr<token::IClock> clock, std::string server,
                                     const std::shared_ptr<MetricsRegistry>& metrics, SharedCacheOptions options)
    : inner_(std::move(inner)),
      redis_(std::move(redis)),
      key_(std::move(encryptionKey)),
      keyId_(std::move(keyId)),
      valueKey_(options.valuePrefix + keyId_),
      leaseKey_(options.leasePrefix + keyId_),
      clock_(std::move(clock)),
      server_(std::move(server)),
      options_(std::move(options)),
      rng_(std::random_device{}()) {
  if (!inner_ || !redis_ || !clock_) throw std::invalid_argument("SharedTokenSource: null inner source, client or clock");
  if (key_.size() != crypto::kAesGcmKeyBytes) {
    throw std::invalid_argument("SharedTokenSource: the encryption key must be 32 bytes");
  }
  if (metrics) {
    const MetricLabels labels{{"server", server_}};
    hits_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_hits_total",
                                 "Token fetches answered by the shared (Redis) cache", labels);
    misses_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_misses_total",
                                   "Token fetches that called the identity provider through the shared cache level",
                                   labels);
    leaseWaits_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_lease_waits_total",
                                       "Token fetches that waited for another replica holding the refresh lease",
                                       labels);
    const char* help =
        "Shared cache failures (redis: Redis unreachable or erroring; decrypt: a value that does not open; "
        "invalid: a shared token that failed validation)";
    redisErrors_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_errors_total", help,
                                        {{"server", server_}, {"reason", "redis"}});
    decryptErrors_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_errors_total", help,
                                          {{"server", server_}, {"reason", "decrypt"}});
    invalidErrors_ = &metrics->GetCounter("dicomweb_oauth_shared_cache_errors_total", help,
                                          {{"server", server_}, {"reason", "invalid"}});
  }
}

SharedTokenSource::~SharedTokenSource() = default;

Result<std::string> SharedTokenSource::Seal(const token::TokenRecord& record) const {
  json::Writer w;
  w.StartObject();
  w.Key("access_token");
  w.String(record.accessToken);
  w.Key("token_type");
  w.String(record.tokenType);
  w.Key("expires_at_ms");
  w.Int(ToUnixMs(clock_->ToSystem(record.expiresAt)));
  if (record.refreshAt) {
    w.Key("refresh_at_ms");
    w.Int(ToUnixMs(clock_->ToSystem(*record.refreshAt)));
  }
  w.Key("scopes");
  w.StartArray();
  for (const auto& s : record.scopes) w.String(s);
  w.EndArray();
  w.Key("provider");
  w.String(record.provider);
  w.Key("metadata");
  w.StartObject();
  for (const auto& [k, v] : record.metadata) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
  w.EndObject();
  std::string plain = w.Take();
  Wipe wipe{plain};
  return crypto::AesGcmEncrypt(key_, plain, AssociatedData(keyId_));
}

std::optional<token::TokenRecord> SharedTokenSource::Open(std::string_view sealed) const {
  auto plain = crypto::AesGcmDecrypt(key_, sealed, AssociatedData(keyId_));
  if (!plain.Ok()) return std::nullopt;
  Wipe wipe{plain.Value()};
  auto doc = json::Parse(plain.Value(), "RDS-006");
  if (!doc.Ok() || !doc.Value().IsObject()) return std::nullopt;
  const auto& d = doc.Value();
  auto str = [&d](const char* name) -> const rapidjson::Value* {
    auto it = d.FindMember(name);
    return it != d.MemberEnd() && it->value.IsString() ? &it->value : nullptr;
  };
  auto integer = [&d](const char* name) -> const rapidjson::Value* {
    auto it = d.FindMember(name);
    return it != d.MemberEnd() && it->value.IsInt64() ? &it->value : nullptr;
  };
  const auto* tokenValue = str("access_token");
  const auto* expires = integer("expires_at_ms");
  if (!tokenValue || tokenValue->GetStringLength() == 0 || !expires) return std::nullopt;
  const int64_t nowMs = ToUnixMs(clock_->SystemNow());
  auto nearNow = [nowMs](const rapidjson::Value* ms) {
    return ms->GetInt64() >= nowMs - kMaxRecordDistanceMs && ms->GetInt64() <= nowMs + kMaxRecordDistanceMs;
  };
  const auto* refresh = integer("refresh_at_ms");
  if (!nearNow(expires) || (refresh && !nearNow(refresh))) return std::nullopt;
  token::TokenRecord r;
  r.accessToken.assign(tokenValue->GetString(), tokenValue->GetStringLength());
  if (const auto* t = str("token_type")) r.tokenType = t->GetString();
  r.expiresAt = clock_->FromSystem(FromUnixMs(expires->GetInt64()));
  if (refresh) r.refreshAt = clock_->FromSystem(FromUnixMs(refresh->GetInt64()));
  if (auto it = d.FindMember("scopes"); it != d.MemberEnd() && it->value.IsArray()) {
    for (const auto& s : it->value.GetArray()) {
      if (s.IsString()) r.scopes.emplace_back(s.GetString(), s.GetStringLength());
    }
  }
  if (const auto* p = str("provider")) r.provider = p->GetString();
  if (auto it = d.FindMember("metadata"); it != d.MemberEnd() && it->value.IsObject()) {
    for (const auto& m : it->value.GetObject()) {
      if (m.value.IsString()) r.metadata[m.name.GetString()] = m.value.GetString();
    }
  }
  // The parsed document still holds the token: overwrite it before the document is freed.
  auto& doomed = const_cast<rapidjson::Value&>(*tokenValue);
  OPENSSL_cleanse(const_cast<char*>(doomed.GetString()), doomed.GetStringLength());
  return r;
}

std::chrono::milliseconds SharedTokenSource::Budget(token::SteadyTime deadline) const {
  return std::chrono::duration_cast<milliseconds>(deadline - clock_->SteadyNow());
}

double SharedTokenSource::Random01() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

bool SharedTokenSource::Usable(const token::TokenRecord& record) const {
  const auto now = clock_->SteadyNow();
  if (record.expiresAt - now <= options_.minRemaining) return false;
  if (record.refreshAt && now >= *record.refreshAt) return false;  // due: this fetch should renew it
  return true;
}

void SharedTokenSource::CountError(const char* reason, const Error& error) {
  const std::string_view kind(reason);
  if (kind == "redis") {
    if (redisErrors_) redisErrors_->Inc();
    // The client logs the first failure of an outage; details of later ones only at debug level.
    LogDebug("shared token cache for server '" + server_ + "' skipped: " + error.ToString());
    return;
  }
  const bool decrypt = kind == "decrypt";
  if (Counter* counter = decrypt ? decryptErrors_ : invalidErrors_) counter->Inc();
  bool warn = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bool& warned = decrypt ? decryptWarned_ : invalidWarned_;
    warn = !warned;
    warned = true;
  }
  if (warn) {
    LogWarning("shared token cache for server '" + server_ + "': " + error.ToString() +
               (decrypt ? " (another replica with a different RedisEncryptionKey, or a modified value)"
                        : " (stored by a replica that validates differently, or no longer valid)") +
               "; fetching a new token and replacing it");
  } else {
    LogDebug("shared token cache for server '" + server_ + "': " + error.ToString());
  }
}

Status SharedTokenSource::Validate(const token::TokenRecord& record) const {
  if (!options_.validator) return Status::Success();
  try {
    return options_.validator(record);
  } catch (const std::exception&) {
    return CatalogError(codes::kValidationFailed,
                        "token for server '" + server_ + "' could not be validated (the check failed)");
  }
}

void SharedTokenSource::Remember(const token::TokenRecord& record, std::string sealed) {
  std::string hash = crypto::Sha256(record.accessToken);
  std::lock_guard<std::mutex> lock(mutex_);
  lastSealed_ = std::move(sealed);
  lastTokenHash_ = std::move(hash);
}

SharedTokenSource::Lookup SharedTokenSource::TryShared(token::SteadyTime deadline, const std::string& haveHash,
                                                       token::TokenRecord& out) {
  auto reply = redis_->Command({"GET", valueKey_}, Budget(deadline));
  if (!reply.Ok()) {
    CountError("redis", reply.GetError());
    return Lookup::Error;
  }
  const RedisReply& r = reply.Value();
  if (r.type == RedisReply::Type::Error) {
    CountError("redis", MakeError("RDS-003", "GET refused: " + r.text));
    return Lookup::Error;
  }
  if (r.IsNil()) return Lookup::Miss;
  if (r.type != RedisReply::Type::String) return Lookup::Miss;
  auto record = Open(r.text);
  if (!record) {
    CountError("decrypt", MakeError("RDS-007", "the shared value does not open with this key"));
    return Lookup::Miss;
  }
  const std::string hash = crypto::Sha256(record->accessToken);
  bool rejected = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The token rejected upstream, still stored by a replica that did not see the 401.
    rejected = !invalidatedHash_.empty() && crypto::ConstantTimeEquals(hash, invalidatedHash_);
  }
  // The token this fetch's caller already holds: the manager asks for another one (refresh due by
  // its clock, or a caller needing a longer life), so handing it back would defeat the refresh.
  if (!haveHash.empty() && crypto::ConstantTimeEquals(hash, haveHash)) rejected = true;
  if (rejected || !Usable(*record)) {
    OPENSSL_cleanse(record->accessToken.data(), record->accessToken.size());
    return Lookup::Miss;
  }
  if (Status valid = Validate(*record); !valid.Ok()) {
    OPENSSL_cleanse(record->accessToken.data(), record->accessToken.size());
    CountError("invalid", MakeError("RDS-008", "a shared token failed validation: " + valid.GetError().ToString()));
    return Lookup::Miss;
  }
  Remember(*record, r.text);
  out = std::move(*record);
  return Lookup::Hit;
}

Result<token::TokenRecord> SharedTokenSource::FetchChecked(token::SteadyTime deadline) {
  if (misses_) misses_->Inc();
  auto result = inner_->Fetch(deadline);
  if (!result.Ok() || options_.innerValidates) return result;
  if (Status valid = Validate(result.Value()); !valid.Ok()) {
    OPENSSL_cleanse(result.Value().accessToken.data(), result.Value().accessToken.size());
    return valid.GetError();
  }
  return result;
}

Result<token::TokenRecord> SharedTokenSource::FetchInner(token::SteadyTime deadline) {
  auto result = FetchChecked(deadline);
  if (result.Ok()) Remember(result.Value(), std::string());  // not in Redis: nothing to delete later
  return result;
}

Result<token::TokenRecord> SharedTokenSource::FetchAndStore(token::SteadyTime deadline, const std::string& leaseValue) {
  auto result = FetchChecked(deadline);  // only a token that passes the check is shared
  std::string sealed;
  if (result.Ok()) {
    token::TokenRecord& record = result.Value();
    // One refresh instant for the whole fleet (see the header).
    const auto now = clock_->SteadyNow();
    record.refreshAt = token::ComputeRefreshAt(now, record.expiresAt, record.refreshAt, options_.refresh, Random01());
    const auto ttl = std::chrono::duration_cast<milliseconds>(record.expiresAt - now);
    auto s = Seal(record);
    if (!s.Ok()) {
      LogWarning("shared token cache for server '" + server_ + "': cannot seal the token: " + s.GetError().ToString());
    } else if (ttl.count() > 0) {
      sealed = std::move(s).Value();
      const std::string px = std::to_string(ttl.count());
      auto stored = redis_->Command({"SET", valueKey_, sealed, "PX", px}, std::max(Budget(deadline), milliseconds(200)));
      if (!stored.Ok()) CountError("redis", stored.GetError());
      else if (!stored.Value().IsStatus("OK")) CountError("redis", MakeError("RDS-003", "SET refused: " + stored.Value().text));
      if (!stored.Ok() || !stored.Value().IsStatus("OK")) sealed.clear();
    }
    Remember(record, sealed);
  }
  // Release the lease (only if still ours), also after a failure so another replica may try.
  auto released = redis_->Command({"EVAL", kCompareAndDelete, "1", leaseKey_, leaseValue}, milliseconds(500));
  if (!released.Ok()) CountError("redis", released.GetError());
  return result;
}

bool SharedTokenSource::SleepUntil(token::SteadyTime until) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!cancelled_.load() && clock_->SteadyNow() < until) clock_->WaitUntil(lock, sleepCv_, until);
  return !cancelled_.load();
}

Result<token::TokenRecord> SharedTokenSource::Fetch(token::SteadyTime deadline) {
  if (!redis_->Available()) {
    // In back-off after a failure: do not even try (the client would refuse at once anyway).
    if (redisErrors_) redisErrors_->Inc();
    return FetchInner(deadline);
  }
  const auto start = clock_->SteadyNow();
  const auto budget = Budget(deadline);
  const auto leaseTtl = std::max(milliseconds(1), std::min(options_.leaseTtl, budget));
  const auto waitUntil = start + std::min(options_.leaseTtl, budget / 2);
  auto random = crypto::RandomBytes(16);
  if (!random.Ok()) return FetchInner(deadline);
  const std::string leaseValue = crypto::HexEncode(random.Value());
  const std::string px = std::to_string(leaseTtl.count());
  bool waited = false;
  std::string haveHash;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    haveHash = lastTokenHash_;
  }

  for (;;) {
    token::TokenRecord record;
    const Lookup lookup = TryShared(deadline, haveHash, record);
    if (lookup == Lookup::Hit) {
      if (hits_) hits_->Inc();
      return record;
    }
    if (lookup == Lookup::Error) return FetchInner(deadline);

    auto lease = redis_->Command({"SET", leaseKey_, leaseValue, "NX", "PX", px}, Budget(deadline));
    if (!lease.Ok() || lease.Value().type == RedisReply::Type::Error) {
      CountError("redis", lease.Ok() ? MakeError("RDS-003", "SET NX refused: " + lease.Value().text) : lease.GetError());
      return FetchInner(deadline);
    }
    if (lease.Value().IsStatus("OK")) return FetchAndStore(deadline, leaseValue);

    // Another replica (or thread) holds the lease and is fetching: wait for its token.
    if (!waited) {
      waited = true;
      if (leaseWaits_) leaseWaits_->Inc();
    }
    const auto now = clock_->SteadyNow();
    if (now >= waitUntil || cancelled_.load()) break;
    if (!SleepUntil(std::min(now + options_.pollInterval, waitUntil))) break;
  }
  LogDebug("shared token cache for server '" + server_ + "': the lease holder did not store a token in time; "
           "fetching directly");
  return FetchInner(deadline);
}

void SharedTokenSource::Invalidated() {
  std::string sealed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sealed = std::move(lastSealed_);
    lastSealed_.clear();
    invalidatedHash_ = lastTokenHash_;
  }
  if (!sealed.empty()) {
    auto r = redis_->Command({"EVAL", kCompareAndDelete, "1", valueKey_, sealed}, milliseconds(1000));
    if (!r.Ok()) CountError("redis", r.GetError());
  }
  inner_->Invalidated();
}

void SharedTokenSource::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.store(true);
  }
  sleepCv_.notify_all();
  inner_->Cancel();
}

}  // namespace gw::cache
