// Header lines: http::AddHeaderLine (both libcurl clients read every upstream and IdP answer header
// through it) and HeaderPolicy, which decides what crosses the proxy in each direction and spots
// method overrides. The input is a header block as it arrives (lines ending with '\n', CR kept, as
// libcurl hands them over); the same lines also serve as request headers and as GET argument names.
// Checked: no crash; whatever any filter lets through has an allowlisted name and a value without
// CR, LF or NUL (nothing smuggled into the next hop's header block).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "gw/http/HttpTypes.h"
#include "gw/proxy/HeaderPolicy.h"

using gw::proxy::HeaderPolicy;

namespace {

void CheckSafe(const gw::http::Headers& headers, bool (*allowed)(std::string_view)) {
  for (const auto& [name, value] : headers) {
    GW_FUZZ_CHECK(allowed(name), "a header outside the allowlist crossed");
    GW_FUZZ_CHECK(HeaderPolicy::IsSafeValue(value), "a value with CR, LF or NUL crossed");
    GW_FUZZ_CHECK(HeaderPolicy::IsSafeValue(name), "a name with CR, LF or NUL crossed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view block(reinterpret_cast<const char*>(data), size);
  gw::http::Headers received;
  gw::http::Headers raw;  // as a caller's request headers arrive (name and value split at ':')
  std::vector<std::string> keys;
  size_t start = 0;
  while (start < block.size()) {
    size_t end = block.find('\n', start);
    end = end == std::string_view::npos ? block.size() : end + 1;
    const std::string_view line = block.substr(start, end - start);
    gw::http::AddHeaderLine(line, received);
    const size_t colon = line.find(':');
    raw.emplace_back(std::string(line.substr(0, colon)),
                     colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1)));
    keys.emplace_back(line);
    start = end;
  }
  for (const auto& [name, value] : received) {
    GW_FUZZ_CHECK(!name.empty(), "an empty header name was added");
    for (char c : name) GW_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "a header name kept upper case");
  }
  CheckSafe(HeaderPolicy::ResponseHeadersToReturn(received), HeaderPolicy::IsReturnedResponseHeader);
  CheckSafe(HeaderPolicy::PartHeadersToReturn(received), HeaderPolicy::IsReturnedPartHeader);
  CheckSafe(HeaderPolicy::RequestHeadersToForward(raw), HeaderPolicy::IsForwardedRequestHeader);
  CheckSafe(HeaderPolicy::RequestHeadersToForward(received), HeaderPolicy::IsForwardedRequestHeader);
  for (const auto& [name, value] : raw) HeaderPolicy::IsReservedHeader(name);
  HeaderPolicy::MethodOverride(raw, keys);
  HeaderPolicy::MethodOverride(received, keys);
  return 0;
}
