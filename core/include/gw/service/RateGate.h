#pragma once
// At most `maxPasses` passes per key in any sliding `window`: what bounds the forced token fetches
// of the test route (POST /dicomweb-oauth/servers/{name}/test). Without it any Orthanc user could
// make the gateway call the identity provider as often as they like. Thread safe.
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace gw::service {

class RateGate {
 public:
  using Clock = std::chrono::steady_clock;

  RateGate(size_t maxPasses, Clock::duration window) : maxPasses_(maxPasses), window_(window) {}

  // Zero when `key` may pass now (the pass is counted); otherwise the whole seconds (at least 1)
  // until it may, for a Retry-After header. Callers pass only configured names: keys are bounded.
  std::chrono::seconds TryPass(const std::string& key, Clock::time_point now = Clock::now());

 private:
  const size_t maxPasses_;
  const Clock::duration window_;
  std::mutex mutex_;
  std::map<std::string, std::deque<Clock::time_point>> passes_;  // per key, oldest first, within window_
};

}  // namespace gw::service
