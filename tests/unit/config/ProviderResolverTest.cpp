#include <catch2/catch.hpp>

#include "gw/config/ProviderResolver.h"

using namespace gw::config;

namespace {

ServerConfig Server(std::string providerType, std::string tokenEndpoint, std::string url = "https://dicom.example.com/",
                    std::string provider = "") {
  ServerConfig s;
  s.name = "s";
  s.providerType = std::move(providerType);
  s.tokenEndpoint = std::move(tokenEndpoint);
  s.url = std::move(url);
  s.provider = std::move(provider);
  return s;
}

}  // namespace

TEST_CASE("ProviderResolver/explicit ProviderType table", "[config][provider]") {
  struct Row {
    const char* type;
    const char* script;
    const char* flavour;
  };
  const Row rows[] = {
      {"generic", "client_credentials", "generic"},
      {"keycloak", "client_credentials", "keycloak"},
      {"auth0", "client_credentials", "auth0"},
      {"okta", "client_credentials", "okta"},
      {"azure", "client_credentials", "azure"},
      {"entra", "client_credentials", "azure"},
      {"azuremanagedidentity", "azure_managed_identity", "azuremanagedidentity"},
      {"azureworkloadidentity", "azure_managed_identity", "azureworkloadidentity"},
      {"google", "google", "google"},
      {"aws", "aws_sigv4", "aws"},
      {"static", "static_token", "static"},
      {"file", "token_file", "file"},
  };
  for (const Row& row : rows) {
    INFO(row.type);
    // An explicit type is never overridden by what the endpoint looks like.
    const ProviderResolution r = ResolveProvider(Server(row.type, "https://login.microsoftonline.com/t/oauth2/v2.0/token"));
    CHECK(r.script == row.script);
    CHECK(r.flavour == row.flavour);
    CHECK_FALSE(r.reason.empty());
  }
  CHECK(ResolveProvider(Server("nonsense", "")).script.empty());
}

TEST_CASE("ProviderResolver/Provider overrides ProviderType", "[config][provider]") {
  const ProviderResolution r = ResolveProvider(Server("aws", "", "https://x.amazonaws.com/", "my_idp"));
  CHECK(r.script == "my_idp");
  CHECK(r.flavour == "custom");
}

TEST_CASE("ProviderResolver/auto detection from the token endpoint", "[config][provider]") {
  struct Row {
    const char* endpoint;
    const char* flavour;
  };
  const Row rows[] = {
      {"https://login.microsoftonline.com/tenant/oauth2/v2.0/token", "azure"},
      {"https://LOGIN.MICROSOFTONLINE.COM./tenant/oauth2/v2.0/token", "azure"},
      {"https://login.microsoftonline.us/tenant/oauth2/v2.0/token", "azure"},
      {"https://login.chinacloudapi.cn/tenant/oauth2/v2.0/token", "azure"},
      {"https://login.partner.microsoftonline.cn/tenant/oauth2/v2.0/token", "azure"},
      {"https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_x/oauth2/v2.0/token", "azure"},
      {"https://oauth2.googleapis.com/token", "google"},
      {"https://accounts.google.com/o/oauth2/token", "google"},
      {"https://kc.example.com/realms/healthcare/protocol/openid-connect/token", "keycloak"},
      {"https://kc.example.com/auth/realms/healthcare/protocol/openid-connect/token", "keycloak"},
      {"https://example.com/sso/realms/r/protocol/openid-connect/token/", "keycloak"},
      {"https://tenant.auth0.com/oauth/token", "generic"},
      {"https://dev-1.okta.com/oauth2/default/v1/token", "generic"},
      // Substring look-alikes are not the real hosts.
      {"https://login.microsoftonline.com.evil.example/t/oauth2/v2.0/token", "generic"},
      {"https://idp.example.com/login.microsoftonline.com/token", "generic"},
      {"https://b2clogin.com/token", "generic"},
      {"https://evilb2clogin.com/token", "generic"},
      {"https://oauth2.googleapis.com.evil.example/token", "generic"},
      {"https://kc.example.com/realms/protocol/openid-connect/token", "generic"},
      {"https://kc.example.com/realms/r/protocol/openid-connect/userinfo", "generic"},
      {"not a url", "generic"},
  };
  for (const Row& row : rows) {
    INFO(row.endpoint);
    std::string reason;
    CHECK(DetectProviderType(row.endpoint, "https://dicom.example.com/", &reason) == row.flavour);
    CHECK_FALSE(reason.empty());
    const ProviderResolution r = ResolveProvider(Server("auto", row.endpoint));
    CHECK(r.script == (std::string(row.flavour) == "google" ? "google" : "client_credentials"));
    CHECK(r.reason.rfind("ProviderType auto: ", 0) == 0);
  }
}

TEST_CASE("ProviderResolver/auto detection without a token endpoint", "[config][provider]") {
  CHECK(DetectProviderType("", "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/x/") == "aws");
  CHECK(ResolveProvider(Server("auto", "", "https://dicom-medical-imaging.us-east-1.amazonaws.com/")).script ==
        "aws_sigv4");
  CHECK(DetectProviderType("", "https://healthcare.googleapis.com/v1/projects/p/dicomWeb/") == "google");
  CHECK(DetectProviderType("", "https://amazonaws.com.evil.example/") == "generic");
  CHECK(DetectProviderType("", "https://evil-amazonaws.com/") == "generic");
  CHECK(DetectProviderType("", "https://ws.dicom.azurehealthcareapis.com/v2/") == "generic");
  CHECK(DetectProviderType("", "") == "generic");
}

