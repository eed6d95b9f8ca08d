#pragma once
// Start-up check of proxy mode under Orthanc authentication. In proxy mode the DICOMweb plugin
// calls this Orthanc's own HTTP server (the loopback route); when Orthanc asks every request for
// Basic credentials, those calls need an Orthanc user in the server's definition, or Orthanc
// answers 401 before the gateway sees them and every DICOMweb call of that server fails.
//
// The definition gets `Username`/`Password` from DicomWebOAuth.Servers.<name>, or from
// DicomWeb.Servers.<name> when that entry already points at the route (a Python plugin
// configuration), exactly as both modes build it (gw/proxy/DefinitionMerge.h).
#include <vector>

#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"

namespace gw::service {

// CFG-008 warnings (path DicomWebOAuth.Servers.<name>.Username) for each proxy-mode server whose
// loopback calls Orthanc would refuse: no Username at all, or one that is not in RegisteredUsers.
// Empty when Orthanc does not require authentication. Never quotes a password.
std::vector<config::Diagnostic> CheckLoopbackCredentials(const config::GatewayConfig& config);

}  // namespace gw::service
