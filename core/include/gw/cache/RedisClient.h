#pragma once
// A small synchronous Redis client (hiredis) for the shared token cache.
//
// - Endpoints: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N], or an absolute
//   socket path (the forms ConfigParser accepts). A password in the URL is sent with AUTH after
//   connecting, the database is chosen with SELECT; neither is ever logged.
// - Every command gets a time budget: connect and I/O timeouts are min(option, budget), so a
//   caller with a deadline (a token fetch) never waits longer for Redis than it can afford. The
//   connect timeout covers the host name lookup too (HostResolver.h: hiredis's own has no limit).
// - Connections are pooled: a command leases one idle connection (or opens a new one), uses it
//   without any lock held, and gives it back only if it is still healthy. So the client is thread
//   safe and no lock is ever held across network I/O.
// - After a transport failure (connect refused, timeout, closed connection, AUTH refused) the
//   client stops trying for a back-off period (doubling from minBackoff to maxBackoff) and every
//   command fails at once with RDS-005: a Redis that is down costs callers nothing. The first
//   failure of an outage is logged once as a warning (no secret in it), the recovery once as info.
//
// Error codes (messages never hold a password or a value): RDS-001 connect failed, RDS-002 I/O
// failed or timed out, RDS-003 Redis answered an error, RDS-004 invalid URL, RDS-005 in back-off
// after a failure.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gw/cache/HostResolver.h"
#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/config/RedisUrl.h"

namespace gw::cache {

// The endpoint and its parser live with the configuration (one parser for check-config and the client).
using RedisEndpoint = config::RedisEndpoint;
using config::ParseRedisUrl;

// One reply, copied out of hiredis. `type` Error carries the server's message in `text`.
struct RedisReply {
  enum class Type { Nil, String, Status, Integer, Array, Error };
  Type type = Type::Nil;
  std::string text;  // String, Status, Error
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool IsNil() const { return type == Type::Nil; }
  bool IsStatus(std::string_view s) const { return type == Type::Status && text == s; }
};

struct RedisClientOptions {
  std::chrono::milliseconds connectTimeout{500};
  std::chrono::milliseconds commandTimeout{1000};
  std::chrono::milliseconds minBackoff{500};
  std::chrono::milliseconds maxBackoff{30000};
  size_t maxIdleConnections = 8;
};

class RedisClient {
 public:
  // `metrics` may be null; otherwise the gauge dicomweb_oauth_shared_cache_up (1 reachable, 0 in
  // an outage) is kept current.
  explicit RedisClient(RedisEndpoint endpoint, RedisClientOptions options = {},
                       const std::shared_ptr<MetricsRegistry>& metrics = nullptr);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command (arguments are binary safe). An error reply is returned as a RedisReply of
  // type Error (the connection stays usable); transport failures are RDS-001/002 and start the
  // back-off. `budget` <= 0 fails at once with RDS-002.
  Result<RedisReply> Command(const std::vector<std::string_view>& args, std::chrono::milliseconds budget);

  // False while in back-off after a failure (true again once the back-off has ended, so the next
  // command probes Redis).
  bool Available() const;
  const RedisEndpoint& Endpoint() const { return endpoint_; }

 private:
  struct Connection;
  Result<std::unique_ptr<Connection>> Connect(std::chrono::milliseconds budget);
  Result<std::unique_ptr<Connection>> ConnectTcp(std::chrono::milliseconds limit);
  std::unique_ptr<Connection> TakeIdle();
  void GiveBack(std::unique_ptr<Connection> connection);
  void RecordFailure(const Error& error);
  void RecordSuccess();

  const RedisEndpoint endpoint_;
  const RedisClientOptions options_;
  Gauge* upGauge_ = nullptr;
  HostResolver resolver_;

  std::mutex mutex_;  // guards idle_ and the back-off state; never held during I/O
  std::vector<std::unique_ptr<Connection>> idle_;
  std::chrono::milliseconds backoff_{0};
  bool down_ = false;
  // End of the current back-off (steady_clock ticks); 0 while Redis is reachable.
  std::atomic<int64_t> retryAfterNs_{0};
};

}  // namespace gw::cache
