// The decision table is validated strictly: anything the gateway does not understand denies.
#include "PolicyTestSupport.h"
#include "gw/policy/DecisionParser.h"

using gw::policy::DecisionParser;
using gw::policy::test::ParseJson;
using gw::policy::test::RequestData;

namespace {

gw::Result<gw::policy::Decision> ParseText(const char* text) {
  RequestData data;
  data.targets = {{"primary", true}, {"secondary", true}};
  auto doc = ParseJson(text);
  return DecisionParser::Parse(doc, data.View());
}

std::string CodeOf(const char* text) {
  auto r = ParseText(text);
  return r.Ok() ? std::string("ok") : r.GetError().code;
}

}  // namespace

TEST_CASE("DecisionParser/allow", "[policy]") {
  auto r = ParseText(R"({"allow": true})");
  REQUIRE(r.Ok());
  CHECK(r.Value().allow);
  CHECK(r.Value().target.empty());
  CHECK(r.Value().minTokenSeconds.count() == 0);

  auto full = ParseText(R"({"allow": true, "target": "secondary", "reason": "failover",
                            "set_headers": {"X-Tenant": "radiology"}, "remove_headers": ["Accept-Language"],
                            "min_token_seconds": 900})");
  REQUIRE(full.Ok());
  CHECK(full.Value().target == "secondary");
  CHECK(full.Value().reason == "failover");
  REQUIRE(full.Value().setHeaders.size() == 1);
  CHECK(full.Value().setHeaders[0].first == "x-tenant");
  CHECK(full.Value().setHeaders[0].second == "radiology");
  REQUIRE(full.Value().removeHeaders.size() == 1);
  CHECK(full.Value().removeHeaders[0] == "accept-language");
  CHECK(full.Value().minTokenSeconds.count() == 900);

  // An empty Lua table comes back as {}: accepted as an empty list.
  CHECK(CodeOf(R"({"allow": true, "remove_headers": {}})") == "ok");
}

TEST_CASE("DecisionParser/deny", "[policy]") {
  auto plain = ParseText(R"({"allow": false})");
  REQUIRE(plain.Ok());
  CHECK_FALSE(plain.Value().allow);
  CHECK(plain.Value().status == 403);
  CHECK(plain.Value().code == "POL-001");
  CHECK_FALSE(plain.Value().reason.empty());

  auto own = ParseText(R"({"allow": false, "status": 451, "code": "LEGAL-451", "reason": "embargo"})");
  REQUIRE(own.Ok());
  CHECK(own.Value().status == 451);
  CHECK(own.Value().code == "LEGAL-451");
  CHECK(own.Value().reason == "embargo");
}

TEST_CASE("DecisionParser/fails closed on anything unexpected", "[policy]") {
  SECTION("not a table") { CHECK(CodeOf(R"(true)") == "POL-003"); }
  SECTION("allow missing") { CHECK(CodeOf(R"({"target": "primary"})") == "POL-003"); }
  SECTION("allow not boolean") { CHECK(CodeOf(R"({"allow": "yes"})") == "POL-003"); }
  SECTION("allow as 1") { CHECK(CodeOf(R"({"allow": 1})") == "POL-003"); }
  SECTION("unknown field (typo)") { CHECK(CodeOf(R"({"allow": true, "taget": "secondary"})") == "POL-003"); }
  SECTION("status out of range") { CHECK(CodeOf(R"({"allow": false, "status": 200})") == "POL-003"); }
  SECTION("status as string") { CHECK(CodeOf(R"({"allow": false, "status": "403"})") == "POL-003"); }
  SECTION("status with allow") { CHECK(CodeOf(R"({"allow": true, "status": 403})") == "POL-003"); }
  SECTION("code with allow") { CHECK(CodeOf(R"({"allow": true, "code": "POL-001"})") == "POL-003"); }
  SECTION("malformed code") { CHECK(CodeOf(R"({"allow": false, "code": "pol-1"})") == "POL-003"); }
  SECTION("reason with a line break") { CHECK(CodeOf(R"({"allow": false, "reason": "a\nb"})") == "POL-003"); }
  SECTION("reason too long") {
    const std::string text = R"({"allow": false, "reason": ")" + std::string(513, 'x') + R"("})";
    CHECK(CodeOf(text.c_str()) == "POL-003");
  }
  SECTION("target not a string") { CHECK(CodeOf(R"({"allow": true, "target": 1})") == "POL-003"); }
  SECTION("target unknown") { CHECK(CodeOf(R"({"allow": true, "target": "tertiary"})") == "POL-004"); }
  SECTION("min_token_seconds negative") { CHECK(CodeOf(R"({"allow": true, "min_token_seconds": -1})") == "POL-003"); }
  SECTION("min_token_seconds fractional") {
    CHECK(CodeOf(R"({"allow": true, "min_token_seconds": 1.5})") == "POL-003");
  }
  SECTION("min_token_seconds too large") {
    CHECK(CodeOf(R"({"allow": true, "min_token_seconds": 86401})") == "POL-003");
  }
  SECTION("set_headers not a table") { CHECK(CodeOf(R"({"allow": true, "set_headers": ["a"]})") == "POL-003"); }
  SECTION("set_headers value not a string") {
    CHECK(CodeOf(R"({"allow": true, "set_headers": {"X-A": 1}})") == "POL-003");
  }
  SECTION("set_headers name not a token") {
    CHECK(CodeOf(R"({"allow": true, "set_headers": {"X A": "1"}})") == "POL-003");
  }
  SECTION("set_headers Authorization") {
    CHECK(CodeOf(R"({"allow": true, "set_headers": {"Authorization": "Bearer x"}})") == "POL-005");
  }
  SECTION("set_headers the loopback secret") {
    CHECK(CodeOf(R"({"allow": true, "set_headers": {"X-DicomWeb-OAuth-Gateway": "x"}})") == "POL-005");
  }
  SECTION("set_headers Host") { CHECK(CodeOf(R"({"allow": true, "set_headers": {"host": "evil"}})") == "POL-005"); }
  SECTION("set_headers value with CR LF") {
    CHECK(CodeOf(R"({"allow": true, "set_headers": {"X-A": "1\r\nX-B: 2"}})") == "POL-005");
  }
  SECTION("remove_headers Content-Length") {
    CHECK(CodeOf(R"({"allow": true, "remove_headers": ["Content-Length"]})") == "POL-005");
  }
  SECTION("remove_headers entry not a string") {
    CHECK(CodeOf(R"({"allow": true, "remove_headers": [true]})") == "POL-003");
  }
  SECTION("every failure is a 500") {
    auto r = ParseText(R"({"allow": true, "extra": 1})");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().httpStatus == 500);
  }
}
