#include "gw/cache/HostResolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <ctime>

namespace gw::cache {

// One getaddrinfo_a() request. glibc writes into `request` (and owns the list it points to)
// until the request completes, so this object must outlive it (see Release()).
struct HostResolver::Lookup {
  std::string host;
  addrinfo hints{};
  gaicb request{};

  bool InProgress() { return gai_error(&request) == EAI_INPROGRESS; }

  // The deleter of every shared_ptr<Lookup>. A request still running in a glibc helper thread
  // cannot be stopped; its memory is then left to it (a few hundred bytes, once per stuck lookup
  // that nobody waits for any more) rather than freed under its feet.
  static void Release(Lookup* lookup) {
    if (lookup->InProgress() && gai_cancel(&lookup->request) == EAI_NOTCANCELED) return;
    if (lookup->request.ar_result != nullptr) freeaddrinfo(lookup->request.ar_result);
    delete lookup;
  }
};

namespace {

bool IsAddressLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

Error Failed(const std::string& host, const std::string& why) {
  return MakeError("RDS-001", "cannot resolve the Redis host " + host + ": " + why);
}

timespec ToTimespec(std::chrono::nanoseconds d) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(d.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(d.count() % 1000000000);
  return ts;
}

}  // namespace

HostResolver::HostResolver() = default;
HostResolver::~HostResolver() = default;

Result<std::vector<std::string>> HostResolver::Resolve(const std::string& host, std::chrono::milliseconds timeout) {
  if (IsAddressLiteral(host)) return std::vector<std::string>{host};
  if (timeout.count() <= 0) return Failed(host, "no time left");
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  std::shared_ptr<Lookup> lookup;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_ && pending_->host == host && pending_->InProgress()) {
      lookup = pending_;  // a lookup started earlier (maybe stuck): wait for it, do not pile up
    } else {
      lookup = std::shared_ptr<Lookup>(new Lookup, &Lookup::Release);
      lookup->host = host;
      lookup->hints.ai_family = AF_UNSPEC;
      lookup->hints.ai_socktype = SOCK_STREAM;
      lookup->request.ar_name = lookup->host.c_str();
      lookup->request.ar_request = &lookup->hints;
      gaicb* list[] = {&lookup->request};
      if (const int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr); rc != 0) return Failed(host, gai_strerror(rc));
      pending_ = lookup;
    }
  }

  int status = EAI_INPROGRESS;
  while ((status = gai_error(&lookup->request)) == EAI_INPROGRESS) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) {
      return Failed(host, "the DNS lookup timed out after " + std::to_string(timeout.count()) +
                              " ms (is the resolver in /etc/resolv.conf reachable?)");
    }
    const gaicb* wait[] = {&lookup->request};
    const timespec ts = ToTimespec(left);
    gai_suspend(wait, 1, &ts);  // returns on completion, timeout or a signal: the loop re-checks
  }
  if (status != 0) return Failed(host, gai_strerror(status));

  std::vector<std::string> v4, v6;
  for (const addrinfo* a = lookup->request.ar_result; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      if (std::find(v4.begin(), v4.end(), text) == v4.end()) v4.emplace_back(text);
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, text, sizeof text);
      if (std::find(v6.begin(), v6.end(), text) == v6.end()) v6.emplace_back(text);
    }
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) return Failed(host, "no IPv4 or IPv6 address");
  return v4;
}

}  // namespace gw::cache
