#pragma once
// An RSA (>= 2048 bits) or EC P-256 key loaded from PEM or from a JWK, public or private. Those are
// the key types behind RS256 and ES256; every other type is refused at load time with CRY-005 and
// RSA keys under 2048 bits with CRY-001 (RFC 7518 section 3.3), so a loaded key is always usable.
//
// The key is immutable after loading; copies share it and may be used by several threads at once
// (each operation uses its own OpenSSL context). Key material never appears in error messages.
#include <memory>
#include <string>
#include <string_view>

#include "gw/common/Error.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace gw::crypto {

enum class KeyType { Rsa, EcP256 };

const char* ToString(KeyType type);

class AsymmetricKey {
 public:
  // Private key in any of: "PRIVATE KEY" (PKCS#8), "ENCRYPTED PRIVATE KEY" (PKCS#8 with password),
  // "RSA PRIVATE KEY" (PKCS#1, optionally encrypted with a DEK-Info header), "EC PRIVATE KEY" (SEC1).
  // The first private-key block is used: a combined file with certificates before the key works.
  // `password` is used only for encrypted keys; an encrypted key without password or with a wrong
  // one is CRY-001. Never prompts on a terminal.
  static Result<AsymmetricKey> FromPrivatePem(std::string_view pem, std::string_view password = {});

  // Public key: "PUBLIC KEY" (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1).
  // For a certificate use Certificate::PublicKey().
  static Result<AsymmetricKey> FromPublicPem(std::string_view pem);

  // Takes ownership of an OpenSSL key (used by Certificate and the JWK import). Checks the type
  // and size rules above; frees the key on failure.
  static Result<AsymmetricKey> Adopt(evp_pkey_st* key, bool hasPrivate);

  KeyType Type() const { return type_; }
  bool HasPrivateKey() const { return hasPrivate_; }
  int Bits() const;

  // The public half as a "PUBLIC KEY" PEM (what an IdP needs to register a client key).
  std::string PublicPem() const;

  // Borrowed OpenSSL handle for the crypto module's own use; valid while this object lives.
  evp_pkey_st* Native() const { return key_.get(); }

 private:
  AsymmetricKey(std::shared_ptr<evp_pkey_st> key, KeyType type, bool hasPrivate)
      : key_(std::move(key)), type_(type), hasPrivate_(hasPrivate) {}

  std::shared_ptr<evp_pkey_st> key_;
  KeyType type_;
  bool hasPrivate_;
};

}  // namespace gw::crypto
