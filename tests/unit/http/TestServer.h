#pragma once
// A small real HTTP/1.1 server for unit tests, listening on 127.0.0.1 on an ephemeral port, with
// optional TLS (OpenSSL server API) and optional client-certificate verification. One thread per
// connection, keep-alive, Content-Length request bodies, Content-Length or chunked responses.
// Header-only so that every unit test folder can use it (#include "http/TestServer.h").
// Test code only: no attempt at full HTTP compliance.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gw/http/HttpTypes.h"

namespace gw::test {

struct TestRequest {
  std::string method;
  std::string target;  // as sent: origin form "/p?q" or, through a proxy, absolute form "http://h/p?q"
  gw::http::Headers headers;  // names lower-cased
  std::string body;
  bool clientCertificate = false;   // TLS: the client presented a certificate that verified
  std::string clientSubjectCn;      // its subject CN

  std::string Header(const std::string& lowerName) const {
    for (const auto& [k, v] : headers) {
      if (k == lowerName) return v;
    }
    return {};
  }
};

struct TestResponse {
  int status = 200;
  gw::http::Headers headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait before answering (timeouts)
  bool chunked = false;                // Transfer-Encoding: chunked instead of Content-Length
  bool close = false;                  // close the connection after this response
};

using TestHandler = std::function<TestResponse(const TestRequest&)>;

struct TestTlsConfig {
  std::string certificateFile;
  std::string keyFile;
  std::string clientCaFile;        // non-empty: ask for a client certificate signed by this CA
  bool requireClientCertificate = false;
};

class TestServer {
 public:
  explicit TestServer(TestHandler handler, std::optional<TestTlsConfig> tls = std::nullopt)
      : handler_(std::move(handler)) {
    signal(SIGPIPE, SIG_IGN);  // a client that aborts must not kill the test process
    if (tls) SetUpTls(*tls);
    listenFd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (listenFd_ < 0) throw std::runtime_error("socket() failed");
    int one = 1;
    setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listenFd_, 128) != 0) {
      close(listenFd_);
      throw std::runtime_error("bind/listen on 127.0.0.1 failed");
    }
    socklen_t len = sizeof(addr);
    getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptThread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    stop_ = true;
    acceptThread_.join();
    close(listenFd_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : openFds_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connectionThreads_) t.join();
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int Port() const { return port_; }
  std::string Url(const std::string& path = "/") const {
    return std::string(ctx_ != nullptr ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int Connections() const { return connections_.load(); }
  int Requests() const { return requests_.load(); }

  // A port on 127.0.0.1 where nothing listens (bound, then closed).
  static int UnusedPort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

 private:
  void SetUpTls(const TestTlsConfig& tls) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr || SSL_CTX_use_certificate_chain_file(ctx_, tls.certificateFile.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, tls.keyFile.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
      throw std::runtime_error("test TLS server: cannot load certificate/key");
    }
    if (!tls.clientCaFile.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, tls.clientCaFile.c_str(), nullptr) != 1) {
        throw std::runtime_error("test TLS server: cannot load client CA");
      }
      SSL_CTX_set_client_CA_list(ctx_, SSL_load_client_CA_file(tls.clientCaFile.c_str()));
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | (tls.requireClientCertificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                         nullptr);
    }
  }

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listenFd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int fd = accept(listenFd_, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ++connections_;
      std::lock_guard<std::mutex> lock(mutex_);
      openFds_.insert(fd);
      connectionThreads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  struct Conn {
    int fd;
    SSL* ssl;
    std::string buffer;

    long Read(char* out, size_t n) {
      if (ssl != nullptr) {
        const int r = SSL_read(ssl, out, static_cast<int>(n));
        return r > 0 ? r : -1;
      }
      const ssize_t r = recv(fd, out, n, 0);
      return r > 0 ? r : -1;
    }
    bool Write(const std::string& data) {
      size_t off = 0;
      while (off < data.size()) {
        long w = ssl != nullptr ? SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off))
                                : send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += static_cast<size_t>(w);
      }
      return true;
    }
    bool Fill() {
      char chunk[16384];
      const long r = Read(chunk, sizeof(chunk));
      if (r <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(r));
      return true;
    }
  };

  static std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }

  static const char* Reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 201: return "Created";
      case 204: return "No Content";
      case 302: return "Found";
      case 400: return "Bad Request";
      case 401: return "Unauthorized";
      case 404: return "Not Found";
      case 500: return "Internal Server Error";
      case 503: return "Service Unavailable";
      default: return "Status";
    }
  }

  void Serve(int fd) {
    Conn c{fd, nullptr, {}};
    bool ok = true;
    if (ctx_ != nullptr) {
      c.ssl = SSL_new(ctx_);
      SSL_set_fd(c.ssl, fd);
      ok = SSL_accept(c.ssl) == 1;
    }
    while (ok && !stop_) {
      size_t end;
      while ((end = c.buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!c.Fill()) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      TestRequest req;
      const std::string head = c.buffer.substr(0, end);
      c.buffer.erase(0, end + 4);
      size_t lineEnd = head.find("\r\n");
      const std::string requestLine = head.substr(0, lineEnd);
      const size_t sp1 = requestLine.find(' ');
      const size_t sp2 = requestLine.rfind(' ');
      req.method = requestLine.substr(0, sp1);
      req.target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
      size_t contentLength = 0;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        const std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = Lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (name == "content-length") contentLength = std::stoul(value);
        req.headers.emplace_back(std::move(name), std::move(value));
      }
      while (c.buffer.size() < contentLength) {
        if (!c.Fill()) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      req.body = c.buffer.substr(0, contentLength);
      c.buffer.erase(0, contentLength);
      if (c.ssl != nullptr) {
        if (X509* peer = SSL_get1_peer_certificate(c.ssl)) {
          req.clientCertificate = SSL_get_verify_result(c.ssl) == X509_V_OK;
          char cn[256] = {0};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
          req.clientSubjectCn = cn;
          X509_free(peer);
        }
      }
      ++requests_;
      TestResponse res = handler_(req);
      const auto until = std::chrono::steady_clock::now() + res.delay;
      while (!stop_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + Reason(res.status) + "\r\n";
      for (const auto& [k, v] : res.headers) out += k + ": " + v + "\r\n";
      if (res.close) out += "Connection: close\r\n";
      if (res.chunked) {
        out += "Transfer-Encoding: chunked\r\n\r\n";
        for (size_t off = 0; off < res.body.size(); off += 8192) {
          const std::string piece = res.body.substr(off, 8192);
          char size[32];
          snprintf(size, sizeof(size), "%zx\r\n", piece.size());
          out += size + piece + "\r\n";
        }
        out += "0\r\n\r\n";
      } else {
        out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n\r\n";
        if (req.method != "HEAD") out += res.body;
      }
      if (!c.Write(out) || res.close) break;
    }
    if (c.ssl != nullptr) {
      SSL_shutdown(c.ssl);
      SSL_free(c.ssl);
    }
    ERR_clear_error();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      openFds_.erase(fd);
    }
    close(fd);
  }

  TestHandler handler_;
  SSL_CTX* ctx_ = nullptr;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::thread acceptThread_;
  std::mutex mutex_;
  std::set<int> openFds_;
  std::vector<std::thread> connectionThreads_;
};

}  // namespace gw::test
