#include "KeySlot.h"

#include <algorithm>
#include <exception>
#include <unordered_map>

#include <openssl/crypto.h>

#include "ManagerCore.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/crypto/Hash.h"
#include "gw/token/TokenErrors.h"

namespace gw::token::detail {

namespace {

using std::chrono::milliseconds;

// ---- process-unique generations and recycled slot ids ----

std::atomic<uint64_t> g_generation{1};
uint64_t NextGeneration() { return g_generation.fetch_add(1, std::memory_order_relaxed) + 1; }

struct IdPool {
  std::mutex mutex;
  std::vector<uint32_t> free;
  uint32_t next = 0;
};
IdPool& Ids() {
  static IdPool* pool = new IdPool();  // never destroyed: slots may die during static destruction
  return *pool;
}
uint32_t AllocateId() {
  IdPool& p = Ids();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (!p.free.empty()) {
    uint32_t id = p.free.back();
    p.free.pop_back();
    return id;
  }
  return p.next++;
}
void ReleaseId(uint32_t id) {
  IdPool& p = Ids();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.free.push_back(id);
}

// ---- per-thread cache (see KeySlot.h) ----

struct ThreadEntry {
  uint64_t generation = 0;  // 0 never matches a slot's generation
  std::shared_ptr<const TokenRecord> record;
  SteadyTime usableUntil = SteadyTime::min();
  uint32_t pins = 0;
  std::vector<std::shared_ptr<const TokenRecord>> retired;  // replaced while pinned
};
thread_local std::vector<ThreadEntry> t_entries;

// ---- secret masking for cached tokens, counted (the same token may be cached twice) ----

struct SecretCounts {
  std::mutex mutex;
  std::unordered_map<std::string, int> byDigest;  // SHA-256 of the token, never the token
};
SecretCounts& Secrets() {
  static SecretCounts* counts = new SecretCounts();
  return *counts;
}

std::shared_ptr<const TokenRecord> MakeCachedRecord(TokenRecord record) {
  const std::string digest = crypto::Sha256Hex(record.accessToken);
  {
    SecretCounts& s = Secrets();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.byDigest[digest]++ == 0) SecretRegistry::Add(record.accessToken);
  }
  auto owned = std::make_unique<TokenRecord>(std::move(record));
  return std::shared_ptr<const TokenRecord>(owned.release(), [](const TokenRecord* r) {
    std::unique_ptr<TokenRecord> doomed(const_cast<TokenRecord*>(r));
    const std::string digest = crypto::Sha256Hex(doomed->accessToken);
    {
      SecretCounts& s = Secrets();
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.byDigest.find(digest);
      if (it != s.byDigest.end() && --it->second == 0) {
        s.byDigest.erase(it);
        SecretRegistry::Remove(doomed->accessToken);
      }
    }
    OPENSSL_cleanse(doomed->accessToken.data(), doomed->accessToken.size());
  });
}

SteadyTime SaturatingAdd(SteadyTime t, milliseconds d) {
  if (t > SteadyTime::max() - d) return SteadyTime::max();
  return t + d;
}

std::string SecondsText(SteadyTime::duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d + std::chrono::milliseconds(999)).count();
  return std::to_string(std::max<int64_t>(0, s)) + " s";
}

