#include "gw/proxy/HeaderPolicy.h"

#include <strings.h>

#include <array>
#include <cctype>
#include <string>

namespace gw::proxy {

namespace {

bool Equal(std::string_view a, const char* b) {
  const size_t n = std::char_traits<char>::length(b);
  return a.size() == n && strncasecmp(a.data(), b, n) == 0;
}

template <size_t N>
bool InList(std::string_view name, const std::array<const char*, N>& list) {
  for (const char* entry : list) {
    if (Equal(name, entry)) return true;
  }
  return false;
}

const std::array<const char*, 14> kRequestAllow = {
    "accept",        "accept-charset",      "accept-language",   "content-type", "content-encoding",
    "if-match",      "if-none-match",       "if-modified-since", "if-unmodified-since",
    "if-range",      "range",               "traceparent",       "tracestate",   "x-request-id"};

const std::array<const char*, 18> kResponseAllow = {
    "location",      "content-location", "www-authenticate", "warning",      "etag",
    "last-modified", "cache-control",    "expires",          "retry-after",  "content-language",
    "content-disposition", "content-range", "accept-ranges", "vary",         "link",
    "content-encoding",    "x-request-id", "allow"};

const std::array<const char*, 4> kPartAllow = {"content-type", "content-location", "content-id",
                                               "content-description"};

const std::array<const char*, 16> kReserved = {
    "authorization", "proxy-authorization", "cookie",  "host",    "connection",     "keep-alive",
    "te",            "trailer",             "transfer-encoding",  "upgrade",        "proxy-connection",
    "expect",        "content-length",      "x-http-method-override", "x-dicomweb-oauth-gateway",
    "content-type"};

http::Headers Filter(const http::Headers& in, bool (*keep)(std::string_view)) {
  http::Headers out;
  for (const auto& [name, value] : in) {
    if (keep(name) && HeaderPolicy::IsSafeValue(value)) out.emplace_back(name, value);
  }
  return out;
}

}  // namespace

bool HeaderPolicy::IsForwardedRequestHeader(std::string_view name) { return InList(name, kRequestAllow); }

bool HeaderPolicy::IsReturnedResponseHeader(std::string_view name) { return InList(name, kResponseAllow); }

bool HeaderPolicy::IsReturnedPartHeader(std::string_view name) { return InList(name, kPartAllow); }

bool HeaderPolicy::IsReservedHeader(std::string_view name) {
  if (InList(name, kReserved)) return true;
  if (name.size() >= 6 && strncasecmp(name.data(), "proxy-", 6) == 0) return true;
  return false;
}

bool HeaderPolicy::IsSafeValue(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

std::optional<std::string> HeaderPolicy::MethodOverride(const http::Headers& headers,
                                                        const std::vector<std::string>& queryKeys) {
  static const std::array<const char*, 3> kOverrideHeaders = {"x-http-method-override", "x-http-method",
                                                              "x-method-override"};
  for (const auto& [name, value] : headers) {
    if (InList(name, kOverrideHeaders)) return name + " header";
  }
  for (const auto& key : queryKeys) {
    // "_method", percent-encoded or not, any case.
    std::string decoded;
    for (size_t i = 0; i < key.size(); ++i) {
      if (key[i] == '%' && i + 2 < key.size() && std::isxdigit(static_cast<unsigned char>(key[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(key[i + 2]))) {
        decoded.push_back(static_cast<char>(std::stoi(key.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        decoded.push_back(key[i]);
      }
    }
    if (Equal(decoded, "_method")) return std::string("_method argument");
  }
  return std::nullopt;
}

http::Headers HeaderPolicy::RequestHeadersToForward(const http::Headers& incoming) {
  return Filter(incoming, &IsForwardedRequestHeader);
}

http::Headers HeaderPolicy::ResponseHeadersToReturn(const http::Headers& upstream) {
  return Filter(upstream, &IsReturnedResponseHeader);
}

http::Headers HeaderPolicy::PartHeadersToReturn(const http::Headers& part) {
  return Filter(part, &IsReturnedPartHeader);
}

}  // namespace gw::proxy
