// AddHeaderLine: how both libcurl clients turn received header lines into Headers.
#include <catch2/catch.hpp>

#include "gw/http/HttpTypes.h"

using gw::http::AddHeaderLine;
using gw::http::Headers;

TEST_CASE("AddHeaderLine/names lower-cased, values trimmed, folding joined", "[http]") {
  Headers h;
  AddHeaderLine("Content-Type:  application/dicom+json \r\n", h);
  AddHeaderLine("WWW-Authenticate: Bearer realm=\"x\",\r\n", h);
  AddHeaderLine("\t error=\"invalid_token\"\r\n", h);  // obsolete folding continues the previous one
  AddHeaderLine("X-Empty:\r\n", h);
  AddHeaderLine(" \r\n", h);                             // whitespace only: nothing to add
  AddHeaderLine("no colon here\r\n", h);                 // not a header line
  AddHeaderLine(": no name\r\n", h);
  AddHeaderLine("", h);
  REQUIRE(h.size() == 3);
  CHECK(h[0] == std::make_pair(std::string("content-type"), std::string("application/dicom+json")));
  CHECK(h[1] == std::make_pair(std::string("www-authenticate"), std::string("Bearer realm=\"x\", error=\"invalid_token\"")));
  CHECK(h[2] == std::make_pair(std::string("x-empty"), std::string()));
}

TEST_CASE("AddHeaderLine/folding with no header before it is ignored", "[http]") {
  Headers h;
  AddHeaderLine("  stray continuation\r\n", h);
  CHECK(h.empty());
}

// What every outgoing request is checked against: both libcurl clients and gw.http.request.
TEST_CASE("IsHttpToken / HasLineBreakOrNul: smuggling spellings refused", "[http][hostile]") {
  using gw::http::HasLineBreakOrNul;
  using gw::http::IsHttpToken;
  for (const char* ok : {"GET", "DELETE", "X-Custom_1", "a!#$%&'*+-.^_`|~z"}) {
    INFO(ok);
    CHECK(IsHttpToken(ok));
  }
  const std::string nul("X\0Y", 3);
  for (const std::string& bad : {std::string(), std::string("GET /x HTTP/1.1\r\n"), std::string("Bad Name"),
                                 std::string("X:Y"), std::string("X\tY"), nul, std::string("X\xc3\xa9"),
                                 std::string("(comment)"), std::string("a/b"), std::string("\"q\"")}) {
    INFO(bad);
    CHECK_FALSE(IsHttpToken(bad));
  }
  CHECK_FALSE(HasLineBreakOrNul("Bearer abc.def"));
  CHECK_FALSE(HasLineBreakOrNul(""));
  CHECK(HasLineBreakOrNul("a\r\nInjected: 1"));
  CHECK(HasLineBreakOrNul("a\nInjected: 1"));
  CHECK(HasLineBreakOrNul("a\rb"));
  CHECK(HasLineBreakOrNul(nul));
}
