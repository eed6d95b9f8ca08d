#include "gw/proxy/RequestAudit.h"

#include <string_view>

#include "gw/proxy/DecisionAudit.h"

namespace gw::proxy {

audit::AuditEvent BuildRequestAudit(const Incoming& in, const RequestEnd& end) {
  audit::AuditEvent event("proxy.request", in.server);
  event.traceId = in.trace.traceId;
  event.Set("method", in.method);
  event.Set("path", in.tail);
  if (!in.query.empty()) event.SetQuery("query", in.query);
  event.Set("outcome", end.outcome);
  event.Set("status", static_cast<int64_t>(end.status));
  if (end.error != nullptr) {
    event.Set("code", end.error->code);
    event.Set("reason", end.error->message);
  }
  if (end.routed != nullptr) {
    // Which policies decided, and for a request that went upstream, where to and why: an allowed
    // decision is as much part of the trail as a denial (docs/audit.md).
    const bool wentUpstream = std::string_view(end.outcome) != "denied" && !end.routed->targetName.empty();
    SetDecisionFields(event, end.routed->decision, wentUpstream, end.routed->targetName);
  }
  event.Set("bytes", static_cast<int64_t>(end.bytes));
  event.Set("requestBytes", static_cast<int64_t>(end.requestBytes));
  event.Set("durationMs", end.durationMs);
  return event;
}

}  // namespace gw::proxy
