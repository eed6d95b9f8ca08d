#include "gw/config/Diagnostic.h"

#include <algorithm>
#include <cctype>

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

namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                  std::tolower(static_cast<unsigned char>(b[j - 1]))
                              ? 0
                              : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

Diagnostic UnknownKeyWarning(const std::string& path, const std::string& key, const std::vector<std::string>& known) {
  std::string hint;
  size_t best = 3;
  for (const std::string& candidate : known) {
    const size_t d = EditDistance(key, candidate);
    if (d < best && d <= candidate.size() / 4 + 1) {
      best = d;
      hint = candidate;
    }
  }
  std::string message = "unknown key, ignored";
  if (!hint.empty()) {
    message += Lower(hint) == Lower(key) ? "; keys are case-sensitive, did you mean `" + hint + "`?"
                                         : "; did you mean `" + hint + "`?";
  }
  return Diagnostic{Severity::Warning, "CFG-004", path, message};
}

}  // namespace gw::config
