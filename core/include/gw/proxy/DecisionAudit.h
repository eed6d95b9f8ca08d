#pragma once
// The routing-policy facts of a proxy.request or client.request audit record (docs/audit.md), set
// the same way for both: the policies consulted, the one that refused, and for a request that was
// let through, the reason an allowing policy gave and the target it went to (empty where the stage
// does not route). Header only: the inject side's client stage uses it too.
#include <string>
#include <string_view>

#include "gw/audit/AuditEvent.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::proxy {

inline void SetDecisionFields(audit::AuditEvent& event, const policy::Decision& d, bool letThrough,
                              std::string_view target = {}) {
  if (!d.policies.empty()) event.Set("policies", d.policies);
  if (!d.allow && !d.policy.empty()) event.Set("policy", d.policy);
  if (d.allow && letThrough) {
    if (!target.empty()) event.Set("target", target);
    if (!d.reason.empty()) event.Set("policyReason", d.reason);
  }
}

// Counting the same decisions: policy::DecisionCounters (dicomweb_oauth_policy_decisions_total).

}  // namespace gw::proxy
