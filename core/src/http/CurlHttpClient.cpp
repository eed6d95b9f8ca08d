#include "gw/http/CurlHttpClient.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include <strings.h>

#include "gw/common/ErrorCatalog.h"
#include "gw/common/SecretRegistry.h"
#include "gw/http/CurlHeaderList.h"

namespace gw::http {

namespace {

thread_local long tLastNewConnections = -1;

Error NetError(const char* code, const std::string& target, const std::string& reason) {
  // The catalog's status: 504 for a timeout, 502 for every other failure to talk to an upstream.
  return CatalogError(code, SecretRegistry::Redact("request to " + target + " failed: " + reason));
}

// Removes every occurrence of `needle` from `text` (used to keep URLs out of curl's messages).
void Erase(std::string& text, const std::string& needle) {
  if (needle.empty()) return;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos)) {
    text.replace(pos, needle.size(), "<url>");
    pos += 5;
  }
}


struct Transfer {
  HttpResponse* response = nullptr;
  size_t maxBody = 0;
  size_t maxHeaderBytes = 0;
  size_t headerBytes = 0;
  bool tooLarge = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response->body.size() + n > t->maxBody) {
    t->tooLarge = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  t->headerBytes += n;
  if (t->headerBytes > t->maxHeaderBytes) {
    t->tooLarge = true;
    return 0;
  }
  std::string_view line(data, n);
  auto& headers = t->response->headers;
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: 1xx interim answers and redirect hops each start a new header block, and
    // only the last block belongs to the response we return.
    headers.clear();
    return n;
  }
  if (line == "\r\n" || line == "\n") return n;
  AddHeaderLine(line, headers);
  return n;
}

// Parsed pieces of the request URL used for checks and for messages.
struct Target {
  std::string scheme;
  std::string hostPort;  // "host:port", safe to show
};

Result<Target> ParseTarget(const std::string& url) {
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return NetError("NET-004", "<invalid url>", "the URL contains a space or a control character");
    }
  }
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u) return NetError("NET-005", "<url>", "out of memory");
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return NetError("NET-004", "<invalid url>", "the URL cannot be parsed");
  }
  auto part = [&](CURLUPart which, unsigned flags) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(u.get(), which, &value, flags) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  Target t;
  t.scheme = part(CURLUPART_SCHEME, 0);
  std::transform(t.scheme.begin(), t.scheme.end(), t.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string host = part(CURLUPART_HOST, 0);
  const std::string port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  t.hostPort = host + (port.empty() ? "" : ":" + port);
  if (t.scheme != "http" && t.scheme != "https") {
    return NetError("NET-004", t.hostPort, "URL scheme '" + t.scheme + "' is not allowed (http, https only)");
  }
  if (host.empty()) return NetError("NET-004", "<invalid url>", "the URL has no host");
  return t;
}

// The absolute URL a Location header names, resolved against the URL that answered (relative
// references included). NET-004 when it cannot be parsed.
Result<std::string> ResolveLocation(const std::string& base, const std::string& location) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u) return NetError("NET-005", "<url>", "out of memory");
  if (curl_url_set(u.get(), CURLUPART_URL, base.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, location.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return NetError("NET-004", "<invalid url>", "the redirect target cannot be parsed");
  }
  char* value = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &value, 0) != CURLUE_OK || value == nullptr) {
    curl_free(value);
    return NetError("NET-004", "<invalid url>", "the redirect target cannot be parsed");
  }
  std::string out(value);
  curl_free(value);
  return out;
}

// What libcurl saw when the transfer failed, beyond the CURLcode.
struct Failure {
  CURLcode rc = CURLE_OK;
  bool https = false;
  bool tooLarge = false;
  bool handshakeDone = false;    // TLS handshake completed on this transfer's connection
  bool nothingReceived = false;  // not a single response header byte
  bool newConnection = false;
  const char* errbuf = "";
};

// True when an https server dropped a connection that we had just opened, right after the TLS
// handshake and before answering. With TLS 1.3 that is how a server refuses a missing or rejected
// client certificate: its alert arrives after the client considers the handshake done, and
// depending on timing libcurl reports the alert (read error) or a reset (send error).
bool DroppedAfterHandshake(const Failure& f) {
  if (!f.https || !f.handshakeDone || !f.nothingReceived || !f.newConnection) return false;
  return f.rc == CURLE_SEND_ERROR || f.rc == CURLE_RECV_ERROR || f.rc == CURLE_GOT_NOTHING;
}

const char* CodeFor(const Failure& f) {
  if (f.tooLarge) return "NET-006";
  switch (f.rc) {
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      if (f.https && std::strstr(f.errbuf, "alert") != nullptr) return "NET-003";
      if (DroppedAfterHandshake(f)) return "NET-003";
      return "NET-005";
    default:
      return NetErrorCode(f.rc);
  }
}

}  // namespace

CurlHttpClient::CurlHttpClient(CurlHttpClientOptions options)
    : options_(std::move(options)), pool_(options_.maxIdleHandles) {}

CurlHttpClient::~CurlHttpClient() = default;

