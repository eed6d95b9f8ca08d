#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gw/proxy/HeaderPolicy.h"

using gw::http::Headers;
using gw::proxy::HeaderPolicy;

namespace {
bool Has(const Headers& h, const std::string& name) {
  for (const auto& [k, v] : h) {
    if (k == name) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("HeaderPolicy/request headers: allowlist", "[proxy][headers]") {
  const Headers incoming = {
      {"accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=*"},
      {"content-type", "multipart/related; type=\"application/dicom\"; boundary=abc"},
      {"authorization", "Basic b3J0aGFuYzpvcnRoYW5j"},
      {"proxy-authorization", "Basic eA=="},
      {"cookie", "session=1"},
      {"host", "127.0.0.1:8042"},
      {"connection", "keep-alive, x-secret"},
      {"keep-alive", "timeout=5"},
      {"te", "trailers"},
      {"trailer", "x"},
      {"transfer-encoding", "chunked"},
      {"upgrade", "h2c"},
      {"proxy-connection", "keep-alive"},
      {"expect", "100-continue"},
      {"content-length", "42"},
      {"x-dicomweb-oauth-gateway", "0123456789abcdef0123456789abcdef"},
      {"x-http-method-override", "DELETE"},
      {"forwarded", "for=10.0.0.1"},
      {"x-forwarded-for", "10.0.0.1"},
      {"accept-encoding", "gzip"},
      {"user-agent", "Orthanc"},
      {"x-secret", "1"},
      {"if-none-match", "\"v1\""},
      {"range", "bytes=0-99"},
      {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
  };
  const Headers out = HeaderPolicy::RequestHeadersToForward(incoming);
  CHECK(out == Headers{incoming[0], incoming[1], incoming[22], incoming[23], incoming[24]});
  for (const char* never : {"authorization", "proxy-authorization", "cookie", "host", "connection", "keep-alive", "te",
                            "trailer", "transfer-encoding", "upgrade", "proxy-connection", "expect", "content-length",
                            "x-dicomweb-oauth-gateway", "x-http-method-override", "forwarded", "x-forwarded-for",
                            "accept-encoding", "user-agent"}) {
    INFO(never);
    CHECK_FALSE(HeaderPolicy::IsForwardedRequestHeader(never));
    CHECK_FALSE(Has(out, never));
  }
  SECTION("names compare case-insensitively") {
    CHECK(HeaderPolicy::IsForwardedRequestHeader("Accept"));
    CHECK(HeaderPolicy::IsForwardedRequestHeader("CONTENT-TYPE"));
    CHECK_FALSE(HeaderPolicy::IsForwardedRequestHeader("Authorization"));
  }
  SECTION("values with CR, LF or NUL are dropped") {
    const Headers bad = {{"accept", "a\r\nx: y"}, {"accept-language", std::string("en\0x", 4)}, {"range", "b\n"}};
    CHECK(HeaderPolicy::RequestHeadersToForward(bad).empty());
  }
}

TEST_CASE("HeaderPolicy/response headers: allowlist", "[proxy][headers]") {
  const Headers upstream = {
      {"content-type", "application/dicom+json"}, {"content-length", "10"},
      {"transfer-encoding", "chunked"},          {"connection", "close"},
      {"set-cookie", "a=b"},                      {"www-authenticate", "Bearer realm=\"x\", error=\"invalid_token\""},
      {"location", "https://up/studies/1"},       {"warning", "299 up \"limit applied\""},
      {"etag", "\"e\""},                          {"retry-after", "30"},
      {"keep-alive", "timeout=5"},                {"strict-transport-security", "max-age=1"},
      {"access-control-allow-origin", "*"},       {"content-location", "https://up/x"},
      {"server", "nginx"},                        {"date", "Mon, 01 Jan 2024 00:00:00 GMT"}};
  const Headers out = HeaderPolicy::ResponseHeadersToReturn(upstream);
  CHECK(out == Headers{upstream[5], upstream[6], upstream[7], upstream[8], upstream[9], upstream[13]});
}

TEST_CASE("HeaderPolicy/part headers", "[proxy][headers]") {
  const Headers part = {{"content-type", "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"},
                        {"content-length", "123"},
                        {"mime-version", "1.0"},
                        {"content-location", "https://up/studies/1/series/2/instances/3"},
                        {"content-transfer-encoding", "binary"},
                        {"content-id", "<x>"}};
  CHECK(HeaderPolicy::PartHeadersToReturn(part) == Headers{part[0], part[3], part[5]});
}

TEST_CASE("HeaderPolicy/reserved extra headers", "[proxy][headers]") {
  for (const char* name : {"Authorization", "host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie",
                           "X-DicomWeb-OAuth-Gateway", "Proxy-Anything", "Expect"}) {
    INFO(name);
    CHECK(HeaderPolicy::IsReservedHeader(name));
  }
  for (const char* name : {"x-api-key", "Ocp-Apim-Subscription-Key", "X-Goog-User-Project"}) {
    CHECK_FALSE(HeaderPolicy::IsReservedHeader(name));
  }
}

#include "gw/proxy/StatusMap.h"

TEST_CASE("StatusMap/statuses Orthanc 1.10 can send", "[proxy][headers]") {
  using gw::proxy::RepresentableStatus;
  for (int s : {200, 201, 202, 204, 206, 301, 302, 304, 307, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 500,
                501, 502, 503, 504, 507}) {
    CHECK(RepresentableStatus(s) == s);
  }
  CHECK(RepresentableStatus(429) == 503);
  CHECK(RepresentableStatus(308) == 307);
  CHECK(RepresentableStatus(299) == 200);
  CHECK(RepresentableStatus(418) == 400);
  CHECK(RepresentableStatus(451) == 400);
  CHECK(RepresentableStatus(499) == 400);
  CHECK(RepresentableStatus(508) == 502);
  CHECK(RepresentableStatus(599) == 502);
  CHECK(RepresentableStatus(0) == 502);
  CHECK(RepresentableStatus(1000) == 502);
}

TEST_CASE("Hardening: a method override on the proxy route is detected in every convention", "[proxy][headers]") {
  using Keys = std::vector<std::string>;
  // Orthanc's own convention (header names arrive lower-cased) and those of other servers.
  for (const std::string name :
       {"x-http-method-override", "X-HTTP-Method-Override", "x-http-method", "x-method-override"}) {
    INFO(name);
    const auto found = HeaderPolicy::MethodOverride({{"accept", "*/*"}, {name, "DELETE"}}, {});
    REQUIRE(found.has_value());
    CHECK(found->find("header") != std::string::npos);
  }
  // Whatever the value: Orthanc refuses other values itself, anything present is refused here.
  CHECK(HeaderPolicy::MethodOverride({{"x-http-method-override", "GET"}}, {}).has_value());
  CHECK(HeaderPolicy::MethodOverride({{"x-http-method-override", ""}}, {}).has_value());
  // The Rails convention, as a GET argument name, raw (Orthanc passes it percent-encoded) or encoded.
  for (const std::string key : {"_method", "_METHOD", "%5Fmethod", "_%6Dethod", "%5f%6d%65%74%68%6f%64"}) {
    INFO(key);
    const auto found = HeaderPolicy::MethodOverride({}, Keys{"limit", key});
    REQUIRE(found.has_value());
    CHECK(*found == "_method argument");
  }
  // Ordinary DICOMweb requests carry none.
  CHECK_FALSE(HeaderPolicy::MethodOverride({{"accept", "multipart/related; type=\"application/dicom\""},
                                            {"x-dicomweb-oauth-gateway", "s"}},
                                           Keys{"PatientName", "limit", "offset", "includefield", "method", "_methods"})
                  .has_value());
  CHECK_FALSE(HeaderPolicy::MethodOverride({}, Keys{"%", "%5", "_method%"}).has_value());
}

TEST_CASE("Hardening: method override headers are never forwarded upstream", "[proxy][headers]") {
  const Headers in = {{"x-http-method-override", "DELETE"}, {"X-HTTP-Method", "PUT"},
                      {"x-method-override", "DELETE"},     {"accept", "application/dicom+json"}};
  CHECK(HeaderPolicy::RequestHeadersToForward(in) == Headers{{"accept", "application/dicom+json"}});
  CHECK(HeaderPolicy::IsReservedHeader("X-HTTP-Method-Override"));
}
