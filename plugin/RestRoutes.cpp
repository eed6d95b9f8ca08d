#include "RestRoutes.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <string>

#include "OrthancGlue.h"
#include "PluginRuntime.h"
#include "ProxyRoute.h"
#include "UiAssets.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/proxy/StatusMap.h"
#include "gw/service/RateGate.h"

namespace gw::plugin {
namespace {

// A route handler runs inside the runtime's lease (Protect): `rt` stays alive until it returns.
// The gateway's routes are registered only by a runtime that has a gateway.
using RestHandler = void (*)(PluginRuntime& rt, OrthancPluginRestOutput* output,
                             const OrthancPluginHttpRequest* request);

// Exception barrier of a REST route (Guard): leases the runtime (none: kNoRuntime, Orthanc answers
// the error), runs `handler`, turns any escaping exception into a 500 with code GW-500.
OrthancPluginErrorCode Protect(RestHandler handler, OrthancPluginRestOutput* output, const char* url,
                               const OrthancPluginHttpRequest* request) noexcept {
  const auto runtime = PluginRuntime::Enter();
  if (!runtime) return kNoRuntime;
  const bool handled = Guard("internal error on ", url, false, [&] {
    handler(*runtime, output, request);
    return true;
  });
  if (handled) return OrthancPluginErrorCode_Success;
  return Guard("internal error on ", url, OrthancPluginErrorCode_InternalError, [&] {
    AnswerError(runtime->Context(), output, MakeError("GW-500", "internal error, see the Orthanc log", 500));
    return OrthancPluginErrorCode_Success;
  });
}

// Registers a concurrent (NoLock) REST callback wrapped in Protect().
template <RestHandler H>
void RegisterRoute(OrthancPluginContext* context, const char* regex) {
  OrthancPluginRegisterRestCallbackNoLock(
      context, regex,
      [](OrthancPluginRestOutput* output, const char* url,
         const OrthancPluginHttpRequest* request) -> OrthancPluginErrorCode {
        return Protect(H, output, url, request);
      });
}

void Answer(PluginRuntime& rt, OrthancPluginRestOutput* output, const service::JsonAnswer& answer) {
  AnswerJson(rt.Context(), output, answer.status, answer.body);
}

void MethodNotAllowed(PluginRuntime& rt, OrthancPluginRestOutput* output, const char* allowed) {
  AnswerMethodNotAllowed(rt.Context(), output, allowed);
}

void GetStatus(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  Answer(rt, output, rt.Gateway()->Status());
}

void GetServers(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  Answer(rt, output, rt.Gateway()->Servers([&rt](const std::string& server) {
    return rt.Proxy() != nullptr ? rt.Proxy()->TargetHealth(server) : nullptr;
  }));
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

bool RefusedCrossSite(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
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
  AnswerError(rt.Context(), output, MakeError("GW-403", "cross-site request refused: " + why, 403));
  return true;
}

void PostReload(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return MethodNotAllowed(rt, output, "POST");
  if (RefusedCrossSite(rt, output, request)) return;
  Answer(rt, output, rt.Gateway()->Reload(service::ReloadTrigger::Rest));
}

// POST /dicomweb-oauth/reload/dry-run: what a reload would publish (or why it would be refused),
// without publishing (docs/policies.md, "Before a reload").
void PostDryRun(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return MethodNotAllowed(rt, output, "POST");
  if (RefusedCrossSite(rt, output, request)) return;
  Answer(rt, output, rt.Gateway()->DryRun());
}

// GET /dicomweb-oauth/ui/: the operator page (plugin/ui/). It only reads the JSON routes above and
// posts to the test and reload routes; it holds nothing of its own.
void GetUi(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  // Inline script and style only (no other source, no form target, no framing: the buttons cannot
  // be clicked through another site's frame).
  OrthancPluginSetHttpHeader(rt.Context(), output, "Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                             "connect-src 'self'; img-src 'self' data:; form-action 'none'; "
                             "frame-ancestors 'none'; base-uri 'none'");
  OrthancPluginSetHttpHeader(rt.Context(), output, "X-Frame-Options", "DENY");
  OrthancPluginSetHttpHeader(rt.Context(), output, "Cache-Control", "no-store");
  const std::string_view page = ui::Page();
  AnswerText(rt.Context(), output, 200, std::string(page), "text/html; charset=utf-8");
}

// POST /dicomweb-oauth/servers/{name}/test: a fresh acquisition by default (the point is to prove
// the identity provider answers); body {"Fresh": false} reuses a cached token. A forced fetch over
// the budget is answered GW-429 (as 503) with Retry-After (the cached token is not offered instead: the
// caller asked whether the IdP answers now).
void PostTestServer(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Post) return MethodNotAllowed(rt, output, "POST");
  if (RefusedCrossSite(rt, output, request)) return;
  bool fresh = true;
  if (request->bodySize > 0) {
    auto body = json::Parse(std::string_view(static_cast<const char*>(request->body), request->bodySize), "GW-400");
    if (!body.Ok() || !body.Value().IsObject()) {
      return AnswerError(rt.Context(), output,
                         MakeError("GW-400", "the body must be a JSON object such as {\"Fresh\": false}", 400));
    }
    auto it = body.Value().FindMember("Fresh");
    if (it != body.Value().MemberEnd()) {
      if (!it->value.IsBool()) {
        return AnswerError(rt.Context(), output, MakeError("GW-400", "\"Fresh\" must be true or false", 400));
      }
      fresh = it->value.GetBool();
    }
  }
  const std::string server = request->groups[0];
  // Unknown names are answered (404) without an IdP call and without a gate entry.
  if (fresh && rt.Gateway()->Config().servers.count(server) > 0) {
    // At most PluginRuntime::kForcedTests per server and window (PluginRuntime.h says why).
    if (const auto wait = rt.ForcedTests().TryPass(server); wait.count() > 0) {
      const std::string retry = std::to_string(wait.count());
      OrthancPluginSetHttpHeader(rt.Context(), output, "Retry-After", retry.c_str());
      const std::string why = std::to_string(PluginRuntime::kForcedTests) + " fresh tokens for '" + server +
                              "' were requested in the last " +
                              std::to_string(PluginRuntime::kForcedTestWindow.count()) +
                              " s: retry in " + retry + " s, or send {\"Fresh\": false}";
      // Orthanc 1.10.1 cannot send 429 (StatusMap.h): 503 says "try later" too, Retry-After says when.
      return AnswerError(rt.Context(), output, MakeError("GW-429", why, proxy::RepresentableStatus(429)));
    }
  }
  Answer(rt, output, rt.Gateway()->TestServer(server, fresh));
}

// GET /dicomweb-oauth/health/{live,ready,startup}: probes for orchestrators (gw/service/Health.h).
void GetHealth(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  service::HealthProbe probe;
  if (!service::ParseHealthProbe(request->groups[0], probe)) {
    return AnswerError(rt.Context(), output, MakeError("GW-404", "health probes are live, ready and startup", 404));
  }
  Answer(rt, output, rt.Gateway()->Health(probe));
}

void GetMetrics(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  AnswerText(rt.Context(), output, 200, rt.Gateway()->MetricsText(), "text/plain; version=0.0.4");
}

// Orthanc's own metrics have no labels and hold 32-bit floats: each labelled series becomes one
// Orthanc metric named like its Prometheus series (`name{label="value"}`), which Orthanc's
// /tools/metrics-prometheus prints as is. Histograms push their _count and _sum.
void RefreshOrthancMetrics() {
  GuardVoid("refreshing Orthanc's metrics", nullptr, [] {
    const auto runtime = PluginRuntime::Enter();
    if (!runtime || runtime->Gateway() == nullptr) return;
    for (const auto& family : runtime->Gateway()->Metrics().Collect()) {
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
        OrthancPluginSetMetricsValue(runtime->Context(), name.c_str(), static_cast<float>(sample.value),
                                     OrthancPluginMetricsType_Default);
      }
    }
  });
}

void GetDisabledStatus(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String("disabled");
  w.Key("reason");
  w.String(rt.DisabledReason());
  w.EndObject();
  AnswerJson(rt.Context(), output, 200, w.Take());
}

// An idle plugin (no DicomWebOAuth section, or Enabled false) never holds Orthanc back.
void GetDisabledHealth(PluginRuntime& rt, OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* request) {
  if (request->method != OrthancPluginHttpMethod_Get) return MethodNotAllowed(rt, output, "GET");
  service::HealthProbe probe;
  if (!service::ParseHealthProbe(request->groups[0], probe)) {
    return AnswerError(rt.Context(), output, MakeError("GW-404", "health probes are live, ready and startup", 404));
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
  AnswerJson(rt.Context(), output, 200, w.Take());
}

}  // namespace

void RegisterRoutes(OrthancPluginContext* context) {
  RegisterRoute<GetStatus>(context, "/dicomweb-oauth/status");
  RegisterRoute<GetServers>(context, "/dicomweb-oauth/servers");
  RegisterRoute<PostReload>(context, "/dicomweb-oauth/reload");
  RegisterRoute<PostDryRun>(context, "/dicomweb-oauth/reload/dry-run");
  RegisterRoute<GetUi>(context, "/dicomweb-oauth/ui");
  RegisterRoute<PostTestServer>(context, "/dicomweb-oauth/servers/([^/]+)/test");
  RegisterRoute<GetMetrics>(context, "/dicomweb-oauth/metrics");
  RegisterRoute<GetHealth>(context, "/dicomweb-oauth/health/([^/]+)");
  OrthancPluginRegisterRefreshMetricsCallback(context, RefreshOrthancMetrics);
}

void RegisterDisabledRoutes(OrthancPluginContext* context) {
  RegisterRoute<GetDisabledStatus>(context, "/dicomweb-oauth/status");
  RegisterRoute<GetDisabledHealth>(context, "/dicomweb-oauth/health/([^/]+)");
  RegisterRoute<GetUi>(context, "/dicomweb-oauth/ui");  // shows "disabled" and why
}

void ExtendExplorer(OrthancPluginContext* context) {
  OrthancPluginExtendOrthancExplorer(context, ui::ExplorerScript());
}

}  // namespace gw::plugin
