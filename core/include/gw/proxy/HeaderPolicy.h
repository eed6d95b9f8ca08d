#pragma once
// Which headers cross the proxy, in each direction. Allowlists, not denylists: a header nobody
// thought about stays on its side.
//
// Request (Orthanc's DICOMweb client -> upstream): content negotiation and conditional headers,
// Content-Type (with its multipart boundary), Content-Encoding, Range, and trace context. Never:
// the client's Authorization (the gateway adds the upstream credential itself), Cookie, Host,
// hop-by-hop headers (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-*), Expect, Content-Length (the exchange frames the body itself: length when known,
// chunked otherwise), the gateway's loopback secret header, X-HTTP-Method-Override (Orthanc acts
// on it), Forwarded / X-Forwarded-* (internal addresses). Accept-Encoding is not forwarded either:
// the upstream answers without content coding, so multipart answers can be parsed and streamed.
//
// Response (upstream -> caller): Location, Content-Location, WWW-Authenticate, Warning, ETag,
// Last-Modified, Cache-Control, Expires, Retry-After, Content-Language, Content-Disposition,
// Content-Range, Accept-Ranges, Vary, Link, Content-Encoding, Allow, X-Request-Id. Content-Type travels separately
// (Orthanc sets it from the answer's MIME type). Never: Content-Length, Transfer-Encoding and
// Connection (Orthanc frames its own answer), Set-Cookie (the upstream must not set cookies on
// Orthanc's origin), hop-by-hop headers.
//
// Multipart parts (WADO-RS): Content-Type, Content-Location, Content-ID, Content-Description.
// Content-Length and MIME-Version are dropped: Orthanc writes them itself (and a caller-given
// MIME-Version makes Orthanc 1.10 omit the blank line that ends the part headers).
//
// Every forwarded value is checked for CR, LF and NUL (dropped if present). Names are compared
// case-insensitively and emitted as given.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gw/http/HttpTypes.h"

namespace gw::proxy {

// Name of the header that carries the per-start loopback secret (see LoopbackSecret.h).
inline constexpr const char* kLoopbackSecretHeader = "X-DicomWeb-OAuth-Gateway";

class HeaderPolicy {
 public:
  static bool IsForwardedRequestHeader(std::string_view name);
  static bool IsReturnedResponseHeader(std::string_view name);
  static bool IsReturnedPartHeader(std::string_view name);
  // Headers an operator may not configure as extra upstream headers (HttpHeaders): hop-by-hop,
  // Host, Content-Length, Authorization, Cookie, the loopback secret header.
  static bool IsReservedHeader(std::string_view name);

  static http::Headers RequestHeadersToForward(const http::Headers& incoming);
  static http::Headers ResponseHeadersToReturn(const http::Headers& upstream);
  static http::Headers PartHeadersToReturn(const http::Headers& part);

  // True when `value` contains no CR, LF or NUL.
  static bool IsSafeValue(std::string_view value);

  // Orthanc 1.10.1 turns a request carrying `X-HTTP-Method-Override: PUT|DELETE` (any method), or a
  // GET with the argument `_method=put|delete`, into a PUT/DELETE before any plugin sees it; the
  // header and the argument still reach the plugin. This names the override a request carries
  // (also the X-HTTP-Method and X-Method-Override conventions of other servers, and `_method`
  // however it is cased or percent-encoded), or nothing. `queryKeys`: the GET argument names as
  // Orthanc hands them over (still percent-encoded).
  static std::optional<std::string> MethodOverride(const http::Headers& headers,
                                                   const std::vector<std::string>& queryKeys);
};

}  // namespace gw::proxy
