#include "gw/token/TokenManager.h"

#include "KeySlot.h"
#include "ManagerCore.h"
#include "gw/token/TokenErrors.h"

namespace gw::token {

namespace {
Error UnknownKey(std::string_view what, std::string_view name) {
  return MakeTokenError(codes::kUnknownKey, "unknown " + std::string(what) + " '" + std::string(name) + "'");
}
}  // namespace

TokenManager::TokenManager(TokenManagerOptions options)
    : core_(std::make_shared<detail::ManagerCore>(std::move(options))) {
  core_->Start();
}

TokenManager::~TokenManager() { Stop(); }

void TokenManager::Stop() { core_->Stop(); }

TokenHandle TokenManager::Register(const std::string& key, std::shared_ptr<ITokenSource> source, KeyOptions options) {
  return TokenHandle(core_->Register(key, std::move(source), std::move(options)));
}

bool TokenManager::Remove(std::string_view key) { return core_->Remove(key); }

Result<TokenHandle> TokenManager::Find(std::string_view key) const {
  auto slot = core_->Find(key);
  if (!slot) return UnknownKey("token key", key);
  return TokenHandle(std::move(slot));
}

Result<TokenHandle> TokenManager::FindServer(std::string_view server) const {
  auto slot = core_->FindServer(server);
  if (!slot) return UnknownKey("server", server);
  return TokenHandle(std::move(slot));
}

Result<std::shared_ptr<const TokenRecord>> TokenManager::Get(std::string_view key, std::chrono::milliseconds minRemaining,
                                                             std::chrono::milliseconds maxWait) const {
  Result<TokenHandle> handle = Find(key);
  if (!handle.Ok()) return handle.GetError();
  return handle.Value().Get(minRemaining, maxWait);
}

Status TokenManager::Invalidate(std::string_view key) const {
  Result<TokenHandle> handle = Find(key);
  if (!handle.Ok()) return handle.GetError();
  handle.Value().Invalidate();
  return Status::Success();
}

std::vector<TokenState> TokenManager::States() const {
  std::vector<TokenState> out;
  for (const auto& slot : core_->Slots()) out.push_back(slot->State());
  return out;
}

MetricsRegistry& TokenManager::Metrics() const { return core_->Metrics(); }

bool TokenManager::WaitIdle(std::chrono::milliseconds realTimeout) const { return core_->WaitIdle(realTimeout); }

uint64_t TokenManager::ExtraFetchThreadsStarted() const { return core_->ExtraThreadsStarted(); }

}  // namespace gw::token
