#include "gw/lua/ScriptEngine.h"

#include <algorithm>
#include <array>
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

std::atomic<uint64_t> gNextEngineId{1};  // never reused, unlike an address

enum : int { kNoShare = 0, kShareIdle = 1, kShareInUse = 2 };

// What one thread keeps between its calls on one engine, so that a call in the steady state
// writes no cache line another thread writes: the snapshot (instead of copying a shared_ptr,
// which locks one of libstdc++'s global mutexes and bumps the snapshot's shared reference count),
// the state it used last (StatePool's affinity hint) and its share of the pool (StateShares), kept
// for the next call instead of being given back and taken again. Written on every call by its own
// thread only; other threads touch it on slow paths only (a reload's sweep, a caller short of a
// share, DebugPoolInfo).
struct alignas(64) ThreadCache {
  std::atomic<bool> calling{false};      // a call is in flight: `snapshot` is pinned
  std::atomic<uint64_t> generation{0};   // of `snapshot`; written under Impl::mutex
  Snapshot* snapshot = nullptr;          // alive while `generation` is current or `calling` pins it
  StatePool::Slot* stateHint = nullptr;  // in `snapshot`'s pool
  std::atomic<int> share{kNoShare};      // kShareIdle: a share of `bucket` kept; anyone may reclaim it
  std::atomic<size_t> bucket{0};
  std::shared_ptr<StateShares> shares;   // to give the share back when the thread ends
};

void GiveBackIdleShare(ThreadCache& cache) {
  int idle = kShareIdle;
  if (cache.share.compare_exchange_strong(idle, kNoShare)) cache.shares->Give(cache.bucket.load());
}

// This thread's caches, by engine id. A process has few engines (the gateway's, a dry run's);
// beyond kEntries a cache not in a call is evicted (its share given back) and the engine drops it
// at its next registration.
class ThreadCaches {
 public:
  ThreadCaches() = default;
  ThreadCaches(const ThreadCaches&) = delete;
  ThreadCaches& operator=(const ThreadCaches&) = delete;
  ~ThreadCaches() {
    for (Entry& e : entries_) {
      if (e.cache) GiveBackIdleShare(*e.cache);
    }
  }
  ThreadCache* Find(uint64_t engine) const {
    for (const Entry& e : entries_) {
      if (e.engine == engine) return e.cache.get();
    }
    return nullptr;
  }
  // False when every entry is in a call (calls nested across more than kEntries engines).
  bool Insert(uint64_t engine, std::shared_ptr<ThreadCache> cache) {
    for (size_t tried = 0; tried < kEntries; ++tried) {
      Entry& e = entries_[next_];
      next_ = (next_ + 1) % kEntries;
      if (e.cache && e.cache->calling.load(std::memory_order_relaxed)) continue;
      if (e.cache) GiveBackIdleShare(*e.cache);
      e.engine = engine;
      e.cache = std::move(cache);
      return true;
    }
    return false;
  }

 private:
  static constexpr size_t kEntries = 8;
  struct Entry {
    uint64_t engine = 0;
    std::shared_ptr<ThreadCache> cache;
  };
  std::array<Entry, kEntries> entries_;
  size_t next_ = 0;
};

thread_local ThreadCaches tCaches;

}  // namespace

struct ScriptEngine::Impl {
  const uint64_t id = gNextEngineId.fetch_add(1);
  std::shared_ptr<StateShares> shares;  // engine-wide: a call holds its share while it runs on any snapshot
  std::shared_ptr<EngineServices> services;
  std::mutex reloadMutex;  // one reload at a time, so versions are consecutive
  uint64_t version = 0;    // guarded by reloadMutex
  std::mutex watcherMutex;
  std::unique_ptr<ScriptWatcher> watcher;  // guarded by watcherMutex

  // Snapshots and per-thread caches. A reload replaces `current`, bumps `generation` and keeps the
  // old snapshot in `retired` until no thread's cache pins it (a call in flight on it); a thread
  // sees the new generation at its next call. So an idle thread never keeps an old snapshot (its
  // cache holds a plain pointer, valid only while its generation is current), and a retired one is
  // freed by the reload itself or at the end of the last call that started on it.
  mutable std::mutex mutex;            // current, retired, caches, every cache's generation
  std::shared_ptr<Snapshot> current;   // guarded by mutex
  std::vector<std::pair<uint64_t, std::shared_ptr<Snapshot>>> retired;  // guarded by mutex
  std::vector<std::shared_ptr<ThreadCache>> caches;                     // guarded by mutex
  alignas(64) std::atomic<uint64_t> generation{0};  // read by every call, written by a reload only
  std::atomic<bool> retiredPending{false};          // retired is not empty

