// The bounded queue between Orthanc's AddChunk and the upstream transfer, and the replayable body
// built on it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/MemoryBody.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/QueueBody.h"

using namespace std::chrono_literals;
using gw::proxy::BodyQueue;
using gw::proxy::MemoryBody;
using gw::proxy::QueueBody;

namespace {

std::string Pattern(size_t n, size_t offset = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((offset + i) * 131 % 251);
  return s;
}

std::string ReadAll(gw::proxy::IRequestBody& body, size_t step = 7000) {
  std::string out;
  std::string buf(step, '\0');
  while (true) {
    auto r = body.Read(buf.data(), buf.size());
    REQUIRE(r.Ok());
    if (r.Value() == 0) return out;
    out.append(buf.data(), r.Value());
  }
}

}  // namespace

TEST_CASE("BodyQueue/backpressure bounds the memory held", "[proxy][queue]") {
  constexpr size_t kCapacity = 1 << 20;
  constexpr size_t kChunk = 256 * 1024;
  constexpr size_t kTotal = 64u << 20;
  BodyQueue queue(kCapacity);
  std::atomic<size_t> maxQueued{0};
  std::atomic<bool> allQueued{true};
  std::thread producer([&] {
    for (size_t off = 0; off < kTotal; off += kChunk) {
      if (queue.Push(Pattern(kChunk, off)) != BodyQueue::PushResult::Queued) allQueued = false;
      size_t q = queue.QueuedBytes();
      size_t m = maxQueued.load();
      while (q > m && !maxQueued.compare_exchange_weak(m, q)) {
      }
    }
    queue.Finish();
  });
  std::string received;
  received.reserve(kTotal);
  std::string buf(100000, '\0');
  size_t reads = 0;
  while (true) {
    auto r = queue.Read(buf.data(), buf.size(), 5s);
    REQUIRE(r.Ok());
    if (r.Value() == 0) break;
    received.append(buf.data(), r.Value());
    if (++reads % 50 == 0) std::this_thread::sleep_for(1ms);  // a slower consumer
  }
  producer.join();
  CHECK(allQueued.load());
  CHECK(received.size() == kTotal);
  CHECK(received == Pattern(kTotal));
  CHECK(maxQueued.load() <= kCapacity);
  CHECK(queue.BytesPushed() == kTotal);
}

TEST_CASE("BodyQueue/a read chunk's buffer is reused by the next push instead of a new allocation", "[proxy][queue]") {
  // A STOW of gigabytes arrives in 1 MiB chunks: one allocation (an mmap and 256 page faults at
  // that size) per chunk was what the queue cost per byte. The spares are bounded by the capacity.
  constexpr size_t kChunk = 64 * 1024;
  BodyQueue queue(2 * kChunk);
  std::string buf(kChunk, '\0');
  REQUIRE(queue.Push(Pattern(kChunk)) == BodyQueue::PushResult::Queued);
  CHECK(queue.SpareBuffers() == 0);
  auto r = queue.Read(buf.data(), buf.size(), 1s);
  REQUIRE(r.Ok());
  CHECK(r.Value() == kChunk);
  CHECK(queue.SpareBuffers() == 1);
  REQUIRE(queue.Push(Pattern(kChunk / 2, 7)) == BodyQueue::PushResult::Queued);  // takes the spare
  CHECK(queue.SpareBuffers() == 0);
  r = queue.Read(buf.data(), buf.size(), 1s);
  REQUIRE(r.Ok());
  CHECK(std::string(buf.data(), r.Value()) == Pattern(kChunk / 2, 7));  // the spare's old bytes are gone
  // Spares never hold more than the capacity: a chunk larger than it passes, but is not kept.
  REQUIRE(queue.Push(Pattern(3 * kChunk, 1)) == BodyQueue::PushResult::Queued);
  std::string all;
  while (all.size() < 3 * kChunk) {
    r = queue.Read(buf.data(), buf.size(), 1s);
    REQUIRE(r.Ok());
    all.append(buf.data(), r.Value());
  }
  CHECK(all == Pattern(3 * kChunk, 1));
  CHECK(queue.SpareBuffers() == 0);  // it took the spare and grew it past the capacity: dropped
  REQUIRE(queue.Push("x") == BodyQueue::PushResult::Queued);
  queue.Detach();
  CHECK(queue.SpareBuffers() == 0);
}

TEST_CASE("BodyQueue/producer blocks while full, until the consumer reads", "[proxy][queue]") {
  BodyQueue queue(1000);
  REQUIRE(queue.Push(std::string(1000, 'a')) == BodyQueue::PushResult::Queued);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    queue.Push(std::string(10, 'b'));
    pushed = true;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(pushed.load());
  char buf[600];
  REQUIRE(queue.Read(buf, sizeof(buf), 1s).Value() == 600);
  producer.join();
  CHECK(pushed.load());
}