double ToSeconds(SteadyTime::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// ---- construction ----

KeySlot::KeySlot(std::shared_ptr<ManagerCore> core, std::string key, std::shared_ptr<ITokenSource> source,
                 KeyOptions options, uint64_t seed)
    : core_(std::move(core)),
      clock_(core_->Clock()),
      key_(std::move(key)),
      source_(std::move(source)),
      options_(std::move(options)),
      label_(options_.server.empty() ? key_ : options_.server),
      id_(AllocateId()),
      generation_(NextGeneration()),
      rng_(seed) {
  MetricsRegistry& m = core_->Metrics();
  const MetricLabels server{{"server", label_}};
  hits_ = &m.GetCounter("dicomweb_oauth_cache_hits_total", "Token requests served from the cache", server);
  misses_ = &m.GetCounter("dicomweb_oauth_cache_misses_total",
                          "Token requests that needed a fetch (none cached, expired, or not valid long enough)",
                          server);
  successes_ = &m.GetCounter("dicomweb_oauth_token_acquisitions_total", "Token acquisitions by outcome",
                             {{"server", label_}, {"status", "success"}});
  failures_ = &m.GetCounter("dicomweb_oauth_token_acquisitions_total", "Token acquisitions by outcome",
                            {{"server", label_}, {"status", "failure"}});
  duration_ = &m.GetHistogram("dicomweb_oauth_token_acquisition_duration_seconds",
                              "Time spent in one token acquisition (retries included)", server);
  backgroundRefreshes_ = &m.GetCounter("dicomweb_oauth_token_refreshes_total",
                                       "Token fetches by trigger (background: refresh ahead, retry after "
                                       "back-off, after invalidation; caller: a request had to wait)",
                                       {{"server", label_}, {"trigger", "background"}});
  callerRefreshes_ = &m.GetCounter("dicomweb_oauth_token_refreshes_total",
                                   "Token fetches by trigger (background: refresh ahead, retry after "
                                   "back-off, after invalidation; caller: a request had to wait)",
                                   {{"server", label_}, {"trigger", "caller"}});
  invalidations_ = &m.GetCounter("dicomweb_oauth_token_invalidations_total",
                                 "Cached tokens dropped on request (e.g. after an upstream 401)", server);
  remaining_ = &m.GetGauge("dicomweb_oauth_token_remaining_seconds",
                           "Seconds until the cached token expires (0 when none is cached)", server);
  servers_.push_back(label_);
}

KeySlot::~KeySlot() { ReleaseId(id_); }

void KeySlot::AddServer(const std::string& server) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!server.empty() && std::find(servers_.begin(), servers_.end(), server) == servers_.end()) {
    servers_.push_back(server);
  }
}

// ---- callers ----

Result<const TokenRecord*> KeySlot::Pin(milliseconds minRemaining, milliseconds maxWait) {
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  const SteadyTime now = clock_->SteadyNow();
  std::vector<ThreadEntry>& entries = t_entries;
  if (id_ < entries.size()) {
    ThreadEntry& e = entries[id_];
    if (e.generation == generation && now + minRemaining < e.usableUntil) {
      ++e.pins;
      hits_->Inc();
      return e.record.get();
    }
  }
  return PinSlow(minRemaining, maxWait);
}

void KeySlot::Unpin() {
  std::vector<ThreadEntry>& entries = t_entries;
  if (id_ >= entries.size()) return;
  ThreadEntry& e = entries[id_];
  if (e.pins > 0 && --e.pins == 0 && !e.retired.empty()) e.retired.clear();
}

Result<std::shared_ptr<const TokenRecord>> KeySlot::Acquire(milliseconds minRemaining, milliseconds maxWait) {
  Result<const TokenRecord*> pinned = Pin(minRemaining, maxWait);
  if (!pinned.Ok()) return pinned.GetError();
  std::shared_ptr<const TokenRecord> copy = t_entries[id_].record;
  Unpin();
  return copy;
}

const TokenRecord* KeySlot::PinLocked() {
  std::vector<ThreadEntry>& entries = t_entries;
  if (entries.size() <= id_) entries.resize(id_ + 1);
  ThreadEntry& e = entries[id_];
  if (e.record != current_) {
    if (e.pins > 0 && e.record) e.retired.push_back(std::move(e.record));
    e.record = current_;
  }
  e.generation = generation_.load(std::memory_order_relaxed);
  e.usableUntil = usableUntil_;
  ++e.pins;
  return e.record.get();
}

std::chrono::nanoseconds KeySlot::FreshWindowLocked() const {
  // A token younger than 5% of its lifetime (at least 1 s) is as fresh as the IdP will give:
  // fetching again to satisfy a long minRemaining would only cost an IdP call per request.
  auto window = std::chrono::duration_cast<std::chrono::nanoseconds>(lifetime_) / 20;
  return std::max<std::chrono::nanoseconds>(window, std::chrono::seconds(1));
}

