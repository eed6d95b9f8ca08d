#include "gw/proxy/UpstreamUrl.h"

#include <cctype>
#include <cstring>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

bool IsTailByte(unsigned char c) {
  return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == ',';
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Names the class of a refused tail byte, without echoing the path.
std::string DescribeByte(unsigned char c) {
  switch (c) {
    case '%': return "percent-encoded characters are not accepted (DICOMweb paths need none)";
    case '\\': return "backslash";
    case '@': return "'@'";
    case ':': return "':' (a scheme or an authority)";
    case '?': return "'?' inside the path";
    case '#': return "'#' (fragment)";
    case ' ': return "space";
    case '\r': return "CR";
    case '\n': return "LF";
    case '\0': return "NUL";
    default: break;
  }
  if (IsControl(c)) return "a control character";
  if (c >= 0x80) return "a non-ASCII byte";
  return std::string("character '") + static_cast<char>(c) + "'";
}

// "%0d", "%0a", "%00" in any case (an encoded CR, LF or NUL), also encoded again any number of
// times ("%250d", "%25250a"...).
bool HasEncodedControl(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    size_t j = i + 1;
    while (j + 1 < s.size() && s[j] == '2' && s[j + 1] == '5') j += 2;
    if (j + 1 >= s.size() || s[j] != '0') continue;
    const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j + 1])));
    if (b == 'd' || b == 'a' || b == '0') return true;
  }
  return false;
}

void AppendEncoded(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ',') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
}

Status CheckQueryText(std::string_view s, const char* what) {
  for (unsigned char c : s) {
    if (IsControl(c)) return PathRefused(std::string("query ") + what + " contains " + DescribeByte(c));
  }
  if (HasEncodedControl(s)) {
    return PathRefused(std::string("query ") + what + " contains an encoded CR, LF or NUL");
  }
  return Status::Success();
}

Error BadBase(const std::string& why) { return MakeError("CFG-002", "upstream URL " + why, 500); }

}  // namespace

Result<UpstreamUrl> UpstreamUrl::FromBase(std::string_view base) {
  for (unsigned char c : base) {
    if (c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\') {
      return BadBase("contains whitespace, a control character, a backslash or a non-ASCII byte");
    }
  }
  size_t schemeEnd = base.find("://");
  if (schemeEnd == std::string_view::npos) return BadBase("is not an absolute http(s) URL");
  std::string scheme(base.substr(0, schemeEnd));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") return BadBase("must use http or https");
  if (base.find('?') != std::string_view::npos) return BadBase("must not have a query");
  if (base.find('#') != std::string_view::npos) return BadBase("must not have a fragment");

  const size_t authorityStart = schemeEnd + 3;
  const size_t pathStart = base.find('/', authorityStart);
  std::string_view authority = base.substr(authorityStart, pathStart == std::string_view::npos
                                                               ? std::string_view::npos
                                                               : pathStart - authorityStart);
  if (authority.find('@') != std::string_view::npos) return BadBase("must not contain user:password@");
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return BadBase("has an unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return BadBase("has an invalid authority");
      port = rest.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
  }
  if (host.empty() || host == "[]") return BadBase("has no host");
  std::string hostPort(host);
  if (!port.empty() || authority.find(':') != std::string_view::npos) {
    if (port.empty() || port.size() > 5) return BadBase("has an invalid port");
    long value = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return BadBase("has an invalid port");
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return BadBase("has an invalid port");
    hostPort += ":" + std::string(port);
  } else {
    hostPort += scheme == "https" ? ":443" : ":80";
  }
  std::string normalized(base);
  if (pathStart == std::string_view::npos || normalized.back() != '/') normalized.push_back('/');
  return UpstreamUrl(std::move(normalized), std::move(hostPort));
}

Status UpstreamUrl::CheckTail(std::string_view tail) {
  if (tail.empty()) return PathRefused("empty path (no DICOMweb resource named)");
  if (tail.size() > kMaxTailBytes) {
    return PathRefused("path longer than " + std::to_string(kMaxTailBytes) + " bytes");
  }
  for (unsigned char c : tail) {
    if (c != '/' && !IsTailByte(c)) return PathRefused(DescribeByte(c));
  }
  size_t segments = 0;
  size_t start = 0;
  while (true) {
    const size_t slash = tail.find('/', start);
    const std::string_view segment =
        tail.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return PathRefused("empty path segment (leading, trailing or double '/')");
    if (segment.find_first_not_of('.') == std::string_view::npos) {
      return PathRefused("dot segment ('.' or '..')");
    }
    if (++segments > kMaxSegments) {
      return PathRefused("more than " + std::to_string(kMaxSegments) + " path segments");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Success();
}

Result<std::string> UpstreamUrl::EncodeQuery(const QueryParams& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (key.empty()) return PathRefused("query parameter without a name");
    if (auto s = CheckQueryText(key, "parameter name"); !s) return s.GetError();
    if (auto s = CheckQueryText(value, "value"); !s) return s.GetError();
    if (!out.empty()) out.push_back('&');
    AppendEncoded(out, key);
    out.push_back('=');
    AppendEncoded(out, value);
    if (out.size() > kMaxQueryBytes) {
      return PathRefused("query longer than " + std::to_string(kMaxQueryBytes) + " bytes");
    }
  }
  return out;
}

Status UpstreamUrl::CheckRawQuery(std::string_view rawQuery) {
  if (rawQuery.size() > kMaxQueryBytes) {
    return PathRefused("query longer than " + std::to_string(kMaxQueryBytes) + " bytes");
  }
  for (size_t i = 0; i < rawQuery.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(rawQuery[i]);
    if (c <= 0x20 || c >= 0x7f) return PathRefused("query contains " + DescribeByte(c));
    if (c == '#') return PathRefused("query contains '#' (fragment)");
    if (c == '%') {
      if (i + 2 >= rawQuery.size() || !IsHex(rawQuery[i + 1]) || !IsHex(rawQuery[i + 2])) {
        return PathRefused("query contains a malformed %-escape");
      }
    }
  }
  if (HasEncodedControl(rawQuery)) return PathRefused("query contains an encoded CR, LF or NUL");
  return Status::Success();
}

Result<std::string> UpstreamUrl::Resolve(std::string_view tail, const QueryParams& query) const {
  if (auto s = CheckTail(tail); !s) return s.GetError();
  auto encoded = EncodeQuery(query);
  if (!encoded) return encoded.GetError();
  std::string url = base_;
  url.append(tail);
  if (!encoded.Value().empty()) url += "?" + encoded.Value();
  return url;
}

Result<std::string> UpstreamUrl::Resolve(std::string_view tail, std::string_view rawQuery) const {
  if (auto s = CheckTail(tail); !s) return s.GetError();
  if (auto s = CheckRawQuery(rawQuery); !s) return s.GetError();
  std::string url = base_;
  url.append(tail);
  if (!rawQuery.empty()) {
    url.push_back('?');
    url.append(rawQuery);
  }
  return url;
}

}  // namespace gw::proxy
