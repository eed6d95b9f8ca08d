#include <filesystem>

#include "ConfigTestSupport.h"
#include "gw/config/ProviderResolver.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

const std::string kServer = "DicomWebOAuth.Servers.s";

std::string P(const std::string& key) { return kServer + "." + key; }

}  // namespace

TEST_CASE("ConfigParser/missing section is distinct and silent", "[config][parser]") {
  const ParseResult r = ParseJson(R"({"HttpPort": 8042, "DicomWeb": {"Enable": true}})");
  CHECK(r.section == SectionStatus::Missing);
  CHECK(r.diagnostics.empty());
  CHECK_FALSE(r.Ok());
}

TEST_CASE("ConfigParser/defaults of a minimal server", "[config][parser]") {
  const ParseResult r = ParseJson(WithServer(BaseServer()));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.diagnostics.empty());
  const GlobalConfig& g = r.config->global;
  CHECK(g.enabled);
  CHECK_FALSE(g.logLevel.has_value());
  CHECK(g.rateLimitRequests == 0);
  CHECK(g.rateLimitWindowSeconds == 60);
  CHECK(g.cacheType == CacheType::Memory);
  CHECK(g.redisUrl.empty());
  CHECK(g.scriptDirectories == std::vector<std::string>{std::string(GW_SOURCE_DIR) + "/lua"});
  CHECK(g.luaMemoryLimitMb == 32);
  CHECK(g.luaTimeoutMs == 5000);
  CHECK(g.luaPoolSize == 16);
  CHECK(g.luaReservedStatesPerServer == 1);
  CHECK(g.watchScripts);
  CHECK(g.envAllowlist.empty());
  CHECK(g.fileAllowlist.empty());
  CHECK_FALSE(g.allowInjectWithServersInDatabase);
  CHECK(r.config->orthanc.httpPort == 8042);
  CHECK_FALSE(r.config->orthanc.dicomWebServersInDatabase);

  const ServerConfig& s = r.config->servers.at("s");
  CHECK(s.name == "s");
  CHECK(s.url == "https://dicom.example.com/v2/");
  CHECK(s.tokenRefreshBufferSeconds == 300);
  CHECK(s.providerType == "auto");
  CHECK(s.verifySsl);
  CHECK(s.caBundle.empty());
  CHECK(s.clientAuthMethod == ClientAuthMethod::ClientSecretPost);
  CHECK(s.mode == ServerMode::Inject);
  CHECK_FALSE(s.modeExplicit);
  CHECK_FALSE(s.hasDelete.has_value());
  CHECK_FALSE(s.chunkedTransfers.has_value());
  CHECK_FALSE(s.timeoutSeconds.has_value());
  const ResilienceConfig& res = s.resilience;
  CHECK(res.circuitBreakerEnabled);
  CHECK(res.circuitBreakerFailureThreshold == 5);
  CHECK(res.circuitBreakerTimeoutSeconds == 60.0);
  CHECK(res.retryMaxAttempts == 3);
  CHECK(res.retryStrategy == RetryStrategy::Exponential);
  CHECK(res.retryInitialDelaySeconds == 1.0);
  CHECK(res.retryMultiplier == 2.0);
  CHECK(res.retryMaxDelaySeconds == 30.0);
  CHECK(res.retryIncrementSeconds == 1.0);
  CHECK(res.acquisitionTimeoutSeconds == 30.0);
  CHECK(res.retryJitter == 0.1);  // not a key: the token engine's fixed jitter
  CHECK(std::string(ToString(res.retryStrategy)) == "exponential");
  REQUIRE(s.raw);
  CHECK((*s.raw)["ClientSecret"].GetString() == std::string("base-secret-value"));
}

