#pragma once
// Bounded producer/consumer queue between Orthanc's chunked-request callbacks (the producer:
// AddChunk delivers pieces of at most 1 MiB) and the upstream transfer (the consumer, on the
// exchange's worker thread). Backpressure: Push() blocks while `capacity` bytes or more are
// waiting, so a multi-gigabyte STOW never sits in memory; at most capacity + one chunk is held.
//
// Ends: the producer calls Finish() (body complete) or Fail() (client gone); the consumer calls
// Detach() when it will read no more (exchange over, or failed), after which Push() returns at
// once and drops the data, so Orthanc can finish reading the request and call Execute.
//
// Replay (Retain/Rewind): the consumer may ask that the first `limit` bytes it reads stay
// available; read chunks are then kept as they are (no copy) instead of being released, and
// Rewind() puts them back in front of the queue. Once more than `limit` bytes were read, they are
// released and Rewind() fails.
//
// Buffers: a chunk's buffer is recycled once read and not retained (kept while the spares hold at
// most `capacity` bytes), so a long body reuses the same few buffers instead of allocating (and, at
// 1 MiB, mapping and faulting in) a new one per chunk (docs/PERFORMANCE.md, "Where the proxy's
// CPU time goes").
//
// Across requests: the buffers a queue no longer needs (at Detach() or destruction, and retained
// chunks released once the replay window closes) go to a process-wide pool of at most
// kPoolBytes, from which the next request's queue takes its first buffers. Otherwise every
// request would copy its first 8 MiB (the replay window, whose chunks cannot be recycled while it
// is kept) into freshly mapped memory: about 2,000 page faults per request (docs/PERFORMANCE.md).
//
// Thread safety: one producer thread and one consumer thread at a time; every method may be
// called from either.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gw/common/Error.h"

namespace gw::proxy {

class BodyQueue {
 public:
  static constexpr size_t kDefaultCapacity = 4 * 1024 * 1024;

  // Buffers kept for later requests, in total capacity (two replay windows): resident memory the
  // process keeps once it has proxied large bodies.
  static constexpr size_t kPoolBytes = 16 * 1024 * 1024;
  // Smaller buffers are not pooled (a body in small pieces allocates little).
  static constexpr size_t kPoolMinBufferBytes = 256 * 1024;

  explicit BodyQueue(size_t capacityBytes = kDefaultCapacity) : capacity_(capacityBytes) {}
  ~BodyQueue();
  BodyQueue(const BodyQueue&) = delete;
  BodyQueue& operator=(const BodyQueue&) = delete;

  enum class PushResult { Queued, Dropped };

  // Producer. Copies `data`; blocks while the queue is full and the consumer is attached.
  // Dropped: the consumer has detached (the bytes are counted, not kept). Pushing after Finish()
  // or Fail() is a programming error and is dropped.
  PushResult Push(std::string_view data);
  // Producer: the body is complete.
  void Finish();
  // Producer: the body will not be completed (`error` is what the consumer's Read returns).
  void Fail(Error error);

  // Consumer. Copies at most `max` queued bytes into `out` and returns the count; 0 when the body
  // is complete. Waits up to `timeout` for data: PXY-005 when nothing arrives in time, or the
  // producer's error after Fail().
  Result<size_t> Read(char* out, size_t max, std::chrono::milliseconds timeout);
  // Consumer: no more reads. Releases the queued bytes and unblocks the producer.
  void Detach();
  // Consumer: keep the bytes read from now on, up to `limit` in total, for Rewind(). Call before the
  // first Read().
  void Retain(size_t limit);
  // Consumer: read again from the first byte. False (and nothing changes) unless Retain() was
  // called and no more than its limit has been read.
  bool Rewind();
  // Consumer: every byte read so far is retained (a Rewind() would succeed).
  bool Replayable() const;

  uint64_t BytesPushed() const;
  bool Finished() const;  // Finish() was called
  size_t QueuedBytes() const;
  size_t SpareBuffers() const;  // read chunks whose buffers wait for reuse
  static size_t PooledBytes();  // capacity held by the process-wide pool

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  std::vector<std::string> spare_;  // buffers of chunks already read, for the next pushes
  size_t spareBytes_ = 0;           // their capacities
  void Release(std::string&& chunk);  // a read chunk: retained, recycled or freed
  void StopRetaining();
  void DropBuffers();  // every buffer to the pool (or freed), the queue emptied; caller holds mutex_
  std::deque<std::string> retained_;  // chunks read completely, in order, while retaining
  size_t retainedBytes_ = 0;          // their sizes
  size_t retainLimit_ = 0;
  bool retaining_ = false;            // every byte read so far is in retained_ + the front's read part
  size_t frontOffset_ = 0;  // bytes of chunks_.front() already read
  size_t queued_ = 0;       // unread bytes in chunks_
  uint64_t pushed_ = 0;
  bool finished_ = false;
  bool detached_ = false;
  std::optional<Error> failure_;
};

}  // namespace gw::proxy
