#include "gw/service/LoopbackCredentials.h"

#include <algorithm>

#include "gw/proxy/DicomWebDefinition.h"

namespace gw::service {

std::vector<config::Diagnostic> CheckLoopbackCredentials(const config::GatewayConfig& config) {
  std::vector<config::Diagnostic> out;
  const config::OrthancSettings& orthanc = config.orthanc;
  if (!orthanc.authenticationRequired) return out;
  const std::string why = orthanc.authenticationEnabled
                              ? "AuthenticationEnabled is true"
                              : "AuthenticationEnabled is not set and RemoteAccessAllowed is true, so Orthanc "
                                "enables it";
  for (const auto& [name, server] : config.servers) {
    if (server.mode != config::ServerMode::Proxy) continue;
    std::string username = server.username;
    if (username.empty() && server.password.empty()) {
      const auto existing = orthanc.dicomWebServers.find(name);
      if (existing != orthanc.dicomWebServers.end() && proxy::IsLoopbackRouteUrl(existing->second.url, name)) {
        username = existing->second.username;
      }
    }
    const std::string path = "DicomWebOAuth.Servers." + name + ".Username";
    if (username.empty()) {
      out.push_back({config::Severity::Warning, "CFG-008", path,
                     "Orthanc asks every HTTP request for credentials (" + why +
                         "), the DICOMweb plugin's calls to this proxy-mode server's loopback route included; "
                         "without an Orthanc user they are refused with 401 and every DICOMweb call of server `" +
                         name + "` fails: add \"Username\" and \"Password\" of an Orthanc user (RegisteredUsers) "
                         "to DicomWebOAuth.Servers." + name});
    } else if (!orthanc.registeredUsers.empty() &&
               std::find(orthanc.registeredUsers.begin(), orthanc.registeredUsers.end(), username) ==
                   orthanc.registeredUsers.end()) {
      out.push_back({config::Severity::Warning, "CFG-008", path,
                     "the Orthanc user `" + username + "` of server `" + name +
                         "` is not in RegisteredUsers, so Orthanc (" + why +
                         ") refuses its loopback calls with 401: use a user from RegisteredUsers"});
    }
  }
  return out;
}

}  // namespace gw::service
