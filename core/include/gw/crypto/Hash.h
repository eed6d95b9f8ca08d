#pragma once
// Digests, MAC, constant-time comparison and random bytes (OpenSSL 3 EVP). Outputs are raw bytes in
// a std::string; use HexEncode / Base64UrlEncode for text. Thread safe.
// The digest and MAC functions only fail when OpenSSL itself fails (out of memory, broken
// provider configuration); they then throw std::runtime_error rather than return a wrong value.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::crypto {

// SHA-256 (32 bytes).
std::string Sha256(std::string_view data);
// SHA-256 as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

// SHA-256 over data that arrives in pieces (a file read in blocks, a request body spooled chunk by
// chunk, several fields framed one after the other): Update() any number of times, then Final()
// or FinalHex() once. The split does not matter: Update("ab"); Update("c") equals Sha256("abc").
// The constructor, Update and Final throw std::runtime_error when OpenSSL fails, and
// std::logic_error when used after Final. One hasher per thread; movable, not copyable.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  Sha256Hasher& Update(std::string_view data);
  // 32 raw bytes.
  std::string Final();
  // 64 lower-case hex digits.
  std::string FinalHex();

 private:
  struct Context;  // the OpenSSL digest context, kept out of this header
  std::unique_ptr<Context> context_;
};
// SHA-1 (20 bytes). Only for the legacy "x5t" certificate thumbprint, which RFC 7515 defines as
// SHA-1; never for signatures or integrity.
std::string Sha1(std::string_view data);
// HMAC-SHA256 (32 bytes, RFC 2104). Any key length, including empty.
std::string HmacSha256(std::string_view key, std::string_view data);

// True when a and b are equal. The time taken depends on the lengths only, not on where the
// contents differ (for MACs, tokens, secrets).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// `count` bytes from OpenSSL's CSPRNG; CRY-008 if it cannot deliver.
Result<std::string> RandomBytes(size_t count);

}  // namespace gw::crypto
