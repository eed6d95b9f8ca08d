// Cost of a token cache hit: TokenHandle::Use() (pinned, no reference count) and
// TokenHandle::Get() (shared_ptr copy), with 1 thread and with 2 threads hitting the same key at
// the same time (each thread its own loop). Prints the median of several runs, in ns per call
// and per thread, and the 2-thread/1-thread ratio (1.0 = a second thread costs nothing), plus a
// control (one shared atomic increment per call) that shows whether the run could see contention.
//
// Two figures per case: wall time per call, and the thread's own CPU time per call
// (CLOCK_THREAD_CPUTIME_ID). On a busy machine the wall figure includes time the thread spent
// descheduled; the CPU figure does not, and still shows any cost of cache lines bouncing between
// cores, which is what "a second thread must not slow it down" is about.
//
// Usage: bench_token_cache [iterations-per-thread] [runs]      (defaults: 5000000 7)
// Real clock, real manager; the source is in-process (no IdP), since only the hit path is timed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "gw/token/TokenManager.h"

namespace {

using gw::token::ITokenSource;
using gw::token::SteadyTime;
using gw::token::TokenHandle;
using gw::token::TokenRecord;

class StaticSource final : public ITokenSource {
 public:
  gw::Result<TokenRecord> Fetch(SteadyTime) override {
    TokenRecord r;
    r.accessToken = std::string(900, 'x');  // a JWT-sized token
    r.expiresAt = std::chrono::steady_clock::now() + std::chrono::hours(1);
    return r;
  }
};

std::atomic<uint64_t> g_sink{0};

// Control: an increment of one atomic shared by all threads (what a naive hit counter or a
// shared_ptr copy does). If the machine lets the two threads run at the same time, its 2T/1T
// ratio is well above 1; if it is not, the run could not show contention and says so.
std::atomic<uint64_t> g_sharedControl{0};

enum class Mode { Use, Get, SharedAtomicControl };

struct Timing {
  double wallNs = 0;  // per call
  double cpuNs = 0;   // per call, this thread's CPU time only
};

double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Runs `threads` loops of `iterations` hits each, all released at once; returns the mean over
// threads of the per-call cost.
Timing RunOnce(const TokenHandle& handle, Mode mode, int threads, uint64_t iterations) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Timing> perThread(threads);
  std::vector<std::thread> pool;
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      // One thread per CPU, so that two threads really run at the same time when the CPUs are free.
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<unsigned>(t) % cpus, &set);
      pthread_setaffinity_np(pthread_self(), sizeof set, &set);
      // Warm this thread's cache entry before timing.
      (void)handle.Use([](const TokenRecord&) {});
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      uint64_t local = 0;
      const double cpuStart = ThreadCpuNs();
      const auto start = std::chrono::steady_clock::now();
      for (uint64_t i = 0; i < iterations; ++i) {
        if (mode == Mode::Use) {
          gw::Status s = handle.Use([&](const TokenRecord& r) { local += r.accessToken.size(); });
          if (!s.Ok()) std::abort();
        } else if (mode == Mode::SharedAtomicControl) {
          local += g_sharedControl.fetch_add(1, std::memory_order_relaxed) & 1;
        } else {
          auto r = handle.Get();
          if (!r.Ok()) std::abort();
          local += r.Value()->accessToken.size();
        }
      }
      const auto end = std::chrono::steady_clock::now();
      const double cpuEnd = ThreadCpuNs();
      perThread[t].wallNs =
          std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(iterations);
      perThread[t].cpuNs = (cpuEnd - cpuStart) / static_cast<double>(iterations);
      g_sink.fetch_add(local);
    });
  }
  while (ready.load() < threads) {
  }
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  Timing mean;
  for (const Timing& v : perThread) {
    mean.wallNs += v.wallNs / threads;
    mean.cpuNs += v.cpuNs / threads;
  }
  return mean;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 5000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 7;
  if (iterations == 0 || runs <= 0) {
    std::fprintf(stderr, "usage: %s [iterations-per-thread] [runs]\n", argv[0]);
    return 2;
  }

  gw::token::TokenManager manager;
  gw::token::KeyOptions key;
  key.server = "bench";
  TokenHandle handle = manager.Register("bench:key", std::make_shared<StaticSource>(), key);
  if (!handle.Get().Ok()) {
    std::fprintf(stderr, "could not obtain the first token\n");
    return 1;
  }

  std::printf("token cache hit, %llu iterations per thread, median of %d runs, %u hardware threads\n",
              static_cast<unsigned long long>(iterations), runs, std::thread::hardware_concurrency());
  for (Mode mode : {Mode::Use, Mode::Get, Mode::SharedAtomicControl}) {
    std::vector<double> wall1, wall2, cpu1, cpu2;
    for (int r = 0; r < runs; ++r) {
      Timing one = RunOnce(handle, mode, 1, iterations);
      Timing two = RunOnce(handle, mode, 2, iterations);
      wall1.push_back(one.wallNs);
      cpu1.push_back(one.cpuNs);
      wall2.push_back(two.wallNs);
      cpu2.push_back(two.cpuNs);
    }
    const char* name = mode == Mode::Use ? "Use()" : mode == Mode::Get ? "Get()" : "control";
    std::printf("%-7s cpu : 1 thread %6.1f ns/call, 2 threads %6.1f ns/call per thread, ratio 2T/1T %.2f\n", name,
                Median(cpu1), Median(cpu2), Median(cpu2) / Median(cpu1));
    std::printf("%-7s wall: 1 thread %6.1f ns/call, 2 threads %6.1f ns/call per thread, ratio 2T/1T %.2f\n", name,
                Median(wall1), Median(wall2), Median(wall2) / Median(wall1));
  }
  const std::string metrics = manager.Metrics().RenderPrometheus();
  const auto pos = metrics.find("dicomweb_oauth_cache_hits_total{server=\"bench\"}");
  if (pos != std::string::npos) std::printf("%s", metrics.substr(pos, metrics.find('\n', pos) - pos + 1).c_str());
  return g_sink.load() == 0 ? 1 : 0;
}
