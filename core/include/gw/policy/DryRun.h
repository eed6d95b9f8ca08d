#pragma once
// Changing policies without fear (docs/policies.md, "Before a reload"):
//   - CompareSnapshots: which scripts a candidate snapshot adds, removes or changes against the
//     serving one (by contract name; "changed" = other bytes, whatever the declared version says);
//   - PolicyEngine::Evaluate (PolicyEngine.h): each policy's own decision for one described request
//     and the combined one the chain would answer;
//   - JSON writers for both, shared by the REST route and the CLI so they say the same thing.
#include <string>
#include <vector>

#include "gw/common/Json.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

struct ScriptChange {
  std::string name;
  std::string kind;    // of the candidate's script (the serving one's when removed)
  std::string change;  // "added" | "removed" | "changed"
  std::string before;  // declared version in the serving snapshot (empty when added)
  std::string after;   // declared version in the candidate (empty when removed)
};

// Sorted by name; scripts identical in both are left out.
std::vector<ScriptChange> CompareSnapshots(const lua::SnapshotInfo& serving, const lua::SnapshotInfo& candidate);

void WriteChanges(json::Writer& w, const std::vector<ScriptChange>& changes);

// {"allow":..., "status":..., "code":..., "reason":..., "policy":..., "target":..., "setHeaders":{...},
//  "removeHeaders":[...], "minTokenSeconds":...}: only the fields that carry something. Decisions
// never hold a credential (DecisionParser refuses Authorization edits), so this is safe to show.
void WriteDecision(json::Writer& w, const Decision& decision);

// One line for a terminal: "allow (target eu, set X-A, min token 60 s)" or
// "deny 403 POL-010: read-only server".
std::string DescribeDecision(const Decision& decision);

}  // namespace gw::policy
