#pragma once
// Inject mode: keeps the DICOMweb plugin's own definition of each inject-mode server current with
// `Authorization: Bearer <token>`, so Orthanc's DICOMweb client sends the credential itself and
// nothing of ours sits in the data path (DESIGN.md, "Two ways to put the credential on the wire").
//
//   - The definition written is complete (the PUT replaces, never merges): Url, Username,
//     Password, HasDelete, ChunkedTransfers, Timeout, certificates and HttpHeaders from the
//     configuration, plus other keys of DicomWeb.Servers.<name>, plus Authorization.
//   - A new token (background refresh ahead of expiry) is written as soon as it is cached.
//   - Before a DICOMweb call on such a server, EnsureFresh() (from the incoming-request filter)
//     makes sure the token will outlive the operation and that the definition holds that token.
//   - Writes are serialised, so an older token is never written after a newer one; what was last
//     written is remembered as a SHA-256 fingerprint, never as the token.
// Thread safety: all methods may be called from any thread.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <vector>

#include "gw/common/Error.h"
#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"
#include "gw/proxy/DicomWebDefinition.h"

namespace gw::service {

class Gateway;

// Where definitions go: the plugin implements it with PUT /dicom-web/servers/{name}.
class IDefinitionWriter {
 public:
  virtual ~IDefinitionWriter() = default;
  virtual Status Write(const std::string& server, const proxy::DicomWebDefinition& definition) = 0;
};

// What job recovery (JobRecovery.h) needs of inject mode: renew a server's token. InjectMode is the
// implementation; tests use a fake.
class IInjectTokens {
 public:
  virtual ~IInjectTokens() = default;
  virtual Status EnsureFresh(const std::string& server, std::chrono::seconds minRemaining,
                             std::chrono::milliseconds timeout) = 0;
  virtual void CredentialRejected(const std::string& server) = 0;
};

class InjectMode : public IInjectTokens {
 public:
  // `gateway` must outlive this object. Manages the servers whose Mode is inject and whose provider
  // acquires tokens.
  InjectMode(Gateway& gateway, std::shared_ptr<IDefinitionWriter> writer);

  bool Manages(const std::string& server) const { return servers_.count(server) > 0; }
  const std::set<std::string>& Servers() const { return servers_; }

  // Orthanc is up (its REST API accepts the PUTs): asks for every token in the background and
  // writes the definitions of those already cached. Before Start(), new tokens are only remembered.
  void Start();

  // A new token was cached for `server` (token engine callback thread).
  void OnNewToken(const std::string& server);

  // Makes sure `server`'s token stays valid at least `minRemaining` (refreshing it just in time,
  // waiting up to `timeout`) and that the definition holds that token. TOK-xxx on failure.
  Status EnsureFresh(const std::string& server, std::chrono::seconds minRemaining,
                     std::chrono::milliseconds timeout) override;

  // The upstream refused the credential of `server` (e.g. a DICOMweb job failed with 401):
  // drops the token; the next one is written as soon as it arrives.
  void CredentialRejected(const std::string& server) override;

  // The definition of `server` was changed or removed behind the gateway's back (PUT/DELETE that got
  // past the incoming filter): writes it again with the cached token, without waiting for one.
  // Does nothing before the first write (there is nothing to restore yet).
  Status Restore(const std::string& server);

  // True once a definition of `server` has been written.
  bool Written(const std::string& server) const;

  // The definition for `server` with `authorization` as the Authorization header (exposed for tests).
  proxy::DicomWebDefinition BuildDefinition(const std::string& server, const std::string& authorization) const;

  uint64_t Writes() const;

 private:
  // Writes the current token if it differs from the last one written. Holds writeMutex_.
  Status WriteCurrent(const std::string& server, std::chrono::milliseconds minRemaining,
                      std::chrono::milliseconds timeout);

  Gateway& gateway_;
  std::shared_ptr<IDefinitionWriter> writer_;
  std::set<std::string> servers_;

  mutable std::mutex writeMutex_;
  bool started_ = false;                           // guarded by writeMutex_
  std::map<std::string, std::string> written_;     // server -> SHA-256 of the token written
  uint64_t writes_ = 0;
};

// CFG-009 warnings (path DicomWebOAuth.Servers.<name>.Url) for inject-mode servers whose Url has a
// path below the host (https://host/prefix/...). In inject mode the DICOMweb plugin builds each URL
// from the Url and the caller's Uri, and sends the token with it: a Uri with dot segments
// ("/../other/...") reaches paths of that host outside the prefix with the token (the gateway is
// not in the data path and cannot stop it). Where the host serves other things under other paths,
// use proxy mode or a routing policy (docs/inject-mode.md). Logged at start, shown by check-config.
std::vector<config::Diagnostic> CheckInjectUrlPrefix(const config::GatewayConfig& config);

}  // namespace gw::service