TEST_CASE("ProviderResolver/auto with a Google CredentialsFile picks google", "[config][provider]") {
  for (const char* type : {"service_account", "external_account"}) {
    INFO(type);
    ServerConfig s = Server("auto", "", "https://dicom.example.com/v2/");
    s.credentialsFile = "/etc/orthanc/google.json";
    s.credentialsFileType = type;
    const ProviderResolution r = ResolveProvider(s);
    CHECK(r.script == "google");
    CHECK(r.flavour == "google");
    CHECK(r.reason == std::string("ProviderType auto: CredentialsFile is a Google ") + type + " file");
  }
  SECTION("a type the provider does not use, or none read, changes nothing") {
    for (const char* type : {"", "authorized_user", "impersonated_service_account"}) {
      ServerConfig s = Server("auto", "https://idp.example.com/token");
      s.credentialsFile = "/etc/orthanc/google.json";
      s.credentialsFileType = type;
      CHECK(ResolveProvider(s).script == "client_credentials");
    }
  }
  SECTION("an explicit ProviderType or Provider wins") {
    ServerConfig s = Server("keycloak", "https://kc.example.com/realms/r/protocol/openid-connect/token");
    s.credentialsFileType = "service_account";
    CHECK(ResolveProvider(s).script == "client_credentials");
    s.provider = "my_provider";
    CHECK(ResolveProvider(s).script == "my_provider");
  }
  CHECK(IsGoogleCredentialType("service_account"));
  CHECK(IsGoogleCredentialType("external_account"));
  CHECK_FALSE(IsGoogleCredentialType("authorized_user"));
}

// Regression: the Python plugin's auto-detection returned "aws" for any token endpoint whose text
// contained "aws" (`"aws" in token_endpoint.lower()`), sending identity providers such as
// laws.example.com or aws-idp.example.com to its AWS stub.
TEST_CASE("ProviderResolver/regression: a host merely containing 'aws' is not AWS", "[config][provider][regression]") {
  for (const char* endpoint : {"https://laws.example.com/oauth2/token", "https://aws-idp.example.com/oauth2/token",
                               "https://idp.example.com/aws/token", "https://sso.example.amazonaws.com/token",
                               "https://x.auth.us-east-1.amazoncognito.com/oauth2/token"}) {
    INFO(endpoint);
    CHECK(DetectProviderType(endpoint, "https://dicom.example.com/") == "generic");
    CHECK(ResolveProvider(Server("auto", endpoint)).script == "client_credentials");
  }
  // Even with an AWS DICOMweb URL: a token endpoint means OAuth2, not SigV4.
  CHECK(DetectProviderType("https://laws.example.com/token", "https://dicom-medical-imaging.us-east-1.amazonaws.com/") ==
        "generic");
}

// Regression: the Python plugin recognised Keycloak only by the "/auth/realms/" substring, so
// Keycloak 17+ endpoints (no /auth prefix) were not detected.
TEST_CASE("ProviderResolver/regression: Keycloak without the legacy /auth prefix", "[config][provider][regression]") {
  std::string reason;
  CHECK(DetectProviderType("https://kc.example.com/realms/r/protocol/openid-connect/token", "", &reason) == "keycloak");
  CHECK(reason.find("legacy") == std::string::npos);
  CHECK(DetectProviderType("https://kc.example.com/auth/realms/r/protocol/openid-connect/token", "", &reason) ==
        "keycloak");
  CHECK(reason.find("legacy") != std::string::npos);
  // ...and "/auth/realms/" alone anywhere in the text is not enough.
  CHECK(DetectProviderType("https://idp.example.com/auth/realms/", "") == "generic");
}

TEST_CASE("ProviderResolver/VerifyProviderScripts", "[config][provider]") {
  GatewayConfig config;
  config.servers["a"] = Server("azure", "https://login.microsoftonline.com/t/oauth2/v2.0/token");
  config.servers["a"].name = "a";
  config.servers["b"] = Server("auto", "", "https://x.dicom.example/", "custom_idp");
  config.servers["b"].name = "b";
  config.servers["c"] = Server("google", "");
  config.servers["c"].name = "c";

  SECTION("all present") {
    const auto d = VerifyProviderScripts(
        config, {{"client_credentials", "provider"}, {"custom_idp", "provider"}, {"google", "provider"}});
    CHECK(d.empty());
  }
  SECTION("missing and wrong kind") {
    const auto d = VerifyProviderScripts(config, {{"client_credentials", "provider"}, {"custom_idp", "policy"}});
    REQUIRE(d.size() == 2);
    CHECK(d[0].code == "CFG-002");
    CHECK(d[0].severity == Severity::Error);
    CHECK(d[0].path == "DicomWebOAuth.Servers.b.Provider");
    CHECK(d[0].message.find("`custom_idp`") != std::string::npos);
    CHECK(d[0].message.find("`policy`") != std::string::npos);
    CHECK(d[1].path == "DicomWebOAuth.Servers.c.ProviderType");
    CHECK(d[1].message.find("server `c`") != std::string::npos);
    CHECK(d[1].message.find("`google`") != std::string::npos);
  }
}
