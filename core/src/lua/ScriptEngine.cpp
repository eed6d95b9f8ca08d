#include "gw/lua/ScriptEngine.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <lua.hpp>

#include "gw/common/Log.h"
#include "lua/JsonBridge.h"
#include "lua/EngineServices.h"
#include "lua/Library.h"
#include "lua/ScriptLoader.h"
#include "lua/ScriptWatcher.h"
#include "lua/Snapshot.h"

namespace gw::lua {
namespace {

constexpr std::chrono::milliseconds kSettle{200};

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct ScriptEngine::Impl {
  std::unique_ptr<StateShares> shares;  // engine-wide: a call holds its share while it runs on any snapshot
  std::shared_ptr<EngineServices> services;
  std::shared_ptr<Snapshot> current;  // read and replaced only through std::atomic_load/atomic_store
  std::mutex reloadMutex;             // one reload at a time, so versions are consecutive
  uint64_t version = 0;               // guarded by reloadMutex
  std::mutex watcherMutex;
  std::unique_ptr<ScriptWatcher> watcher;  // guarded by watcherMutex

  std::shared_ptr<Snapshot> Current() const { return std::atomic_load(&current); }

  Result<SnapshotInfo> Reload(bool onlyIfChanged, bool& unchanged) {
    unchanged = false;
    std::lock_guard<std::mutex> lock(reloadMutex);
    Result<ScriptSet> set = ReadScripts(services->Options().scriptDirs);
    if (!set) return Refused(set.GetError());
    if (onlyIfChanged) {
      const std::shared_ptr<Snapshot> serving = Current();
      if (serving && serving->Info().digest == set.Value().digest) {
        unchanged = true;
        return serving->Info();
      }
    }
    Result<std::shared_ptr<Snapshot>> built =
        Snapshot::Build(std::move(set.Value().sources), std::move(set.Value().digest), services);
    if (!built) return Refused(built.GetError());
    std::shared_ptr<Snapshot> snapshot = built.Value();
    if (Status warm = snapshot->Prewarm(); !warm) return Refused(warm.GetError());
    if (const auto& validate = services->Options().validator) {
      // Runs under reloadMutex: a validator must not call Reload().
      if (Status accepted = validate(snapshot->Info()); !accepted) return Refused(accepted.GetError());
    }
    snapshot->MarkPublished(version + 1, NowUnixMs());
    ++version;
    std::atomic_store(&current, snapshot);
    LogInfo("Lua scripts published: version " + std::to_string(version) + ", " +
            std::to_string(snapshot->Info().scripts.size()) + " script(s), digest " + snapshot->Info().digest);
    return snapshot->Info();
  }

  Result<SnapshotInfo> Refused(const Error& error) {
    const std::shared_ptr<Snapshot> serving = Current();
    LogError("Lua reload refused, " +
             (serving ? "version " + std::to_string(serving->Info().version) + " keeps serving"
                      : std::string("no scripts are serving")) +
             ": " + error.ToString());
    return error;
  }
};

ScriptEngine::ScriptEngine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->shares = std::make_unique<StateShares>(options.maxStatesPerSnapshot, options.reservedStatesPerServer,
                                                options.servers);
  const size_t capacity = impl_->shares->Capacity();
  if (capacity > options.maxStatesPerSnapshot) {
    LogWarning("Lua pool raised from " + std::to_string(options.maxStatesPerSnapshot) + " to " +
               std::to_string(capacity) + " states, so that each of the " +
               std::to_string(impl_->shares->Buckets() - 1) + " server(s) and the gateway's own calls keep " +
               std::to_string(impl_->shares->Reserved()) + " state(s) of their own (LuaPoolSize, " +
               "LuaReservedStatesPerServer); states are created only when used");
  }
  // The pool's own cap stays the same as the shares' capacity: admitted calls never wait in it.
  options.maxStatesPerSnapshot = capacity;
  impl_->services = std::make_shared<EngineServices>(std::move(options));
}

ScriptEngine::~ScriptEngine() { StopWatching(); }

Result<SnapshotInfo> ScriptEngine::Reload() {
  bool unchanged = false;
  return impl_->Reload(false, unchanged);
}

Result<SnapshotInfo> ScriptEngine::Check() const {
  Result<ScriptSet> set = ReadScripts(impl_->services->Options().scriptDirs);
  if (!set) return set.GetError();
  Result<std::shared_ptr<Snapshot>> built =
      Snapshot::Build(std::move(set.Value().sources), std::move(set.Value().digest), impl_->services);
  if (!built) return built.GetError();
  return built.Value()->Info();
}

Result<SnapshotInfo> ScriptEngine::DryRun() const {
  // Not under reloadMutex: nothing is published, and the throwaway snapshot shares no state with
  // the serving one (its pool is closed when `built` goes).
  Result<ScriptSet> set = ReadScripts(impl_->services->Options().scriptDirs);
  if (!set) return set.GetError();
  Result<std::shared_ptr<Snapshot>> built =
      Snapshot::Build(std::move(set.Value().sources), std::move(set.Value().digest), impl_->services);
  if (!built) return built.GetError();
  if (Status warm = built.Value()->Prewarm(); !warm) return warm.GetError();
  if (const auto& validate = impl_->services->Options().validator) {
    if (Status accepted = validate(built.Value()->Info()); !accepted) return accepted.GetError();
  }
  return built.Value()->Info();
}

SnapshotInfo ScriptEngine::CurrentInfo() const {
  const std::shared_ptr<Snapshot> serving = impl_->Current();
  return serving ? serving->Info() : SnapshotInfo{};
}

Status ScriptEngine::Ping(std::chrono::milliseconds budget) const {
  const std::shared_ptr<Snapshot> serving = impl_->Current();
  if (!serving) return MakeError("LUA-007", "no Lua scripts are loaded");
  return serving->Lease(std::chrono::steady_clock::now() + budget);
}

bool ScriptEngine::HasScript(std::string_view script) const {
  const std::shared_ptr<Snapshot> serving = impl_->Current();
  return serving && serving->FindScript(script).has_value();
}

bool ScriptEngine::HasFunction(std::string_view script, std::string_view fn) const {
  const std::shared_ptr<Snapshot> serving = impl_->Current();
  if (!serving) return false;
  const auto index = serving->FindScript(script);
  return index && serving->FindFunction(*index, fn).has_value();
}

namespace {

class JsonArgument final : public Argument {
 public:
  explicit JsonArgument(const rapidjson::Value& value) : value_(value) {}
  void Push(lua_State* L) const override { PushJson(L, value_); }

