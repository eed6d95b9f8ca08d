// lua/providers/azure_managed_identity.lua run for real in the script engine against a recording
// HTTP double: the IMDS and App Service requests (api-versions, headers, identity selectors, host
// overrides), the Azure SDK's retry policy (404/429/5xx back-off, 410 for GoneRetrySeconds), and
// the error mapping.
#include <chrono>

#include "AzureTestSupport.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;
using gw::http::HttpResponse;

namespace {

const std::string kImds = "http://169.254.169.254/metadata/identity/oauth2/token";

std::string ImdsAnswer(int64_t expiresOn) {
  // As IMDS documents it: every number is a string.
  return R"({"access_token":"imds-token-1","refresh_token":"","expires_in":"3599","expires_on":")" +
         std::to_string(expiresOn) + R"(","not_before":"1506480273","resource":"https://dicom.healthcareapis.azure.com","token_type":"Bearer"})";
}

HttpRequest OneRequest(AzureRig& rig, const std::string& config, int64_t* expiresOn = nullptr) {
  const int64_t on = UnixNow() + 3600;
  rig.Http().Answer(200, ImdsAnswer(on));
  auto result = rig.Acquire(config);
  INFO((result.Ok() ? ToJson(result.Value()) : result.GetError().ToString()));
  REQUIRE(result.Ok());
  CHECK(std::string(result.Value()["access_token"].GetString()) == "imds-token-1");
  CHECK(std::string(result.Value()["token_type"].GetString()) == "Bearer");
  REQUIRE(result.Value()["expires_on"].IsNumber());
  CHECK(result.Value()["expires_on"].GetDouble() == static_cast<double>(on));
  if (expiresOn) *expiresOn = on;
  REQUIRE(rig.Http().Count() == 1);
  rig.RequireBalanced();
  return rig.Http().Last();
}

