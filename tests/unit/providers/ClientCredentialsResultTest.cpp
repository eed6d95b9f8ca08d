// The answer side of lua/providers/client_credentials.lua, run for real in the script engine:
// how token endpoint answers map to a token table or to an error code (AUTH-001 never retried,
// AUTH-002, AUTH-005 retried, TOK-004, NET-xxx kept), that the IdP's own words reach the message,
// and that the client secret never appears in any error. The last cases go through
// service::LuaTokenSource, which turns the table into the cached TokenRecord and verifies JWTs.
#include <cmath>

#include "ProviderTestSupport.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Jws.h"
#include "gw/service/LuaTokenSource.h"
#include "gw/token/SystemClock.h"

using namespace gw::providers::test;

namespace {

const std::string kEndpoint = "https://idp.example.test/oauth2/token";
const std::string kSecret = "result-secret-5d21-c0ffee";

std::string PostConfig() {
  return "{\"TokenEndpoint\":" + Quote(kEndpoint) + ",\"ClientId\":\"gw\",\"ClientSecret\":" + Quote(kSecret) + "}";
}
std::string BasicConfig() {
  return "{\"TokenEndpoint\":" + Quote(kEndpoint) +
         ",\"ClientId\":\"gw\",\"ClientAuthMethod\":\"client_secret_basic\",\"ClientSecret\":" + Quote(kSecret) + "}";
}

gw::Result<rapidjson::Document> AcquireWith(ProviderRig& rig, long status, const std::string& body,
                                        const std::string& config = PostConfig()) {
  rig.Http().Answer(status, body);
  auto r = rig.Acquire(config);
  rig.RequireBalanced();
  return r;
}

// A JWT signed with the fixture RSA key, with the given claims (JSON object text).
std::string SignedJwt(const std::string& claims) {
  auto key = gw::crypto::AsymmetricKey::FromPrivatePem(ReadFile(CryptoFixture("rsa-pkcs8.pem")));
  if (!key.Ok()) throw std::runtime_error("fixture key: " + key.GetError().ToString());
  auto jwt = gw::crypto::SignJwt("{\"typ\":\"at+jwt\"}", claims,
                                 gw::crypto::JwsKey::Asymmetric(std::move(key).Value(), "idp-key"));
  if (!jwt.Ok()) throw std::runtime_error("sign: " + jwt.GetError().ToString());
  return jwt.Value();
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("ClientCredentials/a bearer token with its lifetime", "[providers]") {
  ProviderRig rig;
  SECTION("expires_in as a number") {
    auto r = AcquireWith(rig, 200, R"({"access_token":"tok-1","token_type":"Bearer","expires_in":3600,"scope":"a b"})");
    REQUIRE(r.Ok());
    const auto& v = r.Value();
    CHECK(std::string(v["access_token"].GetString()) == "tok-1");
    CHECK(std::string(v["token_type"].GetString()) == "Bearer");
    CHECK(v["expires_in"].GetDouble() == 3600);
    CHECK(std::string(v["scope"].GetString()) == "a b");
    CHECK_FALSE(v.HasMember("refresh_in"));
  }
  SECTION("expires_in as a string (Entra v1 and others)") {
    auto r = AcquireWith(rig, 200, R"({"access_token":"tok-2","token_type":"Bearer","expires_in":"3599"})");
    REQUIRE(r.Ok());
    CHECK(r.Value()["expires_in"].GetDouble() == 3599);
  }
  SECTION("token_type in lower case is normalised; a missing one is taken as Bearer") {
    auto lower = AcquireWith(rig, 200, R"({"access_token":"tok-3","token_type":"bearer","expires_in":60})");
    REQUIRE(lower.Ok());
    CHECK(std::string(lower.Value()["token_type"].GetString()) == "Bearer");
    auto missing = AcquireWith(rig, 200, R"({"access_token":"tok-4","expires_in":60})");
    REQUIRE(missing.Ok());
    CHECK(std::string(missing.Value()["token_type"].GetString()) == "Bearer");
  }
  SECTION("refresh_in passes through") {
    auto r = AcquireWith(rig, 200, R"({"access_token":"tok-5","token_type":"Bearer","expires_in":3600,"refresh_in":1800})");
    REQUIRE(r.Ok());
    CHECK(r.Value()["refresh_in"].GetDouble() == 1800);
  }
  SECTION("no expires_in: the JWT's exp decides") {
    const std::string jwt = SignedJwt("{\"exp\":" + std::to_string(UnixNow() + 1234) + ",\"sub\":\"gw\"}");
    auto r = AcquireWith(rig, 200, "{\"access_token\":" + Quote(jwt) + ",\"token_type\":\"Bearer\"}");
    REQUIRE(r.Ok());
    const double lifetime = r.Value()["expires_in"].GetDouble();
    CHECK(lifetime > 1228);
    CHECK(lifetime <= 1234);
  }
  SECTION("no expires_in and an opaque token: 300 s") {
    auto r = AcquireWith(rig, 200, R"({"access_token":"opaque","token_type":"Bearer"})");
    REQUIRE(r.Ok());
    CHECK(r.Value()["expires_in"].GetDouble() == 300);
  }
  SECTION("an unusable expires_in falls back to the JWT's exp") {
    const std::string jwt = SignedJwt("{\"exp\":" + std::to_string(UnixNow() + 600) + "}");
    auto r = AcquireWith(rig, 200, "{\"access_token\":" + Quote(jwt) + ",\"expires_in\":\"soon\"}");
    REQUIRE(r.Ok());
    CHECK(r.Value()["expires_in"].GetDouble() > 594);
    CHECK(r.Value()["expires_in"].GetDouble() <= 600);
  }
}

TEST_CASE("ClientCredentials/2xx answers without a usable bearer token are TOK-004", "[providers]") {
  ProviderRig rig;
  const std::vector<std::pair<long, std::string>> answers = {
      {200, R"({"token_type":"Bearer","expires_in":3600})"},
      {200, R"({"access_token":"","token_type":"Bearer","expires_in":3600})"},
      {200, R"({"access_token":42,"expires_in":3600})"},
      {200, "<html>maintenance</html>"},
      {200, ""},
      {204, ""},
      {200, R"({"access_token":"tok","token_type":"MAC","expires_in":3600})"},
      {200, R"({"access_token":"tok","token_type":"DPoP","expires_in":3600})"},
  };
  for (const auto& [status, body] : answers) {
    auto r = AcquireWith(rig, status, body);
    INFO(status << " " << body);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-004");
    CHECK(r.GetError().httpStatus == 502);
  }
  auto mac = AcquireWith(rig, 200, R"({"access_token":"tok","token_type":"MAC"})");
  CHECK(Contains(mac.GetError().message, "MAC"));
}

TEST_CASE("ClientCredentials/IdP errors map to AUTH codes with the IdP's words", "[providers]") {
  ProviderRig rig;
  struct Case {
    long status;
    std::string body;
    std::string code;
    std::vector<std::string> inMessage;
  };
  const std::vector<Case> cases = {
      {401, R"({"error":"invalid_client","error_description":"client authentication failed"})", "AUTH-001",
       {"401", "invalid_client", "client authentication failed"}},
      {400, R"({"error":"invalid_client","error_description":"unknown client"})", "AUTH-001", {"invalid_client"}},
      {400, R"({"error":"invalid_grant","error_description":"grant revoked"})", "AUTH-001", {"grant revoked"}},
      {400, R"({"error":"invalid_scope","error_description":"requested scope is not allowed"})", "AUTH-001",
       {"invalid_scope", "requested scope is not allowed"}},
      {400, R"({"error":"unauthorized_client"})", "AUTH-001", {"unauthorized_client"}},
      {400, R"({"error":"invalid_target","error_description":"resource not allowed for this client"})", "AUTH-001",
       {"resource not allowed"}},
      {403, "", "AUTH-001", {"403"}},
      {401, "<html>nope</html>", "AUTH-001", {"401"}},
      {400, R"({"error":"invalid_request","error_description":"missing required parameter grant_type"})", "AUTH-002",
       {"400", "invalid_request", "missing required parameter grant_type"}},
      {404, "<html>not found</html>", "AUTH-002", {"404"}},
      {400, R"({"error":{"nested":true}})", "AUTH-002", {"400"}},
      {429, R"({"error":"slow_down"})", "AUTH-005", {"429", "slow_down"}},
      {503, R"({"error":"temporarily_unavailable","error_description":"fault injected by the test"})", "AUTH-005",
       {"503", "temporarily_unavailable", "fault injected by the test"}},
      {500, "<html>Internal Server Error</html>", "AUTH-005", {"500"}},
      {502, "", "AUTH-005", {"502"}},
  };
  for (const std::string& config : {PostConfig(), BasicConfig()}) {
    for (const Case& c : cases) {
      auto r = AcquireWith(rig, c.status, c.body, config);
      INFO(c.status << " " << c.body);
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == c.code);
      CHECK(r.GetError().httpStatus == 503);
      for (const std::string& part : c.inMessage) CHECK(Contains(r.GetError().message, part));
      CHECK_FALSE(Contains(r.GetError().message, kSecret));
      CHECK_FALSE(Contains(r.GetError().message, "<html>"));
    }
  }
}

TEST_CASE("ClientCredentials/the secret never appears in an error, even when the IdP echoes it", "[providers]") {
  ProviderRig rig;
  for (const std::string& config : {PostConfig(), BasicConfig()}) {
    auto r = AcquireWith(rig, 401,
                         "{\"error\":\"invalid_client\",\"error_description\":\"bad secret " + kSecret + " for gw; " +
                             kSecret + "\"}",
                         config);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "AUTH-001");
    CHECK_FALSE(Contains(r.GetError().message, kSecret));
    CHECK(Contains(r.GetError().message, "bad secret *** for gw; ***"));
  }
  SECTION("in the error code field too") {
    auto r = AcquireWith(rig, 400, "{\"error\":" + Quote(kSecret) + "}");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "AUTH-002");
    CHECK_FALSE(Contains(r.GetError().message, kSecret));
  }
  SECTION("a very long description is cut") {
    auto r = AcquireWith(rig, 400, "{\"error\":\"invalid_request\",\"error_description\":\"" + std::string(5000, 'x') + "\"}");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().message.size() < 400);
    CHECK(Contains(r.GetError().message, "..."));
  }
}

