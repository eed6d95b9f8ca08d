#include "PluginRuntime.h"

#include <utility>

#include "InjectGlue.h"
#include "OrthancGlue.h"
#include "ProxyRoute.h"
#include "RestRoutes.h"
#include "gw/common/Log.h"

namespace gw::plugin {

namespace {

// The one mutable global of plugin/ (everything else is reached through the runtime it holds):
// Orthanc's callbacks carry no user pointer, see PluginRuntime.h. A RuntimeSlot rather than a bare
// pointer so that Finalize never destroys the runtime under a callback still running in it.
service::RuntimeSlot<PluginRuntime> g_runtime;

}  // namespace

PluginRuntime::Lease PluginRuntime::Enter() noexcept { return g_runtime.Acquire(); }

bool PluginRuntime::Publish(std::unique_ptr<PluginRuntime> runtime) {
  if (!g_runtime.Publish(runtime.get())) return false;
  static_cast<void>(runtime.release());  // owned by the slot until Retire()
  return true;
}

void PluginRuntime::Retire() noexcept {
  // Withdraw() returns once no callback is inside; the destructor then runs the teardown.
  delete g_runtime.Withdraw();
}

PluginRuntime::PluginRuntime(OrthancPluginContext* context)
    : context_(context),
      dicomWeb_(DicomWebServers::Load(context)),
      forcedTests_(kForcedTests, kForcedTestWindow) {}

// Teardown. Orthanc has stopped serving REST calls and running jobs before Finalize, and Retire()
// has waited for every callback that was inside the runtime; callbacks that come later (the filter
// and the change callback can still be entered) find no runtime and fail closed. So nothing here
// races with a callback; what remains are the runtime's own threads, stopped from the outside in:
PluginRuntime::~PluginRuntime() {
  // 1. The inject glue first: it joins its worker, the only thread that makes REST calls into
  //    Orthanc on the plugin's behalf, and that worker reads the proxy route's definitions and the
  //    gateway's tokens (both still alive). Its token listener goes with it.
  inject_.reset();
  // 2. The proxy route: stops auditing and counting, and drops the credential source, which is the
  //    gateway without ownership, so it must go before the gateway.
  if (proxy_) proxy_->Shutdown();
  proxy_.reset();
  // 3. The gateway: its file watch, token refresh and audit threads stop, the audit file closes.
  if (gateway_) gateway_->Stop();
  gateway_.reset();
  // 4. The context is Orthanc's: nothing to release. The log sink (Plugin.cpp) holds its own copy of
  //    it and is removed by Finalize after this.
}

void PluginRuntime::StartDisabled(std::string reason) {
  disabledReason_ = std::move(reason);
  RegisterDisabledRoutes(context_);
}

Status PluginRuntime::StartGateway(std::unique_ptr<service::Gateway> gateway) {
  gateway_ = std::move(gateway);
  service::Gateway& gw = *gateway_;
  // Proxy mode uses the Gateway as its credential source without owning it: the destructor shuts
  // the route down before it destroys the gateway.
  auto proxy =
      ProxyRoute::Register(context_, dicomWeb_, gw.Config(),
                           std::shared_ptr<proxy::ICredentialSource>(std::shared_ptr<void>(), &gw), &gw.Policies(),
                           &gw.Metrics());
  if (!proxy.Ok()) return proxy.GetError();
  proxy_ = std::move(proxy).Value();
  proxy_->SetAudit(gw.AuditSink());
  proxy_->SetMetrics(&gw.Metrics());
  gw.StartWatching();
  // The worker of the inject glue asks the route for its loopback definitions; the route outlives it.
  ProxyRoute* route = proxy_.get();
  inject_ = InjectGlue::Install(context_, gw, dicomWeb_,
                                [route](const std::string& server) { return route->Definition(server); });
  OrthancPluginRegisterOnChangeCallback(context_, OnChange);
  RegisterRoutes(context_);
  return Status::Success();
}

OrthancPluginErrorCode PluginRuntime::OnChange(OrthancPluginChangeType type, OrthancPluginResourceType,
                                               const char* resourceId) {
  // Success even on a failure: Orthanc would only log it again; the barrier logged GW-500.
  return Guard("change handler", nullptr, OrthancPluginErrorCode_Success, [&] {
    const auto runtime = Enter();
    if (!runtime) return OrthancPluginErrorCode_Success;  // not started, or finalized: nothing to do
    if (type == OrthancPluginChangeType_OrthancStarted) {
      // proxy mode: loopback definitions; logs, never throws
      if (runtime->proxy_) runtime->proxy_->OnOrthancStarted();
      if (runtime->inject_) runtime->inject_->OnOrthancStarted();
      if (runtime->gateway_) runtime->gateway_->PrefetchCredentials();  // the startup probe waits for these
    } else if (type == OrthancPluginChangeType_JobFailure && resourceId != nullptr) {
      if (runtime->inject_) runtime->inject_->OnJobFailure(resourceId);
    }
    return OrthancPluginErrorCode_Success;
  });
}

}  // namespace gw::plugin
