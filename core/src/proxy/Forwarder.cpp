#include "gw/proxy/Forwarder.h"

#include <algorithm>

#include "gw/common/Log.h"
#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

// SHA-256 of the empty string: the payload hash of a request without a body (SigV4 signers need
// it; a spooled body brings its own, a streamed body is not hashed and gets an empty value).
constexpr const char* kEmptyPayloadSha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Passes an answer through, except a 401 which is held back (head and up to a limit of body)
// until the forwarder decides between a replay (the held answer is dropped) and Release().
class HoldUnauthorized final : public IResponseSink {
 public:
  explicit HoldUnauthorized(IResponseSink& next) : next_(next) {}

  bool OnHead(long status, const http::Headers& headers) override {
    if (status != 401) {
      passthrough_ = true;
      return next_.OnHead(status, headers);
    }
    holding_ = true;
    status_ = status;
    headers_ = headers;
    return true;
  }

  bool OnBody(std::string_view data) override {
    if (passthrough_) return next_.OnBody(data);
    if (body_.size() + data.size() <= Forwarder::kMaxHeld401Bytes) {
      body_.append(data);
      return true;
    }
    // A 401 this large is not a plain challenge: give up holding it, it goes to the caller.
    return Release() && next_.OnBody(data);
  }

  bool Held() const { return holding_ && !passthrough_; }

  bool Release() {
    if (!Held()) return true;
    passthrough_ = true;
    if (!next_.OnHead(status_, headers_)) return false;
    return body_.empty() || next_.OnBody(body_);
  }

 private:
  IResponseSink& next_;
  bool holding_ = false;
  bool passthrough_ = false;
  long status_ = 0;
  http::Headers headers_;
  std::string body_;
};

}  // namespace

Result<http::Headers> Forwarder::BuildHeaders(const ServerRoute& server, const ForwardRequest& request) {
  http::Headers headers = request.headers;
  headers.insert(headers.end(), server.extraHeaders.begin(), server.extraHeaders.end());
  OutgoingRequest outgoing{request.method, request.url, &headers,
                           request.body == nullptr ? std::string_view(kEmptyPayloadSha256)
                                                   : request.body->PayloadSha256()};
  const std::chrono::seconds wanted = std::max(options_.minRemaining, request.minRemaining);
  // The Forwarder's own margin is a preference, a policy's min_token_seconds a requirement. The margin
  // is asked for without waiting: a token that does not last that long starts its refresh (single
  // flight) while this request goes on with the still-valid token (the second ask, a cache hit).
  // Only a request without any usable token waits, up to credentialTimeout. Before, every request
  // waited for that refresh, up to 15 s with a slow IdP, then failed (TOK-007) although a valid token
  // was cached; and with the IdP down it failed at once (TOK-002: "no token valid for another 60 s").
  // An expired token is still never used (TOK-001).
  Result<http::Headers> credential = MakeError("TOK-002", "no credential asked for", 503);
  if (request.minRemaining < wanted) {
    credential = credentials_->CredentialHeaders(server.name, outgoing, wanted, std::chrono::milliseconds(0));
  }
  if (!credential) {
    // The requirement: the policy's minimum (it is `wanted` when longer than the margin), or none.
    credential = credentials_->CredentialHeaders(server.name, outgoing, request.minRemaining,
                                                 options_.credentialTimeout);
  }
  if (!credential) return credential.GetError();
  headers.insert(headers.end(), credential.Value().begin(), credential.Value().end());
  return headers;
}

Result<long> Forwarder::Send(const ServerRoute& server, const ForwardRequest& request, http::Headers headers,
                             IResponseSink& sink) {
  UpstreamRequest upstream;
  upstream.method = request.method;
  upstream.url = request.url;
  upstream.headers = std::move(headers);
  upstream.tls = server.tls;
  upstream.connectTimeout = server.connectTimeout;
  upstream.idleTimeout = server.idleTimeout;
  return client_->Perform(upstream, request.body, sink);
}

Result<long> Forwarder::Forward(const ServerRoute& server, const ForwardRequest& request, IResponseSink& sink) {
  auto headers = BuildHeaders(server, request);
  if (!headers) return headers.GetError();

  HoldUnauthorized hold(sink);
  auto first = Send(server, request, std::move(headers).Value(), hold);
  if (!first.Ok() || first.Value() != 401) {
    if (first.Ok() && hold.Held() && !hold.Release()) return UpstreamMalformed("the answer could not be delivered");
    return first;
  }

  credentials_->CredentialRejected(server.name);
  const bool replayable = hold.Held() && (request.body == nullptr || request.body->Rewind());
  if (!replayable) {
    LogWarning("server " + server.name + ": upstream answered 401; credential dropped, request not replayable "
               "(body already streamed), the 401 goes back to the caller");
    if (!hold.Release()) return UpstreamMalformed("the answer could not be delivered");
    return first;
  }
  auto fresh = BuildHeaders(server, request);
  if (!fresh) {
    LogWarning("server " + server.name + ": upstream answered 401 and no fresh credential could be had (" +
               fresh.GetError().code + "); the 401 goes back to the caller");
    if (!hold.Release()) return UpstreamMalformed("the answer could not be delivered");
    return first;
  }
  ++replays_;
  LogInfo("server " + server.name + ": upstream answered 401; credential dropped, request replayed once");
  auto second = Send(server, request, std::move(fresh).Value(), sink);
  if (second.Ok() && second.Value() == 401) credentials_->CredentialRejected(server.name);
  return second;
}

}  // namespace gw::proxy