  ~Impl() {
    if (shares) shares->SetReclaimer(nullptr);  // thread caches may keep `shares` alive, not this
  }

  std::shared_ptr<Snapshot> Current() const {
    std::lock_guard<std::mutex> lock(mutex);
    return current;
  }

  void Publish(std::shared_ptr<Snapshot> snapshot, uint64_t published) {
    std::vector<std::shared_ptr<Snapshot>> freed;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (current) {
        retired.emplace_back(generation.load(), std::move(current));
        // Before the sweep reads `calling`: a call ending meanwhile then sees it and sweeps again.
        retiredPending.store(true);
      }
      current = std::move(snapshot);
      generation.store(published);  // sequentially consistent, before the sweep reads `calling`
      SweepLocked(freed);
    }
  }  // `freed` closes its states here, outside the lock

  void SweepLocked(std::vector<std::shared_ptr<Snapshot>>& freed) {
    for (auto it = retired.begin(); it != retired.end();) {
      bool pinned = false;
      for (const auto& cache : caches) {
        pinned = pinned || (cache->calling.load() && cache->generation.load() == it->first);
      }
      if (pinned) {
        ++it;
      } else {
        freed.push_back(std::move(it->second));
        it = retired.erase(it);
      }
    }
    retiredPending.store(!retired.empty());
  }

  // The calling thread's cache, registered on first use; null when a call of this thread on this
  // engine is already in flight (a nested call takes the uncached path).
  ThreadCache* CacheOfThisThread() {
    if (ThreadCache* cache = tCaches.Find(id)) {
      return cache->calling.load(std::memory_order_relaxed) ? nullptr : cache;
    }
    auto fresh = std::make_shared<ThreadCache>();
    fresh->shares = shares;
    ThreadCache* raw = fresh.get();
    // Not under `mutex`: an eviction gives a share back to another engine (its waiters' mutex).
    if (!tCaches.Insert(id, fresh)) return nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    // Caches whose thread ended or evicted them (only this list holds them) go now.
    caches.erase(std::remove_if(caches.begin(), caches.end(), [](const auto& c) { return c.use_count() == 1; }),
                 caches.end());
    caches.push_back(std::move(fresh));
    return raw;
  }

  // Marks a call in flight and returns the snapshot it runs on (null when none is loaded).
  Snapshot* Pin(ThreadCache& cache) {
    cache.calling.store(true);  // sequentially consistent, before reading generation (a sweep: the reverse)
    if (cache.generation.load(std::memory_order_relaxed) == generation.load()) return cache.snapshot;
    std::lock_guard<std::mutex> lock(mutex);
    cache.snapshot = current.get();
    cache.stateHint = nullptr;
    cache.generation.store(generation.load());
    return cache.snapshot;
  }

  void Unpin(ThreadCache& cache) {
    cache.calling.store(false);  // sequentially consistent, before reading retiredPending
    if (!retiredPending.load()) return;
    std::vector<std::shared_ptr<Snapshot>> freed;
    std::lock_guard<std::mutex> lock(mutex);
    SweepLocked(freed);
  }

  Status CallOn(Snapshot* serving, ThreadCache* cache, std::string_view script, std::string_view fn,
                const Argument& arg, rapidjson::Document& result, std::chrono::milliseconds budget,
                std::string_view server, std::chrono::steady_clock::time_point start);

  // Gives back the shares threads keep idle; see StateShares::SetReclaimer.
  size_t ReclaimIdleShares() {
    size_t reclaimed = 0;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& cache : caches) {
      int idle = kShareIdle;
      if (cache->share.compare_exchange_strong(idle, kNoShare)) {
        shares->Return(cache->bucket.load());
        ++reclaimed;
      }
    }
    return reclaimed;
  }

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
    Publish(snapshot, version);
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
  impl_->shares = std::make_shared<StateShares>(options.maxStatesPerSnapshot, options.reservedStatesPerServer,
                                                options.servers);
  Impl* impl = impl_.get();
  impl_->shares->SetReclaimer([impl] { return impl->ReclaimIdleShares(); });
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

