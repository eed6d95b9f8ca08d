// The one load + parse + Key Vault sequence of the plugin and the CLI (service/ConfigurationLoad.h):
// the plugin (Orthanc's text plus the path) and every CLI command (the path) get the same verdict,
// with the provider contracts and the keyvault: resolver in the pass.
#include "ConfigTestSupport.h"
#include "gw/service/ConfigurationLoad.h"

using namespace gw::config;
using namespace gw::config::test;
using gw::service::ConfigurationSource;
using gw::service::LoadConfiguration;
using gw::service::LoadedConfiguration;

namespace {

std::vector<std::string> Lines(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> lines;
  for (const Diagnostic& d : diagnostics) lines.push_back(d.ToString());
  return lines;
}

// A configuration whose server lacks its client secret and carries a misspelt provider key.
std::string Configuration() {
  return R"({"DicomWebOAuth": {"ScriptDirectories": [")" + std::string(GW_SOURCE_DIR) + R"(/lua"],
            "Servers": {"s": {"Url": "https://dicom.example.com/", "TokenEndpoint": "https://idp.example.com/t",
                              "ClientId": "c", "ClientSecert": "x"}}}})";
}

}  // namespace

TEST_CASE("ConfigurationLoad/the plugin's text and the CLI's file get the same verdict", "[config][load]") {
  TempDir dir;
  const std::string file = dir.Write("orthanc.json", Configuration());
  ConfigurationSource cli;
  cli.path = file;
  ConfigurationSource plugin;
  plugin.path = file;
  plugin.text = Configuration();

  const LoadedConfiguration fromFile = LoadConfiguration(cli);
  const LoadedConfiguration fromOrthanc = LoadConfiguration(plugin);
  INFO(Dump(fromFile.parsed.diagnostics));
  REQUIRE(fromFile.read);
  REQUIRE(fromOrthanc.read);
  CHECK(Lines(fromFile.parsed.diagnostics) == Lines(fromOrthanc.parsed.diagnostics));
  // The provider contracts are part of the pass: the schema's rules and its known keys.
  CHECK(fromFile.parsed.bestEffort.contractsApplied);
  CHECK(Has(fromFile.parsed.diagnostics, "CFG-001", "DicomWebOAuth.Servers.s.ClientSecret"));
  CHECK(Has(fromFile.parsed.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.ClientSecert", Severity::Warning));
  CHECK_FALSE(fromFile.parsed.Ok());
  // Relative paths are the configuration folder's in both.
  CHECK(fromOrthanc.parsed.bestEffort.global.scriptDirectories == fromFile.parsed.bestEffort.global.scriptDirectories);
}

TEST_CASE("ConfigurationLoad/keyvault references reach the Key Vault resolver", "[config][load]") {
  // A host that is no Key Vault: refused by the resolver itself (CFG-007, naming the host), which
  // proves it is registered; without it the reference would be "not a secret reference".
  TempDir dir;
  ConfigurationSource source;
  source.path = dir.Write("orthanc.json", R"({"DicomWebOAuth": {"ScriptDirectories": [")" + std::string(GW_SOURCE_DIR) +
                                               R"(/lua"], "Servers": {"s": {"Url": "https://d.example/",
                    "TokenEndpoint": "https://i.example/t", "ClientId": "c",
                    "ClientSecret": "keyvault:https://vault.example.com/secrets/s"}}}})");
  const LoadedConfiguration loaded = LoadConfiguration(source);
  REQUIRE(loaded.read);
  const Diagnostic* d = Find(loaded.parsed.diagnostics, "CFG-007", "DicomWebOAuth.Servers.s.ClientSecret");
  REQUIRE(d != nullptr);
  CHECK(d->message.find("keyvault: reference to vault.example.com") != std::string::npos);
}

TEST_CASE("ConfigurationLoad/a configuration that cannot be read is reported and not parsed", "[config][load]") {
  TempDir dir;
  ConfigurationSource cli;
  cli.path = dir.Write("orthanc.json", R"({"DicomWebOAuth": {"Servers": {} "x": 1}})");
  const LoadedConfiguration fromFile = LoadConfiguration(cli);
  CHECK_FALSE(fromFile.read);
  CHECK(Has(fromFile.readProblems, "CFG-005", cli.path));
  CHECK(fromFile.parsed.section == SectionStatus::Missing);

  ConfigurationSource plugin;
  plugin.text = "{\"DicomWebOAuth\": ";
  const LoadedConfiguration fromOrthanc = LoadConfiguration(plugin);
  CHECK_FALSE(fromOrthanc.read);
  REQUIRE_FALSE(fromOrthanc.readProblems.empty());
  CHECK(fromOrthanc.readProblems.front().code == "CFG-005");

  // A section-less configuration is read, and says so.
  cli.path = dir.Write("other.json", R"({"HttpPort": 8042})");
  const LoadedConfiguration none = LoadConfiguration(cli);
  CHECK(none.read);
  CHECK(none.parsed.section == SectionStatus::Missing);
}