TEST_CASE("BodyQueue/a chunk larger than the capacity still passes", "[proxy][queue]") {
  BodyQueue queue(10);
  REQUIRE(queue.Push(std::string(100, 'x')) == BodyQueue::PushResult::Queued);
  queue.Finish();
  std::string buf(1000, '\0');
  CHECK(queue.Read(buf.data(), buf.size(), 1s).Value() == 100);
  CHECK(queue.Read(buf.data(), buf.size(), 1s).Value() == 0);
}

TEST_CASE("BodyQueue/detach unblocks the producer and drops later data", "[proxy][queue]") {
  BodyQueue queue(10);
  REQUIRE(queue.Push(std::string(10, 'a')) == BodyQueue::PushResult::Queued);
  std::atomic<int> result{-1};
  std::thread producer([&] { result = static_cast<int>(queue.Push(std::string(10, 'b'))); });
  std::this_thread::sleep_for(50ms);
  queue.Detach();
  producer.join();
  CHECK(result.load() == static_cast<int>(BodyQueue::PushResult::Dropped));
  CHECK(queue.Push("more") == BodyQueue::PushResult::Dropped);
  CHECK(queue.QueuedBytes() == 0);
  CHECK(queue.BytesPushed() == 24);
}

TEST_CASE("BodyQueue/read errors", "[proxy][queue]") {
  char buf[16];
  SECTION("idle timeout") {
    BodyQueue queue;
    auto r = queue.Read(buf, sizeof(buf), 50ms);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-005");
  }
  SECTION("producer failure after the queued data") {
    BodyQueue queue;
    queue.Push("abc");
    queue.Fail(gw::proxy::BodyError("client disconnected"));
    CHECK(queue.Read(buf, sizeof(buf), 1s).Value() == 3);
    auto r = queue.Read(buf, sizeof(buf), 1s);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().message.find("client disconnected") != std::string::npos);
  }
  SECTION("a waiting reader wakes up at Finish") {
    BodyQueue queue;
    std::thread finisher([&] {
      std::this_thread::sleep_for(50ms);
      queue.Finish();
    });
    auto r = queue.Read(buf, sizeof(buf), 5s);
    finisher.join();
    REQUIRE(r.Ok());
    CHECK(r.Value() == 0);
  }
}

TEST_CASE("QueueBody/replay after a partial read within the limit", "[proxy][queue]") {
  BodyQueue queue(1 << 20);
  const std::string data = Pattern(300000);
  queue.Push(std::string_view(data).substr(0, 100000));
  queue.Push(std::string_view(data).substr(100000));
  queue.Finish();
  QueueBody body(queue, std::nullopt, 1 << 20, 1s);
  CHECK_FALSE(body.Size().has_value());
  std::string buf(50000, '\0');
  REQUIRE(body.Read(buf.data(), buf.size()).Value() == 50000);
  REQUIRE(body.Replayable());
  REQUIRE(body.Rewind());
  CHECK(ReadAll(body) == data);  // the kept prefix, then the rest of the queue
  REQUIRE(body.Rewind());
  CHECK(ReadAll(body, 12345) == data);  // and again: everything read was within the limit
}

TEST_CASE("QueueBody/the replay keeps the queue's own chunks instead of copying the first bytes", "[proxy][queue]") {
  // Found by profiling a proxied STOW: the copy of the first 8 MiB, regrown by doubling into fresh
  // pages, was half the CPU time of the exchange's thread. The retained chunks are the pushed ones
  // (not recycled while the replay may need them) and go back to the spares once past the limit.
  constexpr size_t kChunk = 100000;
  BodyQueue queue(1 << 20);
  QueueBody body(queue, std::nullopt, 2 * kChunk + 10, 1s);
  for (size_t i = 0; i < 4; ++i) queue.Push(Pattern(kChunk, i * kChunk));
  queue.Finish();
  std::string buf(kChunk, '\0');
  REQUIRE(body.Read(buf.data(), buf.size()).Value() == kChunk);
  REQUIRE(body.Read(buf.data(), 5).Value() == 5);  // into the second chunk
  CHECK(body.Replayable());
  CHECK(queue.SpareBuffers() == 0);  // the first chunk is retained, not recycled
  REQUIRE(body.Rewind());
  CHECK(body.BytesRead() == 0);
  REQUIRE(body.Read(buf.data(), buf.size()).Value() == kChunk);
  CHECK(buf == Pattern(kChunk));
  REQUIRE(body.Read(buf.data(), buf.size()).Value() == kChunk);
  CHECK(buf == Pattern(kChunk, kChunk));
  CHECK(body.Replayable());
  REQUIRE(body.Read(buf.data(), 11).Value() == 11);  // 2 * kChunk + 11 read: one byte past the limit
  CHECK_FALSE(body.Replayable());
  CHECK_FALSE(body.Rewind());
  CHECK(queue.SpareBuffers() == 2);  // released for reuse
  std::string rest(buf.data(), 11);
  rest += ReadAll(body);
  CHECK(rest == Pattern(2 * kChunk, 2 * kChunk));
}

