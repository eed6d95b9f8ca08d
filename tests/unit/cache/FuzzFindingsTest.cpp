// Defects found by the fuzz targets (fuzz/, docs/testing.md "Fuzzing") in the shared token cache.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>

#include "gw/cache/SharedTokenSource.h"
#include "gw/token/ManualClock.h"

using namespace gw;

namespace {

class NoSource final : public token::ITokenSource {
 public:
  Result<token::TokenRecord> Fetch(token::SteadyTime) override { return MakeError("TOK-001", "not used"); }
};

}  // namespace

TEST_CASE("Fuzz finding: a shared record expiring centuries ahead is refused, not overflowed into the past", "[cache][fuzz]") {
  // A Redis value comes from any holder of the key. Its Unix-ms times went through nanosecond
  // clock arithmetic unchecked: signed overflow (undefined; found by fuzz/fuzz_redis with an expiry
  // in 2217), in practice an expiry wrapped to some other time.
  auto clock = std::make_shared<token::ManualClock>();
  cache::RedisEndpoint unused;  // never connected to: Seal/Open only
  unused.host = "127.0.0.1";
  unused.port = 1;
  cache::SharedTokenSource source(std::make_shared<NoSource>(), std::make_shared<cache::RedisClient>(unused),
                                  std::string(32, 'k'), "key-id", clock, "pacs");
  token::TokenRecord record;
  record.accessToken = "token";
  record.tokenType = "Bearer";

  record.expiresAt = clock->SteadyNow() + std::chrono::hours(1);
  auto sealed = source.Seal(record);
  REQUIRE(sealed.Ok());
  auto opened = source.Open(sealed.Value());
  REQUIRE(opened.has_value());
  CHECK(opened->expiresAt - clock->SteadyNow() > std::chrono::minutes(59));
  CHECK(opened->expiresAt - clock->SteadyNow() <= std::chrono::hours(1));

  record.expiresAt = clock->SteadyNow() + std::chrono::hours(24 * 365 * 120);
  sealed = source.Seal(record);
  REQUIRE(sealed.Ok());
  CHECK_FALSE(source.Open(sealed.Value()).has_value());

  record.expiresAt = clock->SteadyNow() + std::chrono::hours(1);
  record.refreshAt = clock->SteadyNow() + std::chrono::hours(24 * 365 * 120);
  sealed = source.Seal(record);
  REQUIRE(sealed.Ok());
  CHECK_FALSE(source.Open(sealed.Value()).has_value());
}
