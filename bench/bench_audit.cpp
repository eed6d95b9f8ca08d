// Cost of auditing one proxied request on the request's thread: AuditLog::Record() for a
// proxy.request event (method, path, 3 query parameters, 2 of them PHI) through the shipped
// phi_redaction rule (Lua call, HMAC-SHA256 of two values), the UTF-8/secret pass and the enqueue.
// The writer thread appends and fdatasyncs (FsyncIntervalMs 1000, the default) in a temp folder.
// Prints median, p99, p99.9 (ns) per thread count, and the sustained write rate (records/s), for an
// unkeyed chain (SHA-256, the format before chain keys) and a keyed one (HMAC-SHA256 under
// Audit.ChainKey, checkpoints at the default cadence).
// Usage: bench_audit [iterations per thread]   (scripts from the source tree it was built from, or $GW_SOURCE_DIR)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "BenchSupport.h"
#include "gw/audit/AuditLog.h"
#include "gw/audit/AuditVerifier.h"

namespace {

gw::audit::AuditEvent Event(long i) {
  gw::audit::AuditEvent e("proxy.request", "cloud");
  e.Set("method", "GET").Set("path", "studies").Set("outcome", "forwarded").Set("status", int64_t{200});
  e.SetQuery("query", {{"PatientName", "DOE^JOHN" + std::to_string(i % 1000)}, {"PatientID", "PID-" + std::to_string(i)},
                       {"limit", "10"}});
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 50000;
  auto folder = gw::bench::TempFolder::Create("audit");
  if (!folder) return 1;
  const auto engine = gw::bench::LoadScripts((gw::bench::SourceDir() / "lua/policies/audit").string());
  if (!engine) return 1;

  std::printf("%-8s %-10s %12s %12s %12s %14s\n", "chain", "threads", "median ns", "p99 ns", "p99.9 ns", "records/s");
  const std::string chainKey = "bench-audit-chain-key-0123456789abcdef0123";
  for (const bool keyed : {false, true}) {
    for (int threads : {1, 2}) {
      gw::config::AuditConfig config;
      config.enabled = true;
      config.file = folder->Path() + "/audit-" + (keyed ? "keyed-" : "") + std::to_string(threads) + ".jsonl";
      config.hashKey = "bench-audit-hash-key-0123456789";
      if (keyed) config.chainKey = chainKey;
      config.queueTimeoutMs = 10000;
      auto log = gw::audit::AuditLog::Open(config, *engine, nullptr);
      if (!log.Ok()) return 1;
      std::vector<std::vector<long long>> samples(static_cast<size_t>(threads));
      std::vector<std::thread> workers;
      const auto begin = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          auto& mine = samples[static_cast<size_t>(t)];
          mine.reserve(static_cast<size_t>(iterations));
          for (long i = 0; i < iterations; ++i) {
            auto event = Event(i);
            const auto start = std::chrono::steady_clock::now();
            log.Value()->Record(std::move(event));
            const auto end = std::chrono::steady_clock::now();
            mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
          }
        });
      }
      for (auto& w : workers) w.join();
      log.Value()->Flush(std::chrono::minutes(5));
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      log.Value()->Stop();
      gw::audit::VerifyOptions verify;
      if (keyed) verify.keys.push_back(gw::audit::MakeChainKey(chainKey));
      const auto report = gw::audit::VerifyFile(config.file, verify);
      // A keyed file starts with its audit.key record.
      if (!report.ok || report.records != static_cast<uint64_t>(threads * iterations) + (keyed ? 1 : 0)) {
        std::fprintf(stderr, "audit file incomplete or broken: %s\n", report.problem.c_str());
        return 1;
      }
      const gw::bench::Percentiles p = gw::bench::Summarize(samples);
      std::printf("%-8s %-10d %12lld %12lld %12lld %14.0f\n", keyed ? "keyed" : "unkeyed", threads, p.median, p.p99,
                  p.p999, static_cast<double>(threads * iterations) / seconds);
    }
  }
  return 0;
}
