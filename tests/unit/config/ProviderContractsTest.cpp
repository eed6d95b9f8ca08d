// A provider's contract is the single source of its configuration rules (config/ProviderContracts.h):
// a custom provider script with its own secret key gets the checks the shipped ones get, through
// the same configuration pass as the plugin and check-config (ParseOptions::loadContracts).
#include <stdlib.h>

#include <algorithm>

#include "ConfigTestSupport.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ProviderContracts.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

const std::string kServer = "DicomWebOAuth.Servers.s";
std::string P(const std::string& key) { return kServer + "." + key; }

const char* const kSecretValue = "svc-key-5b0e7d41c9a2";

// A custom provider that is not OAuth2, with its own secret key, a file key and environment
// variables of its own.
const char* const kVaultProvider = R"(
return {
  name = "vault_token", version = "1.0.0", kind = "provider",
  schema = {
    type = "object",
    properties = {
      TokenEndpoint = { type = "string" },
      ServiceKey = { type = "string", secret = true },
      Audience = { type = "string" },
      KeyFile = { type = "string", file = true },
      Retries = { type = "integer", minimum = 0, maximum = 5 },
    },
    required = { "ServiceKey" },
    env = { VAULT_ADDR = {}, VAULT_TOKEN = { secret = true } },
  },
  acquire = function(ctx) return { access_token = "t", token_type = "Bearer", expires_in = 60 } end,
}
)";

// The shipped scripts and a folder with the custom provider, loaded as the plugin loads them.
struct CustomRig {
  TempDir dir;
  CustomRig(const std::string& script = kVaultProvider) {
    std::filesystem::create_directories(dir.Path() + "/lua/providers");
    dir.Write("lua/providers/vault_token.lua", script);
    dir.Write("key.pem", "not a real key");
  }
  ParseResult Parse(const std::string& serverKeys) const {
    ParseOptions options = TestOptions();
    options.baseDirectory = dir.Path();
    options.loadContracts = gw::service::LoadProviderContracts;  // the configured folders, as the plugin
    const std::string folders = R"("ScriptDirectories": [")" + std::string(GW_SOURCE_DIR) + R"(/lua", ")" +
                                dir.Path() + R"(/lua"])";
    return ParseJson(WithServer(R"({"Url": "https://d.example/", "Provider": "vault_token")" +
                                    (serverKeys.empty() ? "" : ", " + serverKeys) + "}",
                                folders),
                     options);
  }
};

bool Mentions(const std::vector<Diagnostic>& diagnostics, const std::string& text) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [&](const Diagnostic& d) { return d.ToString().find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("ProviderContracts/a custom provider's unknown key is warned with a hint", "[config][contracts]") {
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  const CustomRig rig;
  const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY", "Audiense": "x", "Colour": "red")");
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  const Diagnostic* typo = Find(r.diagnostics, "CFG-004", P("Audiense"));
  REQUIRE(typo);
  CHECK(typo->severity == Severity::Warning);
  CHECK(typo->message == "unknown key, ignored; did you mean `Audience`?");
  CHECK(Has(r.diagnostics, "CFG-004", P("Colour"), Severity::Warning));
  CHECK(CountCode(r.diagnostics, "CFG-004") == 2);  // the gateway's keys (Url, Provider) are known
}

TEST_CASE("ProviderContracts/a custom provider's missing required key is refused", "[config][contracts]") {
  const CustomRig rig;
  const ParseResult r = rig.Parse(R"("Audience": "x")");
  INFO(Dump(r.diagnostics));
  CHECK_FALSE(r.Ok());
  const Diagnostic* missing = Find(r.diagnostics, "CFG-001", P("ServiceKey"));
  REQUIRE(missing);
  CHECK(missing->message == "required by the vault_token provider (Provider names a custom provider script)");
  // Present but empty (an unset ${VAR}) is CFG-003, as for the gateway's own keys.
  CHECK(Has(rig.Parse(R"("ServiceKey": "")").diagnostics, "CFG-003", P("ServiceKey")));
  // Types and ranges come from the schema too.
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  const ParseResult range = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY", "Retries": 9, "Audience": 3)");
  CHECK(Find(range.diagnostics, "CFG-002", P("Retries"))->message == "must be between 0 and 5 (got 9)");
  CHECK(Find(range.diagnostics, "CFG-002", P("Audience"))->message == "must be a string");
  CHECK_FALSE(range.Ok());
}

