// JwksCache against a real HTTP server on 127.0.0.1 through the real CurlHttpClient; time is a
// fake monotonic clock so TTL and rate limits are exact.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "Fixtures.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/JwksCache.h"
#include "gw/crypto/Jws.h"
#include "gw/http/CurlHttpClient.h"
#include "http/TestServer.h"

using namespace gw::crypto;
using gw::test::ReadFixture;
using gw::test::TestRequest;
using gw::test::TestResponse;
using gw::test::TestServer;
using Clock = std::chrono::steady_clock;

namespace {

// The JWKS endpoint of a pretend identity provider: the published set and the status are mutable.
struct Idp {
  std::mutex mutex;
  std::string jwks;
  int status = 200;
  std::chrono::milliseconds delay{0};
  std::atomic<int> hits{0};
  TestServer server{[this](const TestRequest& req) {
    ++hits;
    std::lock_guard<std::mutex> lock(mutex);
    TestResponse res;
    res.status = req.target == "/jwks" ? status : 404;
    res.body = jwks;
    res.delay = delay;
    res.headers = {{"Content-Type", "application/json"}};
    return res;
  }};

  void Publish(std::string set, int newStatus = 200) {
    std::lock_guard<std::mutex> lock(mutex);
    jwks = std::move(set);
    status = newStatus;
  }
};

struct FakeClock {
  std::mutex mutex;
  Clock::time_point now = Clock::time_point() + std::chrono::hours(1000);
  Clock::time_point Now() {
    std::lock_guard<std::mutex> lock(mutex);
    return now;
  }
  void Advance(std::chrono::seconds s) {
    std::lock_guard<std::mutex> lock(mutex);
    now += s;
  }
};

const AsymmetricKey& RsaKey() {
  static const AsymmetricKey k = AsymmetricKey::FromPrivatePem(ReadFixture("rsa-pkcs8.pem")).Value();
  return k;
}
const AsymmetricKey& EcKey() {
  static const AsymmetricKey k = AsymmetricKey::FromPrivatePem(ReadFixture("ec-pkcs8.pem")).Value();
  return k;
}

std::string SetOf(std::initializer_list<std::string> jwks) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto& j : jwks) {
    out += (first ? "" : ",") + j;
    first = false;
  }
  return out + "]}";
}

std::string TokenFor(const AsymmetricKey& key, const std::string& kid) {
  return SignJwt(R"({"typ":"JWT"})", R"({"iss":"idp","exp":4102444800})", JwsKey::Asymmetric(key, kid)).Value();
}

JwksCacheOptions Options(Idp& idp, FakeClock& clock) {
  JwksCacheOptions o;
  o.url = idp.server.Url("/jwks");
  o.ttl = std::chrono::seconds(600);
  o.minRefetchInterval = std::chrono::seconds(30);
  o.maxStale = std::chrono::seconds(3600);
  o.clock = [&clock] { return clock.Now(); };
  return o;
}

}  // namespace

