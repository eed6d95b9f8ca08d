#include "gw/crypto/AesGcm.h"

#include <climits>

#include "OpenSsl.h"
#include "gw/crypto/Errors.h"
#include "gw/crypto/Hash.h"

namespace gw::crypto {

namespace {

using detail::Owned;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Status CheckKey(std::string_view key) {
  if (key.size() != kAesGcmKeyBytes) {
    return MakeError(errc::kBadKey, "AES-256-GCM key must be 32 bytes, got " + std::to_string(key.size()));
  }
  return Status::Success();
}

Error DecryptFailed(const char* why) { return MakeError(errc::kDecrypt, std::string("decryption failed: ") + why); }

}  // namespace

Result<std::string> AesGcmEncrypt(std::string_view key, std::string_view plaintext, std::string_view associatedData) {
  if (auto s = CheckKey(key); !s) return s.GetError();
  if (plaintext.size() > INT_MAX / 2 || associatedData.size() > INT_MAX / 2) {
    return MakeError(errc::kBadEncoding, "AES-256-GCM input too large");
  }
  auto nonce = RandomBytes(kAesGcmNonceBytes);
  if (!nonce) return nonce.GetError();

  std::string out = nonce.Value();
  out.resize(kAesGcmNonceBytes + plaintext.size() + kAesGcmTagBytes);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + kAesGcmNonceBytes;
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  // The default IV length of GCM in OpenSSL is 12 bytes, the size used here.
  bool ok = ctx && EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key), Bytes(nonce.Value()), nullptr) == 1;
  ok = ok && (associatedData.empty() ||
              EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(associatedData), static_cast<int>(associatedData.size())) == 1);
  ok = ok && EVP_EncryptUpdate(ctx.get(), ct, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), ct + total, &len) == 1;
  total += len;
  ok = ok && static_cast<size_t>(total) == plaintext.size() &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAesGcmTagBytes), ct + total) == 1;
  if (!ok) return MakeError(errc::kBadKey, "AES-256-GCM encryption failed: " + detail::TakeOpenSslReason());
  return out;
}

Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view sealed, std::string_view associatedData) {
  if (auto s = CheckKey(key); !s) return s.GetError();
  if (sealed.size() < kAesGcmNonceBytes + kAesGcmTagBytes) return DecryptFailed("input shorter than nonce and tag");
  if (sealed.size() > INT_MAX / 2 || associatedData.size() > INT_MAX / 2) return DecryptFailed("input too large");
  const std::string_view nonce = sealed.substr(0, kAesGcmNonceBytes);
  const std::string_view ciphertext = sealed.substr(kAesGcmNonceBytes, sealed.size() - kAesGcmNonceBytes - kAesGcmTagBytes);
  std::string tag(sealed.substr(sealed.size() - kAesGcmTagBytes));

  std::string plain(ciphertext.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(plain.data());
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  bool ok = ctx && EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), Bytes(key), Bytes(nonce), nullptr) == 1;
  ok = ok && (associatedData.empty() ||
              EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(associatedData), static_cast<int>(associatedData.size())) == 1);
  ok = ok && EVP_DecryptUpdate(ctx.get(), pt, &len, Bytes(ciphertext), static_cast<int>(ciphertext.size())) == 1;
  total = len;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAesGcmTagBytes), tag.data()) == 1;
  // Final checks the tag; nothing decrypted leaves this function unless it passes.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), pt + total, &len) == 1;
  detail::ClearOpenSslErrors();
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return DecryptFailed("authentication failed (wrong key, modified data or different associated data)");
  }
  return plain;
}

}  // namespace gw::crypto
