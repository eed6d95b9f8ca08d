// The Entra ID v2 side of the Azure providers, run for real in the script engine:
// AKS workload identity (the projected token re-read and sent as a jwt-bearer client assertion),
// the environment credential of the DefaultAzureCredential chain, the chain's order, and
// client_credentials building the Entra endpoint from TenantId and the authority host.
#include <filesystem>
#include <fstream>

#include "AzureTestSupport.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;

namespace {

const char* kEntraAnswer = R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"entra-token-9"})";
const std::string kTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";

// A temporary folder holding a projected service-account token.
class TokenDir {
 public:
  TokenDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-azure-wi-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TokenDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& content) {
    const std::string file = path_ + "/azure-identity-token";
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    return file;
  }
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

HttpRequest Acquired(AzureRig& rig, const std::string& config, const std::string& script = "azure_managed_identity") {
  rig.Http().Answer(200, kEntraAnswer);
  const size_t before = rig.Http().Count();
  auto result = rig.Acquire(config, script);
  INFO((result.Ok() ? ToJson(result.Value()) : result.GetError().ToString()));
  REQUIRE(result.Ok());
  CHECK(std::string(result.Value()["access_token"].GetString()) == "entra-token-9");
  REQUIRE(rig.Http().Count() == before + 1);
  rig.RequireBalanced();
  return rig.Http().Last();
}

}  // namespace

