#pragma once
// The one parser of Redis URLs: the configuration checks `RedisUrl` with it (CFG-002 with its
// reason) and the Redis client connects to what it returns, so what check-config accepts is what
// the gateway connects to.
//   redis://[[user]:password@]host[:port][/db]   (user and password %xx-decoded; IPv6 as [::1])
//   unix:///path[?db=N], or an absolute socket path
// rediss:// (TLS) is refused with a reason. Errors are RDS-004 and never hold the password.
// Thread safety: a pure function.
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::config {

struct RedisEndpoint {
  std::string host;        // empty for a unix socket
  int port = 6379;
  std::string socketPath;  // set for a unix socket
  std::string username;    // ACL user (Redis 6), may be empty
  std::string password;    // secret; empty: no AUTH
  int database = 0;

  // "127.0.0.1:6379" or "unix:/path": for messages (never the password).
  std::string Describe() const;
};

// RDS-004 with a reason when `url` is not one of the accepted forms.
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

}  // namespace gw::config
