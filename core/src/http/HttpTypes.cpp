#include "gw/http/HttpTypes.h"

#include <strings.h>

namespace gw::http {

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return std::nullopt;
}

}  // namespace gw::http
