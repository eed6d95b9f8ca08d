// JWS signing and signature verification: RFC 7515 Appendix A examples, round trips for each
// algorithm, cross-checks with the openssl CLI, tampering, and the refused algorithms.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "Fixtures.h"
#include "RfcVectors.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Certificate.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/Jws.h"
#include "gw/crypto/Jwt.h"

using namespace gw::crypto;
using gw::test::ReadFixture;
namespace rfc = gw::test::rfc7515;

namespace {

ClaimChecks AtRfcTime() {
  ClaimChecks c;
  c.now = rfc::kExp - 100;
  return c;
}

AsymmetricKey PrivateKey(const char* file) { return AsymmetricKey::FromPrivatePem(ReadFixture(file)).Value(); }
AsymmetricKey PublicKey(const char* file) { return AsymmetricKey::FromPublicPem(ReadFixture(file)).Value(); }

// Splits a compact JWS into its three parts.
std::vector<std::string> Parts(const std::string& token) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot = token.find('.'); dot != std::string::npos; dot = token.find('.', start)) {
    out.push_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  out.push_back(token.substr(start));
  return out;
}

// A temporary directory for the openssl CLI cross-checks, removed at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gw-jws-test-XXXXXX").string();
    const char* made = mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string Write(const std::string& name, const std::string& data) const {
    const std::string p = path + "/" + name;
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(path + "/" + name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

int Run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// Minimal DER for ECDSA-Sig-Value (SEQUENCE of two INTEGERs) so the test converts independently of
// the code under test.
std::string DerInteger(std::string bytes) {
  while (bytes.size() > 1 && bytes[0] == '\0' && !(static_cast<unsigned char>(bytes[1]) & 0x80)) bytes.erase(0, 1);
  if (static_cast<unsigned char>(bytes[0]) & 0x80) bytes.insert(0, 1, '\0');
  return std::string(1, '\x02') + static_cast<char>(bytes.size()) + bytes;
}
std::string RawToDer(const std::string& raw) {
  const std::string body = DerInteger(raw.substr(0, 32)) + DerInteger(raw.substr(32));
  return std::string(1, '\x30') + static_cast<char>(body.size()) + body;
}
std::string DerToRaw(const std::string& der) {
  size_t pos = 2;  // SEQUENCE tag and short length (always < 128 for P-256)
  std::string raw;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(der[pos] == '\x02');
    const size_t len = static_cast<unsigned char>(der[pos + 1]);
    std::string v = der.substr(pos + 2, len);
    pos += 2 + len;
    while (v.size() > 32) v.erase(0, 1);
    raw += std::string(32 - v.size(), '\0') + v;
  }
  return raw;
}

}  // namespace

TEST_CASE("Jws/RFC 7515 A.1 HS256 example", "[crypto][jws]") {
  const std::string key = Base64UrlDecode(rfc::kA1Key).Value();
  const auto parts = Parts(rfc::kA1Token);
  REQUIRE(parts.size() == 3);
  // The MAC over the RFC's signing input is the RFC's signature.
  auto sig = SignJws(JwsKey::Hmac(key), parts[0] + "." + parts[1]);
  REQUIRE(sig.Ok());
  CHECK(Base64UrlEncode(sig.Value()) == parts[2]);

  auto verified = VerifyJwtHmac(rfc::kA1Token, key, AtRfcTime());
  REQUIRE(verified.Ok());
  CHECK(verified.Value().alg == "HS256");
  CHECK(std::string(verified.Value().claims["iss"].GetString()) == "joe");
  CHECK(verified.Value().claims["http://example.com/is_root"].GetBool());

  CHECK(VerifyJwtHmac(rfc::kA1Token, key + "x", AtRfcTime()).GetError().code == "CRY-003");
  // The RFC example expired in 2011: with today's clock the exp check fails.
  auto expired = VerifyJwtHmac(rfc::kA1Token, key, ClaimChecks{});
  REQUIRE_FALSE(expired.Ok());
  CHECK(expired.GetError().code == "CRY-004");
  CHECK(expired.GetError().message.find("'exp'") != std::string::npos);
}

