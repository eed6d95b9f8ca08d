#include "gw/proxy/UpstreamClient.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include <strings.h>

#include "gw/common/ErrorCatalog.h"
#include "gw/common/SecretRegistry.h"
#include "gw/http/CurlHeaderList.h"
#include "gw/http/HttpTypes.h"
#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

std::string HostPortOf(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), &curl_url_cleanup);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "<invalid url>";
  auto part = [&](CURLUPart which, unsigned flags) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(u.get(), which, &value, flags) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  const std::string host = part(CURLUPART_HOST, 0);
  const std::string port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  return host + (port.empty() ? "" : ":" + port);
}

// State of one exchange, shared with libcurl's callbacks.
struct Exchange {
  IRequestBody* body = nullptr;
  IResponseSink* sink = nullptr;
  size_t maxHeaderBytes = 0;

  long status = 0;
  http::Headers headers;
  size_t headerBytes = 0;
  bool headDone = false;

  // Idle limit: the exchange fails when no byte moved in either direction for `idle`. libcurl's
  // low-speed check averages over a window of about 5 s, so after a burst (half an answer, a body
  // that filled the socket buffers) it fired only Timeout + ~6 s later (measured: 9.2 s for 3 s).
  std::chrono::steady_clock::duration idle{};
  std::chrono::steady_clock::time_point lastMove = std::chrono::steady_clock::now();
  curl_off_t lastDown = 0;
  curl_off_t lastUp = 0;
  bool idleExpired = false;

  bool sinkAborted = false;
  std::optional<std::string> malformed;  // why the answer could not be parsed
  std::optional<Error> bodyError;
  uint64_t bodyBytesReceived = 0;

  bool DeliverHead() {
    headDone = true;
    if (!sink->OnHead(status, headers)) {
      sinkAborted = true;
      return false;
    }
    return true;
  }
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (x->headDone) return n;  // trailers of a chunked answer: not forwarded
  x->headerBytes += n;
  if (x->headerBytes > x->maxHeaderBytes) {
    x->malformed = "response headers larger than " + std::to_string(x->maxHeaderBytes) + " bytes";
    return 0;
  }
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A status line: each interim (1xx) answer starts a new header block.
    x->headers.clear();
    x->status = 0;
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      long status = 0;
      size_t i = sp + 1;
      int digits = 0;
      while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])) && digits < 3) {
        status = status * 10 + (line[i] - '0');
        ++i;
        ++digits;
      }
      if (digits == 3) x->status = status;
    }
    if (x->status < 100 || x->status > 599) {
      x->malformed = "invalid status line";
      return 0;
    }
    return n;
  }
  if (line == "\r\n" || line == "\n") {
    if (x->status >= 200) {
      if (!x->DeliverHead()) return 0;
    }
    return n;
  }
  http::AddHeaderLine(line, x->headers);
  return n;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (!x->headDone && !x->DeliverHead()) return 0;
  x->bodyBytesReceived += n;
  if (!x->sink->OnBody(std::string_view(data, n))) {
    x->sinkAborted = true;
    return 0;
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* x = static_cast<Exchange*>(user);
  const auto now = std::chrono::steady_clock::now();
  if (dlnow != x->lastDown || ulnow != x->lastUp) {
    x->lastDown = dlnow;
    x->lastUp = ulnow;
    x->lastMove = now;
    return 0;
  }
  if (now - x->lastMove < x->idle) return 0;
  x->idleExpired = true;
  return 1;  // CURLE_ABORTED_BY_CALLBACK
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
  auto* x = static_cast<Exchange*>(user);
  auto read = x->body->Read(buffer, size * count);
  if (!read) {
    x->bodyError = read.GetError();
    return CURL_READFUNC_ABORT;
  }
  return read.Value();
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* x = static_cast<Exchange*>(user);
  if (offset == 0 && origin == SEEK_SET && x->body->Rewind()) return CURL_SEEKFUNC_OK;
  return CURL_SEEKFUNC_CANTSEEK;
}

void EraseAll(std::string& text, const std::string& needle) {
  if (needle.empty()) return;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos)) {
    text.replace(pos, needle.size(), "<url>");
    pos += 5;
  }
}


}  // namespace

UpstreamClient::UpstreamClient(UpstreamClientOptions options)
    : options_(std::move(options)), pool_(options_.maxIdleHandles) {}

UpstreamClient::~UpstreamClient() = default;

