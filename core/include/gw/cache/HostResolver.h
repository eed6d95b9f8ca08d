#pragma once
// Host name resolution with a time limit, for the Redis client.
//
// hiredis resolves a host name with a plain getaddrinfo(), which has no timeout: with a resolver
// that does not answer it blocks for resolv.conf's timeout x attempts x servers (tens of seconds),
// and an NSS module can block for ever. The client therefore resolves first, here, and hands
// hiredis numeric addresses (which hiredis parses without a lookup).
//
// The lookup runs in glibc's getaddrinfo_a() helper threads (glibc code only, so nothing of this
// library runs there if the plugin is unloaded meanwhile); the caller waits at most `timeout`.
// A lookup that outlives its caller finishes in the background; until it does, later callers wait
// for that same lookup instead of starting another, so a dead resolver costs one pending request,
// not one per attempt. Results are not cached: each new connection resolves again (a Redis
// service whose address changes on fail-over is followed).
//
// Thread safe. Errors: RDS-001 naming the host (never a password), "timed out" when the limit
// was reached.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gw/common/Error.h"

namespace gw::cache {

class HostResolver {
 public:
  HostResolver();
  ~HostResolver();
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // Numeric addresses ("10.0.0.5", "fd00::5") of `host`, IPv4 first, without duplicates. An
  // address literal is returned as is, at once. `timeout` <= 0 fails at once (RDS-001).
  Result<std::vector<std::string>> Resolve(const std::string& host, std::chrono::milliseconds timeout);

 private:
  struct Lookup;
  std::mutex mutex_;  // guards pending_; never held while waiting
  std::shared_ptr<Lookup> pending_;
};

}  // namespace gw::cache
