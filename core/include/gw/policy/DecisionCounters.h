#pragma once
// dicomweb_oauth_policy_decisions_total{server,stage,policy,decision}, resolved once per server and
// stage instead of per request: looking a series up goes through the registry's mutex (a lock
// shared by every HTTP thread, taken once per consulted policy per request). Here each series of
// the server's chain is looked up on its first use and kept in an atomic slot, so from then on
// counting a decision takes no lock and allocates nothing. A series still appears only with its
// first decision, as before (no zero series for verdicts that never happened).
//
// What is counted (each consulted policy's verdict): the policies run in order and the first
// refusal ends the chain, so on a denial the ones before it allowed and `d.policy` denied (a failed
// policy denies too: policies fail closed); a denial no policy owns (no engine, script missing)
// counts under policy "_engine". A policy name outside the configured chain (none today) is still
// counted, through the registry (the slow path).
//
// Thread safety: Count() may be called from any thread; the object is immutable apart from its slots.
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gw/common/Metrics.h"
#include "gw/policy/PolicyRequest.h"

namespace gw::policy {

class DecisionCounters {
 public:
  static constexpr const char* kFamily = "dicomweb_oauth_policy_decisions_total";
  static constexpr const char* kHelp = "Routing policy verdicts per server, stage (client, upstream) and policy";
  static constexpr const char* kNoPolicy = "_engine";

  // `registry` must outlive this object. `policies`: the server's configured chain.
  DecisionCounters(MetricsRegistry& registry, std::string stage, std::string server, std::vector<std::string> policies);

  void Count(const Decision& d);

  // The per-request lookup this class replaces, for callers without a resolved set (and the bench).
  static void CountUncached(MetricsRegistry& registry, std::string_view stage, const std::string& server,
                            const Decision& d);

 private:
  Counter& Series(const std::string& policy, bool allow);

  MetricsRegistry& registry_;
  const std::string stage_;
  const std::string server_;
  std::vector<std::string> policies_;                    // the chain, then kNoPolicy
  std::unique_ptr<std::atomic<Counter*>[]> slots_;       // 2 per entry of policies_: allow, deny
};

}  // namespace gw::policy
