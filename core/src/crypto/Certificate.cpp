#include "gw/crypto/Certificate.h"

#include <openssl/pem.h>

#include "OpenSsl.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Errors.h"
#include "gw/crypto/Hash.h"

namespace gw::crypto {

namespace {
using detail::Owned;

Owned<X509> ParseDer(const std::string& der) {
  const unsigned char* cursor = reinterpret_cast<const unsigned char*>(der.data());
  return Owned<X509>(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
}
}  // namespace

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  auto bio = detail::MemoryBio(pem);
  if (!bio) return MakeError(errc::kBadKey, "out of memory");
  // PEM_read_bio_X509 skips PEM blocks of other types and takes the first certificate.
  Owned<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return MakeError(errc::kBadKey, "cannot read the certificate: " + detail::TakeOpenSslReason());
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return MakeError(errc::kBadKey, "cannot encode the certificate: " + detail::TakeOpenSslReason());
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return Certificate(std::move(bytes));
}

Result<AsymmetricKey> Certificate::PublicKey() const {
  auto cert = ParseDer(der_);
  if (!cert) return MakeError(errc::kBadKey, "cannot read the certificate: " + detail::TakeOpenSslReason());
  EVP_PKEY* key = X509_get_pubkey(cert.get());  // new reference
  if (key == nullptr) {
    return MakeError(errc::kBadKey, "cannot read the certificate's public key: " + detail::TakeOpenSslReason());
  }
  return AsymmetricKey::Adopt(key, false);
}

std::string Certificate::Thumbprint() const { return Base64UrlEncode(Sha1(der_)); }

std::string Certificate::ThumbprintSha256() const { return Base64UrlEncode(Sha256(der_)); }

std::string Certificate::DerBase64() const { return Base64Encode(der_); }

}  // namespace gw::crypto
