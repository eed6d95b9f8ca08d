// Secret references (env:NAME, file:/path, literal:, resolver kinds such as keyvault:) in the
// configuration: resolved before validation, every secret key covered, failures are CFG-007 naming
// the path and the reference (never a value), and the configuration then does not load.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ConfigTestSupport.h"
#include "gw/config/SecretReferences.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

const std::string kServer = "DicomWebOAuth.Servers.s";

std::string P(const std::string& key) { return kServer + "." + key; }

// A private folder with files; removed at the end.
class SecretDir {
 public:
  SecretDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-secretref-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~SecretDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

// No diagnostic anywhere mentions `secret`.
void RequireNoValue(const ParseResult& r, const std::string& secret) {
  for (const auto& d : r.diagnostics) {
    INFO(d.ToString());
    REQUIRE(d.ToString().find(secret) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("SecretReference/env: resolves every secret key of a server", "[config][secretref]") {
  ScopedEnv a("GW_TEST_SR_SECRET", "client-secret-from-env-1");
  ScopedEnv b("GW_TEST_SR_PASSWORD", "basic-password-from-env-2");
  ScopedEnv c("GW_TEST_SR_HEADER", "header-value-from-env-3");
  ScopedEnv d("GW_TEST_SR_KEYPW", "key-password-from-env-4");
  ScopedEnv e("GW_TEST_SR_CERTPW", "cert-password-from-env-5");
  const ParseResult r = ParseJson(WithServer(BaseServer(
      R"("ClientSecret": "env:GW_TEST_SR_SECRET", "Password": "env:GW_TEST_SR_PASSWORD",
         "Username": "u", "ClientKeyPassword": "env:GW_TEST_SR_KEYPW",
         "CertificateKeyPassword": "env:GW_TEST_SR_CERTPW",
         "HttpHeaders": {"X-Api-Key": "env:GW_TEST_SR_HEADER", "X-Plain": "plain"})")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  const ServerConfig& s = r.config->servers.at("s");
  CHECK(RawString(s, "ClientSecret") == "client-secret-from-env-1");
  CHECK(s.password == "basic-password-from-env-2");
  CHECK(RawString(s, "ClientKeyPassword") == "key-password-from-env-4");
  CHECK(s.certificateKeyPassword == "cert-password-from-env-5");
  CHECK(s.httpHeaders.at("X-Api-Key") == "header-value-from-env-3");
  CHECK(s.httpHeaders.at("X-Plain") == "plain");

  SECTION("provider scripts receive the resolved value in the raw object") {
    REQUIRE(s.raw != nullptr);
    CHECK(std::string((*s.raw)["ClientSecret"].GetString()) == "client-secret-from-env-1");
    CHECK(std::string((*s.raw)["HttpHeaders"]["X-Api-Key"].GetString()) == "header-value-from-env-3");
  }
  SECTION("resolved values are collected as secrets, so logs mask them") {
    const std::vector<std::string> secrets = CollectSecrets(*r.config);
    for (const char* v : {"client-secret-from-env-1", "basic-password-from-env-2", "header-value-from-env-3",
                          "key-password-from-env-4", "cert-password-from-env-5"}) {
      CHECK(std::find(secrets.begin(), secrets.end(), v) != secrets.end());
    }
  }
}

TEST_CASE("SecretReference/Token and RedisEncryptionKey", "[config][secretref]") {
  const std::string key(64, 'a');
  ScopedEnv a("GW_TEST_SR_TOKEN", "static-token-value-77");
  ScopedEnv b("GW_TEST_SR_REDISKEY", key.c_str());
  const ParseResult r = ParseJson(WithServer(
      R"({"Url": "https://dicom.example.com/", "ProviderType": "static", "Token": "env:GW_TEST_SR_TOKEN"})",
      R"("CacheType": "redis", "RedisUrl": "redis://127.0.0.1:6379", "RedisEncryptionKey": "env:GW_TEST_SR_REDISKEY")"));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(RawString(r.config->servers.at("s"), "Token") == "static-token-value-77");
  CHECK(r.config->global.redisEncryptionKey == std::string(32, '\xaa'));
}

TEST_CASE("SecretReference/unset or empty env: is CFG-007 and the configuration does not load",
          "[config][secretref]") {
  ::unsetenv("GW_TEST_SR_UNSET");
  SECTION("unset") {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientSecret": "env:GW_TEST_SR_UNSET")")));
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r.diagnostics, "CFG-007", P("ClientSecret"));
    INFO(Dump(r.diagnostics));
    REQUIRE(d != nullptr);
    CHECK(d->severity == Severity::Error);
    CHECK(d->message.find("GW_TEST_SR_UNSET") != std::string::npos);
    CHECK(d->message.find("not set") != std::string::npos);
    // The reference text is never used as the secret, even in the best-effort view.
    CHECK(RawString(r.bestEffort.servers.at("s"), "ClientSecret") != "GW_TEST_SR_UNSET");
  }
  SECTION("empty") {
    ScopedEnv e("GW_TEST_SR_EMPTY", "");
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientSecret": "env:GW_TEST_SR_EMPTY")")));
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r.diagnostics, "CFG-007", P("ClientSecret"));
    REQUIRE(d != nullptr);
    CHECK(d->message.find("empty") != std::string::npos);
  }
  SECTION("invalid name") {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientSecret": "env:1-bad name")")));
    CHECK_FALSE(r.Ok());
    REQUIRE(Find(r.diagnostics, "CFG-007", P("ClientSecret")) != nullptr);
  }
  SECTION("a header value") {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("HttpHeaders": {"X-Key": "env:GW_TEST_SR_UNSET"})")));
    CHECK_FALSE(r.Ok());
    REQUIRE(Find(r.diagnostics, "CFG-007", P("HttpHeaders.X-Key")) != nullptr);
  }
}

