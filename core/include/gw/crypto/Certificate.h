#pragma once
// An X.509 certificate loaded from PEM: its public key (to verify tokens signed by the matching
// private key) and its thumbprints for the JOSE "x5t" / "x5t#S256" header parameters (RFC 7515
// sections 4.1.7 and 4.1.8), which Entra ID requires in client assertions signed with a certificate.
// Immutable; copies share the parsed certificate; thread safe.
#include <memory>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/crypto/AsymmetricKey.h"

namespace gw::crypto {

class Certificate {
 public:
  // The first "CERTIFICATE" block of `pem` (a chain file is accepted; the leaf must come first).
  // CRY-001 when there is none or it does not parse.
  static Result<Certificate> FromPem(std::string_view pem);

  // CRY-005 if the certificate's key is not RSA >= 2048 or EC P-256.
  Result<AsymmetricKey> PublicKey() const;

  // DER encoding of the certificate.
  const std::string& Der() const { return der_; }
  // base64url(SHA-1(DER)), the "x5t" value.
  std::string Thumbprint() const;
  // base64url(SHA-256(DER)), the "x5t#S256" value.
  std::string ThumbprintSha256() const;
  // base64(DER), an "x5c" array element.
  std::string DerBase64() const;

 private:
  explicit Certificate(std::string der) : der_(std::move(der)) {}
  std::string der_;
};

}  // namespace gw::crypto
