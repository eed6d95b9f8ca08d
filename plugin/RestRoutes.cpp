#include "RestRoutes.h"

#include <chrono>
#include <cstring>
#include <string>

#include "InjectGlue.h"
#include "OrthancGlue.h"
#include "ProxyRoute.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/proxy/StatusMap.h"
#include "gw/service/RateGate.h"

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
  Answer(output, g_gateway->Servers(&ProxyTargetHealth));
}

void PostReload(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return AnswerMethodNotAllowed(output, "POST");
  Answer(output, g_gateway->Reload(service::ReloadTrigger::Rest));
}

// Forced fetches of the test route: at most kForcedTests per server in any kForcedTestWindow. Each one
// is a request to the identity provider, and any Orthanc user may call the route.
constexpr size_t kForcedTests = 5;
constexpr std::chrono::seconds kForcedTestWindow{60};
service::RateGate g_forcedTests(kForcedTests, kForcedTestWindow);

// POST /dicomweb-oauth/servers/{name}/test: a fresh acquisition by default (the point is to prove
// the identity provider answers); body {"Fresh": false} reuses a cached token. A forced fetch over
// the budget is answered GW-429 (as 503) with Retry-After (the cached token is not offered instead: the
// caller asked whether the IdP answers now).
void PostTestServer(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return AnswerMethodNotAllowed(output, "POST");
  bool fresh = true;
  if (request->bodySize > 0) {
    auto body = json::Parse(std::string_view(static_cast<const char*>(request->body), request->bodySize), "GW-400");
    if (!body.Ok() || !body.Value().IsObject()) {
      return AnswerError(output, MakeError("GW-400", "the body must be a JSON object such as {\"Fresh\": false}", 400));
    }
    auto it = body.Value().FindMember("Fresh");
    if (it != body.Value().MemberEnd()) {
      if (!it->value.IsBool()) return AnswerError(output, MakeError("GW-400", "\"Fresh\" must be true or false", 400));
      fresh = it->value.GetBool();
    }
  }
  const std::string server = request->groups[0];
  // Unknown names are answered (404) without an IdP call and without a gate entry.
  if (fresh && g_gateway->Config().servers.count(server) > 0) {
    if (const auto wait = g_forcedTests.TryPass(server); wait.count() > 0) {
      const std::string retry = std::to_string(wait.count());
      OrthancPluginSetHttpHeader(Context(), output, "Retry-After", retry.c_str());
      const std::string why = std::to_string(kForcedTests) + " fresh tokens for '" + server +
                              "' were requested in the last " + std::to_string(kForcedTestWindow.count()) +
                              " s: retry in " + retry + " s, or send {\"Fresh\": false}";
      // Orthanc 1.10.1 cannot send 429 (StatusMap.h): 503 says "try later" too, Retry-After says when.
      return AnswerError(output, MakeError("GW-429", why, proxy::RepresentableStatus(429)));
    }
  }
  Answer(output, g_gateway->TestServer(server, fresh));
}

// GET /dicomweb-oauth/health/{live,ready,startup}: probes for orchestrators (gw/service/Health.h).
void GetHealth(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  service::HealthProbe probe;
  if (!service::ParseHealthProbe(request->groups[0], probe)) {
    return AnswerError(output, MakeError("GW-404", "health probes are live, ready and startup", 404));
  }
  Answer(output, g_gateway->Health(probe));
}

void GetMetrics(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  AnswerText(output, 200, g_gateway->MetricsText(), "text/plain; version=0.0.4");
}

// Orthanc's own metrics have no labels and hold 32-bit floats: each labelled series becomes one
// Orthanc metric named like its Prometheus series (`name{label="value"}`), which Orthanc's
// /tools/metrics-prometheus prints as is. Histograms push their _count and _sum.
void RefreshOrthancMetrics() {
  try {
    if (!g_gateway) return;
    for (const auto& family : g_gateway->Metrics().Collect()) {
      for (const auto& sample : family.samples) {
        if (sample.name.size() > 7 && sample.name.compare(sample.name.size() - 7, 7, "_bucket") == 0) continue;
        std::string name = sample.name;
        if (!sample.labels.empty()) {
          name += "{";
          bool first = true;
          for (const auto& [k, v] : sample.labels) {
            if (!first) name += ",";
            first = false;
            name += k + "=\"";
            for (char c : v) name += (c == '"' || c == '\\' || c == '\n') ? '_' : c;
            name += "\"";
          }
          name += "}";
        }
        OrthancPluginSetMetricsValue(Context(), name.c_str(), static_cast<float>(sample.value),
                                     OrthancPluginMetricsType_Default);
      }
    }
  } catch (const std::exception& e) {
    LogWarning(std::string("cannot refresh Orthanc metrics: ") + e.what());
  }
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

// An idle plugin (no DicomWebOAuth section, or Enabled false) never holds Orthanc back.
void GetDisabledHealth(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  service::HealthProbe probe;
  if (!service::ParseHealthProbe(request->groups[0], probe)) {
    return AnswerError(output, MakeError("GW-404", "health probes are live, ready and startup", 404));
  }
  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String("pass");
  w.Key("probe");
  w.String(service::ToString(probe));
  w.Key("gateway");
  w.String("disabled");
  w.EndObject();
  AnswerJson(output, 200, w.Take());
}

}  // namespace

// The plugin's only on-change callback: Orthanc allows several, but one place keeps the order
// of reactions explicit.
OrthancPluginErrorCode OnChange(OrthancPluginChangeType type, OrthancPluginResourceType, const char* resourceId) {
  try {
    if (type == OrthancPluginChangeType_OrthancStarted) {
      OnOrthancStarted();  // proxy mode: loopback definitions (ProxyRoute.h); logs, never throws
      InjectOnOrthancStarted();
      if (g_gateway) g_gateway->PrefetchCredentials();  // the startup probe waits for these
    } else if (type == OrthancPluginChangeType_JobFailure && resourceId != nullptr) {
      InjectOnJobFailure(resourceId);
    }
  } catch (const std::exception& e) {
    LogError(std::string("GW-500 change handler: ") + e.what());
  }
  return OrthancPluginErrorCode_Success;
}

void InstallGateway(std::unique_ptr<service::Gateway> gateway) {
  g_gateway = std::move(gateway);
  g_gateway->StartWatching();
  InstallInjectMode(*g_gateway);
  OrthancPluginRegisterOnChangeCallback(Context(), OnChange);
}

void UninstallGateway() {
  UninstallInjectMode();
  if (g_gateway) g_gateway->Stop();
  g_gateway.reset();
}

size_t ServerCount() { return g_gateway ? g_gateway->Config().servers.size() : 0; }

void RegisterRoutes() {
  RegisterRoute<GetStatus>("/dicomweb-oauth/status");
  RegisterRoute<GetServers>("/dicomweb-oauth/servers");
  RegisterRoute<PostReload>("/dicomweb-oauth/reload");
  RegisterRoute<PostTestServer>("/dicomweb-oauth/servers/([^/]+)/test");
  RegisterRoute<GetMetrics>("/dicomweb-oauth/metrics");
  RegisterRoute<GetHealth>("/dicomweb-oauth/health/([^/]+)");
  OrthancPluginRegisterRefreshMetricsCallback(Context(), RefreshOrthancMetrics);
}

void RegisterDisabledRoutes(const std::string& reason) {
  g_disabledReason = reason;
  RegisterRoute<GetDisabledStatus>("/dicomweb-oauth/status");
  RegisterRoute<GetDisabledHealth>("/dicomweb-oauth/health/([^/]+)");
}

}  // namespace gw::plugin
