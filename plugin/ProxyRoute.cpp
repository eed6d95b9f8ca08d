#include "ProxyRoute.h"

#include <orthanc/OrthancCPlugin.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "OrthancGlue.h"
#include "PluginRuntime.h"
#include "ProxyOutput.h"
#include "gw/common/Log.h"
#include "gw/proxy/ProxyService.h"

// Orthanc glue only: what a request is (Read), the chunked-reader callbacks and the answers through
// Orthanc (ProxyOutput). Admission, routing, failover, audit and logs: gw::proxy::ProxyService.
namespace gw::plugin {

namespace {

constexpr const char* kRouteRegex = "/oauth-dicom-web/servers/([^/]+)/(.*)";

// What the route needs from Orthanc's request description.
proxy::Incoming Read(const OrthancPluginHttpRequest* request) {
  std::string server;
  std::string tail;
  if (request->groupsCount >= 2) {
    server = request->groups[0];
    tail = request->groups[1];
  }
  http::Headers headers;
  headers.reserve(request->headersCount);
  for (uint32_t i = 0; i < request->headersCount; ++i) {
    headers.emplace_back(request->headersKeys[i], request->headersValues[i]);
  }
  std::vector<std::pair<std::string, std::string>> arguments;
  arguments.reserve(request->getCount);
  for (uint32_t i = 0; i < request->getCount; ++i) arguments.emplace_back(request->getKeys[i], request->getValues[i]);
  return proxy::Incoming::Describe(MethodName(request->method), std::move(server), std::move(tail),
                                   std::move(headers), arguments);
}

OrthancPluginErrorCode Finish(proxy::AnswerWriter::Outcome outcome) {
  // Broken: a multipart answer was started and cannot be completed. An error code makes Orthanc
  // drop the connection without writing the closing boundary, so the client sees a truncated
  // answer instead of a well-formed one with missing instances.
  return outcome == proxy::AnswerWriter::Outcome::Complete ? OrthancPluginErrorCode_Success
                                                           : OrthancPluginErrorCode_NetworkProtocol;
}

// GET and DELETE: the exchange runs on Orthanc's HTTP thread and the answer streams straight out.
OrthancPluginErrorCode HandleWithoutBody(OrthancPluginRestOutput* output, const char*,
                                         const OrthancPluginHttpRequest* request) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    const auto runtime = PluginRuntime::Enter();  // held for the whole exchange
    if (!runtime) return kNoRuntime;
    auto service = runtime->Proxy() != nullptr ? runtime->Proxy()->Service() : nullptr;
    if (!service) {
      AnswerError(runtime->Context(), output, proxy::ProxyService::NotRunning());
      return OrthancPluginErrorCode_Success;
    }
    const proxy::Incoming in = Read(request);
    ProxyOutput out(runtime->Context(), output, in.trace.traceId);
    return Finish(service->Serve(in, out));
  });
}

// POST and PUT: Orthanc hands the body over in pieces (AddChunk) before it calls Execute; the
// exchange (proxy::BodyExchange) starts as soon as the reader exists. Each callback runs behind
// the exception barrier (an escaping exception is logged as GW-500 and reported to Orthanc as an
// internal error).
proxy::BodyExchange* AsExchange(OrthancPluginServerChunkedRequestReader* reader) {
  return reinterpret_cast<proxy::BodyExchange*>(reader);
}

OrthancPluginErrorCode CreateReader(OrthancPluginServerChunkedRequestReader** reader, const char*,
                                    const OrthancPluginHttpRequest* request) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    const auto runtime = PluginRuntime::Enter();
    if (!runtime) return kNoRuntime;
    // A refused request still gets a reader, so the refusal is answered with its error body in
    // Execute (the body is read and dropped meanwhile). The exchange keeps its own reference to
    // the service, as a request without body does for the time it runs.
    auto created =
        proxy::BodyExchange::Open(runtime->Proxy() != nullptr ? runtime->Proxy()->Service() : nullptr, Read(request));
    *reader = reinterpret_cast<OrthancPluginServerChunkedRequestReader*>(created.release());
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode AddChunk(OrthancPluginServerChunkedRequestReader* reader, const void* data,
                                uint32_t size) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    AsExchange(reader)->AddChunk(std::string_view(static_cast<const char*>(data), size));
    return OrthancPluginErrorCode_Success;
  });
}

