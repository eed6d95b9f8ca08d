#include "gw/http/HttpTypes.h"

#include <strings.h>

namespace gw::http {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

void AddHeaderLine(std::string_view line, Headers& headers) {
  if (line.empty()) return;
  if ((line[0] == ' ' || line[0] == '\t') && !headers.empty()) {  // obsolete line folding
    const std::string more = Trim(line);
    if (!more.empty()) headers.back().second += " " + more;
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return;  // not a header line
  std::string name(line.substr(0, colon));
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  headers.emplace_back(std::move(name), Trim(line.substr(colon + 1)));
}

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

}  // namespace gw::http
