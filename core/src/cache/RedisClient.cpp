#include "gw/cache/RedisClient.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>

#include "gw/common/Log.h"

namespace gw::cache {

namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  const auto ms = std::max<int64_t>(1, d.count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// hiredis writes with write(2): on a connection the server has closed, that raises SIGPIPE, whose
// default action ends the process (Orthanc). While a command runs the signal is blocked on this
// thread; one raised meanwhile is consumed before the old mask comes back. Same technique as
// libcurl's sigpipe_ignore.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    wasPending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!wasPending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool wasPending_ = false;
};

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Copy(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::Nil;
  }
  return out;
}

}  // namespace

struct RedisClient::Connection {
  redisContext* context = nullptr;
  ~Connection() {
    if (context) redisFree(context);
  }
};

RedisClient::RedisClient(RedisEndpoint endpoint, RedisClientOptions options,
                         const std::shared_ptr<MetricsRegistry>& metrics)
    : endpoint_(std::move(endpoint)), options_(options) {
  if (metrics) {
    upGauge_ = &metrics->GetGauge("dicomweb_oauth_shared_cache_up",
                                  "1 while the shared (Redis) token cache is reachable, 0 during an outage");
    upGauge_->Set(1);
  }
}

RedisClient::~RedisClient() = default;

bool RedisClient::Available() const {
  const int64_t until = retryAfterNs_.load(std::memory_order_relaxed);
  return until == 0 || std::chrono::steady_clock::now().time_since_epoch().count() >= until;
}

std::unique_ptr<RedisClient::Connection> RedisClient::TakeIdle() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.empty()) return nullptr;
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return c;
}

void RedisClient::GiveBack(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < options_.maxIdleConnections) idle_.push_back(std::move(connection));
}

// A TCP connection to the first address of the host that accepts within the time left. The host
// name is resolved here with a time limit (HostResolver.h): hiredis would call getaddrinfo(),
// which has none, and given a numeric address it does no lookup.
Result<std::unique_ptr<RedisClient::Connection>> RedisClient::ConnectTcp(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto addresses = resolver_.Resolve(endpoint_.host, limit);
  if (!addresses.Ok()) return addresses.GetError();
  std::string failures;
  for (const std::string& address : addresses.Value()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      failures += (failures.empty() ? "" : "; ") + std::string("no time left for ") + address;
      break;
    }
    auto c = std::make_unique<Connection>();
    c->context = redisConnectWithTimeout(address.c_str(), endpoint_.port, ToTimeval(left));
    if (!c->context) return MakeError("RDS-001", "cannot allocate a Redis connection to " + endpoint_.Describe());
    if (!c->context->err) return c;
    failures += (failures.empty() ? "" : "; ") + address + ": " + c->context->errstr;
  }
  return MakeError("RDS-001", "connect to Redis at " + endpoint_.Describe() + " failed (" + failures + ")");
}

Result<std::unique_ptr<RedisClient::Connection>> RedisClient::Connect(std::chrono::milliseconds budget) {
  const timeval tv = ToTimeval(std::min(options_.connectTimeout, budget));
  std::unique_ptr<Connection> c;
  if (endpoint_.socketPath.empty()) {
    auto connected = ConnectTcp(std::min(options_.connectTimeout, budget));
    if (!connected.Ok()) return connected.GetError();
    c = std::move(connected).Value();
  } else {
    c = std::make_unique<Connection>();
    c->context = redisConnectUnixWithTimeout(endpoint_.socketPath.c_str(), tv);
    if (!c->context) return MakeError("RDS-001", "cannot allocate a Redis connection to " + endpoint_.Describe());
    if (c->context->err) {
      return MakeError("RDS-001", "connect to Redis at " + endpoint_.Describe() + " failed: " + c->context->errstr);
    }
  }
  // AUTH and SELECT run with the connect timeout; their replies never echo the password.
  redisSetTimeout(c->context, tv);
  auto simple = [&c](const std::vector<std::string_view>& args) -> Result<RedisReply> {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto a : args) argv.push_back(a.data()), lens.push_back(a.size());
    auto* r = static_cast<redisReply*>(redisCommandArgv(c->context, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) return MakeError("RDS-002", std::string("Redis I/O failed: ") + c->context->errstr);
    RedisReply out = Copy(r);
    freeReplyObject(r);
    return out;
  };
  if (!endpoint_.password.empty()) {
    auto r = endpoint_.username.empty() ? simple({"AUTH", endpoint_.password})
                                        : simple({"AUTH", endpoint_.username, endpoint_.password});
    if (!r.Ok()) return r.GetError();
    if (r.Value().type == RedisReply::Type::Error) {
      return MakeError("RDS-003", "Redis at " + endpoint_.Describe() + " refused AUTH: " + r.Value().text);
    }
  }
  if (endpoint_.database != 0) {
    const std::string db = std::to_string(endpoint_.database);
    auto r = simple({"SELECT", db});
    if (!r.Ok()) return r.GetError();
    if (r.Value().type == RedisReply::Type::Error) {
      return MakeError("RDS-003", "Redis at " + endpoint_.Describe() + " refused SELECT " + db + ": " + r.Value().text);
    }
  }
  return c;
}

