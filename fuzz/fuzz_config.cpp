// The configuration path, in the order the CLI's check-config and the plugin take it: `${VAR}`
// substitution on the raw text (VariableSubstitution: Substitute, MapPaths), the lenient JSON
// reading of Orthanc's dialect (ConfigLoader::ParseText), then the validation of the whole
// configuration (ConfigParser::Parse, secret references included; files are not required to exist).
// A configuration may come from a ConfigMap or an environment the operator does not fully control.
// Checked: no crash; each substitution match lies inside the raw text; a parse that reports no
// error has a configuration and the other way round.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/VariableSubstitution.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  // A fixed environment: a set variable, an empty one, one whose value breaks the JSON.
  gw::config::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET") return std::string("https://idp.example/token");
    if (name == "EMPTY") return std::string();
    if (name == "QUOTE") return std::string("a\"b\\");
    return std::nullopt;
  };
  auto sub = gw::config::VariableSubstitution::Substitute(raw, env);
  for (const auto& m : sub.matches) {
    GW_FUZZ_CHECK(m.offset <= raw.size() && m.length <= raw.size() - m.offset, "match outside the raw text");
  }
  for (size_t offset : sub.emptyNames) GW_FUZZ_CHECK(offset < raw.size(), "empty name outside the raw text");
  gw::config::VariableMap variables = gw::config::VariableSubstitution::MapPaths(raw, sub.matches);

  std::vector<gw::config::Diagnostic> diagnostics;
  auto doc = gw::config::ConfigLoader::ParseText(sub.text, "fuzz.json", diagnostics);
  if (!doc) {
    GW_FUZZ_CHECK(gw::config::HasErrors(diagnostics), "ParseText failed without an error");
    return 0;
  }
  gw::config::ParseOptions options;
  options.checkFiles = false;
  options.variables = &variables;
  options.baseDirectory = "/nonexistent-fuzz-base";
  auto result = gw::config::ConfigParser::Parse(*doc, options);
  GW_FUZZ_CHECK(result.Ok() == (result.section == gw::config::SectionStatus::Present &&
                                !gw::config::HasErrors(result.diagnostics)),
                "config present exactly when the section is there without errors");
  return 0;
}
