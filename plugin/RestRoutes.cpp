#include "RestRoutes.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <string>

#include "InjectGlue.h"
#include "OrthancGlue.h"
#include "ProxyRoute.h"
#include "UiAssets.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/proxy/StatusMap.h"
#include "gw/service/RateGate.h"

namespace gw::plugin {
namespace {

// Set once at start, reset at Finalize (after Orthanc stopped serving REST calls).
std::unique_ptr<service::Gateway> g_gateway;
std::unique_ptr<InjectGlue> g_inject;  // null when the incoming filter has nothing to do
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

std::string HeaderOf(const OrthancPluginHttpRequest* request, std::string_view name) {
  for (uint32_t i = 0; i < request->headersCount; ++i) {
    const std::string_view key(request->headersKeys[i]);
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return request->headersValues[i];
    }
  }
  return {};
}

// Cross-site request forgery: a page on any other site can make a visitor's browser POST a form to
// these routes, and the browser adds the visitor's Orthanc credentials (cached Basic auth, cookies
// of a proxy in front). So a POST that comes from a browser must prove it was sent by a script of
// this origin: browsers mark every request they send with Origin and/or Sec-Fetch-* headers, a form
// cannot add a header of its own, and a cross-origin script that adds one needs a CORS preflight
// that Orthanc never grants. Requests without any browser mark (curl, the CLI, automation) pass as
// before. docs/security.md, "Cross-site requests".
constexpr const char* kRequestedByHeader = "x-requested-by";
constexpr const char* kRequestedByValue = "dicomweb-oauth-ui";

bool RefusedCrossSite(OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  const std::string site = HeaderOf(request, "sec-fetch-site");
  const std::string origin = HeaderOf(request, "origin");
  const std::string mode = HeaderOf(request, "sec-fetch-mode");
  const bool fromBrowser = !site.empty() || !origin.empty() || !mode.empty();
  std::string why;
  if (!site.empty() && site != "same-origin" && site != "none") {
    why = "the request was sent by a page of another site (Sec-Fetch-Site: " + site + ")";
  } else if (origin == "null") {
    why = "the request was sent by a page without an origin (Origin: null)";
  } else if (fromBrowser && HeaderOf(request, kRequestedByHeader) != kRequestedByValue) {
    why = std::string("a browser request must carry the header X-Requested-By: ") + kRequestedByValue +
          " (the operator page sends it)";
  }
  if (why.empty()) return false;
  LogWarning("GW-403 cross-site request refused: " + why);
  AnswerError(output, MakeError("GW-403", "cross-site request refused: " + why, 403));
  return true;
}

void PostReload(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return AnswerMethodNotAllowed(output, "POST");
  if (RefusedCrossSite(output, request)) return;
  Answer(output, g_gateway->Reload(service::ReloadTrigger::Rest));
}

// POST /dicomweb-oauth/reload/dry-run: what a reload would publish (or why it would be refused),
// without publishing (docs/policies.md, "Before a reload").
void PostDryRun(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return AnswerMethodNotAllowed(output, "POST");
  if (RefusedCrossSite(output, request)) return;
  Answer(output, g_gateway->DryRun());
}

// GET /dicomweb-oauth/ui/: the operator page (plugin/ui/). It only reads the JSON routes above and
// posts to the test and reload routes; it holds nothing of its own.
void GetUi(OrthancPluginRestOutput* output, const char*, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return AnswerMethodNotAllowed(output, "GET");
  // Inline script and style only (no other source, no form target, no framing: the buttons cannot
  // be clicked through another site's frame).
  OrthancPluginSetHttpHeader(Context(), output, "Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                             "connect-src 'self'; img-src 'self' data:; form-action 'none'; "
                             "frame-ancestors 'none'; base-uri 'none'");
  OrthancPluginSetHttpHeader(Context(), output, "X-Frame-Options", "DENY");
  OrthancPluginSetHttpHeader(Context(), output, "Cache-Control", "no-store");
  const std::string_view page = ui::Page();
  AnswerText(output, 200, std::string(page), "text/html; charset=utf-8");
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
  if (RefusedCrossSite(output, request)) return;
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
  GuardVoid("refreshing Orthanc's metrics", nullptr, [] {
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
  });
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
  // Success even on a failure: Orthanc would only log it again; the barrier logged GW-500.
  return Guard("change handler", nullptr, OrthancPluginErrorCode_Success, [&] {
    if (type == OrthancPluginChangeType_OrthancStarted) {
      OnOrthancStarted();  // proxy mode: loopback definitions (ProxyRoute.h); logs, never throws
      if (g_inject) g_inject->OnOrthancStarted();
      if (g_gateway) g_gateway->PrefetchCredentials();  // the startup probe waits for these
    } else if (type == OrthancPluginChangeType_JobFailure && resourceId != nullptr) {
      if (g_inject) g_inject->OnJobFailure(resourceId);
    }
    return OrthancPluginErrorCode_Success;
  });
}

void InstallGateway(std::unique_ptr<service::Gateway> gateway) {
  g_gateway = std::move(gateway);
  g_gateway->StartWatching();
  g_inject = InjectGlue::Install(*g_gateway);
  OrthancPluginRegisterOnChangeCallback(Context(), OnChange);
}

void UninstallGateway() {
  g_inject.reset();
  if (g_gateway) g_gateway->Stop();
  g_gateway.reset();
}

size_t ServerCount() { return g_gateway ? g_gateway->Config().servers.size() : 0; }

void RegisterRoutes() {
  RegisterRoute<GetStatus>("/dicomweb-oauth/status");
  RegisterRoute<GetServers>("/dicomweb-oauth/servers");
  RegisterRoute<PostReload>("/dicomweb-oauth/reload");
  RegisterRoute<PostDryRun>("/dicomweb-oauth/reload/dry-run");
  RegisterRoute<GetUi>("/dicomweb-oauth/ui");
  RegisterRoute<PostTestServer>("/dicomweb-oauth/servers/([^/]+)/test");
  RegisterRoute<GetMetrics>("/dicomweb-oauth/metrics");
  RegisterRoute<GetHealth>("/dicomweb-oauth/health/([^/]+)");
  OrthancPluginRegisterRefreshMetricsCallback(Context(), RefreshOrthancMetrics);
}

void RegisterDisabledRoutes(const std::string& reason) {
  g_disabledReason = reason;
  RegisterRoute<GetDisabledStatus>("/dicomweb-oauth/status");
  RegisterRoute<GetDisabledHealth>("/dicomweb-oauth/health/([^/]+)");
  RegisterRoute<GetUi>("/dicomweb-oauth/ui");  // shows "disabled" and why
}

void ExtendExplorer() { OrthancPluginExtendOrthancExplorer(Context(), ui::ExplorerScript()); }

}  // namespace gw::plugin