TEST_CASE("ClientCredentials/transport errors keep their NET code", "[providers]") {
  ProviderRig rig;
  for (const std::string code : {"NET-001", "NET-002", "NET-003", "NET-006"}) {
    rig.Http().respond = [code](const gw::http::HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return gw::MakeError(code, "transport failure towards idp.example.test (" + code + ")");
    };
    auto r = rig.Acquire(PostConfig());
    INFO(code);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == code);
    CHECK(Contains(r.GetError().message, "idp.example.test"));
    CHECK_FALSE(Contains(r.GetError().message, kSecret));
  }
  rig.RequireBalanced();
}

// ---- through LuaTokenSource: the record the token engine caches ------------------------------------

namespace {

gw::config::ServerConfig ServerFor(const std::string& configJson) {
  gw::config::ServerConfig s;
  s.name = "cloud";
  s.tokenEndpoint = kEndpoint;
  auto raw = std::make_shared<rapidjson::Document>();
  raw->Parse(configJson.c_str());
  if (raw->HasParseError()) throw std::runtime_error("bad test JSON");
  s.raw = raw;
  return s;
}

gw::Result<gw::token::TokenRecord> FetchOnce(ProviderRig& rig, const gw::config::ServerConfig& server) {
  auto clock = gw::token::SystemClock::Instance();
  auto source = gw::service::LuaTokenSource::Create(rig.Engine(), server, "client_credentials", clock, rig.HttpPtr());
  if (!source.Ok()) return source.GetError();
  return source.Value()->Fetch(clock->SteadyNow() + std::chrono::seconds(5));
}

double SecondsUntil(gw::token::SteadyTime t) {
  return std::chrono::duration<double>(t - std::chrono::steady_clock::now()).count();
}

}  // namespace

