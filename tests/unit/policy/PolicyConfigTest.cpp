// Policies, Targets, PolicyConfig and FailoverCooldownSeconds in the configuration, and the check
// that every named policy is in the script snapshot.
#include "config/ConfigTestSupport.h"
#include "gw/policy/PolicyScripts.h"

using namespace gw::config;
using namespace gw::config::test;

TEST_CASE("PolicyConfig/defaults: no policies, the Url is the primary target", "[policy]") {
  auto r = ParseJson(WithServer(BaseServer()));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  const auto& s = r.config->servers.at("s");
  CHECK(s.policies.empty());
  REQUIRE(s.targets.size() == 1);
  CHECK(s.targets[0].name == "primary");
  CHECK(s.targets[0].url == s.url);
  CHECK(s.failoverCooldownSeconds == 30);
  CHECK(r.config->global.policyTimeoutMs == 100);
}

TEST_CASE("PolicyConfig/global default list and per-server list", "[policy]") {
  auto r = ParseJson(WithServer(BaseServer(R"("PolicyConfig": {"AllowedUsers": ["alice"]})"),
                                R"("Policies": ["read_only"], "PolicyTimeoutMs": 50)"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.config->servers.at("s").policies == std::vector<std::string>{"read_only"});
  CHECK_FALSE(r.config->servers.at("s").policiesExplicit);
  CHECK(r.config->global.policyTimeoutMs == 50);
  REQUIRE(r.config->servers.at("s").policyConfig);
  CHECK((*r.config->servers.at("s").policyConfig)["AllowedUsers"][0] == "alice");

  auto own = ParseJson(WithServer(BaseServer(R"("Policies": ["user_server_acl", "failover"])"),
                                  R"("Policies": ["read_only"])"));
  REQUIRE(own.Ok());
  CHECK(own.config->servers.at("s").policies == std::vector<std::string>{"user_server_acl", "failover"});
  // An explicit empty list turns the default off for that server.
  auto none = ParseJson(WithServer(BaseServer(R"("Policies": [])"), R"("Policies": ["read_only"])"));
  REQUIRE(none.Ok());
  CHECK(none.config->servers.at("s").policies.empty());
}

TEST_CASE("PolicyConfig/Targets", "[policy]") {
  const std::string targets =
      R"("Mode": "proxy", "Targets": [{"Name": "primary", "Url": "https://dicom.example.com/v2/"},
                                      {"Name": "dr-site", "Url": "https://dr.example.com/v2/"}],
         "FailoverCooldownSeconds": 5)";
  auto r = ParseJson(WithServer(BaseServer(targets)));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  const auto& s = r.config->servers.at("s");
  REQUIRE(s.targets.size() == 2);
  CHECK(s.targets[1].name == "dr-site");
  CHECK(s.targets[1].url == "https://dr.example.com/v2/");
  CHECK(s.failoverCooldownSeconds == 5);

  SECTION("Url may be left out: the first target is the primary") {
    auto noUrl = ParseJson(WithServer(
        R"({"TokenEndpoint": "https://idp.example.com/token", "ClientId": "a", "ClientSecret": "b", "Mode": "proxy",
            "Targets": [{"Name": "a", "Url": "https://a.example.com/"}, {"Name": "b", "Url": "https://b.example.com/"}]})"));
    INFO(Dump(noUrl.diagnostics));
    REQUIRE(noUrl.Ok());
    CHECK(noUrl.config->servers.at("s").url == "https://a.example.com/");
  }
  SECTION("errors") {
    auto check = [](const std::string& extra, const std::string& code, const std::string& path) {
      auto bad = ParseJson(WithServer(BaseServer(extra)));
      INFO(extra << "\n" << Dump(bad.diagnostics));
      CHECK_FALSE(bad.Ok());
      CHECK(Has(bad.diagnostics, code, path));
    };
    check(R"("Mode": "proxy", "Targets": [])", "CFG-002", "DicomWebOAuth.Servers.s.Targets");
    check(R"("Mode": "proxy", "Targets": [{"Name": "primary", "Url": "https://other.example.com/"}])", "CFG-002",
          "DicomWebOAuth.Servers.s.Targets");
    check(R"("Mode": "proxy", "Targets": [{"Name": "primary", "Url": "https://dicom.example.com/v2/"},
                                          {"Name": "primary", "Url": "https://b.example.com/"}])",
          "CFG-002", "DicomWebOAuth.Servers.s.Targets[1].Name");
    check(R"("Mode": "proxy", "Targets": [{"Name": "Primary!", "Url": "https://dicom.example.com/v2/"}])", "CFG-002",
          "DicomWebOAuth.Servers.s.Targets[0].Name");
    check(R"("Mode": "proxy", "Targets": [{"Name": "primary"}])", "CFG-001", "DicomWebOAuth.Servers.s.Targets[0].Url");
    check(R"("Mode": "proxy", "Targets": [{"Name": "primary", "Url": "ftp://x/"}])", "CFG-002",
          "DicomWebOAuth.Servers.s.Targets[0].Url");
    // The DICOMweb plugin talks to one Url itself in inject mode.
    check(R"("Mode": "inject", "Targets": [{"Name": "primary", "Url": "https://dicom.example.com/v2/"},
                                           {"Name": "b", "Url": "https://b.example.com/"}])",
          "CFG-002", "DicomWebOAuth.Servers.s.Targets");
    check(R"("Policies": "read_only")", "CFG-002", "DicomWebOAuth.Servers.s.Policies");
    check(R"("Policies": ["read only"])", "CFG-002", "DicomWebOAuth.Servers.s.Policies[0]");
    check(R"("PolicyConfig": [1])", "CFG-002", "DicomWebOAuth.Servers.s.PolicyConfig");
    check(R"("FailoverCooldownSeconds": 0)", "CFG-002", "DicomWebOAuth.Servers.s.FailoverCooldownSeconds");
  }
}

TEST_CASE("PolicyConfig/named policies must be policy scripts", "[policy]") {
  auto r = ParseJson(WithServer(BaseServer(R"("Policies": ["read_only", "client_credentials", "gone"])"),
                                R"("Policies": ["failover", "missing_default"])"));
  REQUIRE(r.Ok());
  const std::map<std::string, std::string> scripts = {
      {"read_only", "policy"}, {"failover", "policy"}, {"client_credentials", "provider"}};
  const auto problems = gw::policy::VerifyPolicyScripts(*r.config, scripts);
  INFO(Dump(problems));
  CHECK(problems.size() == 3);
  CHECK(Has(problems, "CFG-002", "DicomWebOAuth.Policies[1]"));
  CHECK(Has(problems, "CFG-002", "DicomWebOAuth.Servers.s.Policies[1]"));
  CHECK(Has(problems, "CFG-002", "DicomWebOAuth.Servers.s.Policies[2]"));
  CHECK(gw::policy::VerifyPolicyScripts(*r.config, {{"read_only", "policy"}, {"failover", "policy"},
                                                    {"client_credentials", "policy"}, {"gone", "policy"},
                                                    {"missing_default", "policy"}})
            .empty());
}