TEST_CASE("ConfigParser/every global and server key is read", "[config][parser]") {
  const std::string files = Fixture("files");
  const ParseResult r = ParseJson(WithServer(
      R"({
        "Url": "https://dicom.example.com/v2/", "TokenEndpoint": "https://idp.example.com/token",
        "ClientId": "orthanc", "Scope": "a b", "TokenRefreshBufferSeconds": 600, "ProviderType": "OKTA",
        "VerifySSL": "files/ca-bundle.pem", "ClientAuthMethod": "Private_Key_JWT", "PrivateKeyFile": "files/client-key.pem",
        "PrivateKeyId": "kid-1", "SigningAlgorithm": "es256", "ClientCertificate": "files/client-cert.pem",
        "ClientKey": "files/client-key.pem", "ClientKeyPassword": "key-pass", "JWTPublicKey": "PEM",
        "JWKSUrl": "https://idp.example.com/jwks", "JWTAudience": "aud", "JWTIssuer": "iss", "JWTAlgorithms": ["RS256", "ES256"],
        "DisableJWTValidation": true, "TenantId": "t", "Audience": "a", "Resource": "r", "Region": "eu-west-1",
        "SigningService": "medical-imaging", "ExtraTokenParameters": {"resource": "x"}, "Mode": "PROXY",
        "Username": "u", "Password": "p-value", "HasDelete": true, "ChunkedTransfers": false, "Timeout": 120,
        "HttpHeaders": {"X-Api-Version": "2"}, "CertificateFile": "files/client-cert.pem",
        "CertificateKeyFile": "files/client-key.pem", "CertificateKeyPassword": "cert-pass",
        "ResilienceConfig": {"CircuitBreakerEnabled": false, "CircuitBreakerFailureThreshold": 7,
          "CircuitBreakerTimeout": 2.5, "RetryMaxAttempts": 4, "RetryStrategy": "Linear", "RetryInitialDelay": 0,
          "RetryMultiplier": 1, "RetryMaxDelay": 10, "RetryIncrement": 0.5, "AcquisitionTimeout": 90}
      })",
      R"("Enabled": false, "LogLevel": "Critical", "LogFormat": "JSON", "RateLimitRequests": 10, "RateLimitWindowSeconds": 30,
         "CacheType": "Redis", "RedisUrl": "redis://:pw-in-url@redis.internal:6380/2",
         "RedisEncryptionKey": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "ScriptDirectories": ["files", "/"], "LuaMemoryLimitMB": 64, "LuaTimeoutMs": 100, "LuaPoolSize": 2,
         "LuaReservedStatesPerServer": 3, "WatchScripts": false, "EnvAllowlist": ["HOME", "_X1"], "FileAllowlist": ["files", "/var/run/secrets/"],
         "AllowInjectWithServersInDatabase": true, "ConfigVersion": "2.0")",
      R"("HttpPort": 8043, "DicomWeb": {"ServersInDatabase": true})"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  // Only the keys that do nothing here say so: ConfigVersion, and JWTAlgorithms under
  // DisableJWTValidation (docs/configuration.md).
  CHECK(r.diagnostics.size() == 2);
  CHECK(Find(r.diagnostics, "CFG-006", "DicomWebOAuth.ConfigVersion") != nullptr);
  CHECK(Find(r.diagnostics, "CFG-006", "DicomWebOAuth.Servers.s.JWTAlgorithms") != nullptr);
  const GlobalConfig& g = r.config->global;
  CHECK_FALSE(g.enabled);
  CHECK(g.logLevel == gw::LogLevel::Error);
  CHECK(g.logFormat == gw::LogFormat::Json);
  CHECK(g.rateLimitRequests == 10);
  CHECK(g.rateLimitWindowSeconds == 30);
  CHECK(g.cacheType == CacheType::Redis);
  CHECK(g.redisUrl == "redis://:pw-in-url@redis.internal:6380/2");
  REQUIRE(g.redisEncryptionKey.size() == 32);
  CHECK(g.redisEncryptionKey[1] == '\x01');
  CHECK(g.redisEncryptionKey[31] == '\x1f');
  CHECK(g.scriptDirectories == std::vector<std::string>{files, "/"});
  CHECK(g.luaMemoryLimitMb == 64);
  CHECK(g.luaTimeoutMs == 100);
  CHECK(g.luaPoolSize == 2);
  CHECK(g.luaReservedStatesPerServer == 3);
  CHECK_FALSE(g.watchScripts);
  CHECK(g.envAllowlist == std::vector<std::string>{"HOME", "_X1"});
  CHECK(g.fileAllowlist == std::vector<std::string>{files, "/var/run/secrets/"});
  CHECK(g.allowInjectWithServersInDatabase);
  CHECK(r.config->orthanc.httpPort == 8043);
  CHECK(r.config->orthanc.dicomWebServersInDatabase);

  const ServerConfig& s = r.config->servers.at("s");
  CHECK(s.scope == "a b");
  CHECK(s.tokenRefreshBufferSeconds == 600);
  CHECK(s.providerType == "okta");
  CHECK(s.verifySsl);
  CHECK(s.caBundle == files + "/ca-bundle.pem");
  CHECK(s.clientAuthMethod == ClientAuthMethod::PrivateKeyJwt);
  CHECK(RawString(s, "PrivateKeyFile") == files + "/client-key.pem");
  CHECK(RawString(s, "PrivateKeyId") == "kid-1");
  CHECK(RawString(s, "SigningAlgorithm") == "ES256");  // the spelling gw.jwt.sign accepts (schema ignore_case)
  CHECK(RawString(s, "ClientAuthMethod") == "private_key_jwt");  // the method decided, as the script gets it
  CHECK(RawString(s, "ClientCertificate") == files + "/client-cert.pem");
  CHECK(RawString(s, "ClientKey") == files + "/client-key.pem");
  CHECK(RawString(s, "ClientKeyPassword") == "key-pass");
  CHECK(s.jwtPublicKey == "PEM");
  CHECK(s.jwksUrl == "https://idp.example.com/jwks");
  CHECK(s.jwtAudience == "aud");
  CHECK(s.jwtIssuer == "iss");
  CHECK(s.jwtAlgorithms == std::vector<std::string>{"RS256", "ES256"});
  CHECK(s.disableJwtValidation);
  CHECK(RawString(s, "TenantId") == "t");
  CHECK(RawString(s, "Audience") == "a");
  CHECK(s.resource == "r");
  CHECK(RawString(s, "Region") == "eu-west-1");
  CHECK(RawString(s, "SigningService") == "medical-imaging");
  CHECK(s.raw->FindMember("ExtraTokenParameters")->value["resource"] == "x");
  CHECK(s.mode == ServerMode::Proxy);
  CHECK(s.modeExplicit);
  CHECK(s.username == "u");
  CHECK(s.password == "p-value");
  CHECK(s.hasDelete == std::optional<bool>(true));
  CHECK(s.chunkedTransfers == std::optional<bool>(false));
  CHECK(s.timeoutSeconds == std::optional<int>(120));
  CHECK(s.httpHeaders == std::map<std::string, std::string>{{"X-Api-Version", "2"}});
  CHECK(s.certificateFile == files + "/client-cert.pem");
  CHECK(s.certificateKeyFile == files + "/client-key.pem");
  CHECK(s.certificateKeyPassword == "cert-pass");
  CHECK_FALSE(s.resilience.circuitBreakerEnabled);
  CHECK(s.resilience.circuitBreakerFailureThreshold == 7);
  CHECK(s.resilience.circuitBreakerTimeoutSeconds == 2.5);
  CHECK(s.resilience.retryMaxAttempts == 4);
  CHECK(s.resilience.retryStrategy == RetryStrategy::Linear);
  CHECK(s.resilience.retryInitialDelaySeconds == 0.0);
  CHECK(s.resilience.retryMultiplier == 1.0);
  CHECK(s.resilience.retryMaxDelaySeconds == 10.0);
  CHECK(s.resilience.retryIncrementSeconds == 0.5);
  CHECK(s.resilience.acquisitionTimeoutSeconds == 90.0);

  const std::vector<std::string> secrets = CollectSecrets(*r.config);
  for (const char* secret : {"key-pass", "p-value", "cert-pass", "pw-in-url", "2"}) {
    INFO(secret);
    CHECK(std::find(secrets.begin(), secrets.end(), secret) != secrets.end());
  }
  CHECK(std::find(secrets.begin(), secrets.end(), g.redisEncryptionKey) != secrets.end());
}

TEST_CASE("ConfigParser/CFG-001 missing required keys", "[config][parser]") {
  SECTION("Servers") {
    const ParseResult r = ParseJson(R"({"DicomWebOAuth": {}})");
    CHECK(r.section == SectionStatus::Present);
    CHECK(Has(r.diagnostics, "CFG-001", "DicomWebOAuth.Servers"));
    CHECK_FALSE(r.Ok());
  }
  SECTION("Url, TokenEndpoint, ClientId and a credential for client credentials") {
    const ParseResult r = ParseJson(WithServer(R"({"ProviderType": "generic"})"));
    INFO(Dump(r.diagnostics));
    CHECK(Has(r.diagnostics, "CFG-001", P("Url")));
    CHECK(Has(r.diagnostics, "CFG-001", P("TokenEndpoint")));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientId")));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientSecret")));
    CHECK(CountCode(r.diagnostics, "CFG-001") == 4);  // all of them, not only the first
    CHECK_FALSE(r.Ok());
  }
  SECTION("a hint towards managed identity for Azure DICOM without a token endpoint") {
    const ParseResult r = ParseJson(WithServer(R"({"Url": "https://ws-dicom.dicom.azurehealthcareapis.com/v2/"})"));
    const Diagnostic* d = Find(r.diagnostics, "CFG-001", P("TokenEndpoint"));
    REQUIRE(d);
    CHECK(d->message.find("azuremanagedidentity") != std::string::npos);
  }
  SECTION("the credential each ClientAuthMethod needs") {
    auto r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "private_key_jwt")")));
    CHECK(Has(r.diagnostics, "CFG-001", P("PrivateKeyFile")));
    r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "tls_client_auth")")));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientCertificate")));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientKey")));
    r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "self_signed_tls_client_auth")")));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientCertificate")));
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "TokenEndpoint": "https://i.example/t", "ClientId": "c",
                                  "ClientAuthMethod": "client_secret_basic"})"));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientSecret")));
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "TokenEndpoint": "https://i.example/t", "ClientId": "c",
                                  "ClientAuthMethod": "client_secret_jwt"})"));
    CHECK(Has(r.diagnostics, "CFG-001", P("ClientSecret")));
  }
  SECTION("per provider") {
    // The Python plugin's default scope (the Azure DICOM service) applies without Scope and Resource;
    // a Scope emptied by an unset ${VAR} is CFG-003.
    auto r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "azuremanagedidentity"})"));
    CHECK(r.Ok());
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "azuremanagedidentity", "Scope": ""})"));
    CHECK(Has(r.diagnostics, "CFG-003", P("Scope")));
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "azuremanagedidentity", "Resource": "https://r"})"));
    CHECK(r.Ok());
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "static"})"));
    CHECK(Has(r.diagnostics, "CFG-001", P("Token")));
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "file"})"));
    CHECK(Has(r.diagnostics, "CFG-001", P("TokenFile")));
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "google"})"));
    CHECK(r.Ok());
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "Provider": "my_idp"})"));
    CHECK(r.Ok());
  }
  SECTION("RedisUrl with CacheType redis") {
    const ParseResult r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis")"));
    CHECK(Has(r.diagnostics, "CFG-001", "DicomWebOAuth.RedisUrl"));
  }
  SECTION("Url of an object-form DicomWeb server") {
    const ParseResult r = ParseJson(WithServer(BaseServer(), "", R"("DicomWeb": {"Servers": {"x": {"Username": "u"}}})"));
    CHECK(Has(r.diagnostics, "CFG-001", "DicomWeb.Servers.x.Url"));
  }
}

