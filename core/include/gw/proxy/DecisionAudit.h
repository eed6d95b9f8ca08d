#pragma once
// The routing-policy facts of a proxy.request or client.request audit record (docs/audit.md), set
// the same way for both: the policies consulted, the one that refused, and for a request that was
// let through, the reason an allowing policy gave and the target it went to (empty where the stage
// does not route). Header only: the inject side's client stage uses it too.
#include <string>
#include <string_view>

#include "gw/audit/AuditEvent.h"
#include "gw/common/Metrics.h"
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

// dicomweb_oauth_policy_decisions_total{server,stage,policy,decision}: each consulted policy's
// verdict. The policies run in order and the first refusal ends the chain, so on a denial the ones
// before it allowed and `d.policy` denied (a failed policy denies too: policies fail closed); a
// denial no policy owns (no engine, script missing) counts under policy "_engine".
inline void CountPolicyDecision(MetricsRegistry* metrics, std::string_view stage, const std::string& server,
                                const policy::Decision& d) {
  if (metrics == nullptr) return;
  const char* help = "Routing policy verdicts per server, stage (client, upstream) and policy";
  const auto count = [&](const std::string& name, const char* decision) {
    metrics->GetCounter("dicomweb_oauth_policy_decisions_total", help,
                        {{"server", server}, {"stage", std::string(stage)}, {"policy", name}, {"decision", decision}})
        .Inc();
  };
  for (const auto& name : d.policies) {
    if (!d.allow && name == d.policy) break;
    count(name, "allow");
  }
  if (!d.allow) count(d.policy.empty() ? std::string("_engine") : d.policy, "deny");
}

}  // namespace gw::proxy
