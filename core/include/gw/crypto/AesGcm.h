#pragma once
// AES-256-GCM authenticated encryption for values stored outside the process (tokens in Redis).
// Sealed format: nonce (12 random bytes) || ciphertext || tag (16 bytes). The associated data is
// authenticated but not stored: pass the same context (e.g. the cache key) to decrypt, so a value
// copied under another key fails to open. A random 96-bit nonce per message keeps the nonce-reuse
// risk negligible below ~2^32 messages per key (NIST SP 800-38D section 8.3). Thread safe.
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::crypto {

inline constexpr size_t kAesGcmKeyBytes = 32;
inline constexpr size_t kAesGcmNonceBytes = 12;
inline constexpr size_t kAesGcmTagBytes = 16;

// CRY-001 if the key is not 32 bytes; CRY-008 if no random nonce can be drawn.
Result<std::string> AesGcmEncrypt(std::string_view key, std::string_view plaintext, std::string_view associatedData);

// CRY-001 if the key is not 32 bytes; CRY-007 if `sealed` is too short or fails authentication
// (wrong key, modified bytes, different associated data). Never returns unauthenticated plaintext.
Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view sealed, std::string_view associatedData);

}  // namespace gw::crypto