TEST_CASE("ClientCredentials/LuaTokenSource turns the answer into a cached record", "[providers]") {
  ProviderRig rig;
  SECTION("expires_in string, scopes, token type, endpoint host") {
    rig.Http().Answer(200, R"({"access_token":"rec-tok","token_type":"bearer","expires_in":"3599","scope":"s1 s2"})");
    auto r = FetchOnce(rig, ServerFor(PostConfig()));
    REQUIRE(r.Ok());
    CHECK(r.Value().accessToken == "rec-tok");
    CHECK(r.Value().tokenType == "Bearer");
    CHECK(std::fabs(SecondsUntil(r.Value().expiresAt) - 3599) < 3);
    CHECK(r.Value().scopes == std::vector<std::string>{"s1", "s2"});
    CHECK(r.Value().provider == "client_credentials");
    CHECK(r.Value().metadata.at("tokenEndpointHost") == "idp.example.test");
  }
  SECTION("JWT without expires_in expires at its exp") {
    const std::string jwt = SignedJwt("{\"exp\":" + std::to_string(UnixNow() + 900) + "}");
    rig.Http().Answer(200, "{\"access_token\":" + Quote(jwt) + "}");
    auto r = FetchOnce(rig, ServerFor(PostConfig()));
    REQUIRE(r.Ok());
    CHECK(std::fabs(SecondsUntil(r.Value().expiresAt) - 900) < 3);
  }
  SECTION("Hardening: an absurd expires_in or refresh_in from the IdP is bounded, never overflows the clock") {
    rig.Http().Answer(200, R"({"access_token":"far-tok","token_type":"Bearer","expires_in":1e12,"refresh_in":"1e300"})");
    auto r = FetchOnce(rig, ServerFor(PostConfig()));
    INFO((r.Ok() ? "" : r.GetError().ToString()));
    REQUIRE(r.Ok());
    const double year = 366.0 * 24 * 3600;
    CHECK(std::fabs(SecondsUntil(r.Value().expiresAt) - year) < 3);
  }
  SECTION("the script's error code is kept") {
    rig.Http().Answer(401, R"({"error":"invalid_client","error_description":"client authentication failed"})");
    auto r = FetchOnce(rig, ServerFor(PostConfig()));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "AUTH-001");
    CHECK(Contains(r.GetError().message, "client authentication failed"));
  }
}

