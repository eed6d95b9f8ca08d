#pragma once
// Error codes of gw::crypto. Messages name what failed (which claim, which kid, which key type),
// never key material, secrets, signatures or whole tokens.
//   CRY-001 bad key / PEM (unreadable, wrong password, too small, wrong length)
//   CRY-002 bad input encoding (base64, hex, JSON, JWT structure)
//   CRY-003 signature invalid
//   CRY-004 claim check failed (the message names the claim)
//   CRY-005 unsupported algorithm or key type (including "none", and HS* against a public key)
//   CRY-006 JWKS fetch failed, invalid JWKS document, or no matching key
//   CRY-007 decryption failed (wrong key, tampered data or associated data)
//   CRY-008 the random number generator failed
namespace gw::crypto::errc {

inline constexpr const char* kBadKey = "CRY-001";
inline constexpr const char* kBadEncoding = "CRY-002";
inline constexpr const char* kBadSignature = "CRY-003";
inline constexpr const char* kClaim = "CRY-004";
inline constexpr const char* kUnsupported = "CRY-005";
inline constexpr const char* kJwks = "CRY-006";
inline constexpr const char* kDecrypt = "CRY-007";
inline constexpr const char* kRandom = "CRY-008";

}  // namespace gw::crypto::errc
