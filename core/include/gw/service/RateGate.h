#pragma once
// At most `maxPasses` passes per key in any sliding `window` (an exact sliding log, as the Python
// plugin's limiter): what bounds the forced token fetches of the test route (POST
// /dicomweb-oauth/servers/{name}/test) and each server's RateLimitRequests per
// RateLimitWindowSeconds (ServerRateLimiter below, docs/operations.md#rate-limits).
//
// Cost: every key has its own mutex, so keys never contend with each other. Built with a fixed key
// set (the configured servers), looking a key up takes no lock at all; otherwise new keys are
// added under a shared lock taken exclusively only on a key's first pass. Memory: one time point
// per pass still inside the window, so at most `maxPasses` per key. Thread safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "gw/common/Error.h"
#include "gw/common/Metrics.h"

namespace gw::config {
struct GatewayConfig;
}

namespace gw::service {

class RateGate {
 public:
  using Clock = std::chrono::steady_clock;

  // Any key may pass (keys are added on first use): callers pass only configured names.
  RateGate(size_t maxPasses, Clock::duration window);
  // Only `keys` are gated; any other key always passes (TryPass returns 0).
  RateGate(size_t maxPasses, Clock::duration window, const std::vector<std::string>& keys);

  // Zero when `key` may pass now (the pass is counted); otherwise the whole seconds (at least 1)
  // until it may, for a Retry-After header. A refusal takes no pass.
  std::chrono::seconds TryPass(const std::string& key, Clock::time_point now = Clock::now());

  size_t MaxPasses() const { return maxPasses_; }
  Clock::duration Window() const { return window_; }

 private:
  struct Slot {
    std::mutex mutex;
    std::deque<Clock::time_point> passes;  // oldest first, within window_
  };
  Slot* Find(const std::string& key);

  const size_t maxPasses_;
  const Clock::duration window_;
  const bool fixedKeys_;
  std::shared_mutex slotsMutex_;  // only when !fixedKeys_
  std::map<std::string, std::unique_ptr<Slot>, std::less<>> slots_;
};

// RateLimitRequests per RateLimitWindowSeconds for every server, at one stage
// (docs/operations.md#rate-limits): each server has its own budget, and each stage its own
// limiter, so a busy server never takes another's budget.
class ServerRateLimiter {
 public:
  enum class Stage {
    Client,   // DICOMweb client calls on the server, in the incoming filter (both modes)
    Upstream  // requests the proxy route sends to the server's upstream (proxy mode)
  };
  static const char* ToString(Stage stage);  // "client" | "upstream"

  // The code of a refusal (docs/proxy-mode.md#errors).
  static constexpr const char* kCode = "PXY-015";

  struct Refusal {
    Error error;                     // PXY-015, status 429 as Orthanc can send it (503, StatusMap.h)
    std::chrono::seconds retryAfter;  // >= 1, for the Retry-After header
  };

  // Null when the configuration sets no limit (RateLimitRequests 0, the default). `metrics`
  // (may be null) gets dicomweb_oauth_rate_limited_total{server,stage}, one series per server
  // resolved here, so a refusal counts without touching the registry.
  static std::unique_ptr<ServerRateLimiter> Create(const config::GatewayConfig& config, Stage stage,
                                                   MetricsRegistry* metrics);

  // Nothing when `server` may go on (the request is counted); the refusal otherwise. Servers that
  // are not configured are not limited (their callers answer them otherwise).
  std::optional<Refusal> TryPass(const std::string& server, RateGate::Clock::time_point now = RateGate::Clock::now());

  uint64_t Refused(const std::string& server) const;

 private:
  ServerRateLimiter(size_t requests, std::chrono::seconds window, Stage stage, const std::vector<std::string>& servers);

  const Stage stage_;
  RateGate gate_;
  // Per server: refusals (for Refused()) and its metric series (null without a registry).
  struct Count {
    std::unique_ptr<std::atomic<uint64_t>> refused = std::make_unique<std::atomic<uint64_t>>(0);
    Counter* metric = nullptr;
  };
  std::map<std::string, Count, std::less<>> counts_;
};

}  // namespace gw::service
