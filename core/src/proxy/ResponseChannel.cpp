#include "gw/proxy/ResponseChannel.h"

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

bool ResponseChannel::Push(Event event, size_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (abandoned_) {
    if (!pushFailure_) pushFailure_ = UpstreamMalformed("the caller is gone");
    return false;
  }
  const bool room = changed_.wait_for(lock, stallTimeout_, [&] {
    return abandoned_ || queued_ == 0 || queued_ + bytes <= capacity_;
  });
  if (abandoned_) {
    if (!pushFailure_) pushFailure_ = UpstreamMalformed("the caller is gone");
    return false;
  }
  if (!room) {
    pushFailure_ = UpstreamTimedOut("the answer was not taken for " +
                                    std::to_string(stallTimeout_.count() / 1000) + " s");
    return false;
  }
  events_.push_back(std::move(event));
  queued_ += bytes;
  changed_.notify_all();
  return true;
}

bool ResponseChannel::OnHead(long status, const http::Headers& headers) {
  Event e;
  e.head = true;
  e.status = status;
  e.headers = headers;
  return Push(std::move(e), 0);
}

bool ResponseChannel::OnBody(std::string_view data) {
  Event e;
  e.data.assign(data);
  return Push(std::move(e), data.size());
}

void ResponseChannel::Close(Result<long> outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  outcome_.emplace(std::move(outcome));
  changed_.notify_all();
}

std::optional<Error> ResponseChannel::PushFailure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pushFailure_;
}

Result<long> ResponseChannel::DrainInto(IResponseSink& sink) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return !events_.empty() || outcome_.has_value(); });
    if (events_.empty()) return *outcome_;
    Event e = std::move(events_.front());
    events_.pop_front();
    queued_ -= e.data.size();
    changed_.notify_all();
    if (abandoned_) continue;  // the sink refused earlier: drop the rest, wait for the outcome
    lock.unlock();
    const bool accepted = e.head ? sink.OnHead(e.status, e.headers) : sink.OnBody(e.data);
    lock.lock();
    if (!accepted) {
      abandoned_ = true;
      changed_.notify_all();
    }
  }
}

void ResponseChannel::Abandon() {
  std::lock_guard<std::mutex> lock(mutex_);
  abandoned_ = true;
  events_.clear();
  queued_ = 0;
  changed_.notify_all();
}

}  // namespace gw::proxy