// Answers the statuses in turn, then 200 with a token.
void AnswerSequence(AzureRig& rig, std::vector<long> statuses, std::string retryAfter = "") {
  auto index = std::make_shared<size_t>(0);
  rig.Http().respond = [statuses, index, retryAfter](const HttpRequest&) -> gw::Result<HttpResponse> {
    const size_t i = (*index)++;
    if (i < statuses.size()) {
      gw::http::Headers extra;
      if (!retryAfter.empty()) extra.push_back({"retry-after", retryAfter});
      return JsonResponse(statuses[i], R"({"error":"temporarily_unavailable","error_description":"try later"})", extra);
    }
    return JsonResponse(200, ImdsAnswer(UnixNow() + 3600));
  };
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("AzureManagedIdentity/IMDS system-assigned identity with the Python plugin's configuration", "[providers][azure]") {
  CleanAzureEnv clean;
  AzureRig rig;
  // The Python plugin's keys exactly: ProviderType, Url, Scope.
  const HttpRequest r = OneRequest(rig, R"({"ProviderType":"azuremanagedidentity","Url":"https://ws-dicom.dicom.azurehealthcareapis.com/v2/",
                                             "Scope":"https://dicom.healthcareapis.azure.com/.default"})");
  CHECK(r.method == "GET");
  CHECK(UrlPath(r.url) == kImds);
  CHECK(HeaderOf(r, "Metadata") == "true");
  CHECK(HeaderCount(r, "X-IDENTITY-HEADER") == 0);
  CHECK(r.body.empty());
  CHECK(QueryOf(r.url) == std::map<std::string, std::string>{{"api-version", "2018-02-01"},
                                                             {"resource", "https://dicom.healthcareapis.azure.com"}});

  SECTION("no Scope: the Azure DICOM service, as in the Python plugin") {
    AzureRig other;
    const HttpRequest d = OneRequest(other, R"({"ProviderType":"azuremanagedidentity","Url":"https://x.example/"})");
    CHECK(QueryOf(d.url).at("resource") == "https://dicom.healthcareapis.azure.com");
  }
  SECTION("Resource is sent as is") {
    AzureRig other;
    const HttpRequest d = OneRequest(other, R"({"Resource":"https://vault.azure.net"})");
    CHECK(QueryOf(d.url).at("resource") == "https://vault.azure.net");
  }
}

TEST_CASE("AzureManagedIdentity/user-assigned identity by client id, object id or resource id", "[providers][azure]") {
  CleanAzureEnv clean;
  const std::string rid = "/subscriptions/0000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gw";
  {
    AzureRig rig;
    CHECK(QueryOf(OneRequest(rig, R"({"ClientId":"11111111-aaaa"})").url).at("client_id") == "11111111-aaaa");
  }
  {
    AzureRig rig;
    const auto q = QueryOf(OneRequest(rig, R"({"ObjectId":"22222222-bbbb"})").url);
    CHECK(q.at("object_id") == "22222222-bbbb");
    CHECK(q.count("client_id") == 0);
  }
  {
    AzureRig rig;
    CHECK(QueryOf(OneRequest(rig, R"({"ManagedIdentityResourceId":)" + Quote(rid) + "}").url).at("msi_res_id") == rid);
  }
  {
    ScopedEnv id("AZURE_CLIENT_ID", "33333333-env");  // DefaultAzureCredential's user-assigned id
    AzureRig rig;
    CHECK(QueryOf(OneRequest(rig, "{}").url).at("client_id") == "33333333-env");
  }
  {
    AzureRig rig;
    rig.Http().Answer(200, ImdsAnswer(UnixNow() + 3600));
    auto both = rig.Acquire(R"({"ClientId":"a","ObjectId":"b"})");
    REQUIRE_FALSE(both.Ok());
    CHECK(both.GetError().code == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }
}

TEST_CASE("AzureManagedIdentity/IMDS host overrides: ImdsEndpoint, AZURE_POD_IDENTITY_AUTHORITY_HOST", "[providers][azure]") {
  CleanAzureEnv clean;
  {
    AzureRig rig;
    CHECK(UrlPath(OneRequest(rig, R"({"ImdsEndpoint":"http://127.0.0.1:4321/metadata/identity/oauth2/token"})").url) ==
          "http://127.0.0.1:4321/metadata/identity/oauth2/token");
  }
  {
    ScopedEnv host("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9999/");
    AzureRig rig;
    CHECK(UrlPath(OneRequest(rig, "{}").url) == "http://127.0.0.1:9999/metadata/identity/oauth2/token");
  }
}

TEST_CASE("AzureManagedIdentity/App Service and Container Apps use IDENTITY_ENDPOINT with X-IDENTITY-HEADER", "[providers][azure]") {
  CleanAzureEnv clean;
  ScopedEnv endpoint("IDENTITY_ENDPOINT", "http://127.0.0.1:41000/msi/token");
  ScopedEnv header("IDENTITY_HEADER", "app-service-header-secret-77");
  AzureRig rig;
  const int64_t on = UnixNow() + 7200;
  // 2019-08-01 answers expires_on as a string of Unix seconds, and no expires_in.
  rig.Http().Answer(200, R"({"access_token":"app-token","expires_on":")" + std::to_string(on) +
                             R"(","resource":"https://dicom.healthcareapis.azure.com","token_type":"Bearer","client_id":"x"})");
  auto result = rig.Acquire(R"({"ClientId":"44444444-cccc"})");
  REQUIRE(result.Ok());
  CHECK(result.Value()["expires_on"].GetDouble() == static_cast<double>(on));
  const HttpRequest r = rig.Http().Last();
  CHECK(r.method == "GET");
  CHECK(UrlPath(r.url) == "http://127.0.0.1:41000/msi/token");
  CHECK(HeaderOf(r, "X-IDENTITY-HEADER") == "app-service-header-secret-77");
  CHECK(HeaderCount(r, "Metadata") == 0);
  CHECK(QueryOf(r.url) == std::map<std::string, std::string>{{"api-version", "2019-08-01"},
                                                             {"resource", "https://dicom.healthcareapis.azure.com"},
                                                             {"client_id", "44444444-cccc"}});
  SECTION("object id is principal_id, resource id is mi_res_id") {
    AzureRig other;
    other.Http().Answer(200, R"({"access_token":"t","expires_on":")" + std::to_string(on) + R"(","token_type":"Bearer"})");
    REQUIRE(other.Acquire(R"({"ObjectId":"o-1"})").Ok());
    CHECK(QueryOf(other.Http().Last().url).at("principal_id") == "o-1");
    REQUIRE(other.Acquire(R"({"ManagedIdentityResourceId":"/sub/r"})").Ok());
    CHECK(QueryOf(other.Http().Last().url).at("mi_res_id") == "/sub/r");
  }
  SECTION("an error never shows the identity header") {
    AzureRig other;
    other.Http().Answer(400, R"({"error":{"code":"BadRequest","message":"header app-service-header-secret-77 refused"}})");
    auto failed = other.Acquire("{}");
    REQUIRE_FALSE(failed.Ok());
    CHECK(failed.GetError().code == "AUTH-001");
    CHECK(failed.GetError().message.find("app-service-header-secret-77") == std::string::npos);
    CHECK(failed.GetError().message.find("BadRequest") != std::string::npos);
  }
}

TEST_CASE("AzureManagedIdentity/410 during host maintenance is retried until GoneRetrySeconds have passed", "[providers][azure]") {
  CleanAzureEnv clean;
  const std::string retry = R"({"ImdsRetry":{"GoneRetryInterval":0.05,"GoneRetrySeconds":0.4,"MaxRetries":1}})";
  SECTION("three 410 answers, then a token: four requests, three waits") {
    AzureRig rig;
    AnswerSequence(rig, {410, 410, 410});
    const auto start = std::chrono::steady_clock::now();
    auto result = rig.Acquire(retry);
    REQUIRE(result.Ok());
    CHECK(rig.Http().Count() == 4);  // more than MaxRetries: 410 has its own time-based rule
    CHECK(SecondsSince(start) >= 0.15);
  }
  SECTION("410 that never ends: keeps asking for GoneRetrySeconds, then AUTH-005") {
    AzureRig rig;
    rig.Http().Answer(410, R"({"error":"gone"})");
    const auto start = std::chrono::steady_clock::now();
    auto result = rig.Acquire(retry);
    REQUIRE_FALSE(result.Ok());
    CHECK(result.GetError().code == "AUTH-005");
    CHECK(SecondsSince(start) >= 0.4);
    CHECK(rig.Http().Count() >= 8);  // 0.4 s / 0.05 s
    CHECK(result.GetError().message.find("410") != std::string::npos);
    CHECK(result.GetError().message.find("attempts") != std::string::npos);
    rig.RequireBalanced();
  }
  SECTION("the default policy keeps 410 going for 70 s: within a 2 s budget it stops, budget exhausted") {
    AzureRig rig({}, std::chrono::milliseconds(2000));
    rig.Http().Answer(410, R"({"error":"gone"})");
    auto result = rig.Acquire(R"({"ImdsRetry":{"GoneRetryInterval":0.2}})");
    REQUIRE_FALSE(result.Ok());
    CHECK(result.GetError().code == "AUTH-005");
    CHECK(result.GetError().message.find("time budget exhausted") != std::string::npos);
  }
}

TEST_CASE("AzureManagedIdentity/404, 429 and 5xx back off exponentially up to MaxRetries, 400 is final", "[providers][azure]") {
  CleanAzureEnv clean;
  const std::string retry = R"({"ImdsRetry":{"InitialDelay":0.02,"MaxRetries":3}})";
  for (long status : {404L, 429L, 500L, 503L}) {
    DYNAMIC_SECTION("status " << status << " twice, then a token") {
      AzureRig rig;
      AnswerSequence(rig, {status, status});
      const auto start = std::chrono::steady_clock::now();
      REQUIRE(rig.Acquire(retry).Ok());
      CHECK(rig.Http().Count() == 3);
      CHECK(SecondsSince(start) >= 0.06);  // 0.02 + 0.04
    }
    DYNAMIC_SECTION("status " << status << " for ever: 1 + MaxRetries requests, AUTH-005") {
      AzureRig rig;
      rig.Http().Answer(status, R"({"error":"busy"})");
      auto result = rig.Acquire(retry);
      REQUIRE_FALSE(result.Ok());
      CHECK(result.GetError().code == "AUTH-005");
      CHECK(rig.Http().Count() == 4);
    }
  }
  SECTION("Retry-After lengthens the wait") {
    AzureRig rig;
    AnswerSequence(rig, {429}, "1");
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(rig.Acquire(retry).Ok());
    CHECK(SecondsSince(start) >= 1.0);
  }
  SECTION("400 identity not found: one request, AUTH-001 with IMDS's words") {
    AzureRig rig;
    rig.Http().Answer(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
    auto result = rig.Acquire(retry);
    REQUIRE_FALSE(result.Ok());
    CHECK(result.GetError().code == "AUTH-001");
    CHECK(result.GetError().message.find("Identity not found") != std::string::npos);
    CHECK(rig.Http().Count() == 1);
  }
  SECTION("invalid retry settings are CFG-002 and send nothing") {
    AzureRig rig;
    auto result = rig.Acquire(R"({"ImdsRetry":{"MaxRetrys":3}})");
    REQUIRE_FALSE(result.Ok());
    CHECK(result.GetError().code == "CFG-002");
    CHECK(rig.Http().Count() == 0);
  }
}

TEST_CASE("AzureManagedIdentity/2xx answers without a usable token are TOK-004", "[providers][azure]") {
  CleanAzureEnv clean;
  AzureRig rig;
  for (const char* body : {R"({"token_type":"Bearer","expires_on":"99999999999"})",
                           R"({"access_token":"t","token_type":"pop","expires_on":"99999999999"})",
                           R"({"access_token":"t","token_type":"Bearer","expires_on":"1000"})", "not json"}) {
    rig.Http().Answer(200, body);
    auto result = rig.Acquire("{}");
    REQUIRE_FALSE(result.Ok());
    CHECK(result.GetError().code == "TOK-004");
  }
}