Result<const TokenRecord*> KeySlot::PinSlow(milliseconds minRemaining, milliseconds maxWait) {
  std::unique_lock<std::mutex> lock(mu_);
  const SteadyTime deadline = SaturatingAdd(clock_->SteadyNow(), maxWait);
  uint64_t waitedFor = 0;  // sequence number of the fetch this caller waits for
  bool missCounted = false;
  bool waitCounted = false;

  for (;;) {
    const SteadyTime now = clock_->SteadyNow();
    if (removed_) {
      return MakeTokenError(codes::kUnknownKey, "token key for server '" + label_ + "' was removed");
    }
    if (current_) {
      const bool longEnough = now + minRemaining < usableUntil_;
      const bool bestAvailable = now < usableUntil_ && now - obtainedAt_ < FreshWindowLocked();
      if (longEnough || bestAvailable) {
        if (!missCounted) hits_->Inc();
        return PinLocked();
      }
    }
    if (waitedFor != 0 && completedSeq_ >= waitedFor) {
      // The fetch this caller waited for is over and gave nothing usable: its error for everyone.
      return FailureLocked(now, minRemaining);
    }
    if (!missCounted) {
      misses_->Inc();
      missCounted = true;
    }
    if (fetching_) {
      waitedFor = startedSeq_;
    } else {
      if (now < nextAttemptAt_) return FailureLocked(now, minRemaining);  // backing off: no storm
      Status started = StartFetchLocked(Trigger::Caller);
      if (!started.Ok()) return started.GetError();
      waitedFor = startedSeq_;
    }
    if (now >= deadline) {
      return MakeTokenError(codes::kDeadlineExceeded,
                            "no token for server '" + label_ + "' within " + std::to_string(maxWait.count()) +
                                " ms: the fetch is still running");
    }
    if (!waitCounted) {
      ++callerWaits_;
      waitCounted = true;
    }
    clock_->WaitUntil(lock, cv_, deadline);
  }
}

Error KeySlot::FailureLocked(SteadyTime now, milliseconds minRemaining) const {
  const std::string last = lastError_ ? lastError_->ToString() : std::string("no fetch error recorded");
  std::string message;
  const char* code;
  if (current_ && now < usableUntil_) {
    code = codes::kAcquisitionFailed;
    message = "no token for server '" + label_ + "' valid for another " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(minRemaining).count()) +
              " s; refresh failed: " + last;
  } else if (hadToken_) {
    code = codes::kExpiredRefreshFailed;
    message = "token for server '" + label_ + "' expired and refresh failed: " + last;
  } else {
    code = codes::kAcquisitionFailed;
    message = "token acquisition for server '" + label_ + "' failed: " + last;
  }
  if (nextAttemptAt_ > now) message += "; next attempt in " + SecondsText(nextAttemptAt_ - now);
  return MakeTokenError(code, SecretRegistry::Redact(message));
}

Status KeySlot::StartFetchLocked(Trigger trigger) {
  if (core_->Stopping()) {
    return MakeTokenError(codes::kAcquisitionFailed, "token manager is stopped (server '" + label_ + "')");
  }
  fetching_ = true;
  trigger_ = trigger;
  ++startedSeq_;
  if (!core_->Enqueue(shared_from_this())) {
    fetching_ = false;
    completedSeq_ = startedSeq_;
    return MakeTokenError(codes::kAcquisitionFailed, "token manager is stopped (server '" + label_ + "')");
  }
  return Status::Success();
}

void KeySlot::Invalidate() {
  // Tell the source first, so a shared level drops the token before the refetch can read it.
  source_->Invalidated();
  std::shared_ptr<const TokenRecord> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (removed_) return;
    dropped = std::move(current_);
    usableUntil_ = SteadyTime::min();
    refreshAt_ = SteadyTime::min();
    hadToken_ = false;
    source_->CachedTokenChanged(SteadyTime::min());  // no token left: the configured open period holds
    generation_.store(NextGeneration(), std::memory_order_release);
    invalidations_->Inc();
    if (!fetching_) core_->Schedule(this, std::max(clock_->SteadyNow(), nextAttemptAt_));
  }
  LogInfo("token for server '" + label_ + "' invalidated; fetching a new one");
}

