#pragma once
// The Lua 5.4 runtime as the rest of the gateway sees it.
//
// Scripts (lua/providers/*.lua, lua/policies/**/*.lua, and lua/lib/*.lua, the libraries they share,
// which load first: see lua/Library.h) are untrusted text. Reload() compiles every script of the
// configured folders in a throwaway state, checks each script's contract table and, only if all
// of them pass, publishes a new immutable Snapshot atomically. Calls in flight keep the
// snapshot they started with (they hold a shared_ptr); a failed reload leaves the serving snapshot
// untouched and returns the first problem with file and line.
//
// Call() leases a lua_State from the current snapshot's pool (one thread per state at a time),
// converts the argument (JSON) into a fresh Lua table, runs `script.fn(arg)` under the memory cap
// and instruction deadline, and converts the first result back to JSON. Script errors fail closed:
// they become an Error, never a default value.
//
// Error codes:
//   LUA-001 syntax error            LUA-002 error while running the chunk at load
//   LUA-003 invalid contract table  LUA-004 instruction deadline exceeded
//   LUA-005 memory limit exceeded   LUA-006 runtime error during a call
//   LUA-007 unknown script/function (or a library) LUA-008 invalid return value (not JSON-convertible)
//   LUA-009 the script returned an error (`return nil, "reason"` or `nil, {code=..., message=...}`;
//           a `code` given by the script replaces LUA-009)
//   LUA-010 no scripts / folder unreadable / duplicate script name
//   LUA-011 a script's self_test failed during Reload()/Check()
//   LUA-012 the server's share of the Lua states stayed in use for the call's whole budget (503)
//
// Isolation between servers: every call names the server it is made for (policies, provider
// acquire/sign, audit rules of a server's events; empty for calls made for no server). Each server
// in EngineOptions::servers, and the calls made for no server together, keep
// `reservedStatesPerServer` states that no other server's calls can take; one server's calls hold
// at most maxStatesPerSnapshot - reserved * (servers) states at once (see StateShares in
// lua/StatePool.h). A call over its server's share waits, within its own budget, for one of that
// server's states, then fails with LUA-012: it never takes a state kept for another server.
// Thread safety: every public method may be called from any thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/http/IHttpClient.h"
#include "gw/lua/Argument.h"

namespace gw::lua {

struct ScriptInfo {
  std::string file;     // path as loaded
  std::string name;     // contract `name`, unique within a snapshot
  std::string version;  // contract `version`
  std::string kind;     // "provider" | "policy" | "audit" | "library" (shared code, never called)
  std::string sha256;   // of the file's bytes: tells a dry run which scripts changed
  // The contract's `schema` table as JSON (null when it has none); its dialect is checked by the
  // consumers (config::ContractSchema), the engine only guarantees it is plain data.
  std::shared_ptr<const rapidjson::Document> schema;
};

struct SnapshotInfo {
  uint64_t version = 0;          // 1 for the first published snapshot, +1 per successful reload
  std::string digest;            // SHA-256 (hex) over the file names and contents, in order
  int64_t publishedAtUnixMs = 0;
  std::vector<ScriptInfo> scripts;
};

struct EngineOptions {
  std::vector<std::string> scriptDirs;          // searched recursively for *.lua, sorted by path
  size_t memoryLimitBytes = 32u * 1024 * 1024;  // per lua_State
  std::chrono::milliseconds defaultBudget{5000};
  size_t maxStatesPerSnapshot = 16;             // pool cap; callers beyond it wait for a lease
  // Servers whose calls get a share of the states of their own (isolation, see above). A name not
  // listed (and the empty name) counts as "no server". The pool cap is raised to
  // reservedStatesPerServer * (servers + 1) when smaller, so every reservation can be honoured.
  std::vector<std::string> servers;
  size_t reservedStatesPerServer = 1;
  std::vector<std::string> envAllowlist;        // names gw.env.get may read
  std::vector<std::string> fileAllowlist;       // path prefixes gw.file.read may read
  std::shared_ptr<http::IHttpClient> http;      // used by gw.http.request; may be null (then it errors)
  // Called with a fully built snapshot before it is published (Reload only, not Check): an error
  // refuses the snapshot like a broken script (e.g. a provider script some server needs is gone).
  std::function<Status(const SnapshotInfo&)> validator;
};

class Snapshot;  // opaque, immutable once published

class ScriptEngine {
 public:
  explicit ScriptEngine(EngineOptions options);
  ~ScriptEngine();
  ScriptEngine(const ScriptEngine&) = delete;
  ScriptEngine& operator=(const ScriptEngine&) = delete;

