#include "gw/policy/DecisionCounters.h"

namespace gw::policy {

namespace {

Counter& Lookup(MetricsRegistry& registry, std::string_view stage, const std::string& server,
                const std::string& policy, bool allow) {
  return registry.GetCounter(DecisionCounters::kFamily, DecisionCounters::kHelp,
                             {{"server", server},
                              {"stage", std::string(stage)},
                              {"policy", policy},
                              {"decision", allow ? "allow" : "deny"}});
}

template <typename CountFn>
void ForEachVerdict(const Decision& d, CountFn&& count) {
  for (const auto& name : d.policies) {
    if (!d.allow && name == d.policy) break;
    count(name, true);
  }
  if (!d.allow) count(d.policy.empty() ? std::string(DecisionCounters::kNoPolicy) : d.policy, false);
}

}  // namespace

DecisionCounters::DecisionCounters(MetricsRegistry& registry, std::string stage, std::string server,
                                   std::vector<std::string> policies)
    : registry_(registry), stage_(std::move(stage)), server_(std::move(server)), policies_(std::move(policies)) {
  policies_.emplace_back(kNoPolicy);
  slots_ = std::make_unique<std::atomic<Counter*>[]>(2 * policies_.size());
  for (size_t i = 0; i < 2 * policies_.size(); ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
}

Counter& DecisionCounters::Series(const std::string& policy, bool allow) {
  for (size_t i = 0; i < policies_.size(); ++i) {
    if (policies_[i] != policy) continue;
    std::atomic<Counter*>& slot = slots_[2 * i + (allow ? 0 : 1)];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      // First use: two threads may both look it up; the registry returns the same series to both.
      counter = &Lookup(registry_, stage_, server_, policy, allow);
      slot.store(counter, std::memory_order_release);
    }
    return *counter;
  }
  return Lookup(registry_, stage_, server_, policy, allow);
}

void DecisionCounters::Count(const Decision& d) {
  ForEachVerdict(d, [&](const std::string& name, bool allow) { Series(name, allow).Inc(); });
}

void DecisionCounters::CountUncached(MetricsRegistry& registry, std::string_view stage, const std::string& server,
                                     const Decision& d) {
  ForEachVerdict(d, [&](const std::string& name, bool allow) { Lookup(registry, stage, server, name, allow).Inc(); });
}

}  // namespace gw::policy
