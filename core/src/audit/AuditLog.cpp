#include "gw/audit/AuditLog.h"

#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"

namespace gw::audit {
namespace {

// A record larger than this keeps its envelope but loses its fields (a rule that copies a huge
// value must not make one line unreadable for verify, or the tail check at start fail).
constexpr size_t kMaxRecordBytes = 64 * 1024;

// `text` with every invalid UTF-8 sequence replaced by U+FFFD (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), so every line is valid UTF-8 JSON.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string Clean(std::string_view text) { return SecretRegistry::Redact(ValidUtf8(text)); }

// Rewrites every string (values and member names) of `v` through Clean().
void CleanStrings(rapidjson::Value& v, rapidjson::Document::AllocatorType& a) {
  if (v.IsString()) {
    const std::string clean = Clean(std::string_view(v.GetString(), v.GetStringLength()));
    if (clean.size() != v.GetStringLength() || clean.compare(0, clean.size(), v.GetString(), v.GetStringLength()) != 0) {
      v.SetString(clean.data(), static_cast<rapidjson::SizeType>(clean.size()), a);
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) CleanStrings(e, a);
  } else if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      CleanStrings(it->name, a);
      CleanStrings(it->value, a);
    }
  }
}

rapidjson::Value Str(std::string_view s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace

Result<std::shared_ptr<AuditLog>> AuditLog::Open(const config::AuditConfig& config, lua::ScriptEngine& engine,
                                                 std::shared_ptr<MetricsRegistry> metrics) {
  std::shared_ptr<AuditLog> log(new AuditLog(config, engine, std::move(metrics)));
  WriterOptions options;
  options.path = config.file;
  options.queueCapacity = static_cast<size_t>(config.queueCapacity);
  options.fsyncInterval = std::chrono::milliseconds(config.fsyncIntervalMs);
  AuditLog* self = log.get();  // the writer is owned by (and stopped before) the AuditLog
  const bool copyToLog = config.orthancLog;
  options.onLine = [self, copyToLog](const std::string& line) {
    self->losing_.store(false, std::memory_order_relaxed);
    if (copyToLog) LogInfo("audit: " + line);
  };
  options.onWriteError = [self](const Error& e) {
    if (self->writeErrors_) self->writeErrors_->Inc();
    LogError("audit: " + e.ToString() + " (records wait in memory and are retried every second" +
             std::string(self->config_.failClosed ? "; proxy requests are refused meanwhile" : "") + ")");
  };
  options.onRecovered = [path = config.file] { LogWarning("audit: writing " + path + " works again"); };
  if (!config.chainKey.empty()) {
    options.key = MakeChainKey(config.chainKey, config.chainKeyId);
  } else {
    LogWarning("AUD-010 audit: Audit.ChainKey is not set: the chain of " + config.file +
               " is UNKEYED (plain SHA-256); anyone able to write the file can forge, erase and reseal records and "
               "`audit verify` will not see it. Set Audit.ChainKey (docs/audit.md, \"Keyed chain\")");
  }
  if (!config.previousChainKey.empty()) options.previousKeySecret = config.previousChainKey;
  options.checkpointEvery = static_cast<uint64_t>(config.checkpointEveryRecords);
  options.checkpointInterval = std::chrono::seconds(config.checkpointIntervalSeconds);
  options.checkpointFile = config.checkpointFile;
  // Warning level: Orthanc shows warnings at its default verbosity, and the checkpoints are the
  // independent copy that makes truncation at the end of the file detectable.
  options.onCheckpoint = [](const std::string& checkpoint) { LogWarning(kCheckpointMarker + checkpoint); };
  auto writer = AuditFileWriter::Open(std::move(options));
  if (!writer.Ok()) return writer.GetError();
  log->writer_ = std::move(writer).Value();
  const ChainPosition start = log->writer_->Position();
  if (start.keyed) LogInfo("audit: chain sealed under key id " + start.kid);
  if (log->metrics_) {
    // Sampled at scrape time: a queue that stays near its capacity comes before drops and, with
    // FailClosed, refusals. Weak: a scrape racing the AuditLog's destruction reads nothing.
    Gauge& depth = log->metrics_->GetGauge("dicomweb_oauth_audit_queue_depth",
                                           "Audit records waiting to be written to the audit file");
    Gauge& capacity = log->metrics_->GetGauge("dicomweb_oauth_audit_queue_capacity",
                                              "Audit records the queue holds before new ones wait (Audit.QueueCapacity)");
    capacity.Set(static_cast<double>(config.queueCapacity));
    std::weak_ptr<AuditLog> weak = log;
    log->depthHook_ = log->metrics_->AddCollectHook([weak, &depth] {
      if (auto self = weak.lock()) depth.Set(static_cast<double>(self->writer_->QueueDepth()));
    });
  }
  return log;
}

AuditLog::AuditLog(const config::AuditConfig& config, lua::ScriptEngine& engine,
                   std::shared_ptr<MetricsRegistry> metrics)
    : config_(config), engine_(engine), metrics_(std::move(metrics)) {
  if (metrics_) {
    records_ = &metrics_->GetCounter("dicomweb_oauth_audit_records_total", "Audit records queued for the audit file");
    const char* droppedHelp = "Audit events not written: dropped by a rule, or the queue stayed full";
    droppedRule_ = &metrics_->GetCounter("dicomweb_oauth_audit_records_dropped_total", droppedHelp, {{"reason", "rule"}});
    droppedQueue_ =
        &metrics_->GetCounter("dicomweb_oauth_audit_records_dropped_total", droppedHelp, {{"reason", "queue_full"}});
    writeErrors_ = &metrics_->GetCounter("dicomweb_oauth_audit_write_errors_total", "Failed writes of the audit file");
  }
}

AuditLog::~AuditLog() {
  if (metrics_ && depthHook_ != 0) metrics_->RemoveCollectHook(depthHook_);
  if (writer_) writer_->Stop();
}

bool AuditLog::Accepting() const {
  if (!config_.failClosed) return true;
  return writer_->Healthy() && !losing_.load(std::memory_order_relaxed);
}

bool AuditLog::BuildRecord(AuditEvent& event, rapidjson::Document& record) {
  const std::string time = IsoTimeMs(event.time);
  const uint64_t snapshot = engine_.CurrentInfo().version;

  rapidjson::Document arg;
  arg.SetObject();
  auto& aa = arg.GetAllocator();
  arg.AddMember("type", Str(event.type, aa), aa);
  arg.AddMember("time", Str(time, aa), aa);
  arg.AddMember("server", Str(event.server, aa), aa);
  arg.AddMember("snapshot", rapidjson::Value(snapshot), aa);
  arg.AddMember("hash_key", Str(config_.hashKey, aa), aa);
  arg.AddMember("fields", rapidjson::Value(event.fields, aa), aa);

  std::optional<std::pair<std::string, std::string>> failure;  // rule, code
  for (const std::string& rule : config_.rules) {
    auto out = engine_.Call(rule, "record", arg, std::chrono::milliseconds(config_.ruleTimeoutMs), event.server);
    if (out.Ok() && out.Value().IsFalse()) {
      if (droppedRule_) droppedRule_->Inc();
      return false;
    }
    if (!out.Ok() || !out.Value().IsObject()) {
      failure.emplace(rule, out.Ok() ? "AUD-006" : out.GetError().code);
      break;
    }
    arg["fields"].CopyFrom(out.Value(), aa);
  }

  // The argument becomes the record (no second document, no copy of the fields): the envelope
  // members are the gateway's, whatever the rules did to their own copy of the event.
  arg.RemoveMember("hash_key");
  arg.RemoveMember("type");
  arg.AddMember("event", Str(event.type, aa), aa);
  if (!event.traceId.empty()) arg.AddMember("traceId", Str(event.traceId, aa), aa);
  if (failure) {
    // Fail closed: the event is recorded, none of its (possibly PHI-bearing) fields are.
    arg["fields"].SetObject();
    rapidjson::Value error(rapidjson::kObjectType);
    error.AddMember("rule", Str(failure->first, aa), aa);
    error.AddMember("code", Str(failure->second, aa), aa);
    arg.AddMember("ruleError", error, aa);
    if (metrics_) {
      metrics_->GetCounter("dicomweb_oauth_audit_rule_failures_total", "Audit rule calls that failed (record written without fields)",
                           {{"rule", failure->first}})
          .Inc();
    }
    LogWarning("audit: rule '" + failure->first + "' failed (" + failure->second + ") on a " + event.type +
               " event; the record is written without its fields");
  }
  record.Swap(arg);
  auto& a = record.GetAllocator();
  CleanStrings(record, a);
  const std::string canonical = CanonicalJson(record);
  if (canonical.size() > kMaxRecordBytes) {
    rapidjson::Value replaced(rapidjson::kObjectType);
    replaced.AddMember("oversize_bytes", rapidjson::Value(static_cast<uint64_t>(canonical.size())), a);
    record["fields"] = replaced;
  }
  return true;
}

void AuditLog::Record(AuditEvent event) {
  rapidjson::Document record;
  try {
    if (!BuildRecord(event, record)) return;
  } catch (const std::exception& e) {
    // Nothing may escape into the data path; the event still leaves a trace.
    LogError(std::string("audit: cannot build the record of a ") + event.type + " event: " + e.what());
    return;
  }
  if (!writer_->Enqueue(std::move(record), std::chrono::milliseconds(config_.queueTimeoutMs))) {
    if (droppedQueue_) droppedQueue_->Inc();
    if (!losing_.exchange(true)) {
      LogError("AUD-007 audit: the record queue is full (the file is not written fast enough or not at all): "
               "records are being dropped");
    }
    return;
  }
  if (records_) records_->Inc();
}

std::vector<std::string> CheckAuditRules(const config::AuditConfig& config,
                                         const std::map<std::string, std::string>& scripts) {
  std::vector<std::string> problems;
  if (!config.enabled) return problems;
  for (const std::string& rule : config.rules) {
    auto it = scripts.find(rule);
    if (it == scripts.end()) {
      problems.push_back("the audit rule `" + rule +
                         "` is not among the checked scripts; add " + rule +
                         ".lua (kind \"audit\") to one of the ScriptDirectories folders");
    } else if (it->second != "audit") {
      problems.push_back("`" + rule + "` is a script of kind `" + it->second +
                         "`, not `audit`");
    }
  }
  return problems;
}

}  // namespace gw::audit
