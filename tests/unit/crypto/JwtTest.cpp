// JWT structure (strict decoding) and claim checks.
#include <catch2/catch.hpp>

#include "gw/crypto/Encoding.h"
#include "gw/crypto/Jws.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/Jwt.h"
#include "support/SmallStack.h"

using namespace gw::crypto;

namespace {

constexpr int64_t kNow = 1700000000;
const char* kSecret = "claims-test-secret-0123456789abcdef";

std::string Token(const std::string& claims) { return SignJwt("{}", claims, JwsKey::Hmac(kSecret)).Value(); }

ClaimChecks At(int64_t now) {
  ClaimChecks c;
  c.now = now;
  return c;
}

gw::Status Check(const std::string& claims, const ClaimChecks& checks) {
  auto r = VerifyJwtHmac(Token(claims), kSecret, checks);
  return r.Ok() ? gw::Status() : gw::Status(r.GetError());
}

std::string Exp(int64_t t) { return R"({"exp":)" + std::to_string(t) + "}"; }

}  // namespace

TEST_CASE("Jwt/decode strict structure", "[crypto][jwt]") {
  const std::string h = Base64UrlEncode(R"({"alg":"HS256","kid":"k1"})");
  const std::string p = Base64UrlEncode(R"({"sub":"x"})");
  const std::string s = Base64UrlEncode("sig");

  auto ok = DecodeJwt(h + "." + p + "." + s);
  REQUIRE(ok.Ok());
  CHECK(ok.Value().alg == "HS256");
  CHECK(ok.Value().kid == "k1");
  CHECK(ok.Value().signingInput == h + "." + p);
  CHECK(ok.Value().signature == "sig");
  CHECK(std::string(ok.Value().claims["sub"].GetString()) == "x");

  const std::vector<std::string> bad = {
      "",
      h,
      h + "." + p,
      h + "." + p + "." + s + "." + s,                                  // JWE-like: 5 parts
      h + "==." + p + "." + s,                                           // padding
      h + "." + p + "." + s + "=",
      h + "." + p + ". " + s,                                            // whitespace
      h + "." + "e30+" + "." + s,                                        // '+' is not base64url
      Base64UrlEncode("[]") + "." + p + "." + s,                         // header not an object
      h + "." + Base64UrlEncode("\"claims\"") + "." + s,                 // claims not an object
      h + "." + Base64UrlEncode("{") + "." + s,                          // invalid JSON
      Base64UrlEncode(R"({"typ":"JWT"})") + "." + p + "." + s,           // no alg
      Base64UrlEncode(R"({"alg":256})") + "." + p + "." + s,             // alg not a string
      Base64UrlEncode(R"({"alg":"HS256","kid":7})") + "." + p + "." + s,  // kid not a string
      Base64UrlEncode(R"({"alg":"HS256","alg":"none"})") + "." + p + "." + s,  // duplicate alg
      h + "." + Base64UrlEncode(R"({"aud":"a","aud":"b"})") + "." + s,         // duplicate claim
      h + "." + std::string(70000, 'A') + "." + s,                             // too long
  };
  for (const auto& token : bad) {
    INFO(token.substr(0, 80));
    auto r = DecodeJwt(token);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-002");
  }
  auto crit = DecodeJwt(Base64UrlEncode(R"({"alg":"HS256","crit":["exp"],"exp":1})") + "." + p + "." + s);
  REQUIRE_FALSE(crit.Ok());
  CHECK(crit.GetError().code == "CRY-005");
}

TEST_CASE("Jwt/error messages never contain the token", "[crypto][jwt]") {
  const std::string token = Token(R"({"sub":"very-private-subject","exp":1})");
  auto r = VerifyJwtHmac(token, kSecret, At(kNow));
  REQUIRE_FALSE(r.Ok());
  CHECK(r.GetError().message.find(token.substr(0, 20)) == std::string::npos);
  CHECK(r.GetError().message.find("very-private-subject") == std::string::npos);
  auto bad = VerifyJwtHmac(token + "x", kSecret, At(kNow));
  REQUIRE_FALSE(bad.Ok());
  CHECK(bad.GetError().message.find(token.substr(token.size() - 20)) == std::string::npos);
}