TEST_CASE("ProviderContracts/a custom provider's secret is resolved from env and never printed", "[config][contracts][secrets]") {
  const CustomRig rig;
  SECTION("resolved, handed to the script, collected for masking") {
    ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
    const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY", "KeyFile": "key.pem")");
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    const ServerConfig& s = r.config->servers.at("s");
    CHECK(RawString(s, "ServiceKey") == kSecretValue);  // what the script receives
    const std::vector<std::string> secrets = CollectSecrets(*r.config);
    CHECK(std::find(secrets.begin(), secrets.end(), kSecretValue) != secrets.end());
    for (const std::string& secret : secrets) gw::SecretRegistry::Add(secret);
    const std::string masked = gw::SecretRegistry::Redact(std::string("script said: ") + kSecretValue);
    CHECK(masked.find(kSecretValue) == std::string::npos);
    CHECK_FALSE(Mentions(r.diagnostics, kSecretValue));
    // The file key is resolved against the configuration's folder and readable by the script; the
    // schema's variables are allowlisted, the secret one is marked for masking.
    CHECK(RawString(s, "KeyFile") == rig.dir.Path() + "/key.pem");
    CHECK(std::find(s.access.files.begin(), s.access.files.end(), rig.dir.Path() + "/key.pem") != s.access.files.end());
    CHECK(s.access.envNames == std::vector<std::string>{"VAULT_ADDR", "VAULT_TOKEN"});
    CHECK(s.access.secretEnvNames == std::vector<std::string>{"VAULT_TOKEN"});
  }
  SECTION("an unresolvable reference is CFG-007 and fails closed") {
    ::unsetenv("GW_TEST_VAULT_KEY");
    const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY")");
    INFO(Dump(r.diagnostics));
    CHECK_FALSE(r.Ok());
    CHECK(Has(r.diagnostics, "CFG-007", P("ServiceKey")));
    CHECK(RawString(r.bestEffort.servers.at("s"), "ServiceKey") == "env:GW_TEST_VAULT_KEY");  // never used as the secret
  }
  SECTION("a missing file key is CFG-002") {
    ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
    const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY", "KeyFile": "absent.pem")");
    CHECK(Has(r.diagnostics, "CFG-002", P("KeyFile")));
  }
}

TEST_CASE("ProviderContracts/secret environment variables a contract names are masked", "[config][contracts][secrets]") {
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  ScopedEnv token("VAULT_TOKEN", "vault-env-token-8c1d22f0");
  const CustomRig rig;
  const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY")");
  REQUIRE(r.Ok());
  const gw::lua::EngineOptions options = gw::service::EngineOptionsFor(*r.config);
  CHECK(std::count(options.envAllowlist.begin(), options.envAllowlist.end(), "VAULT_TOKEN") == 1);
  CHECK(gw::SecretRegistry::Redact("x vault-env-token-8c1d22f0 y").find("vault-env-token-8c1d22f0") == std::string::npos);
}

TEST_CASE("ProviderContracts/a provider without a schema reads its own keys", "[config][contracts]") {
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  const CustomRig rig(R"(return { name = "vault_token", version = "1", kind = "provider",
                                  acquire = function() return nil end })");
  // No CFG-004 (its keys are undeclared), and the keys every provider shares stay secret.
  const ParseResult r = rig.Parse(R"("Anything": 1, "ClientSecret": "env:GW_TEST_VAULT_KEY")");
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(r.diagnostics.empty());
  CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == kSecretValue);
  const std::vector<std::string> secrets = CollectSecrets(*r.config);
  CHECK(std::find(secrets.begin(), secrets.end(), kSecretValue) != secrets.end());
}

TEST_CASE("ProviderContracts/a schema that is not the dialect is LUA-003 naming the file", "[config][contracts]") {
  const CustomRig rig(R"(return { name = "vault_token", version = "1", kind = "provider",
                                  schema = { properties = { ServiceKey = { type = "string", secrte = true } } },
                                  acquire = function() return nil end })");
  gw::config::GlobalConfig global;
  global.scriptDirectories = {rig.dir.Path() + "/lua"};
  const auto contracts = gw::service::LoadProviderContracts(global);
  REQUIRE_FALSE(contracts.Ok());
  CHECK(contracts.GetError().code == "LUA-003");
  CHECK(contracts.GetError().message.find("vault_token.lua: contract: schema.properties.ServiceKey.secrte") !=
        std::string::npos);
}

