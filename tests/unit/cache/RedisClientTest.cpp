#include <catch2/catch.hpp>

#include "cache/RedisServer.h"
#include "gw/cache/RedisClient.h"

using namespace gw::cache;
using gw::cache::testing::RedisServer;
using std::chrono::milliseconds;

TEST_CASE("RedisUrl/accepted forms", "[cache][url]") {
  auto a = ParseRedisUrl("redis://:s3cr%40t@redis.internal:6380/2");
  REQUIRE(a.Ok());
  CHECK(a.Value().host == "redis.internal");
  CHECK(a.Value().port == 6380);
  CHECK(a.Value().password == "s3cr@t");
  CHECK(a.Value().username.empty());
  CHECK(a.Value().database == 2);
  CHECK(a.Value().Describe() == "redis.internal:6380");

  auto b = ParseRedisUrl("redis://gateway:pw@10.0.0.5");
  REQUIRE(b.Ok());
  CHECK(b.Value().username == "gateway");
  CHECK(b.Value().password == "pw");
  CHECK(b.Value().port == 6379);
  CHECK(b.Value().database == 0);

  auto c = ParseRedisUrl("unix:///run/redis/redis.sock?db=4");
  REQUIRE(c.Ok());
  CHECK(c.Value().socketPath == "/run/redis/redis.sock");
  CHECK(c.Value().database == 4);

  auto d = ParseRedisUrl("/run/redis.sock");
  REQUIRE(d.Ok());
  CHECK(d.Value().socketPath == "/run/redis.sock");

  auto e = ParseRedisUrl("redis://[::1]:7000");
  REQUIRE(e.Ok());
  CHECK(e.Value().host == "::1");
  CHECK(e.Value().port == 7000);
}

TEST_CASE("RedisUrl/refused forms name the reason, never the password", "[cache][url]") {
  for (const char* url : {"http://x", "redis://:pw-secret@:6379", "redis://h:99999", "redis://h/x", "unix://relative",
                          "unix:///s?password=pw-secret", "redis://pw-secret@h"}) {
    auto r = ParseRedisUrl(url);
    INFO(url);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "RDS-004");
    CHECK(r.GetError().message.find("pw-secret") == std::string::npos);
  }
}

TEST_CASE("RedisClient/commands, binary values, error replies", "[cache][client]") {
  RedisServer server;
  RedisClient client(server.Endpoint());
  const std::string binary("a\0b\r\n\xff", 6);
  auto set = client.Command({"SET", "k", binary}, milliseconds(1000));
  REQUIRE(set.Ok());
  CHECK(set.Value().IsStatus("OK"));
  auto get = client.Command({"GET", "k"}, milliseconds(1000));
  REQUIRE(get.Ok());
  CHECK(get.Value().type == RedisReply::Type::String);
  CHECK(get.Value().text == binary);
  auto missing = client.Command({"GET", "nothing"}, milliseconds(1000));
  REQUIRE(missing.Ok());
  CHECK(missing.Value().IsNil());
  auto wrong = client.Command({"LPUSH", "k", "x"}, milliseconds(1000));
  REQUIRE(wrong.Ok());  // an error reply is an answer, not a transport failure
  CHECK(wrong.Value().type == RedisReply::Type::Error);
  CHECK(client.Available());
  auto noTime = client.Command({"PING"}, milliseconds(0));
  CHECK_FALSE(noTime.Ok());
}

TEST_CASE("RedisClient/AUTH from the endpoint and SELECT of the database", "[cache][client]") {
  RedisServer server("pw-unit-secret-1");
  RedisEndpoint e = server.Endpoint();
  e.database = 3;
  RedisClient client(e);
  REQUIRE(client.Command({"SET", "in-db-3", "v"}, milliseconds(1000)).Ok());
  // Database 3 holds it, database 0 does not.
  CHECK(server.Run({"SELECT", "3"}).IsStatus("OK"));
  RedisClient db0(server.Endpoint());
  CHECK(db0.Command({"GET", "in-db-3"}, milliseconds(1000)).Value().IsNil());
  RedisEndpoint e3 = server.Endpoint();
  e3.database = 3;
  RedisClient db3(e3);
  CHECK(db3.Command({"GET", "in-db-3"}, milliseconds(1000)).Value().text == "v");

  SECTION("a wrong password is an outage (RDS-003), and the message holds no password") {
    RedisEndpoint bad = server.Endpoint();
    bad.password = "pw-wrong-secret-2";
    RedisClient refused(bad);
    auto r = refused.Command({"PING"}, milliseconds(1000));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "RDS-003");
    CHECK(r.GetError().message.find("pw-") == std::string::npos);
    CHECK_FALSE(refused.Available());
  }
  SECTION("no password: NOAUTH error reply") {
    RedisEndpoint none = server.Endpoint();
    none.password.clear();
    RedisClient anonymous(none);
    auto r = anonymous.Command({"GET", "x"}, milliseconds(1000));
    REQUIRE(r.Ok());
    CHECK(r.Value().type == RedisReply::Type::Error);
  }
}

TEST_CASE("RedisClient/server down: fails fast, backs off, recovers", "[cache][client]") {
  RedisServer server;
  RedisClientOptions o;
  o.minBackoff = milliseconds(200);
  o.maxBackoff = milliseconds(400);
  auto metrics = std::make_shared<gw::MetricsRegistry>();
  RedisClient client(server.Endpoint(), o, metrics);
  REQUIRE(client.Command({"PING"}, milliseconds(1000)).Ok());
  server.Stop();

  // The pooled connection is dead: the command fails (RDS-002) or reconnecting fails (RDS-001).
  auto first = client.Command({"PING"}, milliseconds(1000));
  REQUIRE_FALSE(first.Ok());
  CHECK((first.GetError().code == "RDS-001" || first.GetError().code == "RDS-002"));
  CHECK_FALSE(client.Available());
  CHECK(metrics->RenderPrometheus().find("dicomweb_oauth_shared_cache_up 0") != std::string::npos);
  // In back-off: refused at once without touching the network.
  const auto t0 = std::chrono::steady_clock::now();
  auto second = client.Command({"PING"}, milliseconds(1000));
  REQUIRE_FALSE(second.Ok());
  CHECK(second.GetError().code == "RDS-005");
  CHECK(std::chrono::steady_clock::now() - t0 < milliseconds(100));

  server.Start();
  // After the back-off the next command reconnects (bounded loop: 5 s).
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = client.Command({"PING"}, milliseconds(1000)).Ok();
    if (!back) std::this_thread::sleep_for(milliseconds(50));
  }
  CHECK(back);
  CHECK(client.Available());
  CHECK(metrics->RenderPrometheus().find("dicomweb_oauth_shared_cache_up 1") != std::string::npos);
}
