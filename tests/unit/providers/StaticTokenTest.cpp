// lua/providers/static_token.lua: the configured Token handed out as is, with the JWT exp as
// lifetime when there is one; never an expired token.
#include "GoogleTestSupport.h"

using namespace gw::providers::test;

TEST_CASE("StaticToken/an opaque token lives a day", "[providers][static]") {
  ScriptRig rig({"static_token"});
  auto r = rig.Acquire("static_token", R"({"ProviderType":"static","Token":"opaque-static-token-1"})");
  INFO((r.Ok() ? ToJson(r.Value()) : r.GetError().ToString()));
  REQUIRE(r.Ok());
  CHECK(std::string(r.Value()["access_token"].GetString()) == "opaque-static-token-1");
  CHECK(std::string(r.Value()["token_type"].GetString()) == "Bearer");
  CHECK(r.Value()["expires_in"].GetDouble() == 86400);
  CHECK(rig.Http().Count() == 0);
  rig.RequireBalanced();
}

TEST_CASE("StaticToken/a JWT lives until its exp, an expired one is refused", "[providers][static]") {
  ScriptRig rig({"static_token"});
  const std::string live = UnsignedJwt(UnixNow() + 600);
  auto r = rig.Acquire("static_token", "{\"Token\":" + Quote(live) + "}");
  REQUIRE(r.Ok());
  CHECK(std::string(r.Value()["access_token"].GetString()) == live);
  CHECK(r.Value()["expires_in"].GetDouble() > 590);
  CHECK(r.Value()["expires_in"].GetDouble() <= 600);

  auto expired = rig.Acquire("static_token", "{\"Token\":" + Quote(UnsignedJwt(UnixNow() - 5)) + "}");
  REQUIRE(ErrorCode(expired) == "TOK-004");
  CHECK(expired.GetError().message.find("expired") != std::string::npos);
}

TEST_CASE("StaticToken/missing or malformed Token", "[providers][static]") {
  ScriptRig rig({"static_token"});
  CHECK(ErrorCode(rig.Acquire("static_token", R"({"ProviderType":"static"})")) == "CFG-001");
  CHECK(ErrorCode(rig.Acquire("static_token", R"({"Token":""})")) == "CFG-001");
  auto spaced = rig.Acquire("static_token", R"({"Token":"two words"})");
  REQUIRE(ErrorCode(spaced) == "CFG-002");
  CHECK(spaced.GetError().message.find("two words") == std::string::npos);
}
