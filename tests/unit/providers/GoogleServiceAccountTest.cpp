// lua/providers/google.lua with a service_account key file: the JWT-bearer grant Google documents
// for server-to-server OAuth (RS256 assertion with iss, scope, aud = token_uri, iat, exp <= 1 h),
// how Google's answers map to errors, and the Application Default Credentials order
// (CredentialsFile, GOOGLE_APPLICATION_CREDENTIALS, then the metadata server).
#include "GoogleTestSupport.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Jwt.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;

namespace {

const std::string kEmail = "orthanc-gw@project-x.iam.gserviceaccount.com";
const std::string kTokenUri = "https://oauth2.test.example/token";
const char* kAnswer = R"({"access_token":"ya29.google-token-1","expires_in":3599,"token_type":"Bearer"})";

std::string KeyFile(const std::string& tokenUri = kTokenUri) {
  return "{\"type\":\"service_account\",\"project_id\":\"project-x\",\"private_key_id\":\"key-id-42\","
         "\"private_key\":" + Quote(ReadFile(CryptoFixture("rsa-pkcs8.pem"))) +
         ",\"client_email\":" + Quote(kEmail) + ",\"client_id\":\"1234\",\"token_uri\":" + Quote(tokenUri) + "}";
}

std::string Config(const std::string& credentialsFile, const std::string& extra = "") {
  return "{\"Url\":\"https://healthcare.googleapis.com/v1/x/dicomWeb\",\"ProviderType\":\"google\","
         "\"CredentialsFile\":" + Quote(credentialsFile) + (extra.empty() ? "" : "," + extra) + "}";
}

gw::crypto::DecodedJwt VerifiedAssertion(const HttpRequest& r, const std::string& audience) {
  const auto form = ParseForm(r.body);
  REQUIRE(form.size() == 2);
  CHECK(form.at("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer");
  auto key = gw::crypto::AsymmetricKey::FromPublicPem(ReadFile(CryptoFixture("rsa-public.pem")));
  REQUIRE(key.Ok());
  gw::crypto::ClaimChecks checks;
  checks.audiences = {audience};
  checks.issuer = kEmail;
  checks.leeway = std::chrono::seconds(5);
  auto jwt = gw::crypto::VerifyJwt(form.at("assertion"), key.Value(), checks);
  INFO((jwt.Ok() ? "" : jwt.GetError().ToString()));
  REQUIRE(jwt.Ok());
  return std::move(jwt).Value();
}

}  // namespace

TEST_CASE("GoogleServiceAccount/JWT-bearer grant to the key file's token_uri", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string file = rig.Write("sa.json", KeyFile());
  rig.Http().Answer(200, kAnswer);
  auto result = rig.Acquire("google", Config(file));
  INFO((result.Ok() ? ToJson(result.Value()) : result.GetError().ToString()));
  REQUIRE(result.Ok());
  CHECK(std::string(result.Value()["access_token"].GetString()) == "ya29.google-token-1");
  CHECK(std::string(result.Value()["token_type"].GetString()) == "Bearer");
  CHECK(result.Value()["expires_in"].GetDouble() == 3599);
  rig.RequireBalanced();

  REQUIRE(rig.Http().Count() == 1);
  const HttpRequest r = rig.Http().Last();
  CHECK(r.method == "POST");
  CHECK(r.url == kTokenUri);
  CHECK(HeaderOf(r, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(HeaderCount(r, "Authorization") == 0);
  CHECK_FALSE(r.followRedirects);
  const auto jwt = VerifiedAssertion(r, kTokenUri);
  CHECK(jwt.alg == "RS256");
  CHECK(jwt.kid == "key-id-42");
  const auto& c = jwt.claims;
  CHECK(std::string(c["scope"].GetString()) == "https://www.googleapis.com/auth/cloud-healthcare");
  const int64_t now = UnixNow();
  CHECK(std::llabs(c["iat"].GetInt64() - now) <= 5);
  CHECK(c["exp"].GetInt64() - c["iat"].GetInt64() == 3600);  // Google's maximum
  CHECK_FALSE(c.HasMember("sub"));

  SECTION("Scope is sent space-separated as configured") {
    ScriptRig other({"google"});
    const std::string f = other.Write("sa.json", KeyFile());
    other.Http().Answer(200, kAnswer);
    REQUIRE(other.Acquire("google", Config(f, "\"Scope\":\"https://www.googleapis.com/auth/cloud-platform  openid\"")).Ok());
    const auto again = VerifiedAssertion(other.Http().Last(), kTokenUri);
    CHECK(std::string(again.claims["scope"].GetString()) == "https://www.googleapis.com/auth/cloud-platform  openid");
  }
}

TEST_CASE("GoogleServiceAccount/default token_uri is oauth2.googleapis.com", "[providers][google]") {
  ScriptRig rig({"google"});
  std::string key = KeyFile();
  key.replace(key.find(",\"token_uri\""), std::string::npos, "}");
  const std::string file = rig.Write("sa.json", key);
  rig.Http().Answer(200, kAnswer);
  REQUIRE(rig.Acquire("google", Config(file)).Ok());
  CHECK(rig.Http().Last().url == "https://oauth2.googleapis.com/token");
  VerifiedAssertion(rig.Http().Last(), "https://oauth2.googleapis.com/token");
}

TEST_CASE("GoogleServiceAccount/Google's errors", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string file = rig.Write("sa.json", KeyFile());
  SECTION("invalid_grant is a credential error, never retried") {
    rig.Http().Answer(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})");
    auto r = rig.Acquire("google", Config(file));
    REQUIRE(ErrorCode(r) == "AUTH-001");
    CHECK(r.GetError().message.find("Invalid JWT Signature.") != std::string::npos);
  }
  SECTION("other 4xx") {
    rig.Http().Answer(400, R"({"error":"invalid_request"})");
    CHECK(ErrorCode(rig.Acquire("google", Config(file))) == "AUTH-002");
  }
  SECTION("5xx and 429 are transient") {
    rig.Http().Answer(503, "unavailable");
    CHECK(ErrorCode(rig.Acquire("google", Config(file))) == "AUTH-005");
    rig.Http().Answer(429, "{}");
    CHECK(ErrorCode(rig.Acquire("google", Config(file))) == "AUTH-005");
  }
  SECTION("200 without a token") {
    rig.Http().Answer(200, R"({"token_type":"Bearer"})");
    CHECK(ErrorCode(rig.Acquire("google", Config(file))) == "TOK-004");
  }
  SECTION("a network failure is passed through") {
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return gw::MakeError("NET-001", "connection refused");
    };
    CHECK(ErrorCode(rig.Acquire("google", Config(file))) == "NET-001");
  }
  rig.RequireBalanced();
}

TEST_CASE("GoogleServiceAccount/unusable credential files fail closed without any request",
          "[providers][google]") {
  ScriptRig rig({"google"});
  SECTION("missing file") {
    CHECK(ErrorCode(rig.Acquire("google", Config(rig.DataPath("absent.json")))) == "CFG-002");
  }
  SECTION("not JSON") {
    CHECK(ErrorCode(rig.Acquire("google", Config(rig.Write("bad.json", "not json")))) == "CFG-002");
  }
  SECTION("unknown type") {
    auto r = rig.Acquire("google", Config(rig.Write("user.json", R"({"type":"authorized_user"})")));
    REQUIRE(ErrorCode(r) == "CFG-002");
    CHECK(r.GetError().message.find("authorized_user") != std::string::npos);
  }
  SECTION("no private key") {
    CHECK(ErrorCode(rig.Acquire("google", Config(rig.Write("sa.json",
        "{\"type\":\"service_account\",\"client_email\":" + Quote(kEmail) + "}")))) == "CFG-002");
  }
  SECTION("a private key that is not a key; the message carries no key material") {
    auto r = rig.Acquire("google", Config(rig.Write("sa.json",
        "{\"type\":\"service_account\",\"client_email\":" + Quote(kEmail) +
        ",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nnot-base64-secret-material\\n-----END PRIVATE KEY-----\\n\"}")));
    REQUIRE(ErrorCode(r) == "CFG-002");
    CHECK(r.GetError().message.find("not-base64-secret-material") == std::string::npos);
  }
  SECTION("a file outside the allowlist is not read") {
    CHECK(ErrorCode(rig.Acquire("google", Config("/etc/passwd"))) == "CFG-002");
  }
  CHECK(rig.Http().Count() == 0);
}

TEST_CASE("GoogleServiceAccount/Application Default Credentials order", "[providers][google]") {
  ScriptRig rig({"google"}, {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST"});
  const std::string adcFile = rig.Write("adc.json", KeyFile("https://adc.test.example/token"));
  const std::string configured = rig.Write("configured.json", KeyFile("https://configured.test.example/token"));
  const std::string noFile = R"({"Url":"https://healthcare.googleapis.com/v1/x","ProviderType":"google"})";
  ScopedEnv metadataHost("GCE_METADATA_HOST", "127.0.0.1:9");
  rig.Http().respond = [](const HttpRequest& r) -> gw::Result<gw::http::HttpResponse> {
    if (r.url.find("/computeMetadata/") != std::string::npos) {
      return Response(200, R"({"access_token":"ya29.metadata","expires_in":3000,"token_type":"Bearer"})",
                    {{"content-type", "application/json"}, {"metadata-flavor", "Google"}});
    }
    return Response(200, kAnswer);
  };

  SECTION("CredentialsFile wins over GOOGLE_APPLICATION_CREDENTIALS") {
    ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS", adcFile);
    REQUIRE(rig.Acquire("google", Config(configured)).Ok());
    CHECK(rig.Http().Last().url == "https://configured.test.example/token");
  }
  SECTION("then GOOGLE_APPLICATION_CREDENTIALS") {
    ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS", adcFile);
    REQUIRE(rig.Acquire("google", noFile).Ok());
    CHECK(rig.Http().Last().url == "https://adc.test.example/token");
  }
  SECTION("then the metadata server") {
    ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS");
    auto r = rig.Acquire("google", noFile);
    REQUIRE(r.Ok());
    CHECK(std::string(r.Value()["access_token"].GetString()) == "ya29.metadata");
    CHECK(rig.Http().Last().url ==
          "http://127.0.0.1:9/computeMetadata/v1/instance/service-accounts/default/token");
  }
  SECTION("a GOOGLE_APPLICATION_CREDENTIALS file that cannot be read fails; no fallback") {
    ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS", rig.DataPath("missing.json"));
    CHECK(ErrorCode(rig.Acquire("google", noFile)) == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }
  rig.RequireBalanced();
}
