#include "gw/service/LuaTokenSource.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "gw/config/HttpUrl.h"

namespace gw::service {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Seconds from a number or a numeric string (some IdPs send "3599").
std::optional<double> Seconds(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return std::nullopt;
  if (it->value.IsNumber()) return it->value.GetDouble();
  if (it->value.IsString()) {
    char* end = nullptr;
    const char* s = it->value.GetString();
    double v = std::strtod(s, &end);
    if (end != s && *end == '\0') return v;
  }
  return std::nullopt;
}

// A lifetime an IdP may claim, at most: beyond it the token is refreshed anyway. An unbounded value
// (expires_in 1e12, from a hostile or broken IdP) overflowed the nanosecond clock arithmetic.
constexpr double kMaxLifetimeSeconds = 366.0 * 24 * 3600;

std::chrono::duration<double> Lifetime(double seconds) {
  return std::chrono::duration<double>(std::min(seconds, kMaxLifetimeSeconds));
}

std::vector<std::string> SplitScopes(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string s; in >> s;) out.push_back(s);
  return out;
}

}  // namespace

LuaTokenSource::LuaTokenSource(lua::ScriptEngine& engine, const config::ServerConfig& server,
                               std::string provider, std::shared_ptr<token::IClock> clock)
    : engine_(engine), server_(server.name), provider_(std::move(provider)), config_(server.raw),
      clock_(std::move(clock)) {
  if (auto url = config::ParseHttpUrl(server.tokenEndpoint)) endpointHost_ = url->host;
}

Result<std::unique_ptr<LuaTokenSource>> LuaTokenSource::Create(lua::ScriptEngine& engine,
                                                               const config::ServerConfig& server,
                                                               std::string provider,
                                                               std::shared_ptr<token::IClock> clock,
                                                               std::shared_ptr<http::IHttpClient> http) {
  std::unique_ptr<LuaTokenSource> source(new LuaTokenSource(engine, server, std::move(provider), std::move(clock)));
  auto validator = TokenValidator::Create(server, std::move(http));
  if (!validator.Ok()) return validator.GetError();
  source->validator_ = std::move(validator).Value();
  return source;
}

Result<token::TokenRecord> LuaTokenSource::Fetch(token::SteadyTime deadline) {
  const auto now = clock_->SteadyNow();
  if (deadline <= now) return MakeError("TOK-007", "no time left to acquire a token for '" + server_ + "'", 503);
  const auto budget = std::max(milliseconds(1), duration_cast<milliseconds>(deadline - now));

  rapidjson::Document arg(rapidjson::kObjectType);
  auto& a = arg.GetAllocator();
  arg.AddMember("server", rapidjson::Value(server_.c_str(), a), a);
  rapidjson::Value config;
  if (config_) config.CopyFrom(*config_, a);
  else config.SetObject();
  arg.AddMember("config", config, a);

  auto called = engine_.Call(provider_, "acquire", arg, budget, server_);
  if (!called.Ok()) return called.GetError();
  const rapidjson::Document& out = called.Value();
  if (!out.IsObject()) return MakeError("TOK-004", "provider '" + provider_ + "' returned no token table", 502);

  auto tok = out.FindMember("access_token");
  if (tok == out.MemberEnd() || !tok->value.IsString() || tok->value.GetStringLength() == 0) {
    return MakeError("TOK-004", "provider '" + provider_ + "' returned no access_token", 502);
  }
  token::TokenRecord record;
  record.accessToken.assign(tok->value.GetString(), tok->value.GetStringLength());
  record.provider = provider_;

  const auto fetchedAt = clock_->SteadyNow();
  if (auto expiresIn = Seconds(out, "expires_in"); expiresIn && std::isfinite(*expiresIn) && *expiresIn > 0) {
    record.expiresAt = fetchedAt + duration_cast<token::SteadyTime::duration>(Lifetime(*expiresIn));
  } else if (auto expiresOn = Seconds(out, "expires_on"); expiresOn && std::isfinite(*expiresOn)) {
    // Seconds since the epoch, read as the lifetime left (bounded like expires_in).
    const double now = std::chrono::duration<double>(clock_->SystemNow().time_since_epoch()).count();
    const double left = std::max(*expiresOn - now, -1.0);
    record.expiresAt = fetchedAt + duration_cast<token::SteadyTime::duration>(Lifetime(left));
  } else {
    return MakeError("TOK-004", "provider '" + provider_ + "' returned a token without expires_in/expires_on", 502);
  }
  if (record.expiresAt <= fetchedAt) {
    return MakeError("TOK-004", "provider '" + provider_ + "' returned a token that is already expired", 502);
  }
  if (auto refreshIn = Seconds(out, "refresh_in"); refreshIn && std::isfinite(*refreshIn) && *refreshIn > 0) {
    record.refreshAt = fetchedAt + duration_cast<token::SteadyTime::duration>(Lifetime(*refreshIn));
  }
  if (auto type = out.FindMember("token_type"); type != out.MemberEnd() && type->value.IsString()) {
    record.tokenType = type->value.GetString();
  }
  if (auto scope = out.FindMember("scope"); scope != out.MemberEnd() && scope->value.IsString()) {
    record.scopes = SplitScopes(scope->value.GetString());
  }
  if (!endpointHost_.empty()) record.metadata["tokenEndpointHost"] = endpointHost_;

  if (validator_) {
    if (Status valid = validator_->Check(record.accessToken); !valid.Ok()) return valid.GetError();
  }
  return record;
}

}  // namespace gw::service
