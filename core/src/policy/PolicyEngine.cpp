#include "gw/policy/PolicyEngine.h"

#include "gw/common/ErrorCatalog.h"
#include "gw/common/Log.h"
#include "gw/policy/DecisionParser.h"
#include "gw/policy/PolicyErrors.h"
#include "policy/RequestTable.h"

namespace gw::policy {
namespace {

Decision Deny(int status, std::string code, std::string reason, const std::string& policy) {
  Decision d;
  d.allow = false;
  d.status = status >= 400 && status <= 599 ? status : 500;
  d.code = std::move(code);
  d.reason = std::move(reason);
  d.policy = policy;
  return d;
}

// A policy's error as a denial: a deliberate refusal keeps its code/status/message, a failure of
// the script itself is POL-002 (details only in the log: they may quote the script's data).
Decision FromError(const Error& e, const std::string& policy, const PolicyRequest& request) {
  if (IsScriptRefusal(e)) {
    // The script's own words (ScriptState puts them in the origin), never the gateway's prefix.
    std::string reason = e.origin ? e.origin->reason : e.message;
    if (reason.size() > DecisionParser::kMaxReasonBytes) reason.resize(DecisionParser::kMaxReasonBytes);
    return Deny(403, kDenied, std::move(reason), policy);
  }
  // A code of the script's own, or LUA-012 (this server's share of the Lua states is busy: 503,
  // retry later), is passed on as it is; only a failure of the script itself becomes POL-002.
  if (!IsScriptFault(e)) return Deny(e.httpStatus, e.code, e.message, policy);
  LogError(std::string(kScriptFailed) + " policy '" + policy + "' failed for server '" + std::string(request.server) +
           "', request denied: " + e.ToString());
  return Deny(500, kScriptFailed, "policy '" + policy + "' failed (see the Orthanc log)", policy);
}

void Merge(Decision& into, Decision&& from) {
  if (!from.target.empty()) into.target = std::move(from.target);
  for (auto& [name, value] : from.setHeaders) {
    bool replaced = false;
    for (auto& h : into.setHeaders) {
      if (h.first == name) {
        h.second = value;
        replaced = true;
      }
    }
    if (!replaced) into.setHeaders.emplace_back(std::move(name), std::move(value));
  }
  for (auto& r : from.removeHeaders) into.removeHeaders.push_back(std::move(r));
  if (from.minTokenSeconds > into.minTokenSeconds) into.minTokenSeconds = from.minTokenSeconds;
  if (!from.reason.empty()) into.reason = std::move(from.reason);
}

}  // namespace

void PolicyEngine::BuildRequest(const PolicyRequest& request, rapidjson::Document& out) {
  auto json = lua::ToJson(RequestTable(request));
  if (json) out.Swap(json.Value());
  else out.SetNull();
}

Decision PolicyEngine::Decide(const std::vector<std::string>& policies, const PolicyRequest& request) const {
  Decision combined;
  combined.allow = true;
  combined.status = 200;
  if (policies.empty()) return combined;

  const auto deadline = std::chrono::steady_clock::now() + budget_;
  const RequestTable table(request, RequestTable::Build::Lazy, policies.size() > 1);
  combined.policies.reserve(policies.size());
  for (const std::string& policy : policies) {
    combined.policies.push_back(policy);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return FromError(MakeError("LUA-004", "the policy chain's time budget of " + std::to_string(budget_.count()) +
                                                " ms was used up before this policy ran"),
                       policy, request);
    }
    // A decision table is small: it fits the stack buffer, so no heap chunk is taken for it.
    char buffer[2048];
    rapidjson::MemoryPoolAllocator<> allocator(buffer, sizeof buffer);
    rapidjson::Document result(&allocator);
    if (Status called = scripts_.Call(policy, "decide", table, result, left, request.server); !called) {
      Decision denied = FromError(called.GetError(), policy, request);
      denied.policies = std::move(combined.policies);
      return denied;
    }
    auto parsed = DecisionParser::Parse(result, request);
    if (!parsed) {
      const Error& e = parsed.GetError();
      LogError(e.code + " policy '" + policy + "' for server '" + std::string(request.server) +
               "', request denied: " + e.message);
      Decision denied = Deny(e.httpStatus, e.code, "policy '" + policy + "': " + e.message, policy);
      denied.policies = std::move(combined.policies);
      return denied;
    }
    Decision& d = parsed.Value();  // in place: a Decision is seven strings and vectors to move
    if (!d.allow) {
      d.policy = policy;
      d.policies = std::move(combined.policies);
      return std::move(d);
    }
    Merge(combined, std::move(d));
  }
  return combined;
}

Evaluation PolicyEngine::Evaluate(const std::vector<std::string>& policies, const PolicyRequest& request) const {
  Evaluation out;
  out.combined = Decide(policies, request);
  for (size_t i = 0; i < policies.size(); ++i) {
    PolicyStep step;
    step.policy = policies[i];
    step.decision = Decide({policies[i]}, request);
    step.consulted = i < out.combined.policies.size();
    out.steps.push_back(std::move(step));
  }
  return out;
}

}  // namespace gw::policy
