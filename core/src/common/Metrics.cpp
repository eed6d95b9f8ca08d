#include "gw/common/Metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace gw {

namespace {

// Number of counter shards: the next power of two >= the hardware threads, between 4 and 64.
// Two threads that run at the same time get different shards (round-robin assignment).
uint32_t ShardCount() {
  static const uint32_t count = [] {
    unsigned hw = std::thread::hardware_concurrency();
    uint32_t n = 4;
    while (n < hw && n < 64) n <<= 1;
    return n;
  }();
  return count;
}

std::atomic<uint32_t> g_nextShardIndex{0};

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

void CheckMetricName(std::string_view name) {
  bool ok = !name.empty() && (IsNameStart(name[0]) || name[0] == ':');
  for (char c : name) ok = ok && (IsNameChar(c) || c == ':');
  if (!ok) throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
}

void CheckLabelName(std::string_view name) {
  bool ok = !name.empty() && IsNameStart(name[0]) && name.substr(0, 2) != "__";
  for (char c : name) ok = ok && IsNameChar(c);
  if (!ok || name == "le") throw std::invalid_argument("invalid label name '" + std::string(name) + "'");
}

MetricLabels SortedLabels(const MetricLabels& labels) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    CheckLabelName(sorted[i].first);
    if (i > 0 && sorted[i].first == sorted[i - 1].first) {
      throw std::invalid_argument("duplicate label name '" + sorted[i].first + "'");
    }
  }
  return sorted;
}

std::vector<std::string> LabelNames(const MetricLabels& sorted) {
  std::vector<std::string> names;
  names.reserve(sorted.size());
  for (const auto& l : sorted) names.push_back(l.first);
  return names;
}

void AppendEscaped(std::string& out, std::string_view text, bool escapeQuote) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && escapeQuote) out += "\\\"";
    else out += c;
  }
}

void AppendSample(std::string& out, const MetricSample& s) {
  out += s.name;
  if (!s.labels.empty()) {
    out += '{';
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (i) out += ',';
      out += s.labels[i].first;
      out += "=\"";
      AppendEscaped(out, s.labels[i].second, true);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += FormatMetricValue(s.value);
  out += '\n';
}

}  // namespace

const char* ToString(MetricType type) {
  switch (type) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

uint32_t detail::ThisThreadShardIndex() noexcept {
  // Constant-initialised thread_local: no guard, the index is assigned lazily on first use.
  thread_local uint32_t index = UINT32_MAX;
  if (index == UINT32_MAX) index = g_nextShardIndex.fetch_add(1, std::memory_order_relaxed) & 0x7fffffffu;
  return index;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(value));
    return std::string(buf, r.ptr);
  }
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, r.ptr);
}

// ---- Counter, Gauge, Histogram ----

Counter::Counter() : shards_(new Shard[ShardCount()]), mask_(ShardCount() - 1) {}

uint64_t Counter::Value() const noexcept {
  uint64_t sum = 0;
  for (uint32_t i = 0; i <= mask_; ++i) sum += shards_[i].value.load(std::memory_order_relaxed);
  return sum;
}

