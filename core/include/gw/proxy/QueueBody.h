#pragma once
// The streamed request body: reads from a BodyQueue and has the queue keep the first bytes read (up
// to `replayLimit`, BodyQueue::Retain: the chunks themselves, not a copy), so the request can be
// sent again after a 401 or by libcurl on a fresh connection as long as no more than that was
// consumed. A body read further than the limit is no longer replayable (Rewind() returns false);
// nothing beyond the limit is ever kept in memory.
//
// With `declaredSize` (the client's Content-Length), Size() reports it and a body that ends
// shorter or runs longer is an error (PXY-005): Orthanc 1.10 passes a Content-Length body to the
// chunked callback in one piece whose size is a 32-bit field, so a body of 4 GiB or more would
// otherwise arrive silently truncated.
//
// Not thread safe: used by the exchange's thread only (the queue handles the producer side).
#include <chrono>
#include <string>

#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/IRequestBody.h"

namespace gw::proxy {

class QueueBody final : public IRequestBody {
 public:
  static constexpr size_t kDefaultReplayLimit = 8 * 1024 * 1024;

  QueueBody(BodyQueue& queue, std::optional<uint64_t> declaredSize, size_t replayLimit,
            std::chrono::milliseconds idleTimeout)
      : queue_(queue), declaredSize_(declaredSize), idleTimeout_(idleTimeout) {
    queue_.Retain(replayLimit);
  }

  std::optional<uint64_t> Size() const override { return declaredSize_; }
  Result<size_t> Read(char* out, size_t max) override;
  bool Rewind() override;

  // True while every byte read so far is kept (a Rewind() would succeed).
  bool Replayable() const { return queue_.Replayable(); }
  uint64_t BytesRead() const { return position_; }

 private:
  BodyQueue& queue_;
  const std::optional<uint64_t> declaredSize_;
  const std::chrono::milliseconds idleTimeout_;
  uint64_t position_ = 0;    // bytes handed out since the last rewind
};

}  // namespace gw::proxy
