#include <catch2/catch.hpp>

#include "gw/common/Json.h"
#include "gw/service/Health.h"

using namespace gw;
using namespace gw::service;

namespace {

rapidjson::Document Body(const HealthAnswer& answer) {
  auto parsed = json::Parse(answer.body, "X");
  REQUIRE(parsed.Ok());
  return std::move(parsed).Value();
}

ServerHealth Server(bool usable, bool attempted, bool optional = false) {
  ServerHealth s;
  s.usable = usable;
  s.attempted = attempted;
  s.optional = optional;
  return s;
}

HealthFacts Serving() {
  HealthFacts f;
  f.engineAnswered = true;
  f.snapshotVersion = 3;
  return f;
}

}  // namespace

TEST_CASE("Health/probe names", "[health]") {
  HealthProbe p;
  CHECK((ParseHealthProbe("live", p) && p == HealthProbe::Live));
  CHECK((ParseHealthProbe("ready", p) && p == HealthProbe::Ready));
  CHECK((ParseHealthProbe("startup", p) && p == HealthProbe::Startup));
  CHECK_FALSE(ParseHealthProbe("Live", p));
  CHECK_FALSE(ParseHealthProbe("", p));
}

TEST_CASE("Health/live depends on the engine only, never on tokens", "[health]") {
  HealthFacts f = Serving();
  f.servers["down"] = Server(false, true);  // an IdP outage must not get the pod restarted
  f.snapshotVersion = 0;
  CHECK(EvaluateHealth(HealthProbe::Live, f).status == 200);
  f.engineAnswered = false;
  const HealthAnswer dead = EvaluateHealth(HealthProbe::Live, f);
  CHECK(dead.status == 503);
  const auto body = Body(dead);
  CHECK(std::string(body["status"].GetString()) == "fail");
  CHECK(std::string(body["probe"].GetString()) == "live");
}

TEST_CASE("Health/ready needs a snapshot and a usable token on every required server", "[health]") {
  HealthFacts f = Serving();
  f.servers["a"] = Server(true, true);
  f.servers["b"] = Server(true, true);
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 200);

  f.servers["b"] = Server(false, true);
  const HealthAnswer notReady = EvaluateHealth(HealthProbe::Ready, f);
  CHECK(notReady.status == 503);
  const auto body = Body(notReady);
  CHECK(std::string(body["servers"]["b"].GetString()) == "failing");
  CHECK(std::string(body["servers"]["a"].GetString()) == "ok");

  f.servers["b"].optional = true;  // deliberately allowed to be degraded
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 200);

  f.snapshotVersion = 0;
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 503);
}

TEST_CASE("Health/servers without a credential never hold readiness or startup", "[health]") {
  HealthFacts f = Serving();
  ServerHealth none;
  none.hasCredential = false;
  f.servers["plain"] = none;
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 200);
  CHECK(EvaluateHealth(HealthProbe::Startup, f).status == 200);
  CHECK(std::string(Body(EvaluateHealth(HealthProbe::Ready, f))["servers"]["plain"].GetString()) == "no-credential");
}

TEST_CASE("Health/startup ends when every first acquisition has ended, with or without a token", "[health]") {
  HealthFacts f = Serving();
  f.servers["a"] = Server(false, false);
  const HealthAnswer starting = EvaluateHealth(HealthProbe::Startup, f);
  CHECK(starting.status == 503);
  CHECK(std::string(Body(starting)["servers"]["a"].GetString()) == "starting");
  f.servers["a"] = Server(false, true);  // given up on: startup is over, readiness tells the rest
  CHECK(EvaluateHealth(HealthProbe::Startup, f).status == 200);
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 503);
  f.servers["a"] = Server(true, true);
  CHECK(EvaluateHealth(HealthProbe::Startup, f).status == 200);
}

TEST_CASE("Health/bodies never carry more than state words", "[health]") {
  HealthFacts f = Serving();
  f.servers["a"] = Server(false, true);
  for (HealthProbe p : {HealthProbe::Live, HealthProbe::Ready, HealthProbe::Startup}) {
    const auto body = Body(EvaluateHealth(p, f));
    for (const auto& m : body.GetObject()) {
      const std::string name = m.name.GetString();
      CHECK((name == "status" || name == "probe" || name == "reason" || name == "engineMs" || name == "snapshot" ||
             name == "servers"));
    }
  }
}

TEST_CASE("Health/the probe user is recognised by its Basic credentials only", "[health]") {
  // "probe:pw" and "prober:pw" in base64
  CHECK(IsProbeUser("Basic cHJvYmU6cHc=", "probe"));
  CHECK_FALSE(IsProbeUser("Basic cHJvYmVyOnB3", "probe"));
  CHECK_FALSE(IsProbeUser("Basic cHJvYmU6cHc=", ""));
  CHECK_FALSE(IsProbeUser("Bearer cHJvYmU6cHc=", "probe"));
  CHECK_FALSE(IsProbeUser("Basic not*base64", "probe"));
  CHECK_FALSE(IsProbeUser("Basic cHJvYmU=", "probe"));  // "probe" without ':'
}

TEST_CASE("Health/only the three health routes count as health routes", "[health]") {
  CHECK(IsHealthRoute("/dicomweb-oauth/health/live"));
  CHECK(IsHealthRoute("/dicomweb-oauth/health/ready"));
  CHECK(IsHealthRoute("/dicomweb-oauth/health/startup/"));
  CHECK_FALSE(IsHealthRoute("/dicomweb-oauth/health/"));
  CHECK_FALSE(IsHealthRoute("/dicomweb-oauth/health/live/x"));
  CHECK_FALSE(IsHealthRoute("/dicomweb-oauth/health/livex"));
  CHECK_FALSE(IsHealthRoute("/dicomweb-oauth/status"));
  CHECK_FALSE(IsHealthRoute("/patients"));
  CHECK_FALSE(IsHealthRoute("/dicomweb-oauth/health/live/../../../patients"));
}

TEST_CASE("Health/without acquisition at start a server never used is idle and holds nothing", "[health]") {
  HealthFacts f = Serving();
  ServerHealth lazy = Server(false, false);
  lazy.expected = false;
  f.servers["lazy"] = lazy;
  CHECK(EvaluateHealth(HealthProbe::Startup, f).status == 200);
  const HealthAnswer ready = EvaluateHealth(HealthProbe::Ready, f);
  CHECK(ready.status == 200);
  CHECK(std::string(Body(ready)["servers"]["lazy"].GetString()) == "idle");
  f.servers["lazy"].attempted = true;  // used once and failing: not ready
  CHECK(EvaluateHealth(HealthProbe::Ready, f).status == 503);
}