// The checks, the share and the call itself; `cache` null on the uncached path.
Status ScriptEngine::Impl::CallOn(Snapshot* serving, ThreadCache* cache, std::string_view script, std::string_view fn,
                                  const Argument& arg, rapidjson::Document& result, std::chrono::milliseconds budget,
                                  std::string_view server, std::chrono::steady_clock::time_point start) {
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
  if (budget.count() <= 0) budget = services->Options().defaultBudget;
  budget = std::min(budget, std::chrono::milliseconds(std::chrono::hours(24)));  // no time_point overflow
  const auto deadline = start + budget;
  StateShares& shares = *this->shares;
  const size_t bucket = shares.BucketOf(server);
  // The share this thread kept from its last call, when it is for the same server and nobody
  // reclaimed it meanwhile: one uncontended atomic on the thread's own cache line.
  int idle = kShareIdle;
  const bool kept = cache != nullptr && cache->bucket.load(std::memory_order_relaxed) == bucket &&
                    cache->share.compare_exchange_strong(idle, kShareInUse);
  if (!kept) {
    if (cache != nullptr) GiveBackIdleShare(*cache);  // kept for another server
    if (!shares.Take(bucket, deadline)) {
      if (shares.Buckets() == 1) {  // no servers to isolate: the whole pool was busy
        return MakeError("LUA-004", "no Lua state became free within the call's time budget", 504);
      }
      const std::string who = bucket == shares.Buckets() - 1 ? std::string("calls made for no server")
                                                              : "server '" + std::string(server) + "'";
      return MakeError("LUA-012", "no Lua state free for " + who + " within " + std::to_string(budget.count()) +
                                      " ms: its share of the pool (" + std::to_string(shares.MaxPerBucket()) +
                                      " of " + std::to_string(shares.Capacity()) +
                                      " states at most, the rest kept for other servers) stayed in use",
                       503);
    }
    if (cache != nullptr) {
      cache->bucket.store(bucket, std::memory_order_relaxed);
      cache->share.store(kShareInUse);  // publishes `bucket` to a reclaimer
    }
  }
  struct Share {
    StateShares& shares;
    size_t bucket;
    ThreadCache* cache;
    ~Share() {
      if (cache == nullptr) {
        shares.Give(bucket);
        return;
      }
      // Kept for the next call, unless a caller waits for a share: then given back (a waiter
      // registers before reclaiming, this stores before reading: one of the two sees the other).
      cache->share.store(kShareIdle);
      if (shares.Waiting()) GiveBackIdleShare(*cache);
    }
  } const held{shares, bucket, cache};
  return serving->Call(*index, *function, arg, deadline, result, cache != nullptr ? &cache->stateHint : nullptr);
}

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
  ThreadCache* cache = impl_->CacheOfThisThread();
  if (cache == nullptr) {  // a nested call: the shared snapshot pointer, a share taken and given back
    const std::shared_ptr<Snapshot> serving = impl_->Current();  // kept for the whole call
    return impl_->CallOn(serving.get(), nullptr, script, fn, arg, result, budget, server, start);
  }
  struct Pinned {
    Impl& impl;
    ThreadCache& cache;
    ~Pinned() { impl.Unpin(cache); }
  } const pinned{*impl_, *cache};
  return impl_->CallOn(impl_->Pin(*cache), cache, script, fn, arg, result, budget, server, start);
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
  std::vector<size_t> kept(shares.Buckets(), 0);  // shares threads keep idle for their next call
  std::shared_ptr<Snapshot> serving;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (const auto& cache : impl_->caches) {
      if (cache->share.load() == kShareIdle) ++kept[cache->bucket.load()];
    }
    info.retiredSnapshots = impl_->retired.size();
    serving = impl_->current;
  }
  for (size_t b = 0; b < shares.Buckets(); ++b) {
    const size_t used = shares.InUse(b);
    info.inUseByServer.emplace_back(shares.NameOf(b), used > kept[b] ? used - kept[b] : 0);
  }
  if (!serving) return info;
  StatePool::Stats stats = serving->PoolStats();
  info.liveStates = stats.live;
  info.idleStates = stats.idle;
  info.retiredStates = stats.retired;
  info.idleStackTops = std::move(stats.idleStackTops);
  return info;
}

}  // namespace gw::lua
