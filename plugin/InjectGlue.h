#pragma once
// Inject mode's Orthanc side: the definition writer (PUT /dicom-web/servers/{name} through
// CallRestApi), the incoming-request filter that refreshes tokens just in time, and the JobFailure
// handler that renews the token and resubmits a DICOMweb job refused for bad credentials.
#include <orthanc/OrthancCPlugin.h>

#include <string>

#include "gw/service/Gateway.h"

namespace gw::plugin {

// REST call through Orthanc (afterPlugins=1): status and body; `status` 0 if the call itself failed.
struct RestAnswer {
  uint16_t status = 0;
  std::string body;
};
RestAnswer CallOrthanc(OrthancPluginHttpMethod method, const std::string& uri, const std::string& body = {});

// Sets up inject mode for the gateway's inject-mode servers (nothing if there are none).
void InstallInjectMode(service::Gateway& gateway);
void UninstallInjectMode();

// From the plugin's single on-change callback.
void InjectOnOrthancStarted();
void InjectOnJobFailure(const std::string& jobId);

}  // namespace gw::plugin
