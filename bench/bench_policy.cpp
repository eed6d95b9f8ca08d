// Latency of one full routing-policy decision (PolicyEngine::Decide): the request table is built
// from a realistic proxy-mode request (8 headers, 2 query parameters, 2 targets), converted to a
// Lua table, decide() runs, its decision table comes back and is validated strictly.
// Runs the shipped policies from lua/policies/routing/ (copied to a private folder): default_routing
// alone, read_only alone, and the chain failover + read_only, with 1 and 2 threads calling at once.
// Prints median, p99 and p99.9 in nanoseconds per configuration, then what the tail is made of:
// each call is bracketed by getrusage(RUSAGE_THREAD) (outside the timed region), so a sample is
// classed as "blocked" (the thread slept: a voluntary context switch, e.g. a futex wait on a lock
// another thread held), "preempted" (an involuntary switch: the shared machine took the CPU), or
// "on CPU" (neither), with the percentiles of the on-CPU samples alone.
// Each decision is then counted in dicomweb_oauth_policy_decisions_total as the proxy route does
// (policy::DecisionCounters, series resolved once); `counting` "registry" counts through a registry
// lookup per consulted policy instead (the route before, a mutex per lookup), "none" not at all.
// Usage: bench_policy [iterations per thread [chain [threads [counting]]]]   (e.g. 100000 read_only 2,
// to profile one configuration; "" and 0 for all; scripts from the source tree it was built from, or
// $GW_SOURCE_DIR)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "BenchSupport.h"
#include "gw/common/Metrics.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/DecisionCounters.h"
#include "gw/policy/PolicyEngine.h"

