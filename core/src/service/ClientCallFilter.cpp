#include "gw/service/ClientCallFilter.h"

#include <strings.h>

#include "gw/audit/IAuditSink.h"
#include "gw/common/Log.h"
#include "gw/crypto/Encoding.h"
#include "gw/proxy/ClientUri.h"
#include "gw/service/Gateway.h"
#include "gw/service/Health.h"
#include "gw/service/InjectMode.h"
#include "gw/proxy/DecisionAudit.h"
#include "gw/service/RateGate.h"

namespace gw::service {

TraceContext ClientTrace(const http::Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (strcasecmp(name.c_str(), "traceparent") == 0) return TraceContext::Continue(TraceContext::Parse(value));
  }
  return TraceContext::Start();
}

ClientCallFilter::ClientCallFilter(Gateway& gateway, InjectMode* inject, std::string dicomWebRoot)
    : gateway_(gateway),
      inject_(inject),
      root_(std::move(dicomWebRoot)),
      audit_(gateway.AuditSink()),
      clientLimit_(ServerRateLimiter::Create(gateway.Config(), ServerRateLimiter::Stage::Client, &gateway.Metrics())) {
  for (const auto& [name, cfg] : gateway.Config().servers) {
    if (!cfg.policies.empty()) {
      decisions_.emplace(name, std::make_unique<policy::DecisionCounters>(gateway.Metrics(), "client", name, cfg.policies));
    }
  }
}

ClientCallFilter::~ClientCallFilter() = default;

std::string ClientCallFilter::TrustedUser(const http::Headers& headers) const {
  if (!gateway_.Config().orthanc.authenticationEnabled) return {};
  for (const auto& [name, value] : headers) {
    if (strcasecmp(name.c_str(), "authorization") != 0 || value.size() < 6 || strncasecmp(value.c_str(), "basic ", 6) != 0) {
      continue;
    }
    auto decoded = crypto::Base64Decode(std::string_view(value).substr(6));
    if (!decoded) return {};
    const size_t colon = decoded.Value().find(':');
    return colon == std::string::npos ? std::string() : decoded.Value().substr(0, colon);
  }
  return {};
}

bool ClientCallFilter::HasPolicies(const std::string& server) const {
  const auto it = gateway_.Config().servers.find(server);
  return it != gateway_.Config().servers.end() && !it->second.policies.empty();
}

bool ClientCallFilter::OwnsDefinition(const std::string& server) const {
  if (inject_ && inject_->Manages(server)) return true;
  const auto it = gateway_.Config().servers.find(server);
  return it != gateway_.Config().servers.end() && it->second.mode == config::ServerMode::Proxy;
}

// Servers whose client calls the filter acts on (refresh, policies) or whose definition it guards.
bool ClientCallFilter::Protects(const std::string& server) const { return OwnsDefinition(server) || HasPolicies(server); }

std::vector<std::string> ClientCallFilter::ServersCalledWithin(std::chrono::steady_clock::duration window) const {
  std::vector<std::string> servers;
  std::lock_guard<std::mutex> lock(callsMutex_);
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [server, at] : lastCall_) {
    if (now - at <= window) servers.push_back(server);
  }
  return servers;
}

// Routing policies at the client stage (docs/policies.md): their combined decision (allowed or
// not, the minimum token lifetime they ask for), or nothing when the server has no policies.
std::optional<policy::Decision> ClientCallFilter::ClientPolicies(const ClientCall& call, const std::string& server,
                                                                 const std::string& operation) const {
  const auto it = gateway_.Config().servers.find(server);
  if (it == gateway_.Config().servers.end() || it->second.policies.empty()) return std::nullopt;
  const config::ServerConfig& cfg = it->second;
  const std::string user = TrustedUser(call.headers);
  policy::PolicyRequest request;
  request.stage = policy::Stage::Client;
  request.server = server;
  request.mode = config::ToString(cfg.mode);
  request.method = call.method;
  request.path = call.uri;
  request.operation = operation;
  request.headers = &call.headers;
  request.query = &call.query;
  request.user = user;
  request.ip = call.ip;
  for (const auto& t : cfg.targets) request.targets.push_back({t.name, t.url, true});
  request.config = cfg.policyConfig.get();
  policy::Decision d = gateway_.Policies().Decide(cfg.policies, request);
  if (const auto counters = decisions_.find(server); counters != decisions_.end()) counters->second->Count(d);
  LogDebug("policies (client stage) of '" + server + "' " + (d.allow ? "allowed " : "refused ") + call.method + " " +
           call.uri + (user.empty() ? std::string(" (no authenticated user)") : " for user '" + user + "'"));
  return d;
}

