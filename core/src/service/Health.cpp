#include "gw/service/Health.h"

#include "gw/common/Json.h"
#include "gw/crypto/Encoding.h"

namespace gw::service {

const char* ToString(HealthProbe probe) {
  switch (probe) {
    case HealthProbe::Live: return "live";
    case HealthProbe::Ready: return "ready";
    case HealthProbe::Startup: return "startup";
  }
  return "live";
}

bool ParseHealthProbe(std::string_view text, HealthProbe& probe) {
  for (HealthProbe p : {HealthProbe::Live, HealthProbe::Ready, HealthProbe::Startup}) {
    if (text == ToString(p)) {
      probe = p;
      return true;
    }
  }
  return false;
}

namespace {

// One word per server: what an operator reading a probe log needs, nothing more.
const char* ServerWord(const ServerHealth& s) {
  if (!s.hasCredential) return "no-credential";
  if (s.usable) return "ok";
  if (s.attempted) return "failing";
  return s.expected ? "starting" : "idle";
}

}  // namespace

HealthAnswer EvaluateHealth(HealthProbe probe, const HealthFacts& facts) {
  bool ok = true;
  const char* reason = "";
  switch (probe) {
    case HealthProbe::Live:
      ok = facts.engineAnswered;
      if (!ok) reason = "the Lua engine did not answer in time";
      break;
    case HealthProbe::Ready:
      if (facts.snapshotVersion == 0) {
        ok = false;
        reason = "no script snapshot serves";
        break;
      }
      for (const auto& [name, s] : facts.servers) {
        if (s.hasCredential && !s.usable && !s.optional && (s.attempted || s.expected)) {
          ok = false;
          reason = "a required server has no usable token";
        }
      }
      break;
    case HealthProbe::Startup:
      for (const auto& [name, s] : facts.servers) {
        if (s.hasCredential && !s.usable && !s.attempted && s.expected) {
          ok = false;
          reason = "first token acquisitions are still running";
        }
      }
      break;
  }
  json::Writer w;
  w.StartObject();
  w.Key("status");
  w.String(ok ? "pass" : "fail");
  w.Key("probe");
  w.String(ToString(probe));
  if (!ok) {
    w.Key("reason");
    w.String(reason);
  }
  if (probe == HealthProbe::Live) {
    w.Key("engineMs");
    w.Int(facts.engineTime.count());
  } else {
    w.Key("snapshot");
    w.Uint(facts.snapshotVersion);
    w.Key("servers");
    w.StartObject();
    for (const auto& [name, s] : facts.servers) {
      w.Key(name);
      w.String(ServerWord(s));
    }
    w.EndObject();
  }
  w.EndObject();
  return HealthAnswer{ok ? 200 : 503, w.Take()};
}

bool IsProbeUser(std::string_view authorization, std::string_view probeUser) {
  if (probeUser.empty()) return false;
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.substr(0, kBasic.size()) != kBasic) return false;
  auto decoded = crypto::Base64Decode(authorization.substr(kBasic.size()));
  if (!decoded.Ok()) return false;
  const std::string& pair = decoded.Value();
  const size_t colon = pair.find(':');
  return colon != std::string::npos && std::string_view(pair).substr(0, colon) == probeUser;
}

bool IsHealthRoute(std::string_view uri) {
  constexpr std::string_view kPrefix = "/dicomweb-oauth/health/";
  if (uri.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view name = uri.substr(kPrefix.size());
  if (!name.empty() && name.back() == '/') name.remove_suffix(1);
  HealthProbe probe;
  return ParseHealthProbe(name, probe);
}

}  // namespace gw::service
