#pragma once
// The one sequence that turns a configuration into a GatewayConfig, for the plugin and every CLI
// command (check-config, token, sign, policy): read (ConfigLoader: one file or a folder, ${VAR},
// Orthanc's leniency), resolve secret references with Key Vault enabled (the host's managed
// identity, KeyVaultResolver.h), parse (ConfigParser), and check every server's keys against its
// provider's contract (ProviderContracts.h). The caller reports what it gets, in its own medium
// (Orthanc's log, stdout, stderr), so check-config's verdict is the plugin's.
//
// Thread safety: none needed; called once per start or command.
#include <optional>
#include <string>
#include <vector>

#include "gw/config/ConfigParser.h"
#include "gw/config/Diagnostic.h"

namespace gw::service {

struct ConfigurationSource {
  // The configuration file or folder (Orthanc's configuration path). May be empty with `text`.
  std::string path;
  // The plugin's case: the configuration Orthanc hands over (variables already substituted). `path`
  // is then read only for the configuration's folder and the ${VAR} uses that messages name.
  std::optional<std::string> text;
  // Replaces ScriptDirectories when not empty (check-config --scripts-dir, ...).
  std::vector<std::string> scriptDirectories;
};

struct LoadedConfiguration {
  // Reading the configuration: CFG-005 errors, and warnings such as a repeated key.
  std::vector<config::Diagnostic> readProblems;
  // False when it could not be read at all; `parsed` is then empty.
  bool read = false;
  config::ParseResult parsed;
};

LoadedConfiguration LoadConfiguration(const ConfigurationSource& source);

}  // namespace gw::service
