#pragma once
// The proxy.request audit record of one proxied request (docs/audit.md): method, path, query (the
// audit rules pseudonymise it before it is written), outcome, status, error code and reason, bytes each way,
// duration and the routing decision. Never a header value: headers carry credentials and the
// loopback secret. (Log lines carry neither the path nor the query: ProxyService.cpp.)
#include <cstdint>

#include "gw/audit/AuditEvent.h"
#include "gw/common/Error.h"
#include "gw/proxy/ProxyRequest.h"

namespace gw::proxy {

struct RequestEnd {
  // "forwarded" (the upstream answered `status`), "failed" (the exchange broke: `error`), "denied"
  // (refused before anything went upstream: `error`).
  const char* outcome = "forwarded";
  long status = 0;              // what the caller got
  const Error* error = nullptr;
  uint64_t bytes = 0;           // answer body bytes sent to the caller
  uint64_t requestBytes = 0;    // request body bytes taken from the caller to send upstream
  int64_t durationMs = 0;
  // How the request was routed, as far as admission got (null when it never ran).
  const Admission* routed = nullptr;
};

audit::AuditEvent BuildRequestAudit(const Incoming& in, const RequestEnd& end);

}  // namespace gw::proxy
