#pragma once
// An ICredentialSource for tests: hands out "Bearer tok-<n>", where n grows by one after each
// CredentialRejected(); records what it was asked.
#include <mutex>
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
  std::vector<std::string> servers;
  std::vector<std::string> urls;
  std::vector<std::string> payloadHashes;
  gw::http::Headers seenHeaders;
};

}  // namespace gw::test
