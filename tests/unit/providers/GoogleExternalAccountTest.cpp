// lua/providers/google.lua with an external_account credential file (workload identity
// federation): the subject token from a file or a URL (text or JSON), the STS exchange with the
// RFC 8693 form Google documents, and the optional service account impersonation through IAM
// Credentials generateAccessToken (Bearer STS token, JSON {scope, lifetime}, RFC 3339 expireTime).
#include "GoogleTestSupport.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;

namespace {

const std::string kAudience =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";
const std::string kSts = "https://sts.test.example/v1/token";
const std::string kImpersonate =
    "https://iam.test.example/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken";
const std::string kSubject = "eyJhbGciOiJSUzI1NiJ9.subject-token-payload.sig";

std::string ExternalAccount(const std::string& source, bool impersonate, const std::string& extra = "") {
  std::string json = "{\"type\":\"external_account\",\"audience\":" + Quote(kAudience) +
                     ",\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\",\"token_url\":" + Quote(kSts) +
                     ",\"credential_source\":" + source;
  if (impersonate) {
    json += ",\"service_account_impersonation_url\":" + Quote(kImpersonate) +
            ",\"service_account_impersonation\":{\"token_lifetime_seconds\":1800}";
  }
  return json + extra + "}";
}

std::string Config(const std::string& file) {
  return "{\"ProviderType\":\"google\",\"CredentialsFile\":" + Quote(file) + "}";
}

// STS answers its token; IAM Credentials answers an impersonated one.
void AnswerLikeGoogle(RecordingHttp& http) {
  http.respond = [](const HttpRequest& r) -> gw::Result<gw::http::HttpResponse> {
    if (r.url == kSts) {
      return Response(200, R"({"access_token":"sts-federated-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600})");
    }
    if (r.url == kImpersonate) {
      return Response(200, R"({"accessToken":"ya29.impersonated","expireTime":"2099-01-02T03:04:05Z"})");
    }
    if (r.url.find("subject.test.example") != std::string::npos) {
      return Response(200, "{\"access_token\":\"" + kSubject + "\",\"other\":1}");
    }
    return Response(404, "{}");
  };
}

}  // namespace

