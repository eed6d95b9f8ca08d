#pragma once
// What the bindings need from the engine, shared by every state of every snapshot: the options
// (allowlists, HTTP client) and the memory of which refused environment names were already logged.
// Thread safe; lives as long as the engine or the last state that uses it (shared_ptr).
#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "gw/lua/ScriptEngine.h"

namespace gw::lua {

class EngineServices {
 public:
  explicit EngineServices(EngineOptions options);

  const EngineOptions& Options() const { return options_; }

  bool EnvAllowed(std::string_view name) const;

  // True the first time `name` is refused (the caller logs a warning then). After kMaxRemembered
  // distinct names nothing more is remembered or logged, so a script cannot grow this set forever.
  bool FirstEnvRefusal(std::string_view name);

  static constexpr size_t kMaxRemembered = 256;
  static constexpr size_t kMaxNameLength = 128;  // longer names are remembered by their prefix

 private:
  EngineOptions options_;
  std::mutex mutex_;
  std::set<std::string, std::less<>> refusedEnv_;
};

}  // namespace gw::lua
