#include <catch2/catch.hpp>

#include <string>

#include "gw/common/Json.h"
#include "gw/common/JsonNumber.h"
#include "support/SmallStack.h"

using namespace gw;

namespace {

std::string NestedArrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string NestedObjects(size_t depth) {
  std::string text;
  for (size_t i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text += std::string(depth, '}');
  return text;
}

// Orthanc's HTTP threads have far less stack than a test's main thread.
constexpr size_t kSmallStack = 64 * 1024;

}  // namespace

TEST_CASE("Hardening: a deeply nested JSON body is refused without overflowing a small stack", "[json][hardening]") {
  for (const std::string& text : {NestedArrays(1000), NestedObjects(1000), NestedArrays(200000)}) {
    test::RunOnSmallStack(kSmallStack, [&] {
      auto parsed = json::Parse(text, "GW-400");
      REQUIRE_FALSE(parsed.Ok());
      CHECK(parsed.GetError().code == "GW-400");
      CHECK(parsed.GetError().httpStatus == 400);
      CHECK(parsed.GetError().message.find("nested deeper than 64 levels") != std::string::npos);
    });
  }
}

TEST_CASE("Json/Parse accepts nesting up to the bound and refuses one level more", "[json]") {
  CHECK(json::Parse(NestedArrays(64), "X").Ok());
  CHECK(json::Parse(NestedObjects(64), "X").Ok());
  auto deeper = json::Parse(NestedObjects(65), "X");
  REQUIRE_FALSE(deeper.Ok());
  CHECK(deeper.GetError().message.find("nested deeper") != std::string::npos);

  json::ParseOptions shallow;
  shallow.limits.maxDepth = 2;
  CHECK(json::Parse("[[1]]", "X", shallow).Ok());
  CHECK_FALSE(json::Parse("[[[1]]]", "X", shallow).Ok());
  CHECK_FALSE(json::Parse("{\"a\":[{}]}", "X", shallow).Ok());
}

TEST_CASE("Json/Parse refuses a document larger than the size bound before parsing it", "[json]") {
  json::ParseOptions small;
  small.limits.maxBytes = 16;
  const std::string sixteen = "{\"a\":\"01234567\"}";
  REQUIRE(sixteen.size() == 16);
  CHECK(json::Parse(sixteen, "X", small).Ok());
  json::ParseFailure failure;
  auto big = json::Parse("{\"a\":\"012345678\"}", "X", small, &failure);
  REQUIRE_FALSE(big.Ok());
  CHECK(big.GetError().code == "X");
  CHECK(failure.reason.find("larger than the limit of 16 bytes") != std::string::npos);
}

TEST_CASE("Json/Parse reports the offset and reason of a syntax error", "[json]") {
  json::ParseFailure failure;
  auto bad = json::Parse("{\"a\": 1,, }", "X", json::ParseOptions{}, &failure);
  REQUIRE_FALSE(bad.Ok());
  CHECK(failure.offset == 8);
  CHECK_FALSE(failure.reason.empty());
  CHECK(bad.GetError().message == "invalid JSON at offset 8: " + failure.reason);
}

TEST_CASE("Json/Parse keeps the dialects: comments only when asked, UTF-8 checked by default", "[json]") {
  const std::string commented = "{ // note\n \"a\": [1, 2,], }";
  CHECK_FALSE(json::Parse(commented, "X").Ok());
  auto relaxed = json::Parse(commented, "X", true);
  REQUIRE(relaxed.Ok());
  CHECK(relaxed.Value()["a"].Size() == 2);

  const std::string invalidUtf8 = "{\"a\":\"\xC3\x28\"}";
  CHECK_FALSE(json::Parse(invalidUtf8, "X").Ok());
  json::ParseOptions raw;
  raw.validateEncoding = false;
  CHECK(json::Parse(invalidUtf8, "X", raw).Ok());

  json::ParseOptions first;
  first.stopWhenDone = true;
  CHECK(json::Parse("{} trailing", "X", first).Ok());
  CHECK_FALSE(json::Parse("{} trailing", "X").Ok());
}

TEST_CASE("Json/Parse returns a usable document whose strings outlive the text", "[json]") {
  rapidjson::Document doc;
  {
    std::string text = "{\"name\":\"value\",\"list\":[1,2,3]}";
    auto parsed = json::Parse(text, "X");
    REQUIRE(parsed.Ok());
    doc = std::move(parsed).Value();
    text.assign(text.size(), 'x');
  }
  CHECK(std::string(doc["name"].GetString()) == "value");
  CHECK(doc["list"][2].GetInt() == 3);
}

TEST_CASE("Json/WholeNumber: integers and fraction-free doubles within 2^53, nothing else", "[json]") {
  auto whole = [](const char* text) {
    rapidjson::Document d;
    d.Parse(text);
    REQUIRE_FALSE(d.HasParseError());
    return gw::json::WholeNumber(d);
  };
  CHECK(whole("7") == 7);
  CHECK(whole("-12") == -12);
  CHECK(whole("7.0") == 7);
  CHECK(whole("-3e2") == -300);
  CHECK(whole("9007199254740992.0") == 9007199254740992LL);
  CHECK(whole("9223372036854775807") == 9223372036854775807LL);  // int64 itself
  CHECK_FALSE(whole("7.5"));
  CHECK_FALSE(whole("1e300"));                  // integral, but far beyond exact integers
  CHECK_FALSE(whole("18446744073709551615"));   // uint64 above int64
  CHECK_FALSE(whole("\"7\""));
  CHECK_FALSE(whole("true"));
  CHECK_FALSE(whole("null"));
}
