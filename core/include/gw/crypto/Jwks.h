#pragma once
// JSON Web Keys (RFC 7517 / RFC 7518 section 6) for signature verification: RSA ("n", "e") and EC
// P-256 ("crv", "x", "y") public keys. A JWK Set is parsed once into ready-to-use OpenSSL keys.
// Keys that cannot serve for RS256/ES256 verification (other kty or curve, "use": "enc", malformed
// members) are skipped and counted, not fatal: identity providers publish encryption keys and
// future key types in the same set. Immutable after parsing; thread safe.
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Jws.h"

namespace gw::crypto {

struct Jwk {
  std::string kid;  // may be empty
  std::string alg;  // may be empty (then any alg that fits the key type)
  AsymmetricKey key;
};

class Jwks {
 public:
  // CRY-006 unless `json` is an object with a "keys" array.
  static Result<Jwks> Parse(std::string_view json);

  const std::vector<Jwk>& Keys() const { return keys_; }
  size_t SkippedKeys() const { return skipped_; }
  // Keys usable for `alg`: matching kid when `kid` is not empty, matching type, and JWK "alg" equal
  // to `alg` when the JWK declares one.
  std::vector<const Jwk*> Candidates(std::string_view kid, JwsAlgorithm alg) const;
  bool HasKid(std::string_view kid) const;

 private:
  std::vector<Jwk> keys_;
  size_t skipped_ = 0;
};

// One JWK object to a public key. CRY-001 for missing/invalid members (bad base64url, point not on
// the curve, coordinates of the wrong length), CRY-005 for unsupported kty/crv.
Result<AsymmetricKey> PublicKeyFromJwk(const rapidjson::Value& jwk);

// The public JWK of `key` as compact JSON, with "kid", "use":"sig" and "alg" (for registering a
// client key with an IdP, or serving a JWKS).
std::string PublicJwk(const AsymmetricKey& key, std::string_view kid = {});

// RFC 7638 JWK thumbprint (base64url SHA-256 of the canonical required members): a stable kid.
std::string JwkThumbprint(const AsymmetricKey& key);

}  // namespace gw::crypto
