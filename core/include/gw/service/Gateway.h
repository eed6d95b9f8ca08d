#pragma once
// The gateway as one object: validated configuration, the Lua script engine, and (per server) the
// token state. The Orthanc plugin and the CLI both drive it, so what `dicomweb-oauth check-config`
// accepts is exactly what the plugin accepts. No Orthanc type appears here: the plugin turns the
// JSON answers below into HTTP responses.
//
// Thread safety: all methods may be called concurrently once Create() has returned.
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gw/audit/AuditLog.h"
#include "gw/audit/IAuditSink.h"
#include "gw/common/Error.h"
#include "gw/common/Json.h"
#include "gw/config/GatewayConfig.h"
#include "gw/http/IHttpClient.h"
#include "gw/common/Metrics.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/PolicyEngine.h"
#include "gw/policy/TargetHealth.h"
#include "gw/service/Health.h"
#include "gw/service/ReloadHistory.h"
#include "gw/service/StatusViews.h"
#include "gw/proxy/ICredentialSource.h"
#include "gw/token/TokenManager.h"

namespace gw::service {

// JsonAnswer and the views of the routes: gw/service/StatusViews.h; ReloadTrigger and the reload
// record: gw/service/ReloadHistory.h; composition: GatewayBuilder (core/src/service); request
// signing: gw/service/RequestSigner.h.

class Gateway : public proxy::ICredentialSource {
 public:
  // Builds the script engine over the configured script folders, loads the first snapshot and
  // checks that every server's provider script is in it. Fails (nothing started) with LUA-xxx
  // or CFG-002 naming the server and the missing script.
  static Result<std::unique_ptr<Gateway>> Create(config::GatewayConfig config,
                                                 const std::shared_ptr<http::IHttpClient>& httpClient,
                                                 std::shared_ptr<token::IClock> clock = nullptr);
  ~Gateway();

  const config::GatewayConfig& Config() const { return config_; }
  lua::ScriptEngine& Engine() { return *engine_; }
  // Routing policies of the servers (docs/policies.md); budget: PolicyTimeoutMs.
  const policy::PolicyEngine& Policies() const { return *policies_; }

  // GET /dicomweb-oauth/status: 200 when every server can work, 503 ("degraded") otherwise. Also
  // the audit trail's state (`audit`: enabled, file, keyed, accepting, counters; never a key).
  JsonAnswer Status() const;
  // GET /dicomweb-oauth/health/{live,ready,startup} (gw/service/Health.h): 200 or 503 and a small
  // JSON body without secrets or error messages.
  JsonAnswer Health(HealthProbe probe) const;
  // With Health.AcquireAtStart: starts the first acquisition of every server's credential in the
  // background, so that the startup and readiness probes mean something before the first request.
  void PrefetchCredentials();
  // Where the proxy keeps the health it observes of a server's targets (null when it tracks none,
  // e.g. inject mode). The tracker lives in the proxy service (gw/proxy/ProxyService.h).
  using TargetHealthLookup = service::TargetHealthLookup;

  // GET /dicomweb-oauth/servers: name, upstream URL, provider, mode, routing policies, targets
  // (name, URL, and `healthy` when `health` has a tracker for the server), token state; never a
  // secret.
  JsonAnswer Servers(const TargetHealthLookup& health = {}) const;
  // POST /dicomweb-oauth/reload: 200 with the new snapshot, or 422 with file/line of the problem
  // while the previous snapshot keeps serving.
  JsonAnswer Reload(ReloadTrigger trigger);
  // POST /dicomweb-oauth/reload/dry-run: what a reload would do now, without doing it (the same
  // compile, contract, self-test and snapshot validation; nothing published, nothing audited).
  // 200 {"ok":true, "changed", "candidate", "serving", "changes"} or 422 with the problem (file/line).
  JsonAnswer DryRun() const;