TEST_CASE("SecretReference/file: reads the file, drops one trailing line break", "[config][secretref]") {
  SecretDir dir;
  SECTION("absolute path, LF") {
    const std::string f = dir.Write("secret", "file-secret-value-123\n");
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + f + "\"")));
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == "file-secret-value-123");
  }
  SECTION("CRLF, and inner spaces kept") {
    const std::string f = dir.Write("secret", "a b c\r\n");
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + f + "\"")));
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == "a b c");
  }
  SECTION("relative to the configuration folder") {
    dir.Write("rel-secret", "relative-secret-value");
    ParseOptions options = TestOptions();
    options.baseDirectory = dir.Path();
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientSecret": "file:rel-secret")")), options);
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == "relative-secret-value");
  }
  SECTION("missing file") {
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + dir.Path() + "/nope\"")));
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r.diagnostics, "CFG-007", P("ClientSecret"));
    REQUIRE(d != nullptr);
    CHECK(d->message.find("not found") != std::string::npos);
    CHECK(d->message.find(dir.Path() + "/nope") != std::string::npos);
  }
  SECTION("empty file") {
    const std::string f = dir.Write("empty", "\n");
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + f + "\"")));
    CHECK_FALSE(r.Ok());
    REQUIRE(Find(r.diagnostics, "CFG-007", P("ClientSecret")) != nullptr);
  }
  SECTION("a folder") {
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + dir.Path() + "\"")));
    CHECK_FALSE(r.Ok());
    REQUIRE(Find(r.diagnostics, "CFG-007", P("ClientSecret")) != nullptr);
  }
  SECTION("too large") {
    const std::string f = dir.Write("big", std::string(70 * 1024, 'x'));
    const ParseResult r = ParseJson(WithServer(BaseServer("\"ClientSecret\": \"file:" + f + "\"")));
    CHECK_FALSE(r.Ok());
    REQUIRE(Find(r.diagnostics, "CFG-007", P("ClientSecret")) != nullptr);
    RequireNoValue(r, std::string(100, 'x'));
  }
}

