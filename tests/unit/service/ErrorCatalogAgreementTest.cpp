// The token engine and the proxy's helpers take their statuses and their retry classification
// from the one catalog (gw/common/ErrorCatalog.h); they keep no table of their own. What is pinned
// here is what operators rely on (docs/token-engine.md, "What is retried"), so that a trait moved in
// the catalog shows up as a changed answer, not silently.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <curl/curl.h>

#include "gw/common/ErrorCatalog.h"
#include "gw/http/CurlHandlePool.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/token/TokenErrors.h"

using namespace gw;

TEST_CASE("ErrorCatalog/the token engine's statuses are the catalog's, for every TOK code", "[service][errors]") {
  size_t tok = 0;
  for (const ErrorCodeInfo& info : ErrorCatalog()) {
    if (info.code.substr(0, 4) != "TOK-") continue;
    ++tok;
    const std::string code(info.code);
    INFO(code);
    CHECK(token::MakeTokenError(code.c_str(), "m").httpStatus == info.httpStatus);
  }
  CHECK(tok == 7);
  // Every code the engine names is catalogued.
  for (const char* code : {token::codes::kExpiredRefreshFailed, token::codes::kAcquisitionFailed,
                           token::codes::kCircuitOpen, token::codes::kInvalidTokenResponse,
                           token::codes::kValidationFailed, token::codes::kUnknownKey,
                           token::codes::kDeadlineExceeded}) {
    INFO(code);
    CHECK(FindErrorCode(code) != nullptr);
  }
  CHECK(token::MakeTokenError("TOK-999", "m").httpStatus == 500);  // not catalogued: an internal error
}

TEST_CASE("ErrorCatalog/the retried failures are the catalog's transient codes, and only these", "[service][errors]") {
  const std::set<std::string> retried = {"AUTH-005", "LUA-004", "NET-001", "NET-002", "NET-003", "NET-005", "TOK-004"};
  std::set<std::string> transient;
  for (const ErrorCodeInfo& info : ErrorCatalog()) {
    const Error e = MakeError(std::string(info.code), "m");
    INFO(info.code);
    CHECK(token::IsRetryable(e) == IsTransient(e));
    if (token::IsRetryable(e)) transient.insert(std::string(info.code));
  }
  CHECK(transient == retried);
  // A code no catalog lists (a custom provider's own) is never retried: fail closed.
  CHECK(token::ClassifyFailure(MakeError("ACL-007", "m")) == token::FailureKind::Permanent);
  CHECK(token::ClassifyFailure(MakeError("LUA-099", "m")) == token::FailureKind::Permanent);
}

TEST_CASE("ErrorCatalog/every transport failure libcurl reports maps to a catalogued NET code", "[service][errors]") {
  std::set<std::string> seen;
  for (int rc = 1; rc < CURL_LAST; ++rc) {
    const std::string code = http::NetErrorCode(rc);
    INFO("CURLcode " << rc << " -> " << code);
    REQUIRE(FindErrorCode(code) != nullptr);
    CHECK(code.rfind("NET-", 0) == 0);
    seen.insert(code);
  }
  CHECK(seen == std::set<std::string>{"NET-001", "NET-002", "NET-003", "NET-004", "NET-005", "NET-006"});
  CHECK(IsTimeout(CatalogError(http::NetErrorCode(CURLE_OPERATION_TIMEDOUT), "m")));
  CHECK(IsResponseTooLarge(http::NetErrorCode(CURLE_FILESIZE_EXCEEDED)));
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

TEST_CASE("ErrorCatalog/the proxy's predicates name its failures", "[service][errors]") {
  const Error net = MakeError("NET-001", "refused");
  CHECK(IsUpstreamUnreachable(proxy::UpstreamUnreachable(net)));
  CHECK(IsUpstreamTransportFailure(proxy::UpstreamUnreachable(net)));
  CHECK(IsUpstreamTransportFailure(proxy::UpstreamTimedOut("x")));
  CHECK_FALSE(IsUpstreamUnreachable(proxy::UpstreamTimedOut("x")));  // a late answer is not failed over
  CHECK(IsTimeout(proxy::UpstreamTimedOut("x")));
  CHECK(IsUpstreamMalformed(proxy::UpstreamMalformed("x")));
  for (const Error& e : {proxy::UpstreamMalformed("x"), proxy::UpstreamRedirect(302), proxy::BodyError("x"),
                         proxy::PathRefused("x")}) {
    INFO(e.code);
    CHECK_FALSE(IsUpstreamTransportFailure(e));  // says nothing about the target's health
  }
}
