#pragma once
// The streaming HTTP client of proxy mode, on libcurl. Unlike http::CurlHttpClient (whole bodies in
// memory, for identity providers), one exchange here pulls its request body from an IRequestBody
// and pushes the answer to an IResponseSink as it arrives, so neither direction is ever held whole.
//
// Per exchange: an easy handle from a small idle pool, attached to one share object (connection,
// DNS and TLS session caches), so consecutive requests to the same upstream reuse connections.
// Security defaults: http/https only, no redirects followed (a 3xx goes back to the caller as is:
// the credential must not follow a Location), TLS peer and host verification unless the server's
// VerifySSL is false, an optional CA bundle and client certificate.
//
// Request framing: a body of known size is sent with Content-Length, an unknown size with chunked
// transfer coding. No request carries "Expect: 100-continue": Orthanc never sends the interim
// answer (libcurl would wait its timeout, 1 s, before every streamed body) and a front that does
// send it costs a round trip per request. The body goes out with the headers; an upstream that
// refuses the request (401, 403, 413...) early makes libcurl stop sending at its answer, and the
// forwarder replays a 401 from the bytes QueueBody keeps (see docs/proxy-mode.md).
//
// Timeouts: connect (connectTimeout), and idle: the transfer fails when no byte moves in either
// direction for idleTimeout (a progress callback; libcurl's low-speed limit, which averages over
// about 5 s, is only a backstop) or the body source delivers nothing for that long;
// totalTimeout (0: none) bounds the whole exchange. A multi-gigabyte STOW is never cut by a total
// deadline unless the operator sets one.
//
// Errors (Result of Perform): PXY-003 (502) with the NET-xxx code of the transport failure in its
// message (NET-001 connect/resolve, NET-003 TLS, NET-005 other), PXY-004 (504) timeout, the body's
// error (PXY-005) when the request body failed, PXY-007 (502) for an answer that cannot be parsed
// or a sink that aborted. Messages name the upstream host only, never the path or query.
//
// Thread safety: Perform() may run on many threads at once; one exchange uses one thread.
#include <chrono>
#include <string>

#include "gw/common/Error.h"
#include "gw/http/CurlHandlePool.h"
#include "gw/http/HttpTypes.h"
#include "gw/proxy/IRequestBody.h"
#include "gw/proxy/IResponseSink.h"

namespace gw::proxy {

struct UpstreamRequest {
  std::string method = "GET";   // GET, POST, PUT, DELETE
  std::string url;              // absolute http(s) URL, already validated (UpstreamUrl)
  http::Headers headers;        // sent as given (credentials included); never logged
  http::TlsOptions tls;
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::milliseconds idleTimeout{120000};
  std::chrono::milliseconds totalTimeout{0};  // 0: no overall deadline
};

struct UpstreamClientOptions {
  size_t maxIdleHandles = 16;
  long maxCachedConnections = 64;
  std::string userAgent = "dicomweb-oauth-gateway";
  size_t maxHeaderBytes = 256 * 1024;  // response headers; beyond: PXY-007
  long receiveBufferBytes = 512 * 1024;
  long uploadBufferBytes = 1024 * 1024;
};

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamClientOptions options = {});
  ~UpstreamClient();  // no exchange may be running
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Runs one exchange on the calling thread and returns the upstream status (any status, 4xx and
  // 5xx included, is a value). `body` may be null (no request body). The sink has seen OnHead()
  // exactly once when a status is returned.
  Result<long> Perform(const UpstreamRequest& request, IRequestBody* body, IResponseSink& sink);

 private:
  UpstreamClientOptions options_;
  http::CurlHandlePool pool_;  // share object and idle easy handles
};

}  // namespace gw::proxy
