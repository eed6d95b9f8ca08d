// Known answers: FIPS 180-2 / 180-4 examples (SHA-256 / SHA-1 of "abc", the million-'a' message),
// RFC 4231 HMAC-SHA256 test cases.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string_view>

#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

using namespace gw::crypto;

namespace {
std::string Hex(const std::string& s) { return HexEncode(s); }
std::string Bytes(const char* hex) { return HexDecode(hex).Value(); }
}  // namespace

TEST_CASE("Hash/SHA-256 and SHA-1 known answers", "[crypto][hash]") {
  CHECK(Hex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Hex(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Hex(Sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST_CASE("Hash/SHA-256 streaming hasher", "[crypto][hash]") {
  const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string kMillionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

  SECTION("one-shot hex helper") {
    CHECK(Sha256Hex("abc") == kAbc);
    CHECK(Sha256Hex("") == kEmpty);
    CHECK(Sha256Hex(std::string(1000000, 'a')) == kMillionA);
  }
  SECTION("known answers through the hasher") {
    CHECK(Sha256Hasher().Update("abc").FinalHex() == kAbc);
    CHECK(Sha256Hasher().FinalHex() == kEmpty);
    Sha256Hasher million;
    const std::string block(1000, 'a');
    for (int i = 0; i < 1000; ++i) million.Update(block);
    CHECK(million.FinalHex() == kMillionA);
  }
  SECTION("any split equals the one-shot digest") {
    const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      Sha256Hasher h;
      h.Update(std::string_view(text).substr(0, cut)).Update("").Update(std::string_view(text).substr(cut));
      CHECK(h.Final() == Sha256(text));
    }
  }
  SECTION("raw and hex outputs agree") {
    const std::string raw = Sha256Hasher().Update("abc").Final();
    CHECK(raw.size() == 32);
    CHECK(Hex(raw) == kAbc);
  }
  SECTION("a moved hasher carries its state") {
    Sha256Hasher a;
    a.Update("ab");
    Sha256Hasher b = std::move(a);
    b.Update("c");
    CHECK(b.FinalHex() == kAbc);
  }
  SECTION("use after Final is a programming error") {
    Sha256Hasher h;
    h.Update("abc");
    h.Final();
    CHECK_THROWS_AS(h.Update("x"), std::logic_error);
    CHECK_THROWS_AS(h.Final(), std::logic_error);
  }
}

TEST_CASE("Hash/HMAC-SHA256 RFC 4231", "[crypto][hash]") {
  SECTION("test case 1") {
    CHECK(Hex(HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  }
  SECTION("test case 2: key shorter than the output") {
    CHECK(Hex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
  SECTION("test case 3") {
    CHECK(Hex(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  }
  SECTION("test case 4") {
    CHECK(Hex(HmacSha256(Bytes("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'))) ==
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  }
  SECTION("test case 6: key larger than the block size") {
    CHECK(Hex(HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
  SECTION("test case 7: key and data larger than the block size") {
    CHECK(Hex(HmacSha256(std::string(131, '\xaa'),
                         "This is a test using a larger than block-size key and a larger than block-size data. "
                         "The key needs to be hashed before being used by the HMAC algorithm.")) ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  }
  SECTION("empty key is allowed") { CHECK(HmacSha256("", "x").size() == 32); }
}

TEST_CASE("Hash/constant-time compare and random bytes", "[crypto][hash]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "ab"));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));

  auto a = RandomBytes(32);
  auto b = RandomBytes(32);
  REQUIRE(a.Ok());
  REQUIRE(b.Ok());
  CHECK(a.Value().size() == 32);
  CHECK(a.Value() != b.Value());
  CHECK(RandomBytes(0).Value().empty());
}