  // Builds and checks a new snapshot off the request path; publishes it only if valid.
  Result<SnapshotInfo> Reload();

  // Builds and checks a snapshot without publishing it (used by `dicomweb-oauth check-config`).
  Result<SnapshotInfo> Check() const;

  // Everything Reload() does except publishing: compile, contract checks, self-tests, a first pool
  // state, and EngineOptions::validator. The serving snapshot and the version counter stay as they
  // are; the answer's version is 0. For an operator's dry run before a reload.
  Result<SnapshotInfo> DryRun() const;

  // Info of the serving snapshot (version 0 before the first successful Reload()).
  SnapshotInfo CurrentInfo() const;

  // The liveness probe: a state of the serving snapshot is leased (created if needed) and given
  // back within `budget`. LUA-007 without a snapshot, LUA-004 when the pool stays busy.
  Status Ping(std::chrono::milliseconds budget) const;

  bool HasScript(std::string_view script) const;
  bool HasFunction(std::string_view script, std::string_view fn) const;

  // Runs script.fn(arg) on the current snapshot for `server` (its share of the states; empty: a
  // call made for no server). budget 0 = options.defaultBudget.
  // `return value` is success (the value as JSON); `return nil, "reason"` and
  // `return nil, {code=, message=, status=}` are errors (LUA-009 or the code given); a bare
  // `return nil`/no value is LUA-008; a raised error is LUA-006 with the script's file:line.
  // The budget covers waiting for a free state, the script and any HTTP it does.
  Result<rapidjson::Document> Call(std::string_view script, std::string_view fn,
                                   const rapidjson::Value& arg,
                                   std::chrono::milliseconds budget = std::chrono::milliseconds{0},
                                   std::string_view server = {});
  // The same with an argument that builds itself on the Lua stack (see gw/lua/Argument.h).
  Result<rapidjson::Document> Call(std::string_view script, std::string_view fn, const Argument& arg,
                                   std::chrono::milliseconds budget = std::chrono::milliseconds{0},
                                   std::string_view server = {});
  // The same, writing the value into `result`, which the caller may have built over its own
  // allocator (a stack buffer spares the hot path a 64 KiB heap chunk per call).
  Status Call(std::string_view script, std::string_view fn, const Argument& arg, rapidjson::Document& result,
              std::chrono::milliseconds budget = std::chrono::milliseconds{0}, std::string_view server = {});

  // Watches the script folders (inotify) and calls Reload() after changes settle (~200 ms);
  // `onReload` receives each outcome. Idempotent; StopWatching() joins the watcher thread.
  // A change that leaves every script byte-identical (touch, editor scratch files) publishes
  // nothing and does not call `onReload`. `onReload` runs on the watcher thread and must not call
  // StopWatching().
  void StartWatching(std::function<void(const Result<SnapshotInfo>&)> onReload);
  void StopWatching();

  // The Lua library linked into this binary, as its _VERSION reports it at run time ("Lua 5.4").
  static std::string LuaVersion();

  // Diagnostics and tests: the pool of the serving snapshot. `idleStackTops` holds lua_gettop of
  // every idle state; all 0 when the glue keeps the Lua stack balanced.
  struct PoolDebugInfo {
    size_t liveStates = 0;
    size_t idleStates = 0;
    uint64_t retiredStates = 0;  // closed after hitting a limit
    size_t retiredSnapshots = 0;  // replaced by a reload, kept until the calls in flight on them end
    std::vector<int> idleStackTops;
    // Isolation between servers (all snapshots together): the effective pool cap, the states
    // each server keeps, the most one server can hold, and the calls in flight per server ("" is
    // the calls made for no server).
    size_t capacity = 0;
    size_t reservedPerServer = 0;
    size_t maxPerServer = 0;
    std::vector<std::pair<std::string, size_t>> inUseByServer;
  };
  PoolDebugInfo DebugPoolInfo() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw::lua
