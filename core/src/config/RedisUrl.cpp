#include "gw/config/RedisUrl.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace gw::config {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// %xx decoding of the user and password parts (a password may hold '@' or ':' written as %40, %3A).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Error Invalid(const std::string& why) { return MakeError("RDS-004", "invalid Redis URL: " + why); }

}  // namespace

std::string RedisEndpoint::Describe() const {
  return socketPath.empty() ? host + ":" + std::to_string(port) : "unix:" + socketPath;
}

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  RedisEndpoint e;
  auto parseDb = [&e](std::string_view db) -> bool {
    if (db.empty()) return true;
    if (!AllDigits(db) || db.size() > 5) return false;
    e.database = std::stoi(std::string(db));
    return true;
  };
  if (!url.empty() && url[0] == '/') e.socketPath = std::string(url);
  if (url.rfind("unix://", 0) == 0) {
    std::string_view rest = url.substr(7);
    const size_t q = rest.find('?');
    e.socketPath = std::string(rest.substr(0, q));
    if (q != std::string_view::npos) {
      const std::string_view query = rest.substr(q + 1);
      if (query.rfind("db=", 0) != 0 || !parseDb(query.substr(3))) {
        return Invalid("the only query parameter of a unix:// URL is db=<number>");
      }
    }
  }
  if (!e.socketPath.empty() || url.rfind("unix://", 0) == 0) {
    if (e.socketPath.empty() || e.socketPath[0] != '/') return Invalid("a unix socket path must be absolute");
    return e;
  }
  if (url.rfind("rediss://", 0) == 0) {
    return Invalid("rediss:// (Redis over TLS) is not supported; use redis:// on a private network or a unix socket");
  }
  if (url.rfind("redis://", 0) != 0) {
    return Invalid("must be redis://host[:port][/db], unix:///path/to/socket or an absolute socket path");
  }
  std::string_view rest = url.substr(8);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && !parseDb(rest.substr(slash + 1))) {
    return Invalid("the database after the host must be a number (redis://host:6379/0)");
  }
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userInfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userInfo.find(':');
    if (colon == std::string_view::npos) {
      // Ambiguous (a user, or a password?): clients disagree, so it is refused rather than guessed.
      return Invalid("the part before '@' needs a ':' (redis://:password@host or redis://user:password@host)");
    } else {
      e.username = PercentDecode(userInfo.substr(0, colon));
      e.password = PercentDecode(userInfo.substr(colon + 1));
    }
  }
  std::string_view host = authority;
  if (!authority.empty() && authority[0] == '[') {  // [::1]:6379
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority[0] != ':') return Invalid("unexpected text after the IPv6 address");
  } else {
    const size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (host.empty()) return Invalid("has no host name");
  e.host = std::string(host);
  if (!authority.empty()) {  // ":port"
    const std::string_view port = authority.substr(1);
    if (!AllDigits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
      return Invalid("has an invalid port (expected 1-65535)");
    }
    e.port = std::stoi(std::string(port));
  }
  return e;
}

}  // namespace gw::config