namespace {

struct Figures {
  gw::bench::Percentiles all;
  gw::bench::Percentiles onCpu;  // samples without any context switch
  long long blocked = 0;         // samples with a voluntary switch
  long long preempted = 0;       // samples with an involuntary switch only
  long long total = 0;
};

enum class Counting { None, Registry, Resolved };

Figures Measure(const gw::policy::PolicyEngine& engine, const std::vector<std::string>& policies,
                const gw::policy::PolicyRequest& request, long iterations, int threads, Counting counting) {
  gw::MetricsRegistry registry;
  const std::string server(request.server);
  gw::policy::DecisionCounters counters(registry, "upstream", server, policies);
  const auto count = [&](const gw::policy::Decision& d) {
    if (counting == Counting::Resolved) {
      counters.Count(d);
    } else if (counting == Counting::Registry) {
      gw::policy::DecisionCounters::CountUncached(registry, "upstream", server, d);
    }
  };
  std::vector<std::vector<long long>> samples(static_cast<size_t>(threads));
  std::vector<std::vector<long long>> calm(static_cast<size_t>(threads));
  std::vector<long long> blocked(static_cast<size_t>(threads)), preempted(static_cast<size_t>(threads));
  std::vector<long long> denied(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& mine = samples[static_cast<size_t>(t)];
      auto& quiet = calm[static_cast<size_t>(t)];
      mine.reserve(static_cast<size_t>(iterations));
      quiet.reserve(static_cast<size_t>(iterations));
      for (int i = 0; i < 5000; ++i) engine.Decide(policies, request);  // warm-up: every state created
      rusage before{}, after{};
      for (long i = 0; i < iterations; ++i) {
        getrusage(RUSAGE_THREAD, &before);
        const auto start = std::chrono::steady_clock::now();
        const auto d = engine.Decide(policies, request);
        count(d);
        const auto end = std::chrono::steady_clock::now();
        getrusage(RUSAGE_THREAD, &after);
        // A call preempted for longer than the chain's budget (100 ms) is denied, which a loaded
        // shared machine does: counted (its time is a sample like any other). Anything more often
        // than that is a bench measuring denials by mistake, which is worthless.
        if (!d.allow && ++denied[static_cast<size_t>(t)] > iterations / 10000 + 1) {
          std::fprintf(stderr, "denied: %s %s\n", d.code.c_str(), d.reason.c_str());
          std::abort();
        }
        const long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
        mine.push_back(ns);
        if (after.ru_nvcsw != before.ru_nvcsw) {
          ++blocked[static_cast<size_t>(t)];
        } else if (after.ru_nivcsw != before.ru_nivcsw) {
          ++preempted[static_cast<size_t>(t)];
        } else {
          quiet.push_back(ns);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  Figures f;
  f.all = gw::bench::Summarize(samples);
  f.onCpu = gw::bench::Summarize(calm);
  for (int t = 0; t < threads; ++t) {
    f.blocked += blocked[static_cast<size_t>(t)];
    f.preempted += preempted[static_cast<size_t>(t)];
  }
  f.total = iterations * threads;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  const std::string only = argc > 2 ? argv[2] : "";
  const int onlyThreads = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::string countingName = argc > 4 ? argv[4] : "resolved";
  const Counting counting = countingName == "none"       ? Counting::None
                            : countingName == "registry" ? Counting::Registry
                                                         : Counting::Resolved;
  if (countingName != "none" && countingName != "registry" && countingName != "resolved") {
    std::fprintf(stderr, "counting: none, registry or resolved\n");
    return 2;
  }
  auto folder = gw::bench::TempFolder::Create("policy");
  if (!folder) return 1;
  if (!gw::bench::CopyScripts(gw::bench::SourceDir() / "lua/policies/routing",
                              {"default_routing", "read_only", "failover"}, folder->Path())) {
    return 1;
  }
  // Calls are made for "azure", one of several servers with shares of their own, as in the gateway.
  const auto scripts = gw::bench::LoadScripts(folder->Path(), {"aws", "azure", "google", "research"});
  folder->Remove();
  if (!scripts) return 1;
  gw::policy::PolicyEngine engine(*scripts);

  const gw::http::Headers headers = {
      {"accept", "multipart/related; type=\"application/dicom\""},
      {"accept-encoding", "gzip"},
      {"authorization", "Basic YWxpY2U6cGFzc3dvcmQ="},
      {"connection", "keep-alive"},
      {"host", "127.0.0.1:8042"},
      {"user-agent", "Orthanc/1.10.1"},
      {"x-dicomweb-oauth-gateway", "0123456789abcdef0123456789abcdef"},
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
  const std::vector<std::pair<std::string, std::string>> query = {{"limit", "100"}, {"includefield", "0020000D"}};
  gw::policy::PolicyRequest request;
  request.stage = gw::policy::Stage::Upstream;
  request.server = "azure";
  request.mode = "proxy";
  request.method = "GET";
  request.path = "studies/1.2.840.113619.2.55.3.604688119.969.1268071029.320/series";
  request.headers = &headers;
  request.query = &query;
  request.authorization = "expected";
  request.targets = {{"primary", "https://primary.example.com/v2/", true},
                     {"secondary", "https://secondary.example.com/v2/", true}};

  const std::vector<std::vector<std::string>> chains = {{"default_routing"}, {"read_only"}, {"failover", "read_only"}};
  for (const auto& chain : chains) {
    std::string label;
    for (const auto& p : chain) label += (label.empty() ? "" : "+") + p;
    if (!only.empty() && label != only) continue;
    for (int threads : {1, 2}) {
      if (onlyThreads != 0 && threads != onlyThreads) continue;
      const Figures f = Measure(engine, chain, request, iterations, threads, counting);
      std::printf("%-20s threads=%d iterations=%ld counting=%s  median %lld ns  p99 %lld ns  p99.9 %lld ns\n",
                  label.c_str(), threads, iterations * threads, countingName.c_str(), f.all.median, f.all.p99,
                  f.all.p999);
      std::printf("%-20s   tail: blocked %lld (%.3f%%), preempted %lld (%.3f%%); on CPU only: median %lld ns  "
                  "p99 %lld ns  p99.9 %lld ns\n",
                  "", f.blocked, 100.0 * static_cast<double>(f.blocked) / static_cast<double>(f.total), f.preempted,
                  100.0 * static_cast<double>(f.preempted) / static_cast<double>(f.total), f.onCpu.median,
                  f.onCpu.p99, f.onCpu.p999);
    }
  }
  return 0;
}
