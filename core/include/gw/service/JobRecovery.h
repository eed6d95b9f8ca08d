#pragma once
// What inject mode does about a DICOMweb client job that failed (Orthanc's JobFailure change
// event): if it was refused for bad credentials on one of the gateway's inject-mode servers, renew
// the token and resubmit the job, once per job, retrieve jobs only (DESIGN.md, inject mode):
//   - Only `DicomWeb*` jobs with FunctionErrorCode 29 (Unauthorized: what a refused STOW reports) or
//     9 (NetworkProtocol: what a WADO-RS retrieve refused with a JSON 401 body reports, since DICOMweb
//     1.7 parses the body's Content-Type before the status). Error 9 is also every network failure,
//     so it counts for retrieve jobs only.
//   - DICOMweb 1.7 jobs do not record their server: the job is attributed to the inject-mode servers
//     whose client calls the filter saw recently (`suspects`); none, nothing is done.
//   - The token of each suspect is dropped and renewed; a renewal that fails ends it (logged, audited).
//   - A STOW job is never resubmitted (DICOMweb 1.7 resubmits it with an empty body and reports
//     success: measured): INJ-003, the token is renewed for the next attempt. Other non-retrieve jobs
//     are not resubmitted either; a retrieve is (POST /jobs/{id}/resubmit), INJ-004 when Orthanc
//     refuses.
// Every outcome after attribution is audited as job.resubmitted (docs/audit.md).
//
// Handle() makes REST calls to Orthanc: never call it from an Orthanc change callback (they run
// under the jobs registry lock), only from a worker thread (InjectService). Thread safe.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gw::audit {
class IAuditSink;
}

namespace gw::service {

class IInjectTokens;

// An answer of Orthanc's REST API: `status` 0 when the call itself failed.
struct RestReply {
  uint16_t status = 0;
  std::string body;
};

// The few calls of Orthanc's REST API the inject side makes. The plugin implements them with
// OrthancPluginCallRestApi (afterPlugins=1); tests use a fake.
class IOrthancRest {
 public:
  virtual ~IOrthancRest() = default;
  virtual RestReply GetJob(const std::string& jobId) = 0;       // GET /jobs/{id}
  virtual RestReply ResubmitJob(const std::string& jobId) = 0;  // POST /jobs/{id}/resubmit, body {}
  virtual RestReply ListDefinitions() = 0;                      // GET {DicomWeb.Root}servers?expand
};

class JobRecovery {
 public:
  enum class Outcome {
    Ignored,             // not a DicomWeb job refused for credentials, or no suspect server
    AlreadyHandled,      // this job was handled once already (renewed, resubmitted or not)
    RenewFailed,         // a token could not be renewed (TOK-xxx): not resubmitted
    NotResubmitted,      // token renewed; a STOW (INJ-003) or another non-retrieve job stays failed
    Resubmitted,         // token renewed, POST /jobs/{id}/resubmit answered 200
    ResubmitFailed,      // token renewed, Orthanc refused the resubmission (INJ-004)
  };

  // `orthanc`, `tokens` outlive this object. `suspects`: the inject-mode servers a failed job may
  // have used (ClientCallFilter::ServersCalledWithin). `audit` may be null.
  JobRecovery(IOrthancRest& orthanc, IInjectTokens& tokens, std::function<std::vector<std::string>()> suspects,
              std::shared_ptr<audit::IAuditSink> audit);

  Outcome Handle(const std::string& jobId);

 private:
  void AuditJob(const std::string& jobId, std::string_view jobType, int functionError,
                const std::vector<std::string>& servers, bool resubmitted, const std::string& code,
                const std::string& reason) const;

  IOrthancRest& orthanc_;
  IInjectTokens& tokens_;
  std::function<std::vector<std::string>()> suspects_;
  std::shared_ptr<audit::IAuditSink> audit_;
  std::mutex mutex_;
  std::set<std::string> handled_;  // jobs already handled once (a resubmitted job may fail again)
};

const char* ToString(JobRecovery::Outcome outcome);

}  // namespace gw::service
