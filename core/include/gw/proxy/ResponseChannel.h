#pragma once
// Hands one upstream answer from the thread that runs the exchange to the thread that answers the
// HTTP request. For a streamed request body (STOW) the exchange runs on a worker thread while
// Orthanc is still delivering the body; Orthanc gives the plugin its answer object only later, in
// the Execute callback, on its own thread. The worker pushes head and body bytes here (as an
// IResponseSink); Execute drains them into the real sink (an AnswerWriter).
//
// Bounded: the producer blocks while `capacity` bytes wait; after `stallTimeout` without room it
// gives up (the exchange fails with PXY-004) rather than waiting forever for a consumer that does
// not come. Abandon() (request finalized without Execute) makes every later push fail at once.
//
// Thread safety: one producer and one consumer thread.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "gw/common/Error.h"
#include "gw/proxy/IResponseSink.h"

namespace gw::proxy {

class ResponseChannel final : public IResponseSink {
 public:
  static constexpr size_t kDefaultCapacity = 8 * 1024 * 1024;

  explicit ResponseChannel(size_t capacityBytes = kDefaultCapacity,
                           std::chrono::milliseconds stallTimeout = std::chrono::minutes(5))
      : capacity_(capacityBytes), stallTimeout_(stallTimeout) {}

  // Producer side (IResponseSink). False when the consumer abandoned or did not drain in time.
  bool OnHead(long status, const http::Headers& headers) override;
  bool OnBody(std::string_view data) override;
  // Producer: the exchange is over with this outcome. Exactly once.
  void Close(Result<long> outcome);
  // Why the last push failed (abandoned or stalled), for the exchange's error.
  std::optional<Error> PushFailure() const;

  // Consumer: forwards every event to `sink` in order until Close(), then returns the outcome.
  // When `sink` refuses an event, the channel is abandoned (the producer's next push fails) and
  // the outcome is still awaited and returned.
  Result<long> DrainInto(IResponseSink& sink);
  // Consumer: nobody will drain; unblocks the producer.
  void Abandon();

 private:
  struct Event {
    bool head = false;
    long status = 0;
    http::Headers headers;
    std::string data;
  };
  bool Push(Event event, size_t bytes);

  const size_t capacity_;
  const std::chrono::milliseconds stallTimeout_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Event> events_;
  size_t queued_ = 0;
  bool abandoned_ = false;
  std::optional<Error> pushFailure_;
  std::optional<Result<long>> outcome_;
};

}  // namespace gw::proxy