TEST_CASE("Jws/RFC 7515 A.2 RS256 and A.3 ES256 examples", "[crypto][jws]") {
  rapidjson::Document rsaJwk;
  rsaJwk.Parse((std::string(R"({"kty":"RSA","n":")") + rfc::kA2N + R"(","e":")" + rfc::kA2E + R"("})").c_str());
  auto rsa = PublicKeyFromJwk(rsaJwk);
  REQUIRE(rsa.Ok());
  CHECK(rsa.Value().Bits() == 2048);
  auto a2 = VerifyJwt(rfc::kA2Token, rsa.Value(), AtRfcTime());
  REQUIRE(a2.Ok());
  CHECK(std::string(a2.Value().claims["iss"].GetString()) == "joe");

  rapidjson::Document ecJwk;
  ecJwk.Parse((std::string(R"({"kty":"EC","crv":"P-256","x":")") + rfc::kA3X + R"(","y":")" + rfc::kA3Y + R"("})").c_str());
  auto ec = PublicKeyFromJwk(ecJwk);
  REQUIRE(ec.Ok());
  CHECK(ec.Value().Type() == KeyType::EcP256);
  auto a3 = VerifyJwt(rfc::kA3Token, ec.Value(), AtRfcTime());
  REQUIRE(a3.Ok());
  CHECK(a3.Value().signature.size() == 64);

  // Each example fails with the other's key: the algorithm does not fit the key type.
  CHECK(VerifyJwt(rfc::kA2Token, ec.Value(), AtRfcTime()).GetError().code == "CRY-005");
  CHECK(VerifyJwt(rfc::kA3Token, rsa.Value(), AtRfcTime()).GetError().code == "CRY-005");
  // And with an unrelated key of the right type the signature does not verify.
  CHECK(VerifyJwt(rfc::kA2Token, PublicKey("rsa-public.pem"), AtRfcTime()).GetError().code == "CRY-003");
  CHECK(VerifyJwt(rfc::kA3Token, PublicKey("ec-public.pem"), AtRfcTime()).GetError().code == "CRY-003");
}

TEST_CASE("Jws/sign then verify for every algorithm", "[crypto][jws]") {
  const std::string claims = R"({"iss":"client-1","sub":"client-1","aud":"https://idp.example/token","exp":4102444800,"jti":"j-1"})";
  ClaimChecks checks;
  checks.audiences = {"https://idp.example/token"};
  checks.issuer = "client-1";

  SECTION("RS256 with kid and x5t from the certificate") {
    const auto cert = Certificate::FromPem(ReadFixture("rsa-cert.pem")).Value();
    auto token = SignJwt(R"({"typ":"JWT"})", claims, JwsKey::Asymmetric(PrivateKey("rsa-pkcs1.pem"), "kid-1", cert.Thumbprint()));
    REQUIRE(token.Ok());
    auto decoded = DecodeJwt(token.Value());
    REQUIRE(decoded.Ok());
    CHECK(decoded.Value().alg == "RS256");
    CHECK(decoded.Value().kid == "kid-1");
    CHECK(std::string(decoded.Value().header["x5t"].GetString()) == cert.Thumbprint());
    CHECK(std::string(decoded.Value().header["typ"].GetString()) == "JWT");
    CHECK(decoded.Value().signature.size() == 256);
    CHECK(VerifyJwt(token.Value(), PublicKey("rsa-public.pem"), checks).Ok());
    CHECK(VerifyJwt(token.Value(), cert, checks).Ok());
    // The header is serialized with alg first, compactly.
    CHECK(Base64UrlDecode(Parts(token.Value())[0]).Value() ==
          R"({"alg":"RS256","kid":"kid-1","x5t":")" + cert.Thumbprint() + R"(","typ":"JWT"})");
  }
  SECTION("ES256 produces a 64-byte R||S signature, also when r or s is short") {
    // About 1 signature in 256 has an r (or s) with a leading zero byte, which must be kept as
    // padding. Sign until both cases were seen (bounded), verifying every signature.
    const AsymmetricKey priv = PrivateKey("ec-sec1.pem");
    const AsymmetricKey pub = PublicKey("ec-public.pem");
    bool shortR = false;
    bool shortS = false;
    for (int i = 0; i < 20000 && !(shortR && shortS); ++i) {
      auto token = SignJwt("{}", claims, JwsKey::Asymmetric(priv));
      REQUIRE(token.Ok());
      auto decoded = DecodeJwt(token.Value());
      REQUIRE(decoded.Ok());
      REQUIRE(decoded.Value().alg == "ES256");
      REQUIRE_FALSE(decoded.Value().header.HasMember("kid"));
      REQUIRE(decoded.Value().signature.size() == 64);
      shortR = shortR || decoded.Value().signature[0] == '\0';
      shortS = shortS || decoded.Value().signature[32] == '\0';
      REQUIRE(VerifySignature(decoded.Value(), pub).Ok());
    }
    CHECK(shortR);
    CHECK(shortS);
    CHECK(VerifyJwt(SignJwt("{}", claims, JwsKey::Asymmetric(priv)).Value(), pub, checks).Ok());
  }
  SECTION("HS256") {
    auto token = SignJwt(R"({"typ":"JWT"})", claims, JwsKey::Hmac("a-shared-client-secret-of-32-bytes!!", "k"));
    REQUIRE(token.Ok());
    CHECK(VerifyJwtHmac(token.Value(), "a-shared-client-secret-of-32-bytes!!", checks).Ok());
    CHECK(VerifyJwtHmac(token.Value(), "another-secret-of-the-same-length!!!", checks).GetError().code == "CRY-003");
  }
  SECTION("a caller-supplied alg is replaced, kid from the key wins") {
    auto token = SignJwt(R"({"alg":"none","kid":"caller","cty":"x"})", claims, JwsKey::Hmac("secret-secret-secret", "key-kid"));
    REQUIRE(token.Ok());
    auto decoded = DecodeJwt(token.Value());
    CHECK(decoded.Value().alg == "HS256");
    CHECK(decoded.Value().kid == "key-kid");
    auto keep = SignJwt(R"({"kid":"caller"})", claims, JwsKey::Hmac("secret-secret-secret"));
    CHECK(DecodeJwt(keep.Value()).Value().kid == "caller");
  }
}

TEST_CASE("Jws/signatures agree with the openssl CLI", "[crypto][jws]") {
  REQUIRE(Run("openssl version") == 0);
  TempDir dir;
  const std::string input = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
  const std::string inFile = dir.Write("input", input);

  SECTION("RS256 (deterministic): identical bytes") {
    auto sig = SignJws(JwsKey::Asymmetric(PrivateKey("rsa-pkcs8.pem")), input);
    REQUIRE(sig.Ok());
    REQUIRE(Run("openssl dgst -sha256 -sign '" + gw::test::FixturePath("rsa-pkcs8.pem") + "' -out '" + dir.path +
                "/sig' '" + inFile + "'") == 0);
    CHECK(sig.Value() == dir.Read("sig"));
  }
  SECTION("ES256: ours verifies in openssl, openssl's verifies in ours") {
    auto sig = SignJws(JwsKey::Asymmetric(PrivateKey("ec-pkcs8.pem")), input);
    REQUIRE(sig.Ok());
    dir.Write("ours.der", RawToDer(sig.Value()));
    CHECK(Run("openssl dgst -sha256 -verify '" + gw::test::FixturePath("ec-public.pem") + "' -signature '" + dir.path +
              "/ours.der' '" + inFile + "'") == 0);
    REQUIRE(Run("openssl dgst -sha256 -sign '" + gw::test::FixturePath("ec-pkcs8.pem") + "' -out '" + dir.path +
                "/theirs.der' '" + inFile + "'") == 0);
    const std::string raw = DerToRaw(dir.Read("theirs.der"));
    CHECK(VerifyJwsSignature(JwsAlgorithm::ES256, PublicKey("ec-public.pem"), input, raw).Ok());
    // The DER form itself is not a JOSE signature.
    CHECK(VerifyJwsSignature(JwsAlgorithm::ES256, PublicKey("ec-public.pem"), input, dir.Read("theirs.der"))
              .GetError()
              .code == "CRY-003");
  }
}

TEST_CASE("Jws/tampering is detected", "[crypto][jws]") {
  const std::string claims = R"({"sub":"a","exp":4102444800})";
  struct Case {
    const char* name;
    JwsKey key;
    std::function<gw::Status(const std::string&)> verify;
  };
  const auto rsaPub = PublicKey("rsa-public.pem");
  const auto ecPub = PublicKey("ec-public.pem");
  std::vector<Case> cases = {
      {"RS256", JwsKey::Asymmetric(PrivateKey("rsa-pkcs8.pem")),
       [&](const std::string& t) { auto r = VerifyJwt(t, rsaPub, {}); return r.Ok() ? gw::Status() : gw::Status(r.GetError()); }},
      {"ES256", JwsKey::Asymmetric(PrivateKey("ec-pkcs8.pem")),
       [&](const std::string& t) { auto r = VerifyJwt(t, ecPub, {}); return r.Ok() ? gw::Status() : gw::Status(r.GetError()); }},
      {"HS256", JwsKey::Hmac("0123456789abcdef0123456789abcdef"),
       [&](const std::string& t) {
         auto r = VerifyJwtHmac(t, "0123456789abcdef0123456789abcdef", {});
         return r.Ok() ? gw::Status() : gw::Status(r.GetError());
       }},
  };
  for (auto& c : cases) {
    INFO(c.name);
    const std::string token = SignJwt("{}", claims, c.key).Value();
    REQUIRE(c.verify(token).Ok());
    auto parts = Parts(token);

    // Claims changed, signature kept.
    const std::string forged = parts[0] + "." + Base64UrlEncode(R"({"sub":"admin","exp":4102444800})") + "." + parts[2];
    CHECK(c.verify(forged).GetError().code == "CRY-003");
    // One signature bit flipped.
    std::string sig = Base64UrlDecode(parts[2]).Value();
    sig[sig.size() / 2] ^= 0x01;
    CHECK(c.verify(parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig)).GetError().code == "CRY-003");
    // Signature truncated or removed.
    CHECK(c.verify(parts[0] + "." + parts[1] + "." + parts[2].substr(0, 8)).GetError().code == "CRY-003");
    CHECK(c.verify(parts[0] + "." + parts[1] + ".").GetError().code == "CRY-003");
    // Header changed (an extra member): the signing input differs.
    const std::string header = Base64UrlDecode(parts[0]).Value();
    const std::string newHeader = header.substr(0, header.size() - 1) + R"(,"x":1})";
    CHECK(c.verify(Base64UrlEncode(newHeader) + "." + parts[1] + "." + parts[2]).GetError().code == "CRY-003");
  }
}

TEST_CASE("Jws/refused algorithms: none, confusion, mismatch", "[crypto][jws]") {
  const auto rsaPub = PublicKey("rsa-public.pem");
  const std::string claims = R"({"sub":"attacker","exp":4102444800})";

  SECTION("alg none is refused everywhere") {
    CHECK(ParseJwsAlgorithm("none").GetError().code == "CRY-005");
    CHECK(VerifyJwt(rfc::kA5Token, rsaPub, AtRfcTime()).GetError().code == "CRY-005");
    CHECK(VerifyJwtHmac(rfc::kA5Token, "secret-secret", AtRfcTime()).GetError().code == "CRY-005");
    const Jwks jwks = Jwks::Parse(R"({"keys":[)" + PublicJwk(rsaPub, "k") + "]}").Value();
    CHECK(VerifyJwt(rfc::kA5Token, jwks, AtRfcTime()).GetError().code == "CRY-005");
    for (const char* alg : {"None", "NONE", "nOnE"}) {
      const std::string t = Base64UrlEncode(std::string(R"({"alg":")") + alg + "\"}") + "." + Base64UrlEncode(claims) + ".";
      CHECK(VerifyJwt(t, rsaPub, {}).GetError().code == "CRY-005");
    }
  }
  SECTION("HS256 signed with the public key as secret is refused (algorithm confusion)") {
    const std::string publicPem = ReadFixture("rsa-public.pem");
    const std::string forged = SignJwt("{}", claims, JwsKey::Hmac(publicPem)).Value();
    // As a "shared secret" it would verify...
    REQUIRE(VerifyJwtHmac(forged, publicPem, {}).Ok());
    // ...but verification with the public key never runs HMAC.
    auto r = VerifyJwt(forged, rsaPub, {});
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "CRY-005");
    const auto cert = Certificate::FromPem(ReadFixture("rsa-cert.pem")).Value();
    CHECK(VerifyJwt(forged, cert, {}).GetError().code == "CRY-005");
    const Jwks jwks = Jwks::Parse(R"({"keys":[)" + PublicJwk(rsaPub) + "]}").Value();
    CHECK(VerifyJwt(forged, jwks, {}).GetError().code == "CRY-005");
  }
  SECTION("an RS256 token is not accepted as HS256 with a secret") {
    const std::string token = SignJwt("{}", claims, JwsKey::Asymmetric(PrivateKey("rsa-pkcs8.pem"))).Value();
    CHECK(VerifyJwtHmac(token, "whatever-secret", {}).GetError().code == "CRY-005");
  }
  SECTION("unknown algorithms") {
    for (const char* alg : {"RS512", "PS256", "ES384", "HS512", "EdDSA", "rs256", ""}) {
      INFO(alg);
      const std::string t = Base64UrlEncode(std::string(R"({"alg":")") + alg + "\"}") + "." + Base64UrlEncode(claims) + ".c2ln";
      CHECK(VerifyJwt(t, rsaPub, {}).GetError().code == "CRY-005");
    }
  }
}

