#include "gw/service/JobRecovery.h"

#include <chrono>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/service/InjectMode.h"

namespace gw::service {

const char* ToString(JobRecovery::Outcome outcome) {
  switch (outcome) {
    case JobRecovery::Outcome::Ignored: return "ignored";
    case JobRecovery::Outcome::AlreadyHandled: return "already-handled";
    case JobRecovery::Outcome::RenewFailed: return "renew-failed";
    case JobRecovery::Outcome::NotResubmitted: return "not-resubmitted";
    case JobRecovery::Outcome::Resubmitted: return "resubmitted";
    case JobRecovery::Outcome::ResubmitFailed: return "resubmit-failed";
  }
  return "?";
}

JobRecovery::JobRecovery(IOrthancRest& orthanc, IInjectTokens& tokens,
                         std::function<std::vector<std::string>()> suspects, std::shared_ptr<audit::IAuditSink> audit)
    : orthanc_(orthanc), tokens_(tokens), suspects_(std::move(suspects)), audit_(std::move(audit)) {}

// job.resubmitted: what the gateway did about a DICOMweb job refused for bad credentials.
void JobRecovery::AuditJob(const std::string& jobId, std::string_view jobType, int functionError,
                           const std::vector<std::string>& servers, bool resubmitted, const std::string& code,
                           const std::string& reason) const {
  if (!audit_) return;
  audit::AuditEvent event("job.resubmitted", servers.empty() ? "" : servers.front());
  event.Set("job", jobId);
  event.Set("jobType", jobType);
  event.Set("functionError", static_cast<int64_t>(functionError));
  event.Set("servers", servers);
  event.Set("resubmitted", resubmitted);
  if (!code.empty()) event.Set("code", code);
  if (!reason.empty()) event.Set("reason", reason);
  audit_->Record(std::move(event));
}

JobRecovery::Outcome JobRecovery::Handle(const std::string& jobId) {
  const RestReply job = orthanc_.GetJob(jobId);
  if (job.status != 200) return Outcome::Ignored;
  auto doc = json::Parse(job.body, "INJ-002");
  if (!doc.Ok() || !doc.Value().IsObject()) return Outcome::Ignored;
  const auto& j = doc.Value();
  auto type = j.FindMember("Type");
  if (type == j.MemberEnd() || !type->value.IsString() ||
      std::string_view(type->value.GetString()).rfind("DicomWeb", 0) != 0) {
    return Outcome::Ignored;
  }
  auto content = j.FindMember("Content");
  if (content == j.MemberEnd() || !content->value.IsObject()) return Outcome::Ignored;
  auto code = content->value.FindMember("FunctionErrorCode");
  if (code == content->value.MemberEnd() || !code->value.IsInt()) return Outcome::Ignored;
  const int functionError = code->value.GetInt();
  if (functionError != 29 && functionError != 9) return Outcome::Ignored;
  const std::string jobType(type->value.GetString(), type->value.GetStringLength());
  // Error 9 also is every network failure (an upstream 503, a reset, an upstream Orthanc that went
  // away), of any server's job, proxy mode included. Only a retrieve reports a refused credential
  // that way; a refused STOW reports 29. Dropping the still-valid token of every inject-mode server
  // on a STOW's network failure cost an IdP call each time and, with the IdP down, turned an upstream
  // hiccup into refused calls (403) until the IdP was back (found by the soak run).
  if (functionError == 9 && jobType != "DicomWebWadoRetrieveClient") return Outcome::Ignored;

  const std::vector<std::string> servers = suspects_ ? suspects_() : std::vector<std::string>();
  if (servers.empty()) return Outcome::Ignored;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!handled_.insert(jobId).second) return Outcome::AlreadyHandled;
  }
  std::string names;
  for (const auto& s : servers) names += (names.empty() ? "" : ", ") + s;
  {
    LogEvent line;
    line.level = LogLevel::Warning;
    line.event = "job.failed";
    line.jobId = jobId;
    line.server = servers.size() == 1 ? servers.front() : std::string();
    line.message = "inject mode: DICOMweb job " + jobId + " (" + jobType + ") failed (error " +
                   std::to_string(functionError) + "); renewing the token of " + names;
    Log(line);
  }
  for (const auto& server : servers) {
    tokens_.CredentialRejected(server);
    Status fresh = tokens_.EnsureFresh(server, std::chrono::seconds(0), std::chrono::milliseconds(15000));
    if (!fresh.Ok()) {
      LogError("inject mode: cannot renew the token of '" + server + "': " + fresh.GetError().ToString());
      AuditJob(jobId, jobType, functionError, servers, false, fresh.GetError().code,
               "the token could not be renewed: " + fresh.GetError().message);
      return Outcome::RenewFailed;
    }
  }
  // DICOMweb 1.7 resubmits a STOW client job with an empty body and reports success (measured: a
  // 77-byte multipart reached the upstream, nothing was stored). Resubmitting it would hide a
  // failed upload, so STOW jobs stay failed, loudly; the renewed token serves the next attempt.
  if (jobType == "DicomWebStowClient") {
    LogEvent line;
    line.level = LogLevel::Error;
    line.event = "job.resubmitted";
    line.code = "INJ-003";
    line.jobId = jobId;
    line.outcome = "not-resubmitted";
    line.message = "INJ-003 inject mode: STOW job " + jobId +
                   " failed with bad credentials; the token was renewed, but DICOMweb 1.7 cannot resubmit a STOW "
                   "job (it would send nothing): send the resources again";
    Log(line);
    AuditJob(jobId, jobType, functionError, servers, false, "INJ-003",
             "token renewed; DICOMweb 1.7 cannot resubmit a STOW job");
    return Outcome::NotResubmitted;
  }
  // Only retrieves are replayed: they are idempotent (the same instances are fetched again).
  if (jobType != "DicomWebWadoRetrieveClient") {
    AuditJob(jobId, jobType, functionError, servers, false, "", "token renewed; only retrieve jobs are resubmitted");
    return Outcome::NotResubmitted;
  }
  LogWarning("inject mode: resubmitting job " + jobId + " once with the renewed token");
  const RestReply r = orthanc_.ResubmitJob(jobId);
  if (r.status != 200) LogError("inject mode: resubmitting job " + jobId + " answered " + std::to_string(r.status));
  AuditJob(jobId, jobType, functionError, servers, r.status == 200, r.status == 200 ? "" : "INJ-004",
           "POST /jobs/" + jobId + "/resubmit answered " + std::to_string(r.status));
  return r.status == 200 ? Outcome::Resubmitted : Outcome::ResubmitFailed;
}

}  // namespace gw::service
