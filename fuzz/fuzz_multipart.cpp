// The multipart reader (core/src/proxy/MultipartReader): every WADO-RS answer of the upstream goes
// through it on its way to the caller, and the Content-Type parameter parsers read the upstream's
// header. Layout of an input: byte 0 picks the boundary, byte 1 the piece size the body arrives in,
// byte 2 the part limit; then a Content-Type line ending with '\n'; then the body.
// Checked: no crash; the same body fed at once and fed in pieces gives the same outcome and the
// same parts (the network decides the pieces, never the meaning); parts respect the limits and
// carry lower-case header names; a boundary BoundaryOf accepts is 1..70 characters.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "gw/proxy/MultipartReader.h"

namespace {

using gw::proxy::MultipartReader;

struct Outcome {
  bool ok = false;
  std::vector<MultipartReader::Part> parts;
};

Outcome Read(const std::string& boundary, std::string_view body, size_t piece, size_t maxPart, size_t maxHeader) {
  MultipartReader reader(boundary, maxPart, maxHeader);
  Outcome out;
  auto keep = [&out](MultipartReader::Part& p) {
    out.parts.push_back(p);
    return gw::Status();
  };
  for (size_t at = 0; at < body.size(); at += piece) {
    if (!reader.Feed(body.substr(at, piece), keep).Ok()) return out;
  }
  out.ok = reader.Finish(keep).Ok();
  GW_FUZZ_CHECK(out.parts.size() == reader.PartsEmitted(), "PartsEmitted differs from the parts delivered");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const char* const kBoundaries[] = {"b", "frontier", "--", "a'()+_,-./:=? z",
                                            "0123456789012345678901234567890123456789012345678901234567890123456789"};
  const std::string boundary = kBoundaries[data[0] % 5];
  const size_t piece = 1 + data[1];
  const size_t maxPart = (data[2] & 1) ? 64 : 1 << 20;
  const size_t maxHeader = (data[2] & 2) ? 32 : MultipartReader::kDefaultMaxHeaderBytes;
  std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  const size_t newline = rest.find('\n');
  const std::string_view contentType = rest.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);

  if (auto b = MultipartReader::BoundaryOf(contentType); b.Ok()) {
    GW_FUZZ_CHECK(!b.Value().empty() && b.Value().size() <= 70, "boundary length outside 1..70");
  }
  MultipartReader::MediaTypeOf(contentType);
  MultipartReader::ParameterOf(contentType, "type");

  const Outcome whole = Read(boundary, body, body.size() + 1, maxPart, maxHeader);
  const Outcome pieces = Read(boundary, body, piece, maxPart, maxHeader);
  GW_FUZZ_CHECK(whole.ok == pieces.ok, "the outcome depends on how the body was cut");
  if (whole.ok) {
    GW_FUZZ_CHECK(whole.parts.size() == pieces.parts.size(), "the part count depends on the cut");
    for (size_t i = 0; i < whole.parts.size(); ++i) {
      GW_FUZZ_CHECK(whole.parts[i].body == pieces.parts[i].body, "a part body depends on the cut");
      GW_FUZZ_CHECK(whole.parts[i].headers == pieces.parts[i].headers, "part headers depend on the cut");
    }
  }
  for (const auto& p : whole.parts) {
    GW_FUZZ_CHECK(p.body.size() <= maxPart, "a part over maxPartBytes");
    for (const auto& [name, value] : p.headers) {
      for (char c : name) GW_FUZZ_CHECK(!std::isupper(static_cast<unsigned char>(c)), "upper-case header name");
    }
  }
  return 0;
}
