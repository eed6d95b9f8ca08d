#pragma once
// The access-token check a server's configuration asks for: a JWT verified with JWTPublicKey (PEM)
// or the keys at JWKSUrl, signed with one of JWTAlgorithms (default: RS256 and ES256, the
// algorithms the gateway verifies; never "none", never HMAC with a public key), with JWTAudience /
// JWTIssuer and the expiry checked. Used on every token
// acquired from the provider (LuaTokenSource) and on every token taken from or put into the shared
// (Redis) cache (SharedCacheOptions::validator), so a token that fails is never cached, shared or
// sent.
//
// Thread safe (JwksCache is).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gw/common/Error.h"
#include "gw/config/GatewayConfig.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/JwksCache.h"
#include "gw/crypto/Jwt.h"
#include "gw/http/IHttpClient.h"

namespace gw::service {

class TokenValidator {
 public:
  // Null when the server asks for no check (neither JWTPublicKey nor JWKSUrl, or
  // DisableJWTValidation). CFG-002 when JWTPublicKey is not a usable public key.
  static Result<std::shared_ptr<const TokenValidator>> Create(const config::ServerConfig& server,
                                                              std::shared_ptr<http::IHttpClient> http);

  // TOK-005 (502, the catalog's status) naming the server and the failed check (CRY-xxx; CRY-005 for an algorithm not in
  // JWTAlgorithms, refused before any signature work); never the token.
  Status Check(const std::string& accessToken) const;

  // What JWTAlgorithms allows: the listed algorithms the gateway can verify, or the default.
  const std::vector<std::string>& Algorithms() const { return algorithms_; }
  static const std::vector<std::string>& DefaultAlgorithms();  // {"RS256", "ES256"}

 private:
  explicit TokenValidator(std::string server) : server_(std::move(server)) {}

  std::string server_;
  std::optional<crypto::AsymmetricKey> publicKey_;
  std::unique_ptr<crypto::JwksCache> jwks_;
  crypto::ClaimChecks checks_;
  std::vector<std::string> algorithms_;
};

}  // namespace gw::service
