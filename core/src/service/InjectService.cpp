#include "gw/service/InjectService.h"

#include <vector>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/service/Gateway.h"
#include "gw/service/TaskWorker.h"

namespace gw::service {
namespace {

// definition.restored: a definition the gateway owns had drifted and was written again.
void AuditRestored(audit::IAuditSink* audit, const std::string& server, const std::string& drift,
                   const Status& written) {
  if (!audit) return;
  audit::AuditEvent event("definition.restored", server);
  event.Set("reason", drift);
  event.Set("outcome", written.Ok() ? "restored" : "failed");
  if (!written.Ok()) event.Set("code", written.GetError().code);
  audit->Record(std::move(event));
}

}  // namespace

bool InjectService::Needed(const Gateway& gateway) {
  if (!gateway.Config().global.health.probeUser.empty()) return true;  // the filter confines the probe user
  for (const auto& [name, server] : gateway.Config().servers) {
    if (!server.policies.empty() || server.mode == config::ServerMode::Proxy) return true;
    if (server.mode == config::ServerMode::Inject && gateway.HasTokenSource(name)) return true;
  }
  return false;
}

InjectService::InjectService(Gateway& gateway, std::shared_ptr<IDefinitionWriter> writer,
                             std::shared_ptr<IOrthancRest> orthanc, std::string dicomWebRoot,
                             ProxyDefinitionLookup proxyDefinition, std::chrono::milliseconds definitionCheckPeriod)
    : gateway_(gateway),
      writer_(std::move(writer)),
      orthanc_(std::move(orthanc)),
      proxyDefinition_(std::move(proxyDefinition)),
      definitionCheckPeriod_(definitionCheckPeriod),
      inject_([&]() -> std::unique_ptr<InjectMode> {
        auto inject = std::make_unique<InjectMode>(gateway, writer_);
        if (inject->Servers().empty()) return nullptr;
        return inject;
      }()),
      filter_(gateway, inject_.get(), std::move(dicomWebRoot)),
      worker_(std::make_shared<TaskWorker>("inject mode")) {
  if (!inject_) return;
  recovery_ = std::make_unique<JobRecovery>(
      *orthanc_, *inject_, [this] { return filter_.ServersCalledWithin(kJobAttributionWindow); }, gateway.AuditSink());
  // Token engine threads never call into Orthanc themselves: the worker writes the definition. The
  // listener holds the worker, not this object: once Stop() ran, what it posts is dropped.
  gateway.SetTokenListener([worker = worker_, inject = inject_.get()](const std::string& server) {
    worker->Post([inject, server] { inject->OnNewToken(server); });
  });
  LogInfo("inject mode: " + std::to_string(inject_->Servers().size()) + " server(s)");
}

InjectService::~InjectService() {
  if (inject_) gateway_.SetTokenListener({});
  Stop();
}

void InjectService::Stop() { worker_->Stop(); }

void InjectService::OnOrthancStarted() {
  worker_->Start([this] { RestoreDefinitions(); }, definitionCheckPeriod_);
  if (inject_) worker_->Post([inject = inject_.get()] { inject->Start(); });
}

void InjectService::OnJobFailure(const std::string& jobId) {
  if (!recovery_) return;
  worker_->Post([recovery = recovery_.get(), jobId] { recovery->Handle(jobId); });
}

// The incoming filter refuses PUT/DELETE of the definitions the gateway owns, but a definition can
// still change without passing it (an Orthanc Lua script's RestApiPut, another plugin's
// CallRestApi, a database shared with another Orthanc under ServersInDatabase). Compares what
// GET {Root}servers?expand shows with what the gateway wrote and writes it again where they differ
// (PXY-014 in the log).
void InjectService::RestoreDefinitions() {
  std::vector<std::string> owned;
  for (const auto& [name, server] : gateway_.Config().servers) {
    if (filter_.OwnsDefinition(name)) owned.push_back(name);
  }
  if (owned.empty()) return;
  const RestReply list = orthanc_->ListDefinitions();
  if (list.status != 200) return;  // the DICOMweb plugin is not there: nothing can drift
  auto doc = json::Parse(list.body, "PXY-014");
  if (!doc.Ok() || !doc.Value().IsObject()) return;
  const auto audit = gateway_.AuditSink();
  for (const auto& name : owned) {
    const bool injected = inject_ && inject_->Manages(name);
    std::optional<proxy::DicomWebDefinition> expected;
    if (injected) {
      if (!inject_->Written(name)) continue;  // no token written yet: nothing to restore
      expected = inject_->BuildDefinition(name, "");
    } else {
      if (proxyDefinition_) expected = proxyDefinition_(name);
      if (!expected) continue;
    }
    const auto member = doc.Value().FindMember(name.c_str());
    const auto drift = expected->DriftFrom(member == doc.Value().MemberEnd() ? nullptr : &member->value);
    if (!drift) continue;
    const Status written = injected ? inject_->Restore(name) : writer_->Write(name, *expected);
    if (written.Ok()) {
      LogWarning("PXY-014 the DICOMweb definition of '" + name + "' was changed outside the gateway (" + *drift +
                 "): written again");
    } else {
      LogError("PXY-014 the DICOMweb definition of '" + name + "' was changed outside the gateway (" + *drift +
               ") and cannot be written again: " + written.GetError().ToString());
    }
    AuditRestored(audit.get(), name, *drift, written);
  }
}

}  // namespace gw::service
