#include "gw/service/TokenValidator.h"

#include <algorithm>

#include "gw/common/ErrorCatalog.h"
#include "gw/crypto/Errors.h"

namespace gw::service {

const std::vector<std::string>& TokenValidator::DefaultAlgorithms() {
  // What a public key or a JWKS can verify here; the key's type then picks one (Jws.h).
  static const std::vector<std::string> kDefault = {"RS256", "ES256"};
  return kDefault;
}

namespace {

// A token's "alg" as it may appear in a message: short, and only characters an algorithm name has.
std::string Printable(const std::string& alg) {
  const bool plain = !alg.empty() && alg.size() <= 16 && std::all_of(alg.begin(), alg.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  return plain ? "'" + alg + "'" : "(unprintable)";
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

Result<std::shared_ptr<const TokenValidator>> TokenValidator::Create(const config::ServerConfig& server,
                                                                     std::shared_ptr<http::IHttpClient> http) {
  if (server.disableJwtValidation || (server.jwtPublicKey.empty() && server.jwksUrl.empty())) {
    return std::shared_ptr<const TokenValidator>();
  }
  std::shared_ptr<TokenValidator> validator(new TokenValidator(server.name));
  // Only names the gateway verifies count (the parser warned about the others); "none" never does.
  for (const auto& alg : server.jwtAlgorithms) {
    const auto& known = DefaultAlgorithms();
    if (std::find(known.begin(), known.end(), alg) != known.end() &&
        std::find(validator->algorithms_.begin(), validator->algorithms_.end(), alg) == validator->algorithms_.end()) {
      validator->algorithms_.push_back(alg);
    }
  }
  if (server.jwtAlgorithms.empty()) validator->algorithms_ = DefaultAlgorithms();
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
  // The algorithm first: a token signed otherwise is refused before any key is looked at. A token
  // that does not decode gets the decoder's own error from VerifyJwt below.
  if (auto decoded = crypto::DecodeJwt(accessToken); decoded.Ok()) {
    const std::string& alg = decoded.Value().alg;
    if (std::find(algorithms_.begin(), algorithms_.end(), alg) == algorithms_.end()) {
      return CatalogError(codes::kValidationFailed,
                          "token for server '" + server_ + "' failed validation: " +
                              std::string(crypto::errc::kUnsupported) + ": algorithm " + Printable(alg) +
                              " is not accepted (JWTAlgorithms: " +
                              (algorithms_.empty() ? std::string("none usable") : Join(algorithms_)) + ")");
    }
  }
  const Result<crypto::DecodedJwt> verified = publicKey_ ? crypto::VerifyJwt(accessToken, *publicKey_, checks_)
                                                         : jwks_->Verify(accessToken, checks_);
  if (verified.Ok()) return Status::Success();
  return CatalogError(codes::kValidationFailed,
                      "token for server '" + server_ + "' failed validation: " + verified.GetError().ToString());
}

}  // namespace gw::service
