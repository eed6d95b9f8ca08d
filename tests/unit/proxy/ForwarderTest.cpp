// Credential, exchange and the one-replay rule on 401.
#include <catch2/catch.hpp>

#include <thread>

#include "FakeCredentials.h"
#include "RecordingSink.h"
#include "StreamServer.h"
#include "gw/proxy/BodyQueue.h"
#include "gw/proxy/Forwarder.h"
#include "gw/proxy/QueueBody.h"

using namespace std::chrono_literals;
using gw::proxy::BodyQueue;
using gw::proxy::ForwardRequest;
using gw::proxy::Forwarder;
using gw::proxy::QueueBody;
using gw::proxy::ServerRoute;
using gw::test::FakeCredentials;
using gw::test::RecordingSink;
using gw::test::StreamReply;
using gw::test::StreamRequest;
using gw::test::StreamServer;

namespace {

ServerRoute Route(const StreamServer& server) {
  auto base = gw::proxy::UpstreamUrl::FromBase(server.Url("/dicom-web"));
  REQUIRE(base.Ok());
  ServerRoute r{"cloud", base.Value(), gw::proxy::LoopbackSecret::FromValue("forwarder-test-secret-0001"), {}, {},
                std::chrono::milliseconds(10000), std::chrono::milliseconds(120000), false, {}};
  r.extraHeaders = {{"X-Api-Key", "extra-header-value"}};
  r.connectTimeout = 2000ms;
  r.idleTimeout = 5000ms;
  return r;
}

StreamReply Unauthorized() {
  StreamReply r;
  r.status = 401;
  r.headers = {{"WWW-Authenticate", "Bearer realm=\"up\", error=\"invalid_token\""}, {"Content-Type", "application/json"}};
  r.body = "{\"error\":\"invalid_token\"}";
  return r;
}

// Accepts only `Bearer tok-<accepted>`.
StreamReply Check(const StreamRequest& req, int accepted) {
  if (req.Header("authorization") != "Bearer tok-" + std::to_string(accepted)) return Unauthorized();
  StreamReply r;
  r.headers = {{"Content-Type", "application/dicom+json"}};
  r.body = "stored " + std::to_string(req.body.size());
  return r;
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 % 253);
  return s;
}

}  // namespace