TEST_CASE("AzureWorkloadIdentity/the projected token is the client assertion, re-read at every acquisition", "[providers][azure]") {
  CleanAzureEnv clean;
  TokenDir dir;
  const std::string file = dir.Write("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnLTE\n");
  ScopedEnv f("AZURE_FEDERATED_TOKEN_FILE", file.c_str());
  ScopedEnv t("AZURE_TENANT_ID", kTenant.c_str());
  ScopedEnv c("AZURE_CLIENT_ID", "55555555-wi");
  ScopedEnv a("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/");  // a sovereign cloud
  AzureRig rig({dir.Path()});

  const HttpRequest r = Acquired(rig, R"({"ProviderType":"azureworkloadidentity"})");
  CHECK(r.method == "POST");
  CHECK(r.url == "https://login.microsoftonline.us/" + kTenant + "/oauth2/v2.0/token");
  CHECK(HeaderOf(r, "Content-Type") == "application/x-www-form-urlencoded");
  CHECK(ParseForm(r.body) == std::map<std::string, std::string>{
                                 {"grant_type", "client_credentials"},
                                 {"client_id", "55555555-wi"},
                                 {"scope", "https://dicom.healthcareapis.azure.com/.default"},
                                 {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                 {"client_assertion", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnLTE"}});

  // The kubelet rotates the file: the next acquisition sends the new content.
  dir.Write("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2lnLTI");
  CHECK(ParseForm(Acquired(rig, R"({"ProviderType":"azureworkloadidentity"})").body).at("client_assertion") ==
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2lnLTI");

  SECTION("configuration keys win over the environment") {
    const HttpRequest k = Acquired(rig, R"({"AzureCredential":"workload_identity","TenantId":"contoso.onmicrosoft.com",
                                             "ClientId":"66666666-key","AuthorityHost":"https://login.chinacloudapi.cn",
                                             "Scope":"api://dicom/.default"})");
    CHECK(k.url == "https://login.chinacloudapi.cn/contoso.onmicrosoft.com/oauth2/v2.0/token");
    CHECK(ParseForm(k.body).at("client_id") == "66666666-key");
    CHECK(ParseForm(k.body).at("scope") == "api://dicom/.default");
  }
  SECTION("the default chain picks workload identity when its variables are set") {
    CHECK(Acquired(rig, R"({"ProviderType":"azuremanagedidentity"})").url.find("/oauth2/v2.0/token") != std::string::npos);
  }
  SECTION("Entra's refusal is AUTH-001 and never shows the assertion") {
    rig.Http().Answer(400, R"({"error":"invalid_client","error_description":"AADSTS70021: No matching federated identity record found for presented assertion eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGVkIn0.c2lnLTI"})");
    auto failed = rig.Acquire(R"({"ProviderType":"azureworkloadidentity"})");
    REQUIRE_FALSE(failed.Ok());
    CHECK(failed.GetError().code == "AUTH-001");
    CHECK(failed.GetError().message.find("AADSTS70021") != std::string::npos);
    CHECK(failed.GetError().message.find("c2lnLTI") == std::string::npos);
  }
  SECTION("an authority over plain http to another host is refused before any request") {
    const size_t before = rig.Http().Count();
    auto failed = rig.Acquire(R"({"ProviderType":"azureworkloadidentity","AuthorityHost":"http://login.example"})");
    REQUIRE_FALSE(failed.Ok());
    CHECK(failed.GetError().code == "CFG-002");
    CHECK(rig.Http().Count() == before);
  }
}

TEST_CASE("AzureWorkloadIdentity/missing settings name what is missing", "[providers][azure]") {
  CleanAzureEnv clean;
  ScopedEnv t("AZURE_TENANT_ID", kTenant.c_str());
  AzureRig rig;
  auto failed = rig.Acquire(R"({"ProviderType":"azureworkloadidentity"})");
  REQUIRE_FALSE(failed.Ok());
  CHECK(failed.GetError().code == "CFG-001");
  CHECK(failed.GetError().message.find("AZURE_FEDERATED_TOKEN_FILE") != std::string::npos);
  CHECK(failed.GetError().message.find("AZURE_CLIENT_ID") != std::string::npos);
  CHECK(failed.GetError().message.find("AZURE_TENANT_ID") == std::string::npos);
  CHECK(rig.Http().Count() == 0);
}

TEST_CASE("AzureWorkloadIdentity/a token file outside the allowlist is CFG-002, not sent", "[providers][azure]") {
  CleanAzureEnv clean;
  TokenDir dir;
  ScopedEnv f("AZURE_FEDERATED_TOKEN_FILE", dir.Write("eyJ.x.y").c_str());
  ScopedEnv t("AZURE_TENANT_ID", kTenant.c_str());
  ScopedEnv c("AZURE_CLIENT_ID", "c");
  AzureRig rig;  // the folder is not allowlisted
  auto failed = rig.Acquire(R"({"ProviderType":"azureworkloadidentity"})");
  REQUIRE_FALSE(failed.Ok());
  CHECK(failed.GetError().code == "CFG-002");
  CHECK(rig.Http().Count() == 0);
}

TEST_CASE("AzureDefaultChain/environment credential first, then workload identity, then managed identity", "[providers][azure]") {
  CleanAzureEnv clean;
  TokenDir dir;
  ScopedEnv t("AZURE_TENANT_ID", kTenant.c_str());
  ScopedEnv c("AZURE_CLIENT_ID", "77777777-env");
  ScopedEnv s("AZURE_CLIENT_SECRET", "env-secret-value-123");
  ScopedEnv f("AZURE_FEDERATED_TOKEN_FILE", dir.Write("eyJ.a.b").c_str());
  AzureRig rig({dir.Path()});
  const HttpRequest r = Acquired(rig, R"({"ProviderType":"azuremanagedidentity","Resource":"https://dicom.healthcareapis.azure.com"})");
  CHECK(r.url == "https://login.microsoftonline.com/" + kTenant + "/oauth2/v2.0/token");
  const auto form = ParseForm(r.body);
  CHECK(form.at("client_secret") == "env-secret-value-123");
  CHECK(form.at("scope") == "https://dicom.healthcareapis.azure.com/.default");
  CHECK(form.count("client_assertion") == 0);

  SECTION("AzureCredential managed_identity skips the others") {
    rig.Http().Answer(200, R"({"access_token":"mi","token_type":"Bearer","expires_on":"99999999999"})");
    REQUIRE(rig.Acquire(R"({"AzureCredential":"managed_identity","ClientId":"x"})").Ok());
    CHECK(HeaderOf(rig.Http().Last(), "Metadata") == "true");
  }
  SECTION("AzureCredential must be known") {
    auto failed = rig.Acquire(R"({"AzureCredential":"cli"})");
    REQUIRE_FALSE(failed.Ok());
    CHECK(failed.GetError().code == "CFG-002");
  }
}

TEST_CASE("AzureEntra/client_credentials builds the v2 endpoint from TenantId", "[providers][azure]") {
  CleanAzureEnv clean;
  AzureRig rig;
  const std::string base = R"("ProviderType":"azure","ClientId":"app-1","ClientSecret":"entra-secret-xyz-42")";
  {
    const HttpRequest r = Acquired(rig, "{" + base + R"(,"TenantId":")" + kTenant +
                                            R"(","Scope":"https://dicom.healthcareapis.azure.com/.default"})",
                                   "client_credentials");
    CHECK(r.url == "https://login.microsoftonline.com/" + kTenant + "/oauth2/v2.0/token");
    CHECK(ParseForm(r.body).at("scope") == "https://dicom.healthcareapis.azure.com/.default");
  }
  {
    ScopedEnv a("AZURE_AUTHORITY_HOST", "login.microsoftonline.us");
    const HttpRequest r = Acquired(rig, "{" + base + R"(,"TenantId":")" + kTenant + R"(","Resource":"https://dicom.healthcareapis.azure.com/"})",
                                   "client_credentials");
    CHECK(r.url == "https://login.microsoftonline.us/" + kTenant + "/oauth2/v2.0/token");
    // v2 takes a scope, never a resource.
    const auto form = ParseForm(r.body);
    CHECK(form.at("scope") == "https://dicom.healthcareapis.azure.com/.default");
    CHECK(form.count("resource") == 0);
  }
  {
    const HttpRequest r = Acquired(rig, "{" + base + R"(,"TenantId":"t1","AuthorityHost":"https://127.0.0.1:8443"})",
                                   "client_credentials");
    CHECK(r.url == "https://127.0.0.1:8443/t1/oauth2/v2.0/token");
  }
  {
    auto failed = rig.Acquire("{" + base + R"(,"TenantId":"bad/tenant"})", "client_credentials");
    REQUIRE_FALSE(failed.Ok());
    CHECK(failed.GetError().code == "CFG-002");
  }
  {
    // An explicit TokenEndpoint wins, and a v1 endpoint keeps its resource parameter.
    const HttpRequest r = Acquired(rig, "{" + base + R"(,"TenantId":"t1","TokenEndpoint":"https://login.microsoftonline.com/t1/oauth2/token","Resource":"https://r.example"})",
                                   "client_credentials");
    CHECK(r.url == "https://login.microsoftonline.com/t1/oauth2/token");
    CHECK(ParseForm(r.body).at("resource") == "https://r.example");
  }
}
