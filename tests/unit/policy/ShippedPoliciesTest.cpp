// The shipped policies of lua/policies/routing/, each through the real ScriptEngine and the
// PolicyEngine exactly as the gateway calls them.
#include "PolicyTestSupport.h"

using gw::policy::Decision;
using gw::policy::PolicyEngine;
using gw::policy::Stage;
using gw::policy::test::LoadEngine;
using gw::policy::test::PolicyFolder;
using gw::policy::test::RequestData;

namespace {

struct Fixture {
  PolicyFolder folder;
  std::unique_ptr<gw::lua::ScriptEngine> engine = LoadEngine(folder);
  PolicyEngine policies{*engine};

  Decision Run(const std::string& policy, const RequestData& data) { return policies.Decide({policy}, data.View()); }
};

}  // namespace

TEST_CASE("ShippedPolicies/all load with their self tests", "[policy]") {
  Fixture f;
  const auto info = f.engine->CurrentInfo();
  for (const auto& name : gw::policy::test::ShippedPolicies()) {
    bool found = false;
    for (const auto& s : info.scripts) found = found || (s.name == name && s.kind == "policy");
    CHECK(found);
  }
}

TEST_CASE("ShippedPolicies/default_routing", "[policy]") {
  Fixture f;
  RequestData data;
  data.targets = {{"primary", false}, {"secondary", true}};
  const auto d = f.Run("default_routing", data);
  REQUIRE(d.allow);
  CHECK(d.target == "primary");  // health does not matter to the default routing
}

TEST_CASE("ShippedPolicies/failover", "[policy]") {
  Fixture f;
  RequestData data;
  SECTION("primary healthy") {
    data.targets = {{"primary", true}, {"secondary", true}};
    CHECK(f.Run("failover", data).target == "primary");
  }
  SECTION("primary down") {
    data.targets = {{"primary", false}, {"secondary", true}};
    const auto d = f.Run("failover", data);
    REQUIRE(d.allow);
    CHECK(d.target == "secondary");
    CHECK(d.reason.find("failover") != std::string::npos);
  }
  SECTION("everything down: the primary is probed") {
    data.targets = {{"primary", false}, {"secondary", false}};
    const auto d = f.Run("failover", data);
    REQUIRE(d.allow);
    CHECK(d.target == "primary");
  }
}

TEST_CASE("ShippedPolicies/read_only", "[policy]") {
  Fixture f;
  RequestData data;
  SECTION("upstream GET (QIDO, WADO) allowed") {
    data.method = "GET";
    CHECK(f.Run("read_only", data).allow);
  }
  SECTION("upstream POST (STOW) refused") {
    data.method = "POST";
    const auto d = f.Run("read_only", data);
    CHECK_FALSE(d.allow);
    CHECK(d.status == 403);
    CHECK(d.code == "POL-010");
    CHECK(d.reason.find("read-only") != std::string::npos);
    CHECK(d.reason.find("STOW") != std::string::npos);
  }
  SECTION("upstream DELETE refused") {
    data.method = "DELETE";
    CHECK(f.Run("read_only", data).code == "POL-010");
  }
  SECTION("client stage") {
    data.stage = Stage::Client;
    data.method = "POST";
    for (const char* op : {"stow", "delete", "post"}) {
      data.operation = op;
      CHECK_FALSE(f.Run("read_only", data).allow);
    }
    for (const char* op : {"qido", "get", "retrieve", "wado"}) {
      data.operation = op;
      CHECK(f.Run("read_only", data).allow);
    }
  }
}

TEST_CASE("ShippedPolicies/no_authorization_override", "[policy]") {
  Fixture f;
  RequestData data;
  data.method = "POST";
  data.authorization = "expected";
  CHECK(f.Run("no_authorization_override", data).allow);
  data.authorization = "none";
  CHECK(f.Run("no_authorization_override", data).allow);
  data.authorization = "other";
  const auto d = f.Run("no_authorization_override", data);
  CHECK_FALSE(d.allow);
  CHECK(d.status == 403);
  CHECK(d.code == "POL-011");
  // The client stage cannot see the override (it is in the request body): allowed.
  data.stage = Stage::Client;
  data.authorization = "";
  CHECK(f.Run("no_authorization_override", data).allow);
}

TEST_CASE("ShippedPolicies/user_server_acl", "[policy]") {
  Fixture f;
  RequestData data;
  data.stage = Stage::Client;
  data.mode = "inject";
  data.method = "POST";
  data.operation = "stow";
  data.config.Parse(R"({"AllowedUsers": ["alice", "carol"]})");
  SECTION("listed user") {
    data.user = "alice";
    CHECK(f.Run("user_server_acl", data).allow);
  }
  SECTION("other user") {
    data.user = "bob";
    const auto d = f.Run("user_server_acl", data);
    CHECK_FALSE(d.allow);
    CHECK(d.status == 403);
    CHECK(d.code == "POL-013");
    CHECK(d.reason.find("bob") != std::string::npos);
  }
  SECTION("no user (authentication off): refused") {
    const auto d = f.Run("user_server_acl", data);
    CHECK_FALSE(d.allow);
    CHECK(d.status == 403);
  }
  SECTION("no AllowedUsers: everybody refused") {
    data.config.Parse(R"({})");
    data.user = "alice";
    const auto d = f.Run("user_server_acl", data);
    CHECK_FALSE(d.allow);
    CHECK(d.status == 500);
    CHECK(d.code == "POL-012");
  }
  SECTION("malformed AllowedUsers: everybody refused") {
    data.config.Parse(R"({"AllowedUsers": "alice"})");
    data.user = "alice";
    CHECK_FALSE(f.Run("user_server_acl", data).allow);
  }
  SECTION("no PolicyConfig at all") {
    data.config.SetNull();
    data.user = "alice";
    CHECK_FALSE(f.Run("user_server_acl", data).allow);
  }
  SECTION("upstream stage: checked at the client stage, allowed") {
    data.stage = Stage::Upstream;
    CHECK(f.Run("user_server_acl", data).allow);
  }
}

TEST_CASE("ShippedPolicies/read_only after failover: a chain", "[policy]") {
  Fixture f;
  RequestData data;
  data.targets = {{"primary", false}, {"secondary", true}};
  data.method = "GET";
  const auto ok = f.policies.Decide({"failover", "read_only"}, data.View());
  REQUIRE(ok.allow);
  CHECK(ok.target == "secondary");
  data.method = "POST";
  const auto denied = f.policies.Decide({"failover", "read_only"}, data.View());
  CHECK_FALSE(denied.allow);
  CHECK(denied.policy == "read_only");
}