TEST_CASE("Jws/signing errors", "[crypto][jws]") {
  const std::string claims = R"({"a":1})";
  CHECK(SignJwt("{}", claims, JwsKey::Hmac("")).GetError().code == "CRY-001");
  JwsKey noKey;
  noKey.alg = JwsAlgorithm::RS256;
  CHECK(SignJwt("{}", claims, noKey).GetError().code == "CRY-001");
  CHECK(SignJwt("{}", claims, JwsKey::Asymmetric(PublicKey("rsa-public.pem"))).GetError().code == "CRY-001");
  JwsKey mismatch = JwsKey::Asymmetric(PrivateKey("ec-pkcs8.pem"));
  mismatch.alg = JwsAlgorithm::RS256;
  CHECK(SignJwt("{}", claims, mismatch).GetError().code == "CRY-001");

  const JwsKey key = JwsKey::Hmac("secret-secret-secret");
  CHECK(SignJwt("[]", claims, key).GetError().code == "CRY-002");
  CHECK(SignJwt("{}", "not json", key).GetError().code == "CRY-002");
  CHECK(SignJwt("{}", R"("a string")", key).GetError().code == "CRY-002");
  CHECK(SignJwt("{}", R"({"a":1} trailing)", key).GetError().code == "CRY-002");
  CHECK(SignJwt("{}", R"({"exp":1,"exp":2})", key).GetError().code == "CRY-002");
  CHECK(SignJwt(R"({"typ":"JWT","typ":"x"})", claims, key).GetError().code == "CRY-002");
  CHECK(SignJwt("{}", std::string("{\"a\":\"\xff\"}"), key).GetError().code == "CRY-002");
}
