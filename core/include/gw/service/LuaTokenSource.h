#pragma once
// The token source of a configured server: runs its provider script's `acquire(ctx)` through the
// script engine and turns the returned table into a TokenRecord. When the configuration asks for it
// (JWTPublicKey or JWKSUrl, with JWTAudience / JWTIssuer), the acquired token is verified before it
// is cached; a token that fails is never used (TOK-005).
//
// Script result: {access_token=, token_type=, expires_in= | expires_on=, refresh_in=, scope=}.
// Errors keep the script's code (AUTH-xxx, NET-xxx, TOK-004, CFG-xxx, LUA-xxx).
// Thread safety: the token manager calls Fetch() for one key from one thread at a time.
#include <memory>
#include <string>

#include "gw/config/GatewayConfig.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/JwksCache.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/token/IClock.h"
#include "gw/token/ITokenSource.h"

namespace gw::service {

class LuaTokenSource : public token::ITokenSource {
 public:
  // `engine` must outlive the source. Fails with CFG-002 when JWTPublicKey is not a usable key.
  static Result<std::unique_ptr<LuaTokenSource>> Create(lua::ScriptEngine& engine,
                                                        const config::ServerConfig& server,
                                                        std::string provider,
                                                        std::shared_ptr<token::IClock> clock,
                                                        std::shared_ptr<http::IHttpClient> http);

  Result<token::TokenRecord> Fetch(token::SteadyTime deadline) override;

 private:
  LuaTokenSource(lua::ScriptEngine& engine, const config::ServerConfig& server, std::string provider,
                 std::shared_ptr<token::IClock> clock);
  Status Validate(const std::string& accessToken) const;

  lua::ScriptEngine& engine_;
  std::string server_;
  std::string provider_;
  std::string endpointHost_;  // for display only
  std::shared_ptr<const rapidjson::Document> config_;
  std::shared_ptr<token::IClock> clock_;
  std::optional<crypto::AsymmetricKey> publicKey_;
  std::unique_ptr<crypto::JwksCache> jwks_;
  crypto::ClaimChecks checks_;
};

}  // namespace gw::service
