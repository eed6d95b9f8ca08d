#pragma once
// JWT decoding and verification (RFC 7519 on top of JWS compact serialization).
//
// Verification order: structure (strict base64url, JSON objects, no duplicate members, no "crit")
// -> algorithm allowed for the key (never "none"; never HS* with a public key: the classic
// algorithm-confusion attack where a public key is used as an HMAC secret) -> signature -> claims.
// Header parameters that point at keys ("jku", "jwk", "x5u", "x5c") are ignored: keys come only
// from the caller. Thread safe.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Certificate.h"
#include "gw/crypto/Jws.h"

namespace gw::crypto {

class Jwks;

// A structurally valid JWT whose signature has NOT been checked by DecodeJwt.
struct DecodedJwt {
  rapidjson::Document header;  // JSON object
  rapidjson::Document claims;  // JSON object
  std::string alg;             // header "alg" as written (may be unsupported)
  std::string kid;             // header "kid" or empty
  std::string signingInput;    // "<b64 header>.<b64 payload>"
  std::string signature;       // raw signature bytes
};

// CRY-002 unless `token` is three base64url parts (strict), the first two decoding to JSON objects
// without duplicate member names, with a string "alg" in the header; tokens over 64 KiB are refused.
// CRY-005 when the header carries "crit" (no extension is understood, RFC 7515 section 4.1.11).
Result<DecodedJwt> DecodeJwt(std::string_view token);

struct ClaimChecks {
  std::chrono::seconds leeway{60};     // clock skew allowed on exp, nbf and iat
  bool requireExp = true;              // a token without "exp" fails unless this is false
  std::vector<std::string> audiences;  // "aud" (string or array) must contain one of these; empty: not checked
  std::string issuer;                  // "iss" must equal this; empty: not checked
  std::optional<int64_t> now;          // Unix seconds; default: the system clock
};

// CRY-004 naming the claim: "exp" missing (when required), not a number, or in the past; "nbf" in
// the future; "iat" not a number or in the future; "aud" / "iss" missing or not accepted.
Status CheckClaims(const rapidjson::Value& claims, const ClaimChecks& checks);

// Signature checks on an already decoded token (CRY-005 for a disallowed alg, CRY-003 for a bad
// signature).
Status VerifySignature(const DecodedJwt& jwt, const AsymmetricKey& publicKey);
Status VerifySignatureHmac(const DecodedJwt& jwt, std::string_view secret);
// Picks the key by "kid" (CRY-006 if no key has it); without "kid", tries every key whose type
// and "alg" fit the token's alg. A JWK that declares "alg" must declare the token's.
Status VerifySignature(const DecodedJwt& jwt, const Jwks& jwks);

// Decode + signature + claims. The result is the decoded token (claims for the caller to use).
Result<DecodedJwt> VerifyJwt(std::string_view token, const AsymmetricKey& publicKey, const ClaimChecks& checks);
Result<DecodedJwt> VerifyJwt(std::string_view token, const Certificate& certificate, const ClaimChecks& checks);
Result<DecodedJwt> VerifyJwt(std::string_view token, const Jwks& jwks, const ClaimChecks& checks);
Result<DecodedJwt> VerifyJwtHmac(std::string_view token, std::string_view secret, const ClaimChecks& checks);

}  // namespace gw::crypto
