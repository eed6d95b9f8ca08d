#pragma once
// The gateway's own REST routes under /dicomweb-oauth/, with real statuses and method checks.
#include <memory>
#include <string>

#include "gw/service/Gateway.h"

namespace gw::plugin {

void InstallGateway(std::unique_ptr<service::Gateway> gateway);
void UninstallGateway();
size_t ServerCount();

void RegisterRoutes();
// When the gateway is not configured: /dicomweb-oauth/status answers {"status":"disabled",...}.
void RegisterDisabledRoutes(const std::string& reason);
// A button in Orthanc Explorer that opens the operator page /dicomweb-oauth/ui/.
void ExtendExplorer();

}  // namespace gw::plugin
