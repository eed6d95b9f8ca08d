// The Audit keys of the chain key (ConfigParser): a secret reference like any other secret, a key
// long enough, an unkeyed chain warned about, and the key registered as a secret (masked in logs).
#include <cstdlib>

#include <catch2/catch.hpp>

#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/GatewayConfig.h"
#include "lua/LuaTestSupport.h"

using namespace gw::config;

namespace {

const std::string kPlanted = "planted-config-chain-key-6d2a9e01c47b38f5a0";

ParseResult ParseAudit(const std::string& auditJson, const std::string& folder) {
  const std::string text = R"({"DicomWebOAuth": {"ScriptDirectories": [")" + std::string(GW_SOURCE_DIR) +
                           R"(/lua"], "Servers": {}, "Audit": {"File": ")" + folder + R"(/audit.jsonl")" +
                           (auditJson.empty() ? "" : ", " + auditJson) + "}}}";
  std::vector<Diagnostic> diagnostics;
  auto doc = ConfigLoader::ParseText(text, "test", diagnostics);
  REQUIRE(doc != nullptr);
  return ConfigParser::Parse(*doc);
}

const Diagnostic* Find(const ParseResult& r, const std::string& path) {
  for (const auto& d : r.diagnostics) {
    if (d.path == path) return &d;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("Hardening: Audit.ChainKey is a secret reference, and the key is collected as a secret", "[audit]") {
  gw::lua::test::TempDir dir;
  ::setenv("GW_TEST_AUDIT_CHAIN_KEY", kPlanted.c_str(), 1);
  const ParseResult r = ParseAudit(R"("ChainKey": "env:GW_TEST_AUDIT_CHAIN_KEY", "CheckpointEveryRecords": 50,
                                      "CheckpointIntervalSeconds": 5, "CheckpointFile": ")" +
                                       std::string(dir / "cp.log") + "\"",
                                   dir.Path());
  ::unsetenv("GW_TEST_AUDIT_CHAIN_KEY");
  for (const auto& d : r.diagnostics) INFO(d.ToString());
  REQUIRE(r.Ok());
  const AuditConfig& a = r.config->global.audit;
  CHECK(a.chainKey == kPlanted);
  CHECK(a.checkpointEveryRecords == 50);
  CHECK(a.checkpointIntervalSeconds == 5);
  CHECK(a.checkpointFile == dir / "cp.log");
  const auto secrets = CollectSecrets(*r.config);
  CHECK(std::find(secrets.begin(), secrets.end(), kPlanted) != secrets.end());
  CHECK(Find(r, "DicomWebOAuth.Audit.ChainKey") == nullptr);  // no "unkeyed" warning
}

TEST_CASE("Hardening: an unkeyed audit chain is warned about, a weak or unresolvable key refused", "[audit]") {
  gw::lua::test::TempDir dir;
  SECTION("no ChainKey: a warning, the configuration stays valid (compatibility)") {
    const ParseResult r = ParseAudit("", dir.Path());
    REQUIRE(r.Ok());
    const Diagnostic* d = Find(r, "DicomWebOAuth.Audit.ChainKey");
    REQUIRE(d != nullptr);
    CHECK(d->severity == Severity::Warning);
    CHECK(d->message.find("UNKEYED") != std::string::npos);
  }
  SECTION("a short key") {
    const ParseResult r = ParseAudit(R"("ChainKey": "too-short-key")", dir.Path());
    CHECK_FALSE(r.Ok());
    const Diagnostic* d = Find(r, "DicomWebOAuth.Audit.ChainKey");
    REQUIRE(d != nullptr);
    CHECK(d->message.find("at least 32") != std::string::npos);
    CHECK(d->message.find("too-short-key") == std::string::npos);
  }
  SECTION("an unset variable: CFG-007, never the reference text as the key") {
    ::unsetenv("GW_TEST_AUDIT_NO_SUCH_KEY");
    const ParseResult r = ParseAudit(R"("ChainKey": "env:GW_TEST_AUDIT_NO_SUCH_KEY_0123456789abcdef")", dir.Path());
    CHECK_FALSE(r.Ok());
    bool cfg007 = false;
    for (const auto& d : r.diagnostics) cfg007 = cfg007 || d.code == "CFG-007";
    CHECK(cfg007);
  }
  SECTION("a bad key id, and a previous key equal to the key") {
    const ParseResult r = ParseAudit(R"("ChainKey": ")" + kPlanted + R"(", "PreviousChainKey": ")" + kPlanted +
                                         R"(", "ChainKeyId": "bad id!")",
                                     dir.Path());
    CHECK_FALSE(r.Ok());
    CHECK(Find(r, "DicomWebOAuth.Audit.ChainKeyId") != nullptr);
    const Diagnostic* d = Find(r, "DicomWebOAuth.Audit.PreviousChainKey");
    REQUIRE(d != nullptr);
    CHECK(d->message.find(kPlanted) == std::string::npos);
  }
}
