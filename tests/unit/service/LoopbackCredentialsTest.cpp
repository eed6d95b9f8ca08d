#include "config/ConfigTestSupport.h"
#include "gw/service/LoopbackCredentials.h"

using namespace gw::config;
using namespace gw::config::test;
using gw::service::CheckLoopbackCredentials;

namespace {

const std::string kPath = "DicomWebOAuth.Servers.s.Username";

// The warnings for one proxy-mode server (`serverExtra` added to it) in an Orthanc configuration
// with `root` (top-level keys, e.g. AuthenticationEnabled).
std::vector<Diagnostic> Check(const std::string& root, const std::string& serverExtra = "") {
  const std::string extra = std::string(R"("Mode": "proxy")") + (serverExtra.empty() ? "" : ", " + serverExtra);
  const ParseResult r = ParseJson(WithServer(BaseServer(extra), "", root));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  return CheckLoopbackCredentials(*r.config);
}

}  // namespace

TEST_CASE("LoopbackCredentials/authentication on and no Orthanc user: CFG-008 says what to add", "[service]") {
  const auto warnings = Check(R"("AuthenticationEnabled": true, "RegisteredUsers": {"alice": "alice-pw"})");
  REQUIRE(warnings.size() == 1);
  const Diagnostic& d = warnings.front();
  CHECK(d.severity == Severity::Warning);
  CHECK(d.code == "CFG-008");
  CHECK(d.path == kPath);
  CHECK(d.message.find("AuthenticationEnabled is true") != std::string::npos);
  CHECK(d.message.find("401") != std::string::npos);
  CHECK(d.message.find("add \"Username\" and \"Password\"") != std::string::npos);
  CHECK(d.message.find("DicomWebOAuth.Servers.s") != std::string::npos);
  CHECK(d.message.find("alice-pw") == std::string::npos);
}

TEST_CASE("LoopbackCredentials/Orthanc's default: RemoteAccessAllowed turns authentication on", "[service]") {
  const auto warnings = Check(R"("RemoteAccessAllowed": true)");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings.front().message.find("RemoteAccessAllowed is true") != std::string::npos);
  CHECK(Check(R"("RemoteAccessAllowed": false)").empty());
  CHECK(Check(R"("AuthenticationEnabled": false, "RemoteAccessAllowed": true)").empty());
  CHECK(Check("").empty());  // neither given: Orthanc's defaults, no authentication
}

TEST_CASE("LoopbackCredentials/a usable Orthanc user: no warning", "[service]") {
  const std::string auth = R"("AuthenticationEnabled": true, "RegisteredUsers": {"alice": "alice-pw"})";
  SECTION("in DicomWebOAuth.Servers") {
    CHECK(Check(auth, R"("Username": "alice", "Password": "alice-pw")").empty());
  }
  SECTION("in a DicomWeb.Servers entry that already points at the route (Python plugin set-up)") {
    const std::string root = auth + R"(, "DicomWeb": {"Servers": {"s": {
        "Url": "http://localhost:8042/oauth-dicom-web/servers/s/", "Username": "alice", "Password": "alice-pw"}}})";
    CHECK(Check(root).empty());
  }
  SECTION("a DicomWeb.Servers entry elsewhere does not count: the gateway replaces it") {
    const std::string root = auth + R"(, "DicomWeb": {"Servers": {"s": {
        "Url": "https://elsewhere.example.com/", "Username": "alice", "Password": "alice-pw"}}})";
    CHECK(Check(root).size() == 1);
  }
}

TEST_CASE("LoopbackCredentials/a user that is not in RegisteredUsers", "[service]") {
  const auto warnings = Check(R"("AuthenticationEnabled": true, "RegisteredUsers": {"alice": "alice-pw"})",
                              R"("Username": "bob", "Password": "bob-secret-pw")");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings.front().code == "CFG-008");
  CHECK(warnings.front().message.find("`bob`") != std::string::npos);
  CHECK(warnings.front().message.find("bob-secret-pw") == std::string::npos);
}

TEST_CASE("LoopbackCredentials/inject mode has no loopback route: no warning", "[service]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("Mode": "inject")"), "", R"("AuthenticationEnabled": true)"));
  REQUIRE(r.Ok());
  CHECK(CheckLoopbackCredentials(*r.config).empty());
}
