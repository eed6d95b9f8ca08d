#include "gw/proxy/LoopbackSecret.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

#include "gw/common/SecretRegistry.h"

namespace gw::proxy {

Result<LoopbackSecret> LoopbackSecret::Generate() {
  unsigned char raw[32];
  size_t got = 0;
  while (got < sizeof(raw)) {
    const ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeError("PXY-006", "cannot generate the loopback secret: no random bytes from the kernel", 500);
    }
    got += static_cast<size_t>(n);
  }
  static const char* kHex = "0123456789abcdef";
  std::string value;
  value.reserve(64);
  for (unsigned char b : raw) {
    value.push_back(kHex[b >> 4]);
    value.push_back(kHex[b & 0xf]);
  }
  SecretRegistry::Add(value);
  return LoopbackSecret(std::move(value));
}

LoopbackSecret LoopbackSecret::FromValue(std::string value) {
  if (value.size() < 16) throw std::invalid_argument("a loopback secret needs at least 16 characters");
  SecretRegistry::Add(value);
  return LoopbackSecret(std::move(value));
}

bool LoopbackSecret::Matches(std::string_view candidate) const {
  // Accumulate differences over the whole secret, whatever the candidate's length.
  uint8_t diff = candidate.size() == value_.size() ? 0 : 1;
  for (size_t i = 0; i < value_.size(); ++i) {
    const uint8_t c = i < candidate.size() ? static_cast<uint8_t>(candidate[i]) : 0;
    diff |= static_cast<uint8_t>(c ^ static_cast<uint8_t>(value_[i]));
  }
  return diff == 0;
}

}  // namespace gw::proxy
