#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "gw/cache/HostResolver.h"
#include "gw/cache/RedisClient.h"

using gw::cache::HostResolver;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

milliseconds Since(steady_clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0);
}

// Exit codes of the namespace child below.
constexpr int kChildPassed = 0;
constexpr int kChildNoNamespace = 77;

// Runs `body` in a child process with its own network and mount namespaces, where
// /etc/resolv.conf names a DNS server on 127.0.0.1:53 that receives queries and never answers: the
// "dead resolver" a real outage looks like. Needs CAP_SYS_ADMIN (root); returns kChildNoNamespace
// without it. `body` returns the child's exit code (a description of the failure goes to stderr).
template <typename Body>
int WithDeadResolver(Body body) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) _exit(kChildNoNamespace);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(kChildNoNamespace);
    char conf[] = "/tmp/gw-dead-resolver-XXXXXX";
    const int fd = mkstemp(conf);
    // Long per-query timeout and several attempts: getaddrinfo() alone would block ~90 s.
    const std::string text = "nameserver 127.0.0.1\noptions timeout:30 attempts:3\n";
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(kChildNoNamespace);
    close(fd);
    const bool bound = mount(conf, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) == 0;
    unlink(conf);  // the bind mount keeps the file alive
    if (!bound) _exit(kChildNoNamespace);
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq lo{};
    std::snprintf(lo.ifr_name, IFNAMSIZ, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &lo) != 0) _exit(kChildNoNamespace);
    lo.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &lo) != 0) _exit(kChildNoNamespace);
    sockaddr_in dns{};
    dns.sin_family = AF_INET;
    dns.sin_port = htons(53);
    dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, reinterpret_cast<sockaddr*>(&dns), sizeof dns) != 0) _exit(kChildNoNamespace);
    _exit(body());  // `s` stays open: queries arrive and are never answered
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("HostResolver/address literals are returned without a lookup", "[cache][resolver]") {
  HostResolver resolver;
  auto v4 = resolver.Resolve("10.1.2.3", milliseconds(0));  // no time needed
  REQUIRE(v4.Ok());
  CHECK(v4.Value() == std::vector<std::string>{"10.1.2.3"});
  auto v6 = resolver.Resolve("fd00::5", milliseconds(0));
  REQUIRE(v6.Ok());
  CHECK(v6.Value() == std::vector<std::string>{"fd00::5"});
}

TEST_CASE("HostResolver/a name from /etc/hosts resolves to numeric addresses", "[cache][resolver]") {
  HostResolver resolver;
  auto r = resolver.Resolve("localhost", milliseconds(5000));
  REQUIRE(r.Ok());
  REQUIRE_FALSE(r.Value().empty());
  CHECK(r.Value().front() == "127.0.0.1");  // IPv4 first
  unsigned char buffer[sizeof(in6_addr)];
  for (const auto& a : r.Value()) {
    CHECK((inet_pton(AF_INET, a.c_str(), buffer) == 1 || inet_pton(AF_INET6, a.c_str(), buffer) == 1));
  }
}

TEST_CASE("HostResolver/no time left fails at once with RDS-001", "[cache][resolver]") {
  HostResolver resolver;
  auto r = resolver.Resolve("redis.example.test", milliseconds(0));
  REQUIRE_FALSE(r.Ok());
  CHECK(r.GetError().code == "RDS-001");
  CHECK(r.GetError().message.find("redis.example.test") != std::string::npos);
}

// Regression: hiredis resolved host names with getaddrinfo(), which has no timeout, so a Redis
// given by name behind a dead resolver blocked token fetches for the resolver's full retry time.
TEST_CASE("HostResolver/a dead resolver costs the timeout not the resolver retries", "[cache][resolver]") {
  const int code = WithDeadResolver([] {
    HostResolver resolver;
    auto t0 = steady_clock::now();
    auto r = resolver.Resolve("redis.example.test", milliseconds(300));
    const milliseconds first = Since(t0);
    if (r.Ok() || r.GetError().code != "RDS-001" || r.GetError().message.find("timed out") == std::string::npos) {
      std::fprintf(stderr, "expected RDS-001 timed out, got %s\n", r.Ok() ? "addresses" : r.GetError().ToString().c_str());
      return 1;
    }
    if (first < milliseconds(290) || first > milliseconds(1500)) {
      std::fprintf(stderr, "first lookup took %lld ms\n", static_cast<long long>(first.count()));
      return 2;
    }
    // The stuck lookup is still running: the next caller waits for it (no second request) and
    // is bounded by its own timeout too.
    t0 = steady_clock::now();
    r = resolver.Resolve("redis.example.test", milliseconds(200));
    if (r.Ok() || Since(t0) > milliseconds(1500)) return 3;

    // Through the Redis client: a command fails within the connect timeout with RDS-001.
    gw::cache::RedisEndpoint endpoint;
    endpoint.host = "redis.example.test";
    gw::cache::RedisClientOptions options;
    options.connectTimeout = milliseconds(400);
    gw::cache::RedisClient client(endpoint, options);
    t0 = steady_clock::now();
    auto reply = client.Command({"PING"}, milliseconds(5000));
    const milliseconds took = Since(t0);
    if (reply.Ok() || reply.GetError().code != "RDS-001" || took > milliseconds(2000)) {
      std::fprintf(stderr, "Redis command: %s after %lld ms\n",
                   reply.Ok() ? "answered" : reply.GetError().ToString().c_str(), static_cast<long long>(took.count()));
      return 4;
    }
    return kChildPassed;
  });
  if (code == kChildNoNamespace) {
    WARN("not run: needs CAP_SYS_ADMIN for a private network and mount namespace");
    return;
  }
  CHECK(code == kChildPassed);
}