TEST_CASE("GoogleExternalAccount/file subject token exchanged at STS", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string subject = rig.Write("subject.jwt", kSubject + "\n");
  const std::string file = rig.Write("wif.json", ExternalAccount("{\"file\":" + Quote(subject) + "}", false));
  AnswerLikeGoogle(rig.Http());
  auto r = rig.Acquire("google", Config(file));
  INFO((r.Ok() ? ToJson(r.Value()) : r.GetError().ToString()));
  REQUIRE(r.Ok());
  CHECK(std::string(r.Value()["access_token"].GetString()) == "sts-federated-token");
  CHECK(r.Value()["expires_in"].GetDouble() == 3600);
  REQUIRE(rig.Http().Count() == 1);
  const HttpRequest req = rig.Http().Last();
  CHECK(req.method == "POST");
  CHECK(req.url == kSts);
  CHECK(HeaderOf(req, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(HeaderCount(req, "Authorization") == 0);
  CHECK(ParseForm(req.body) == std::map<std::string, std::string>{
      {"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
      {"audience", kAudience},
      {"scope", "https://www.googleapis.com/auth/cloud-healthcare"},
      {"requested_token_type", "urn:ietf:params:oauth:token-type:access_token"},
      {"subject_token", kSubject},
      {"subject_token_type", "urn:ietf:params:oauth:token-type:jwt"}});
  rig.RequireBalanced();
}

TEST_CASE("GoogleExternalAccount/the subject token file is re-read at every acquisition",
          "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string subject = rig.Write("subject.jwt", "first-subject");
  const std::string file = rig.Write("wif.json", ExternalAccount("{\"file\":" + Quote(subject) + "}", false));
  AnswerLikeGoogle(rig.Http());
  REQUIRE(rig.Acquire("google", Config(file)).Ok());
  CHECK(ParseForm(rig.Http().Last().body).at("subject_token") == "first-subject");
  rig.Write("subject.jwt", "rotated-subject");
  REQUIRE(rig.Acquire("google", Config(file)).Ok());
  CHECK(ParseForm(rig.Http().Last().body).at("subject_token") == "rotated-subject");
}

TEST_CASE("GoogleExternalAccount/URL subject token in JSON format, with headers", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string file = rig.Write("wif.json", ExternalAccount(
      R"({"url":"http://subject.test.example/token?resource=x","headers":{"Metadata":"True"},
          "format":{"type":"json","subject_token_field_name":"access_token"}})", false));
  AnswerLikeGoogle(rig.Http());
  REQUIRE(rig.Acquire("google", Config(file)).Ok());
  const auto requests = rig.Http().Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].url == "http://subject.test.example/token?resource=x");
  CHECK(HeaderOf(requests[0], "Metadata") == "True");
  CHECK(ParseForm(requests[1].body).at("subject_token") == kSubject);

  SECTION("a missing JSON field is TOK-004, nothing sent to STS") {
    ScriptRig other({"google"});
    const std::string f = other.Write("wif.json", ExternalAccount(
        R"({"url":"http://subject.test.example/t","format":{"type":"json","subject_token_field_name":"id_token"}})",
        false));
    AnswerLikeGoogle(other.Http());
    CHECK(ErrorCode(other.Acquire("google", Config(f))) == "TOK-004");
    CHECK(other.Http().Count() == 1);
  }
}

TEST_CASE("GoogleExternalAccount/service account impersonation", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string subject = rig.Write("subject.jwt", kSubject);
  const std::string file = rig.Write("wif.json", ExternalAccount("{\"file\":" + Quote(subject) + "}", true));
  AnswerLikeGoogle(rig.Http());
  auto r = rig.Acquire("google", Config(file));
  INFO((r.Ok() ? ToJson(r.Value()) : r.GetError().ToString()));
  REQUIRE(r.Ok());
  CHECK(std::string(r.Value()["access_token"].GetString()) == "ya29.impersonated");
  CHECK(r.Value()["expires_on"].GetInt64() == 4071006245);  // 2099-01-02T03:04:05Z
  const auto requests = rig.Http().Requests();
  REQUIRE(requests.size() == 2);
  // STS is asked for cloud-platform, which IAM Credentials needs.
  CHECK(ParseForm(requests[0].body).at("scope") == "https://www.googleapis.com/auth/cloud-platform");
  const HttpRequest& imp = requests[1];
  CHECK(imp.method == "POST");
  CHECK(imp.url == kImpersonate);
  CHECK(HeaderOf(imp, "Authorization") == "Bearer sts-federated-token");
  CHECK(HeaderOf(imp, "Content-Type") == "application/json");
  rapidjson::Document body;
  body.Parse(imp.body.c_str());
  REQUIRE(body.IsObject());
  REQUIRE(body["scope"].IsArray());
  REQUIRE(body["scope"].Size() == 1);
  CHECK(std::string(body["scope"][0].GetString()) == "https://www.googleapis.com/auth/cloud-healthcare");
  CHECK(std::string(body["lifetime"].GetString()) == "1800s");

  SECTION("IAM refuses: AUTH-001 with Google's message") {
    ScriptRig other({"google"});
    const std::string s = other.Write("subject.jwt", kSubject);
    const std::string f = other.Write("wif.json", ExternalAccount("{\"file\":" + Quote(s) + "}", true));
    other.Http().respond = [](const HttpRequest& req) -> gw::Result<gw::http::HttpResponse> {
      if (req.url == kSts) return Response(200, R"({"access_token":"sts","token_type":"Bearer","expires_in":3600})");
      return Response(403, R"({"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}})");
    };
    auto denied = other.Acquire("google", Config(f));
    REQUIRE(ErrorCode(denied) == "AUTH-001");
    CHECK(denied.GetError().message.find("PERMISSION_DENIED") != std::string::npos);
  }
}

TEST_CASE("GoogleExternalAccount/STS client authentication and errors", "[providers][google]") {
  ScriptRig rig({"google"});
  const std::string subject = rig.Write("subject.jwt", kSubject);
  SECTION("client_id and client_secret go in HTTP Basic") {
    const std::string f = rig.Write("wif.json", ExternalAccount("{\"file\":" + Quote(subject) + "}", false,
                                                                ",\"client_id\":\"cid\",\"client_secret\":\"csecret\""));
    AnswerLikeGoogle(rig.Http());
    REQUIRE(rig.Acquire("google", Config(f)).Ok());
    CHECK(HeaderOf(rig.Http().Last(), "Authorization") == "Basic " + std::string("Y2lkOmNzZWNyZXQ="));
    CHECK(ParseForm(rig.Http().Last().body).count("client_secret") == 0);
  }
  SECTION("STS invalid_grant") {
    const std::string f = rig.Write("wif.json", ExternalAccount("{\"file\":" + Quote(subject) + "}", false));
    rig.Http().Answer(400, R"({"error":"invalid_grant","error_description":"The audience in ID Token does not match"})");
    CHECK(ErrorCode(rig.Acquire("google", Config(f))) == "AUTH-001");
  }
  SECTION("an unreadable subject token file") {
    const std::string f = rig.Write("wif.json", ExternalAccount("{\"file\":\"/etc/shadow\"}", false));
    CHECK(ErrorCode(rig.Acquire("google", Config(f))) == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }
  SECTION("an executable source is not supported") {
    const std::string f = rig.Write("wif.json", ExternalAccount(R"({"executable":{"command":"/bin/true"}})", false));
    CHECK(ErrorCode(rig.Acquire("google", Config(f))) == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }
  SECTION("missing audience") {
    const std::string f = rig.Write("wif.json", R"({"type":"external_account","token_url":"https://sts.test.example/v1/token"})");
    CHECK(ErrorCode(rig.Acquire("google", Config(f))) == "CFG-002");
  }
  rig.RequireBalanced();
}
