#include "RestRoutes.h"

#include "OrthancGlue.h"
#include "gw/common/Json.h"

namespace gw::plugin {
namespace {

// Set once at start, reset at Finalize (after Orthanc stopped serving REST calls).
std::unique_ptr<service::Gateway> g_gateway;
std::string g_disabledReason;

void Answer(OrthancPluginRestOutput* output, const service::JsonAnswer& answer) {
  AnswerJson(output, answer.status, answer.body);
}

void GetStatus(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  Answer(output, g_gateway->Status());
}

void GetServers(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  Answer(output, g_gateway->Servers());
}

void PostReload(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return AnswerMethodNotAllowed(output, "POST");
  Answer(output, g_gateway->Reload(service::ReloadTrigger::Rest));
}

void GetDisabledStatus(OrthancPluginRestOutput* output, const char*,
                       const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String("disabled");
  w.Key("reason");
  w.String(g_disabledReason);
  w.EndObject();
  AnswerJson(output, 200, w.Take());
}

}  // namespace

void InstallGateway(std::unique_ptr<service::Gateway> gateway) {
  g_gateway = std::move(gateway);
  g_gateway->StartWatching();
}

void UninstallGateway() {
  if (g_gateway) g_gateway->Stop();
  g_gateway.reset();
}

size_t ServerCount() { return g_gateway ? g_gateway->Config().servers.size() : 0; }

void RegisterRoutes() {
  RegisterRoute<GetStatus>("/dicomweb-oauth/status");
  RegisterRoute<GetServers>("/dicomweb-oauth/servers");
  RegisterRoute<PostReload>("/dicomweb-oauth/reload");
}

void RegisterDisabledRoutes(const std::string& reason) {
  g_disabledReason = reason;
  RegisterRoute<GetDisabledStatus>("/dicomweb-oauth/status");
}

}  // namespace gw::plugin