TEST_CASE("JwksCache/fetch once, serve from cache, refetch after ttl", "[crypto][jwks]") {
  Idp idp;
  idp.Publish(SetOf({PublicJwk(RsaKey(), "r1")}));
  FakeClock clock;
  JwksCache cache(std::make_shared<gw::http::CurlHttpClient>(), Options(idp, clock));

  for (int i = 0; i < 5; ++i) REQUIRE(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
  CHECK(idp.hits == 1);
  CHECK(cache.FetchAttempts() == 1);

  clock.Advance(std::chrono::seconds(599));
  REQUIRE(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
  CHECK(idp.hits == 1);
  clock.Advance(std::chrono::seconds(2));
  REQUIRE(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
  CHECK(idp.hits == 2);
}

TEST_CASE("JwksCache/unknown kid: one refetch, rate limited", "[crypto][jwks]") {
  Idp idp;
  idp.Publish(SetOf({PublicJwk(RsaKey(), "r1")}));
  FakeClock clock;
  JwksCache cache(std::make_shared<gw::http::CurlHttpClient>(), Options(idp, clock));
  REQUIRE(cache.Get().Ok());
  REQUIRE(idp.hits == 1);

  SECTION("key rotation: the new kid is found by the refetch") {
    clock.Advance(std::chrono::seconds(31));
    idp.Publish(SetOf({PublicJwk(RsaKey(), "r1"), PublicJwk(EcKey(), "e2")}));
    auto r = cache.Verify(TokenFor(EcKey(), "e2"), {});
    REQUIRE(r.Ok());
    CHECK(idp.hits == 2);
    CHECK(cache.Verify(TokenFor(EcKey(), "e2"), {}).Ok());
    CHECK(idp.hits == 2);
  }
  SECTION("made-up kids cause at most one fetch per interval") {
    clock.Advance(std::chrono::seconds(31));
    for (int i = 0; i < 20; ++i) {
      auto r = cache.Verify(TokenFor(RsaKey(), "bogus-" + std::to_string(i)), {});
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "CRY-006");
    }
    CHECK(idp.hits == 2);
    clock.Advance(std::chrono::seconds(29));
    CHECK(cache.Verify(TokenFor(RsaKey(), "bogus-x"), {}).GetError().code == "CRY-006");
    CHECK(idp.hits == 2);
    clock.Advance(std::chrono::seconds(2));
    CHECK(cache.Verify(TokenFor(RsaKey(), "bogus-y"), {}).GetError().code == "CRY-006");
    CHECK(idp.hits == 3);
    // Known kids keep working meanwhile, without fetching.
    CHECK(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
    CHECK(idp.hits == 3);
  }
  SECTION("right after the initial fetch an unknown kid does not refetch") {
    CHECK(cache.Verify(TokenFor(EcKey(), "e2"), {}).GetError().code == "CRY-006");
    CHECK(idp.hits == 1);
  }
}

TEST_CASE("JwksCache/IdP failures", "[crypto][jwks]") {
  Idp idp;
  FakeClock clock;
  auto http = std::make_shared<gw::http::CurlHttpClient>();

  SECTION("no set yet: CRY-006, and no retry storm") {
    idp.Publish("{\"error\":\"x\"}", 503);
    JwksCache cache(http, Options(idp, clock));
    for (int i = 0; i < 10; ++i) {
      auto r = cache.Verify(TokenFor(RsaKey(), "r1"), {});
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "CRY-006");
      CHECK(r.GetError().message.find("503") != std::string::npos);
      CHECK(r.GetError().message.find("/jwks") == std::string::npos);  // origin only, never the path
    }
    CHECK(idp.hits == 1);
    clock.Advance(std::chrono::seconds(31));
    idp.Publish(SetOf({PublicJwk(RsaKey(), "r1")}));
    CHECK(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
    CHECK(idp.hits == 2);
  }
  SECTION("an invalid document is a failure too") {
    idp.Publish("<html>maintenance</html>");
    JwksCache cache(http, Options(idp, clock));
    auto r = cache.Get();
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-006");
  }
  SECTION("transport failure") {
    JwksCacheOptions o = Options(idp, clock);
    o.url = "http://127.0.0.1:" + std::to_string(TestServer::UnusedPort()) + "/jwks?tenant=t";
    JwksCache cache(http, o);
    auto r = cache.Get();
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-006");
    CHECK(r.GetError().message.find("NET-001") != std::string::npos);
    CHECK(r.GetError().message.find("tenant") == std::string::npos);
  }
  SECTION("an expired set is served while the IdP is down, up to maxStale") {
    idp.Publish(SetOf({PublicJwk(RsaKey(), "r1")}));
    JwksCache cache(http, Options(idp, clock));
    REQUIRE(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
    idp.Publish("", 500);
    clock.Advance(std::chrono::seconds(601));  // expired
    CHECK(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());
    CHECK(idp.hits == 2);
    CHECK(cache.Verify(TokenFor(RsaKey(), "r1"), {}).Ok());  // backing off: no new attempt
    CHECK(idp.hits == 2);
    clock.Advance(std::chrono::seconds(3600));  // past ttl + maxStale
    auto r = cache.Verify(TokenFor(RsaKey(), "r1"), {});
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-006");
  }
}

TEST_CASE("JwksCache/concurrent callers share one fetch", "[crypto][jwks]") {
  Idp idp;
  idp.Publish(SetOf({PublicJwk(RsaKey(), "r1"), PublicJwk(EcKey(), "e1")}));
  idp.delay = std::chrono::milliseconds(300);
  JwksCacheOptions o;
  o.url = idp.server.Url("/jwks");
  JwksCache cache(std::make_shared<gw::http::CurlHttpClient>(), o);
  const std::string rsaToken = TokenFor(RsaKey(), "r1");
  const std::string ecToken = TokenFor(EcKey(), "e1");
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (cache.Verify((t + i) % 2 ? rsaToken : ecToken, {}).Ok()) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == 80);
  CHECK(idp.hits == 1);
}