TEST_CASE("QueueBody/nothing read: always replayable", "[proxy][queue]") {
  BodyQueue queue;
  queue.Push("hello");
  queue.Finish();
  QueueBody body(queue, std::nullopt, 0, 1s);
  REQUIRE(body.Rewind());
  CHECK(ReadAll(body) == "hello");
}

TEST_CASE("QueueBody/not replayable once more than the limit was read", "[proxy][queue]") {
  BodyQueue queue(1 << 20);
  queue.Push(Pattern(5000));
  queue.Finish();
  QueueBody body(queue, std::nullopt, 1000, 1s);
  std::string buf(1500, '\0');
  REQUIRE(body.Read(buf.data(), buf.size()).Value() == 1500);
  CHECK_FALSE(body.Replayable());
  CHECK_FALSE(body.Rewind());
}

TEST_CASE("QueueBody/declared size (Content-Length) is enforced", "[proxy][queue]") {
  std::string buf(100, '\0');
  SECTION("exact") {
    BodyQueue queue;
    queue.Push("0123456789");
    queue.Finish();
    QueueBody body(queue, 10, 1000, 1s);
    CHECK(body.Size().value() == 10);
    CHECK(ReadAll(body) == "0123456789");
  }
  SECTION("shorter: the truncation Orthanc 1.10 would cause for a >= 4 GiB body") {
    BodyQueue queue;
    queue.Push("01234");
    queue.Finish();
    QueueBody body(queue, 10, 1000, 1s);
    REQUIRE(body.Read(buf.data(), buf.size()).Value() == 5);
    auto r = body.Read(buf.data(), buf.size());
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-005");
  }
  SECTION("longer") {
    BodyQueue queue;
    queue.Push("0123456789ABC");
    queue.Finish();
    QueueBody body(queue, 10, 1000, 1s);
    auto r = body.Read(buf.data(), buf.size());
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-005");
  }
}

TEST_CASE("MemoryBody/reads and rewinds", "[proxy][queue]") {
  MemoryBody body("abcdef");
  CHECK(body.Size().value() == 6);
  CHECK(ReadAll(body, 4) == "abcdef");
  REQUIRE(body.Rewind());
  CHECK(ReadAll(body, 1) == "abcdef");
}

TEST_CASE("BodyQueue/a finished request's buffers serve the next request's replay window", "[proxy][queue]") {
  // The replay window's chunks are kept until it closes, so without the pool every request copied
  // its first 8 MiB into freshly mapped memory (page faults per request: docs/PERFORMANCE.md).
  const std::string mib = Pattern(1 << 20);
  std::string buf(1 << 20, '\0');
  auto run = [&](size_t chunks) {
    BodyQueue queue;
    QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5s);
    for (size_t i = 0; i < chunks; ++i) {
      REQUIRE(queue.Push(mib) == BodyQueue::PushResult::Queued);
      auto r = body.Read(buf.data(), buf.size());
      REQUIRE(r.Ok());
      REQUIRE(r.Value() == mib.size());
    }
  };
  run(20);  // 20 MiB through one request: its buffers (the window's 8 and a few) go to the pool
  const size_t full = BodyQueue::PooledBytes();
  CHECK(full >= 8 * (1 << 20));
  {
    BodyQueue queue;
    QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5s);
    for (int i = 0; i < 3; ++i) REQUIRE(queue.Push(mib) == BodyQueue::PushResult::Queued);
    // Three buffers came from the pool instead of new allocations.
    CHECK(BodyQueue::PooledBytes() + 3 * (1 << 20) <= full);
    queue.Finish();
    CHECK(ReadAll(body, 1 << 20) == mib + mib + mib);
  }
  {
    // Three requests end at once holding 8 MiB each: the pool keeps no more than its bound.
    std::vector<std::unique_ptr<BodyQueue>> queues;
    for (int q = 0; q < 3; ++q) {
      queues.push_back(std::make_unique<BodyQueue>(16 << 20));
      for (int i = 0; i < 8; ++i) REQUIRE(queues.back()->Push(mib) == BodyQueue::PushResult::Queued);
    }
    queues.clear();
    CHECK(BodyQueue::PooledBytes() <= BodyQueue::kPoolBytes);
    CHECK(BodyQueue::PooledBytes() + (1 << 20) > BodyQueue::kPoolBytes);
  }
}
