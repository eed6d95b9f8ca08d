#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/, level 1): the `traceparent` header that
// ties one DICOMweb operation together across Orthanc, the gateway and the upstream.
//
//   traceparent: 00-<trace-id: 32 lower-case hex>-<parent-id: 16 lower-case hex>-<flags: 2 hex>
//
// The gateway continues a valid incoming trace (same trace id, its own new parent id, the flags
// kept) and starts a new one when the header is absent or invalid (an invalid one is replaced, as
// the specification asks: the upstream never sees it). Pure functions, no Orthanc type.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

struct TraceContext {
  std::string traceId;   // 32 lower-case hex digits, not all zero
  std::string parentId;  // 16 lower-case hex digits, not all zero: the span that sends the request
  uint8_t flags = 0;     // bit 0: sampled

  // "00-<traceId>-<parentId>-<flags>"
  std::string Header() const;
  bool Sampled() const { return (flags & 0x01) != 0; }

  // Parses a `traceparent` value. Refused (nullopt): wrong length or separators, upper-case or
  // non-hex digits, version ff, an all-zero trace or parent id, and for version 00 anything after
  // the flags. A higher version is read by its first four fields when what follows is "-..."
  // (forward compatibility, as the specification asks); leading/trailing blanks are tolerated.
  static std::optional<TraceContext> Parse(std::string_view header);

  // A new trace: random trace and parent ids, flags 01 (sampled: the gateway records every
  // operation it sees).
  static TraceContext Start();

  // The context to send upstream for an incoming one: same trace id and flags, a new random
  // parent id (the gateway's own span). Without a valid incoming context: Start().
  static TraceContext Continue(const std::optional<TraceContext>& incoming);
};

// Random lower-case hex id of `bytes` bytes, never all zero (not a secret: ids, not keys).
std::string RandomHexId(size_t bytes);

}  // namespace gw
