#include "gw/proxy/ProxyRequest.h"

#include <cctype>

#include "gw/proxy/HeaderPolicy.h"

namespace gw::proxy {

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}
}  // namespace

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

const std::string* Incoming::Header(const char* lowerName) const {
  for (const auto& [k, v] : headers) {
    if (k == lowerName) return &v;
  }
  return nullptr;
}

Incoming Incoming::Describe(std::string method, std::string server, std::string tail, http::Headers headers,
                            const std::vector<std::pair<std::string, std::string>>& arguments) {
  Incoming in;
  in.method = std::move(method);
  in.server = std::move(server);
  in.tail = std::move(tail);
  in.headers = std::move(headers);
  // Orthanc hands the GET arguments over whatever method it made of the request (measured: a GET
  // with `_method=delete` arrives as DELETE with its arguments).
  std::vector<std::string> keys;
  keys.reserve(arguments.size());
  for (const auto& [key, value] : arguments) keys.push_back(key);
  in.methodOverride = HeaderPolicy::MethodOverride(in.headers, keys);
  std::optional<TraceContext> incoming;
  if (const std::string* traceparent = in.Header("traceparent")) incoming = TraceContext::Parse(*traceparent);
  in.traceContinued = incoming.has_value();
  in.trace = TraceContext::Continue(incoming);
  if (in.method == "GET") {
    // Orthanc 1.10 hands GET arguments to the route still percent-encoded (measured: the DICOMweb
    // plugin's `Modality=%2A` arrived as "%2A" and went upstream as "%252A", so wildcard and
    // PatientName "Doe^J" searches matched nothing). Decode once; UpstreamUrl encodes again and
    // still refuses control characters, encoded or not.
    for (const auto& [key, value] : arguments) in.query.emplace_back(PercentDecode(key), PercentDecode(value));
  }
  return in;
}

}  // namespace gw::proxy