TEST_CASE("Jwt/exp, nbf, iat with leeway", "[crypto][jwt]") {
  SECTION("exp") {
    CHECK(Check(Exp(kNow + 10), At(kNow)).Ok());
    CHECK(Check(Exp(kNow - 30), At(kNow)).Ok());  // within the default 60 s leeway
    auto expired = Check(Exp(kNow - 61), At(kNow));
    REQUIRE_FALSE(expired.Ok());
    CHECK(expired.GetError().code == "CRY-004");
    CHECK(expired.GetError().message.find("'exp'") != std::string::npos);
    ClaimChecks strict = At(kNow);
    strict.leeway = std::chrono::seconds(0);
    CHECK(Check(Exp(kNow), strict).GetError().code == "CRY-004");  // exp is exclusive
    CHECK(Check(Exp(kNow + 1), strict).Ok());
    CHECK(Check(R"({"exp":1700000000.5})", strict).Ok());
  }
  SECTION("exp required unless told otherwise") {
    auto missing = Check(R"({"sub":"x"})", At(kNow));
    REQUIRE_FALSE(missing.Ok());
    CHECK(missing.GetError().code == "CRY-004");
    CHECK(missing.GetError().message.find("'exp'") != std::string::npos);
    ClaimChecks optional = At(kNow);
    optional.requireExp = false;
    CHECK(Check(R"({"sub":"x"})", optional).Ok());
    CHECK(Check(R"({"exp":"tomorrow"})", optional).GetError().code == "CRY-004");
    CHECK(Check(R"({"exp":null})", At(kNow)).GetError().code == "CRY-004");
  }
  SECTION("nbf") {
    CHECK(Check(R"({"exp":1800000000,"nbf":1700000030})", At(kNow)).Ok());  // within leeway
    auto early = Check(R"({"exp":1800000000,"nbf":1700000100})", At(kNow));
    REQUIRE_FALSE(early.Ok());
    CHECK(early.GetError().code == "CRY-004");
    CHECK(early.GetError().message.find("'nbf'") != std::string::npos);
    CHECK(Check(R"({"exp":1800000000,"nbf":"0"})", At(kNow)).GetError().message.find("'nbf'") != std::string::npos);
  }
  SECTION("iat") {
    CHECK(Check(R"({"exp":1800000000,"iat":1600000000})", At(kNow)).Ok());
    auto future = Check(R"({"exp":1800000000,"iat":1700000100})", At(kNow));
    REQUIRE_FALSE(future.Ok());
    CHECK(future.GetError().message.find("'iat'") != std::string::npos);
    CHECK(Check(R"({"exp":1800000000,"iat":[]})", At(kNow)).GetError().code == "CRY-004");
  }
  SECTION("the system clock is used by default") {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    CHECK(Check(Exp(now + 3600), ClaimChecks{}).Ok());
    CHECK(Check(Exp(now - 3600), ClaimChecks{}).GetError().code == "CRY-004");
  }
}

TEST_CASE("Jwt/aud and iss", "[crypto][jwt]") {
  ClaimChecks checks = At(kNow);
  checks.audiences = {"api://dicomweb", "https://other"};
  checks.issuer = "https://idp.example/realms/x";
  const std::string base = R"("exp":1800000000,"iss":"https://idp.example/realms/x")";

  CHECK(Check("{" + base + R"(,"aud":"api://dicomweb"})", checks).Ok());
  CHECK(Check("{" + base + R"(,"aud":["x","https://other"]})", checks).Ok());
  for (const std::string aud : {R"("aud":"api://other")", R"("aud":["a","b"])", R"("aud":[])", R"("aud":7)",
                                R"("aud":["api://dicomweb",7])", R"("x":1)"}) {
    INFO(aud);
    auto r = Check("{" + base + "," + aud + "}", checks);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-004");
    CHECK(r.GetError().message.find("'aud'") != std::string::npos);
  }
  for (const std::string iss : {R"("iss":"https://evil.example/realms/x")", R"("iss":1)", R"("sub":"no iss")",
                                R"("iss":"https://idp.example/realms/x/")"}) {
    INFO(iss);
    auto r = Check(R"({"exp":1800000000,"aud":"api://dicomweb",)" + iss + "}", checks);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-004");
    CHECK(r.GetError().message.find("'iss'") != std::string::npos);
  }
  // Unchecked when not configured.
  CHECK(Check(R"({"exp":1800000000})", At(kNow)).Ok());
}

TEST_CASE("Hardening: a JWT or JWKS nested a thousand levels deep is refused on a small stack", "[jwt][hardening]") {
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  const std::string header = Base64UrlEncode(R"({"alg":"RS256","typ":"JWT","x":)" + deep + "}");
  const std::string claims = Base64UrlEncode(R"({"sub":"a","nest":)" + deep + "}");
  const std::string plainHeader = Base64UrlEncode(R"({"alg":"RS256"})");
  const std::string plainClaims = Base64UrlEncode(R"({"sub":"a"})");
  gw::test::RunOnSmallStack(64 * 1024, [&] {
    for (const std::string& token : {header + "." + plainClaims + ".c2ln", plainHeader + "." + claims + ".c2ln"}) {
      auto decoded = DecodeJwt(token);
      REQUIRE_FALSE(decoded.Ok());
      CHECK(decoded.GetError().code == "CRY-002");
      CHECK(decoded.GetError().message.find("nested deeper") != std::string::npos);
    }
    auto jwks = Jwks::Parse(R"({"keys":[{"kty":"RSA","x":)" + deep + "}]}");
    REQUIRE_FALSE(jwks.Ok());
    CHECK(jwks.GetError().code == "CRY-006");  // an unusable JWKS, with the parse reason
    CHECK(jwks.GetError().message.find("nested deeper") != std::string::npos);
  });
}
