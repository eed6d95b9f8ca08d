#pragma once
// JWS compact serialization signing (RFC 7515) for the algorithms the gateway needs (RFC 7518):
//   HS256  HMAC-SHA256 with a shared secret (client_secret_jwt)
//   RS256  RSASSA-PKCS1-v1_5 with SHA-256 (private_key_jwt, Google service accounts, Entra ID)
//   ES256  ECDSA P-256 with SHA-256; the signature is the 64-byte R||S form JOSE requires
//          (RFC 7518 section 3.4), not OpenSSL's DER
// Thread safe. Secrets and keys never appear in errors.
#include <optional>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/crypto/AsymmetricKey.h"

namespace gw::crypto {

enum class JwsAlgorithm { HS256, RS256, ES256 };

const char* ToString(JwsAlgorithm alg);
// "HS256" | "RS256" | "ES256" (case-sensitive, as JOSE says). CRY-005 for anything else,
// in particular "none".
Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);
// The algorithm a key can sign with: RSA -> RS256, EC P-256 -> ES256.
JwsAlgorithm AlgorithmFor(const AsymmetricKey& key);

// What SignJwt signs with, and the key-identifying header parameters it adds.
struct JwsKey {
  JwsAlgorithm alg = JwsAlgorithm::RS256;
  std::optional<AsymmetricKey> key;  // private key for RS256 / ES256
  std::string secret;                // raw secret bytes for HS256 (never logged)
  std::string kid;                   // "kid" header when not empty
  std::string x5t;                   // "x5t" header when not empty (Certificate::Thumbprint())

  static JwsKey Hmac(std::string secret, std::string kid = {});
  // alg follows the key type (AlgorithmFor).
  static JwsKey Asymmetric(AsymmetricKey key, std::string kid = {}, std::string x5t = {});
};

// Raw signature over `signingInput` (the "<b64 header>.<b64 payload>" text).
// CRY-001: key missing / not private / wrong type for the algorithm; empty HMAC secret.
Result<std::string> SignJws(const JwsKey& key, std::string_view signingInput);

// Checks a raw signature with a public (or private) key: CRY-003 if it does not verify (including a
// wrong length), CRY-005 if `alg` does not fit the key type (HS256 never fits a public key).
Status VerifyJwsSignature(JwsAlgorithm alg, const AsymmetricKey& key, std::string_view signingInput,
                          std::string_view signature);

// Builds a compact JWS "<header>.<claims>.<signature>". `headerJson` and `claimsJson` must be JSON
// objects (CRY-002 otherwise, also for duplicate member names). The header gets "alg" set from the
// key (any "alg" given is replaced) and "kid" / "x5t" when the key has them; other members
// (e.g. "typ") are kept. Both objects are re-serialized compactly.
Result<std::string> SignJwt(std::string_view headerJson, std::string_view claimsJson, const JwsKey& key);

}  // namespace gw::crypto
