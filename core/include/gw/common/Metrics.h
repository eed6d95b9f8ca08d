#pragma once
// Process metrics: counters, gauges and histograms with labels, exposed in the Prometheus text
// format (0.0.4) and enumerable so the plugin can push the same values into Orthanc's own metrics.
//
// Design: a series (one family + one label set) is created once, under the registry mutex, and
// lives as long as the registry; callers keep the returned reference and update it without any
// lock. Counter increments are sharded: each thread adds to its own cache-line-sized slot (threads
// get a slot index round-robin on first use), and a scrape sums the slots. So counting a cache hit
// on the hot path never writes a cache line that another thread is writing at the same time.
// Gauges and histograms are plain atomics (they are updated on cold paths: fetches, scrapes).
//
// Thread safety: every method of every class here may be called from any thread.
// Errors: an invalid metric or label name, or reusing a family name with another type or another
// set of label names, is a programming error and throws std::invalid_argument at registration.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gw {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { Counter, Gauge, Histogram };
const char* ToString(MetricType type);  // "counter" | "gauge" | "histogram"

namespace detail {
// Index of the calling thread's counter shard (assigned round-robin on first use, then fixed).
uint32_t ThisThreadShardIndex() noexcept;
}  // namespace detail

// Monotonic counter. Inc() is lock-free and writes only the calling thread's shard.
class Counter {
 public:
  Counter();
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1) noexcept {
    shards_[detail::ThisThreadShardIndex() & mask_].value.fetch_add(n, std::memory_order_relaxed);
  }
  // Sum of all shards; concurrent increments may or may not be included.
  uint64_t Value() const noexcept;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> value{0};
  };
  std::unique_ptr<Shard[]> shards_;
  uint32_t mask_;
};

// Value that goes up and down (state, remaining lifetime). Set/Add are lock-free.
class Gauge {
 public:
  void Set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) noexcept;
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Distribution with fixed upper bounds (Prometheus `le` buckets). Observe() is lock-free.
class Histogram {
 public:
  struct Snapshot {
    std::vector<double> upperBounds;       // without +Inf
    std::vector<uint64_t> cumulativeCounts;  // one per upper bound, then one for +Inf
    double sum = 0;
    uint64_t count = 0;                    // equals cumulativeCounts.back()
  };

  // `upperBounds` must be strictly increasing and finite (checked by the registry).
  explicit Histogram(std::vector<double> upperBounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value) noexcept;
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (last = +Inf), not cumulative
  std::atomic<double> sum_{0.0};
};

// One value of a collected family, already flattened: histograms give name_bucket (with `le`),
// name_sum and name_count samples. Labels are sorted by name.
struct MetricSample {
  std::string name;
  MetricLabels labels;
  double value = 0;
};

struct MetricFamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::Counter;
  std::vector<MetricSample> samples;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Return the series for (name, labels), creating family and series on first use. The reference
  // stays valid for the registry's lifetime: resolve it once, then update it on the hot path.
  // `help` is taken from the first registration of the family.
  Counter& GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  // Empty `upperBounds`: DefaultBuckets(). Bounds are fixed by the family's first registration.
  Histogram& GetHistogram(std::string_view name, std::string_view help, const MetricLabels& labels = {},
                          const std::vector<double>& upperBounds = {});

  // Prometheus client defaults, in seconds: 0.005 ... 10.
  static const std::vector<double>& DefaultBuckets();

  // Hooks run at the start of every Collect()/RenderPrometheus(), outside the registry lock, so a
  // value that depends on "now" (remaining token lifetime) is fresh at scrape time. A hook may
  // call Get*() and update series. Returns an id for RemoveCollectHook (safe while scraping).
  uint64_t AddCollectHook(std::function<void()> hook);
  void RemoveCollectHook(uint64_t id);

  // Families in registration order, series in creation order.
  std::vector<MetricFamilySnapshot> Collect() const;
  // Text exposition format 0.0.4: HELP and TYPE lines, escaped label values, histograms as
  // cumulative _bucket series plus _sum and _count.
  std::string RenderPrometheus() const;

 private:
  struct Series;
  struct Family;
  Family& FamilyFor(std::string_view name, std::string_view help, MetricType type,
                    const MetricLabels& sortedLabels, const std::vector<double>* bounds);
  Series& SeriesFor(Family& family, MetricLabels sortedLabels);
  void RunHooks() const;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;        // registration order
  std::map<std::string, Family*, std::less<>> byName_;
  std::map<uint64_t, std::shared_ptr<std::function<void()>>> hooks_;
  uint64_t nextHookId_ = 1;
};

// Formats a sample value as Prometheus expects: integers without a decimal point, "+Inf",
// "-Inf", "NaN", otherwise the shortest text that reads back to the same double.
std::string FormatMetricValue(double value);

}  // namespace gw