OrthancPluginErrorCode Execute(OrthancPluginServerChunkedRequestReader* reader,
                               OrthancPluginRestOutput* output) noexcept {
  return Guard("proxy", nullptr, OrthancPluginErrorCode_InternalError, [&] {
    const auto runtime = PluginRuntime::Enter();  // the answer goes out through its context
    if (!runtime) return kNoRuntime;
    proxy::BodyExchange* exchange = AsExchange(reader);
    ProxyOutput out(runtime->Context(), output, exchange->TraceId());
    return Finish(exchange->Execute(out));
  });
}

void FinalizeReader(OrthancPluginServerChunkedRequestReader* reader) noexcept {
  GuardVoid("proxy", " releasing a request", [&] { delete AsExchange(reader); });
}

}  // namespace

Result<std::unique_ptr<ProxyRoute>> ProxyRoute::Register(OrthancPluginContext* context,
                                                        const DicomWebServers& dicomWeb,
                                                        const config::GatewayConfig& config,
                                                        std::shared_ptr<proxy::ICredentialSource> credentials,
                                                        const policy::PolicyEngine* policies,
                                                        MetricsRegistry* metrics) {
  proxy::ProxyDependencies deps;
  deps.credentials = std::move(credentials);
  if (policies != nullptr) {
    deps.decide = [policies](const std::vector<std::string>& names, const policy::PolicyRequest& request) {
      return policies->Decide(names, request);
    };
  }
  deps.metrics = metrics;
  auto service = proxy::ProxyService::Create(config, std::move(deps));
  if (!service) return service.GetError();

  std::unique_ptr<ProxyRoute> route(new ProxyRoute(dicomWeb, std::move(service).Value()));
  OrthancPluginRegisterChunkedRestCallback(context, kRouteRegex, &HandleWithoutBody, &CreateReader,
                                           &HandleWithoutBody, &CreateReader, &AddChunk, &Execute, &FinalizeReader);
  LogInfo("proxy: route /oauth-dicom-web/servers/{name}/ registered for " +
          std::to_string(route->service_->ServerCount()) + " server(s) in proxy mode");
  return route;
}

ProxyRoute::ProxyRoute(DicomWebServers dicomWeb, std::shared_ptr<proxy::ProxyService> service)
    : dicomWeb_(std::move(dicomWeb)), service_(std::move(service)) {}

ProxyRoute::~ProxyRoute() { Shutdown(); }

std::shared_ptr<proxy::ProxyService> ProxyRoute::Service() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return service_;
}

void ProxyRoute::OnOrthancStarted() {
  auto service = Service();
  if (!service) return;
  for (const auto& [name, definition] : service->Definitions()) {
    Status written = dicomWeb_.Write(name, definition);
    if (!written) {
      LogError("proxy: " + written.GetError().ToString());
      continue;
    }
    LogInfo("proxy: DICOMweb server '" + name + "' now goes through the gateway (" + definition.url + ")");
  }
}

std::optional<proxy::DicomWebDefinition> ProxyRoute::Definition(const std::string& server) const {
  const auto service = Service();
  if (!service) return std::nullopt;
  const auto it = service->Definitions().find(server);
  if (it == service->Definitions().end()) return std::nullopt;
  return it->second;
}

void ProxyRoute::SetMetrics(MetricsRegistry* registry) {
  if (auto service = Service()) service->SetMetrics(registry);
}

void ProxyRoute::SetAudit(std::shared_ptr<audit::IAuditSink> sink) {
  if (auto service = Service()) service->SetAudit(std::move(sink));
}

std::shared_ptr<const policy::TargetHealth> ProxyRoute::TargetHealth(const std::string& server) const {
  const auto service = Service();
  return service ? service->TargetHealth(server) : nullptr;
}

void ProxyRoute::Shutdown() {
  std::shared_ptr<proxy::ProxyService> service;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    service.swap(service_);
  }
  // Requests still running hold their own reference (they stop auditing and counting now);
  // Orthanc has stopped serving HTTP when Finalize calls this, and the runtime has waited for
  // every route callback to return, so `service` is normally the last one and releases the
  // credential source here. A chunked request between two of its callbacks keeps its own.
  if (service) service->Detach();
}

}  // namespace gw::plugin