// The server's rate limit at the client stage, for a call about to be let through: the refusal
// (PXY-015) when its budget is used up. The code and the wait reach the log and the audit record,
// not the caller (a bare 403).
std::optional<Error> ClientCallFilter::OverClientLimit(const std::string& server) {
  if (!clientLimit_) return std::nullopt;
  auto refused = clientLimit_->TryPass(server);
  if (!refused) return std::nullopt;
  refused->error.httpStatus = 429;  // what it means: logged as "HTTP 429 answered as 403", a warning
  return std::move(refused->error);
}

// client.request: a DICOMweb client call the filter handled (inject mode, client-stage policies),
// let through or refused. `decision`: what the client-stage policies decided, null when none ran.
void ClientCallFilter::Audit(const ClientCall& call, const std::string& server, const Error* refused,
                             const TraceContext& trace, const policy::Decision* decision) const {
  if (!audit_) return;
  audit::AuditEvent event("client.request", server);
  event.traceId = trace.traceId;
  event.Set("method", call.method);
  event.Set("uri", call.uri);
  event.Set("outcome", refused ? "denied" : "allowed");
  if (refused) {
    event.Set("code", refused->code);
    event.Set("reason", refused->message);
  }
  // No target: the client stage cannot route (the DICOMweb plugin uses the server's own definition).
  if (decision) proxy::SetDecisionFields(event, *decision, true);
  audit_->Record(std::move(event));
}

// A refusal: logged with its code (Orthanc answers a bare 403) and audited.
// `what`: who refuses ("policies (client stage)", "inject mode", "request filter", "rate limit ...").
ClientVerdict ClientCallFilter::Refuse(const char* what, const ClientCall& call, const std::string& server,
                                       Error refused, const TraceContext& trace,
                                       const policy::Decision* decided) const {
  LogEvent line;
  line.level = refused.httpStatus >= 500 ? LogLevel::Error : LogLevel::Warning;
  line.event = "client.request";
  line.code = refused.code;
  line.server = server;
  line.requestId = trace.parentId;
  line.traceId = trace.traceId;
  line.outcome = "denied";
  line.status = 403;
  line.message = std::string(what) + ": refusing " + call.uri + " (" + call.method + ", HTTP " +
                 std::to_string(refused.httpStatus) + " answered as 403): " + refused.ToString();
  Log(line);
  Audit(call, server, &refused, trace, decided);
  ClientVerdict verdict;
  verdict.allow = false;
  verdict.server = server;
  verdict.refusal = std::move(refused);
  return verdict;
}

