#pragma once
// The gateway's own REST routes under /dicomweb-oauth/, with real statuses and method checks. Every
// route runs inside a lease on the PluginRuntime (PluginRuntime.h) and behind the GW-500 barrier.
#include <orthanc/OrthancCPlugin.h>

namespace gw::plugin {

// The gateway's routes and Orthanc's metrics refresh; the runtime that serves them has a gateway.
void RegisterRoutes(OrthancPluginContext* context);
// When the gateway is not configured: /dicomweb-oauth/status answers {"status":"disabled",...}
// with the runtime's DisabledReason(), the health probes pass, the page shows why.
void RegisterDisabledRoutes(OrthancPluginContext* context);
// A button in Orthanc Explorer that opens the operator page /dicomweb-oauth/ui/ (needs no runtime).
void ExtendExplorer(OrthancPluginContext* context);

}  // namespace gw::plugin
