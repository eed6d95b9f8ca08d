// JWK Sets (core/src/crypto/Jwks): fetched from the IdP's jwks_uri over the network and cached
// (JwksCache), so a compromised or confused endpoint controls every byte.
// Checked: no crash; every key kept has a thumbprint and a public JWK that parses back to a key
// with the same thumbprint; a token signed with the fixture EC key verifies under the parsed set
// only if the set really holds that key (no key confusion through kid, alg or kty tricks).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "gw/common/Json.h"
#include "gw/crypto/Jwks.h"
#include "gw/crypto/Jwt.h"

namespace {

std::string ReadFixture(const char* name) {
  std::ifstream in(std::string(GW_SOURCE_DIR) + "/tests/fixtures/crypto/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Signed {
  std::string token;       // ES256, kid "ec", signed with tests/fixtures/crypto/ec-pkcs8.pem
  std::string thumbprint;  // of that key
};

const Signed& TheToken() {
  static const Signed s = [] {
    auto key = gw::crypto::AsymmetricKey::FromPrivatePem(ReadFixture("ec-pkcs8.pem"));
    GW_FUZZ_CHECK(key.Ok(), "cannot read the fixture key");
    auto token = gw::crypto::SignJwt("{\"typ\":\"JWT\"}", "{\"sub\":\"fuzz\"}",
                                     gw::crypto::JwsKey::Asymmetric(key.Value(), "ec"));
    GW_FUZZ_CHECK(token.Ok(), "cannot sign the fixture token");
    return Signed{token.Value(), gw::crypto::JwkThumbprint(key.Value())};
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Signed& fixture = TheToken();
  auto jwks = gw::crypto::Jwks::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!jwks.Ok()) return 0;
  bool holdsFixture = false;
  for (const auto& jwk : jwks.Value().Keys()) {
    const std::string thumbprint = gw::crypto::JwkThumbprint(jwk.key);
    holdsFixture = holdsFixture || thumbprint == fixture.thumbprint;
    auto again = gw::json::Parse(gw::crypto::PublicJwk(jwk.key, jwk.kid), "FUZ-001");
    GW_FUZZ_CHECK(again.Ok(), "PublicJwk wrote invalid JSON");
    auto key = gw::crypto::PublicKeyFromJwk(again.Value());
    GW_FUZZ_CHECK(key.Ok(), "PublicJwk of a kept key does not read back");
    GW_FUZZ_CHECK(gw::crypto::JwkThumbprint(key.Value()) == thumbprint, "thumbprint changed through PublicJwk");
  }
  jwks.Value().Candidates("ec", gw::crypto::JwsAlgorithm::ES256);
  jwks.Value().Candidates("", gw::crypto::JwsAlgorithm::RS256);
  gw::crypto::ClaimChecks checks;
  checks.requireExp = false;
  if (gw::crypto::VerifyJwt(fixture.token, jwks.Value(), checks).Ok()) {
    GW_FUZZ_CHECK(holdsFixture, "a token verified under a set without its key");
  }
  return 0;
}