long CurlHttpClient::LastNewConnections() { return tLastNewConnections; }

Result<HttpResponse> CurlHttpClient::Perform(const HttpRequest& request) {
  if (!request.followRedirects) return PerformOnce(request);
  // libcurl would follow a redirect to any host with every header of the request and, after a
  // 307/308, its body (a client secret, an API key). Hops are followed here instead, and only
  // within the origin (scheme, host, port) of the request: a redirect elsewhere is the answer.
  HttpRequest hop = request;
  for (long hops = 0;; ++hops) {
    auto response = PerformOnce(hop);
    if (!response.Ok()) return response;
    const long status = response.Value().status;
    if (status < 300 || status >= 400 || status == 304) return response;
    const auto location = response.Value().Header("location");
    if (!location || hops >= request.maxRedirects) return response;
    auto next = ResolveLocation(hop.url, *location);
    if (!next) return next.GetError();
    auto from = ParseTarget(hop.url);
    auto to = ParseTarget(next.Value());
    if (!to) return to.GetError();  // NET-004: not http(s)
    if (!from || strcasecmp(from.Value().scheme.c_str(), to.Value().scheme.c_str()) != 0 ||
        strcasecmp(from.Value().hostPort.c_str(), to.Value().hostPort.c_str()) != 0) {
      return response;
    }
    hop.url = std::move(next).Value();
    if (status == 303 || ((status == 301 || status == 302) && hop.method == "POST")) {
      hop.method = "GET";  // what browsers and libcurl do
      hop.body.clear();
    }
  }
}

Result<HttpResponse> CurlHttpClient::PerformOnce(const HttpRequest& request) {
  tLastNewConnections = -1;
  auto target = ParseTarget(request.url);
  if (!target) return target.GetError();
  const std::string& where = target.Value().hostPort;
  const bool https = target.Value().scheme == "https";

  if (request.method.empty() ||
      !IsHttpToken(request.method)) {
    return NetError("NET-004", where, "invalid HTTP method");
  }
  if (request.timeout.count() <= 0) return NetError("NET-002", where, "no time left for the request");

  // Header list; "Expect:" disables 100-continue (an extra round trip for nothing here).
  CurlHeaderList headerList;
  bool callerSetExpect = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsHttpToken(name)) return NetError("NET-004", where, "invalid request header name");
    if (HasLineBreakOrNul(value)) {
      return NetError("NET-004", where, "request header '" + name + "' contains CR, LF or NUL");
    }
    if (strcasecmp(name.c_str(), "expect") == 0) callerSetExpect = true;
    // "Name;" is libcurl's way to send a header with an empty value.
    if (!headerList.Append(value.empty() ? name + ";" : name + ": " + value)) {
      return NetError("NET-005", where, "out of memory");
    }
  }
  if (!callerSetExpect && !headerList.Append("Expect:")) return NetError("NET-005", where, "out of memory");

  CurlHandlePool::Lease lease(pool_);
  CURL* h = static_cast<CURL*>(lease.Get());
  if (h == nullptr) return NetError("NET-005", where, "could not create a libcurl handle");

  HttpResponse response;
  Transfer transfer;
  transfer.response = &response;
  transfer.maxBody = request.maxResponseBytes;
  transfer.maxHeaderBytes = options_.maxHeaderBytes;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // Perform() follows, within the origin only
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // required with threads; the resolver is threaded
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, options_.maxCachedConnections);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, request.connectTimeout.count())));
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.userAgent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headerList.Get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.maxResponseBytes));

  // TLS
  ApplyTls(h, request.tls);

  // Method and body
  if (request.method == "GET" && request.body.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "POST" || !request.body.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    }
  }

  const CURLcode rc = curl_easy_perform(h);
  long newConnections = -1;
  if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &newConnections) == CURLE_OK) {
    tLastNewConnections = newConnections;
  }

  if (rc != CURLE_OK) {
    Failure f;
    f.rc = rc;
    f.https = https;
    f.tooLarge = transfer.tooLarge;
    curl_off_t appConnect = 0;
    f.handshakeDone = curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &appConnect) == CURLE_OK && appConnect > 0;
    long headerBytes = 0;
    f.nothingReceived = curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &headerBytes) == CURLE_OK && headerBytes == 0;
    f.newConnection = newConnections > 0;
    f.errbuf = errbuf;
    const char* code = CodeFor(f);
    std::string reason;
    if (IsResponseTooLarge(code)) {
      reason = "response larger than " + std::to_string(request.maxResponseBytes) + " bytes (body) or " +
               std::to_string(options_.maxHeaderBytes) + " bytes (headers)";
    } else {
      reason = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
      // curl's messages name hosts, not URLs; make sure no URL (with its query) slips through.
      Erase(reason, request.url);
      if (DroppedAfterHandshake(f) && std::strstr(errbuf, "alert") == nullptr) {
        reason += " (the server closed the connection right after the TLS handshake: usually a client "
                  "certificate that is required but missing or refused)";
      }
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    return NetError(code, where, reason);
  }
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace gw::http
