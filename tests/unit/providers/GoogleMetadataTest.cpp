// lua/providers/google.lua against the metadata server (GCE, GKE, Cloud Run): the documented
// request (Metadata-Flavor: Google, /computeMetadata/v1/instance/service-accounts/default/token,
// optional comma-separated scopes), GCE_METADATA_HOST, and the answer checks.
#include "GoogleTestSupport.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;

namespace {

const std::string kNoFile = R"({"Url":"https://healthcare.googleapis.com/v1/x","ProviderType":"google"})";
const char* kToken = R"({"access_token":"ya29.from-metadata","expires_in":3456,"token_type":"Bearer"})";
const gw::http::Headers kGoogleHeaders = {{"content-type", "application/json"}, {"metadata-flavor", "Google"}};

}  // namespace

TEST_CASE("GoogleMetadata/the documented request", "[providers][google]") {
  ScriptRig rig({"google"}, {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST"});
  ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS");
  rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
    return Response(200, kToken, kGoogleHeaders);
  };

  SECTION("default host metadata.google.internal, no scopes parameter") {
    ScopedEnv host("GCE_METADATA_HOST");
    auto r = rig.Acquire("google", kNoFile);
    REQUIRE(r.Ok());
    CHECK(r.Value()["expires_in"].GetDouble() == 3456);
    const HttpRequest req = rig.Http().Last();
    CHECK(req.method == "GET");
    CHECK(req.url == "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token");
    CHECK(HeaderOf(req, "Metadata-Flavor") == "Google");
    CHECK(HeaderCount(req, "X-Forwarded-For") == 0);
    CHECK(HeaderCount(req, "Authorization") == 0);
  }
  SECTION("GCE_METADATA_HOST and an explicit Scope") {
    ScopedEnv host("GCE_METADATA_HOST", "127.0.0.1:8123");
    REQUIRE(rig.Acquire("google", R"({"ProviderType":"google","Scope":"https://www.googleapis.com/auth/cloud-healthcare https://www.googleapis.com/auth/cloud-platform"})").Ok());
    const HttpRequest req = rig.Http().Last();
    CHECK(req.url.rfind("http://127.0.0.1:8123/computeMetadata/v1/instance/service-accounts/default/token?", 0) == 0);
    CHECK(QueryParam(req.url, "scopes") ==
          "https://www.googleapis.com/auth/cloud-healthcare,https://www.googleapis.com/auth/cloud-platform");
  }
  rig.RequireBalanced();
}

TEST_CASE("GoogleMetadata/answers that are refused", "[providers][google]") {
  ScriptRig rig({"google"}, {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST"});
  ScopedEnv adc("GOOGLE_APPLICATION_CREDENTIALS");
  ScopedEnv host("GCE_METADATA_HOST", "127.0.0.1:8123");
  SECTION("without Metadata-Flavor: Google (not a metadata server)") {
    rig.Http().Answer(200, kToken);
    CHECK(ErrorCode(rig.Acquire("google", kNoFile)) == "TOK-004");
  }
  SECTION("403 and 404 are credential errors") {
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return Response(403, "Forbidden", kGoogleHeaders);
    };
    CHECK(ErrorCode(rig.Acquire("google", kNoFile)) == "AUTH-001");
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return Response(404, "Not Found", kGoogleHeaders);
    };
    CHECK(ErrorCode(rig.Acquire("google", kNoFile)) == "AUTH-002");
  }
  SECTION("500 is transient") {
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return Response(500, "", kGoogleHeaders);
    };
    CHECK(ErrorCode(rig.Acquire("google", kNoFile)) == "AUTH-005");
  }
  SECTION("unreachable: the message says which credentials were looked for") {
    rig.Http().respond = [](const HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return gw::MakeError("NET-001", "connection refused");
    };
    auto r = rig.Acquire("google", kNoFile);
    REQUIRE(ErrorCode(r) == "NET-001");
    CHECK(r.GetError().message.find("GOOGLE_APPLICATION_CREDENTIALS") != std::string::npos);
    CHECK(r.GetError().message.find("127.0.0.1:8123") != std::string::npos);
  }
  rig.RequireBalanced();
}