TEST_CASE("ConfigParser/CFG-002 wrong types", "[config][parser]") {
  struct Row {
    std::string global;
    std::string server;
    std::string path;
  };
  const std::vector<Row> rows = {
      {R"("Enabled": "yes")", "", "DicomWebOAuth.Enabled"},
      {R"("LogLevel": 3)", "", "DicomWebOAuth.LogLevel"},
      {R"("LogFormat": true)", "", "DicomWebOAuth.LogFormat"},
      {R"("RateLimitRequests": "10")", "", "DicomWebOAuth.RateLimitRequests"},
      {R"("RateLimitRequests": 1.5)", "", "DicomWebOAuth.RateLimitRequests"},
      {R"("ScriptDirectories": "lua")", "", "DicomWebOAuth.ScriptDirectories"},
      {R"("ScriptDirectories": [1])", "", "DicomWebOAuth.ScriptDirectories[0]"},
      {R"("EnvAllowlist": [""])", "", "DicomWebOAuth.EnvAllowlist[0]"},
      {R"("FileAllowlist": {})", "", "DicomWebOAuth.FileAllowlist"},
      {R"("WatchScripts": 1)", "", "DicomWebOAuth.WatchScripts"},
      {R"("ConfigVersion": 2)", "", "DicomWebOAuth.ConfigVersion"},
      {"", R"("Url": 5)", P("Url")},
      {"", R"("VerifySSL": 1)", P("VerifySSL")},
      {"", R"("TokenRefreshBufferSeconds": "300")", P("TokenRefreshBufferSeconds")},
      {"", R"("HasDelete": "true")", P("HasDelete")},
      {"", R"("ChunkedTransfers": null)", P("ChunkedTransfers")},
      {"", R"("HttpHeaders": ["a"])", P("HttpHeaders")},
      {"", R"("HttpHeaders": {"X-A": 1})", P("HttpHeaders.X-A")},
      {"", R"("ExtraTokenParameters": {"a": true})", P("ExtraTokenParameters.a")},
      {"", R"("JWTAlgorithms": "RS256")", P("JWTAlgorithms")},
      {"", R"("ResilienceConfig": [])", P("ResilienceConfig")},
      {"", R"("ResilienceConfig": {"CircuitBreakerEnabled": "no"})", P("ResilienceConfig.CircuitBreakerEnabled")},
      {"", R"("ResilienceConfig": {"RetryInitialDelay": "1"})", P("ResilienceConfig.RetryInitialDelay")},
  };
  for (const Row& row : rows) {
    const std::string text = WithServer(BaseServer(row.server), row.global);
    INFO(text);
    const ParseResult r = ParseJson(text);
    INFO(Dump(r.diagnostics));
    CHECK(Has(r.diagnostics, "CFG-002", row.path));
    CHECK_FALSE(r.Ok());
  }
  SECTION("structure") {
    CHECK(Has(ParseJson(R"({"DicomWebOAuth": []})").diagnostics, "CFG-002", "DicomWebOAuth"));
    CHECK(Has(ParseJson(R"({"DicomWebOAuth": {"Servers": []}})").diagnostics, "CFG-002", "DicomWebOAuth.Servers"));
    CHECK(Has(ParseJson(R"({"DicomWebOAuth": {"Servers": {"s": "https://x/"}}})").diagnostics, "CFG-002", kServer));
    CHECK(Has(ParseJson(WithServer(BaseServer(), "", R"("DicomWeb": 1)")).diagnostics, "CFG-002", "DicomWeb"));
  }
}

TEST_CASE("ConfigParser/CFG-002 ranges", "[config][parser]") {
  struct Row {
    std::string global;
    std::string server;
    std::string path;
  };
  const std::vector<Row> rows = {
      {R"("RateLimitRequests": -1)", "", "DicomWebOAuth.RateLimitRequests"},
      {R"("RateLimitWindowSeconds": 0)", "", "DicomWebOAuth.RateLimitWindowSeconds"},
      {R"("LuaMemoryLimitMB": 0)", "", "DicomWebOAuth.LuaMemoryLimitMB"},
      {R"("LuaMemoryLimitMB": 1025)", "", "DicomWebOAuth.LuaMemoryLimitMB"},
      {R"("LuaTimeoutMs": 9)", "", "DicomWebOAuth.LuaTimeoutMs"},
      {R"("LuaTimeoutMs": 60001)", "", "DicomWebOAuth.LuaTimeoutMs"},
      {R"("LuaPoolSize": 0)", "", "DicomWebOAuth.LuaPoolSize"},
      {R"("LuaPoolSize": 257)", "", "DicomWebOAuth.LuaPoolSize"},
      {R"("LuaReservedStatesPerServer": 0)", "", "DicomWebOAuth.LuaReservedStatesPerServer"},
      {R"("LuaReservedStatesPerServer": 17)", "", "DicomWebOAuth.LuaReservedStatesPerServer"},
      {R"("RateLimitRequests": 18446744073709551615)", "", "DicomWebOAuth.RateLimitRequests"},
      {"", R"("TokenRefreshBufferSeconds": -1)", P("TokenRefreshBufferSeconds")},
      {"", R"("TokenRefreshBufferSeconds": 86401)", P("TokenRefreshBufferSeconds")},
      {"", R"("Timeout": -5)", P("Timeout")},
      {"", R"("ResilienceConfig": {"CircuitBreakerFailureThreshold": 0})", P("ResilienceConfig.CircuitBreakerFailureThreshold")},
      {"", R"("ResilienceConfig": {"CircuitBreakerTimeout": 0})", P("ResilienceConfig.CircuitBreakerTimeout")},
      {"", R"("ResilienceConfig": {"RetryMaxAttempts": 0})", P("ResilienceConfig.RetryMaxAttempts")},
      {"", R"("ResilienceConfig": {"RetryInitialDelay": -0.1})", P("ResilienceConfig.RetryInitialDelay")},
      {"", R"("ResilienceConfig": {"RetryMultiplier": 0.5})", P("ResilienceConfig.RetryMultiplier")},
      {"", R"("ResilienceConfig": {"RetryMaxDelay": -1})", P("ResilienceConfig.RetryMaxDelay")},
      {"", R"("ResilienceConfig": {"RetryIncrement": -1})", P("ResilienceConfig.RetryIncrement")},
      {"", R"("ResilienceConfig": {"AcquisitionTimeout": 0})", P("ResilienceConfig.AcquisitionTimeout")},
  };
  for (const Row& row : rows) {
    const std::string text = WithServer(BaseServer(row.server), row.global);
    INFO(text);
    const ParseResult r = ParseJson(text);
    INFO(Dump(r.diagnostics));
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", row.path);
    REQUIRE(d);
    CHECK(d->message.find("must be") != std::string::npos);
  }
  // Boundaries are accepted; an integral double counts as an integer (JSON Schema semantics).
  const ParseResult ok = ParseJson(WithServer(BaseServer(R"("TokenRefreshBufferSeconds": 0, "Timeout": 0)"),
                                              R"("LuaMemoryLimitMB": 1024, "LuaTimeoutMs": 10, "LuaPoolSize": 256.0)"));
  INFO(Dump(ok.diagnostics));
  CHECK(ok.Ok());
  CHECK(ok.config->global.luaPoolSize == 256);
  CHECK(Has(ParseJson(WithServer(BaseServer(), "", R"("HttpPort": 70000)")).diagnostics, "CFG-002", "HttpPort"));
}

TEST_CASE("ConfigParser/CFG-002 unknown enum values", "[config][parser]") {
  struct Row {
    std::string global;
    std::string server;
    std::string path;
  };
  const std::vector<Row> rows = {
      {R"("LogLevel": "verbose")", "", "DicomWebOAuth.LogLevel"},
      {R"("LogFormat": "logfmt")", "", "DicomWebOAuth.LogFormat"},
      {R"("LogFormat": "")", "", "DicomWebOAuth.LogFormat"},
      {R"("CacheType": "memcached")", "", "DicomWebOAuth.CacheType"},
      {"", R"("ProviderType": "azure-ad")", P("ProviderType")},
      {"", R"("Mode": "sidecar")", P("Mode")},
      {"", R"("ClientAuthMethod": "password")", P("ClientAuthMethod")},
      {"", R"("SigningAlgorithm": "none")", P("SigningAlgorithm")},
      {"", R"("ResilienceConfig": {"RetryStrategy": "random"})", P("ResilienceConfig.RetryStrategy")},
      {"", R"("Provider": "../evil")", P("Provider")},
      {"", R"("Provider": "")", P("Provider")},
  };
  for (const Row& row : rows) {
    const std::string text = WithServer(BaseServer(row.server), row.global);
    INFO(text);
    const ParseResult r = ParseJson(text);
    INFO(Dump(r.diagnostics));
    CHECK(Has(r.diagnostics, "CFG-002", row.path));
  }
}

TEST_CASE("ConfigParser/CFG-002 URLs", "[config][parser]") {
  for (const char* key : {"Url", "TokenEndpoint", "JWKSUrl"}) {
    for (const char* bad : {"dicom.example.com/v2", "ftp://x.example/", "https://user:pw@x.example/", "https://x.example/#f",
                            "https://x .example/"}) {
      const std::string text = WithServer(BaseServer("\"" + std::string(key) + "\": \"" + bad + "\""));
      INFO(text);
      const ParseResult r = ParseJson(text);
      CHECK(Has(r.diagnostics, "CFG-002", P(key)));
    }
  }
}

TEST_CASE("ConfigParser/CFG-002 server names", "[config][parser]") {
  for (const char* name : {"with space", "..", ".", "a/b", "é", "x:y"}) {
    INFO(name);
    const std::string text = R"({"DicomWebOAuth": {"Servers": {")" + std::string(name) + "\": " + BaseServer() + "}}}";
    const ParseResult r = ParseJson(text);
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers." + std::string(name)));
  }
  const ParseResult ok = ParseJson(R"({"DicomWebOAuth": {"Servers": {"Azure_prod-1.eu": )" + BaseServer() + "}}}");
  CHECK(ok.Ok());
}

TEST_CASE("ConfigParser/CFG-002 HttpHeaders", "[config][parser]") {
  for (const char* name : {"Authorization", "authorization", "AUTHORIZATION"}) {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("HttpHeaders": {")" + std::string(name) + R"(": "Bearer x"})")));
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", P("HttpHeaders." + std::string(name)));
    REQUIRE(d);
    CHECK(d->message.find("Authorization") != std::string::npos);
  }
  CHECK(Has(ParseJson(WithServer(BaseServer(R"("HttpHeaders": {"Bad Name": "v"})"))).diagnostics, "CFG-002",
            P("HttpHeaders.Bad Name")));
  CHECK(Has(ParseJson(WithServer(BaseServer(R"("HttpHeaders": {"X-A": "v\r\nX-Injected: 1"})"))).diagnostics, "CFG-002",
            P("HttpHeaders.X-A")));
}

TEST_CASE("ConfigParser/CFG-002 reserved ExtraTokenParameters", "[config][parser]") {
  for (const char* name : {"grant_type", "client_id", "client_secret", "Client_Assertion", "client_assertion_type"}) {
    INFO(name);
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("ExtraTokenParameters": {")" + std::string(name) + R"(": "v"})")));
    CHECK(Has(r.diagnostics, "CFG-002", P("ExtraTokenParameters." + std::string(name))));
  }
}

TEST_CASE("ConfigParser/CFG-002 other rules", "[config][parser]") {
  SECTION("Redis") {
    auto r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "rediss://r.example:6380")"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisUrl"));
    r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "http://r.example")"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisUrl"));
    r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "redis://r.example:99999")"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisUrl"));
    r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "redis://r.example/db")"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisUrl"));
    for (const char* good : {"redis://r.example", "redis://r.example:6379/0", "unix:///run/redis.sock", "/run/redis.sock",
                             "redis://user:pw@r.example:6379"}) {
      INFO(good);
      // (a key is required with CacheType redis: see the test "CacheType redis needs an encryption key")
      CHECK(ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": ")" + std::string(good) +
                                                   R"(", "RedisEncryptionKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")"))
                .Ok());
    }
    r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "redis://r", "RedisEncryptionKey": "c2hvcnQ=")"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisEncryptionKey"));
    // base64 of 32 bytes, with and without padding.
    r = ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "redis://r",
                                              "RedisEncryptionKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")"));
    CHECK(r.Ok());
    CHECK(r.config->global.redisEncryptionKey.size() == 32);
    CHECK(r.config->global.redisEncryptionKey[31] == '\x1f');
  }
  SECTION("allowlists and script folders") {
    auto r = ParseJson(WithServer(BaseServer(), R"("EnvAllowlist": ["OK", "1BAD", "A-B"])"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.EnvAllowlist[1]"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.EnvAllowlist[2]"));
    CHECK_FALSE(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.EnvAllowlist[0]"));
    r = ParseJson(WithServer(BaseServer(), R"("ScriptDirectories": [])"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.ScriptDirectories"));
    r = ParseJson(WithServer(BaseServer(), R"("ScriptDirectories": ["files", "no-such-folder"])"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.ScriptDirectories[1]"));
    CHECK_FALSE(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.ScriptDirectories[0]"));
    ParseOptions options = TestOptions();
    options.defaultScriptDirectory = "/no/such/default/lua";
    r = ParseJson(WithServer(BaseServer()), options);
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", "DicomWebOAuth.ScriptDirectories");
    REQUIRE(d);
    CHECK(d->message.find("set ScriptDirectories") != std::string::npos);
    options.checkFiles = false;
    CHECK(ParseJson(WithServer(BaseServer()), options).Ok());
  }
  SECTION("files") {
    for (const char* key : {"PrivateKeyFile", "ClientCertificate", "ClientKey", "CaBundle", "CertificateFile",
                            "CertificateKeyFile"}) {
      INFO(key);
      const ParseResult r = ParseJson(WithServer(BaseServer("\"" + std::string(key) + R"(": "files/missing.pem")")));
      const Diagnostic* d = Find(r.diagnostics, "CFG-002", P(key));
      REQUIRE(d);
      CHECK(d->message.find(Fixture("files/missing.pem")) != std::string::npos);
    }
    auto r = ParseJson(WithServer(BaseServer(R"("CaBundle": "files")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("CaBundle")));
    r = ParseJson(WithServer(BaseServer(R"("VerifySSL": "files/missing.pem")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("VerifySSL")));
    // A token file may appear after start-up (a sidecar writes it): warning only.
    r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "file", "TokenFile": "files/token"})"));
    CHECK(Has(r.diagnostics, "CFG-002", P("TokenFile"), Severity::Warning));
    CHECK(r.Ok());
  }
  SECTION("TLS settings that contradict each other") {
    auto r = ParseJson(WithServer(BaseServer(R"("VerifySSL": "files/ca-bundle.pem", "CaBundle": "files/ca-bundle.pem")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("CaBundle")));
    r = ParseJson(WithServer(BaseServer(R"("VerifySSL": false, "CaBundle": "files/ca-bundle.pem")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("CaBundle")));
  }
  SECTION("signing algorithm and client authentication") {
    auto r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "client_secret_jwt", "SigningAlgorithm": "RS256")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("SigningAlgorithm")));
    r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "private_key_jwt", "PrivateKeyFile": "files/client-key.pem",
                                         "SigningAlgorithm": "HS256")")));
    CHECK(Has(r.diagnostics, "CFG-002", P("SigningAlgorithm")));
    r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "client_secret_jwt")")));
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "ClientAuthMethod") == "client_secret_jwt");
  }
  SECTION("modes") {
    auto r = ParseJson(WithServer(R"({"Url": "https://x.amazonaws.com/", "ProviderType": "aws", "Mode": "inject"})"));
    CHECK(Has(r.diagnostics, "CFG-002", P("Mode")));
    r = ParseJson(WithServer(BaseServer(), "", R"("DicomWeb": {"ServersInDatabase": true})"));
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", P("Mode"));
    REQUIRE(d);
    CHECK(d->message.find("plaintext") != std::string::npos);
    CHECK(d->message.find("AllowInjectWithServersInDatabase") != std::string::npos);
    // Proxy mode would store its loopback secret there: refused the same way (ProxyModeChecks.h).
    r = ParseJson(WithServer(BaseServer(R"("Mode": "proxy")"), "", R"("DicomWeb": {"ServersInDatabase": true})"));
    CHECK(Has(r.diagnostics, "CFG-002", P("Mode")));
    CHECK(ParseJson(WithServer(BaseServer(), R"("AllowInjectWithServersInDatabase": true)",
                               R"("DicomWeb": {"ServersInDatabase": true})"))
              .Ok());
  }
  SECTION("DicomWeb.Servers forms") {
    auto r = ParseJson(WithServer(BaseServer(), "", R"("DicomWeb": {"Servers": {
        "a": "https://a.example/", "b": ["https://b.example/"], "c": ["https://c.example/", "user", "pw-c"],
        "d": {"Url": "https://d.example/", "Username": "ud", "Password": "pw-d", "HttpHeaders": {"X-K": "v"}, "HasDelete": true},
        "bad1": ["https://x/", "only-user"], "bad2": 5, "bad3": [1]}})"));
    INFO(Dump(r.diagnostics));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWeb.Servers.bad1"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWeb.Servers.bad2"));
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWeb.Servers.bad3"));
    const auto& servers = r.bestEffort.orthanc.dicomWebServers;
    CHECK(servers.at("a").url == "https://a.example/");
    CHECK(servers.at("b").url == "https://b.example/");
    CHECK(servers.at("c").username == "user");
    CHECK(servers.at("c").password == "pw-c");
    CHECK(servers.at("d").username == "ud");
    CHECK(servers.at("d").password == "pw-d");
    CHECK(servers.at("d").httpHeaders.at("X-K") == "v");
    REQUIRE(servers.at("d").raw);
    CHECK((*servers.at("d").raw)["HasDelete"].GetBool());
    CHECK(servers.count("bad2") == 0);
  }
}

TEST_CASE("ConfigParser/CFG-003 empty values name the variable", "[config][parser]") {
  const std::vector<std::string> keys = {"Url", "TokenEndpoint", "ClientId", "ClientSecret", "Password",
                                         "ClientKeyPassword", "CertificateKeyPassword"};
  std::string server = "{";
  std::map<std::string, std::string> none;
  for (const std::string& key : keys) {
    server += "\"" + key + "\": \"${GW_T_" + key + "}\",";
  }
  server += R"("Scope": "s"})";
  const std::string raw = WithServer(server, R"("CacheType": "redis", "RedisUrl": "redis://r", "RedisEncryptionKey": "${GW_T_REDIS_KEY}")");
  TempDir dir;
  const LoadResult loaded = ConfigLoader::Load(dir.Write("orthanc.json", raw), FakeEnv({}));
  REQUIRE(loaded.Ok());

  SECTION("with the raw text: the variable is named") {
    ParseOptions options = TestOptions();
    options.variables = &loaded.variables;
    const ParseResult r = ConfigParser::Parse(*loaded.document, options);
    INFO(Dump(r.diagnostics));
    CHECK_FALSE(r.Ok());
    for (const std::string& key : keys) {
      INFO(key);
      const Diagnostic* d = Find(r.diagnostics, "CFG-003", P(key));
      REQUIRE(d);
      CHECK(d->severity == Severity::Error);
      CHECK(d->message.find("`" + key + "`") != std::string::npos);
      CHECK(d->message.find("${GW_T_" + key + "}") != std::string::npos);
      CHECK(d->message.find("not set") != std::string::npos);
      CHECK(d->message.find("empty string") != std::string::npos);
    }
    const Diagnostic* d = Find(r.diagnostics, "CFG-003", "DicomWebOAuth.RedisEncryptionKey");
    REQUIRE(d);
    CHECK(d->message.find("${GW_T_REDIS_KEY}") != std::string::npos);
    // An empty value is reported once, as CFG-003, not again as a missing key.
    CHECK(Find(r.diagnostics, "CFG-001", P("ClientSecret")) == nullptr);
    CHECK(Find(r.diagnostics, "CFG-002", P("Url")) == nullptr);
  }
  SECTION("without the raw text (the plugin got only the substituted JSON)") {
    const ParseResult r = ConfigParser::Parse(*loaded.document, TestOptions());
    const Diagnostic* d = Find(r.diagnostics, "CFG-003", P("ClientSecret"));
    REQUIRE(d);
    CHECK(d->message.find("${VAR}") != std::string::npos);
    CHECK(d->message.find("GW_T_") == std::string::npos);
  }
  SECTION("a variable set to an empty value, and an empty default") {
    const LoadResult l2 = ConfigLoader::Load(
        dir.Write("o2.json", WithServer(BaseServer(R"("ClientSecret": "${GW_T_EMPTY}", "Password": "${GW_T_DEF:-}")"))),
        FakeEnv({{"GW_T_EMPTY", ""}}));
    REQUIRE(l2.Ok());
    ParseOptions options = TestOptions();
    options.variables = &l2.variables;
    const ParseResult r = ConfigParser::Parse(*l2.document, options);
    const Diagnostic* secret = Find(r.diagnostics, "CFG-003", P("ClientSecret"));
    REQUIRE(secret);
    CHECK(secret->message.find("${GW_T_EMPTY} is set to an empty value") != std::string::npos);
    const Diagnostic* password = Find(r.diagnostics, "CFG-003", P("Password"));
    REQUIRE(password);
    CHECK(password->message.find("${GW_T_DEF} is not set and its default value is empty") != std::string::npos);
  }
  SECTION("a malformed reference is not quoted (it can span other text of the file)") {
    const LoadResult l3 = ConfigLoader::Load(
        dir.Write("o3.json", WithServer(BaseServer(R"("ClientSecret": "${GW_T BAD NAME}")"))), FakeEnv({}));
    REQUIRE(l3.Ok());
    ParseOptions options = TestOptions();
    options.variables = &l3.variables;
    const ParseResult r3 = ConfigParser::Parse(*l3.document, options);  // keeps the diagnostics alive
    const Diagnostic* d = Find(r3.diagnostics, "CFG-003", P("ClientSecret"));
    REQUIRE(d);
    CHECK(d->message.find("a ${...} reference is not set") != std::string::npos);
    CHECK(d->message.find("BAD NAME") == std::string::npos);
  }
  SECTION("VerifySSL as an empty path fails closed") {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("VerifySSL": "")")));
    CHECK(Has(r.diagnostics, "CFG-003", P("VerifySSL")));
    CHECK_FALSE(r.Ok());
  }
}

TEST_CASE("ConfigParser/CFG-004 unknown keys warn and do not fail", "[config][parser]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("Colour": "blue", "clientSecret": "x",
                                                          "ResilienceConfig": {"RetryMaxAttemps": 2})"),
                                             R"("Extra": 1)"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(Has(r.diagnostics, "CFG-004", "DicomWebOAuth.Extra", Severity::Warning));
  CHECK(Has(r.diagnostics, "CFG-004", P("Colour"), Severity::Warning));
  const Diagnostic* cased = Find(r.diagnostics, "CFG-004", P("clientSecret"));
  REQUIRE(cased);
  CHECK(cased->message.find("case-sensitive") != std::string::npos);
  CHECK(cased->message.find("`ClientSecret`") != std::string::npos);
  const Diagnostic* typo = Find(r.diagnostics, "CFG-004", P("ResilienceConfig.RetryMaxAttemps"));
  REQUIRE(typo);
  CHECK(typo->message.find("`RetryMaxAttempts`") != std::string::npos);
  CHECK(CountCode(r.diagnostics, "CFG-004") == 4);
}

TEST_CASE("ConfigParser/keys the Python plugin's schema rejected are accepted", "[config][parser]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("TenantId": "t", "Audience": "a", "Resource": "r", "Region": "us-east-1",
      "SigningService": "medical-imaging", "JWKSUrl": "https://i.example/keys", "ExtraTokenParameters": {"k": "v"},
      "DisableJWTValidation": false, "JWTAlgorithms": ["RS256"])")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.diagnostics.empty());
}

TEST_CASE("ConfigParser/custom providers read their own keys", "[config][parser]") {
  const ParseResult r = ParseJson(WithServer(R"({"Url": "https://d.example/", "Provider": "vault_idp",
                                                  "VaultRole": "dicom", "VaultPath": "secret/x"})"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.diagnostics.empty());
  const ServerConfig& s = r.config->servers.at("s");
  CHECK(s.provider == "vault_idp");
  REQUIRE(s.raw);
  CHECK((*s.raw)["VaultRole"].GetString() == std::string("dicom"));
  CHECK(ResolveProvider(s).script == "vault_idp");
}

TEST_CASE("ConfigParser/CFG-006 insecure settings warn", "[config][parser]") {
  auto r = ParseJson(WithServer(BaseServer(R"("VerifySSL": false)")));
  CHECK(Has(r.diagnostics, "CFG-006", P("VerifySSL"), Severity::Warning));
  CHECK(r.Ok());
  CHECK_FALSE(r.config->servers.at("s").verifySsl);
  r = ParseJson(WithServer(BaseServer(R"("TokenEndpoint": "http://idp.example.com/token", "Url": "http://dicom.example.com/")")));
  CHECK(Has(r.diagnostics, "CFG-006", P("TokenEndpoint"), Severity::Warning));
  CHECK(Has(r.diagnostics, "CFG-006", P("Url"), Severity::Warning));
  CHECK(r.Ok());
  r = ParseJson(WithServer(BaseServer(R"("TokenEndpoint": "http://127.0.0.1:8080/token", "Url": "http://localhost:8042/")")));
  CHECK(r.diagnostics.empty());
  r = ParseJson(R"({"DicomWebOAuth": {"Servers": {}}})");
  CHECK(Has(r.diagnostics, "CFG-006", "DicomWebOAuth.Servers", Severity::Warning));
  r = ParseJson(WithServer(BaseServer(), R"("FileAllowlist": ["/var/run/secrets", "/"])"));
  CHECK(Has(r.diagnostics, "CFG-006", "DicomWebOAuth.FileAllowlist[1]", Severity::Warning));
  CHECK(r.Ok());
  r = ParseJson(WithServer(BaseServer(), R"("CacheType": "memory", "RedisEncryptionKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")"));
  CHECK(Has(r.diagnostics, "CFG-006", "DicomWebOAuth.RedisEncryptionKey", Severity::Warning));
  r = ParseJson(WithServer(BaseServer(R"("ResilienceConfig": {"RetryInitialDelay": 5, "RetryMaxDelay": 2})")));
  CHECK(Has(r.diagnostics, "CFG-006", P("ResilienceConfig.RetryMaxDelay"), Severity::Warning));
  CHECK(r.Ok());
}

TEST_CASE("ConfigParser/provider-dependent defaults", "[config][parser]") {
  auto r = ParseJson(WithServer(R"({"Url": "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/d/"})"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.config->servers.at("s").mode == ServerMode::Proxy);
  CHECK(r.config->servers.at("s").clientAuthMethod == ClientAuthMethod::None);

  r = ParseJson(WithServer(R"({"Url": "https://d.example/", "TokenEndpoint": "https://i.example/t", "ClientId": "c",
                               "PrivateKeyFile": "files/client-key.pem"})"));
  REQUIRE(r.Ok());
  CHECK(r.config->servers.at("s").clientAuthMethod == ClientAuthMethod::PrivateKeyJwt);
  CHECK(RawString(r.config->servers.at("s"), "ClientAuthMethod") == "private_key_jwt");  // the one inference

  r = ParseJson(WithServer(R"({"Url": "https://d.example/", "TokenEndpoint": "https://i.example/t", "ClientId": "c",
                               "ClientCertificate": "files/client-cert.pem", "ClientKey": "files/client-key.pem"})"));
  REQUIRE(r.Ok());
  CHECK(r.config->servers.at("s").clientAuthMethod == ClientAuthMethod::TlsClientAuth);
}

TEST_CASE("ConfigParser/errors leave a best-effort view and no config", "[config][parser]") {
  const ParseResult r = ParseJson(R"({"DicomWebOAuth": {"LuaPoolSize": 0, "Servers": {
      "good": )" + BaseServer() + R"(, "bad": {"Url": "nope"}}}})");
  CHECK_FALSE(r.Ok());
  CHECK_FALSE(r.config.has_value());
  CHECK(r.bestEffort.servers.size() == 2);
  CHECK(RawString(r.bestEffort.servers.at("good"), "ClientSecret") == "base-secret-value");
  CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.LuaPoolSize"));
  CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.bad.Url"));
  CHECK(Has(r.diagnostics, "CFG-001", "DicomWebOAuth.Servers.bad.TokenEndpoint"));
}

TEST_CASE("ConfigParser/Python plugin sample configurations load unchanged", "[config][parser][compat]") {
  const auto env = FakeEnv({{"ORTHANC_USERNAME", "orthanc"},
                            {"ORTHANC_PASSWORD", "orthanc-password"},
                            {"DICOM_SERVICE_URL", "https://ws-dicom.dicom.azurehealthcareapis.com/v2/"},
                            {"OAUTH_TOKEN_ENDPOINT", "https://login.microsoftonline.com/tenant-guid/oauth2/v2.0/token"},
                            {"OAUTH_CLIENT_ID", "app-id"},
                            {"OAUTH_CLIENT_SECRET", "azure-secret-value"},
                            {"KEYCLOAK_CLIENT_SECRET", "keycloak-secret-value"},
                            {"PROD_CLIENT_ID", "prod-id"},
                            {"PROD_CLIENT_SECRET", "prod-secret"},
                            {"GOOGLE_CLIENT_ID", "g-id"},
                            {"GOOGLE_SECRET", "g-secret"}});
  auto load = [&](const std::string& name) {
    const LoadResult loaded = ConfigLoader::Load(Fixture("python/" + name), env);
    INFO(name << "\n" << Dump(loaded.diagnostics));
    REQUIRE(loaded.Ok());
    ParseOptions options = TestOptions();
    options.baseDirectory = loaded.baseDirectory;
    options.variables = &loaded.variables;
    ParseResult parsed = ConfigParser::Parse(*loaded.document, options);
    INFO(Dump(parsed.diagnostics));
    REQUIRE(parsed.Ok());
    // No warning but the one that says ConfigVersion is accepted for compatibility and ignored.
    const bool versioned = loaded.document->HasMember("DicomWebOAuth") &&
                           (*loaded.document)["DicomWebOAuth"].HasMember("ConfigVersion");
    CHECK(CountSeverity(parsed.diagnostics, Severity::Warning) == (versioned ? 1 : 0));
    if (versioned) CHECK(Find(parsed.diagnostics, "CFG-006", "DicomWebOAuth.ConfigVersion") != nullptr);
    return *parsed.config;
  };

  SECTION("Azure (client credentials, with the DICOMweb proxy definition)") {
    const GatewayConfig c = load("azure.json");
    const ServerConfig& s = c.servers.at("azure-dicom");
    CHECK(RawString(s, "ClientSecret") == "azure-secret-value");
    CHECK(c.global.logLevel == gw::LogLevel::Info);
    const ProviderResolution p = ResolveProvider(s);
    CHECK(p.script == "client_credentials");
    CHECK(p.flavour == "azure");
    CHECK(c.orthanc.dicomWebServers.at("azure-dicom").password == "orthanc-password");
  }
  SECTION("Keycloak") {
    const GatewayConfig c = load("keycloak.json");
    const ProviderResolution p = ResolveProvider(c.servers.at("keycloak-dicom"));
    CHECK(p.script == "client_credentials");
    CHECK(p.flavour == "keycloak");
  }
  SECTION("managed identity with only Url and Scope") {
    const GatewayConfig c = load("managed-identity.json");
    const ServerConfig& s = c.servers.at("azure-dicom");
    CHECK(ResolveProvider(s).script == "azure_managed_identity");
    CHECK(s.clientAuthMethod == ClientAuthMethod::None);
    CHECK(s.mode == ServerMode::Inject);
  }
  SECTION("several providers, JWT and resilience keys") {
    const GatewayConfig c = load("full.json");
    CHECK(c.global.rateLimitRequests == 100);
    CHECK(c.global.logLevel == gw::LogLevel::Debug);
    CHECK(ResolveProvider(c.servers.at("production-dicom")).flavour == "azure");
    CHECK(ResolveProvider(c.servers.at("google-research")).script == "google");
    CHECK(ResolveProvider(c.servers.at("aws-imaging")).script == "aws_sigv4");
    CHECK(c.servers.at("aws-imaging").mode == ServerMode::Proxy);
    CHECK(c.servers.at("production-dicom").jwtAlgorithms == std::vector<std::string>{"RS256"});
  }
}

TEST_CASE("ConfigParser/secrets never appear in diagnostics", "[config][parser][secrets]") {
  // The same planted secret in every place a value can go wrong or be reported. (File paths are
  // shown on purpose, resolved, so that an operator sees where the gateway looked; they are not
  // secrets and are not planted here.)
  const std::string secret = "PLANTED-s3cr3t-VALUE-9f8e7d";
  auto q = [&](const std::string& prefix = "", const std::string& suffix = "") {
    return "\"" + prefix + secret + suffix + "\"";
  };
  const std::string server = "{\"Url\": " + q("https://", ".example/ x") + ", \"TokenEndpoint\": " + q("ftp://") +
                             ", \"ClientSecret\": \"\", \"ProviderType\": " + q() + ", \"Mode\": " + q() +
                             ", \"SigningAlgorithm\": " + q() + ", \"ClientAuthMethod\": " + q() +
                             ", \"Provider\": " + q("../") + ", \"HttpHeaders\": {\"Authorization\": " + q("Bearer ") +
                             ", \"X-Key\": " + q("", "\\r\\nX: y") + "}, \"Timeout\": " + q() +
                             ", \"JWKSUrl\": " + q() +
                             ", \"ResilienceConfig\": {\"RetryStrategy\": " + q() + "}, " + q() + ": 1}";
  const std::string global = "\"LogLevel\": " + q() + ", \"CacheType\": " + q() + ", \"RedisUrl\": " + q("rediss://") +
                             ", \"RedisEncryptionKey\": " + q() + ", \"EnvAllowlist\": [" + q("-") + "]";
  const std::string root = "\"DicomWeb\": {\"Servers\": {\"x\": [" + q() + ", " + q() + "]}}";
  const ParseResult r = ParseJson(WithServer(server, global, root));
  REQUIRE(r.diagnostics.size() >= 15);
  for (const Diagnostic& d : r.diagnostics) {
    INFO(d.ToString());
    CHECK(d.message.find(secret) == std::string::npos);
    // A secret used as a key name shows up in the path (a key is not a value); nothing else does.
    if (d.code != "CFG-004") CHECK(d.path.find(secret) == std::string::npos);
  }

  // Parse errors of the file itself do not quote the text around the error either.
  TempDir dir;
  const LoadResult loaded =
      ConfigLoader::Load(dir.Write("bad.json", "{\"DicomWebOAuth\": {\"ClientSecret\": \"" + secret + "\" \"x\": 1}}"), FakeEnv({}));
  REQUIRE_FALSE(loaded.diagnostics.empty());
  for (const Diagnostic& d : loaded.diagnostics) CHECK(d.ToString().find(secret) == std::string::npos);
}

TEST_CASE("ConfigParser/raw server object carries resolved file paths", "[config][parser]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("VerifySSL": "files/ca-bundle.pem", "ClientCertificate": "files/client-cert.pem",
                                                           "ClientKey": "files/client-key.pem", "Custom": "kept")")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  const rapidjson::Document& raw = *r.config->servers.at("s").raw;
  CHECK(raw["VerifySSL"].GetString() == Fixture("files/ca-bundle.pem"));
  CHECK(raw["ClientCertificate"].GetString() == Fixture("files/client-cert.pem"));
  CHECK(raw["ClientKey"].GetString() == Fixture("files/client-key.pem"));
  CHECK(raw["Custom"].GetString() == std::string("kept"));
  CHECK(raw["ClientSecret"].GetString() == std::string("base-secret-value"));
}

TEST_CASE("ConfigParser/CacheType redis needs an encryption key: tokens are never stored in clear", "[config][parser][redis]") {
  const std::string global = R"("CacheType": "redis", "RedisUrl": "redis://127.0.0.1:6379")";
  ::unsetenv("DICOMWEB_OAUTH_REDIS_KEY");
  SECTION("neither RedisEncryptionKey nor DICOMWEB_OAUTH_REDIS_KEY: CFG-001") {
    const ParseResult r = ParseJson(WithServer(BaseServer(), global));
    CHECK_FALSE(r.Ok());
    CHECK(Has(r.diagnostics, "CFG-001", "DicomWebOAuth.RedisEncryptionKey"));
  }
  SECTION("the key from the environment") {
    ::setenv("DICOMWEB_OAUTH_REDIS_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1);
    const ParseResult r = ParseJson(WithServer(BaseServer(), global));
    ::unsetenv("DICOMWEB_OAUTH_REDIS_KEY");
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    REQUIRE(r.config->global.redisEncryptionKey.size() == 32);
    CHECK(r.config->global.redisEncryptionKey[31] == '\x1f');
  }
  SECTION("an invalid key in the environment: CFG-002 naming the variable, not the value") {
    ::setenv("DICOMWEB_OAUTH_REDIS_KEY", "not-a-key-value", 1);
    const ParseResult r = ParseJson(WithServer(BaseServer(), global));
    ::unsetenv("DICOMWEB_OAUTH_REDIS_KEY");
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisEncryptionKey"));
    for (const Diagnostic& d : r.diagnostics) CHECK(d.message.find("not-a-key-value") == std::string::npos);
  }
}

// Regression: ProviderType auto ignored CredentialsFile, so a Google credential file with a
// DICOMweb URL that is not healthcare.googleapis.com (a proxy, an on-premises front end) resolved
// to client_credentials and the server was refused for lacking TokenEndpoint.
TEST_CASE("ConfigParser/auto reads the type of a Google CredentialsFile", "[config][provider]") {
  TempDir dir;
  auto parse = [&dir](const std::string& content, const std::string& extra = "") {
    const std::string file = dir.Write("google.json", content);
    return ParseJson(WithServer(R"({"Url": "https://dicom.example.com/v2/", "CredentialsFile": ")" + file + "\"" +
                                (extra.empty() ? "" : ", " + extra) + "}"));
  };
  const std::string key = "-----BEGIN PRIVATE KEY-----\\nMIIEsecret-key-material\\n-----END PRIVATE KEY-----\\n";

  SECTION("service_account and external_account: the google provider") {
    for (const std::string type : {"service_account", "external_account"}) {
      const ParseResult r = parse(R"({"type": ")" + type + R"(", "private_key": ")" + key + "\"}");
      INFO(Dump(r.diagnostics));
      REQUIRE(r.Ok());
      const ServerConfig& s = r.config->servers.at("s");
      CHECK(s.credentialsFileType == type);
      CHECK(ResolveProvider(s).script == "google");
      CHECK(Find(r.diagnostics, "CFG-001", "DicomWebOAuth.Servers.s.TokenEndpoint") == nullptr);
    }
  }
  SECTION("authorized_user: refused with what to use instead") {
    const ParseResult r = parse(R"({"type": "authorized_user", "refresh_token": "1//secret-refresh"})");
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.CredentialsFile");
    REQUIRE(d);
    CHECK(d->message.find("authorized_user") != std::string::npos);
    CHECK(d->message.find("service_account") != std::string::npos);
    CHECK(Dump(r.diagnostics).find("secret-refresh") == std::string::npos);
    CHECK_FALSE(r.Ok());
  }
  SECTION("another type, no type, not JSON: CFG-002, never the content") {
    for (const std::string& content : {std::string(R"({"type": "gdch_service_account", "private_key": ")") + key + "\"}",
                                      std::string(R"({"private_key": ")") + key + "\"}",
                                      std::string("MIIEsecret-key-material not json")}) {
      const ParseResult r = parse(content);
      INFO(Dump(r.diagnostics));
      CHECK_FALSE(r.Ok());
      CHECK(Find(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.CredentialsFile"));
      CHECK(Dump(r.diagnostics).find("secret-key-material") == std::string::npos);
    }
  }
  SECTION("ProviderType google: the same checks") {
    const ParseResult r = parse(R"({"type": "authorized_user"})", R"("ProviderType": "google")");
    CHECK(Find(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.CredentialsFile"));
  }
  SECTION("a TokenEndpoint of another provider as well: auto asks which one was meant") {
    const ParseResult r = parse(R"({"type": "service_account"})",
                                R"("TokenEndpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/token")");
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.ProviderType");
    REQUIRE(d);
    CHECK(d->message.find("set ProviderType to google") != std::string::npos);
    const ParseResult google = parse(R"({"type": "service_account"})",
                                     R"("TokenEndpoint": "https://oauth2.googleapis.com/token")");
    INFO(Dump(google.diagnostics));
    CHECK(google.Ok());
  }
  SECTION("a custom Provider reads the file its own way: not inspected") {
    const ParseResult r = parse("not json at all", R"("Provider": "client_credentials")");
    CHECK(Find(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.CredentialsFile") == nullptr);
  }
}

TEST_CASE("ConfigParser/a SigningAlgorithm in lower case reaches the script in the spelling gw.jwt.sign accepts", "[config][parser]") {
  // The parser accepted "es256" (case-insensitive) and handed it on as written, which gw.jwt.sign
  // refuses (CRY-005) at every acquisition. The client_credentials schema's ignore_case enum hands
  // on its own spelling.
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientAuthMethod": "private_key_jwt", "PrivateKeyFile": "files/client-key.pem",
                                                           "SigningAlgorithm": "es256")")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(RawString(r.config->servers.at("s"), "SigningAlgorithm") == "ES256");
  // Client authentication is the schema's: the method decided reaches the status view and the script.
  CHECK(r.config->servers.at("s").clientAuthMethod == ClientAuthMethod::PrivateKeyJwt);
  const ParseResult missing = ParseJson(WithServer(R"({"Url": "https://d.example/", "TokenEndpoint": "https://i.example/t",
                                                      "ClientId": "c"})"));
  const Diagnostic* d = Find(missing.diagnostics, "CFG-001", "DicomWebOAuth.Servers.s.ClientSecret");
  REQUIRE(d != nullptr);
  CHECK(d->message.find("none of ClientSecret, PrivateKeyFile, ClientCertificate is set") != std::string::npos);
}

TEST_CASE("ConfigParser/regression: extra headers of the DicomWeb plugin's own entry for a managed server are not lost silently",
          "[config][parser]") {
  SECTION("a header other than Authorization is named, with where it belongs, and no value is shown") {
    const ParseResult r = ParseJson(WithServer(
        BaseServer(), "",
        R"("DicomWeb": {"Servers": {"s": {"Url": "https://dicom.example.com/v2/",
             "HttpHeaders": {"Authorization": "Bearer static-1234", "X-Api-Key": "k-secret-5678"}}}})"));
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());  // a warning: the configuration still loads
    const Diagnostic* d = Find(r.diagnostics, "CFG-004", "DicomWeb.Servers.s.HttpHeaders");
    REQUIRE(d != nullptr);
    CHECK(d->severity == Severity::Warning);
    CHECK(d->message.find("X-Api-Key") != std::string::npos);
    CHECK(d->message.find("DicomWebOAuth.Servers.s.HttpHeaders") != std::string::npos);
    CHECK(d->message.find("Authorization") == std::string::npos);
    CHECK(d->message.find("k-secret-5678") == std::string::npos);
    CHECK(d->message.find("static-1234") == std::string::npos);
  }
  SECTION("only the Authorization header the gateway replaces: nothing to say") {
    const ParseResult r = ParseJson(WithServer(
        BaseServer(), "", R"("DicomWeb": {"Servers": {"s": {"Url": "https://d.example/", "HttpHeaders": {"authorization": "x"}}}})"));
    CHECK(Find(r.diagnostics, "CFG-004", "DicomWeb.Servers.s.HttpHeaders") == nullptr);
  }
  SECTION("a header the gateway's own entry also sets: nothing is lost") {
    const ParseResult r = ParseJson(WithServer(
        BaseServer(R"("HttpHeaders": {"X-Api-Key": "k"})"),
        "", R"("DicomWeb": {"Servers": {"s": {"Url": "https://d.example/", "HttpHeaders": {"X-Api-Key": "k"}}}})"));
    CHECK(Find(r.diagnostics, "CFG-004", "DicomWeb.Servers.s.HttpHeaders") == nullptr);
  }
  SECTION("an entry of a server the gateway does not manage is left alone") {
    const ParseResult r = ParseJson(WithServer(
        BaseServer(), "", R"("DicomWeb": {"Servers": {"other": {"Url": "https://d.example/", "HttpHeaders": {"X-A": "1"}}}})"));
    CHECK(Find(r.diagnostics, "CFG-004", "DicomWeb.Servers.other.HttpHeaders") == nullptr);
  }
}
