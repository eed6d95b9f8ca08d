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
  auto credential = credentials_->CredentialHeaders(server.name, outgoing, wanted, options_.credentialTimeout);
  // The Forwarder's own margin is a preference, a policy's min_token_seconds a requirement. When no
  // credential valid for the margin can be had because the refresh failed (TOK-002: the IdP is down,
  // or its tokens live shorter than the margin), a still-valid one is used rather than failing the
  // request: while the IdP is down, a still-valid token keeps being served. The second call fetches
  // nothing (a cache hit, or at once the same failure during the back-off); an expired token is
  // still never used (TOK-001).
  if (!credential && credential.GetError().code == "TOK-002" && request.minRemaining < wanted) {
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
