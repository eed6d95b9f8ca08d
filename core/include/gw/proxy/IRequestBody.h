#pragma once
// The body of one upstream request, pulled by the transfer (libcurl's read callback) on the
// exchange's thread. Implementations: MemoryBody (small bodies held in memory) and QueueBody (the
// streamed body that Orthanc pushes chunk by chunk).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::proxy {

class IRequestBody {
 public:
  virtual ~IRequestBody() = default;

  // Total length when known before the transfer starts (sent as Content-Length), else nullopt
  // (sent with chunked transfer coding).
  virtual std::optional<uint64_t> Size() const = 0;

  // Copies at most `max` bytes into `out`; 0 means the body is complete. May block until data
  // arrives (bounded by the implementation's idle timeout). Errors are PXY-005.
  virtual Result<size_t> Read(char* out, size_t max) = 0;

  // Starts again at the first byte (a replay after a 401, or libcurl resending on a fresh
  // connection). False when the bytes already read are no longer available.
  virtual bool Rewind() = 0;

  // SHA-256 (lower-case hex) of the whole body when known before the transfer starts (SpoolBody),
  // else empty (a streamed body is not hashed).
  virtual std::string_view PayloadSha256() const { return {}; }
};

}  // namespace gw::proxy
