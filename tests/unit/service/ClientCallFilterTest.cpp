// The incoming filter's rules without Orthanc (gw/service/ClientCallFilter.h): which URIs are client
// calls on which server, whatever their spelling, and what refuses them.
#include <catch2/catch.hpp>

#include "InjectTestSupport.h"

using namespace gw::service;
using namespace gw::service::test;

namespace {

const std::string kServers = "{\"inj\": " + Server(R"("Mode": "inject")") + ", \"ro\": " +
                             Server(R"("Mode": "inject", "Policies": ["read_only"])") + ", \"px\": " +
                             Server(R"("Mode": "proxy")") + "}";

struct Fixture {
  explicit Fixture(const std::string& extraGlobal = "", const std::string& extraRoot = "",
                   const std::string& servers = kServers)
      : idp(std::make_shared<FakeIdp>()),
        writer(std::make_shared<RecordingWriter>()),
        orthanc(std::make_shared<FakeOrthanc>()),
        gateway(MakeGateway(idp, servers, extraGlobal, extraRoot)),
        service(std::make_unique<InjectService>(*gateway, writer, orthanc, "/dicom-web/", nullptr)) {}
  ~Fixture() {
    service.reset();
    gateway->Stop();
  }

  ClientVerdict Check(const std::string& method, const std::string& uri, gw::http::Headers headers = {}) {
    return service->Filter(Call(method, uri, std::move(headers)));
  }
  // The code of a refusal, "allowed" when the call goes on.
  std::string Outcome(const std::string& method, const std::string& uri, gw::http::Headers headers = {}) {
    const ClientVerdict v = Check(method, uri, std::move(headers));
    if (v.allow) return "allowed";
    return v.refusal ? v.refusal->code : std::string("<refused without a code>");
  }

  std::shared_ptr<FakeIdp> idp;
  std::shared_ptr<RecordingWriter> writer;
  std::shared_ptr<FakeOrthanc> orthanc;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<InjectService> service;
};

}  // namespace

TEST_CASE("InjectFilter: spelling variants of a client call meet the client-stage policies", "[service][inject]") {
  Fixture f;
  // read_only refuses STOW: every spelling Orthanc routes to the STOW handler meets it.
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/stow") == "POL-010");
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/stow/") == "POL-010");
  const ClientVerdict v = f.Check("POST", "/dicom-web/servers/ro/stow/");
  CHECK(v.server == "ro");
  REQUIRE(v.refusal);
  CHECK(v.refusal->httpStatus == 403);
  // What the policy allows goes on.
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/qido") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/retrieve/") == "allowed");
}

TEST_CASE("InjectFilter: ambiguous spellings near the servers routes are refused with PXY-012", "[service][inject][hardening]") {
  Fixture f;
  // Orthanc's HTTP server decoded the path once: what is still encoded, doubled, dotted, in another
  // case or with a backslash is no spelling Orthanc routes unambiguously, and another layer might.
  for (const char* uri : {"/dicom-web/servers/ro/%73tow", "/dicom-web/servers/ro/st%6Fw", "/dicom-web/servers//ro/stow",
                          "/dicom-web//servers/ro/stow", "/DICOM-WEB/servers/ro/stow", "/dicom-web/SERVERS/ro/stow",
                          "/dicom-web/%73ervers/ro/stow", "/dicom-web/servers/ro/./stow", "/dicom-web/servers/ro/../ro/stow",
                          "/dicom-web/servers/ro\\stow", "/dicom-web/servers/%72o/stow", "/dicom-web/servers/ro/%2573tow",
                          "/dicom-web/servers/unknown/%73tow"}) {
    INFO(uri);
    CHECK(f.Outcome("POST", uri) == "PXY-012");
  }
  // No reading puts these under the servers routes: not the filter's business.
  CHECK(f.Outcome("GET", "/instances") == "allowed");
  CHECK(f.Outcome("GET", "/dicom-web/studies") == "allowed");
  CHECK(f.Outcome("GET", "/dicom-web/servers") == "allowed");
  CHECK(f.idp->requests == 0);
}

TEST_CASE("InjectFilter: an operation in another case is no route of the DICOMweb plugin", "[service][inject]") {
  Fixture f;
  // Orthanc matches the DICOMweb routes case-sensitively: "STOW" reaches no handler (404 from
  // Orthanc), so nothing is sent with a token and the filter leaves it alone.
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/STOW") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/stow/extra") == "allowed");
  CHECK(f.idp->requests == 0);
}

TEST_CASE("InjectFilter: PUT and DELETE of a definition the gateway writes are refused after any method override", "[service][inject][hardening]") {
  Fixture f;
  // Orthanc applies X-HTTP-Method-Override and _method before the filter: the method given is the
  // one the DICOMweb plugin sees, whatever the request line said.
  CHECK(f.Outcome("PUT", "/dicom-web/servers/inj") == "PXY-013");
  CHECK(f.Outcome("DELETE", "/dicom-web/servers/inj/") == "PXY-013");
  CHECK(f.Outcome("DELETE", "/dicom-web/servers/px") == "PXY-013");
  CHECK(f.Outcome("PUT", "/dicom-web/servers/ro", {{"x-http-method-override", "PUT"}}) == "PXY-013");
  auto overridden = Call("DELETE", "/dicom-web/servers/inj");
  overridden.query = {{"_method", "delete"}};
  const ClientVerdict v = f.service->Filter(overridden);
  CHECK_FALSE(v.allow);
  REQUIRE(v.refusal);
  CHECK(v.refusal->code == "PXY-013");
  // Reading a definition is fine, and so is writing one the gateway does not own.
  CHECK(f.Outcome("GET", "/dicom-web/servers/inj") == "allowed");
  CHECK(f.Outcome("PUT", "/dicom-web/servers/someone-else") == "allowed");
}

