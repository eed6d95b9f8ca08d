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