TEST_CASE("SecretReference/literal: is the escape for a secret that looks like a reference",
          "[config][secretref]") {
  ::unsetenv("abc");
  const ParseResult r = ParseJson(WithServer(BaseServer(R"("ClientSecret": "literal:env:abc")")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.Ok());
  CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == "env:abc");
  SECTION("literal:literal: keeps one prefix") {
    const ParseResult again = ParseJson(WithServer(BaseServer(R"("ClientSecret": "literal:literal:x")")));
    REQUIRE(again.Ok());
    CHECK(RawString(again.config->servers.at("s"), "ClientSecret") == "literal:x");
  }
}

TEST_CASE("SecretReference/values that are not references are untouched", "[config][secretref]") {
  SECTION("other prefixes, upper case, no colon") {
    for (const char* value : {"ENV:GW_X", "https://x", "pa:ss", "plain-secret", ":env"}) {
      const ParseResult r = ParseJson(WithServer(BaseServer(std::string("\"ClientSecret\": \"") + value + "\"")));
      INFO(value << "\n" << Dump(r.diagnostics));
      REQUIRE(r.Ok());
      CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == value);
    }
  }
  SECTION("non-secret keys keep env: text") {
    const ParseResult r = ParseJson(WithServer(BaseServer(R"("Scope": "env:NOT_A_SECRET_KEY")")));
    REQUIRE(r.Ok());
    CHECK(r.config->servers.at("s").scope == "env:NOT_A_SECRET_KEY");
  }
  SECTION("IsSecretReference") {
    CHECK(IsSecretReference("env:X"));
    CHECK(IsSecretReference("file:/x"));
    CHECK(IsSecretReference("keyvault:https://v.vault.azure.net/secrets/s"));
    CHECK(IsSecretReference("literal:x"));
    CHECK_FALSE(IsSecretReference("vault:x"));
    CHECK_FALSE(IsSecretReference("Env:X"));
  }
}

TEST_CASE("SecretReference/keyvault: needs a registered resolver", "[config][secretref]") {
  const std::string config = WithServer(BaseServer(R"("ClientSecret": "keyvault:https://v.vault.azure.net/secrets/s")"));
  SECTION("none registered: CFG-007, never the literal text") {
    const ParseResult r = ParseJson(config);
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r.diagnostics, "CFG-007", P("ClientSecret"));
    REQUIRE(d != nullptr);
    CHECK(d->message.find("keyvault") != std::string::npos);
  }
  SECTION("registered: its value is used") {
    ParseOptions options = TestOptions();
    std::string seen;
    options.secretResolvers["keyvault"] = [&seen](const std::string& ref) -> gw::Result<std::string> {
      seen = ref;
      return std::string("vault-secret-value");
    };
    const ParseResult r = ParseJson(config, options);
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    CHECK(seen == "https://v.vault.azure.net/secrets/s");
    CHECK(RawString(r.config->servers.at("s"), "ClientSecret") == "vault-secret-value");
  }
  SECTION("registered, failing: CFG-007 with the resolver's code") {
    ParseOptions options = TestOptions();
    options.secretResolvers["keyvault"] = [](const std::string&) -> gw::Result<std::string> {
      return gw::MakeError("AUTH-001", "vault refused the managed identity");
    };
    const ParseResult r = ParseJson(config, options);
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r.diagnostics, "CFG-007", P("ClientSecret"));
    REQUIRE(d != nullptr);
    CHECK(d->message.find("AUTH-001") != std::string::npos);
  }
}

TEST_CASE("SecretReference/messages never contain a resolved value", "[config][secretref]") {
  // A resolved secret that then fails validation: the parser's message names the key only.
  ScopedEnv a("GW_TEST_SR_BADKEY", "not-a-valid-aes-key-value-xyz");
  const ParseResult r = ParseJson(WithServer(BaseServer(),
      R"("CacheType": "redis", "RedisUrl": "redis://127.0.0.1:6379", "RedisEncryptionKey": "env:GW_TEST_SR_BADKEY")"));
  CHECK_FALSE(r.Ok());
  REQUIRE(Find(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisEncryptionKey") != nullptr);
  RequireNoValue(r, "not-a-valid-aes-key-value-xyz");
}
