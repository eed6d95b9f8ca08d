// JWTAlgorithms was documented but never read: the token validator now refuses a token signed with
// an algorithm the server does not accept, before any signature work, and never accepts "none".
#include <catch2/catch.hpp>

#include <ctime>

#include "crypto/Fixtures.h"
#include "gw/common/ErrorCatalog.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Jws.h"
#include "gw/service/TokenValidator.h"

using gw::service::TokenValidator;

namespace {

std::string Claims() {
  return R"({"sub": "orthanc", "exp": )" + std::to_string(std::time(nullptr) + 600) + "}";
}

std::string Sign(const gw::crypto::JwsKey& key) {
  auto token = gw::crypto::SignJwt(R"({"typ": "JWT"})", Claims(), key);
  REQUIRE(token.Ok());
  return token.Value();
}

std::string RsaToken() {
  auto key = gw::crypto::AsymmetricKey::FromPrivatePem(gw::test::ReadFixture("rsa-pkcs8.pem"));
  REQUIRE(key.Ok());
  return Sign(gw::crypto::JwsKey::Asymmetric(std::move(key).Value()));
}

std::string UnsignedToken() {
  return gw::crypto::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + gw::crypto::Base64UrlEncode(Claims()) + ".";
}

std::shared_ptr<const TokenValidator> Validator(std::vector<std::string> algorithms) {
  gw::config::ServerConfig server;
  server.name = "cloud";
  server.jwtPublicKey = gw::test::ReadFixture("rsa-public.pem");
  server.jwtAlgorithms = std::move(algorithms);
  auto created = TokenValidator::Create(server, nullptr);
  REQUIRE(created.Ok());
  REQUIRE(created.Value());
  return created.Value();
}

}  // namespace

TEST_CASE("JWTAlgorithms: without the key, RS256 and ES256 are accepted", "[service][jwt]") {
  const auto v = Validator({});
  CHECK(v->Algorithms() == std::vector<std::string>{"RS256", "ES256"});
  CHECK(v->Check(RsaToken()).Ok());
}

TEST_CASE("JWTAlgorithms: a token signed with an algorithm not listed is refused", "[service][jwt]") {
  const std::string token = RsaToken();
  CHECK(Validator({"RS256"})->Check(token).Ok());
  const auto refused = Validator({"ES256"})->Check(token);
  REQUIRE_FALSE(refused.Ok());
  CHECK(refused.GetError().code == "TOK-005");
  CHECK(refused.GetError().httpStatus == 502);  // the catalog's: a bad gateway answer, as everywhere
  CHECK(refused.GetError().message.find("CRY-005") != std::string::npos);
  CHECK(refused.GetError().message.find("'RS256' is not accepted (JWTAlgorithms: ES256)") != std::string::npos);
  CHECK(refused.GetError().message.find(token) == std::string::npos);
}

TEST_CASE("JWTAlgorithms: none and HMAC tokens are never accepted", "[service][jwt]") {
  // "none" in a list built without the parser (which refuses it) is dropped all the same.
  const auto v = Validator({"none", "RS256", "HS256"});
  CHECK(v->Algorithms() == std::vector<std::string>{"RS256"});
  const auto unsigned_ = v->Check(UnsignedToken());
  REQUIRE_FALSE(unsigned_.Ok());
  CHECK(unsigned_.GetError().message.find("'none' is not accepted") != std::string::npos);
  const auto hmac = v->Check(Sign(gw::crypto::JwsKey::Hmac("shared-secret-of-32-bytes-or-more!")));
  REQUIRE_FALSE(hmac.Ok());
  CHECK(hmac.GetError().message.find("'HS256' is not accepted") != std::string::npos);
  // Default list: HS256 is not in it, so the public key is never tried as an HMAC secret either.
  CHECK_FALSE(Validator({})->Check(Sign(gw::crypto::JwsKey::Hmac("shared-secret-of-32-bytes-or-more!"))).Ok());
}

// Regression: the validator raised TOK-005 with 503 while the catalog and the docs say 502.
TEST_CASE("TokenValidator: a token that fails validation is TOK-005 with the catalog's status", "[service][jwt][errors]") {
  std::string token = RsaToken();
  token.back() = token.back() == 'A' ? 'B' : 'A';  // the signature no longer matches
  const auto refused = Validator({})->Check(token);
  REQUIRE_FALSE(refused.Ok());
  CHECK(refused.GetError().code == gw::codes::kValidationFailed);
  CHECK(refused.GetError().httpStatus == gw::DefaultHttpStatus(gw::codes::kValidationFailed));
  CHECK(refused.GetError().httpStatus == 502);
  CHECK(refused.GetError().message.find(token) == std::string::npos);
}
