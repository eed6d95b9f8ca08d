// The streaming exchange against a real HTTP server on 127.0.0.1: bodies in both directions are
// streamed, framing and Expect are right, and every failure maps to its PXY code.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "RecordingSink.h"
#include "StreamServer.h"
#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/MemoryBody.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/QueueBody.h"
#include "gw/proxy/UpstreamClient.h"

using namespace std::chrono_literals;
using gw::proxy::BodyQueue;
using gw::proxy::MemoryBody;
using gw::proxy::QueueBody;
using gw::proxy::UpstreamClient;
using gw::proxy::UpstreamRequest;
using gw::test::RecordingSink;
using gw::test::StreamReply;
using gw::test::StreamRequest;
using gw::test::StreamServer;

namespace {

std::string Pattern(size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

UpstreamRequest Request(const std::string& method, const std::string& url) {
  UpstreamRequest r;
  r.method = method;
  r.url = url;
  r.connectTimeout = 2000ms;
  r.idleTimeout = 5000ms;
  return r;
}

}  // namespace

TEST_CASE("UpstreamClient/GET: status, headers and body reach the sink", "[proxy][client]") {
  StreamServer server([](const StreamRequest& req) {
    StreamReply r;
    r.status = req.target == "/dicom-web/studies?limit=1" ? 200 : 404;
    r.headers = {{"Content-Type", "application/dicom+json"}, {"X-Echo-Accept", req.Header("accept")}};
    r.body = "[{\"0020000D\":{\"vr\":\"UI\"}}]";
    return r;
  });
  UpstreamClient client;
  RecordingSink sink;
  auto req = Request("GET", server.Url("/dicom-web/studies?limit=1"));
  req.headers = {{"Accept", "application/dicom+json"}, {"Authorization", "Bearer t0ken-value"}};
  auto status = client.Perform(req, nullptr, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  CHECK(sink.status == 200);
  CHECK(sink.heads == 1);
  CHECK(sink.Header("content-type") == "application/dicom+json");
  CHECK(sink.Header("x-echo-accept") == "application/dicom+json");
  CHECK(sink.body == "[{\"0020000D\":{\"vr\":\"UI\"}}]");
  auto received = server.Received();
  REQUIRE(received.size() == 1);
  CHECK(received[0].Header("authorization") == "Bearer t0ken-value");
  CHECK_FALSE(received[0].Has("expect"));
  CHECK(received[0].body.empty());
}

TEST_CASE("UpstreamClient/every status is a value, 3xx is not followed", "[proxy][client]") {
  StreamServer server([](const StreamRequest& req) {
    StreamReply r;
    r.status = std::stoi(req.target.substr(1));
    if (r.status == 302) r.headers = {{"Location", "http://127.0.0.1:1/elsewhere"}};
    r.body = "status " + req.target.substr(1);
    return r;
  });
  UpstreamClient client;
  for (long s : {201L, 202L, 204L, 302L, 400L, 401L, 404L, 409L, 429L, 500L, 503L}) {
    INFO(s);
    RecordingSink sink;
    auto status = client.Perform(Request("GET", server.Url("/" + std::to_string(s))), nullptr, sink);
    REQUIRE(status.Ok());
    CHECK(status.Value() == s);
    CHECK(sink.status == s);
    if (s != 204) CHECK(sink.body == "status " + std::to_string(s));
  }
  CHECK(server.Requests() == 11);
}

TEST_CASE("UpstreamClient/DELETE", "[proxy][client]") {
  StreamServer server([](const StreamRequest& req) {
    StreamReply r;
    r.status = req.method == "DELETE" ? 204 : 405;
    return r;
  });
  UpstreamClient client;
  RecordingSink sink;
  auto status = client.Perform(Request("DELETE", server.Url("/dicom-web/studies/1.2.3")), nullptr, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 204);
}

TEST_CASE("UpstreamClient/a streamed body arrives intact, chunked, without Expect", "[proxy][client]") {
  StreamServer server([](const StreamRequest& req) {
    StreamReply r;
    r.status = 200;
    r.headers = {{"Content-Type", "application/dicom+json"}};
    r.body = std::to_string(req.body.size());
    return r;
  });
  constexpr size_t kTotal = 24u << 20;
  const std::string data = Pattern(kTotal, 7);
  BodyQueue queue(2 << 20);
  std::atomic<size_t> maxQueued{0};
  std::thread producer([&] {
    for (size_t off = 0; off < kTotal; off += 1 << 20) {
      queue.Push(std::string_view(data).substr(off, 1 << 20));
      maxQueued = std::max(maxQueued.load(), queue.QueuedBytes());
    }
    queue.Finish();
  });
  QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5000ms);
  UpstreamClient client;
  RecordingSink sink;
  auto req = Request("POST", server.Url("/dicom-web/studies"));
  req.headers = {{"Content-Type", "multipart/related; type=\"application/dicom\"; boundary=x"}};
  auto status = client.Perform(req, &body, sink);
  producer.join();
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  CHECK(sink.body == std::to_string(kTotal));
  auto received = server.Received();
  REQUIRE(received.size() == 1);
  CHECK(received[0].chunked);
  CHECK_FALSE(received[0].Has("expect"));
  CHECK_FALSE(received[0].Has("content-length"));
  CHECK(received[0].body == data);
  CHECK(maxQueued.load() <= (3u << 20));
  CHECK_FALSE(body.Replayable());  // 24 MiB went out: more than the replay limit
}

TEST_CASE("UpstreamClient/a body of known size is sent with Content-Length", "[proxy][client]") {
  StreamServer server([](const StreamRequest& req) {
    StreamReply r;
    r.body = req.body;
    return r;
  });
  UpstreamClient client;
  SECTION("in memory, small: no Expect") {
    MemoryBody body("hello body");
    RecordingSink sink;
    REQUIRE(client.Perform(Request("PUT", server.Url("/x")), &body, sink).Ok());
    auto received = server.Received();
    CHECK(received[0].method == "PUT");
    CHECK(received[0].Header("content-length") == "10");
    CHECK_FALSE(received[0].expectContinue);
    CHECK(sink.body == "hello body");
  }
  SECTION("from the queue with a declared size") {
    BodyQueue queue;
    queue.Push(Pattern(3000));
    queue.Finish();
    QueueBody body(queue, 3000, 1 << 20, 2000ms);
    RecordingSink sink;
    REQUIRE(client.Perform(Request("POST", server.Url("/x")), &body, sink).Ok());
    auto received = server.Received();
    CHECK(received[0].Header("content-length") == "3000");
    CHECK_FALSE(received[0].chunked);
    CHECK(sink.body == Pattern(3000));
  }
}

TEST_CASE("Regression: a streamed body never waits for a 100 Continue that Orthanc never sends", "[proxy][client]") {
  // Orthanc ignores Expect: 100-continue; libcurl used to wait 1 s for it before every streamed body.
  StreamServer server(
      [](const StreamRequest& req) {
        StreamReply r;
        r.body = std::to_string(req.body.size());
        return r;
      },
      nullptr, /*answerContinue=*/false);
  UpstreamClient client;
  for (std::optional<uint64_t> declared : {std::optional<uint64_t>(), std::optional<uint64_t>(3u << 20)}) {
    BodyQueue queue;
    for (int i = 0; i < 3; ++i) queue.Push(Pattern(1 << 20, i));
    queue.Finish();
    QueueBody body(queue, declared, QueueBody::kDefaultReplayLimit, 5000ms);
    RecordingSink sink;
    auto status = client.Perform(Request("POST", server.Url("/dicom-web/studies")), &body, sink);
    REQUIRE(status.Ok());
    CHECK(sink.body == std::to_string(3u << 20));
  }
  auto received = server.Received();
  REQUIRE(received.size() == 2);
  for (const auto& r : received) {
    CHECK_FALSE(r.Has("expect"));
    // The body follows its headers at once (the old wait was the whole 1000 ms timeout).
    CHECK(r.bodyWait < 500ms);
  }
}

TEST_CASE("UpstreamClient/a refusal right after the headers stops the upload, the body stays replayable", "[proxy][client]") {
  StreamServer server([](const StreamRequest&) { return StreamReply{}; },
                      [](const StreamRequest&) -> std::optional<StreamReply> {
                        StreamReply r;
                        r.status = 401;
                        r.headers = {{"WWW-Authenticate", "Bearer realm=\"up\", error=\"invalid_token\""}};
                        r.body = "{\"error\":\"invalid_token\"}";
                        return r;
                      });
  // 24 MiB offered, the default replay window (8 MiB) kept: the refusal arrives long before that.
  BodyQueue queue(2 << 20);
  std::thread producer([&] {
    for (int i = 0; i < 24; ++i) queue.Push(Pattern(1 << 20, i));
    queue.Finish();
  });
  QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5000ms);
  UpstreamClient client;
  RecordingSink sink;
  auto status = client.Perform(Request("POST", server.Url("/dicom-web/studies")), &body, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 401);
  CHECK(sink.Header("www-authenticate") == "Bearer realm=\"up\", error=\"invalid_token\"");
  CHECK(sink.body == "{\"error\":\"invalid_token\"}");
  CHECK(server.Refused().size() == 1);
  CHECK(server.Received().empty());
  CHECK(body.BytesRead() < QueueBody::kDefaultReplayLimit);
  CHECK(body.Replayable());
  CHECK(body.Rewind());
  queue.Detach();
  producer.join();
}

