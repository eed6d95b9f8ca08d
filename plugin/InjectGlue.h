#pragma once
// Inject mode's Orthanc side: registers the incoming-request filter and translates its arguments
// into the core's ClientCall, and implements the core's Orthanc interfaces (the definition writer,
// PUT {Root}servers/{name}, and IOrthancRest) with OrthancPluginCallRestApi. The rules themselves
// (which calls concern which server, policies, rate limit, just-in-time refresh, job recovery, the
// worker thread) live in gw::service::InjectService.
#include <orthanc/OrthancCPlugin.h>

#include <memory>
#include <string>

#include "DicomWebServers.h"
#include "gw/service/Gateway.h"
#include "gw/service/InjectService.h"

namespace gw::plugin {

// REST call through Orthanc (afterPlugins=1): status and body; `status` 0 if the call itself failed.
using RestAnswer = service::RestReply;
RestAnswer CallOrthanc(OrthancPluginContext* context, OrthancPluginHttpMethod method, const std::string& uri,
                       const std::string& body = {});

// One per plugin run, owned by the PluginRuntime: created after the gateway and the proxy route,
// destroyed before them.
class InjectGlue {
 public:
  // Null when the configuration gives the incoming filter nothing to do (InjectService::Needed):
  // nothing is registered then. Otherwise registers the filter, which finds this object through the
  // runtime (PluginRuntime::Enter()). Orthanc cannot unregister a filter: while no runtime with an
  // InjectGlue is published (before Initialize ends, from Finalize on), it refuses every request.
  // `proxyDefinition` must stay callable until this object is destroyed (its worker calls it).
  static std::unique_ptr<InjectGlue> Install(OrthancPluginContext* context, service::Gateway& gateway,
                                             const DicomWebServers& dicomWeb,
                                             service::InjectService::ProxyDefinitionLookup proxyDefinition);
  // Stops the worker (joins it: no REST call to Orthanc is made by inject mode after this).
  ~InjectGlue();
  InjectGlue(const InjectGlue&) = delete;
  InjectGlue& operator=(const InjectGlue&) = delete;

  // From the plugin's single on-change callback.
  void OnOrthancStarted() { service_.OnOrthancStarted(); }
  void OnJobFailure(const std::string& jobId) { service_.OnJobFailure(jobId); }

 private:
  InjectGlue(OrthancPluginContext* context, service::Gateway& gateway, const DicomWebServers& dicomWeb,
             service::InjectService::ProxyDefinitionLookup proxyDefinition);
  static int32_t Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
                        const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
                        const char* const* getKeys, const char* const* getValues);

  service::InjectService service_;
};

}  // namespace gw::plugin
