#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "RecordingSink.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/ResponseChannel.h"

using namespace std::chrono_literals;
using gw::proxy::ResponseChannel;
using gw::test::RecordingSink;

TEST_CASE("ResponseChannel/hands an answer from the exchange thread to the answering thread", "[proxy][channel]") {
  ResponseChannel channel(64 * 1024);
  std::string expected;
  for (int i = 0; i < 200; ++i) expected += std::string(10000, static_cast<char>('a' + i % 26));
  std::thread producer([&] {
    channel.OnHead(409, {{"content-type", "application/dicom+json"}});
    for (size_t off = 0; off < expected.size(); off += 10000) channel.OnBody(std::string_view(expected).substr(off, 10000));
    channel.Close(gw::Result<long>(409L));
  });
  RecordingSink sink;
  auto outcome = channel.DrainInto(sink);
  producer.join();
  REQUIRE(outcome.Ok());
  CHECK(outcome.Value() == 409);
  CHECK(sink.heads == 1);
  CHECK(sink.status == 409);
  CHECK(sink.body == expected);
}

TEST_CASE("ResponseChannel/errors pass through", "[proxy][channel]") {
  ResponseChannel channel;
  channel.Close(gw::proxy::UpstreamTimedOut("127.0.0.1:1: no answer"));
  RecordingSink sink;
  auto outcome = channel.DrainInto(sink);
  REQUIRE_FALSE(outcome.Ok());
  CHECK(outcome.GetError().code == "PXY-004");
  CHECK(sink.heads == 0);
}

TEST_CASE("ResponseChannel/abandoned: the producer's pushes fail at once", "[proxy][channel]") {
  ResponseChannel channel(10);
  channel.Abandon();
  CHECK_FALSE(channel.OnHead(200, {}));
  CHECK_FALSE(channel.OnBody("x"));
  REQUIRE(channel.PushFailure().has_value());
}

TEST_CASE("ResponseChannel/a sink that refuses abandons the channel", "[proxy][channel]") {
  ResponseChannel channel(100);
  std::atomic<bool> lastPush{true};
  std::thread producer([&] {
    channel.OnHead(200, {});
    for (int i = 0; i < 50 && lastPush; ++i) lastPush = channel.OnBody(std::string(50, 'x'));
    channel.Close(gw::proxy::UpstreamMalformed("the answer could not be delivered"));
  });
  RecordingSink sink;
  sink.acceptHead = false;
  auto outcome = channel.DrainInto(sink);
  producer.join();
  CHECK_FALSE(outcome.Ok());
  CHECK_FALSE(lastPush.load());
  CHECK(sink.bodyCalls == 0);
}

TEST_CASE("ResponseChannel/a producer without consumer gives up after the stall timeout", "[proxy][channel]") {
  ResponseChannel channel(10, 200ms);
  CHECK(channel.OnHead(200, {}));
  CHECK(channel.OnBody(std::string(10, 'x')));
  CHECK_FALSE(channel.OnBody("y"));
  REQUIRE(channel.PushFailure().has_value());
  CHECK(channel.PushFailure()->code == "PXY-004");
}