TEST_CASE("ClientCredentials/LuaTokenSource verifies JWT access tokens with JWTPublicKey", "[providers]") {
  ProviderRig rig;
  const std::string claims = "{\"iss\":\"https://idp.example.test\",\"aud\":\"urn:gw:dicom\",\"exp\":" +
                             std::to_string(UnixNow() + 600) + ",\"iat\":" + std::to_string(UnixNow()) + "}";
  const std::string jwt = SignedJwt(claims);
  rig.Http().Answer(200, "{\"access_token\":" + Quote(jwt) + ",\"token_type\":\"Bearer\",\"expires_in\":600}");
  auto server = ServerFor(PostConfig());
  server.jwtPublicKey = ReadFile(CryptoFixture("rsa-public.pem"));
  server.jwtIssuer = "https://idp.example.test";

  SECTION("right key, audience and issuer") {
    server.jwtAudience = "urn:gw:dicom";
    auto r = FetchOnce(rig, server);
    INFO((r.Ok() ? "" : r.GetError().ToString()));
    REQUIRE(r.Ok());
    CHECK(r.Value().accessToken == jwt);
  }
  SECTION("wrong audience: TOK-005, token not in the message") {
    server.jwtAudience = "urn:someone-else";
    auto r = FetchOnce(rig, server);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-005");
    CHECK(Contains(r.GetError().message, "aud"));
    CHECK_FALSE(Contains(r.GetError().message, jwt.substr(jwt.rfind('.') + 1)));
  }
  SECTION("wrong issuer: TOK-005") {
    server.jwtIssuer = "https://evil.example.test";
    auto r = FetchOnce(rig, server);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-005");
  }
  SECTION("another key: TOK-005") {
    server.jwtPublicKey = ReadFile(CryptoFixture("ec-public.pem"));
    auto r = FetchOnce(rig, server);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-005");
  }
  SECTION("an opaque token cannot pass validation") {
    rig.Http().Answer(200, R"({"access_token":"opaque-not-a-jwt","token_type":"Bearer","expires_in":600})");
    auto r = FetchOnce(rig, server);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "TOK-005");
    CHECK_FALSE(Contains(r.GetError().message, "opaque-not-a-jwt"));
  }
}
