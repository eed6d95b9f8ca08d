#pragma once
// The streamed request body: reads from a BodyQueue and keeps a copy of the first bytes read (up to
// `replayLimit`), so the request can be sent again after a 401 or by libcurl on a fresh connection
// as long as no more than that was consumed. A body read further than the limit is no longer
// replayable (Rewind() returns false); nothing beyond the limit is ever kept in memory.
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
      : queue_(queue), declaredSize_(declaredSize), replayLimit_(replayLimit), idleTimeout_(idleTimeout) {}

  std::optional<uint64_t> Size() const override { return declaredSize_; }
  Result<size_t> Read(char* out, size_t max) override;
  bool Rewind() override;

  // True while every byte read so far is kept (a Rewind() would succeed).
  bool Replayable() const { return replayable_; }
  uint64_t BytesRead() const { return position_; }

 private:
  BodyQueue& queue_;
  const std::optional<uint64_t> declaredSize_;
  const size_t replayLimit_;
  const std::chrono::milliseconds idleTimeout_;
  std::string kept_;         // the first bytes ever read from the queue
  bool replayable_ = true;   // kept_ holds every byte read from the queue
  size_t replayPos_ = 0;     // next byte of kept_ to serve after a rewind
  bool replaying_ = false;
  uint64_t position_ = 0;    // bytes handed out since the last rewind
};

}  // namespace gw::proxy
