#pragma once
// The JSON views of the gateway's REST routes (status, servers, test, reload, dry run), built from
// plain inputs so that each can be checked without a running gateway. They never write a secret:
// token states carry no token, servers say only whether a client secret is set, the audit state
// only whether a key is set.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "gw/audit/AuditLog.h"
#include "gw/common/Error.h"
#include "gw/common/Json.h"
#include "gw/common/Metrics.h"
#include "gw/config/GatewayConfig.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/TargetHealth.h"
#include "gw/service/ReloadHistory.h"
#include "gw/token/TokenManager.h"

namespace gw::service {

// A JSON answer for a REST route: body and the HTTP status that goes with it.
struct JsonAnswer {
  int status = 200;
  std::string body;
};

// Where the proxy keeps the health it observes of a server's targets (null when it tracks none).
using TargetHealthLookup = std::function<std::shared_ptr<const policy::TargetHealth>(const std::string& server)>;
// The provider script of a server ("" when unknown).
using ProviderLookup = std::function<const std::string&(const std::string& server)>;

namespace views {

// "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::string IsoTime(token::SystemTime t);
// {"code", "message"}.
void WriteError(json::Writer& w, const Error& e);
// {"version", "digest", "publishedAtUnixMs", "scripts": [{name, version, kind, file}]}.
void WriteSnapshot(json::Writer& w, const lua::SnapshotInfo& s);
// A server's token state, never the token: {"state": "none"} without one.
void WriteTokenState(json::Writer& w, const token::TokenState* state, token::SystemTime now);

// The audit counters a status page shows, summed from the metric series /metrics exports.
struct AuditCounters {
  uint64_t records = 0;
  uint64_t droppedByRule = 0;
  uint64_t droppedQueueFull = 0;
  uint64_t writeErrors = 0;
  uint64_t ruleFailures = 0;
};
AuditCounters CountAudit(const MetricsRegistry& metrics);
// "audit": where records go, whether they are keyed and accepted, and the counters (with a log).
void WriteAuditState(json::Writer& w, const config::AuditConfig& config, const audit::AuditLog* log,
                     const MetricsRegistry& metrics);

// {"ok": false, "error": {...}} with the error's status (500 when it has none).
JsonAnswer ErrorAnswer(const Error& e);

// The status, servers and test answers also carry the fields the Python plugin
// `orthanc-dicomweb-oauth` answered, so that its clients keep working (docs/operations.md,
// "Clients of the Python plugin"): `plugin_version`, `api_version`, `timestamp` and `data` on
// status and servers, `status`/`token_acquired`/`has_token` on test.

// POST /dicomweb-oauth/servers/{name}/test, success: the token's metadata, never the token.
JsonAnswer TestAnswer(const std::string& server, const token::TokenRecord& record, int64_t elapsedMs);
// The same route when the acquisition failed: ErrorAnswer's body with `server` and `status: "error"`.
JsonAnswer TestFailureAnswer(const std::string& server, const Error& e);

// GET /dicomweb-oauth/servers.
JsonAnswer ServersAnswer(const config::GatewayConfig& config, const ProviderLookup& providerOf,
                         const std::map<std::string, token::TokenState>& states, const TargetHealthLookup& health);

// GET /dicomweb-oauth/status: 200 "ok"/"degraded" while a snapshot serves, 503 "error" without one.
// `writeAudit` adds the "audit" member.
JsonAnswer StatusAnswer(const config::GatewayConfig& config, const ProviderLookup& providerOf,
                        const lua::SnapshotInfo& snapshot, const ReloadRecord& lastReload,
                        const std::map<std::string, token::TokenState>& states,
                        const std::function<void(json::Writer&)>& writeAudit);

// POST /dicomweb-oauth/reload: 200 with the new snapshot, or 422 with the error and the snapshot
// that keeps serving.
JsonAnswer ReloadAnswer(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome,
                        const lua::SnapshotInfo& serving);

// POST /dicomweb-oauth/reload/dry-run: 200 with the candidate and its changes, or 422.
JsonAnswer DryRunAnswer(const lua::SnapshotInfo& serving, const Result<lua::SnapshotInfo>& candidate);

}  // namespace views
}  // namespace gw::service
