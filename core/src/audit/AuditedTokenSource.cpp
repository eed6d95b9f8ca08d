#include "gw/audit/AuditedTokenSource.h"

namespace gw::audit {

AuditedTokenSource::AuditedTokenSource(std::shared_ptr<token::ITokenSource> inner, std::shared_ptr<IAuditSink> sink,
                                       std::string provider, std::function<std::vector<std::string>()> servers,
                                       std::shared_ptr<token::IClock> clock)
    : inner_(std::move(inner)),
      sink_(std::move(sink)),
      provider_(std::move(provider)),
      servers_(std::move(servers)),
      clock_(std::move(clock)) {}

Result<token::TokenRecord> AuditedTokenSource::Fetch(token::SteadyTime deadline) {
  const auto started = clock_->SteadyNow();
  auto result = inner_->Fetch(deadline);
  const std::vector<std::string> servers = servers_();
  AuditEvent event(result.Ok() ? "token.acquired" : "token.failed", servers.empty() ? "" : servers.front());
  event.Set("provider", provider_);
  event.Set("servers", servers);
  event.Set("elapsedMs",
            static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_->SteadyNow() - started).count()));
  if (result.Ok()) {
    const token::TokenRecord& r = result.Value();
    event.Set("tokenType", r.tokenType);
    event.Set("expiresInSeconds",
              static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(r.expiresAt - clock_->SteadyNow()).count()));
    event.Set("scopes", r.scopes);
  } else {
    event.Set("code", result.GetError().code);
    event.Set("message", result.GetError().message);
  }
  sink_->Record(std::move(event));
  return result;
}

}  // namespace gw::audit
