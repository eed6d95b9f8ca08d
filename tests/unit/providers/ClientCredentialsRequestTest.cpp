// The request side of lua/providers/client_credentials.lua, run for real in the script engine:
// what goes on the wire for every client authentication method (RFC 6749 2.3.1, RFC 7523,
// RFC 8705), the optional form parameters, and the TLS options handed to the HTTP client.
#include <set>

#include "ProviderTestSupport.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Jwt.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;

namespace {

const std::string kEndpoint = "https://idp.example.test/realms/x/token";
const std::string kClientId = "gw-client";
const std::string kSecret = "unit-secret-9a7c1e-f00d";

const char* kTokenAnswer = R"({"access_token":"opaque-token-abc123","token_type":"Bearer","expires_in":3600})";

// A server configuration: the common keys plus `extra` (JSON members without braces).
std::string Config(const std::string& extra, bool withSecret = true) {
  std::string json = "{\"TokenEndpoint\":" + Quote(kEndpoint) + ",\"ClientId\":" + Quote(kClientId);
  if (withSecret) json += ",\"ClientSecret\":" + Quote(kSecret);
  if (!extra.empty()) json += "," + extra;
  return json + "}";
}

// Runs acquire() against a 200 answer and returns the one request the script made.
HttpRequest RequestFor(ProviderRig& rig, const std::string& config) {
  rig.Http().Answer(200, kTokenAnswer);
  auto result = rig.Acquire(config);
  INFO((result.Ok() ? ToJson(result.Value()) : result.GetError().ToString()));
  REQUIRE(result.Ok());
  REQUIRE(rig.Http().Count() == 1);
  rig.RequireBalanced();
  return rig.Http().Last();
}

gw::crypto::ClaimChecks AssertionChecks() {
  gw::crypto::ClaimChecks checks;
  checks.audiences = {kEndpoint};
  checks.issuer = kClientId;
  checks.leeway = std::chrono::seconds(5);
  return checks;
}

// The claims every client assertion must carry (RFC 7523 section 3).
void CheckAssertionClaims(const gw::crypto::DecodedJwt& jwt) {
  const auto& c = jwt.claims;
  CHECK(std::string(c["iss"].GetString()) == kClientId);
  CHECK(std::string(c["sub"].GetString()) == kClientId);
  CHECK(std::string(c["aud"].GetString()) == kEndpoint);
  REQUIRE(c["jti"].IsString());
  const std::string jti = c["jti"].GetString();
  CHECK(jti.size() == 32);
  CHECK(jti.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(c["exp"].IsInt64());
  REQUIRE(c["iat"].IsInt64());
  const int64_t now = UnixNow();
  CHECK(std::llabs(c["iat"].GetInt64() - now) <= 5);
  CHECK(c["exp"].GetInt64() - c["iat"].GetInt64() == 300);
  CHECK(c["exp"].GetInt64() > now);
}

void CheckAssertionForm(const std::map<std::string, std::string>& form) {
  CHECK(form.at("grant_type") == "client_credentials");
  CHECK(form.at("client_id") == kClientId);
  CHECK(form.at("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  CHECK(form.count("client_secret") == 0);
}

}  // namespace

TEST_CASE("ClientCredentials/client_secret_post puts id and secret in the form", "[providers]") {
  ProviderRig rig;
  const HttpRequest r = RequestFor(rig, Config(""));  // the default method
  CHECK(r.method == "POST");
  CHECK(r.url == kEndpoint);
  CHECK(HeaderOf(r, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(HeaderOf(r, "Accept") == "application/json");
  CHECK(HeaderCount(r, "Authorization") == 0);
  const auto form = ParseForm(r.body);
  CHECK(form == std::map<std::string, std::string>{
                    {"grant_type", "client_credentials"}, {"client_id", kClientId}, {"client_secret", kSecret}});
  CHECK_FALSE(r.followRedirects);

  SECTION("explicit method name gives the same request") {
    ProviderRig other;
    const HttpRequest again = RequestFor(other, Config("\"ClientAuthMethod\":\"client_secret_post\""));
    CHECK(ParseForm(again.body) == form);
  }
}

TEST_CASE("ClientCredentials/client_secret_basic form-escapes id and secret before base64", "[providers]") {
  ProviderRig rig;
  // RFC 6749 2.3.1: both are application/x-www-form-urlencoded first (space '+', ':' '%3A').
  const std::string id = "svc id:1";
  const std::string secret = "p@ss:w+rd/\xC3\xA9 end";
  const std::string config = "{\"TokenEndpoint\":" + Quote(kEndpoint) + ",\"ClientId\":" + Quote(id) +
                             ",\"ClientSecret\":" + Quote(secret) + ",\"ClientAuthMethod\":\"client_secret_basic\"}";
  const HttpRequest r = RequestFor(rig, config);
  const std::string auth = HeaderOf(r, "Authorization");
  REQUIRE(auth.rfind("Basic ", 0) == 0);
  const std::string decoded = Base64Decode(auth.substr(6));
  CHECK(decoded == "svc+id%3A1:p%40ss%3Aw%2Brd%2F%C3%A9+end");
  const size_t colon = decoded.find(':');
  REQUIRE(colon != std::string::npos);
  CHECK(FormUnescape(decoded.substr(0, colon)) == id);
  CHECK(FormUnescape(decoded.substr(colon + 1)) == secret);

  const auto form = ParseForm(r.body);
  CHECK(form == std::map<std::string, std::string>{{"grant_type", "client_credentials"}});
  CHECK(r.body.find("p%40ss") == std::string::npos);
}

TEST_CASE("ClientCredentials/client_secret_jwt sends an HS256 assertion keyed with the secret", "[providers]") {
  ProviderRig rig;
  const HttpRequest r = RequestFor(rig, Config("\"ClientAuthMethod\":\"client_secret_jwt\""));
  const auto form = ParseForm(r.body);
  CheckAssertionForm(form);
  CHECK(HeaderCount(r, "Authorization") == 0);
  CHECK(r.body.find(kSecret) == std::string::npos);

  auto verified = gw::crypto::VerifyJwtHmac(form.at("client_assertion"), kSecret, AssertionChecks());
  INFO((verified.Ok() ? "" : verified.GetError().ToString()));
  REQUIRE(verified.Ok());
  CHECK(verified.Value().alg == "HS256");
  CheckAssertionClaims(verified.Value());

  SECTION("another secret does not verify it") {
    CHECK_FALSE(gw::crypto::VerifyJwtHmac(form.at("client_assertion"), kSecret + "x", AssertionChecks()).Ok());
  }
  SECTION("every assertion has its own jti") {
    std::set<std::string> jtis;
    for (int i = 0; i < 5; ++i) {
      rig.Acquire(Config("\"ClientAuthMethod\":\"client_secret_jwt\""));
      const auto f = ParseForm(rig.Http().Last().body);
      auto decoded = gw::crypto::DecodeJwt(f.at("client_assertion"));
      REQUIRE(decoded.Ok());
      jtis.insert(decoded.Value().claims["jti"].GetString());
    }
    CHECK(jtis.size() == 5);
  }
}

TEST_CASE("ClientCredentials/private_key_jwt RS256 verifies with the public key", "[providers]") {
  ProviderRig rig;
  const std::string config =
      Config("\"ClientAuthMethod\":\"private_key_jwt\",\"PrivateKeyFile\":" + Quote(CryptoFixture("rsa-pkcs8.pem")) +
                 ",\"PrivateKeyId\":\"key-2024\"",
             false);
  const HttpRequest r = RequestFor(rig, config);
  const auto form = ParseForm(r.body);
  CheckAssertionForm(form);

  auto key = gw::crypto::AsymmetricKey::FromPublicPem(ReadFile(CryptoFixture("rsa-public.pem")));
  REQUIRE(key.Ok());
  auto verified = gw::crypto::VerifyJwt(form.at("client_assertion"), key.Value(), AssertionChecks());
  INFO((verified.Ok() ? "" : verified.GetError().ToString()));
  REQUIRE(verified.Ok());
  CHECK(verified.Value().alg == "RS256");
  CHECK(verified.Value().kid == "key-2024");
  CHECK_FALSE(verified.Value().header.HasMember("x5t"));
  CheckAssertionClaims(verified.Value());
  // The private key never travels.
  CHECK(r.body.find("PRIVATE") == std::string::npos);

  SECTION("with a certificate the header carries its x5t (SHA-1 thumbprint)") {
    ProviderRig other;
    const HttpRequest withCert = RequestFor(
        other, Config("\"ClientAuthMethod\":\"private_key_jwt\",\"PrivateKeyFile\":" +
                          Quote(CryptoFixture("rsa-pkcs8.pem")) + ",\"ClientCertificate\":" +
                          Quote(CryptoFixture("rsa-cert.pem")),
                      false));
    auto decoded = gw::crypto::VerifyJwt(ParseForm(withCert.body).at("client_assertion"), key.Value(), AssertionChecks());
    REQUIRE(decoded.Ok());
    REQUIRE(decoded.Value().header.HasMember("x5t"));
    CHECK(std::string(decoded.Value().header["x5t"].GetString()) ==
          HexToBase64Url(ReadFile(CryptoFixture("rsa-cert.sha1"))));
    // private_key_jwt does not turn into mutual TLS because a certificate is configured for x5t
    // (a certificate handed to libcurl without its key fails every https request).
    CHECK(withCert.tls.clientCertificatePem.empty());
    CHECK(withCert.tls.clientKeyPem.empty());
  }
  SECTION("the EC public key does not verify it") {
    auto ec = gw::crypto::AsymmetricKey::FromPublicPem(ReadFile(CryptoFixture("ec-public.pem")));
    REQUIRE(ec.Ok());
    CHECK_FALSE(gw::crypto::VerifyJwt(form.at("client_assertion"), ec.Value(), AssertionChecks()).Ok());
  }
}

TEST_CASE("ClientCredentials/private_key_jwt ES256 verifies with the public key", "[providers]") {
  auto key = gw::crypto::AsymmetricKey::FromPublicPem(ReadFile(CryptoFixture("ec-public.pem")));
  REQUIRE(key.Ok());
  for (const std::string& algorithm : {std::string(",\"SigningAlgorithm\":\"ES256\""), std::string()}) {
    // Regression: without SigningAlgorithm the script forced RS256, which an EC key cannot sign,
    // so a configuration accepted at start-up failed every acquisition with CFG-002.
    DYNAMIC_SECTION("SigningAlgorithm " << (algorithm.empty() ? "absent (the key decides)" : "ES256")) {
      ProviderRig rig;
      const HttpRequest r = RequestFor(
          rig, Config("\"ClientAuthMethod\":\"private_key_jwt\",\"PrivateKeyFile\":" +
                          Quote(CryptoFixture("ec-pkcs8.pem")) + algorithm,
                      false));
      const auto form = ParseForm(r.body);
      CheckAssertionForm(form);
      auto verified = gw::crypto::VerifyJwt(form.at("client_assertion"), key.Value(), AssertionChecks());
      INFO((verified.Ok() ? "" : verified.GetError().ToString()));
      REQUIRE(verified.Ok());
      CHECK(verified.Value().alg == "ES256");
      CHECK(verified.Value().signature.size() == 64);  // JOSE R||S, not DER
      CheckAssertionClaims(verified.Value());
    }
  }
}

TEST_CASE("ClientCredentials/private_key_jwt configuration errors make no request", "[providers]") {
  ProviderRig rig;
  rig.Http().Answer(200, kTokenAnswer);
  SECTION("no PrivateKeyFile") {
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"private_key_jwt\"", false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-002");
    CHECK(r.GetError().message.find("PrivateKeyFile") != std::string::npos);
  }
  SECTION("an algorithm the key cannot sign") {
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"private_key_jwt\",\"SigningAlgorithm\":\"RS256\","
                                "\"PrivateKeyFile\":" + Quote(CryptoFixture("ec-pkcs8.pem")),
                                false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-002");
    CHECK(r.GetError().message.find("RS256") != std::string::npos);
    CHECK(r.GetError().message.find("PRIVATE") == std::string::npos);
  }
  SECTION("a key the JWS code refuses (RSA 1024)") {
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"private_key_jwt\",\"PrivateKeyFile\":" +
                                    Quote(CryptoFixture("rsa-1024.pem")),
                                false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-002");
  }
  CHECK(rig.Http().Count() == 0);
  rig.RequireBalanced();
}

TEST_CASE("ClientCredentials/tls_client_auth hands the certificate and key to TLS", "[providers]") {
  for (const std::string method : {"tls_client_auth", "self_signed_tls_client_auth"}) {
    DYNAMIC_SECTION(method) {
      ProviderRig rig;
      const HttpRequest r = RequestFor(
          rig, Config("\"ClientAuthMethod\":" + Quote(method) + ",\"ClientCertificate\":" +
                          Quote(CryptoFixture("client.pem")) + ",\"ClientKey\":" + Quote(CryptoFixture("client.key")) +
                          ",\"ClientKeyPassword\":\"key-pass-123456\"",
                      false));
      // Read by the engine through the file allowlist; libcurl gets the contents.
      CHECK(r.tls.clientCertificatePem == ReadFile(CryptoFixture("client.pem")));
      CHECK(r.tls.clientKeyPem == ReadFile(CryptoFixture("client.key")));
      CHECK(r.tls.clientKeyPassword == "key-pass-123456");
      CHECK(r.tls.verifyPeer);
      CHECK(HeaderCount(r, "Authorization") == 0);
      CHECK(ParseForm(r.body) ==
            std::map<std::string, std::string>{{"grant_type", "client_credentials"}, {"client_id", kClientId}});
    }
  }
  SECTION("without ClientKey: CFG-001 and no request") {
    ProviderRig rig;
    rig.Http().Answer(200, kTokenAnswer);
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"tls_client_auth\",\"ClientCertificate\":" +
                                    Quote(CryptoFixture("client.pem")),
                                false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-001");
    CHECK(rig.Http().Count() == 0);
  }
}

TEST_CASE("ClientCredentials/secret methods without a secret, unknown methods, missing keys", "[providers]") {
  ProviderRig rig;
  rig.Http().Answer(200, kTokenAnswer);
  SECTION("client_secret_post without ClientSecret is CFG-003") {
    auto r = rig.Acquire(Config("", false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-003");
  }
  SECTION("client_secret_jwt with an empty secret is CFG-003") {
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"client_secret_jwt\",\"ClientSecret\":\"\"", false));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-003");
  }
  SECTION("an unknown method is CFG-002") {
    auto r = rig.Acquire(Config("\"ClientAuthMethod\":\"client_secret_magic\""));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-002");
    CHECK(r.GetError().message.find("client_secret_magic") != std::string::npos);
  }
  SECTION("no TokenEndpoint is CFG-001") {
    auto r = rig.Acquire("{\"ClientId\":\"a\",\"ClientSecret\":" + Quote(kSecret) + "}");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-001");
  }
  SECTION("no ClientId is CFG-001") {
    auto r = rig.Acquire("{\"TokenEndpoint\":" + Quote(kEndpoint) + ",\"ClientSecret\":" + Quote(kSecret) + "}");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-001");
  }
  CHECK(rig.Http().Count() == 0);
}

TEST_CASE("ClientCredentials/Scope, Audience, Resource and ExtraTokenParameters", "[providers]") {
  ProviderRig rig;
  const HttpRequest r = RequestFor(
      rig, Config("\"Scope\":\"dicomweb dicomweb.read\",\"Audience\":\"https://api.example.test/\","
                  "\"Resource\":\"urn:gw:dicom\",\"ExtraTokenParameters\":{\"tenant\":\"t-1\",\"grant_type\":\"password\","
                  "\"client_id\":\"someone-else\",\"prompt\":\"none & more\"}"));
  const auto form = ParseForm(r.body);
  CHECK(form.at("scope") == "dicomweb dicomweb.read");
  CHECK(r.body.find("scope=dicomweb+dicomweb.read") != std::string::npos);
  CHECK(form.at("audience") == "https://api.example.test/");
  CHECK(form.at("resource") == "urn:gw:dicom");
  CHECK(form.at("tenant") == "t-1");
  CHECK(form.at("prompt") == "none & more");
  // Extra parameters never replace what the script sets itself.
  CHECK(form.at("grant_type") == "client_credentials");
  CHECK(form.at("client_id") == kClientId);
  CHECK(form.at("client_secret") == kSecret);

  SECTION("absent or empty keys send nothing") {
    ProviderRig other;
    const auto plain = ParseForm(RequestFor(other, Config("\"Scope\":\"\",\"Audience\":\"\"")).body);
    CHECK(plain.count("scope") == 0);
    CHECK(plain.count("audience") == 0);
    CHECK(plain.count("resource") == 0);
  }
}

TEST_CASE("ClientCredentials/TLS options: VerifySSL and CaBundle", "[providers]") {
  SECTION("default: verify with the system CAs") {
    ProviderRig rig;
    const HttpRequest r = RequestFor(rig, Config(""));
    CHECK(r.tls.verifyPeer);
    CHECK(r.tls.caBundlePem.empty());
    CHECK(r.tls.clientCertificatePem.empty());
    CHECK(r.tls.clientKeyPem.empty());
  }
  SECTION("VerifySSL false turns verification off") {
    ProviderRig rig;
    const HttpRequest r = RequestFor(rig, Config("\"VerifySSL\":false"));
    CHECK_FALSE(r.tls.verifyPeer);
  }
  SECTION("VerifySSL true keeps it on") {
    ProviderRig rig;
    CHECK(RequestFor(rig, Config("\"VerifySSL\":true")).tls.verifyPeer);
  }
  SECTION("VerifySSL given as a path is a CA bundle (Python plugin form)") {
    ProviderRig rig;
    const HttpRequest r = RequestFor(rig, Config("\"VerifySSL\":" + Quote(CryptoFixture("ca.pem"))));
    CHECK(r.tls.verifyPeer);
    CHECK(r.tls.caBundlePem == ReadFile(CryptoFixture("ca.pem")));
  }
  SECTION("CaBundle") {
    ProviderRig rig;
    const HttpRequest r = RequestFor(rig, Config("\"CaBundle\":" + Quote(CryptoFixture("ca.pem"))));
    CHECK(r.tls.verifyPeer);
    CHECK(r.tls.caBundlePem == ReadFile(CryptoFixture("ca.pem")));
  }
}
