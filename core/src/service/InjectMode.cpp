#include "gw/service/InjectMode.h"

#include <string_view>

#include "gw/common/Log.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"
#include "gw/proxy/DefinitionMerge.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/service/Gateway.h"

namespace gw::service {

InjectMode::InjectMode(Gateway& gateway, std::shared_ptr<IDefinitionWriter> writer)
    : gateway_(gateway), writer_(std::move(writer)) {
  for (const auto& [name, server] : gateway_.Config().servers) {
    if (server.mode == config::ServerMode::Inject && gateway_.HasTokenSource(name)) servers_.insert(name);
  }
}

proxy::DicomWebDefinition InjectMode::BuildDefinition(const std::string& server,
                                                      const std::string& authorization) const {
  const config::ServerConfig& s = gateway_.Config().servers.at(server);
  proxy::DicomWebDefinition d;
  d.url = s.url;
  d.username = s.username;
  d.password = s.password;
  d.httpHeaders = s.httpHeaders;
  d.hasDelete = s.hasDelete;
  d.chunkedTransfers = s.chunkedTransfers;
  d.timeoutSeconds = s.timeoutSeconds;
  d.certificateFile = s.certificateFile;
  d.certificateKeyFile = s.certificateKeyFile;
  d.certificateKeyPassword = s.certificateKeyPassword;
  // What an existing DicomWeb.Servers.<name> entry adds, merged as proxy mode merges it
  // (DefinitionMerge.h): the settings left open above, and the keys the definition does not own.
  // Its Url and HttpHeaders are never taken; its credentials only where the server has none, and
  // never from an entry that pointed at the proxy route (the Python plugin's set-up): those are an
  // Orthanc user's, for the loopback call, and have no business in a definition bound upstream.
  const auto& orthanc = gateway_.Config().orthanc.dicomWebServers;
  if (auto it = orthanc.find(server); it != orthanc.end() && it->second.raw) {
    proxy::MergeExistingDefinition(d, *it->second.raw);
    if (!proxy::IsLoopbackRouteUrl(it->second.url, server)) {
      if (d.username.empty()) d.username = it->second.username;
      if (d.password.empty()) d.password = it->second.password;
    }
  }
  d.httpHeaders["Authorization"] = authorization;
  return d;
}

Status InjectMode::WriteCurrent(const std::string& server, std::chrono::milliseconds minRemaining,
                                std::chrono::milliseconds timeout) {
  std::string authorization;
  auto headers = gateway_.CredentialHeaders(server, proxy::OutgoingRequest{},
                                            std::chrono::duration_cast<std::chrono::seconds>(minRemaining), timeout);
  if (!headers.Ok()) return headers.GetError();
  for (auto& [k, v] : headers.Value()) {
    if (k == "Authorization") authorization = std::move(v);
  }
  const std::string fingerprint = crypto::HexEncode(crypto::Sha256(authorization));

  std::lock_guard<std::mutex> lock(writeMutex_);
  if (!started_) return Status::Success();
  if (written_[server] == fingerprint) return Status::Success();
  Status written = writer_->Write(server, BuildDefinition(server, authorization));
  if (!written.Ok()) {
    LogError("inject mode: cannot update the DICOMweb definition of '" + server + "': " + written.GetError().ToString());
    return written;
  }
  written_[server] = fingerprint;
  ++writes_;
  LogInfo("inject mode: DICOMweb definition of '" + server + "' updated with a new token");
  return Status::Success();
}

void InjectMode::Start() {
  {
    std::lock_guard<std::mutex> lock(writeMutex_);
    started_ = true;
  }
  for (const auto& server : servers_) {
    // Waits briefly for a token; if the IdP is slow, OnNewToken() writes it when it arrives.
    Status s = WriteCurrent(server, std::chrono::milliseconds(0), std::chrono::milliseconds(2000));
    if (!s.Ok()) LogWarning("inject mode: no token yet for '" + server + "': " + s.GetError().ToString());
  }
}

void InjectMode::OnNewToken(const std::string& server) {
  if (!Manages(server)) return;
  // The token is cached: take it without waiting.
  Status s = WriteCurrent(server, std::chrono::milliseconds(0), std::chrono::milliseconds(0));
  if (!s.Ok()) LogWarning("inject mode: cannot write the new token of '" + server + "': " + s.GetError().ToString());
}

Status InjectMode::EnsureFresh(const std::string& server, std::chrono::seconds minRemaining,
                               std::chrono::milliseconds timeout) {
  return WriteCurrent(server, std::chrono::duration_cast<std::chrono::milliseconds>(minRemaining), timeout);
}

Status InjectMode::Restore(const std::string& server) {
  if (!Manages(server)) return Status::Success();
  {
    std::lock_guard<std::mutex> lock(writeMutex_);
    if (written_.count(server) == 0) return Status::Success();
    written_.erase(server);  // what was written is gone: the next write must not be skipped
  }
  return WriteCurrent(server, std::chrono::milliseconds(0), std::chrono::milliseconds(0));
}

bool InjectMode::Written(const std::string& server) const {
  std::lock_guard<std::mutex> lock(writeMutex_);
  return written_.count(server) > 0;
}

void InjectMode::CredentialRejected(const std::string& server) {
  gateway_.CredentialRejected(server);
}

uint64_t InjectMode::Writes() const {
  std::lock_guard<std::mutex> lock(writeMutex_);
  return writes_;
}

std::vector<config::Diagnostic> CheckInjectUrlPrefix(const config::GatewayConfig& config) {
  std::vector<config::Diagnostic> out;
  for (const auto& [name, server] : config.servers) {
    if (server.mode != config::ServerMode::Inject) continue;
    const std::string& url = server.url;
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos) continue;
    const size_t path = url.find('/', scheme + 3);
    if (path == std::string::npos) continue;
    std::string_view p = std::string_view(url).substr(path);
    const size_t end = p.find_first_of("?#");
    if (end != std::string_view::npos) p = p.substr(0, end);
    while (!p.empty() && p.back() == '/') p.remove_suffix(1);
    if (p.empty()) continue;  // the whole host: nothing outside the Url to reach
    out.push_back(config::Diagnostic{
        config::Severity::Warning, "CFG-009", "DicomWebOAuth.Servers." + name + ".Url",
        "inject mode sends the token to whatever URL the DICOMweb plugin builds from this Url and a caller's "
        "Uri: a Uri with dot segments (\"/../\") reaches paths of this host outside '" +
            std::string(p) +
            "' with the token. If the host serves anything else, use Mode \"proxy\" (the gateway keeps every "
            "request under the Url) or a routing policy (docs/inject-mode.md)"});
  }
  return out;
}

}  // namespace gw::service
