#pragma once
// An ICredentialSource for tests: hands out "Bearer tok-<n>", where n grows by one after each
// CredentialRejected(); records what it was asked.
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gw/proxy/ICredentialSource.h"

namespace gw::test {

class FakeCredentials final : public gw::proxy::ICredentialSource {
 public:
  gw::Result<gw::http::Headers> CredentialHeaders(const std::string& server, const gw::proxy::OutgoingRequest& request,
                                                  std::chrono::seconds minRemaining,
                                                  std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls;
    servers.push_back(server);
    urls.emplace_back(request.url);
    payloadHashes.emplace_back(request.payloadSha256);
    if (request.headers != nullptr) seenHeaders = *request.headers;
    askedMinRemaining.push_back(minRemaining);
    if (validFor && minRemaining > *validFor) {
      return gw::MakeError("TOK-002", "no token for server '" + server + "' valid for another " +
                                          std::to_string(minRemaining.count()) + " s; refresh failed: NET-001", 503);
    }
    if (failFromCall != 0 && calls >= failFromCall) {
      return gw::MakeError("TOK-003", "identity provider unavailable", 503);
    }
    return gw::http::Headers{{"Authorization", "Bearer tok-" + std::to_string(generation)}};
  }
  void CredentialRejected(const std::string& server) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++rejected;
    ++generation;
  }

  std::mutex mutex_;
  int calls = 0;
  int rejected = 0;
  int generation = 1;
  int failFromCall = 0;  // 0: never fail; n: fail from the n-th call on
  // Set: the cached token is valid for this long and cannot be refreshed (the IdP is down): a
  // request for a longer lifetime gets TOK-002, as from the token engine.
  std::optional<std::chrono::seconds> validFor;
  std::vector<std::chrono::seconds> askedMinRemaining;
  std::vector<std::string> servers;
  std::vector<std::string> urls;
  std::vector<std::string> payloadHashes;
  gw::http::Headers seenHeaders;
};

}  // namespace gw::test
