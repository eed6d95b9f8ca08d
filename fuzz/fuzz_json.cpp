// gw::json::Parse: every JSON text the gateway did not write itself (request bodies, IdP answers,
// JWT parts, JWKS, Redis values, audit lines, configuration files) goes through it.
// The first byte picks the options; the rest is the text. Checked: no crash, the depth bound holds,
// and the canonical form of what parsed is a fixed point (parse(Canonical(x)) gives Canonical(x)):
// token cache keys and the audit chain's hashes depend on it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "gw/common/Json.h"

namespace {

unsigned Depth(const rapidjson::Value& v) {
  unsigned deepest = 0;
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) deepest = std::max(deepest, Depth(m.value));
    return deepest + 1;
  }
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) deepest = std::max(deepest, Depth(e));
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  gw::json::ParseOptions options;
  options.allowComments = flags & 1;
  options.stopWhenDone = flags & 2;
  options.validateEncoding = !(flags & 4);
  options.limits.maxDepth = (flags & 8) ? 4 : gw::json::ParseLimits::kDefaultMaxDepth;
  if (flags & 16) options.limits.maxBytes = 64;
  gw::json::ParseFailure failure;
  auto doc = gw::json::Parse(text, "FUZ-001", options, &failure);
  if (!doc.Ok()) {
    GW_FUZZ_CHECK(failure.offset <= text.size(), "failure offset beyond the text");
    GW_FUZZ_CHECK(!failure.reason.empty(), "failure without a reason");
    return 0;
  }
  GW_FUZZ_CHECK(text.size() <= options.limits.maxBytes, "text over maxBytes accepted");
  GW_FUZZ_CHECK(Depth(doc.Value()) <= options.limits.maxDepth, "document deeper than maxDepth");
  const std::string canonical = gw::json::Canonical(doc.Value());
  gw::json::Stringify(doc.Value());
  // Canonical output is plain JSON (no comments), possibly with invalid UTF-8 copied through when
  // validation was off: parse it back the same way, without the size limit.
  gw::json::ParseOptions again;
  again.validateEncoding = options.validateEncoding;
  again.limits.maxBytes = canonical.size() + 1;
  again.limits.maxDepth = options.limits.maxDepth;
  auto reparsed = gw::json::Parse(canonical, "FUZ-001", again);
  GW_FUZZ_CHECK(reparsed.Ok(), "canonical form does not parse");
  GW_FUZZ_CHECK(gw::json::Canonical(reparsed.Value()) == canonical, "canonical form is not a fixed point");
  return 0;
}
