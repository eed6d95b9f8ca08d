#pragma once
// JSON paths as diagnostics print them and as VariableMap indexes them: keys joined with '.',
// array items as "[index]": `DicomWebOAuth.Servers.azure.ClientSecret`, `DicomWebOAuth.EnvAllowlist[2]`.
// Control characters of key names are shown as '?'.
#include <string>

namespace gw::config {

std::string JoinPath(const std::string& parent, const std::string& key);
std::string JoinIndex(const std::string& parent, size_t index);

}  // namespace gw::config
