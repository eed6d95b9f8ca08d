#pragma once
// The upstream URL of one proxied request: the server's configured base URL plus the path tail and
// query that reached `/oauth-dicom-web/servers/{name}/<tail>`. The route attaches a cloud credential
// to whatever it forwards, so the tail must never lead outside the base: this class is the only
// place that joins the two, and it refuses (PXY-001, 400) anything that is not a plain DICOMweb path.
//
// Tail rules (the tail is what Orthanc hands the route, after its own URI decoding):
//   - 1..kMaxTailBytes bytes, at most kMaxSegments segments separated by '/';
//   - no empty segment (leading, trailing or double '/'), no segment made only of dots ('.', '..');
//   - every byte in [A-Za-z0-9._~,-]: UIDs ("1.2.840.10008"), keywords, frame lists ("1,2,3").
//     Everything else is refused, in particular '%' (so no encoded or double-encoded dot, slash,
//     backslash or control character can get through), '\', '@', ':' (no scheme, no authority),
//     '?', '#', whitespace, control characters and non-ASCII bytes.
// Query rules: decoded key/value pairs (what Orthanc hands the route) are re-encoded here; keys are
// non-empty; no control character (CR, LF, NUL...) in keys or values, and no encoded one ("%0d",
// "%0a", "%00", any case) either, so a double-decoding upstream cannot be fooled; at most
// kMaxQueryBytes once encoded. A raw query string (Resolve overload) must also be printable ASCII,
// without '#', with well-formed %XX escapes.
//
// Thread safety: immutable after FromBase(); share freely.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gw/common/Error.h"

namespace gw::proxy {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

class UpstreamUrl {
 public:
  static constexpr size_t kMaxTailBytes = 2048;
  static constexpr size_t kMaxSegments = 32;
  static constexpr size_t kMaxQueryBytes = 8192;

  // Validates the configured base URL: absolute http or https, a host, no user:password@, no query,
  // no fragment, no whitespace or control character. A trailing '/' is added when missing. Fails
  // with CFG-002 (a configuration error, found at start-up).
  static Result<UpstreamUrl> FromBase(std::string_view base);

  // The base, always ending with '/'.
  const std::string& Base() const { return base_; }
  // "host:port" of the base, safe to show in messages and logs.
  const std::string& HostPort() const { return hostPort_; }

  // base + tail [+ '?' + encoded query]. PXY-001 when the tail or the query is refused.
  Result<std::string> Resolve(std::string_view tail, const QueryParams& query) const;
  // Same with a raw (still encoded) query string, passed through after the checks above.
  Result<std::string> Resolve(std::string_view tail, std::string_view rawQuery) const;

  // The individual checks, for callers that only need to validate.
  static Status CheckTail(std::string_view tail);
  static Result<std::string> EncodeQuery(const QueryParams& query);
  static Status CheckRawQuery(std::string_view rawQuery);

 private:
  UpstreamUrl(std::string base, std::string hostPort) : base_(std::move(base)), hostPort_(std::move(hostPort)) {}

  std::string base_;
  std::string hostPort_;
};

}  // namespace gw::proxy
