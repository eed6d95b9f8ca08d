// RFC 4648 section 10 test vectors, the URL-safe alphabet, and strict decoding. The encodings live
// in gw_common (crypto and config both use them), so this test links gw_common only.
#include <catch2/catch.hpp>

#include <random>

#include "gw/common/Encoding.h"

using namespace gw::encoding;

TEST_CASE("Encoding/base64 RFC 4648 vectors", "[common][encoding]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    INFO(plain);
    CHECK(Base64Encode(plain) == encoded);
    auto decoded = Base64Decode(encoded);
    REQUIRE(decoded.Ok());
    CHECK(decoded.Value() == plain);
    // The URL form is the same text without padding for these inputs.
    std::string unpadded = encoded;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    CHECK(Base64UrlEncode(plain) == unpadded);
    auto urlDecoded = Base64UrlDecode(unpadded);
    REQUIRE(urlDecoded.Ok());
    CHECK(urlDecoded.Value() == plain);
  }
}

TEST_CASE("Encoding/base64url alphabet", "[common][encoding]") {
  const std::string bytes("\xfb\xff\xbf", 3);
  CHECK(Base64Encode(bytes) == "+/+/");
  CHECK(Base64UrlEncode(bytes) == "-_-_");
  CHECK(Base64UrlDecode("-_-_").Value() == bytes);
  CHECK(Base64Encode(std::string("\xff", 1)) == "/w==");
  CHECK(Base64UrlEncode(std::string("\xff", 1)) == "_w");
}

TEST_CASE("Encoding/strict decoding", "[common][encoding]") {
  SECTION("standard form") {
    for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=", "Zm9v\n", " Zm9v", "Zm 9v", "Zm9-",
                            "Zm9_", "Z=g=", "=Zg=", "Zm9vYg==Zg==", "\xc3\xa9Zm9"}) {
      INFO(bad);
      auto r = Base64Decode(bad);
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "CRY-002");
    }
  }
  SECTION("url form") {
    for (const char* bad : {"Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm8=", "+/8", "ab/c", "ab+c", "Zm9v ", "Zm9v.",
                            "Zm\r\n9v"}) {
      INFO(bad);
      auto r = Base64UrlDecode(bad);
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "CRY-002");
    }
  }
}

TEST_CASE("Encoding/round trips of every length and byte", "[common][encoding]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 1) {
    const std::string data = all.substr(256 - n);
    REQUIRE(Base64Decode(Base64Encode(data)).Value() == data);
    REQUIRE(Base64UrlDecode(Base64UrlEncode(data)).Value() == data);
    REQUIRE(HexDecode(HexEncode(data)).Value() == data);
  }
  std::mt19937 generator(12);  // fixed seed: the same bytes on every run
  std::string random(1000, '\0');
  for (char& c : random) c = static_cast<char>(generator() & 0xff);
  CHECK(Base64UrlDecode(Base64UrlEncode(random)).Value() == random);
  CHECK(Base64Decode(Base64Encode(random)).Value() == random);
}

TEST_CASE("Encoding/hex", "[common][encoding]") {
  CHECK(HexEncode(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
  CHECK(HexDecode("0001ABff").Value() == std::string("\x00\x01\xab\xff", 4));
  CHECK(HexDecode("").Value().empty());
  CHECK(HexDecode("abc").GetError().code == "CRY-002");
  CHECK(HexDecode("zz").GetError().code == "CRY-002");
  CHECK(HexDecode("0x00").GetError().code == "CRY-002");
}
