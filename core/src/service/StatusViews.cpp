#include "gw/service/StatusViews.h"

#include <chrono>
#include <ctime>

#include "gw/common/Log.h"
#include "gw/policy/DryRun.h"
#include "gw/token/SystemClock.h"

namespace gw::service::views {
namespace {

// A string key of the server object as configured (provider keys have no typed field).
std::string RawString(const config::ServerConfig& server, const char* key) {
  if (!server.raw || !server.raw->IsObject()) return {};
  const auto it = server.raw->FindMember(key);
  return it != server.raw->MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

void WriteTargets(json::Writer& w, const config::ServerConfig& server, const policy::TargetHealth* tracker,
                  policy::TargetHealth::Clock::time_point steadyNow) {
  // Targets in configuration order (the first is the primary); health only where it is observed.
  w.Key("targets");
  w.StartArray();
  for (size_t i = 0; i < server.targets.size(); ++i) {
    w.StartObject();
    w.Key("name");
    w.String(server.targets[i].name);
    w.Key("url");
    w.String(server.targets[i].url);
    if (tracker && i < tracker->Size()) {
      w.Key("healthy");
      w.Bool(tracker->Healthy(i, steadyNow));
      w.Key("failures");
      w.Uint(tracker->Failures(i));
      if (const int64_t changed = tracker->LastChangeUnixMs(i); changed > 0) {
        w.Key("lastChange");
        w.String(IsoTime(token::SystemTime(std::chrono::milliseconds(changed))));
      }
    }
    w.EndObject();
  }
  w.EndArray();
}

// The Python plugin `orthanc-dicomweb-oauth` answered its status and servers routes in an envelope
// (its "API 2.0"); clients written for it (probes, scripts) read `data.*`. The gateway's own fields
// stay at the top level and these are added beside them, so both kinds of client keep working.
constexpr const char* kPythonApiVersion = "2.0";

void WritePythonEnvelope(json::Writer& w, token::SystemTime now) {
  w.Key("plugin_version");
  w.String(GW_VERSION);
  w.Key("api_version");
  w.String(kPythonApiVersion);
  w.Key("timestamp");
  w.String(IsoTime(now));
}


}  // namespace

std::string IsoTime(token::SystemTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void WriteError(json::Writer& w, const Error& e) {
  w.StartObject();
  w.Key("code");
  w.String(e.code);
  w.Key("message");
  w.String(e.message);
  w.EndObject();
}

void WriteSnapshot(json::Writer& w, const lua::SnapshotInfo& s) {
  w.StartObject();
  w.Key("version");
  w.Uint(s.version);
  w.Key("digest");
  w.String(s.digest);
  w.Key("publishedAtUnixMs");
  w.Int(s.publishedAtUnixMs);
  w.Key("scripts");
  w.StartArray();
  for (const auto& script : s.scripts) {
    w.StartObject();
    w.Key("name");
    w.String(script.name);
    w.Key("version");
    w.String(script.version);
    w.Key("kind");
    w.String(script.kind);
    w.Key("file");
    w.String(script.file);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteTokenState(json::Writer& w, const token::TokenState* state, token::SystemTime now) {
  w.StartObject();
  w.Key("state");
  w.String(state ? token::ToString(state->status) : "none");
  if (state) {
    if (state->expiresAt) {
      w.Key("expiresAt");
      w.String(IsoTime(*state->expiresAt));
      w.Key("expiresInSeconds");
      w.Int(std::chrono::duration_cast<std::chrono::seconds>(*state->expiresAt - now).count());
    }
    if (state->refreshAt) {
      w.Key("refreshAt");
      w.String(IsoTime(*state->refreshAt));
    }
    if (!state->scopes.empty()) {
      w.Key("scopes");
      w.StartArray();
      for (const auto& sc : state->scopes) w.String(sc);
      w.EndArray();
    }
    w.Key("fetchSuccesses");
    w.Uint(state->fetchSuccesses);
    w.Key("fetchFailures");
    w.Uint(state->fetchFailures);
    if (!state->lastErrorCode.empty()) {
      w.Key("lastError");
      w.StartObject();
      w.Key("code");
      w.String(state->lastErrorCode);
      w.Key("message");
      w.String(state->lastErrorMessage);
      if (state->lastErrorAt) {
        w.Key("at");
        w.String(IsoTime(*state->lastErrorAt));
      }
      w.EndObject();
    }
  }
  w.EndObject();
}

AuditCounters CountAudit(const MetricsRegistry& metrics) {
  AuditCounters c;
  for (const auto& family : metrics.Collect()) {
    for (const auto& sample : family.samples) {
      const auto n = static_cast<uint64_t>(sample.value);
      if (sample.name == "dicomweb_oauth_audit_records_total") c.records += n;
      else if (sample.name == "dicomweb_oauth_audit_write_errors_total") c.writeErrors += n;
      else if (sample.name == "dicomweb_oauth_audit_rule_failures_total") c.ruleFailures += n;
      else if (sample.name == "dicomweb_oauth_audit_records_dropped_total") {
        for (const auto& [k, v] : sample.labels) {
          if (k == "reason" && v == "rule") c.droppedByRule += n;
          if (k == "reason" && v == "queue_full") c.droppedQueueFull += n;
        }
      }
    }
  }
  return c;
}

// The audit trail for status pages: where it goes, whether it is keyed and accepting, and its
// counters (the same series /metrics exports). Never a key: only whether one is set.
void WriteAuditState(json::Writer& w, const config::AuditConfig& a, const audit::AuditLog* log,
                     const MetricsRegistry& metrics) {
  w.Key("audit");
  w.StartObject();
  w.Key("enabled");
  w.Bool(a.enabled && log != nullptr);
  if (a.enabled) {
    w.Key("file");
    w.String(a.file);
    w.Key("keyed");
    w.Bool(!a.chainKey.empty());
    w.Key("failClosed");
    w.Bool(a.failClosed);
    w.Key("rules");
    w.StartArray();
    for (const auto& r : a.rules) w.String(r);
    w.EndArray();
  }
  if (log) {
    w.Key("accepting");
    w.Bool(log->Accepting());
    const AuditCounters c = CountAudit(metrics);
    w.Key("records");
    w.Uint(c.records);
    w.Key("droppedByRule");
    w.Uint(c.droppedByRule);
    w.Key("droppedQueueFull");
    w.Uint(c.droppedQueueFull);
    w.Key("writeErrors");
    w.Uint(c.writeErrors);
    w.Key("ruleFailures");
    w.Uint(c.ruleFailures);
  }
  w.EndObject();
}

namespace {
// {"ok": false, "error": {...}} and what `more` adds, with the error's status (500 without one).
JsonAnswer ErrorAnswerWith(const Error& e, const std::function<void(json::Writer&)>& more) {
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(false);
  w.Key("error");
  WriteError(w, e);
  if (more) more(w);
  w.EndObject();
  return JsonAnswer{e.httpStatus > 0 ? e.httpStatus : 500, w.Take()};
}
}  // namespace

JsonAnswer ErrorAnswer(const Error& e) { return ErrorAnswerWith(e, nullptr); }

JsonAnswer TestAnswer(const std::string& server, const token::TokenRecord& r, int64_t elapsedMs) {
  const auto clockNow = token::SystemClock::Instance();
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(r.expiresAt - clockNow->SteadyNow());
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("server");
  w.String(server);
  w.Key("provider");
  w.String(r.provider);
  w.Key("tokenType");
  w.String(r.tokenType);
  w.Key("expiresInSeconds");
  w.Int(remaining.count());
  w.Key("expiresAt");
  w.String(IsoTime(clockNow->ToSystem(r.expiresAt)));
  if (r.refreshAt) {
    w.Key("refreshAt");
    w.String(IsoTime(clockNow->ToSystem(*r.refreshAt)));
  }
  w.Key("scopes");
  w.StartArray();
  for (const auto& sc : r.scopes) w.String(sc);
  w.EndArray();
  w.Key("metadata");
  w.StartObject();
  for (const auto& [k, v] : r.metadata) {
    w.Key(k);
    w.String(v);
  }
  w.EndObject();
  w.Key("elapsedMs");
  w.Int(elapsedMs);
  // The Python plugin's answer (a client of it checks `status`).
  w.Key("status");
  w.String("success");
  w.Key("token_acquired");
  w.Bool(true);
  w.Key("has_token");
  w.Bool(true);
  w.EndObject();
  return {200, w.Take()};
}

JsonAnswer TestFailureAnswer(const std::string& server, const Error& e) {
  return ErrorAnswerWith(e, [&server](json::Writer& w) {
    w.Key("server");
    w.String(server);
    w.Key("status");  // the Python plugin's answer to a failed acquisition
    w.String("error");
  });
}

JsonAnswer ServersAnswer(const config::GatewayConfig& config, const ProviderLookup& providerOf,
                         const std::map<std::string, token::TokenState>& states, const TargetHealthLookup& health) {
  const auto now = std::chrono::system_clock::now();
  const auto steadyNow = policy::TargetHealth::Clock::now();
  json::Writer w;
  w.StartObject();
  w.Key("servers");
  w.StartArray();
  for (const auto& [name, server] : config.servers) {
    w.StartObject();
    w.Key("name");
    w.String(name);
    w.Key("url");
    w.String(server.url);
    w.Key("provider");
    w.String(providerOf(name));
    w.Key("providerType");
    w.String(server.providerType);
    w.Key("mode");
    w.String(config::ToString(server.mode));
    if (!server.tokenEndpoint.empty()) {
      w.Key("tokenEndpoint");
      w.String(server.tokenEndpoint);
    }
    if (const std::string clientId = RawString(server, "ClientId"); !clientId.empty()) {
      w.Key("clientId");
      w.String(clientId);
    }
    w.Key("clientAuthMethod");
    w.String(config::ToString(server.clientAuthMethod));
    w.Key("hasClientSecret");
    w.Bool(!RawString(server, "ClientSecret").empty());
    w.Key("policies");
    w.StartArray();
    for (const auto& p : server.policies) w.String(p);
    w.EndArray();
    const std::shared_ptr<const policy::TargetHealth> tracker = health ? health(name) : nullptr;
    WriteTargets(w, server, tracker.get(), steadyNow);
    w.Key("token");
    auto st = states.find(name);
    WriteTokenState(w, st == states.end() ? nullptr : &st->second, now);
    w.EndObject();
  }
  w.EndArray();
  WritePythonEnvelope(w, now);
  w.Key("data");
  w.StartObject();
  w.Key("servers");
  w.StartArray();
  for (const auto& [name, server] : config.servers) {
    const auto st = states.find(name);
    const token::TokenState* state = st == states.end() ? nullptr : &st->second;
    w.StartObject();
    w.Key("name");
    w.String(name);
    w.Key("url");
    w.String(server.url);
    w.Key("token_endpoint");
    if (server.tokenEndpoint.empty()) w.Null();
    else w.String(server.tokenEndpoint);
    // The Python plugin's "cached" and "valid" token: one is held; it is usable (readiness's test).
    w.Key("has_cached_token");
    w.Bool(state != nullptr && state->expiresAt.has_value());
    w.Key("token_valid");
    w.Bool(state != nullptr && token::HasUsableToken(*state, now));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return {200, w.Take()};
}

JsonAnswer StatusAnswer(const config::GatewayConfig& config, const ProviderLookup& providerOf,
                        const lua::SnapshotInfo& snapshot, const ReloadRecord& reload,
                        const std::map<std::string, token::TokenState>& states,
                        const std::function<void(json::Writer&)>& writeAudit) {
  bool tokensOk = true;
  for (const auto& [name, st] : states) {
    tokensOk = tokensOk && st.status != token::TokenStatus::Expired && st.status != token::TokenStatus::Error;
  }
  const bool healthy = snapshot.version > 0;
  const auto now = std::chrono::system_clock::now();

  json::Writer w;
  w.StartObject();
  const std::string status = healthy ? (reload.ok && tokensOk ? "ok" : "degraded") : "error";
  w.Key("status");
  w.String(status);
  w.Key("plugin");
  w.StartObject();
  w.Key("name");
  w.String("dicomweb-oauth-gateway");
  w.Key("version");
  w.String(GW_VERSION);
  w.EndObject();
  w.Key("lua");
  w.StartObject();
  w.Key("version");
  w.String(lua::ScriptEngine::LuaVersion());
  w.Key("snapshot");
  WriteSnapshot(w, snapshot);
  w.Key("lastReload");
  w.StartObject();
  w.Key("ok");
  w.Bool(reload.ok);
  w.Key("trigger");
  w.String(ToString(reload.trigger));
  w.Key("atUnixMs");
  w.Int(reload.atUnixMs);
  w.Key("failures");
  w.Uint(reload.failures);
  if (!reload.ok) {
    w.Key("error");
    WriteError(w, reload.error);
  }
  w.EndObject();
  w.Key("watching");
  w.Bool(config.global.watchScripts);
  w.EndObject();
  if (writeAudit) writeAudit(w);
  w.Key("servers");
  w.StartObject();
  w.Key("configured");
  w.Uint(config.servers.size());
  w.Key("states");
  w.StartObject();
  for (const auto& [name, server] : config.servers) {
    w.Key(name);
    w.StartObject();
    w.Key("provider");
    w.String(providerOf(name));
    w.Key("mode");
    w.String(config::ToString(server.mode));
    w.Key("token");
    auto st = states.find(name);
    WriteTokenState(w, st == states.end() ? nullptr : &st->second, now);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  WritePythonEnvelope(w, now);
  w.Key("data");
  w.StartObject();
  w.Key("status");  // the Python plugin's word for "ok" was "healthy"
  w.String(status == "ok" ? "healthy" : status);
  w.Key("token_managers");  // servers with a cached credential (a provider that only signs has none)
  w.Uint(states.size());
  w.Key("servers_configured");
  w.Uint(config.servers.size());
  w.EndObject();
  w.EndObject();
  return {healthy ? 200 : 503, w.Take()};
}

JsonAnswer ReloadAnswer(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome,
                        const lua::SnapshotInfo& serving) {
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(outcome.Ok());
  w.Key("trigger");
  w.String(ToString(trigger));
  if (outcome.Ok()) {
    w.Key("snapshot");
    WriteSnapshot(w, outcome.Value());
  } else {
    w.Key("error");
    WriteError(w, outcome.GetError());
    w.Key("serving");
    WriteSnapshot(w, serving);
  }
  w.EndObject();
  return {outcome.Ok() ? 200 : 422, w.Take()};
}

JsonAnswer DryRunAnswer(const lua::SnapshotInfo& serving, const Result<lua::SnapshotInfo>& candidate) {
  json::Writer w;
  w.StartObject();
  w.Key("ok");
  w.Bool(candidate.Ok());
  w.Key("serving");
  w.StartObject();
  w.Key("version");
  w.Uint(serving.version);
  w.Key("digest");
  w.String(serving.digest);
  w.EndObject();
  if (candidate.Ok()) {
    const auto changes = policy::CompareSnapshots(serving, candidate.Value());
    w.Key("changed");
    w.Bool(candidate.Value().digest != serving.digest);
    w.Key("candidate");
    WriteSnapshot(w, candidate.Value());
    w.Key("changes");
    policy::WriteChanges(w, changes);
    LogInfo("script dry run: would publish " + std::to_string(candidate.Value().scripts.size()) + " script(s), " +
            std::to_string(changes.size()) + " change(s) against version " + std::to_string(serving.version));
  } else {
    w.Key("error");
    WriteError(w, candidate.GetError());
    LogInfo("script dry run: a reload would be refused: " + candidate.GetError().ToString());
  }
  w.EndObject();
  return {candidate.Ok() ? 200 : 422, w.Take()};
}

}  // namespace gw::service::views
