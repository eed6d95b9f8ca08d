#include "gw/crypto/AsymmetricKey.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <cstring>
#include <optional>

#include "OpenSsl.h"
#include "gw/crypto/Errors.h"

namespace gw::crypto {

namespace {

using detail::Owned;

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;  // larger keys only make verification slow (a JWKS is untrusted input)

Error BadKey(const std::string& why) { return MakeError(errc::kBadKey, why); }

bool IsPrivateKeyLabel(std::string_view label) {
  return label == "PRIVATE KEY" || label == "ENCRYPTED PRIVATE KEY" || label == "RSA PRIVATE KEY" ||
         label == "EC PRIVATE KEY";
}

// One "-----BEGIN <label>-----" block: its label and the text up to its END line.
struct PemBlock {
  std::string label;
  std::string_view text;
};

// The first private-key block of `pem` (a combined file may hold certificates before the key);
// `found` lists the labels seen, for the error message.
std::optional<PemBlock> FirstPrivateKeyBlock(std::string_view pem, std::string& found) {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  for (size_t b = pem.find(kBegin); b != std::string_view::npos; b = pem.find(kBegin, b + 1)) {
    const size_t start = b + kBegin.size();
    const size_t end = pem.find("-----", start);
    if (end == std::string_view::npos || end - start > 64) break;
    const std::string label(pem.substr(start, end - start));
    if (IsPrivateKeyLabel(label)) {
      const size_t stop = pem.find("-----END ", end);
      return PemBlock{label, pem.substr(b, stop == std::string_view::npos ? std::string_view::npos : stop - b)};
    }
    found += (found.empty() ? "'" : ", '") + label + "'";
  }
  return std::nullopt;
}

struct PasswordArg {
  std::string_view password;
};

// OpenSSL's pem_password_cb. Never prompts: without a password the decryption simply fails.
int PasswordCallback(char* buf, int size, int /*rwflag*/, void* user) {
  const auto* arg = static_cast<const PasswordArg*>(user);
  if (arg == nullptr || arg->password.empty() || arg->password.size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, arg->password.data(), arg->password.size());
  return static_cast<int>(arg->password.size());
}

}  // namespace

const char* ToString(KeyType type) {
  switch (type) {
    case KeyType::Rsa:
      return "RSA";
    case KeyType::EcP256:
      return "EC P-256";
  }
  return "?";
}

Result<AsymmetricKey> AsymmetricKey::Adopt(evp_pkey_st* raw, bool hasPrivate) {
  std::shared_ptr<EVP_PKEY> key(raw, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
  if (!key) return BadKey("no key");
  if (EVP_PKEY_is_a(key.get(), "RSA")) {
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < kMinRsaBits) {
      return BadKey("RSA key of " + std::to_string(bits) + " bits is too small (at least " +
                    std::to_string(kMinRsaBits) + " required)");
    }
    if (bits > kMaxRsaBits) return BadKey("RSA key of " + std::to_string(bits) + " bits is too large");
    return AsymmetricKey(std::move(key), KeyType::Rsa, hasPrivate);
  }
  if (EVP_PKEY_is_a(key.get(), "EC")) {
    char group[80] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1) {
      detail::ClearOpenSslErrors();
      return MakeError(errc::kUnsupported, "EC key without a named curve is not supported (P-256 only)");
    }
    if (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0) {
      return MakeError(errc::kUnsupported, std::string("EC curve ") + group + " is not supported (P-256 only)");
    }
    return AsymmetricKey(std::move(key), KeyType::EcP256, hasPrivate);
  }
  const char* name = EVP_PKEY_get0_type_name(key.get());
  return MakeError(errc::kUnsupported,
                   std::string("key type ") + (name != nullptr ? name : "unknown") + " is not supported (RSA, EC P-256)");
}

Result<AsymmetricKey> AsymmetricKey::FromPrivatePem(std::string_view pem, std::string_view password) {
  std::string found;
  const auto block = FirstPrivateKeyBlock(pem, found);
  if (!block) {
    if (found.empty()) return BadKey("no PEM block found in the private key text");
    return BadKey("expected a private key PEM block, found " + found);
  }
  const bool encrypted = block->label == "ENCRYPTED PRIVATE KEY" ||
                         block->text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
  if (encrypted && password.empty()) return BadKey("the private key is encrypted and no password was given");

  // PEM_read_bio_PrivateKey skips blocks of other types (e.g. certificates before the key).
  auto bio = detail::MemoryBio(pem);
  if (!bio) return BadKey("out of memory");
  PasswordArg arg{password};
  EVP_PKEY* raw = PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, &PasswordCallback, &arg, nullptr, nullptr);
  if (raw == nullptr) {
    const std::string reason = detail::TakeOpenSslReason();
    if (encrypted) return BadKey("cannot decrypt the private key (wrong password?): " + reason);
    return BadKey("cannot read the private key: " + reason);
  }
  return Adopt(raw, true);
}

Result<AsymmetricKey> AsymmetricKey::FromPublicPem(std::string_view pem) {
  auto bio = detail::MemoryBio(pem);
  if (!bio) return BadKey("out of memory");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    detail::ClearOpenSslErrors();
    return BadKey("no PEM block found in the public key text");
  }
  const std::string label = name;
  OPENSSL_free(name);
  OPENSSL_free(header);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> der(data, [](unsigned char* p) { OPENSSL_free(p); });
  const unsigned char* cursor = der.get();
  EVP_PKEY* raw = nullptr;
  if (label == "PUBLIC KEY") {
    raw = d2i_PUBKEY_ex(nullptr, &cursor, len, nullptr, nullptr);
  } else if (label == "RSA PUBLIC KEY") {
    raw = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, len);
  } else {
    return BadKey("expected a PUBLIC KEY or RSA PUBLIC KEY PEM block, found '" + label + "'");
  }
  if (raw == nullptr) return BadKey("cannot read the public key: " + detail::TakeOpenSslReason());
  return Adopt(raw, false);
}

int AsymmetricKey::Bits() const { return EVP_PKEY_get_bits(key_.get()); }

std::string AsymmetricKey::PublicPem() const {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    detail::ClearOpenSslErrors();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace gw::crypto
