#pragma once
// The routing-policy facts of audit records and the policy-decision metric now live in the core
// (gw/service/PolicyAudit.h), where the incoming filter's logic is; the proxy route uses them here.
#include "gw/service/PolicyAudit.h"

namespace gw::plugin {

using service::CountPolicyDecision;
using service::SetDecisionFields;

}  // namespace gw::plugin
