#pragma once
// Inject mode's Orthanc side: registers the incoming-request filter and translates its arguments
// into the core's ClientCall, and implements the core's Orthanc interfaces (the definition writer,
// PUT {Root}servers/{name}, and IOrthancRest) with OrthancPluginCallRestApi. The rules themselves
// (which calls concern which server, policies, rate limit, just-in-time refresh, job recovery, the
// worker thread) live in gw::service::InjectService.
#include <orthanc/OrthancCPlugin.h>

#include <memory>
#include <string>

#include "gw/service/Gateway.h"
#include "gw/service/InjectService.h"

namespace gw::plugin {

// REST call through Orthanc (afterPlugins=1): status and body; `status` 0 if the call itself failed.
using RestAnswer = service::RestReply;
RestAnswer CallOrthanc(OrthancPluginHttpMethod method, const std::string& uri, const std::string& body = {});

// One per plugin run: created after the gateway, destroyed before it.
class InjectGlue {
 public:
  // Null when the configuration gives the incoming filter nothing to do (InjectService::Needed):
  // nothing is registered then. Otherwise reads DicomWeb.Root and registers the filter (Orthanc
  // cannot unregister it: once this object is gone, the filter lets everything through).
  static std::unique_ptr<InjectGlue> Install(service::Gateway& gateway);
  ~InjectGlue();
  InjectGlue(const InjectGlue&) = delete;
  InjectGlue& operator=(const InjectGlue&) = delete;

  // From the plugin's single on-change callback.
  void OnOrthancStarted() { service_.OnOrthancStarted(); }
  void OnJobFailure(const std::string& jobId) { service_.OnJobFailure(jobId); }

 private:
  explicit InjectGlue(service::Gateway& gateway);
  static int32_t Filter(OrthancPluginHttpMethod method, const char* uri, const char* ip, uint32_t headersCount,
                        const char* const* headersKeys, const char* const* headersValues, uint32_t getCount,
                        const char* const* getKeys, const char* const* getValues);

  service::InjectService service_;
};

}  // namespace gw::plugin
