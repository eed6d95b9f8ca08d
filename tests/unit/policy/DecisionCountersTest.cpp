// dicomweb_oauth_policy_decisions_total through resolved counters: the same series and values as
// the registry lookup per request it replaced, a series only once its verdict happened, and no
// lookup at all on the request path once resolved.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gw/common/Metrics.h"
#include "gw/policy/DecisionCounters.h"

using gw::MetricsRegistry;
using gw::policy::Decision;
using gw::policy::DecisionCounters;

namespace {

// name{labels} -> value, for the policy family only.
std::vector<std::string> Series(const MetricsRegistry& registry) {
  std::vector<std::string> out;
  for (const auto& family : registry.Collect()) {
    if (family.name != DecisionCounters::kFamily) continue;
    for (const auto& s : family.samples) {
      std::string line;
      for (const auto& [k, v] : s.labels) line += k + "=" + v + ",";
      out.push_back(line + " " + std::to_string(static_cast<long long>(s.value)));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Decision Allowed(std::vector<std::string> policies) {
  Decision d;
  d.allow = true;
  d.status = 200;
  d.policies = std::move(policies);
  return d;
}

Decision Denied(std::vector<std::string> policies, std::string by) {
  Decision d;
  d.policies = std::move(policies);
  d.policy = std::move(by);
  return d;
}

}  // namespace

TEST_CASE("DecisionCounters: resolved counters give the series the per-request registry lookup gave", "[policy][metrics]") {
  const std::vector<std::string> chain{"failover", "read_only"};
  const std::vector<Decision> decisions{Allowed(chain), Allowed(chain), Denied(chain, "read_only"),
                                        Denied({"failover"}, "failover"), Denied({}, "")};
  MetricsRegistry resolved;
  MetricsRegistry lookedUp;
  DecisionCounters counters(resolved, "upstream", "azure", chain);
  for (const auto& d : decisions) {
    counters.Count(d);
    DecisionCounters::CountUncached(lookedUp, "upstream", "azure", d);
  }
  CHECK(Series(resolved) == Series(lookedUp));
  CHECK(Series(resolved) == std::vector<std::string>{
                                "decision=allow,policy=failover,server=azure,stage=upstream, 3",
                                "decision=allow,policy=read_only,server=azure,stage=upstream, 2",
                                "decision=deny,policy=_engine,server=azure,stage=upstream, 1",
                                "decision=deny,policy=failover,server=azure,stage=upstream, 1",
                                "decision=deny,policy=read_only,server=azure,stage=upstream, 1",
                            });
}

TEST_CASE("DecisionCounters: a series appears with its first verdict, not before", "[policy][metrics]") {
  MetricsRegistry registry;
  DecisionCounters counters(registry, "client", "aws", {"read_only"});
  CHECK(Series(registry).empty());
  counters.Count(Allowed({"read_only"}));
  CHECK(Series(registry) == std::vector<std::string>{"decision=allow,policy=read_only,server=aws,stage=client, 1"});
}

TEST_CASE("DecisionCounters: a policy outside the configured chain is still counted", "[policy][metrics]") {
  MetricsRegistry registry;
  DecisionCounters counters(registry, "upstream", "aws", {"read_only"});
  counters.Count(Denied({"other"}, "other"));
  CHECK(Series(registry) == std::vector<std::string>{"decision=deny,policy=other,server=aws,stage=upstream, 1"});
}

TEST_CASE("DecisionCounters: threads counting at once lose no verdict", "[policy][metrics]") {
  MetricsRegistry registry;
  DecisionCounters counters(registry, "upstream", "azure", {"default_routing"});
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) counters.Count(Allowed({"default_routing"}));
    });
  }
  for (auto& t : threads) t.join();
  CHECK(Series(registry) ==
        std::vector<std::string>{"decision=allow,policy=default_routing,server=azure,stage=upstream, 80000"});
}
