// Defects found by the fuzz targets (fuzz/, docs/testing.md "Fuzzing"), one test each; the input
// that found each one is in fuzz/corpus/<target>/regress-*.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "gw/common/Json.h"

TEST_CASE("Fuzz finding: a parsed double keeps its exact value, so the canonical form is a fixed point", "[json][fuzz]") {
  // rapidjson's default number parsing misread these by one unit in the last place.
  for (const char* text : {"330.45126075821039", "-1.9223372036854778"}) {
    INFO(text);
    auto doc = gw::json::Parse(text, "TST-001");
    REQUIRE(doc.Ok());
    CHECK(doc.Value().GetDouble() == std::strtod(text, nullptr));
    CHECK(gw::json::Canonical(doc.Value()) == text);
  }
  // fuzz/corpus/json/regress-double-round-trip, the input that found it.
  const std::string found = "[0,-5,1e308,-1.9223372036854775809,18446744073709.551615,0.1]";
  auto first = gw::json::Parse(found, "TST-001");
  REQUIRE(first.Ok());
  const std::string canonical = gw::json::Canonical(first.Value());
  auto again = gw::json::Parse(canonical, "TST-001");
  REQUIRE(again.Ok());
  CHECK(gw::json::Canonical(again.Value()) == canonical);
}

TEST_CASE("Fuzz finding: a lone surrogate escape is refused, since it decodes to bytes that are not UTF-8", "[json][fuzz]") {
  // rapidjson 1.1.0 decoded "\udc00" into ED B0 80, which its own validation then refused once the
  // value was written out and read again (a shared cache record, an audit line).
  for (const char* text : {"\"\\udc00\"", "{\"\\ude00\":1}", "[\"a\\udfffb\"]"}) {
    INFO(text);
    auto doc = gw::json::Parse(text, "TST-001");
    REQUIRE_FALSE(doc.Ok());
    CHECK(doc.GetError().message.find("surrogate") != std::string::npos);
  }
  auto pair = gw::json::Parse("\"\\ud83d\\ude00 \\u00e9\"", "TST-001");  // a real pair, and a plain escape
  REQUIRE(pair.Ok());
  CHECK(std::string(pair.Value().GetString()) == "\xF0\x9F\x98\x80 \xC3\xA9");
  // Without encoding validation the bytes pass, as any other invalid UTF-8 does.
  gw::json::ParseOptions lax;
  lax.validateEncoding = false;
  CHECK(gw::json::Parse("\"\\udc00\"", "TST-001", lax).Ok());
}

TEST_CASE("Fuzz finding: a zero with a large exponent reads as 0, and integers keep their type", "[json][fuzz]") {
  // rapidjson 1.1.0's full-precision path called clz(0) on "0e308" (undefined behaviour); numbers
  // are now read from their text (gw/common/JsonNumber.h).
  auto zero = gw::json::Parse("[0e308,-0e-400,0.0e5]", "TST-001");
  REQUIRE(zero.Ok());
  for (const auto& v : zero.Value().GetArray()) CHECK(v.GetDouble() == 0.0);
  auto ints = gw::json::Parse("[-0,-9223372036854775808,18446744073709551615,18446744073709551616,-1.5e-308]", "TST-001");
  REQUIRE(ints.Ok());
  const auto& a = ints.Value().GetArray();
  CHECK((a[0].IsInt64() && a[0].GetInt64() == 0));
  CHECK((a[1].IsInt64() && a[1].GetInt64() == INT64_MIN));
  CHECK((a[2].IsUint64() && a[2].GetUint64() == UINT64_MAX));
  CHECK((a[3].IsDouble() && a[3].GetDouble() == 18446744073709551616.0));
  CHECK(a[4].GetDouble() == -1.5e-308);
  auto big = gw::json::Parse("[1e400]", "TST-001");
  REQUIRE_FALSE(big.Ok());
  CHECK(big.GetError().message.find("too big") != std::string::npos);
}