TEST_CASE("Forwarder/adds the credential and the server's extra headers", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest& req) { return Check(req, 1); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  ForwardRequest req{"GET", route.upstream.Base() + "studies", {{"accept", "application/dicom+json"}}, nullptr};
  RecordingSink sink;
  auto status = forwarder.Forward(route, req, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  auto received = server.Received();
  REQUIRE(received.size() == 1);
  CHECK(received[0].target == "/dicom-web/studies");
  CHECK(received[0].Header("authorization") == "Bearer tok-1");
  CHECK(received[0].Header("x-api-key") == "extra-header-value");
  CHECK(received[0].Header("accept") == "application/dicom+json");
  CHECK(creds->servers == std::vector<std::string>{"cloud"});
  CHECK(creds->urls[0] == route.upstream.Base() + "studies");
  // A request without a body is signed with the hash of the empty payload.
  CHECK(creds->payloadHashes[0] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(creds->rejected == 0);
}

TEST_CASE("Forwarder/401 on a GET: credential rejected, one replay with a fresh one", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest& req) { return Check(req, 2); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  ForwardRequest req{"GET", route.upstream.Base() + "studies", {}, nullptr};
  RecordingSink sink;
  auto status = forwarder.Forward(route, req, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  CHECK(sink.heads == 1);  // the first 401 never reached the caller
  CHECK(sink.status == 200);
  CHECK(sink.body == "stored 0");
  CHECK(creds->rejected == 1);
  CHECK(forwarder.Replays() == 1);
  CHECK(server.Requests() == 2);
}

TEST_CASE("Forwarder/401 twice: exactly one replay, the real 401 goes back", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest&) { return Unauthorized(); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  RecordingSink sink;
  auto status = forwarder.Forward(route, ForwardRequest{"GET", route.upstream.Base() + "studies", {}, nullptr}, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 401);
  CHECK(sink.heads == 1);
  CHECK(sink.Header("www-authenticate") == "Bearer realm=\"up\", error=\"invalid_token\"");
  CHECK(sink.body == "{\"error\":\"invalid_token\"}");
  CHECK(server.Requests() == 2);
  CHECK(creds->rejected == 2);
  CHECK(forwarder.Replays() == 1);
}

TEST_CASE("Forwarder/401 from an auth front as a large streamed body starts: replayed from the kept copy", "[proxy][forwarder]") {
  // Like nginx auth_request: the token is checked before the body is read, and the refusal stops
  // the upload (no 100-continue) well before the replay window (8 MiB) is used up.
  StreamServer server([](const StreamRequest& req) { return Check(req, 2); },
                      [](const StreamRequest& req) -> std::optional<StreamReply> {
                        if (req.Header("authorization") != "Bearer tok-2") return Unauthorized();
                        return std::nullopt;
                      });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  const std::string data = Pattern(20u << 20);  // far above the replay limit
  BodyQueue queue(4 << 20);
  std::thread producer([&] {
    for (size_t off = 0; off < data.size(); off += 1 << 20) queue.Push(std::string_view(data).substr(off, 1 << 20));
    queue.Finish();
  });
  QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5000ms);
  RecordingSink sink;
  auto status = forwarder.Forward(
      route, ForwardRequest{"POST", route.upstream.Base() + "studies", {{"content-type", "multipart/related"}}, &body},
      sink);
  queue.Detach();
  producer.join();
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  CHECK(sink.body == "stored " + std::to_string(data.size()));
  auto received = server.Received();
  REQUIRE(received.size() == 1);  // the refused attempt ended at its headers
  CHECK(server.Refused().size() == 1);
  CHECK(received[0].body == data);
  CHECK(creds->rejected == 1);
  CHECK(creds->payloadHashes[0].empty());  // a streamed body is not hashed
}

TEST_CASE("Forwarder/401 after a small body was read: replayed from the kept copy", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest& req) { return Check(req, 2); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  const std::string data = Pattern(3u << 20);
  BodyQueue queue;
  for (size_t off = 0; off < data.size(); off += 1 << 20) queue.Push(std::string_view(data).substr(off, 1 << 20));
  queue.Finish();
  QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5000ms);
  RecordingSink sink;
  auto status = forwarder.Forward(route, ForwardRequest{"POST", route.upstream.Base() + "studies", {}, &body}, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  auto received = server.Received();
  REQUIRE(received.size() == 2);
  CHECK(received[0].body == data);
  CHECK(received[1].body == data);
  CHECK(received[1].Header("authorization") == "Bearer tok-2");
}

TEST_CASE("Forwarder/401 after a large body was streamed: not replayable, 401 goes back", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest& req) { return Check(req, 2); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  const std::string data = Pattern(12u << 20);
  BodyQueue queue;
  std::thread producer([&] {
    for (size_t off = 0; off < data.size(); off += 1 << 20) queue.Push(std::string_view(data).substr(off, 1 << 20));
    queue.Finish();
  });
  QueueBody body(queue, std::nullopt, QueueBody::kDefaultReplayLimit, 5000ms);
  RecordingSink sink;
  auto status = forwarder.Forward(route, ForwardRequest{"POST", route.upstream.Base() + "studies", {}, &body}, sink);
  queue.Detach();
  producer.join();
  REQUIRE(status.Ok());
  CHECK(status.Value() == 401);
  CHECK(sink.Header("www-authenticate") == "Bearer realm=\"up\", error=\"invalid_token\"");
  CHECK(sink.body == "{\"error\":\"invalid_token\"}");
  CHECK(server.Requests() == 1);
  CHECK(creds->rejected == 1);  // still reported: the next request gets a fresh credential
  CHECK(forwarder.Replays() == 0);
}

TEST_CASE("Forwarder/credential errors", "[proxy][forwarder]") {
  StreamServer server([](const StreamRequest& req) { return Check(req, 2); });
  auto creds = std::make_shared<FakeCredentials>();
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());
  const ServerRoute route = Route(server);
  SECTION("no credential: nothing is sent, the TOK error is returned") {
    creds->failFromCall = 1;
    RecordingSink sink;
    auto status = forwarder.Forward(route, ForwardRequest{"GET", route.upstream.Base() + "studies", {}, nullptr}, sink);
    REQUIRE_FALSE(status.Ok());
    CHECK(status.GetError().code == "TOK-003");
    CHECK(status.GetError().httpStatus == 503);
    CHECK(server.Requests() == 0);
    CHECK(sink.heads == 0);
  }
  SECTION("no fresh credential for the replay: the held 401 is released") {
    creds->failFromCall = 2;
    RecordingSink sink;
    auto status = forwarder.Forward(route, ForwardRequest{"GET", route.upstream.Base() + "studies", {}, nullptr}, sink);
    REQUIRE(status.Ok());
    CHECK(status.Value() == 401);
    CHECK(sink.status == 401);
    CHECK(sink.body == "{\"error\":\"invalid_token\"}");
    CHECK(server.Requests() == 1);
  }
}

TEST_CASE("Forwarder/regression: a still-valid token is used while the IdP is down and the default margin cannot be met",
          "[proxy][forwarder]") {
  // Measured in the soak run (1-minute tokens, the IdP unreachable for 8 s): every proxied request
  // failed with TOK-002 "no token valid for another 60 s" although the cached token had 30 s left.
  StreamServer server([](const StreamRequest& req) { return Check(req, 1); });
  auto creds = std::make_shared<FakeCredentials>();
  creds->validFor = 25s;
  Forwarder forwarder(creds, std::make_shared<gw::proxy::UpstreamClient>());  // default margin: 60 s
  const ServerRoute route = Route(server);
  RecordingSink sink;
  auto status = forwarder.Forward(route, ForwardRequest{"GET", route.upstream.Base() + "studies", {}, nullptr}, sink);
  REQUIRE(status.Ok());
  CHECK(status.Value() == 200);
  CHECK(server.Requests() == 1);
  REQUIRE(creds->askedMinRemaining.size() == 2);
  CHECK(creds->askedMinRemaining[0] == 60s);
  CHECK(creds->askedMinRemaining[1] == 0s);

  SECTION("a policy's min_token_seconds stays a requirement") {
    ForwardRequest request{"GET", route.upstream.Base() + "studies", {}, nullptr};
    request.minRemaining = 900s;
    RecordingSink refused;
    auto outcome = forwarder.Forward(route, request, refused);
    REQUIRE_FALSE(outcome.Ok());
    CHECK(outcome.GetError().code == "TOK-002");
    CHECK(server.Requests() == 1);  // nothing more was sent
  }
  SECTION("other credential errors are not retried") {
    creds->validFor.reset();
    creds->failFromCall = 1;
    const size_t before = creds->askedMinRemaining.size();
    RecordingSink refused;
    auto outcome = forwarder.Forward(route, ForwardRequest{"GET", route.upstream.Base() + "studies", {}, nullptr}, refused);
    REQUIRE_FALSE(outcome.Ok());
    CHECK(outcome.GetError().code == "TOK-003");
    CHECK(creds->askedMinRemaining.size() == before + 1);
  }
}
