#pragma once
// Strict reading of the absolute http(s) URLs found in the configuration (Url, TokenEndpoint,
// JWKSUrl). Provider auto-detection compares exact host names, never substrings, so it needs the
// host exactly as a client would connect to it.
#include <optional>
#include <string>
#include <string_view>

namespace gw::config {

struct HttpUrl {
  std::string scheme;  // "http" | "https" (lower case)
  std::string host;    // lower case, without a trailing dot; IPv6 without brackets
  int port = 0;        // explicit port, or 80/443
  std::string path;    // "/" when absent; query excluded
  std::string query;   // without '?'

  // True for localhost, 127.0.0.0/8 and ::1 (traffic that never leaves the machine).
  bool IsLoopback() const;
};

enum class UrlProblem {
  None,
  NotAbsoluteHttp,  // no scheme, or a scheme other than http/https
  EmptyHost,
  BadPort,
  UserInfo,         // user:password@host: credentials do not belong in a URL
  Fragment,
  InvalidCharacter  // whitespace, control characters, backslash
};

// Describes a problem for a diagnostic message (never echoes the URL).
const char* Describe(UrlProblem problem);

// Parses `text`; on failure returns nullopt and sets `problem` when given.
std::optional<HttpUrl> ParseHttpUrl(std::string_view text, UrlProblem* problem = nullptr);

}  // namespace gw::config
