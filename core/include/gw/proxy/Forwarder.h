#pragma once
// One proxied request, end to end on the core side: credential, upstream exchange, 401 handling.
//
//   1. asks the ICredentialSource for the server's headers (TOK-xxx errors are returned as they
//      are: the caller answers them with their own status, e.g. 503);
//   2. sends the request (filtered headers + the server's extra headers + the credential) with
//      the UpstreamClient, the answer going to `sink` as it arrives;
//   3. on a 401: reports CredentialRejected(server) and, when the request can be replayed (no
//      body, or every body byte sent so far is still held: see QueueBody), sends it once more
//      with fresh credentials. The first 401 is held back from `sink` (its body up to
//      kMaxHeld401Bytes) and only released when no replay happens, so the caller sees exactly one
//      answer: the replay's, or the real 401 with its body and WWW-Authenticate.
//
// Thread safety: Forward() may run on many threads at once (the credential source and the client
// are thread safe); each call uses its own body and sink.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "gw/proxy/ICredentialSource.h"
#include "gw/proxy/IRequestBody.h"
#include "gw/proxy/IResponseSink.h"
#include "gw/proxy/ServerRoute.h"
#include "gw/proxy/UpstreamClient.h"

namespace gw::proxy {

struct ForwarderOptions {
  // How long a credential must stay valid: enough for the request to reach the upstream's check.
  std::chrono::seconds minRemaining{60};
  // How long a request may wait for a credential (a fetch from the identity provider).
  std::chrono::milliseconds credentialTimeout{15000};
};

struct ForwardRequest {
  std::string method;          // GET, POST, PUT, DELETE
  std::string url;             // from UpstreamUrl::Resolve
  http::Headers headers;       // already filtered (HeaderPolicy::RequestHeadersToForward)
  IRequestBody* body = nullptr;
  // A routing policy's min_token_seconds: replaces ForwarderOptions::minRemaining when longer.
  std::chrono::seconds minRemaining{0};
};

class Forwarder {
 public:
  static constexpr size_t kMaxHeld401Bytes = 1024 * 1024;

  Forwarder(std::shared_ptr<ICredentialSource> credentials, std::shared_ptr<UpstreamClient> client,
            ForwarderOptions options = {})
      : credentials_(std::move(credentials)), client_(std::move(client)), options_(options) {}

  // The upstream status of the answer given to `sink`, or the error that prevented one (the sink
  // then saw nothing, or an incomplete answer when the transfer broke midway).
  Result<long> Forward(const ServerRoute& server, const ForwardRequest& request, IResponseSink& sink);

  // Counters since start, for metrics and tests.
  uint64_t Replays() const { return replays_; }

 private:
  Result<http::Headers> BuildHeaders(const ServerRoute& server, const ForwardRequest& request);
  Result<long> Send(const ServerRoute& server, const ForwardRequest& request, http::Headers headers,
                    IResponseSink& sink);

  std::shared_ptr<ICredentialSource> credentials_;
  std::shared_ptr<UpstreamClient> client_;
  ForwarderOptions options_;
  std::atomic<uint64_t> replays_{0};
};

}  // namespace gw::proxy