TEST_CASE("ProviderContracts/a reload whose schema refuses the running configuration is refused", "[config][contracts]") {
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  const CustomRig rig;
  const ParseResult r = rig.Parse(R"("ServiceKey": "env:GW_TEST_VAULT_KEY")");
  REQUIRE(r.Ok());
  auto stricter = ContractSchema::FromJson(*Json(R"({"properties": {"ServiceKey": {"type": "string", "secret": true},
                                                       "Realm": {"type": "string"}}, "required": ["ServiceKey", "Realm"]})"));
  REQUIRE(stricter.Ok());
  ProviderContracts contracts;
  contracts["vault_token"] = std::make_shared<const ContractSchema>(std::move(stricter).Value());
  const auto problems = VerifyProviderContracts(*r.config, contracts);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].code == "CFG-001");
  CHECK(problems[0].path == P("Realm"));
}

TEST_CASE("ProviderContracts/shipped providers get the same treatment", "[config][contracts]") {
  // static_token's Token is secret by its schema: resolved from env: and masked.
  ScopedEnv token("GW_TEST_STATIC_TOKEN", "static-token-from-env-31");
  const ParseResult r = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "static",
                                                 "Token": "env:GW_TEST_STATIC_TOKEN", "Tokne": "x"})"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(RawString(r.config->servers.at("s"), "Token") == "static-token-from-env-31");
  const auto secrets = CollectSecrets(*r.config);
  CHECK(std::find(secrets.begin(), secrets.end(), "static-token-from-env-31") != secrets.end());
  CHECK(Find(r.diagnostics, "CFG-004", P("Tokne"))->message == "unknown key, ignored; did you mean `Token`?");
  // token_file: the range of TokenFileRefreshSeconds and the token file allowlisted.
  const ParseResult file = ParseJson(WithServer(R"({"Url": "https://d.example/", "ProviderType": "file",
                                                    "TokenFile": "files/client-key.pem", "TokenFileRefreshSeconds": 0})"));
  CHECK(Find(file.diagnostics, "CFG-002", P("TokenFileRefreshSeconds"))->message == "must be between 1 and 3600 (got 0)");
  const auto& access = file.bestEffort.servers.at("s").access;
  CHECK(std::find(access.files.begin(), access.files.end(), Fixture("files/client-key.pem")) != access.files.end());
}

TEST_CASE("ProviderContracts/a custom provider's conditional rules are enforced like client_credentials'", "[config][contracts][rules]") {
  // The dialect the shipped client_credentials uses for its client authentication, in a custom script.
  const CustomRig rig(R"(
return {
  name = "vault_token", version = "1.0.0", kind = "provider",
  schema = {
    properties = {
      AuthMode = { type = "string", enum = { "token", "approle" }, ignore_case = true,
                   default_from = { { present = "RoleId", value = "approle" } }, default = "token" },
      ServiceKey = { type = "string", secret = true },
      RoleId = { type = "string" },
      SecretId = { type = "string", secret = true },
    },
    rules = {
      { when = { AuthMode = "token" }, required = { "ServiceKey" } },
      { when = { AuthMode = "approle" }, required = { "RoleId", "SecretId" } },
    },
  },
  acquire = function(ctx) return { access_token = "t", token_type = "Bearer", expires_in = 60 } end,
}
)");
  ScopedEnv key("GW_TEST_VAULT_KEY", kSecretValue);
  SECTION("the default mode needs its key") {
    const ParseResult r = rig.Parse("");
    INFO(Dump(r.diagnostics));
    CHECK_FALSE(r.Ok());
    REQUIRE(Has(r.diagnostics, "CFG-001", P("ServiceKey")));
    CHECK(Find(r.diagnostics, "CFG-001", P("ServiceKey"))->message ==
          "required by AuthMode token (the default: none of RoleId is set)");
  }
  SECTION("a key present decides the mode, whose keys are then required; the script receives the mode") {
    ParseResult r = rig.Parse(R"("RoleId": "r-1")");
    INFO(Dump(r.diagnostics));
    CHECK(Has(r.diagnostics, "CFG-001", P("SecretId")));
    CHECK_FALSE(Has(r.diagnostics, "CFG-001", P("ServiceKey")));
    r = rig.Parse(R"("RoleId": "r-1", "SecretId": "env:GW_TEST_VAULT_KEY")");
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "AuthMode") == "approle");
    CHECK(RawString(r.config->servers.at("s"), "SecretId") == kSecretValue);
  }
  SECTION("an explicit mode in another case is the enum's") {
    const ParseResult r = rig.Parse(R"("AuthMode": "TOKEN", "ServiceKey": "env:GW_TEST_VAULT_KEY")");
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "AuthMode") == "token");
    CHECK(r.config->servers.at("s").clientAuthMethod == ClientAuthMethod::None);  // not an OAuth2 client
  }
}
