#pragma once
// The core's outgoing HTTP interface. Any non-transport outcome (including 4xx/5xx) is a response;
// only transport failures are errors, with codes:
//   NET-001 could not connect / resolve   NET-002 timed out      NET-003 TLS failure
//   NET-004 invalid request (URL, method) NET-005 other transport error
//   NET-006 response larger than maxResponseBytes
// Implementations are thread safe: one client is shared by all threads.
#include "gw/common/Error.h"
#include "gw/http/HttpTypes.h"

namespace gw::http {

class IHttpClient {
 public:
  virtual ~IHttpClient() = default;
  virtual Result<HttpResponse> Perform(const HttpRequest& request) = 0;
};

}  // namespace gw::http
