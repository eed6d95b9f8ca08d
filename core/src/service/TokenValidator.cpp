#include "gw/service/TokenValidator.h"

namespace gw::service {

Result<std::shared_ptr<const TokenValidator>> TokenValidator::Create(const config::ServerConfig& server,
                                                                     std::shared_ptr<http::IHttpClient> http) {
  if (server.disableJwtValidation || (server.jwtPublicKey.empty() && server.jwksUrl.empty())) {
    return std::shared_ptr<const TokenValidator>();
  }
  std::shared_ptr<TokenValidator> validator(new TokenValidator(server.name));
  validator->checks_.issuer = server.jwtIssuer;
  if (!server.jwtAudience.empty()) validator->checks_.audiences = {server.jwtAudience};
  if (!server.jwtPublicKey.empty()) {
    auto key = crypto::AsymmetricKey::FromPublicPem(server.jwtPublicKey);
    if (!key.Ok()) {
      return MakeError("CFG-002", "DicomWebOAuth.Servers." + server.name +
                                      ".JWTPublicKey: not a usable public key (" + key.GetError().code + ")");
    }
    validator->publicKey_ = std::move(key).Value();
  } else {
    crypto::JwksCacheOptions options;
    options.url = server.jwksUrl;
    options.tls.verifyPeer = server.verifySsl;
    options.tls.caBundle = server.caBundle;
    validator->jwks_ = std::make_unique<crypto::JwksCache>(std::move(http), options);
  }
  return std::shared_ptr<const TokenValidator>(std::move(validator));
}

Status TokenValidator::Check(const std::string& accessToken) const {
  const Result<crypto::DecodedJwt> verified = publicKey_ ? crypto::VerifyJwt(accessToken, *publicKey_, checks_)
                                                         : jwks_->Verify(accessToken, checks_);
  if (verified.Ok()) return Status::Success();
  return MakeError("TOK-005", "token for server '" + server_ + "' failed validation: " +
                                  verified.GetError().ToString(), 503);
}

}  // namespace gw::service