TEST_CASE("InjectFilter: a client call gets a fresh token written into the definition before it goes on", "[service][inject]") {
  Fixture f;
  f.service->Inject()->Start();  // Orthanc is up: writes are possible
  const size_t before = f.writer->Written().size();
  CHECK(f.Outcome("POST", "/dicom-web/servers/inj/retrieve") == "allowed");
  const auto written = f.writer->Written();
  REQUIRE(written.size() >= before);
  bool injWritten = false;
  for (const auto& [server, authorization] : written) {
    if (server == "inj") {
      injWritten = true;
      CHECK(authorization.rfind("Bearer token-", 0) == 0);
    }
  }
  CHECK(injWritten);
  // The call is remembered for job attribution; the proxy-mode server has no token to renew.
  const auto called = f.service->CallFilter().ServersCalledWithin(InjectService::kJobAttributionWindow);
  CHECK(called == std::vector<std::string>{"inj"});
  CHECK(f.Outcome("POST", "/dicom-web/servers/px/qido") == "allowed");
  CHECK(f.service->CallFilter().ServersCalledWithin(InjectService::kJobAttributionWindow).size() == 1);
}

TEST_CASE("InjectFilter: without a token the call is refused with the provider's code", "[service][inject]") {
  Fixture f;
  f.idp->failing = true;  // no token was ever cached
  f.service->Inject()->Start();
  const ClientVerdict v = f.Check("POST", "/dicom-web/servers/inj/get");
  CHECK_FALSE(v.allow);
  REQUIRE(v.refusal);
  CHECK(v.refusal->code.rfind("TOK-", 0) == 0);
  CHECK(v.refusal->message.find("inject-test-secret") == std::string::npos);
  CHECK(f.writer->Written().empty());
}

TEST_CASE("InjectFilter: a cached token keeps serving client calls while the IdP is down", "[service][inject]") {
  Fixture f;
  f.service->Inject()->Start();  // tokens cached and written
  f.idp->failing = true;
  CHECK(f.Outcome("POST", "/dicom-web/servers/inj/get") == "allowed");
}

TEST_CASE("InjectFilter: the client-stage rate limit refuses with PXY-015 once a server's budget is used", "[service][inject][ratelimit]") {
  Fixture f(R"("RateLimitRequests": 2, "RateLimitWindowSeconds": 3600)");
  // A call the policies refuse takes nothing from the budget.
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/stow") == "POL-010");
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/qido") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/ro/get") == "allowed");
  const ClientVerdict over = f.Check("POST", "/dicom-web/servers/ro/qido");
  CHECK_FALSE(over.allow);
  REQUIRE(over.refusal);
  CHECK(over.refusal->code == "PXY-015");
  CHECK(over.refusal->httpStatus == 429);  // logged as "HTTP 429 answered as 403"
  // Every server has its own budget; a proxy-mode server without policies meets it here too.
  CHECK(f.Outcome("POST", "/dicom-web/servers/px/qido") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/px/qido") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/px/qido/") == "PXY-015");
  // Calls that are no client call are not counted.
  CHECK(f.Outcome("GET", "/dicom-web/servers/inj") == "allowed");
  CHECK(f.Outcome("POST", "/dicom-web/servers/inj/get") == "allowed");
}

TEST_CASE("InjectFilter: the probe user reaches the health routes only", "[service][inject][health]") {
  Fixture f(R"("Health": {"ProbeUser": "probe"})", R"("AuthenticationEnabled": true, "RegisteredUsers": {"probe": "pw"})");
  const gw::http::Headers probe = {{"authorization", "Basic cHJvYmU6cHc="}};  // probe:pw
  CHECK(f.Outcome("GET", "/dicomweb-oauth/health/ready", probe) == "allowed");
  CHECK(f.Outcome("GET", "/dicomweb-oauth/health/live/", probe) == "allowed");
  CHECK(f.Outcome("POST", "/dicomweb-oauth/health/ready", probe) == "GW-403");
  CHECK(f.Outcome("GET", "/instances", probe) == "GW-403");
  CHECK(f.Outcome("POST", "/dicom-web/servers/inj/get", probe) == "GW-403");
  // Another user is not confined.
  CHECK(f.Outcome("GET", "/instances", {{"authorization", "Basic YWRtaW46cHc="}}) == "allowed");  // admin:pw
}

TEST_CASE("InjectFilter: the caller's user is trusted only when Orthanc checked it", "[service][inject][policy]") {
  const gw::http::Headers admin = {{"Authorization", "Basic YWRtaW46cHc="}};  // admin:pw
  {
    Fixture f;
    CHECK(f.service->CallFilter().TrustedUser(admin).empty());
  }
  Fixture f("", R"("AuthenticationEnabled": true, "RegisteredUsers": {"admin": "pw"})");
  CHECK(f.service->CallFilter().TrustedUser(admin) == "admin");
  CHECK(f.service->CallFilter().TrustedUser({{"authorization", "Basic !!!"}}).empty());
  CHECK(f.service->CallFilter().TrustedUser({{"authorization", "Bearer abc"}}).empty());
}
