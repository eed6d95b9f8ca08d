#pragma once
// The token source of a configured server: runs its provider script's `acquire(ctx)` through the
// script engine and turns the returned table into a TokenRecord. When the configuration asks for it
// (JWTPublicKey or JWKSUrl, with JWTAudience / JWTIssuer), the acquired token is verified before it
// is cached; a token that fails is never used (TOK-005). The same check is offered to the shared
// cache level through Validator().
//
// Script result: {access_token=, token_type=, expires_in= | expires_on=, refresh_in=, scope=}.
// Errors keep the script's code (AUTH-xxx, NET-xxx, TOK-004, CFG-xxx, LUA-xxx).
// Thread safety: the token manager calls Fetch() for one key from one thread at a time.
#include <memory>
#include <string>

#include "gw/config/GatewayConfig.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/service/TokenValidator.h"
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

  // The check applied to each acquired token; null when the server configures none.
  const std::shared_ptr<const TokenValidator>& Validator() const { return validator_; }

 private:
  LuaTokenSource(lua::ScriptEngine& engine, const config::ServerConfig& server, std::string provider,
                 std::shared_ptr<token::IClock> clock);

  lua::ScriptEngine& engine_;
  std::string server_;
  std::string provider_;
  std::string endpointHost_;  // for display only
  std::shared_ptr<const rapidjson::Document> config_;
  std::shared_ptr<token::IClock> clock_;
  std::shared_ptr<const TokenValidator> validator_;
};

}  // namespace gw::service
