#pragma once
// Process-wide set of secret values (client secrets, tokens, private key material) that must never
// be shown. Log() and every error body produced by the plugin pass text through Redact().
// Values shorter than 6 characters are not registered (masking them would garble ordinary text).
#include <string>
#include <string_view>

namespace gw {

class SecretRegistry {
 public:
  static void Add(std::string_view secret);
  static void Remove(std::string_view secret);
  static void Clear();
  // Returns `text` with every registered secret replaced by "***".
  static std::string Redact(std::string_view text);
};

}  // namespace gw
