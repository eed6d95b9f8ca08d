// PEM loading of the openssl-CLI-generated keys in tests/fixtures/crypto, in every supported format.
#include <catch2/catch.hpp>

#include "Fixtures.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Certificate.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Jws.h"

using namespace gw::crypto;
using gw::test::kFixturePassword;
using gw::test::ReadFixture;

namespace {
// The key material itself must never leak into a message: check a slice of the PEM body.
void CheckNoKeyMaterial(const gw::Error& e, const std::string& pem) {
  const size_t body = pem.find('\n');
  REQUIRE(body != std::string::npos);
  CHECK(e.message.find(pem.substr(body + 1, 40)) == std::string::npos);
  CHECK(e.message.find(kFixturePassword) == std::string::npos);
}

// Sign with `priv`, verify with `pub`: proves both halves belong together.
void CheckPair(const AsymmetricKey& priv, const AsymmetricKey& pub) {
  auto sig = SignJws(JwsKey::Asymmetric(priv), "payload");
  REQUIRE(sig.Ok());
  CHECK(VerifyJwsSignature(AlgorithmFor(pub), pub, "payload", sig.Value()).Ok());
}
}  // namespace

TEST_CASE("Keys/RSA private key formats", "[crypto][keys]") {
  auto pub = AsymmetricKey::FromPublicPem(ReadFixture("rsa-public.pem"));
  REQUIRE(pub.Ok());
  CHECK(pub.Value().Type() == KeyType::Rsa);
  CHECK_FALSE(pub.Value().HasPrivateKey());
  CHECK(pub.Value().Bits() == 2048);

  for (const char* file : {"rsa-pkcs8.pem", "rsa-pkcs1.pem"}) {
    INFO(file);
    auto key = AsymmetricKey::FromPrivatePem(ReadFixture(file));
    REQUIRE(key.Ok());
    CHECK(key.Value().Type() == KeyType::Rsa);
    CHECK(key.Value().HasPrivateKey());
    CHECK(key.Value().Bits() == 2048);
    CheckPair(key.Value(), pub.Value());
    CHECK(key.Value().PublicPem() == ReadFixture("rsa-public.pem"));
  }
  for (const char* file : {"rsa-pkcs8-encrypted.pem", "rsa-pkcs1-encrypted.pem"}) {
    INFO(file);
    const std::string pem = ReadFixture(file);
    auto key = AsymmetricKey::FromPrivatePem(pem, kFixturePassword);
    REQUIRE(key.Ok());
    CheckPair(key.Value(), pub.Value());

    auto noPassword = AsymmetricKey::FromPrivatePem(pem);
    REQUIRE_FALSE(noPassword.Ok());
    CHECK(noPassword.GetError().code == "CRY-001");
    CHECK(noPassword.GetError().message.find("encrypted") != std::string::npos);

    auto wrong = AsymmetricKey::FromPrivatePem(pem, "not-the-password");
    REQUIRE_FALSE(wrong.Ok());
    CHECK(wrong.GetError().code == "CRY-001");
    CHECK(wrong.GetError().message.find("not-the-password") == std::string::npos);
    CheckNoKeyMaterial(wrong.GetError(), pem);
  }
  // A combined file (certificate first, then the key), as often used for client certificates.
  auto combined = AsymmetricKey::FromPrivatePem(ReadFixture("rsa-cert.pem") + ReadFixture("rsa-pkcs1-encrypted.pem"),
                                                kFixturePassword);
  REQUIRE(combined.Ok());
  CheckPair(combined.Value(), pub.Value());

  auto pkcs1Public = AsymmetricKey::FromPublicPem(ReadFixture("rsa-public-pkcs1.pem"));
  REQUIRE(pkcs1Public.Ok());
  CHECK(pkcs1Public.Value().Type() == KeyType::Rsa);
  CHECK(pkcs1Public.Value().PublicPem() == ReadFixture("rsa-public.pem"));
}

