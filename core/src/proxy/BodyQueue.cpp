#include "gw/proxy/BodyQueue.h"

#include <algorithm>
#include <cstring>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

// The process-wide pool of chunk buffers (see BodyQueue.h). Its lock is taken when a queue needs a
// buffer it has no spare for, and when a queue gives its buffers back: a few times per request.
class BufferPool {
 public:
  // A buffer of at least `size` bytes of capacity, or an empty string (allocate as usual).
  std::string Take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = buffers_.size(); i-- > 0;) {
      if (buffers_[i].capacity() >= size) {
        std::string buffer = std::move(buffers_[i]);
        buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(i));
        bytes_ -= buffer.capacity();
        return buffer;
      }
    }
    return {};
  }
  void Give(std::string&& buffer) {
    if (buffer.capacity() < BodyQueue::kPoolMinBufferBytes) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes_ + buffer.capacity() > BodyQueue::kPoolBytes) return;  // freed by the caller
    bytes_ += buffer.capacity();
    buffers_.push_back(std::move(buffer));
  }
  size_t Bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bytes_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> buffers_;
  size_t bytes_ = 0;
};

BufferPool& Pool() {
  static BufferPool* pool = new BufferPool();  // never destroyed: queues may outlive static destruction order
  return *pool;
}

}  // namespace

BodyQueue::~BodyQueue() { DropBuffers(); }

void BodyQueue::DropBuffers() {
  for (auto& chunk : chunks_) Pool().Give(std::move(chunk));
  chunks_.clear();
  for (auto& buffer : spare_) Pool().Give(std::move(buffer));
  spare_.clear();
  spareBytes_ = 0;
  for (auto& chunk : retained_) Pool().Give(std::move(chunk));
  retained_.clear();
  retainedBytes_ = 0;
  frontOffset_ = 0;
  queued_ = 0;
}

size_t BodyQueue::PooledBytes() { return Pool().Bytes(); }

BodyQueue::PushResult BodyQueue::Push(std::string_view data) {
  std::unique_lock<std::mutex> lock(mutex_);
  pushed_ += data.size();
  if (detached_ || finished_ || failure_) return PushResult::Dropped;
  // Wait for room; a chunk larger than the capacity is still accepted into an empty queue.
  changed_.wait(lock, [&] { return detached_ || queued_ == 0 || queued_ + data.size() <= capacity_; });
  if (detached_) return PushResult::Dropped;
  if (!data.empty()) {
    if (spare_.empty()) {
      std::string buffer = data.size() >= kPoolMinBufferBytes ? Pool().Take(data.size()) : std::string();
      buffer.assign(data.data(), data.size());  // no allocation when a pooled buffer was found
      chunks_.push_back(std::move(buffer));
    } else {
      std::string buffer = std::move(spare_.back());
      spare_.pop_back();
      spareBytes_ -= buffer.capacity();
      buffer.assign(data.data(), data.size());  // no allocation when the spare is large enough
      chunks_.push_back(std::move(buffer));
    }
    queued_ += data.size();
    changed_.notify_all();
  }
  return PushResult::Queued;
}

void BodyQueue::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

void BodyQueue::Fail(Error error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!finished_ && !failure_) failure_ = std::move(error);
  changed_.notify_all();
}

Result<size_t> BodyQueue::Read(char* out, size_t max, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool ready = changed_.wait_for(lock, timeout, [&] { return queued_ > 0 || finished_ || failure_ || detached_; });
  if (queued_ == 0) {
    if (failure_) return *failure_;
    if (finished_) return size_t{0};
    if (detached_) return BodyError("the request body is no longer read");
    if (!ready) {
      return BodyError("no request body data for " + std::to_string(timeout.count() / 1000) + " s");
    }
  }
  size_t copied = 0;
  while (copied < max && !chunks_.empty()) {
    std::string& front = chunks_.front();
    const size_t n = std::min(max - copied, front.size() - frontOffset_);
    std::memcpy(out + copied, front.data() + frontOffset_, n);  // NOLINT(bugprone-not-null-terminated-result): bytes
    copied += n;
    frontOffset_ += n;
    if (frontOffset_ == front.size()) {
      Release(std::move(front));
      chunks_.pop_front();
      frontOffset_ = 0;
    }
  }
  queued_ -= copied;
  if (retaining_ && retainedBytes_ + frontOffset_ > retainLimit_) StopRetaining();
  changed_.notify_all();
  return copied;
}

void BodyQueue::Release(std::string&& chunk) {
  if (retaining_ && retainedBytes_ + chunk.size() <= retainLimit_) {
    retainedBytes_ += chunk.size();
    retained_.push_back(std::move(chunk));
    return;
  }
  if (retaining_) StopRetaining();
  if (spareBytes_ + chunk.capacity() <= capacity_) {
    spareBytes_ += chunk.capacity();
    spare_.push_back(std::move(chunk));
  } else {
    Pool().Give(std::move(chunk));
  }
}

void BodyQueue::StopRetaining() {
  retaining_ = false;
  for (auto& chunk : retained_) {
    if (spareBytes_ + chunk.capacity() > capacity_) {
      Pool().Give(std::move(chunk));  // the window's buffers serve the next request's window
      continue;
    }
    spareBytes_ += chunk.capacity();
    spare_.push_back(std::move(chunk));
  }
  retained_.clear();
  retainedBytes_ = 0;
}

void BodyQueue::Retain(size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  retainLimit_ = limit;
  retaining_ = !detached_;
}

bool BodyQueue::Rewind() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!retaining_ || detached_) return false;
  // The front chunk's read part is back to unread, and the retained chunks go in front of it.
  queued_ += frontOffset_ + retainedBytes_;
  frontOffset_ = 0;
  while (!retained_.empty()) {
    chunks_.push_front(std::move(retained_.back()));
    retained_.pop_back();
  }
  retainedBytes_ = 0;
  changed_.notify_all();
  return true;
}

bool BodyQueue::Replayable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return retaining_;
}

void BodyQueue::Detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  detached_ = true;
  DropBuffers();
  retaining_ = false;
  changed_.notify_all();
}

uint64_t BodyQueue::BytesPushed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pushed_;
}

bool BodyQueue::Finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return finished_;
}

size_t BodyQueue::SpareBuffers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spare_.size();
}

size_t BodyQueue::QueuedBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queued_;
}

}  // namespace gw::proxy
