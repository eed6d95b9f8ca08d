#pragma once
// Internal to core/src/crypto: RAII owners for OpenSSL objects and error-queue handling.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace gw::crypto::detail {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(X509* p) const { X509_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

// Reason of the most recent OpenSSL error on this thread (library reason text only: never data),
// and clears the thread's error queue so that a stale entry cannot confuse a later caller (libcurl
// inspects the same queue).
inline std::string TakeOpenSslReason() {
  unsigned long last = 0;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

inline void ClearOpenSslErrors() { ERR_clear_error(); }

// A read-only memory BIO over `data` (which must outlive the BIO).
inline Owned<BIO> MemoryBio(std::string_view data) {
  return Owned<BIO>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace gw::crypto::detail