void RedisClient::RecordFailure(const Error& error) {
  bool first = false;
  std::chrono::milliseconds wait;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    backoff_ = backoff_.count() == 0 ? options_.minBackoff : std::min(options_.maxBackoff, backoff_ * 2);
    wait = backoff_;
    retryAfterNs_.store((std::chrono::steady_clock::now() + backoff_).time_since_epoch().count());
    first = !down_;
    down_ = true;
    idle_.clear();  // connections opened before the failure are suspect
  }
  if (upGauge_) upGauge_->Set(0);
  if (first) {
    LogWarning("shared token cache: " + error.ToString() + "; tokens come from the local cache and the identity "
               "provider until Redis is back (next attempt in " + std::to_string(wait.count()) + " ms)");
  } else {
    LogDebug("shared token cache still unavailable: " + error.ToString());
  }
}

void RedisClient::RecordSuccess() {
  bool recovered = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    recovered = down_;
    down_ = false;
    backoff_ = std::chrono::milliseconds(0);
  }
  if (recovered) {
    retryAfterNs_.store(0);
    if (upGauge_) upGauge_->Set(1);
    LogInfo("shared token cache: Redis at " + endpoint_.Describe() + " is reachable again");
  }
}

Result<RedisReply> RedisClient::Command(const std::vector<std::string_view>& args, std::chrono::milliseconds budget) {
  if (budget.count() <= 0) return MakeError("RDS-002", "no time left for a Redis command");
  if (!Available()) {
    return MakeError("RDS-005", "Redis at " + endpoint_.Describe() + " is unavailable (in back-off after a failure)");
  }
  const auto deadline = std::chrono::steady_clock::now() + budget;
  SigpipeGuard sigpipe;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto a : args) argv.push_back(a.data()), lens.push_back(a.size());

  // A pooled connection may have been closed by the server (restart, idle timeout): on failure it
  // is dropped and the command is tried once more on a fresh connection.
  std::unique_ptr<Connection> c = TakeIdle();
  const bool pooled = c != nullptr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      Error e = MakeError("RDS-002", "Redis command to " + endpoint_.Describe() + " ran out of time");
      RecordFailure(e);
      return e;
    }
    if (!c) {
      auto connected = Connect(left);
      if (!connected.Ok()) {
        RecordFailure(connected.GetError());
        return connected.GetError();
      }
      c = std::move(connected).Value();
    }
    redisSetTimeout(c->context, ToTimeval(std::min(options_.commandTimeout, left)));
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c->context, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) {
      Error e = MakeError("RDS-002", "Redis command to " + endpoint_.Describe() + " failed: " + c->context->errstr);
      c.reset();  // its protocol state is unknown
      if (attempt == 0 && pooled) continue;
      RecordFailure(e);
      return e;
    }
    RedisReply out = Copy(r);
    freeReplyObject(r);
    RecordSuccess();
    GiveBack(std::move(c));
    return out;
  }
  return MakeError("RDS-002", "Redis command to " + endpoint_.Describe() + " failed");  // not reached
}

}  // namespace gw::cache
