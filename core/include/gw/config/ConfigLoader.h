#pragma once
// Reads an Orthanc configuration the way Orthanc 1.10 does, for tools that have the file and not a
// running Orthanc (the CLI's check-config), and for the plugin that wants the raw text's variables:
//   - the path is one file, or a folder whose *.json files (not recursive, any case of the
//     extension) are merged at top level; the same top-level key in two files is an error;
//   - `${VAR}` is substituted in the raw text of each file (VariableSubstitution);
//   - the JSON may contain // and /* */ comments and trailing commas, a UTF-8 BOM is skipped, text
//     after the root value is ignored, and a key repeated in one object keeps its last value
//     (Orthanc's JsonCpp settings); the root of each file must be an object.
// Problems are CFG-005 errors (with line and column) and warnings for repeated keys.
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/config/Diagnostic.h"
#include "gw/config/VariableMap.h"
#include "gw/config/VariableSubstitution.h"

namespace gw::config {

struct LoadResult {
  // The merged, substituted configuration; null when any file could not be read or parsed.
  std::shared_ptr<rapidjson::Document> document;
  VariableMap variables;            // ${VAR} references by JSON path, all files together
  std::string baseDirectory;        // the folder itself, or the file's folder (absolute)
  std::vector<std::string> files;   // the files read, in order
  std::vector<Diagnostic> diagnostics;

  bool Ok() const { return document != nullptr && !HasErrors(diagnostics); }
};

class ConfigLoader {
 public:
  static LoadResult Load(const std::string& path, const EnvLookup& env);

  // Parses the text of one file (already substituted) with Orthanc's leniency; `fileLabel` names
  // the file in diagnostics. Returns null and adds a CFG-005 error on failure.
  static std::shared_ptr<rapidjson::Document> ParseText(const std::string& text,
                                                        const std::string& fileLabel,
                                                        std::vector<Diagnostic>& diagnostics);
};

}  // namespace gw::config
