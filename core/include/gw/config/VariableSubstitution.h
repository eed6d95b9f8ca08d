#pragma once
// `${VAR}` substitution exactly as Orthanc 1.10 does it on the raw text of each configuration file,
// before JSON parsing (Toolbox::SubstituteVariables). Forms, tried in this order at each `${`:
//   ${NAME}             value of NAME; "" when NAME is unset (NAME may not contain ':')
//   ${NAME:-default}    value of NAME when set (even if empty), else `default` (no quotes in it)
//   ${NAME:-"default"}  same, the default written in double quotes (which are dropped)
//   ${NAME:-'default'}  same with single quotes
// Anything else starting with `${` is left as is. An empty NAME makes Orthanc refuse the file.
// Substitution happens everywhere in the text, comments included, and the value is inserted
// verbatim (a value containing a quote can break the JSON, as it does in Orthanc).
//
// The CLI uses this to read a configuration the way Orthanc will; the plugin uses Scan() on the
// raw file (OrthancPluginGetConfigurationPath) only to learn which variable fed which key.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gw/config/VariableMap.h"

namespace gw::config {

// Returns the value of an environment variable, nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv).
EnvLookup ProcessEnvironment();

struct VariableMatch {
  size_t offset = 0;   // in the raw text
  size_t length = 0;   // of the whole `${...}` reference
  VariableUse use;
};

struct SubstitutionResult {
  std::string text;                     // the substituted text
  std::vector<VariableMatch> matches;   // in order of appearance
  std::vector<size_t> emptyNames;       // offsets of `${}` / `${:-x}`: Orthanc refuses these
};

class VariableSubstitution {
 public:
  static SubstitutionResult Substitute(std::string_view raw, const EnvLookup& env);

  // Locates each match of Substitute(raw) in the JSON structure of `raw` and returns the path of
  // the value it appears in (`DicomWebOAuth.Servers.azure.ClientSecret`). Tolerant: works when the
  // raw text is only JSON after substitution (`"Port": ${PORT}`); references in comments or in
  // key names are skipped.
  static VariableMap MapPaths(std::string_view raw, const std::vector<VariableMatch>& matches);

  // Substitute + MapPaths.
  static VariableMap Scan(std::string_view raw, const EnvLookup& env);
};

}  // namespace gw::config
