#pragma once
// What the gateway remembers of script reloads: the last outcome for status pages, the
// dicomweb_oauth_script_reloads_total{trigger,outcome} counter, and a script.published /
// script.refused audit record for each one.
//
// Thread safety: every method may be called from any thread.
#include <cstdint>
#include <memory>
#include <mutex>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Error.h"
#include "gw/common/Metrics.h"
#include "gw/lua/ScriptEngine.h"

namespace gw::service {

// Where a script reload came from, for status and logs.
enum class ReloadTrigger { Start, Rest, FileWatch };
const char* ToString(ReloadTrigger trigger);

// The last reload as status pages show it.
struct ReloadRecord {
  bool ok = true;
  ReloadTrigger trigger = ReloadTrigger::Start;
  int64_t atUnixMs = 0;
  uint64_t snapshotVersion = 0;  // of the last successful reload
  Error error;                   // of the last reload, when it failed
  uint64_t failures = 0;         // failed reloads since start
};

class ReloadHistory {
 public:
  explicit ReloadHistory(std::shared_ptr<audit::IAuditSink> audit) : audit_(std::move(audit)) {}

  // Creates every series of the counter (at 0, so that the first failure shows as an increase)
  // and counts the reloads recorded before the registry existed (the start's).
  void UseMetrics(std::shared_ptr<MetricsRegistry> metrics);

  // Records one reload: counter, audit record, last outcome. `servingVersion` is the snapshot that
  // keeps serving when the reload failed; `atUnixMs` the wall clock now.
  void Add(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome, uint64_t servingVersion,
           int64_t atUnixMs);

  ReloadRecord Last() const;

 private:
  Counter& Count(ReloadTrigger trigger, const char* outcome);

  std::shared_ptr<audit::IAuditSink> audit_;
  mutable std::mutex mutex_;
  std::shared_ptr<MetricsRegistry> metrics_;  // set once, before concurrent use
  ReloadRecord last_;
  uint64_t uncountedSuccesses_[3] = {0, 0, 0};  // per trigger, before UseMetrics()
  uint64_t uncountedFailures_[3] = {0, 0, 0};
};

}  // namespace gw::service