 private:
  const rapidjson::Value& value_;
};

}  // namespace

Result<rapidjson::Document> ScriptEngine::Call(std::string_view script, std::string_view fn,
                                               const rapidjson::Value& arg, std::chrono::milliseconds budget,
                                               std::string_view server) {
  return Call(script, fn, JsonArgument(arg), budget, server);
}

Result<rapidjson::Document> ScriptEngine::Call(std::string_view script, std::string_view fn, const Argument& arg,
                                               std::chrono::milliseconds budget, std::string_view server) {
  rapidjson::Document result;
  if (Status called = Call(script, fn, arg, result, budget, server); !called) return called.GetError();
  return Result<rapidjson::Document>(std::move(result));
}

Status ScriptEngine::Call(std::string_view script, std::string_view fn, const Argument& arg,
                          rapidjson::Document& result, std::chrono::milliseconds budget, std::string_view server) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<Snapshot> serving = impl_->Current();  // kept for the whole call
  if (!serving) return MakeError("LUA-007", "no Lua scripts are loaded");
  const auto index = serving->FindScript(script);
  if (!index) return MakeError("LUA-007", "unknown Lua script '" + std::string(script) + "'");
  if (serving->Info().scripts[*index].kind == kLibraryKind) {
    return MakeError("LUA-007", "Lua script '" + std::string(script) +
                                    "' is a library: scripts use it through gw.library, the gateway never calls it");
  }
  const auto function = serving->FindFunction(*index, fn);
  if (!function) {
    return MakeError("LUA-007", "Lua script '" + std::string(script) + "' has no function '" + std::string(fn) + "'");
  }
  if (budget.count() <= 0) budget = impl_->services->Options().defaultBudget;
  budget = std::min(budget, std::chrono::milliseconds(std::chrono::hours(24)));  // no time_point overflow
  const auto deadline = start + budget;
  StateShares& shares = *impl_->shares;
  const size_t bucket = shares.BucketOf(server);
  if (!shares.Take(bucket, deadline)) {
    if (shares.Buckets() == 1) {  // no servers to isolate: the whole pool was busy
      return MakeError("LUA-004", "no Lua state became free within the call's time budget", 504);
    }
    const std::string who = bucket == shares.Buckets() - 1 ? std::string("calls made for no server")
                                                            : "server '" + std::string(server) + "'";
    return MakeError("LUA-012", "no Lua state free for " + who + " within " + std::to_string(budget.count()) +
                                    " ms: its share of the pool (" + std::to_string(shares.MaxPerBucket()) + " of " +
                                    std::to_string(shares.Capacity()) +
                                    " states at most, the rest kept for other servers) stayed in use",
                     503);
  }
  struct Share {
    StateShares& shares;
    size_t bucket;
    ~Share() { shares.Give(bucket); }
  } const held{shares, bucket};
  return serving->Call(*index, *function, arg, deadline, result);
}

