#pragma once
// The audit trail: every AuditEvent goes through the configured audit rule scripts (Lua, kind
// "audit", function `record(event)`), then to the AuditFileWriter as one chained JSON line.
//
// Rules run in the configured order on the calling thread. Each receives the event as a table
//   { type=, time=, server=, snapshot=, fields={...}, hash_key= }
// (`fields` being the previous rule's output for the second rule on) and returns:
//   a table   the record's new `fields`;
//   false     drop the event (nothing is written; counted in
//             dicomweb_oauth_audit_records_dropped_total{reason="rule"});
//   anything else, or an error: the rule failed. Fail closed: a minimal record is written with
//             `fields` = {} and `ruleError` = {rule, code}, so the event is never lost silently and
//             no PHI-bearing field reaches the file (dicomweb_oauth_audit_rule_failures_total{rule}).
// Without rules (Rules: []) the event's fields are written as they are.
// After the rules, every string is checked for UTF-8 (invalid bytes become U+FFFD) and for
// registered secrets (masked as ***) before the record is queued.
//
// The chain: keyed under config.chainKey when set (AuditFileWriter.h; an unkeyed chain is logged
// as AUD-010 at every start), checkpoints logged at warning level as "audit checkpoint {json}"
// (AuditCheckpoint.h) so they reach Orthanc's log at its default verbosity.
//
// Metrics: dicomweb_oauth_audit_records_total, dicomweb_oauth_audit_records_dropped_total{reason}
// (rule | queue_full), dicomweb_oauth_audit_rule_failures_total{rule},
// dicomweb_oauth_audit_write_errors_total, dicomweb_oauth_audit_queue_depth (records waiting, read
// at scrape time) and dicomweb_oauth_audit_queue_capacity.
//
// Thread safety: all methods may be called from any thread.
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gw/audit/AuditFileWriter.h"
#include "gw/audit/IAuditSink.h"
#include "gw/common/Metrics.h"
#include "gw/config/GatewayConfig.h"
#include "gw/lua/ScriptEngine.h"

namespace gw::audit {

class AuditLog final : public IAuditSink {
 public:
  // Opens the file (see AuditFileWriter::Open for the errors). `engine` runs the rules and gives
  // the snapshot version; it must outlive the AuditLog. `metrics` may be null.
  static Result<std::shared_ptr<AuditLog>> Open(const config::AuditConfig& config, lua::ScriptEngine& engine,
                                                std::shared_ptr<MetricsRegistry> metrics);
  ~AuditLog() override;

  void Record(AuditEvent event) override;
  // False only with FailClosed, while writes fail or since a record was dropped for a full queue
  // (until the next successful write).
  bool Accepting() const override;

  bool Flush(std::chrono::milliseconds timeout) { return writer_->Flush(timeout); }
  void Stop() { writer_->Stop(); }
  const AuditFileWriter& Writer() const { return *writer_; }

 private:
  AuditLog(const config::AuditConfig& config, lua::ScriptEngine& engine, std::shared_ptr<MetricsRegistry> metrics);
  // The record (without seq/prev/hash) for `event` after the rules; false: dropped by a rule.
  bool BuildRecord(AuditEvent& event, rapidjson::Document& record);

  const config::AuditConfig config_;
  lua::ScriptEngine& engine_;
  std::shared_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<AuditFileWriter> writer_;
  std::atomic<bool> losing_{false};  // a record was dropped for a full queue, no write since

  Counter* records_ = nullptr;
  Counter* droppedRule_ = nullptr;
  Counter* droppedQueue_ = nullptr;
  Counter* writeErrors_ = nullptr;
  uint64_t depthHook_ = 0;  // collect hook that samples the queue depth
};

// CFG-002 messages (path DicomWebOAuth.Audit.Rules) for each configured rule that is not a script of kind "audit" in
// `scripts` (name -> kind). Empty when all are there (or audit is off).
std::vector<std::string> CheckAuditRules(const config::AuditConfig& config,
                                         const std::map<std::string, std::string>& scripts);

}  // namespace gw::audit
