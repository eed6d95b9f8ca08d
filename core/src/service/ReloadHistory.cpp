#include "gw/service/ReloadHistory.h"

#include "gw/audit/AuditEvent.h"

namespace gw::service {

const char* ToString(ReloadTrigger trigger) {
  switch (trigger) {
    case ReloadTrigger::Start: return "start";
    case ReloadTrigger::Rest: return "rest";
    case ReloadTrigger::FileWatch: return "file-watch";
  }
  return "?";
}

Counter& ReloadHistory::Count(ReloadTrigger trigger, const char* outcome) {
  return metrics_->GetCounter("dicomweb_oauth_script_reloads_total",
                              "Script reloads by trigger (start, rest, file-watch) and outcome (success, failure)",
                              {{"trigger", ToString(trigger)}, {"outcome", outcome}});
}

void ReloadHistory::UseMetrics(std::shared_ptr<MetricsRegistry> metrics) {
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_ = std::move(metrics);
  for (ReloadTrigger t : {ReloadTrigger::Start, ReloadTrigger::Rest, ReloadTrigger::FileWatch}) {
    const auto i = static_cast<size_t>(t);
    Count(t, "success").Inc(uncountedSuccesses_[i]);
    Count(t, "failure").Inc(uncountedFailures_[i]);
    uncountedSuccesses_[i] = uncountedFailures_[i] = 0;
  }
}

void ReloadHistory::Add(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome, uint64_t servingVersion,
                        int64_t atUnixMs) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (metrics_) {
      Count(trigger, outcome.Ok() ? "success" : "failure").Inc();
    } else {
      ++(outcome.Ok() ? uncountedSuccesses_ : uncountedFailures_)[static_cast<size_t>(trigger)];
    }
  }
  audit::AuditEvent event(outcome.Ok() ? "script.published" : "script.refused");
  event.Set("trigger", ToString(trigger));
  if (outcome.Ok()) {
    event.Set("version", static_cast<int64_t>(outcome.Value().version));
    event.Set("digest", outcome.Value().digest);
  } else {
    event.Set("code", outcome.GetError().code);
    event.Set("message", outcome.GetError().message);
    event.Set("servingVersion", static_cast<int64_t>(servingVersion));
  }
  if (audit_) audit_->Record(std::move(event));
  std::lock_guard<std::mutex> lock(mutex_);
  last_.trigger = trigger;
  last_.atUnixMs = atUnixMs;
  last_.ok = outcome.Ok();
  if (outcome.Ok()) {
    last_.snapshotVersion = outcome.Value().version;
    last_.error = Error{};
  } else {
    last_.error = outcome.GetError();
    ++last_.failures;
  }
}

ReloadRecord ReloadHistory::Last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_;
}

}  // namespace gw::service
