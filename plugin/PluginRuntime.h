#pragma once
// The plugin's state, in one object: the Orthanc context, the DICOMweb root, the Gateway, the proxy
// route, the inject glue, the disabled reason and the test route's rate gate. Created in
// OrthancPluginInitialize, published once it is completely started, withdrawn and destroyed in
// OrthancPluginFinalize.
//
// Orthanc's callbacks (REST routes, the proxy route's chunked reader, the incoming-request filter,
// the change callback, the metrics refresh) are C function pointers without a user pointer, so they
// find the runtime through the one mutable global of plugin/: a RuntimeSlot (gw/service/
// RuntimeSlot.h) in PluginRuntime.cpp. Every callback starts with Enter() and holds the lease until
// it returns; with an empty lease (before Initialize published the runtime, from Finalize on) it
// fails closed: the filter refuses, a route lets Orthanc answer an error (kNoRuntime), the change
// and metrics callbacks do nothing.
//
// Threads: everything set before Publish() is read-only afterwards except what its own type makes
// thread safe (the Gateway, the proxy route's service under its mutex, the rate gate).
#include <orthanc/OrthancCPlugin.h>

#include <chrono>
#include <memory>
#include <string>

#include "DicomWebServers.h"
#include "gw/common/Error.h"
#include "gw/service/Gateway.h"
#include "gw/service/RateGate.h"
#include "gw/service/RuntimeSlot.h"

namespace gw::plugin {

class InjectGlue;
class ProxyRoute;

// What a route callback reports to Orthanc when no runtime serves: it cannot answer by itself (the
// context it would answer with is the runtime's), so Orthanc answers 500 "Bad sequence of calls".
constexpr OrthancPluginErrorCode kNoRuntime = OrthancPluginErrorCode_BadSequenceOfCalls;

class PluginRuntime {
 public:
  using Lease = service::RuntimeSlot<PluginRuntime>::Lease;

  // Forced fetches of the test route (POST /dicomweb-oauth/servers/{name}/test): at most
  // kForcedTests per server in any kForcedTestWindow. Each one is a request to the identity
  // provider, and any Orthanc user may call the route.
  static constexpr size_t kForcedTests = 5;
  static constexpr std::chrono::seconds kForcedTestWindow{60};

  // The runtime that serves callbacks now, kept alive until the lease is dropped; empty before
  // Publish() and from Retire() on. Lock-free. Never call Retire() while holding one.
  static Lease Enter() noexcept;
  // Initialize, last step: makes `runtime` reachable to callbacks. False (and `runtime` destroyed)
  // when one is published already.
  static bool Publish(std::unique_ptr<PluginRuntime> runtime);
  // Finalize: no new callback enters the runtime; waits for those that hold a lease, then destroys
  // it (the order is the destructor's). Idempotent.
  static void Retire() noexcept;

  explicit PluginRuntime(OrthancPluginContext* context);
  // Tears down in this order (see PluginRuntime.cpp for why): inject glue, proxy route, gateway.
  // Runs on a runtime that no callback holds: withdrawn by Retire(), or never published (a failed
  // Initialize, which Orthanc does not follow with Finalize).
  ~PluginRuntime();
  PluginRuntime(const PluginRuntime&) = delete;
  PluginRuntime& operator=(const PluginRuntime&) = delete;

  // No gateway (no DicomWebOAuth section, or Enabled false): /dicomweb-oauth/status, /health and /ui
  // answer "disabled" with `reason`.
  void StartDisabled(std::string reason);
  // The gateway serves: proxy route (CFG-002 when a proxy-mode server cannot be served; nothing
  // else is started then), file watch, inject glue and incoming filter, the change callback, the
  // gateway's routes. On an error the caller returns -1 from Initialize and destroys this object.
  Status StartGateway(std::unique_ptr<service::Gateway> gateway);

  OrthancPluginContext* Context() const { return context_; }
  const DicomWebServers& DicomWeb() const { return dicomWeb_; }
  // Null while disabled; the gateway's routes are only registered with one.
  service::Gateway* Gateway() const { return gateway_.get(); }
  ProxyRoute* Proxy() const { return proxy_.get(); }     // null while disabled
  InjectGlue* Inject() const { return inject_.get(); }   // null when the filter has nothing to do
  const std::string& DisabledReason() const { return disabledReason_; }
  service::RateGate& ForcedTests() { return forcedTests_; }

 private:
  // The plugin's only on-change callback: Orthanc allows several, but one place keeps the order of
  // reactions explicit.
  static OrthancPluginErrorCode OnChange(OrthancPluginChangeType type, OrthancPluginResourceType,
                                         const char* resourceId);

  OrthancPluginContext* const context_;
  const DicomWebServers dicomWeb_;  // DicomWeb.Root, read once
  std::string disabledReason_;      // set before Publish()
  service::RateGate forcedTests_;
  // Declared in the reverse of their teardown; the destructor still resets them one by one, in the
  // commented order, rather than rely on declaration order.
  std::unique_ptr<service::Gateway> gateway_;
  std::unique_ptr<ProxyRoute> proxy_;
  std::unique_ptr<InjectGlue> inject_;
};

}  // namespace gw::plugin
