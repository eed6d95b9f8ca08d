#pragma once
// Health probes for orchestrators (Kubernetes, Container Apps, container HEALTHCHECK). Pure rules
// over facts the gateway gathers, so each meaning is unit-tested without Orthanc:
//   live     the process answers and the Lua engine hands out a state within a bound. A failure
//            means "restart me": nothing else (an IdP outage, a bad reload) makes it fail.
//   ready    a script snapshot serves and every server that must be usable has a usable token
//            (servers listed in Health.OptionalServers may be degraded). "Send me traffic."
//   startup  every server's first acquisition has ended, with a token or with a failure (given up
//            on): until then the other probes are not meaningful yet.
// Without Health.AcquireAtStart tokens are acquired on first use (the Python plugin's behaviour): a
// server never used yet is "idle" and holds neither readiness nor startup, or no traffic would ever
// come to acquire it.
// Bodies are small JSON objects: status, probe, and per-server state names; never a secret,
// never an error message (those are in /dicomweb-oauth/status, behind Orthanc's authentication).
#include <chrono>
#include <map>
#include <string>
#include <string_view>

namespace gw::service {

enum class HealthProbe { Live, Ready, Startup };
const char* ToString(HealthProbe probe);  // "live" | "ready" | "startup"
// "live" | "ready" | "startup" -> probe; false for anything else.
bool ParseHealthProbe(std::string_view text, HealthProbe& probe);

struct ServerHealth {
  bool hasCredential = true;  // false for servers without a token source (nothing to wait for)
  bool usable = false;        // a token that has not expired is cached
  bool attempted = false;     // at least one acquisition has ended (success or failure)
  bool expected = true;       // an acquisition was started for the probes (Health.AcquireAtStart);
                              // false: tokens come on first use, and a server never used is idle
  bool optional = false;      // Health.OptionalServers: may be degraded while the instance is ready
};

struct HealthFacts {
  bool engineAnswered = false;          // a Lua state was leased within the bound
  std::chrono::milliseconds engineTime{0};
  uint64_t snapshotVersion = 0;         // 0: no script snapshot serves
  std::map<std::string, ServerHealth> servers;
};

struct HealthAnswer {
  int status = 200;  // 200 or 503
  std::string body;  // JSON
};

HealthAnswer EvaluateHealth(HealthProbe probe, const HealthFacts& facts);

// Probes under Orthanc authentication: Orthanc refuses a request without valid Basic credentials
// (401) before any plugin sees it, so probes authenticate as an ordinary Orthanc user named in
// Health.ProbeUser, and the gateway's incoming filter confines that user to the three health
// routes. A probe credential that leaks (it sits in a pod spec) opens nothing else.
//
// True when `authorization` (the request's Authorization header) carries Basic credentials for
// `probeUser` (Orthanc has already checked the password when authentication is on).
bool IsProbeUser(std::string_view authorization, std::string_view probeUser);
// True for exactly /dicomweb-oauth/health/{live,ready,startup} (the URI as Orthanc's filter gets it:
// decoded and normalised by its HTTP server; a trailing '/' is routed to the same handler).
bool IsHealthRoute(std::string_view uri);

}  // namespace gw::service
