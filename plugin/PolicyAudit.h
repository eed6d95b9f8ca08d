#pragma once
// The routing-policy facts of an audit record and the policy-decision counter live in the core
// (gw/proxy/DecisionAudit.h, shared with the proxy service); the glue keeps its names.
#include "gw/proxy/DecisionAudit.h"

namespace gw::plugin {

using proxy::CountPolicyDecision;
using proxy::SetDecisionFields;

}  // namespace gw::plugin
