#include "gw/crypto/Hash.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "OpenSsl.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Errors.h"

namespace gw::crypto {

namespace {

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    throw std::runtime_error("digest failed: " + detail::TakeOpenSslReason());
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string Sha256(std::string_view data) { return Digest(EVP_sha256(), data); }

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

struct Sha256Hasher::Context {
  detail::Owned<EVP_MD_CTX> md{EVP_MD_CTX_new()};
  bool finished = false;
};

Sha256Hasher::Sha256Hasher() : context_(std::make_unique<Context>()) {
  if (!context_->md || EVP_DigestInit_ex(context_->md.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 unavailable: " + detail::TakeOpenSslReason());
  }
}

Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;

Sha256Hasher& Sha256Hasher::Update(std::string_view data) {
  if (!context_ || context_->finished) throw std::logic_error("Sha256Hasher used after Final or after a move");
  if (EVP_DigestUpdate(context_->md.get(), data.data(), data.size()) != 1) {
    throw std::runtime_error("SHA-256 failed: " + detail::TakeOpenSslReason());
  }
  return *this;
}

std::string Sha256Hasher::Final() {
  if (!context_ || context_->finished) throw std::logic_error("Sha256Hasher used after Final or after a move");
  context_->finished = true;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(context_->md.get(), out, &len) != 1) {
    throw std::runtime_error("SHA-256 failed: " + detail::TakeOpenSslReason());
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256Hasher::FinalHex() { return HexEncode(Final()); }

std::string Sha1(std::string_view data) { return Digest(EVP_sha1(), data); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  // EVP_Q_mac wants a non-null key pointer even for an empty key.
  static const unsigned char kEmpty = 0;
  const unsigned char* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, k, key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof(out), &len) == nullptr) {
    throw std::runtime_error("HMAC failed: " + detail::TakeOpenSslReason());
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> RandomBytes(size_t count) {
  std::string out(count, '\0');
  if (count == 0) return out;
  if (count > (1u << 30)) return MakeError(errc::kRandom, "too many random bytes requested");
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    return MakeError(errc::kRandom, "random number generator failed: " + detail::TakeOpenSslReason());
  }
  return out;
}

}  // namespace gw::crypto
