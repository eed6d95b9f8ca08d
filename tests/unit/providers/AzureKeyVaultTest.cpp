// keyvault: secret references (core/src/service/KeyVaultResolver.cpp) against a recording HTTP
// double: which URLs are accepted, the managed identity token request (IMDS or App Service) for
// the vault's resource, the secret request (api-version 7.4, bearer token), and the errors,
// which never contain the secret or the token.
#include <map>

#include "AzureTestSupport.h"
#include "gw/config/ConfigParser.h"
#include "gw/service/ProviderAccess.h"
#include "gw/service/KeyVaultResolver.h"

using namespace gw::providers::test;
using gw::http::HttpRequest;
using gw::http::HttpResponse;

namespace {

const std::string kVaultToken = "vault-mi-token-5f2e";
const std::string kSecretValue = "the-secret-from-key-vault-91";

struct Vault {
  std::shared_ptr<RecordingHttp> http = std::make_shared<RecordingHttp>();
  std::map<std::string, std::string> env;
  long secretStatus = 200;
  long imdsStatus = 200;

  Vault() {
    http->respond = [this](const HttpRequest& r) -> gw::Result<HttpResponse> {
      if (r.url.find("/metadata/identity/oauth2/token") != std::string::npos || r.url.find("/msi/token") != std::string::npos) {
        if (imdsStatus != 200) return JsonResponse(imdsStatus, R"({"error":"busy"})");
        return JsonResponse(200, R"({"access_token":")" + kVaultToken + R"(","expires_on":"99999999999","token_type":"Bearer"})");
      }
      if (secretStatus != 200) return JsonResponse(secretStatus, R"({"error":{"code":"SecretNotFound","message":"x"}})");
      return JsonResponse(200, R"({"value":")" + kSecretValue + R"(","id":"https://v.vault.azure.net/secrets/s/1"})");
    };
  }

  gw::config::SecretResolver Resolver() {
    gw::service::KeyVaultOptions options;
    options.http = http;
    options.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    options.retryDelay = std::chrono::milliseconds(1);
    return gw::service::MakeKeyVaultResolver(options);
  }
};

}  // namespace

TEST_CASE("AzureKeyVault/reads the secret with a managed identity token for the vault", "[providers][azure]") {
  Vault vault;
  auto resolve = vault.Resolver();
  auto value = resolve("https://gw-vault.vault.azure.net/secrets/entra-secret");
  INFO((value.Ok() ? std::string("ok") : value.GetError().ToString()));
  REQUIRE(value.Ok());
  CHECK(value.Value() == kSecretValue);
  const auto requests = vault.http->Requests();
  REQUIRE(requests.size() == 2);
  CHECK(UrlPath(requests[0].url) == "http://169.254.169.254/metadata/identity/oauth2/token");
  CHECK(HeaderOf(requests[0], "Metadata") == "true");
  CHECK(QueryOf(requests[0].url) == std::map<std::string, std::string>{{"api-version", "2018-02-01"},
                                                                      {"resource", "https://vault.azure.net"}});
  CHECK(requests[1].method == "GET");
  CHECK(requests[1].url == "https://gw-vault.vault.azure.net/secrets/entra-secret?api-version=7.4");
  CHECK(HeaderOf(requests[1], "Authorization") == "Bearer " + kVaultToken);

  SECTION("a second reference reuses the token; a version is kept") {
    REQUIRE(resolve("https://gw-vault.vault.azure.net/secrets/other/0123456789abcdef0123456789abcdef").Ok());
    CHECK(vault.http->Count() == 3);
    CHECK(vault.http->Last().url ==
          "https://gw-vault.vault.azure.net/secrets/other/0123456789abcdef0123456789abcdef?api-version=7.4");
  }
}

TEST_CASE("AzureKeyVault/App Service identity, user-assigned client id, sovereign clouds", "[providers][azure]") {
  Vault vault;
  vault.env = {{"IDENTITY_ENDPOINT", "http://127.0.0.1:41000/msi/token"}, {"IDENTITY_HEADER", "hdr"},
               {"AZURE_CLIENT_ID", "c-1"}};
  auto resolve = vault.Resolver();
  REQUIRE(resolve("https://gov.vault.usgovcloudapi.net/secrets/s").Ok());
  const HttpRequest token = vault.http->Requests().at(0);
  CHECK(HeaderOf(token, "X-IDENTITY-HEADER") == "hdr");
  CHECK(QueryOf(token.url) == std::map<std::string, std::string>{{"api-version", "2019-08-01"},
                                                                  {"resource", "https://vault.usgovcloudapi.net"},
                                                                  {"client_id", "c-1"}});
}

TEST_CASE("AzureKeyVault/only Azure vault hosts over https, loopback http only when switched on", "[providers][azure]") {
  Vault vault;
  auto resolve = vault.Resolver();
  for (const char* bad : {"http://gw-vault.vault.azure.net/secrets/s", "https://vault.example.com/secrets/s",
                          "https://evil.vault.azure.net.example.com/secrets/s", "http://127.0.0.1:8200/secrets/s",
                          "https://v.vault.azure.net/keys/s", "https://v.vault.azure.net/secrets/",
                          "https://v.vault.azure.net/secrets/a/b/c", "https://v.vault.azure.net/secrets/s?x=1",
                          "https://v.vault.azure.net/secrets/bad_name", "not a url"}) {
    auto r = resolve(bad);
    INFO(bad);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CFG-007");
  }
  CHECK(vault.http->Count() == 0);
  vault.env["DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK"] = "1";
  auto test = vault.Resolver();
  REQUIRE(test("http://127.0.0.1:8200/secrets/s").Ok());
  CHECK(vault.http->Last().url == "http://127.0.0.1:8200/secrets/s?api-version=7.4");
  CHECK_FALSE(test("http://10.0.0.1:8200/secrets/s").Ok());
}

TEST_CASE("AzureKeyVault/failures name the vault and secret, never a value or token", "[providers][azure]") {
  Vault vault;
  vault.secretStatus = 404;
  auto r = vault.Resolver()("https://gw-vault.vault.azure.net/secrets/missing");
  REQUIRE_FALSE(r.Ok());
  CHECK(r.GetError().message.find("gw-vault.vault.azure.net/secrets/missing") != std::string::npos);
  CHECK(r.GetError().message.find("404") != std::string::npos);
  CHECK(r.GetError().message.find(kVaultToken) == std::string::npos);

  Vault busy;
  busy.imdsStatus = 503;
  auto b = busy.Resolver()("https://gw-vault.vault.azure.net/secrets/s");
  REQUIRE_FALSE(b.Ok());
  CHECK(b.GetError().message.find("managed identity") != std::string::npos);
  CHECK(busy.http->Count() == 3);  // attempts, then give up
}

TEST_CASE("AzureKeyVault/through the configuration parser: resolved, or CFG-007 at the JSON path", "[providers][azure]") {
  Vault vault;
  const std::string config = R"({"DicomWebOAuth":{"ScriptDirectories":[")" + SourcePath("lua") + R"("],"Servers":{"a":{
      "Url":"https://d.example/","ProviderType":"azure","TenantId":"t","ClientId":"c",
      "ClientSecret":"keyvault:https://gw-vault.vault.azure.net/secrets/REF"}}}})";
  auto parse = [&](const std::string& ref) {
    std::string text = config;
    text.replace(text.find("REF"), 3, ref);
    rapidjson::Document doc;
    doc.Parse(text.c_str());
    gw::config::ParseOptions options;
    options.secretResolvers["keyvault"] = vault.Resolver();
    options.loadContracts = gw::service::LoadProviderContracts;  // ClientSecret is secret by its contract
    return gw::config::ConfigParser::Parse(doc, options);
  };
  auto ok = parse("entra");
  REQUIRE(ok.Ok());
  const auto& raw = *ok.config->servers.at("a").raw;
  CHECK(std::string(raw["ClientSecret"].GetString()) == kSecretValue);
  vault.secretStatus = 403;
  auto refused = parse("entra");
  REQUIRE_FALSE(refused.Ok());
  bool found = false;
  for (const auto& d : refused.diagnostics) {
    if (d.code == "CFG-007" && d.path == "DicomWebOAuth.Servers.a.ClientSecret") found = true;
    CHECK(d.message.find(kSecretValue) == std::string::npos);
  }
  CHECK(found);
}