TEST_CASE("UpstreamClient/the answer is delivered while it arrives", "[proxy][client]") {
  std::atomic<bool> serverDone{false};
  StreamServer server([&](const StreamRequest&) {
    StreamReply r;
    r.body = Pattern(400000);
    r.step = 100000;
    r.stepDelay = 150ms;
    r.chunked = true;
    return r;
  });
  UpstreamClient client;
  RecordingSink sink;
  size_t bytesAtFirstCall = 0;
  bool first = true;
  std::chrono::steady_clock::time_point firstAt;
  sink.onBody = [&](std::string_view d) {
    if (first) {
      first = false;
      bytesAtFirstCall = d.size();
      firstAt = std::chrono::steady_clock::now();
    }
  };
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(client.Perform(Request("GET", server.Url("/big")), nullptr, sink).Ok());
  const auto end = std::chrono::steady_clock::now();
  CHECK(sink.body == Pattern(400000));
  CHECK(sink.bodyCalls >= 4);
  CHECK(bytesAtFirstCall < 400000);
  // The first bytes were handed over before the server had written the rest (3 pauses of 150 ms).
  CHECK(end - firstAt >= 300ms);
  CHECK(firstAt - start < end - start);
}

TEST_CASE("UpstreamClient/failures", "[proxy][client]") {
  UpstreamClient client;
  SECTION("connection refused: PXY-003 with NET-001, no path in the message") {
    RecordingSink sink;
    const std::string url = "http://127.0.0.1:" + std::to_string(StreamServer::UnusedPort()) +
                            "/dicom-web/studies?PatientName=Secret%5EPatient";
    auto r = client.Perform(Request("GET", url), nullptr, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-003");
    CHECK(r.GetError().httpStatus == 502);
    CHECK(r.GetError().message.find("NET-001") != std::string::npos);
    CHECK(r.GetError().message.find("studies") == std::string::npos);
    CHECK(r.GetError().message.find("Secret") == std::string::npos);
    CHECK(sink.heads == 0);
  }
  SECTION("no answer within the idle timeout: PXY-004") {
    StreamServer slow([](const StreamRequest&) {
      StreamReply r;
      r.headDelay = 4000ms;
      return r;
    });
    RecordingSink sink;
    auto req = Request("GET", slow.Url("/x"));
    req.idleTimeout = 1000ms;
    auto r = client.Perform(req, nullptr, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-004");
    CHECK(r.GetError().httpStatus == 504);
  }
  SECTION("answer cut midway: PXY-003 with NET-005") {
    StreamServer cut([](const StreamRequest&) {
      StreamReply r;
      r.body = Pattern(100000);
      r.cutAfter = 50000;
      return r;
    });
    RecordingSink sink;
    auto r = client.Perform(Request("GET", cut.Url("/x")), nullptr, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-003");
    CHECK(r.GetError().message.find("NET-005") != std::string::npos);
    CHECK(sink.heads == 1);
  }
  SECTION("the sink aborts: PXY-007") {
    StreamServer big([](const StreamRequest&) {
      StreamReply r;
      r.body = Pattern(1000000);
      return r;
    });
    RecordingSink sink;
    sink.abortAfterBytes = 1000;
    auto r = client.Perform(Request("GET", big.Url("/x")), nullptr, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-007");
  }
  SECTION("the request body fails: the body's error (PXY-005)") {
    StreamServer echo([](const StreamRequest&) { return StreamReply{}; });
    BodyQueue queue;
    queue.Push(Pattern(100000));
    queue.Fail(gw::proxy::BodyError("the client went away"));
    QueueBody body(queue, std::nullopt, 1 << 20, 2000ms);
    RecordingSink sink;
    auto r = client.Perform(Request("POST", echo.Url("/x")), &body, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-005");
    CHECK(echo.Requests() == 0);  // a chunked body that never ended is never a complete request
  }
  SECTION("invalid header values never leave") {
    StreamServer echo([](const StreamRequest&) { return StreamReply{}; });
    RecordingSink sink;
    auto req = Request("GET", echo.Url("/x"));
    req.headers = {{"X-Bad", "a\r\nInjected: 1"}};
    auto r = client.Perform(req, nullptr, sink);
    REQUIRE_FALSE(r.Ok());
    CHECK(echo.Requests() == 0);
  }
}

TEST_CASE("UpstreamClient/connections are reused", "[proxy][client]") {
  StreamServer server([](const StreamRequest&) {
    StreamReply r;
    r.body = "ok";
    return r;
  });
  UpstreamClient client;
  for (int i = 0; i < 5; ++i) {
    RecordingSink sink;
    REQUIRE(client.Perform(Request("GET", server.Url("/x")), nullptr, sink).Ok());
  }
  CHECK(server.Connections() == 1);
}
