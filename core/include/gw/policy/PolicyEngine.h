#pragma once
// Runs a server's routing policies (Lua scripts of kind "policy", function decide(request)) for
// one request and combines their decisions.
//
//   - The request is handed to each policy as a fresh table (see docs/policies.md for its fields).
//     Header values that are credentials never reach a script: `authorization` is reduced to its
//     scheme ("Basic", "Bearer"), and the gateway's loopback secret header is left out.
//   - Policies run in the configured order under one shared time budget. The first denial stops
//     the chain. Otherwise later policies refine earlier ones: a later `target` replaces an earlier
//     one, header edits accumulate (a later set of the same header wins), and the largest
//     `min_token_seconds` applies.
//   - A deliberate refusal, `return nil, {code=, message=, status=}`, is a denial with that code,
//     message and status; `return nil, "reason"` is a 403 POL-001 with that reason.
//   - Anything else that goes wrong fails closed: a raised error, a budget or memory overrun, a
//     missing script (POL-002, 500, the detail logged but not answered), or an invalid decision
//     table (POL-003/004/005, 500).
//   - No policy configured: allowed, primary target, nothing changed.
//
// Thread safety: Decide() may be called from any thread concurrently (the script engine leases
// one Lua state per call).
#include <chrono>
#include <string>
#include <vector>

#include "gw/lua/ScriptEngine.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

// What each policy of a chain decides for one request on its own, and what the chain answers
// (PolicyEngine::Evaluate). `consulted`: the chain itself reached this policy (false after a denial,
// which stops it).
struct PolicyStep {
  std::string policy;
  Decision decision;
  bool consulted = false;
};
struct Evaluation {
  std::vector<PolicyStep> steps;
  Decision combined;
};

class PolicyEngine {
 public:
  static constexpr std::chrono::milliseconds kDefaultBudget{100};

  explicit PolicyEngine(lua::ScriptEngine& scripts, std::chrono::milliseconds budget = kDefaultBudget)
      : scripts_(scripts), budget_(budget) {}

  Decision Decide(const std::vector<std::string>& policies, const PolicyRequest& request) const;

  // For operators (dicomweb-oauth policy evaluate): Decide() over the whole chain, plus each policy
  // run alone with its own budget, so a policy the chain never reached still shows its decision.
  // Runs every policy at least twice: a diagnostic, never the request path.
  Evaluation Evaluate(const std::vector<std::string>& policies, const PolicyRequest& request) const;

  // The request table as JSON, exactly as decide() receives it (tests and diagnostics: it is built
  // in a throwaway Lua state, so it is not cheap). Null if it cannot be built.
  static void BuildRequest(const PolicyRequest& request, rapidjson::Document& out);

 private:
  lua::ScriptEngine& scripts_;
  std::chrono::milliseconds budget_;
};

}  // namespace gw::policy
