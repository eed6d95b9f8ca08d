#include "gw/config/HttpUrl.h"

#include <cctype>

namespace gw::config {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

std::optional<HttpUrl> Fail(UrlProblem reason, UrlProblem* problem) {
  if (problem) *problem = reason;
  return std::nullopt;
}

}  // namespace

bool HttpUrl::IsLoopback() const {
  if (host == "localhost" || host == "::1") return true;
  if (host.rfind("127.", 0) != 0) return false;
  for (char c : host) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return true;
}

const char* Describe(UrlProblem problem) {
  switch (problem) {
    case UrlProblem::None: return "valid";
    case UrlProblem::NotAbsoluteHttp: return "must be an absolute URL starting with http:// or https://";
    case UrlProblem::EmptyHost: return "has no host name";
    case UrlProblem::BadPort: return "has an invalid port (expected 1-65535)";
    case UrlProblem::UserInfo:
      return "must not contain credentials (user:password@); use the dedicated keys instead";
    case UrlProblem::Fragment: return "must not contain a fragment (#...)";
    case UrlProblem::InvalidCharacter:
      return "contains a character not allowed in a URL (space, control character, backslash...)";
  }
  return "is invalid";
}

std::optional<HttpUrl> ParseHttpUrl(std::string_view text, UrlProblem* problem) {
  if (problem) *problem = UrlProblem::None;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '\\') return Fail(UrlProblem::InvalidCharacter, problem);
  }
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return Fail(UrlProblem::NotAbsoluteHttp, problem);
  HttpUrl url;
  url.scheme = Lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return Fail(UrlProblem::NotAbsoluteHttp, problem);
  if (text.find('#') != std::string_view::npos) return Fail(UrlProblem::Fragment, problem);

  std::string_view rest = text.substr(sep + 3);
  const size_t authorityEnd = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authorityEnd);
  std::string_view tail = authorityEnd == std::string_view::npos ? std::string_view() : rest.substr(authorityEnd);
  if (authority.find('@') != std::string_view::npos) return Fail(UrlProblem::UserInfo, problem);

  std::string_view host;
  std::string_view portText;
  bool hasPort = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Fail(UrlProblem::EmptyHost, problem);
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Fail(UrlProblem::InvalidCharacter, problem);
      hasPort = true;
      portText = after.substr(1);
    }
    for (char c : host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Fail(UrlProblem::InvalidCharacter, problem);
      }
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      hasPort = true;
      portText = authority.substr(colon + 1);
    }
    for (char c : host) {
      if (!IsHostChar(c)) return Fail(UrlProblem::InvalidCharacter, problem);
    }
  }
  url.host = Lower(host);
  if (!url.host.empty() && url.host.back() == '.') url.host.pop_back();
  if (url.host.empty()) return Fail(UrlProblem::EmptyHost, problem);

  if (hasPort) {
    if (portText.empty() || portText.size() > 5) return Fail(UrlProblem::BadPort, problem);
    int port = 0;
    for (char c : portText) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Fail(UrlProblem::BadPort, problem);
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return Fail(UrlProblem::BadPort, problem);
    url.port = port;
  } else {
    url.port = url.scheme == "https" ? 443 : 80;
  }

  const size_t q = tail.find('?');
  std::string_view path = tail.substr(0, q);
  url.path = path.empty() ? "/" : std::string(path);
  if (q != std::string_view::npos) url.query = std::string(tail.substr(q + 1));
  return url;
}

}  // namespace gw::config
