#pragma once
// One problem found while reading the configuration. The parser collects every problem instead of
// stopping at the first, so an operator fixes a configuration in one pass.
//
// Codes (docs/configuration.md has examples):
//   CFG-001 missing required key                 CFG-002 invalid value (type, range, enum, URL...)
//   CFG-003 empty value after ${VAR} substitution CFG-004 unknown key (warning only)
//   CFG-005 configuration file unreadable / not JSON
//   CFG-006 valid but insecure or ineffective setting (warning only)
//   CFG-007 a secret reference (env:, file:, keyvault:...) that cannot be resolved
// `path` is a JSON path such as `DicomWebOAuth.Servers.azure.ClientSecret` (array items as `[0]`);
// for CFG-005 it is the file. `message` never contains a configured value (only key names,
// variable names, numbers and file paths), so a diagnostic can be printed or logged as is.
#include <string>
#include <vector>

namespace gw::config {

enum class Severity { Error, Warning };

const char* ToString(Severity severity);  // "error" | "warning"

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string code;     // "CFG-00x"
  std::string path;
  std::string message;

  // "error CFG-002 DicomWebOAuth.Servers.x.Url: must be an absolute http or https URL"
  std::string ToString() const;
};

bool HasErrors(const std::vector<Diagnostic>& diagnostics);
size_t CountSeverity(const std::vector<Diagnostic>& diagnostics, Severity severity);

// CFG-004 for `key` at `path`, which is not among `known`: "unknown key, ignored", with a hint
// towards the nearest known key ("did you mean `ClientSecret`?", or the case-sensitivity note).
Diagnostic UnknownKeyWarning(const std::string& path, const std::string& key, const std::vector<std::string>& known);

}  // namespace gw::config
