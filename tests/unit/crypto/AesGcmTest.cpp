// AES-256-GCM: the GCM specification's test case 16 (McGrew & Viega, AES-256, 96-bit IV, with AAD)
// in our sealed format, round trips, and tamper detection.
#include <catch2/catch.hpp>

#include "gw/crypto/AesGcm.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

using namespace gw::crypto;

namespace {
std::string Bytes(const char* hex) { return HexDecode(hex).Value(); }
const std::string kKey = Bytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
}  // namespace

TEST_CASE("AesGcm/GCM specification test case 16", "[crypto][aes]") {
  const std::string iv = Bytes("cafebabefacedbaddecaf888");
  const std::string plain = Bytes(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  const std::string aad = Bytes("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::string cipher = Bytes(
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
  const std::string tag = Bytes("76fc6ece0f4e1768cddf8853bb2d551b");

  auto opened = AesGcmDecrypt(kKey, iv + cipher + tag, aad);
  REQUIRE(opened.Ok());
  CHECK(opened.Value() == plain);
  CHECK(AesGcmDecrypt(kKey, iv + cipher + tag, "").GetError().code == "CRY-007");
}

TEST_CASE("AesGcm/round trip and format", "[crypto][aes]") {
  const std::string key = RandomBytes(32).Value();
  for (size_t n : {0, 1, 15, 16, 17, 1000, 70000}) {
    INFO(n);
    const std::string plain = RandomBytes(n).Value();
    auto sealed = AesGcmEncrypt(key, plain, "redis:key:1");
    REQUIRE(sealed.Ok());
    CHECK(sealed.Value().size() == kAesGcmNonceBytes + n + kAesGcmTagBytes);
    auto opened = AesGcmDecrypt(key, sealed.Value(), "redis:key:1");
    REQUIRE(opened.Ok());
    CHECK(opened.Value() == plain);
  }
  // A fresh random nonce each time: the same input never seals to the same bytes.
  auto a = AesGcmEncrypt(key, "token", "ctx").Value();
  auto b = AesGcmEncrypt(key, "token", "ctx").Value();
  CHECK(a != b);
  CHECK(a.substr(0, kAesGcmNonceBytes) != b.substr(0, kAesGcmNonceBytes));
  // The plaintext does not appear in the sealed value.
  CHECK(AesGcmEncrypt(key, "plain-token-value", "").Value().find("plain-token-value") == std::string::npos);
}

TEST_CASE("AesGcm/tampering, wrong key, wrong context", "[crypto][aes]") {
  const std::string key = RandomBytes(32).Value();
  const std::string sealed = AesGcmEncrypt(key, "eyJhbGciOi.access-token.value", "server-a|scope").Value();
  for (size_t i : {size_t{0}, size_t{11}, size_t{12}, sealed.size() / 2, sealed.size() - 17, sealed.size() - 1}) {
    INFO(i);
    std::string t = sealed;
    t[i] ^= 0x40;
    auto r = AesGcmDecrypt(key, t, "server-a|scope");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-007");
  }
  CHECK(AesGcmDecrypt(key, sealed, "server-b|scope").GetError().code == "CRY-007");
  CHECK(AesGcmDecrypt(RandomBytes(32).Value(), sealed, "server-a|scope").GetError().code == "CRY-007");
  CHECK(AesGcmDecrypt(key, sealed.substr(0, sealed.size() - 1), "server-a|scope").GetError().code == "CRY-007");
  CHECK(AesGcmDecrypt(key, sealed + "x", "server-a|scope").GetError().code == "CRY-007");
  CHECK(AesGcmDecrypt(key, sealed.substr(0, 27), "server-a|scope").GetError().code == "CRY-007");
  CHECK(AesGcmDecrypt(key, "", "").GetError().code == "CRY-007");
}

TEST_CASE("AesGcm/key size", "[crypto][aes]") {
  for (size_t n : {0, 16, 31, 33, 64}) {
    INFO(n);
    CHECK(AesGcmEncrypt(std::string(n, 'k'), "x", "").GetError().code == "CRY-001");
    CHECK(AesGcmDecrypt(std::string(n, 'k'), std::string(40, '\0'), "").GetError().code == "CRY-001");
  }
}
