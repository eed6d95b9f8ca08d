#include "gw/service/RateGate.h"

#include <algorithm>

#include "gw/config/GatewayConfig.h"
#include "gw/proxy/StatusMap.h"

namespace gw::service {

RateGate::RateGate(size_t maxPasses, Clock::duration window)
    : maxPasses_(maxPasses), window_(window), fixedKeys_(false) {}

RateGate::RateGate(size_t maxPasses, Clock::duration window, const std::vector<std::string>& keys)
    : maxPasses_(maxPasses), window_(window), fixedKeys_(true) {
  for (const auto& key : keys) slots_.emplace(key, std::make_unique<Slot>());
}

RateGate::Slot* RateGate::Find(const std::string& key) {
  if (fixedKeys_) {
    // Built once and never changed: no lock.
    const auto it = slots_.find(key);
    return it == slots_.end() ? nullptr : it->second.get();
  }
  {
    std::shared_lock<std::shared_mutex> lock(slotsMutex_);
    const auto it = slots_.find(key);
    if (it != slots_.end()) return it->second.get();
  }
  std::unique_lock<std::shared_mutex> lock(slotsMutex_);
  auto& slot = slots_[key];
  if (!slot) slot = std::make_unique<Slot>();
  return slot.get();
}

std::chrono::seconds RateGate::TryPass(const std::string& key, Clock::time_point now) {
  Slot* slot = Find(key);
  if (slot == nullptr) return std::chrono::seconds(0);
  std::lock_guard<std::mutex> lock(slot->mutex);
  auto& passes = slot->passes;
  while (!passes.empty() && passes.front() + window_ <= now) passes.pop_front();
  if (passes.size() < maxPasses_) {
    passes.push_back(now);
    return std::chrono::seconds(0);
  }
  // Rounded up: a Retry-After that is too short would only be refused again.
  const auto wait = passes.front() + window_ - now;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(wait);
  return seconds < wait ? seconds + std::chrono::seconds(1) : std::max(seconds, std::chrono::seconds(1));
}

const char* ServerRateLimiter::ToString(Stage stage) { return stage == Stage::Client ? "client" : "upstream"; }

namespace {
std::vector<std::string> ServerNames(const config::GatewayConfig& config) {
  std::vector<std::string> names;
  for (const auto& [name, server] : config.servers) names.push_back(name);
  return names;
}
}  // namespace

ServerRateLimiter::ServerRateLimiter(size_t requests, std::chrono::seconds window, Stage stage,
                                     const std::vector<std::string>& servers)
    : stage_(stage), gate_(requests, window, servers) {}

std::unique_ptr<ServerRateLimiter> ServerRateLimiter::Create(const config::GatewayConfig& config, Stage stage,
                                                             MetricsRegistry* metrics) {
  if (config.global.rateLimitRequests <= 0) return nullptr;
  const std::vector<std::string> names = ServerNames(config);
  std::unique_ptr<ServerRateLimiter> limiter(
      new ServerRateLimiter(static_cast<size_t>(config.global.rateLimitRequests),
                            std::chrono::seconds(config.global.rateLimitWindowSeconds), stage, names));
  for (const auto& name : names) {
    Count& count = limiter->counts_[name];
    if (metrics) {
      count.metric = &metrics->GetCounter(
          "dicomweb_oauth_rate_limited_total",
          "Requests refused because the server's RateLimitRequests per RateLimitWindowSeconds was used up "
          "(stage client: DICOMweb client calls; upstream: requests the proxy route would have sent)",
          {{"server", name}, {"stage", ToString(stage)}});
    }
  }
  return limiter;
}

std::optional<ServerRateLimiter::Refusal> ServerRateLimiter::TryPass(const std::string& server,
                                                                     RateGate::Clock::time_point now) {
  const std::chrono::seconds wait = gate_.TryPass(server, now);
  if (wait.count() == 0) return std::nullopt;
  if (const auto it = counts_.find(server); it != counts_.end()) {
    it->second.refused->fetch_add(1, std::memory_order_relaxed);
    if (it->second.metric) it->second.metric->Inc();
  }
  const auto window = std::chrono::duration_cast<std::chrono::seconds>(gate_.Window()).count();
  Error error = MakeError(kCode,
                          "server '" + server + "' has used its " + std::to_string(gate_.MaxPasses()) +
                              " requests of the last " + std::to_string(window) + " s (RateLimitRequests, " +
                              ToString(stage_) + " stage): retry in " + std::to_string(wait.count()) + " s",
                          // 429 where Orthanc can send it; Orthanc 1.10.1 cannot (StatusMap.h): 503.
                          proxy::RepresentableStatus(429));
  return Refusal{std::move(error), wait};
}

uint64_t ServerRateLimiter::Refused(const std::string& server) const {
  const auto it = counts_.find(server);
  return it == counts_.end() ? 0 : it->second.refused->load(std::memory_order_relaxed);
}

}  // namespace gw::service
