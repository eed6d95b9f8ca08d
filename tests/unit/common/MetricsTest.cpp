#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

#include "gw/common/Metrics.h"

using namespace gw;

TEST_CASE("Metrics/counter sums the shards of all threads", "[metrics]") {
  MetricsRegistry r;
  Counter& c = r.GetCounter("requests_total", "Requests", {{"server", "a"}});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) c.Inc();
    });
  }
  for (auto& t : threads) t.join();
  c.Inc(5);
  CHECK(c.Value() == uint64_t(kThreads) * kPerThread + 5);
}

TEST_CASE("Metrics/threads get distinct shard indexes", "[metrics]") {
  uint32_t a = detail::ThisThreadShardIndex();
  CHECK(detail::ThisThreadShardIndex() == a);  // fixed per thread
  uint32_t b = a;
  std::thread([&] { b = detail::ThisThreadShardIndex(); }).join();
  CHECK(a != b);
}

TEST_CASE("Metrics/series are created once and found again", "[metrics]") {
  MetricsRegistry r;
  Counter& a = r.GetCounter("x_total", "X", {{"server", "a"}, {"status", "ok"}});
  Counter& b = r.GetCounter("x_total", "X", {{"status", "ok"}, {"server", "a"}});  // label order irrelevant
  Counter& c = r.GetCounter("x_total", "X", {{"server", "b"}, {"status", "ok"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  Gauge& g = r.GetGauge("g", "G");
  CHECK(&g == &r.GetGauge("g", "other help ignored"));
}

TEST_CASE("Metrics/registration errors are programming errors", "[metrics]") {
  MetricsRegistry r;
  r.GetCounter("a_total", "A", {{"server", "x"}});
  CHECK_THROWS_AS(r.GetGauge("a_total", "A"), std::invalid_argument);                      // other type
  CHECK_THROWS_AS(r.GetCounter("a_total", "A", {{"host", "x"}}), std::invalid_argument);  // other labels
  CHECK_THROWS_AS(r.GetCounter("9bad", "B"), std::invalid_argument);
  CHECK_THROWS_AS(r.GetCounter("bad-name", "B"), std::invalid_argument);
  CHECK_THROWS_AS(r.GetCounter("ok_total", "B", {{"bad-label", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.GetCounter("ok_total", "B", {{"__reserved", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.GetHistogram("h", "H", {{"le", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.GetCounter("ok_total", "B", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.GetHistogram("h2", "H", {}, {1.0, 0.5}), std::invalid_argument);
  CHECK_NOTHROW(r.GetCounter("ns:ok_total", "colons are allowed in names"));
}

TEST_CASE("Metrics/gauge and histogram values", "[metrics]") {
  MetricsRegistry r;
  Gauge& g = r.GetGauge("state", "S");
  g.Set(2);
  g.Add(-0.5);
  CHECK(g.Value() == 1.5);

  Histogram& h = r.GetHistogram("latency_seconds", "L", {}, {0.1, 1.0});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(3.0);
  Histogram::Snapshot s = h.Read();
  CHECK(s.cumulativeCounts == std::vector<uint64_t>{2, 3, 4});
  CHECK(s.count == 4);
  CHECK(s.sum == Approx(3.65));
  CHECK(MetricsRegistry::DefaultBuckets().size() == 14);
}

TEST_CASE("Metrics/Prometheus text format 0.0.4", "[metrics]") {
  MetricsRegistry r;
  r.GetCounter("dicomweb_oauth_token_acquisitions_total", "Token acquisitions by outcome",
               {{"status", "success"}, {"server", "pacs"}})
      .Inc(3);
  r.GetCounter("dicomweb_oauth_token_acquisitions_total", "", {{"server", "we\"ird\\name\nx"}, {"status", "failure"}})
      .Inc();
  r.GetGauge("dicomweb_oauth_token_remaining_seconds", "Help with \\ and\nnewline", {{"server", "pacs"}}).Set(12.25);
  Histogram& h = r.GetHistogram("dicomweb_oauth_token_acquisition_duration_seconds", "Duration",
                                {{"server", "pacs"}}, {0.5, 1});
  h.Observe(0.2);
  h.Observe(2);

  const std::string expected =
      "# HELP dicomweb_oauth_token_acquisitions_total Token acquisitions by outcome\n"
      "# TYPE dicomweb_oauth_token_acquisitions_total counter\n"
      "dicomweb_oauth_token_acquisitions_total{server=\"pacs\",status=\"success\"} 3\n"
      "dicomweb_oauth_token_acquisitions_total{server=\"we\\\"ird\\\\name\\nx\",status=\"failure\"} 1\n"
      "# HELP dicomweb_oauth_token_remaining_seconds Help with \\\\ and\\nnewline\n"
      "# TYPE dicomweb_oauth_token_remaining_seconds gauge\n"
      "dicomweb_oauth_token_remaining_seconds{server=\"pacs\"} 12.25\n"
      "# HELP dicomweb_oauth_token_acquisition_duration_seconds Duration\n"
      "# TYPE dicomweb_oauth_token_acquisition_duration_seconds histogram\n"
      "dicomweb_oauth_token_acquisition_duration_seconds_bucket{server=\"pacs\",le=\"0.5\"} 1\n"
      "dicomweb_oauth_token_acquisition_duration_seconds_bucket{server=\"pacs\",le=\"1\"} 1\n"
      "dicomweb_oauth_token_acquisition_duration_seconds_bucket{server=\"pacs\",le=\"+Inf\"} 2\n"
      "dicomweb_oauth_token_acquisition_duration_seconds_sum{server=\"pacs\"} 2.2\n"
      "dicomweb_oauth_token_acquisition_duration_seconds_count{server=\"pacs\"} 2\n";
  CHECK(r.RenderPrometheus() == expected);
}

TEST_CASE("Metrics/value formatting", "[metrics]") {
  CHECK(FormatMetricValue(0) == "0");
  CHECK(FormatMetricValue(42) == "42");
  CHECK(FormatMetricValue(-7) == "-7");
  CHECK(FormatMetricValue(0.1) == "0.1");
  CHECK(FormatMetricValue(1e20) == "1e+20");
  CHECK(FormatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(FormatMetricValue(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(FormatMetricValue(std::nan("")) == "NaN");
}

TEST_CASE("Metrics/collect hooks refresh values at scrape time and can be removed", "[metrics]") {
  MetricsRegistry r;
  int scrapes = 0;
  uint64_t id = r.AddCollectHook([&] { r.GetGauge("scrapes", "Scrapes seen").Set(++scrapes); });
  auto families = r.Collect();
  REQUIRE(families.size() == 1);
  CHECK(families[0].name == "scrapes");
  CHECK(families[0].type == MetricType::Gauge);
  CHECK(families[0].samples.at(0).value == 1);
  CHECK(r.RenderPrometheus().find("scrapes 2\n") != std::string::npos);
  r.RemoveCollectHook(id);
  r.Collect();
  CHECK(scrapes == 2);
}

TEST_CASE("Metrics/enumeration gives flattened samples for Orthanc", "[metrics]") {
  MetricsRegistry r;
  r.GetCounter("hits_total", "Hits", {{"server", "a"}}).Inc(2);
  r.GetHistogram("d_seconds", "D", {{"server", "a"}}, {1}).Observe(0.5);
  auto families = r.Collect();
  REQUIRE(families.size() == 2);
  CHECK(families[0].samples.size() == 1);
  CHECK(families[0].samples[0].labels == MetricLabels{{"server", "a"}});
  CHECK(families[0].samples[0].value == 2);
  std::vector<std::string> names;
  for (const auto& s : families[1].samples) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"d_seconds_bucket", "d_seconds_bucket", "d_seconds_sum", "d_seconds_count"});
  CHECK(families[1].samples[1].labels.back() == std::make_pair(std::string("le"), std::string("+Inf")));
}
