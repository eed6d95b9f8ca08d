// The family helpers that still keep tables of their own (token, proxy) agree with the one
// catalog (gw/common/ErrorCatalog.h), so that they can take it over without changing an answer.
#include <catch2/catch.hpp>

#include "gw/common/ErrorCatalog.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/token/TokenErrors.h"

using namespace gw;

TEST_CASE("ErrorCatalog/the token engine's statuses are the catalog's", "[service][errors]") {
  for (const char* code : {token::codes::kExpiredRefreshFailed, token::codes::kAcquisitionFailed,
                           token::codes::kCircuitOpen, token::codes::kInvalidTokenResponse,
                           token::codes::kValidationFailed, token::codes::kUnknownKey,
                           token::codes::kDeadlineExceeded}) {
    INFO(code);
    CHECK(token::MakeTokenError(code, "m").httpStatus == DefaultHttpStatus(code));
  }
}

TEST_CASE("ErrorCatalog/transient codes are exactly the ones the token engine retries", "[service][errors]") {
  for (const ErrorCodeInfo& info : ErrorCatalog()) {
    INFO(info.code);
    const Error e = MakeError(std::string(info.code), "m");
    CHECK(token::IsRetryable(e) == IsTransient(e));
  }
}

TEST_CASE("ErrorCatalog/the proxy's helpers answer the catalog's statuses", "[service][errors]") {
  const Error net = MakeError("NET-001", "refused");
  for (const Error& e : {proxy::PathRefused("x"), proxy::UnknownServer("s"), proxy::UpstreamUnreachable(net),
                         proxy::UpstreamTimedOut("x"), proxy::BodyError("x"), proxy::LoopbackRefused("x"),
                         proxy::UpstreamMalformed("x"), proxy::UpstreamRedirect(302),
                         proxy::MethodOverrideRefused("x")}) {
    INFO(e.code);
    CHECK(e.httpStatus == DefaultHttpStatus(e.code));
  }
}
