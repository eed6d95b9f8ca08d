#include "lua/EngineServices.h"

#include <algorithm>

namespace gw::lua {

EngineServices::EngineServices(EngineOptions options) : options_(std::move(options)) {}

bool EngineServices::EnvAllowed(std::string_view name) const {
  return std::find(options_.envAllowlist.begin(), options_.envAllowlist.end(), name) !=
         options_.envAllowlist.end();
}

bool EngineServices::FirstEnvRefusal(std::string_view name) {
  name = name.substr(0, kMaxNameLength);  // bounded memory whatever a script asks for
  std::lock_guard<std::mutex> lock(mutex_);
  if (refusedEnv_.find(name) != refusedEnv_.end()) return false;
  if (refusedEnv_.size() >= kMaxRemembered) return false;
  refusedEnv_.emplace(name);
  return true;
}

}  // namespace gw::lua
