#pragma once
// ITokenSource decorator that records the outcome of every acquisition (after retries and the
// circuit breaker, i.e. what the token engine sees) as token.acquired / token.failed events.
// The token itself never goes into the event: provider, token type, lifetime and scopes for a
// success; the error code and its (secret-free) message for a failure.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gw/audit/IAuditSink.h"
#include "gw/token/IClock.h"
#include "gw/token/ITokenSource.h"

namespace gw::audit {

class AuditedTokenSource final : public token::ITokenSource {
 public:
  // `servers` lists the servers sharing this token (called at each event: the list may grow
  // while servers register). `sink` may have no target yet.
  AuditedTokenSource(std::shared_ptr<token::ITokenSource> inner, std::shared_ptr<IAuditSink> sink,
                     std::string provider, std::function<std::vector<std::string>()> servers,
                     std::shared_ptr<token::IClock> clock);

  Result<token::TokenRecord> Fetch(token::SteadyTime deadline) override;
  void Invalidated() override { inner_->Invalidated(); }
  void CachedTokenChanged(token::SteadyTime usableUntil) override { inner_->CachedTokenChanged(usableUntil); }
  void Cancel() override { inner_->Cancel(); }

 private:
  const std::shared_ptr<token::ITokenSource> inner_;
  const std::shared_ptr<IAuditSink> sink_;
  const std::string provider_;
  const std::function<std::vector<std::string>()> servers_;
  const std::shared_ptr<token::IClock> clock_;
};

}  // namespace gw::audit
