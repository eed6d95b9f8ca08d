#pragma once
// One immutable generation of the scripts: their stored text, their checked contracts and the pool
// of states that run them. Published by ScriptEngine through a shared_ptr; a call keeps the
// snapshot it started with alive until it ends, so a reload never disturbs calls in flight.
// Thread safe after construction (only the pool changes, and it locks itself).
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "gw/lua/ScriptEngine.h"
#include "lua/ScriptSource.h"
#include "lua/StatePool.h"

namespace gw::lua {

class EngineServices;

class Snapshot {
 public:
  // Compiles and checks `sources` in a throwaway state (running self_test functions). Does not
  // create any pooled state. `info.version` is 0 until Publish().
  static Result<std::shared_ptr<Snapshot>> Build(std::vector<ScriptSource> sources, std::string digest,
                                                 std::shared_ptr<EngineServices> services);

  Snapshot(std::vector<ScriptSource> sources, std::vector<ScriptMeta> scripts, SnapshotInfo info,
           std::shared_ptr<EngineServices> services);
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  const SnapshotInfo& Info() const { return info_; }
  // Stamps version and time; only before the snapshot is shared.
  void MarkPublished(uint64_t version, int64_t unixMs);

  std::optional<size_t> FindScript(std::string_view name) const;
  // None for a library: its functions are for other scripts (gw.library), not for the gateway.
  std::optional<size_t> FindFunction(size_t script, std::string_view function) const;

  // Leases a state (creating it if needed, within the pool cap) and runs the function. `hint`: the
  // caller's affinity hint in this snapshot's pool (StatePool::Acquire), or null.
  Status Call(size_t script, size_t function, const Argument& arg, std::chrono::steady_clock::time_point deadline,
              rapidjson::Document& result, StatePool::Slot** hint = nullptr);

  // Creates one pooled state now, so the first call after a reload does not pay for compiling.
  Status Prewarm();
  // Leases a state and gives it back (the health probe): LUA-004 when none comes before `deadline`.
  Status Lease(std::chrono::steady_clock::time_point deadline);

  StatePool::Stats PoolStats() const { return pool_.GetStats(); }

 private:
  const std::vector<ScriptSource> sources_;
  std::vector<ScriptMeta> scripts_;
  SnapshotInfo info_;
  std::shared_ptr<EngineServices> services_;
  std::map<std::string, size_t, std::less<>> byName_;
  StatePool pool_;
};

}  // namespace gw::lua
