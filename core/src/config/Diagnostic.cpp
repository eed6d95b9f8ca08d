#include "gw/config/Diagnostic.h"

#include <algorithm>

namespace gw::config {

const char* ToString(Severity severity) {
  return severity == Severity::Error ? "error" : "warning";
}

std::string Diagnostic::ToString() const {
  std::string line = config::ToString(severity);
  line += ' ';
  line += code;
  if (!path.empty()) {
    line += ' ';
    line += path;
  }
  line += ": ";
  line += message;
  return line;
}

bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  return CountSeverity(diagnostics, Severity::Error) > 0;
}

size_t CountSeverity(const std::vector<Diagnostic>& diagnostics, Severity severity) {
  return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                           [&](const Diagnostic& d) { return d.severity == severity; }));
}

}  // namespace gw::config
