// Cost of auditing one proxied request on the request's thread: AuditLog::Record() for a
// proxy.request event (method, path, 3 query parameters, 2 of them PHI) through the shipped
// phi_redaction rule (Lua call, HMAC-SHA256 of two values), the UTF-8/secret pass and the enqueue.
// The writer thread appends and fdatasyncs (FsyncIntervalMs 1000, the default) in a temp folder.
// Prints median, p99, p99.9 (ns) per thread count, and the sustained write rate (records/s), for an
// unkeyed chain (SHA-256, the format before chain keys) and a keyed one (HMAC-SHA256 under
// Audit.ChainKey, checkpoints at the default cadence).
// Usage: bench_audit [iterations per thread]   (scripts from the source tree it was built from, or $GW_SOURCE_DIR)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "BenchSupport.h"
#include "gw/audit/AuditLog.h"
#include "gw/audit/AuditChain.h"
#include "gw/audit/AuditVerifier.h"

namespace {

gw::audit::AuditEvent Event(long i) {
  gw::audit::AuditEvent e("proxy.request", "cloud");
  e.Set("method", "GET").Set("path", "studies").Set("outcome", "forwarded").Set("status", int64_t{200});
  e.SetQuery("query", {{"PatientName", "DOE^JOHN" + std::to_string(i % 1000)}, {"PatientID", "PID-" + std::to_string(i)},
                       {"limit", "10"}});
  return e;
}

double ThreadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
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

  // The writer thread's own cost per record: sealing one typical record (canonical JSON twice,
  // plus SHA-256 or HMAC-SHA256), without the disk. Thread CPU time: on a loaded machine wall time
  // mostly measures the other processes.
  rapidjson::Document typical;
  typical.Parse(R"({"event":"proxy.request","server":"cloud","snapshot":3,"time":"2026-11-22T17:03:04.123Z",)"
                R"("fields":{"method":"GET","path":"studies","outcome":"forwarded","status":200,"query":[)"
                R"({"name":"PatientName","value":"hmac-sha256:5b0c0e7d2b7e4f2f8f0e3c1a9d8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a39281706"},)"
                R"({"name":"limit","value":"10"}]}})");
  const gw::audit::ChainKey key = gw::audit::MakeChainKey(chainKey);
  for (const bool keyed : {false, true}) {
    gw::audit::ChainPosition position;
    const long n = iterations * 2;
    const double begin = ThreadCpuNs();
    size_t bytes = 0;
    for (long i = 0; i < n; ++i) {
      rapidjson::Document record;
      record.CopyFrom(typical, record.GetAllocator());
      bytes += (keyed ? gw::audit::SealKeyedRecord(record, position, key) : gw::audit::SealRecord(record, position)).size();
    }
    const double ns = ThreadCpuNs() - begin;
    std::printf("seal %-8s %8.0f ns CPU/record (%zu bytes/line)\n", keyed ? "keyed" : "unkeyed", ns / static_cast<double>(n),
                bytes / static_cast<size_t>(n));
  }
  return 0;
}
