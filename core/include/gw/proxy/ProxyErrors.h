#pragma once
// The PXY-xxx error codes of proxy mode, in one place so that the route, the tests and the
// operator documentation (docs/proxy-mode.md) agree. Messages never contain a path, a query, a
// header value or a body: they may carry patient identifiers or credentials.
//
//   PXY-001 400  path or query refused (could reach outside the upstream base URL)
//   PXY-002 404  unknown server (not configured, or not in proxy mode)
//   PXY-003 502  upstream unreachable (the NET-xxx code of the transport failure is in the message)
//   PXY-004 504  upstream timed out
//   PXY-005 400  request body error (incomplete, truncated, stalled)
//   PXY-006 403  missing or wrong loopback secret header
//   PXY-007 502  upstream answer malformed or impossible to forward
//   PXY-008 500  the DICOMweb plugin refused a server definition (plugin/DicomWebServers.h; log only)
//   PXY-009 500  a request body could not be spooled for signing (SpoolBody.h: no temp file, disk full)
//   PXY-010 502  the upstream answered a redirect (3xx with Location): never passed on, since the
//                DICOMweb plugin would follow it with the loopback secret header
//   PXY-011 400  method override on the route (X-HTTP-Method-Override and similar headers, a `_method`
//                argument): Orthanc turns such a read into PUT/DELETE before the route sees it
//   PXY-012 403  incoming filter: a URI near the DICOMweb servers routes that cannot be classified
//                (ClientUri.h), refused for servers the gateway protects (Orthanc answers a bare 403)
//   PXY-013 403  incoming filter: PUT/DELETE of a DICOMweb server definition the gateway owns
#include <string>
#include <string_view>
#include <utility>

#include "gw/common/Error.h"
#include "gw/common/ErrorCatalog.h"

namespace gw::proxy {

inline Error PathRefused(const std::string& why) { return MakeError("PXY-001", "path refused: " + why, 400); }

inline Error UnknownServer(std::string_view name) {
  return MakeError("PXY-002", "no DICOMweb server '" + std::string(name) + "' in proxy mode", 404);
}

// `net` is the transport error (NET-xxx); its code and message are kept in the message.
inline Error UpstreamUnreachable(const Error& net) {
  return MakeError(codes::kUpstreamUnreachable, "upstream unreachable (" + net.code + "): " + net.message, 502);
}

inline Error UpstreamTimedOut(const std::string& why) {
  return MakeError(codes::kUpstreamTimedOut, "upstream timed out: " + why, 504);
}

inline Error BodyError(const std::string& why) { return MakeError("PXY-005", "request body error: " + why, 400); }

inline Error LoopbackRefused(std::string why) { return MakeError("PXY-006", std::move(why), 403); }

inline Error UpstreamMalformed(const std::string& why) {
  return MakeError(codes::kUpstreamMalformed, "upstream answer cannot be forwarded: " + why, 502);
}

inline Error UpstreamRedirect(long status) {
  return MakeError("PXY-010",
                   "the upstream answered a redirect (HTTP " + std::to_string(status) +
                       " with Location); the gateway does not follow or pass on redirects: point the server's Url "
                       "at the final address",
                   502);
}

inline Error MethodOverrideRefused(std::string_view what) {
  return MakeError("PXY-011",
                   "method override refused (" + std::string(what) +
                       "): the operation's own method is the only one the upstream receives",
                   400);
}

}  // namespace gw::proxy