void ScriptEngine::StartWatching(std::function<void(const Result<SnapshotInfo>&)> onReload) {
  std::lock_guard<std::mutex> lock(impl_->watcherMutex);
  if (impl_->watcher) return;
  Impl* impl = impl_.get();
  auto watcher = std::make_unique<ScriptWatcher>(
      impl->services->Options().scriptDirs, kSettle, [impl, onReload = std::move(onReload)]() {
        bool unchanged = false;
        Result<SnapshotInfo> outcome = impl->Reload(true, unchanged);
        if (!unchanged && onReload) onReload(outcome);
      });
  if (Status started = watcher->Start(); !started) {
    LogError("Lua script folders are not watched: " + started.GetError().ToString());
    return;
  }
  impl_->watcher = std::move(watcher);
}

void ScriptEngine::StopWatching() {
  std::unique_ptr<ScriptWatcher> watcher;
  {
    std::lock_guard<std::mutex> lock(impl_->watcherMutex);
    watcher = std::move(impl_->watcher);
  }
  watcher.reset();  // joins outside the lock
}

std::string ScriptEngine::LuaVersion() {
  static const std::string version = [] {
    std::string text = "unknown";
    lua_State* L = luaL_newstate();
    if (L == nullptr) return text;
    lua_pushcfunction(L, [](lua_State* S) -> int {
      luaL_requiref(S, "_G", luaopen_base, 0);  // stack: G
      lua_getfield(S, -1, "_VERSION");          // stack: G, version
      return 1;
    });
    if (lua_pcall(L, 0, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) text = lua_tostring(L, -1);
    lua_close(L);
    return text;
  }();
  return version;
}

ScriptEngine::PoolDebugInfo ScriptEngine::DebugPoolInfo() const {
  PoolDebugInfo info;
  const StateShares& shares = *impl_->shares;
  info.capacity = shares.Capacity();
  info.reservedPerServer = shares.Reserved();
  info.maxPerServer = shares.MaxPerBucket();
  for (size_t b = 0; b < shares.Buckets(); ++b) info.inUseByServer.emplace_back(shares.NameOf(b), shares.InUse(b));
  const std::shared_ptr<Snapshot> serving = impl_->Current();
  if (!serving) return info;
  StatePool::Stats stats = serving->PoolStats();
  info.liveStates = stats.live;
  info.idleStates = stats.idle;
  info.retiredStates = stats.retired;
  info.idleStackTops = std::move(stats.idleStackTops);
  return info;
}

}  // namespace gw::lua
