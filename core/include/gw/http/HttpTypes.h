#pragma once
// Plain data for one outgoing HTTP exchange. The whole body is held in memory: this client is for
// identity providers, metadata services and control calls (small bodies). The streaming data path
// (proxy mode) has its own streaming interface.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Adds one received header line (not the status line) to `headers`, as both libcurl clients read
// answers: the name lower-cased, the value trimmed; a line starting with a space or tab continues
// the previous header (obsolete folding); a blank line or one without a name is ignored.
void AddHeaderLine(std::string_view line, Headers& headers);

// What every outgoing request is checked against before it is sent (both libcurl clients and
// gw.http.request): a method or header name is an RFC 9110 token (non-empty, tchar only), and a
// header value holds no CR, LF or NUL (no header or request smuggled in).
bool IsHttpToken(std::string_view text);
bool HasLineBreakOrNul(std::string_view text);

struct TlsOptions {
  bool verifyPeer = true;          // false only when the operator explicitly set VerifySSL: false
  std::string caBundle;            // PEM file; empty: system default
  std::string clientCertificate;   // PEM file for mTLS (RFC 8705); empty: none
  std::string clientKey;           // PEM file; empty: none
  std::string clientKeyPassword;   // secret; never logged
  // The same three files given by contents instead of by name (a Lua script's files, which the
  // engine reads itself through the script file allowlist so that libcurl never opens a path a
  // script chose). Non-empty contents win over the file name; a CA given this way is the only one
  // trusted (the system store is not added).
  std::string caBundlePem;
  std::string clientCertificatePem;
  std::string clientKeyPem;        // secret; never logged
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};         // whole exchange
  std::chrono::milliseconds connectTimeout{5000};
  TlsOptions tls;
  size_t maxResponseBytes = 4 * 1024 * 1024;        // larger answers fail with NET-006
  // Off by default: a token endpoint must not be able to bounce client credentials to another URL.
  // When on, only http/https targets of the same origin are followed, at most maxRedirects hops.
  bool followRedirects = false;
  long maxRedirects = 5;
};

struct HttpResponse {
  long status = 0;
  Headers headers;   // names lower-cased
  std::string body;

  // First value of a header (name compared case-insensitively), if present.
  std::optional<std::string> Header(std::string_view name) const;
};

}  // namespace gw::http