ClientVerdict ClientCallFilter::Check(const ClientCall& call) {
  ClientVerdict allowed;
  // The probe user (Health.ProbeUser) reaches the health routes and nothing else.
  const std::string& probeUser = gateway_.Config().global.health.probeUser;
  if (!probeUser.empty()) {
    for (const auto& [name, value] : call.headers) {
      if (name != "authorization") continue;
      if (IsProbeUser(value, probeUser) && !(call.method == "GET" && IsHealthRoute(call.uri))) {
        LogWarning("GW-403 refusing " + call.uri + ": the probe user '" + probeUser +
                   "' may only call /dicomweb-oauth/health/{live,ready,startup}");
        ClientVerdict refused;
        refused.allow = false;
        refused.refusal = MakeError("GW-403", "the probe user may only call the health routes", 403);
        return refused;
      }
    }
  }
  // Classified as Orthanc routes it: spelling variants of a URI reach the same DICOMweb handler, so
  // they must meet the same checks (ClientUri.h).
  const proxy::ClientUri uri = proxy::ClientUri::Classify(call.uri, root_);
  allowed.server = uri.server;
  switch (uri.kind) {
    case proxy::ClientUri::Kind::Other:
    case proxy::ClientUri::Kind::ServerList:
      return allowed;
    case proxy::ClientUri::Kind::Unclassifiable:
      // Known servers the gateway leaves alone keep Orthanc's own answer; anything else is refused.
      if (gateway_.Config().servers.count(uri.server) > 0 && !Protects(uri.server)) return allowed;
      return Refuse("request filter", call, uri.server,
                    MakeError("PXY-012",
                              "a URI that looks meant for the DICOMweb servers routes but is no spelling Orthanc "
                              "routes unambiguously",
                              403),
                    ClientTrace(call.headers));
    case proxy::ClientUri::Kind::Definition:
      // The definitions the gateway writes are its own: a PUT would re-point the server (with the
      // token or the loopback secret), a DELETE would remove it. Orthanc applies method overrides
      // before the filter, so `method` is the one the DICOMweb plugin will see.
      if ((call.method == "PUT" || call.method == "DELETE") && OwnsDefinition(uri.server)) {
        return Refuse("request filter", call, uri.server,
                      MakeError("PXY-013",
                                "the DICOMweb definition of '" + uri.server +
                                    "' belongs to the gateway (DicomWebOAuth.Servers): change it there",
                                403),
                      ClientTrace(call.headers));
      }
      return allowed;
    case proxy::ClientUri::Kind::Operation:
      break;
  }
  if (call.method != "POST" && call.method != "GET") return allowed;
  const std::string& server = uri.server;
  // Inject-mode servers get their token refreshed here; servers of either mode with routing
  // policies get those checked here (the client stage, where the Orthanc user is known).
  const bool injected = inject_ && inject_->Manages(server);
  if (!injected && !HasPolicies(server)) {
    // Proxy mode without policies: only the rate limit applies here (the route checks the rest).
    if (auto over = OverClientLimit(server)) {
      return Refuse("rate limit (client stage)", call, server, std::move(*over), ClientTrace(call.headers));
    }
    return allowed;
  }
  if (injected) {
    std::lock_guard<std::mutex> lock(callsMutex_);
    lastCall_[server] = std::chrono::steady_clock::now();
  }
  const TraceContext trace = ClientTrace(call.headers);
  if (audit_ && !audit_->Accepting()) {
    return Refuse(injected ? "inject mode" : "policies (client stage)", call, server,
                  MakeError("AUD-005", "the audit trail cannot be written and Audit.FailClosed is set", 503), trace);
  }
  // Orthanc answers a refusal with a bare 403: the policy's code and reason go to the log.
  const auto decision = ClientPolicies(call, server, uri.operation);
  const policy::Decision* decided = decision ? &*decision : nullptr;
  if (decided && !decided->allow) {
    return Refuse("policies (client stage)", call, server, MakeError(decided->code, decided->reason, decided->status),
                  trace, decided);
  }
  // Counted once the policies allowed the call: a refused call takes nothing from the budget.
  if (auto over = OverClientLimit(server)) {
    return Refuse("rate limit (client stage)", call, server, std::move(*over), trace, decided);
  }
  if (injected) {
    const std::chrono::seconds minToken = decided ? decided->minTokenSeconds : std::chrono::seconds(0);
    Status fresh = inject_->EnsureFresh(server, minToken, std::chrono::milliseconds(15000));
    if (!fresh.Ok()) return Refuse("inject mode", call, server, fresh.GetError(), trace, decided);
  }
  if (LogEnabled(LogLevel::Debug)) {
    LogEvent line;
    line.level = LogLevel::Debug;
    line.event = "client.request";
    line.server = server;
    line.requestId = trace.parentId;
    line.traceId = trace.traceId;
    line.outcome = "allowed";
    line.message = std::string(injected ? "inject mode" : "policies (client stage)") + ": " + call.method + " " +
                   call.uri + " let through";
    Log(line);
  }
  Audit(call, server, nullptr, trace, decided);
  return allowed;
}

}  // namespace gw::service