Result<std::shared_ptr<const TokenRecord>> KeySlot::FetchNow(milliseconds maxWait) {
  // The shared level must not answer with the copy this call means to bypass.
  source_->Invalidated();
  std::unique_lock<std::mutex> lock(mu_);
  const SteadyTime deadline = SaturatingAdd(clock_->SteadyNow(), maxWait);
  auto timedOut = [&] {
    return MakeTokenError(codes::kDeadlineExceeded, "no fresh token for server '" + label_ + "' within " +
                                                        std::to_string(maxWait.count()) + " ms: the fetch is still running");
  };
  // A fetch already running may have started before the shared copy was dropped: let it end first.
  while (fetching_) {
    if (clock_->SteadyNow() >= deadline) return timedOut();
    clock_->WaitUntil(lock, cv_, deadline);
  }
  if (removed_) return MakeTokenError(codes::kUnknownKey, "token key for server '" + label_ + "' was removed");
  // Back-off is not consulted: the caller (a rate-limited operator route) asks whether the IdP
  // answers now. The circuit breaker still applies, inside the source.
  Status started = StartFetchLocked(Trigger::Caller);
  if (!started.Ok()) return started.GetError();
  const uint64_t mine = startedSeq_;
  while (completedSeq_ < mine) {
    if (clock_->SteadyNow() >= deadline) return timedOut();
    clock_->WaitUntil(lock, cv_, deadline);
  }
  if (lastFailedSeq_ == mine || !current_) {
    const std::string last = lastError_ ? lastError_->ToString() : std::string("no fetch error recorded");
    const bool kept = current_ && clock_->SteadyNow() < usableUntil_;
    return MakeTokenError(codes::kAcquisitionFailed,
                          SecretRegistry::Redact("fresh token for server '" + label_ + "' not obtained: " + last +
                                                 (kept ? "; the cached token stays in use" : "")));
  }
  return current_;
}

void KeySlot::Prefetch() {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime now = clock_->SteadyNow();
  if (removed_ || fetching_ || (current_ && now < usableUntil_) || now < nextAttemptAt_) return;
  StartFetchLocked(Trigger::Background);
}

TokenState KeySlot::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime now = clock_->SteadyNow();
  TokenState s;
  s.key = key_;
  s.servers = servers_;
  s.provider = provider_;
  const bool usable = current_ && now < usableUntil_;
  if (fetching_) s.status = TokenStatus::Refreshing;
  else if (usable) s.status = TokenStatus::Valid;
  else if (hadToken_) s.status = TokenStatus::Expired;
  else if (lastError_) s.status = TokenStatus::Error;
  else s.status = TokenStatus::None;
  if (current_) {
    s.expiresAt = clock_->ToSystem(current_->expiresAt);
    s.refreshAt = clock_->ToSystem(refreshAt_);
    s.obtainedAt = clock_->ToSystem(obtainedAt_);
    s.scopes = current_->scopes;
    s.metadata = current_->metadata;
  }
  if (nextAttemptAt_ > now) s.nextAttemptAt = clock_->ToSystem(nextAttemptAt_);
  if (lastError_) {
    s.lastErrorCode = lastError_->code;
    s.lastErrorMessage = SecretRegistry::Redact(lastError_->message);
    s.lastErrorAt = lastErrorAt_;
  }
  s.fetchSuccesses = fetchSuccesses_;
  s.fetchFailures = fetchFailures_;
  s.consecutiveFailures = consecutiveFailures_;
  s.callerWaits = callerWaits_;
  return s;
}

// ---- manager side ----

void KeySlot::OnDue() {
  std::lock_guard<std::mutex> lock(mu_);
  if (removed_ || fetching_) return;
  const SteadyTime now = clock_->SteadyNow();
  if (current_ && now < refreshAt_) {
    core_->Schedule(this, refreshAt_);  // a stale entry: the token was replaced meanwhile
    return;
  }
  if (now < nextAttemptAt_) {
    core_->Schedule(this, nextAttemptAt_);
    return;
  }
  StartFetchLocked(Trigger::Background);
}