void Gauge::Add(double delta) noexcept {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upperBounds)
    : bounds_(std::move(upperBounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) noexcept {
  // First bucket whose upper bound is >= value (Prometheus `le` semantics); NaN lands in +Inf.
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + value, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upperBounds = bounds_;
  s.cumulativeCounts.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulativeCounts.push_back(running);
  }
  s.count = running;  // derived from the buckets so that count == the +Inf bucket, always
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- Registry ----

struct MetricsRegistry::Series {
  MetricLabels labels;  // sorted by name
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::string> labelNames;  // sorted
  std::vector<double> bounds;           // histograms only
  std::vector<std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

const std::vector<double>& MetricsRegistry::DefaultBuckets() {
  static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                           0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};
  return buckets;
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    MetricType type, const MetricLabels& sortedLabels,
                                                    const std::vector<double>* bounds) {
  auto it = byName_.find(name);
  if (it != byName_.end()) {
    Family& f = *it->second;
    if (f.type != type) {
      throw std::invalid_argument("metric '" + f.name + "' already registered as " + ToString(f.type));
    }
    if (f.labelNames != LabelNames(sortedLabels)) {
      throw std::invalid_argument("metric '" + f.name + "' already registered with other label names");
    }
    return f;
  }
  CheckMetricName(name);
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->help = std::string(help);
  family->type = type;
  family->labelNames = LabelNames(sortedLabels);
  if (bounds) {
    family->bounds = bounds->empty() ? DefaultBuckets() : *bounds;
    for (size_t i = 0; i < family->bounds.size(); ++i) {
      if (!std::isfinite(family->bounds[i]) || (i > 0 && family->bounds[i] <= family->bounds[i - 1])) {
        throw std::invalid_argument("histogram '" + family->name + "': bounds must be finite and increasing");
      }
    }
  }
  Family* raw = family.get();
  families_.push_back(std::move(family));
  byName_.emplace(raw->name, raw);
  return *raw;
}

MetricsRegistry::Series& MetricsRegistry::SeriesFor(Family& family, MetricLabels sortedLabels) {
  for (auto& s : family.series) {
    if (s->labels == sortedLabels) return *s;
  }
  auto series = std::make_unique<Series>();
  series->labels = std::move(sortedLabels);
  switch (family.type) {
    case MetricType::Counter: series->counter = std::make_unique<Counter>(); break;
    case MetricType::Gauge: series->gauge = std::make_unique<Gauge>(); break;
    case MetricType::Histogram: series->histogram = std::make_unique<Histogram>(family.bounds); break;
  }
  family.series.push_back(std::move(series));
  return *family.series.back();
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MetricLabels sorted = SortedLabels(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  Family& f = FamilyFor(name, help, MetricType::Counter, sorted, nullptr);
  return *SeriesFor(f, std::move(sorted)).counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MetricLabels sorted = SortedLabels(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  Family& f = FamilyFor(name, help, MetricType::Gauge, sorted, nullptr);
  return *SeriesFor(f, std::move(sorted)).gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const MetricLabels& labels, const std::vector<double>& upperBounds) {
  MetricLabels sorted = SortedLabels(labels);
  std::lock_guard<std::mutex> lock(mutex_);
  Family& f = FamilyFor(name, help, MetricType::Histogram, sorted, &upperBounds);
  return *SeriesFor(f, std::move(sorted)).histogram;
}

uint64_t MetricsRegistry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t id = nextHookId_++;
  hooks_.emplace(id, std::make_shared<std::function<void()>>(std::move(hook)));
  return id;
}

void MetricsRegistry::RemoveCollectHook(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  hooks_.erase(id);
}

void MetricsRegistry::RunHooks() const {
  std::vector<std::shared_ptr<std::function<void()>>> hooks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& h : hooks_) hooks.push_back(h.second);
  }
  for (const auto& h : hooks) (*h)();
}

std::vector<MetricFamilySnapshot> MetricsRegistry::Collect() const {
  RunHooks();
  std::vector<MetricFamilySnapshot> out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.reserve(families_.size());
  for (const auto& f : families_) {
    MetricFamilySnapshot snap;
    snap.name = f->name;
    snap.help = f->help;
    snap.type = f->type;
    for (const auto& s : f->series) {
      switch (f->type) {
        case MetricType::Counter:
          snap.samples.push_back({f->name, s->labels, static_cast<double>(s->counter->Value())});
          break;
        case MetricType::Gauge:
          snap.samples.push_back({f->name, s->labels, s->gauge->Value()});
          break;
        case MetricType::Histogram: {
          Histogram::Snapshot h = s->histogram->Read();
          for (size_t i = 0; i < h.cumulativeCounts.size(); ++i) {
            MetricLabels labels = s->labels;
            labels.emplace_back("le", i < h.upperBounds.size() ? FormatMetricValue(h.upperBounds[i]) : "+Inf");
            snap.samples.push_back({f->name + "_bucket", std::move(labels),
                                    static_cast<double>(h.cumulativeCounts[i])});
          }
          snap.samples.push_back({f->name + "_sum", s->labels, h.sum});
          snap.samples.push_back({f->name + "_count", s->labels, static_cast<double>(h.count)});
          break;
        }
      }
    }
    out.push_back(std::move(snap));
  }
  return out;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  for (const auto& family : Collect()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    AppendEscaped(out, family.help, false);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += ToString(family.type);
    out += '\n';
    for (const auto& sample : family.samples) AppendSample(out, sample);
  }
  return out;
}

}  // namespace gw
