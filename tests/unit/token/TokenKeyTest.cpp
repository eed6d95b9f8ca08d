#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "gw/token/TokenKey.h"

using namespace gw::token;

TEST_CASE("TokenKey/key from provider, identity hash and scope", "[key]") {
  const std::string a = MakeTokenKey("client_credentials", "id=app1;secret=s3cr3t-value", "dicom.read");
  SECTION("deterministic, readable prefix, no secret inside") {
    CHECK(a == MakeTokenKey("client_credentials", "id=app1;secret=s3cr3t-value", "dicom.read"));
    CHECK(a.rfind("client_credentials:", 0) == 0);
    CHECK(a.size() == std::string("client_credentials:").size() + 64);
    CHECK(a.find("s3cr3t") == std::string::npos);
  }
  SECTION("every part matters") {
    CHECK(a != MakeTokenKey("azure", "id=app1;secret=s3cr3t-value", "dicom.read"));
    CHECK(a != MakeTokenKey("client_credentials", "id=app1;secret=other-secret", "dicom.read"));
    CHECK(a != MakeTokenKey("client_credentials", "id=app1;secret=s3cr3t-value", "dicom.write"));
    CHECK(a != MakeTokenKey("client_credentials", "id=app1;secret=s3cr3t-value", "dicom.read", "https://r"));
  }
  SECTION("parts are length-prefixed: moving a boundary changes the key") {
    CHECK(MakeTokenKey("p", "ab", "c") != MakeTokenKey("p", "a", "bc"));
    CHECK(MakeTokenKey("p", "", "x", "") != MakeTokenKey("p", "", "", "x"));
  }
}

TEST_CASE("TokenKey/canonical JSON ignores member order", "[key]") {
  rapidjson::Document d1, d2, d3;
  d1.Parse(R"({"ClientId":"app","TenantId":"t","Nested":{"b":1,"a":[2,{"z":1,"y":2}]}})");
  d2.Parse(R"({"Nested":{"a":[2,{"y":2,"z":1}],"b":1},"TenantId":"t","ClientId":"app"})");
  d3.Parse(R"({"Nested":{"a":[{"y":2,"z":1},2],"b":1},"TenantId":"t","ClientId":"app"})");
  REQUIRE(!d1.HasParseError());
  CHECK(CanonicalJson(d1) == R"({"ClientId":"app","Nested":{"a":[2,{"y":2,"z":1}],"b":1},"TenantId":"t"})");
  CHECK(CanonicalJson(d1) == CanonicalJson(d2));
  CHECK(MakeTokenKey("p", d1, "s") == MakeTokenKey("p", d2, "s"));
  CHECK(MakeTokenKey("p", d1, "s") != MakeTokenKey("p", d3, "s"));  // array order is meaningful
}