void KeySlot::RunFetch() {
  const SteadyTime start = clock_->SteadyNow();
  const SteadyTime deadline = SaturatingAdd(start, options_.fetchTimeout);
  std::optional<Error> error;
  std::optional<TokenRecord> record;
  try {
    Result<TokenRecord> result = source_->Fetch(deadline);
    if (result.Ok()) record = std::move(result).Value();
    else error = result.GetError();
  } catch (const std::exception& e) {
    error = MakeTokenError(codes::kAcquisitionFailed,
                           "token source for server '" + label_ + "' failed: " + SecretRegistry::Redact(e.what()));
  } catch (...) {
    error = MakeTokenError(codes::kAcquisitionFailed, "token source for server '" + label_ + "' failed");
  }
  const SteadyTime end = clock_->SteadyNow();

  if (record) {
    if (record->accessToken.empty()) {
      error = MakeTokenError(codes::kInvalidTokenResponse, "token response for server '" + label_ + "' has no access token");
    } else if (record->expiresAt <= end) {
      error = MakeTokenError(codes::kInvalidTokenResponse,
                             "token for server '" + label_ + "' was already expired when it arrived");
    } else if (options_.validator) {
      std::string problem;
      try {
        Status valid = options_.validator(*record);
        if (!valid.Ok()) problem = valid.GetError().ToString();
      } catch (const std::exception& e) {
        problem = SecretRegistry::Redact(e.what());
      } catch (...) {
        problem = "validator failed";
      }
      if (!problem.empty()) {
        error = MakeTokenError(codes::kValidationFailed,
                               "token for server '" + label_ + "' failed validation: " + problem);
      }
    }
    if (error) {
      OPENSSL_cleanse(record->accessToken.data(), record->accessToken.size());
      record.reset();
    }
  }

  duration_->Observe(ToSeconds(end - start));
  (error ? failures_ : successes_)->Inc();

  std::shared_ptr<const TokenRecord> published;
  std::shared_ptr<const TokenRecord> replaced;
  uint32_t failuresBefore = 0;
  SteadyTime::duration backoff{};
  bool circuitOpen = false;
  bool repeatedRefusal = false;  // another refusal by the same open circuit: logged at debug level
  SteadyTime::duration refreshIn{};  // for the log line, read under the lock (Invalidate() resets refreshAt_)
  {
    std::lock_guard<std::mutex> lock(mu_);
    fetching_ = false;
    completedSeq_ = startedSeq_;
    (trigger_ == Trigger::Caller ? callerRefreshes_ : backgroundRefreshes_)->Inc();
    failuresBefore = consecutiveFailures_;
    if (!error) {
      const SteadyTime::duration lifetime = record->expiresAt - end;
      RefreshPolicy policy;
      policy.buffer = options_.refreshBuffer;
      policy.jitterFraction = core_->Options().refreshJitterFraction;
      policy.maxJitter = core_->Options().maxRefreshJitter;
      const SteadyTime refreshAt = ComputeRefreshAt(end, record->expiresAt, record->refreshAt, policy, Random01Locked());
      const SteadyTime::duration safety =
          std::min<SteadyTime::duration>(options_.expirySafety, lifetime / 10);
      record->refreshAt = refreshAt;
      provider_ = record->provider;
      published = MakeCachedRecord(std::move(*record));
      replaced = std::move(current_);
      current_ = published;
      obtainedAt_ = end;
      usableUntil_ = published->expiresAt - safety;
      refreshAt_ = refreshAt;
      refreshIn = refreshAt - end;
      lifetime_ = lifetime;
      hadToken_ = true;
      source_->CachedTokenChanged(usableUntil_);  // an open circuit probes before this instant
      consecutiveFailures_ = 0;
      nextAttemptAt_ = SteadyTime::min();
      ++fetchSuccesses_;
      generation_.store(NextGeneration(), std::memory_order_release);
      if (!removed_) core_->Schedule(this, refreshAt_);
    } else {
      // An open circuit refused the fetch without asking the IdP: no new failure of the IdP, so the
      // back-off does not grow. It used to, with every refusal, so that after an outage the next
      // attempt came up to a minute after the circuit allowed its probe, and the token stayed
      // expired that long after the IdP was back. The key now tries again after the first back-off
      // step (a refusal costs no IdP call) until the circuit lets its probe through.
      circuitOpen = error->code == codes::kCircuitOpen;
      repeatedRefusal = circuitOpen && lastError_ && lastError_->code == codes::kCircuitOpen;
      lastError_ = *error;
      lastErrorAt_ = clock_->SystemNow();
      ++fetchFailures_;
      if (!circuitOpen) ++consecutiveFailures_;
      lastFailedSeq_ = completedSeq_;
      backoff = ComputeBackoff(circuitOpen ? 1 : consecutiveFailures_, core_->Options().backoff, Random01Locked());
      nextAttemptAt_ = end + backoff;
      // A back-off grown past the cached token's usable end would let a valid token expire while
      // the IdP may be back (with the circuit breaker off nothing else brings the attempt forward):
      // one attempt comes before that end. Only from before the lead, so once per token, no storm.
      if (current_ && end < usableUntil_ - kLastChanceLead) {
        nextAttemptAt_ = std::min(nextAttemptAt_, LastChanceBefore(end, usableUntil_));
        backoff = nextAttemptAt_ - end;
      }
      // Failures that may pass (IdP down or slow, circuit open, deadline) are retried in the
      // background when the back-off ends, so service resumes without any caller. A refusal that
      // will repeat (bad credentials, configuration, validation: ClassifyFailure says permanent) is
      // not: only a caller arriving after the back-off tries again, so a wrong secret costs the IdP
      // one request per demand, never a background stream (tests/integration/test_token_auth.py).
      const bool retryInBackground = IsRetryable(*error) || error->code == codes::kCircuitOpen ||
                                     error->code == codes::kDeadlineExceeded;
      if (!removed_ && retryInBackground) core_->Schedule(this, nextAttemptAt_);
    }
    cv_.notify_all();
  }
  replaced.reset();  // outside the lock: may unregister a secret

  if (error) {
    const std::string line = SecretRegistry::Redact("token fetch for server '" + label_ + "' failed: " +
                                                    error->ToString() + "; next attempt in " + SecondsText(backoff));
    repeatedRefusal ? LogDebug(line) : LogWarning(line);
    return;
  }
  if (failuresBefore > 0) {
    LogInfo("token for server '" + label_ + "' obtained again after " + std::to_string(failuresBefore) +
            " failed attempt(s)");
  } else {
    LogDebug("token for server '" + label_ + "' fetched; refresh in " + SecondsText(refreshIn));
  }
  if (options_.onNewToken) {
    try {
      options_.onNewToken(*published);
    } catch (const std::exception& e) {
      LogWarning("onNewToken callback for server '" + label_ + "' failed: " + SecretRegistry::Redact(e.what()));
    } catch (...) {
      LogWarning("onNewToken callback for server '" + label_ + "' failed");
    }
  }
}

void KeySlot::AbortQueued(const Error& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fetching_) return;
  fetching_ = false;
  completedSeq_ = startedSeq_;
  lastFailedSeq_ = completedSeq_;
  lastError_ = error;
  lastErrorAt_ = clock_->SystemNow();
  cv_.notify_all();
}

void KeySlot::CancelRunning() { source_->Cancel(); }

void KeySlot::MarkRemoved() {
  std::shared_ptr<const TokenRecord> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed_ = true;
    dropped = std::move(current_);
    usableUntil_ = SteadyTime::min();
    source_->CachedTokenChanged(SteadyTime::min());
    generation_.store(NextGeneration(), std::memory_order_release);
    cv_.notify_all();
  }
  remaining_->Set(0);
}

void KeySlot::UpdateGauges(SteadyTime now) {
  double seconds = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ && current_->expiresAt > now) seconds = ToSeconds(current_->expiresAt - now);
  }
  remaining_->Set(seconds);
}

double KeySlot::Random01Locked() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

}  // namespace gw::token::detail
