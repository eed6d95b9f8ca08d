// JWT/JWS decoding and verification (core/src/crypto): bearer tokens from IdPs and from callers
// (TokenValidator), and the strict base64url / base64 / hex decoders under them.
// The input is a compact token. Checked: no crash; the decoders are canonical (whatever decodes
// encodes back to the same text, so two texts never mean the same bytes); a signature that
// verifies under the HMAC secret is exactly HMAC-SHA256(secret, signing input) with alg HS256, and
// one that verifies under a public key came with the algorithm of that key type (no "none", no
// algorithm confusion).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/Jwt.h"

namespace {

// The secret and keys the checked-in corpus tokens are signed with (fuzz/corpus/gen_corpus.py).
constexpr const char* kSecret = "fuzz-hs256-secret-0123456789abcdef";

std::string ReadFixture(const char* name) {
  std::ifstream in(std::string(GW_SOURCE_DIR) + "/tests/fixtures/crypto/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Keys {
  gw::crypto::AsymmetricKey rsa;
  gw::crypto::AsymmetricKey ec;
  gw::crypto::Jwks jwks;
};

const Keys& TheKeys() {
  static const Keys keys = [] {
    auto rsa = gw::crypto::AsymmetricKey::FromPublicPem(ReadFixture("rsa-public.pem"));
    auto ec = gw::crypto::AsymmetricKey::FromPublicPem(ReadFixture("ec-public.pem"));
    GW_FUZZ_CHECK(rsa.Ok() && ec.Ok(), "cannot read the fixture keys");
    std::string set = "{\"keys\":[" + gw::crypto::PublicJwk(rsa.Value(), "rsa") + "," +
                      gw::crypto::PublicJwk(ec.Value(), "ec") + "]}";
    auto jwks = gw::crypto::Jwks::Parse(set);
    GW_FUZZ_CHECK(jwks.Ok(), "cannot build the fixture JWKS");
    return Keys{rsa.Value(), ec.Value(), jwks.Value()};
  }();
  return keys;
}

void CheckCanonicalDecoders(std::string_view text) {
  if (auto d = gw::crypto::Base64UrlDecode(text); d.Ok()) {
    GW_FUZZ_CHECK(gw::crypto::Base64UrlEncode(d.Value()) == text, "base64url decoding is not canonical");
  }
  if (auto d = gw::crypto::Base64Decode(text); d.Ok()) {
    GW_FUZZ_CHECK(gw::crypto::Base64Encode(d.Value()) == text, "base64 decoding is not canonical");
  }
  if (auto d = gw::crypto::HexDecode(text); d.Ok()) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    GW_FUZZ_CHECK(gw::crypto::HexEncode(d.Value()) == lower, "hex decoding is not canonical");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  const Keys& keys = TheKeys();
  CheckCanonicalDecoders(token);

  auto decoded = gw::crypto::DecodeJwt(token);
  if (!decoded.Ok()) return 0;
  const auto& jwt = decoded.Value();
  GW_FUZZ_CHECK(jwt.header.IsObject() && jwt.claims.IsObject(), "decoded parts are not objects");

  gw::crypto::ClaimChecks checks;
  checks.audiences = {"dicomweb"};
  checks.issuer = "https://idp.example";
  checks.now = 1700000000;
  gw::crypto::CheckClaims(jwt.claims, checks);
  checks.requireExp = false;
  checks.audiences.clear();
  checks.issuer.clear();
  gw::crypto::CheckClaims(jwt.claims, checks);

  if (gw::crypto::VerifySignatureHmac(jwt, kSecret).Ok()) {
    GW_FUZZ_CHECK(jwt.alg == "HS256", "HMAC verification passed with another alg");
    GW_FUZZ_CHECK(gw::crypto::HmacSha256(kSecret, jwt.signingInput) == jwt.signature, "HMAC forgery");
  }
  if (gw::crypto::VerifySignature(jwt, keys.rsa).Ok()) GW_FUZZ_CHECK(jwt.alg == "RS256", "RSA key with another alg");
  if (gw::crypto::VerifySignature(jwt, keys.ec).Ok()) GW_FUZZ_CHECK(jwt.alg == "ES256", "EC key with another alg");
  if (gw::crypto::VerifySignature(jwt, keys.jwks).Ok()) {
    GW_FUZZ_CHECK(jwt.alg == "RS256" || jwt.alg == "ES256", "JWKS verification with a non-asymmetric alg");
  }
  gw::crypto::VerifyJwtHmac(token, kSecret, checks);
  gw::crypto::VerifyJwt(token, keys.jwks, checks);
  return 0;
}
