#pragma once
// Binary-to-text encodings (RFC 4648), the one implementation for every module: crypto (JOSE,
// keys), config (256-bit keys given as hex or base64) and the rest. Encoders cannot fail. Decoders
// are strict and return CRY-002 (the code gw::crypto reports for bad input encodings) for anything
// that is not the canonical encoding: characters outside the alphabet, whitespace, wrong or missing
// padding, impossible lengths, non-zero unused trailing bits. Strictness matters for JWS: two
// different strings must never decode to the same signature or claims.
// All functions are pure and thread safe; `std::string` is used as a byte container.
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::encoding {

inline constexpr const char* kBadEncoding = "CRY-002";

// Standard alphabet with "=" padding (RFC 4648 section 4).
std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);

// URL-safe alphabet without padding (RFC 4648 section 5, as JOSE uses it: RFC 7515 section 2).
std::string Base64UrlEncode(std::string_view data);
// Refuses "=" padding, "+" and "/".
Result<std::string> Base64UrlDecode(std::string_view text);

// Lower-case hexadecimal.
std::string HexEncode(std::string_view data);
// Accepts upper and lower case; CRY-002 on odd length or a non-hex character.
Result<std::string> HexDecode(std::string_view text);

}  // namespace gw::encoding