Result<long> UpstreamClient::Perform(const UpstreamRequest& request, IRequestBody* body, IResponseSink& sink) {
  const std::string where = HostPortOf(request.url);
  const bool https = request.url.size() >= 8 && strncasecmp(request.url.c_str(), "https://", 8) == 0;
  const bool http = request.url.size() >= 7 && strncasecmp(request.url.c_str(), "http://", 7) == 0;
  if (!https && !http) {
    return UpstreamUnreachable(CatalogError(codes::kNetInvalidRequest, "only http and https URLs are allowed"));
  }
  if (request.method.empty() ||
      !http::IsHttpToken(request.method)) {
    return UpstreamUnreachable(CatalogError(codes::kNetInvalidRequest, "invalid HTTP method"));
  }

  http::CurlHeaderList headerList;
  for (const auto& [name, value] : request.headers) {
    if (!http::IsHttpToken(name)) {
      return UpstreamUnreachable(CatalogError(codes::kNetInvalidRequest, "invalid request header name"));
    }
    if (http::HasLineBreakOrNul(value)) {
      return UpstreamUnreachable(
          CatalogError(codes::kNetInvalidRequest, "request header '" + name + "' contains CR, LF or NUL"));
    }
    if (!headerList.Append(value.empty() ? name + ";" : name + ": " + value)) {
      return UpstreamUnreachable(CatalogError(codes::kNetOther, "out of memory"));
    }
  }
  std::optional<uint64_t> bodySize = body != nullptr ? body->Size() : std::optional<uint64_t>(0);
  // Never "Expect: 100-continue" (an empty Expect: turns libcurl's default off): Orthanc never
  // answers it, so every streamed request would wait for the interim answer (see the header).
  if (!headerList.Append("Expect:")) {
    return UpstreamUnreachable(CatalogError(codes::kNetOther, "out of memory"));
  }
  if (body != nullptr && !bodySize && !headerList.Append("Transfer-Encoding: chunked")) {
    return UpstreamUnreachable(CatalogError(codes::kNetOther, "out of memory"));
  }

  http::CurlHandlePool::Lease lease(pool_);
  CURL* h = static_cast<CURL*>(lease.Get());
  if (h == nullptr) {
    return UpstreamUnreachable(CatalogError(codes::kNetOther, "could not create a libcurl handle"));
  }

  Exchange x;
  x.body = body;
  x.sink = &sink;
  x.maxHeaderBytes = options_.maxHeaderBytes;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, options_.maxCachedConnections);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, request.connectTimeout.count())));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(0, request.totalTimeout.count())));
  const long idleSeconds = static_cast<long>(std::max<int64_t>(1, request.idleTimeout.count() / 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, idleSeconds);  // backstop; the progress callback is exact
  x.idle = std::chrono::milliseconds(std::max<int64_t>(1, request.idleTimeout.count()));
  x.lastMove = std::chrono::steady_clock::now();
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.userAgent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headerList.Get());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, options_.receiveBufferBytes);
  curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, options_.uploadBufferBytes);
  // No content coding is requested: the answer is forwarded byte for byte (see HeaderPolicy.h).
  curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(h, CURLOPT_HTTP_TRANSFER_DECODING, 1L);

  http::ApplyTls(h, request.tls);

  if (body == nullptr) {
    if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (request.method == "POST" || request.method == "PUT") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
      }
    }
  } else {
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
    if (request.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       bodySize ? static_cast<curl_off_t>(*bodySize) : static_cast<curl_off_t>(-1));
    } else {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                       bodySize ? static_cast<curl_off_t>(*bodySize) : static_cast<curl_off_t>(-1));
      if (request.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }

  const CURLcode rc = curl_easy_perform(h);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  if (rc == CURLE_OK) {
    if (!x.headDone) {
      if (x.status < 200) return UpstreamMalformed("no final status from " + where);
      if (!x.DeliverHead()) return UpstreamMalformed("the answer could not be delivered");
    }
    return x.status;
  }
  if (x.bodyError) return *x.bodyError;
  if (x.idleExpired) {
    return UpstreamTimedOut(where + ": no data moved for " +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(x.idle).count()) +
                            " ms");
  }
  if (x.malformed) return UpstreamMalformed(*x.malformed + " (" + where + ")");
  if (x.sinkAborted) return UpstreamMalformed("the answer could not be delivered");
  std::string reason = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  EraseAll(reason, request.url);
  reason = SecretRegistry::Redact(reason);
  const Error net = CatalogError(http::NetErrorCode(rc), where + ": " + reason);
  if (IsTimeout(net)) return UpstreamTimedOut(net.message);
  return UpstreamUnreachable(net);
}

}  // namespace gw::proxy
