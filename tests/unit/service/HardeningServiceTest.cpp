// The pure rules behind the hardening of the plugin's routes: the forced-fetch budget of the test
// route (RateGate) and the CFG-009 warning of inject-mode servers whose Url has a path prefix.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "config/ConfigTestSupport.h"
#include "gw/service/InjectMode.h"
#include "gw/service/RateGate.h"

using namespace gw::config;
using namespace gw::config::test;
using gw::service::RateGate;
using std::chrono::seconds;

TEST_CASE("Hardening: forced token fetches of the test route are bounded per server", "[service][hardening]") {
  RateGate gate(5, seconds(60));
  const auto t0 = RateGate::Clock::time_point() + seconds(1000);
  for (int i = 0; i < 5; ++i) CHECK(gate.TryPass("cloud", t0 + seconds(i)) == seconds(0));
  // The sixth within the minute waits until the oldest pass leaves the window (t0 + 60).
  CHECK(gate.TryPass("cloud", t0 + seconds(10)) == seconds(50));
  CHECK(gate.TryPass("cloud", t0 + std::chrono::milliseconds(59500)) == seconds(1));  // rounded up, never 0
  // Another server has its own budget; refusals take no pass.
  CHECK(gate.TryPass("other", t0 + seconds(10)) == seconds(0));
  CHECK(gate.TryPass("cloud", t0 + seconds(60)) == seconds(0));
  CHECK(gate.TryPass("cloud", t0 + seconds(60)) > seconds(0));
  CHECK(gate.TryPass("cloud", t0 + seconds(1000)) == seconds(0));
}

TEST_CASE("Hardening: concurrent forced fetches never exceed the budget", "[service][hardening]") {
  RateGate gate(5, seconds(60));
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (gate.TryPass("cloud") == seconds(0)) ++passed;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(passed == 5);
}

namespace {

std::vector<Diagnostic> Prefix(const std::string& serverExtra) {
  const ParseResult r = ParseJson(WithServer(BaseServer(serverExtra)));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  return gw::service::CheckInjectUrlPrefix(*r.config);
}

}  // namespace

TEST_CASE("Hardening: an inject-mode Url with a path prefix gets CFG-009", "[service][hardening]") {
  for (const std::string url : {"https://dicom.example.com/v2/", "https://dicom.example.com/v2",
                                "https://h.example.com:8443/a/b/dicomWeb/", "http://127.0.0.1:8042/dicom-web/"}) {
    INFO(url);
    const auto warnings = Prefix(R"("Url": ")" + url + R"(")");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].severity == Severity::Warning);
    CHECK(warnings[0].code == "CFG-009");
    CHECK(warnings[0].path == "DicomWebOAuth.Servers.s.Url");
    CHECK(warnings[0].message.find("proxy") != std::string::npos);
    CHECK(warnings[0].message.find("base-secret-value") == std::string::npos);
  }
  // The whole host, or proxy mode (the gateway keeps requests under the Url): nothing to say.
  for (const std::string extra : {R"("Url": "https://dicom.example.com/")", R"("Url": "https://dicom.example.com")",
                                  R"("Url": "https://dicom.example.com/v2/", "Mode": "proxy")"}) {
    INFO(extra);
    CHECK(Prefix(extra).empty());
  }
}
