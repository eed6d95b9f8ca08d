#pragma once
// IHttpClient on libcurl, shared by every thread of the process.
//
// Connection reuse: finished easy handles go back to a small idle pool (one thread uses a handle at a
// time) and every handle is attached to one CURLSH share object holding the connection cache, the
// DNS cache and the TLS session cache, guarded by one mutex per kind of shared data. A second request
// to the same host therefore reuses the open connection whichever thread or handle makes it.
//
// Security defaults:
//   - TLS peer and host name verification are on; TlsOptions::verifyPeer=false turns both off.
//   - Only http and https URLs are accepted (also for redirects); anything else is NET-004.
//   - Redirects are not followed unless HttpRequest::followRedirects is set: a token endpoint that
//     redirects must not make us resend client credentials somewhere else. Even then only redirects
//     within the request's origin (scheme, host, port) are followed; one elsewhere is the answer.
//   - The response (headers and body) is capped while it is received (NET-006).
//   - Error messages name the host and the reason only: never the path, the query string, a
//     header or a body (they may carry secrets).
//
// Proxies come from the environment, read by libcurl at each request (nothing here disables that):
//   http_proxy   for http:// URLs, lower case only (libcurl ignores HTTP_PROXY on purpose: in a CGI
//                context that name can be set by a client's "Proxy:" request header);
//   https_proxy  or HTTPS_PROXY for https:// URLs (lower case wins when both are set);
//   all_proxy    or ALL_PROXY as fallback for both;
//   no_proxy     or NO_PROXY: comma-separated host names / domain suffixes / IP addresses that bypass
//                the proxy ("*" bypasses it for all hosts).
#include <string>

#include "gw/http/CurlHandlePool.h"
#include "gw/http/IHttpClient.h"

namespace gw::http {

struct CurlHttpClientOptions {
  size_t maxIdleHandles = 16;   // easy handles kept for reuse; more concurrent requests create more
  // Open idle connections kept in the shared cache, all hosts together. libcurl's default (5) is
  // per easy handle and far too small for a cache shared by many threads: with 8 threads and two
  // hosts it closed ~70% of the connections instead of reusing them (measured in the unit test).
  long maxCachedConnections = 64;
  std::string userAgent = "dicomweb-oauth-gateway";
  size_t maxHeaderBytes = 256 * 1024;  // total size of response headers; beyond: NET-006
};

class CurlHttpClient final : public IHttpClient {
 public:
  // Calls curl_global_init once per process (thread safe). Fails (std::runtime_error) only if
  // libcurl cannot create a share object, i.e. out of memory: a start-up error.
  explicit CurlHttpClient(CurlHttpClientOptions options = {});
  // No request may be running on this client when it is destroyed.
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  // Thread safe. Blocks for at most request.timeout. See IHttpClient.h for the error codes.
  Result<HttpResponse> Perform(const HttpRequest& request) override;

  // Number of new connections the last Perform() on the calling thread opened (libcurl's
  // CURLINFO_NUM_CONNECTS: 0 means an existing connection was reused). For tests and diagnostics.
  static long LastNewConnections();

 private:
  Result<HttpResponse> PerformOnce(const HttpRequest& request);  // one exchange, no redirect followed

  CurlHttpClientOptions options_;
  CurlHandlePool pool_;  // share object and idle easy handles
};

}  // namespace gw::http
