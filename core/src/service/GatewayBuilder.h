#pragma once
// How a Gateway is put together (Gateway::Create): provider contracts applied to a configuration
// parsed without them, the script engine and the validator every snapshot must pass, the routing
// policies, and per server its token chain (Lua source -> retries -> audit -> shared Redis level
// -> token manager) or its signing provider.
#include <functional>
#include <memory>
#include <string>

#include "gw/common/Error.h"
#include "gw/config/GatewayConfig.h"
#include "gw/http/IHttpClient.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/service/Gateway.h"
#include "gw/token/TokenManager.h"

namespace gw::service {

// The settings that select an identity: everything in the server object except what only concerns
// the data path, so two servers with the same identity share one token (canonical JSON; empty
// without a server object).
std::string TokenIdentity(const config::ServerConfig& server);

// What every snapshot must pass before it serves `config` (EngineOptions::validator): each server's
// provider script is there, the scripts' schemas still accept the configuration, the policies and
// audit rules the configuration names exist. The first problem is the error (422).
std::function<gw::Status(const lua::SnapshotInfo&)> SnapshotValidatorFor(const config::GatewayConfig& config);

class GatewayBuilder {
 public:
  static Result<std::unique_ptr<Gateway>> Build(config::GatewayConfig config,
                                                const std::shared_ptr<http::IHttpClient>& httpClient,
                                                std::shared_ptr<token::IClock> clock);

 private:
  // A configuration parsed without the provider contracts gets them from the scripts here.
  static gw::Status ApplyContracts(config::GatewayConfig& config);
  static gw::Status WireTokens(Gateway& gateway, const std::shared_ptr<http::IHttpClient>& http,
                               std::shared_ptr<token::IClock> clock);
};

}  // namespace gw::service