  // POST /dicomweb-oauth/servers/{name}/test: acquires (or reuses) the server's token and answers
  // 200 with its metadata (expiry, scopes, provider; never the token), 404 (TOK-006) for an
  // unknown server, 503 with the error code when acquisition fails. `fresh` drops the cached
  // token first, so the identity provider is really asked.
  JsonAnswer TestServer(const std::string& server, bool fresh);
  // GET /dicomweb-oauth/metrics (Prometheus text exposition 0.0.4).
  std::string MetricsText() const;
  MetricsRegistry& Metrics() const { return *metrics_; }
  token::TokenManager& Tokens() { return *tokens_; }

  // ICredentialSource: `Authorization: <type> <token>` for bearer providers; for signing providers
  // (a script with `sign`, e.g. aws_sigv4) the headers the script computes for this request, with
  // the credential its `acquire` returned (cached and refreshed like a token).
  Result<http::Headers> CredentialHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                          std::chrono::seconds minRemaining,
                                          std::chrono::milliseconds timeout) override;
  void CredentialRejected(const std::string& server) override;
  bool NeedsPayloadHash(const std::string& server) const override { return IsSigning(server); }

  // CredentialHeaders with an optional fixed signing time ("YYYYMMDDTHHMMSSZ", empty = now), for
  // `dicomweb-oauth sign`: reproducible signatures.
  Result<http::Headers> RequestHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                       std::chrono::seconds minRemaining, std::chrono::milliseconds timeout,
                                       const std::string& fixedTime);
  // True when `server`'s provider script signs each request (has `sign`).
  bool IsSigning(const std::string& server) const { return !signers_.empty() && signers_.count(server) != 0; }

  // True when `server`'s provider acquires tokens (false for signing providers).
  bool HasTokenSource(const std::string& server) const { return HandleOf(server) != nullptr; }

  // Called (on a token engine thread, no lock held) with each server whose token was just renewed.
  // Set once, before traffic; inject mode uses it to push new tokens to Orthanc.
  void SetTokenListener(std::function<void(const std::string& server)> listener);

  // Opens the audit file when `DicomWebOAuth.Audit` is configured (the plugin does, the CLI does
  // not) and records config.loaded and the start snapshot. AUD-xxx when the file cannot be used.
  gw::Status StartAudit();
  // Where events go once StartAudit() opened the audit log; null without one, so callers on the
  // data path skip building events when audit is off.
  std::shared_ptr<audit::IAuditSink> AuditSink() const { return auditLog_ ? audit_ : nullptr; }

  // Starts the file watch on the script folders if the configuration asks for it.
  void StartWatching();
  void Stop();

  // Name of the provider script each server uses (resolved once at Create()).
  const std::string& ProviderOf(const std::string& server) const;

 private:
  friend class GatewayBuilder;

  Gateway(config::GatewayConfig config, std::unique_ptr<lua::ScriptEngine> engine);
  const token::TokenHandle* HandleOf(const std::string& server) const;
  Result<http::Headers> SignedHeaders(const std::string& server, const proxy::OutgoingRequest& request,
                                      std::chrono::seconds minRemaining, std::chrono::milliseconds timeout,
                                      const std::string& fixedTime);
  std::map<std::string, token::TokenState> TokenStatesByServer() const;
  void RecordReload(ReloadTrigger trigger, const Result<lua::SnapshotInfo>& outcome);

  config::GatewayConfig config_;
  std::unique_ptr<lua::ScriptEngine> engine_;
  std::unique_ptr<policy::PolicyEngine> policies_;
  std::map<std::string, std::string> providers_;  // server -> provider script
  std::set<std::string> signers_;                 // servers whose provider script has `sign`
  std::shared_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<token::TokenManager> tokens_;
  std::map<std::string, token::TokenHandle> handles_;  // servers whose provider acquires tokens
  std::map<std::string, std::vector<std::string>> keyServers_;  // token key -> servers sharing it
  mutable std::mutex listenerMutex_;
  std::function<void(const std::string&)> listener_;

  std::shared_ptr<audit::DeferredSink> audit_ = std::make_shared<audit::DeferredSink>();
  std::shared_ptr<audit::AuditLog> auditLog_;

  ReloadHistory reloads_{audit_};
};

}  // namespace gw::service
