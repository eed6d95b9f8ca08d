#pragma once
// Inject mode and the incoming filter as one object: what the plugin creates at start (after the
// gateway) and destroys at stop. It owns
//   - InjectMode (the definitions holding the token), when some server is in inject mode;
//   - the ClientCallFilter (the rules of Orthanc's incoming-request filter);
//   - JobRecovery (renew and resubmit a job refused for bad credentials);
//   - the worker thread that makes every REST call to Orthanc (change callbacks and token-engine
//     threads only post to it: TaskWorker.h says why) and, every kDefinitionCheckPeriod without
//     other work, puts back the definitions the gateway owns that changed behind its back (PXY-014).
// The plugin provides the Orthanc side: the definition writer (PUT {Root}servers/{name}), the few
// REST calls (IOrthancRest) and the loopback definition of proxy-mode servers.
//
// Lifetime: `gateway` outlives this object. The destructor detaches from the gateway's token
// listener and stops the worker (a task that runs finishes first; queued ones are dropped).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gw/proxy/DicomWebDefinition.h"
#include "gw/service/ClientCallFilter.h"
#include "gw/service/InjectMode.h"
#include "gw/service/JobRecovery.h"

namespace gw::service {

class TaskWorker;

class InjectService {
 public:
  // The loopback definition the proxy route writes for a proxy-mode server (nothing when it has
  // none yet).
  using ProxyDefinitionLookup = std::function<std::optional<proxy::DicomWebDefinition>(const std::string& server)>;

  // How often the definitions the gateway owns are compared with what the DICOMweb plugin holds.
  static constexpr std::chrono::seconds kDefinitionCheckPeriod{10};
  // DICOMweb 1.7 jobs do not record their server: a failed job is attributed to the inject-mode
  // servers used within this window.
  static constexpr std::chrono::hours kJobAttributionWindow{6};

  // False when the configuration gives the filter nothing to do: no inject-mode server with a token
  // source, no routing policies, no proxy-mode server, no probe user. The plugin then installs nothing.
  static bool Needed(const Gateway& gateway);

  InjectService(Gateway& gateway, std::shared_ptr<IDefinitionWriter> writer, std::shared_ptr<IOrthancRest> orthanc,
                std::string dicomWebRoot, ProxyDefinitionLookup proxyDefinition,
                std::chrono::milliseconds definitionCheckPeriod = kDefinitionCheckPeriod);
  ~InjectService();
  InjectService(const InjectService&) = delete;
  InjectService& operator=(const InjectService&) = delete;

  // From the incoming-request filter (Orthanc's HTTP threads).
  ClientVerdict Filter(const ClientCall& call) { return filter_.Check(call); }

  // Orthanc's OrthancStarted event: starts the worker (definition checks) and inject mode's first
  // writes. JobFailure event: queues JobRecovery::Handle on the worker. Both return at once.
  void OnOrthancStarted();
  void OnJobFailure(const std::string& jobId);

  // Idempotent; the destructor calls it.
  void Stop();

  // One pass of the definition check (normally run by the worker). Exposed for tests.
  void RestoreDefinitions();

  InjectMode* Inject() { return inject_.get(); }  // null without inject-mode servers
  ClientCallFilter& CallFilter() { return filter_; }
  JobRecovery* Recovery() { return recovery_.get(); }  // null without inject-mode servers

 private:
  Gateway& gateway_;
  std::shared_ptr<IDefinitionWriter> writer_;
  std::shared_ptr<IOrthancRest> orthanc_;
  ProxyDefinitionLookup proxyDefinition_;
  const std::chrono::milliseconds definitionCheckPeriod_;
  std::unique_ptr<InjectMode> inject_;
  ClientCallFilter filter_;
  std::unique_ptr<JobRecovery> recovery_;
  // Shared with the gateway's token listener, which may still post (dropped) while this object goes.
  std::shared_ptr<TaskWorker> worker_;
};

}  // namespace gw::service
