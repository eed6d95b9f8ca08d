#pragma once
// Validates the `DicomWebOAuth` section (and the few outside keys the gateway needs) of a whole
// Orthanc configuration, as handed over by OrthancPluginGetConfiguration (variables already
// substituted) or as read by ConfigLoader. The plugin and `dicomweb-oauth check-config` call the
// same Parse(), so the CLI's verdict is the plugin's.
//
// Every problem is collected (see Diagnostic.h for the codes); nothing stops at the first one.
// Unknown keys are only warnings (CFG-004), so configurations written for the Python plugin
// `orthanc-dicomweb-oauth` load unchanged, including the keys its schema wrongly rejected
// (TenantId, Audience, Region, ...). A server object's keys other than the gateway's own
// (GatewayServerKeys()) are checked against its provider's contract (ProviderContracts.h).
//
// Thread safety: Parse() is a pure function of its arguments (it reads files only to check that
// they exist when options.checkFiles is set).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"
#include "gw/config/ProviderContracts.h"
#include "gw/config/SecretReferences.h"
#include "gw/config/VariableMap.h"

namespace gw::config {

// Where lua/ is installed: "<install prefix>/share/dicomweb-oauth/lua" (set by the build through
// the GW_DEFAULT_SCRIPT_DIR definition; a fallback is compiled in).
const char* DefaultScriptDirectory();

struct ParseOptions {
  // Base of relative paths (script folders, key and certificate files): the configuration file's
  // folder, or the configuration folder itself. Empty: the current directory.
  std::string baseDirectory;
  // ${VAR} references of the raw configuration, to name the variable in CFG-003. May be null.
  const VariableMap* variables = nullptr;
  // Check that configured files and script folders exist and are readable (CFG-002).
  bool checkFiles = true;
  // Used when ScriptDirectories is absent.
  std::string defaultScriptDirectory = DefaultScriptDirectory();
  // Non-empty: replaces ScriptDirectories (check-config --scripts-dir). Relative to the current
  // directory, like any command-line path.
  std::vector<std::string> scriptDirectoriesOverride;
  // Resolvers of secret references other than env:, file: and literal: (SecretReferences.h),
  // by kind, e.g. "keyvault". A reference of a kind without a resolver is CFG-007.
  std::map<std::string, SecretResolver> secretResolvers;
  // Loads the contracts of the provider scripts in the configured ScriptDirectories (the plugin and
  // the CLI pass service::LoadProviderContracts). Set: every server's provider keys are checked
  // against its provider's schema within Parse() (ProviderContracts.h). Null: only the gateway's
  // own keys are; Gateway::Create applies the contracts of its scripts then.
  std::function<Result<ProviderContracts>(const GlobalConfig&)> loadContracts;
};

enum class SectionStatus {
  Present,
  Missing  // no `DicomWebOAuth` key at all: the plugin stays disabled (the caller decides)
};

struct ParseResult {
  SectionStatus section = SectionStatus::Missing;
  std::vector<Diagnostic> diagnostics;
  // Set only when the section is present and there is no error diagnostic.
  std::optional<GatewayConfig> config;
  // Whatever could be read, errors or not: for reporting tools (check-config) only, never to run.
  GatewayConfig bestEffort;

  bool Ok() const { return config.has_value(); }
};

class ConfigParser {
 public:
  // `orthancRoot` is the whole Orthanc configuration (a JSON object).
  static ParseResult Parse(const rapidjson::Value& orthancRoot, const ParseOptions& options = {});
};

}  // namespace gw::config