TEST_CASE("Keys/EC P-256 private key formats", "[crypto][keys]") {
  auto pub = AsymmetricKey::FromPublicPem(ReadFixture("ec-public.pem"));
  REQUIRE(pub.Ok());
  CHECK(pub.Value().Type() == KeyType::EcP256);
  CHECK(pub.Value().Bits() == 256);
  for (const char* file : {"ec-pkcs8.pem", "ec-sec1.pem"}) {
    INFO(file);
    auto key = AsymmetricKey::FromPrivatePem(ReadFixture(file));
    REQUIRE(key.Ok());
    CHECK(key.Value().Type() == KeyType::EcP256);
    CheckPair(key.Value(), pub.Value());
  }
  auto enc = AsymmetricKey::FromPrivatePem(ReadFixture("ec-pkcs8-encrypted.pem"), kFixturePassword);
  REQUIRE(enc.Ok());
  CheckPair(enc.Value(), pub.Value());
  CHECK(AsymmetricKey::FromPrivatePem(ReadFixture("ec-pkcs8-encrypted.pem"), "nope").GetError().code == "CRY-001");
}

TEST_CASE("Keys/refused keys and inputs", "[crypto][keys]") {
  SECTION("RSA under 2048 bits -> CRY-001") {
    auto r = AsymmetricKey::FromPrivatePem(ReadFixture("rsa-1024.pem"));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-001");
    CHECK(r.GetError().message.find("1024") != std::string::npos);
  }
  SECTION("other curves and key types -> CRY-005") {
    auto p384 = AsymmetricKey::FromPrivatePem(ReadFixture("ec-p384.pem"));
    REQUIRE_FALSE(p384.Ok());
    CHECK(p384.GetError().code == "CRY-005");
    auto ed = AsymmetricKey::FromPrivatePem(ReadFixture("ed25519.pem"));
    REQUIRE_FALSE(ed.Ok());
    CHECK(ed.GetError().code == "CRY-005");
  }
  SECTION("wrong PEM kinds and garbage -> CRY-001") {
    CHECK(AsymmetricKey::FromPrivatePem(ReadFixture("rsa-public.pem")).GetError().code == "CRY-001");
    CHECK(AsymmetricKey::FromPrivatePem(ReadFixture("rsa-cert.pem")).GetError().code == "CRY-001");
    CHECK(AsymmetricKey::FromPublicPem(ReadFixture("rsa-pkcs8.pem")).GetError().code == "CRY-001");
    CHECK(AsymmetricKey::FromPublicPem(ReadFixture("rsa-cert.pem")).GetError().code == "CRY-001");
    CHECK(AsymmetricKey::FromPrivatePem("").GetError().code == "CRY-001");
    CHECK(AsymmetricKey::FromPublicPem("not a pem").GetError().code == "CRY-001");
    // A truncated body.
    const std::string pem = ReadFixture("rsa-pkcs8.pem");
    const std::string cut = pem.substr(0, pem.size() / 2) + "\n-----END PRIVATE KEY-----\n";
    auto r = AsymmetricKey::FromPrivatePem(cut);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-001");
    CheckNoKeyMaterial(r.GetError(), pem);
  }
}

TEST_CASE("Keys/certificates and thumbprints", "[crypto][keys]") {
  for (const std::string name : {"rsa-cert", "ec-cert"}) {
    INFO(name);
    auto cert = Certificate::FromPem(ReadFixture(name + ".pem"));
    REQUIRE(cert.Ok());
    // Thumbprints agree with `openssl x509 -fingerprint` (hex files written by generate.sh).
    CHECK(HexEncode(Base64UrlDecode(cert.Value().Thumbprint()).Value()) == gw::test::TrimNewline(ReadFixture(name + ".sha1")));
    CHECK(HexEncode(Base64UrlDecode(cert.Value().ThumbprintSha256()).Value()) ==
          gw::test::TrimNewline(ReadFixture(name + ".sha256")));
    CHECK(cert.Value().Thumbprint().size() == 27);        // 20 bytes, unpadded base64url
    CHECK(cert.Value().ThumbprintSha256().size() == 43);  // 32 bytes
    CHECK(Base64Decode(cert.Value().DerBase64()).Value() == cert.Value().Der());

    auto pub = cert.Value().PublicKey();
    REQUIRE(pub.Ok());
    auto priv = AsymmetricKey::FromPrivatePem(ReadFixture(name == "rsa-cert" ? "rsa-pkcs8.pem" : "ec-pkcs8.pem"));
    REQUIRE(priv.Ok());
    CheckPair(priv.Value(), pub.Value());
  }
  CHECK(Certificate::FromPem(ReadFixture("rsa-public.pem")).GetError().code == "CRY-001");
  CHECK(Certificate::FromPem("").GetError().code == "CRY-001");
}
