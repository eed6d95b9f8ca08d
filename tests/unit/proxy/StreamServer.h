#pragma once
// A small real HTTP/1.1 server for the proxy's unit tests, on 127.0.0.1 and an ephemeral port.
// Unlike tests/unit/http/TestServer.h it reads chunked request bodies, answers Expect:
// 100-continue unless told to behave like Orthanc (which never does), can refuse a request right
// after its headers (as an auth front does), records how long a body took to start after its
// headers, and writes answers in steps: with delays, or cut off midway.
// One thread per connection, keep-alive. Test code only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
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

struct StreamRequest {
  std::string method;
  std::string target;
  gw::http::Headers headers;  // names lower-cased
  std::string body;           // whole body (tests keep bodies small enough)
  bool chunked = false;       // arrived with Transfer-Encoding: chunked
  bool expectContinue = false;
  // From the end of the headers to the first body byte (zero without a body): a client waiting
  // for a 100 Continue that never comes shows its whole timeout here.
  std::chrono::milliseconds bodyWait{0};

  std::string Header(const std::string& lowerName) const {
    for (const auto& [k, v] : headers) {
      if (k == lowerName) return v;
    }
    return {};
  }
  bool Has(const std::string& lowerName) const {
    for (const auto& [k, v] : headers) {
      if (k == lowerName) return true;
    }
    return false;
  }
};

struct StreamReply {
  int status = 200;
  gw::http::Headers headers;
  std::string body;
  bool chunked = false;                      // Transfer-Encoding: chunked instead of Content-Length
  size_t step = 65536;                       // body written in pieces of this size
  std::chrono::milliseconds stepDelay{0};    // pause between pieces
  std::chrono::milliseconds headDelay{0};    // pause before the status line
  std::optional<size_t> cutAfter;            // close the connection after this many body bytes
};

class StreamServer {
 public:
  using Handler = std::function<StreamReply(const StreamRequest&)>;
  // Called after the headers of every request, before its body is read: a reply refuses the
  // request at once, as nginx's auth_request does (what body arrives meanwhile is read and
  // discarded, then the connection is closed); nullopt lets it in.
  using EarlyHandler = std::function<std::optional<StreamReply>(const StreamRequest&)>;

  // answerContinue false: Expect: 100-continue is ignored, as Orthanc does.
  explicit StreamServer(Handler handler, EarlyHandler early = nullptr, bool answerContinue = true)
      : handler_(std::move(handler)), early_(std::move(early)), answerContinue_(answerContinue) {
    signal(SIGPIPE, SIG_IGN);
    listenFd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (listenFd_ < 0) throw std::runtime_error("socket() failed");
    int one = 1;
    setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listenFd_, 64) != 0) {
      close(listenFd_);
      throw std::runtime_error("bind/listen on 127.0.0.1 failed");
    }
    socklen_t len = sizeof(addr);
    getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptThread_ = std::thread([this] { AcceptLoop(); });
  }

  ~StreamServer() {
    stop_ = true;
    acceptThread_.join();
    close(listenFd_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : openFds_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  std::string Url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int Requests() const { return requests_.load(); }
  int Connections() const { return connections_.load(); }

  // Every request fully received, oldest first.
  std::vector<StreamRequest> Received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

  // Requests the early handler refused (headers only), oldest first.
  std::vector<StreamRequest> Refused() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return refused_;
  }

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
  struct Conn {
    int fd;
    std::string buffer;
    bool Fill() {
      char chunk[65536];
      const ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
      if (r <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(r));
      return true;
    }
    bool Write(const char* data, size_t size) {
      size_t off = 0;
      while (off < size) {
        const ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += static_cast<size_t>(w);
      }
      return true;
    }
    bool Write(const std::string& s) { return Write(s.data(), s.size()); }
    // Reads up to and including the next CRLF; false on EOF.
    bool Line(std::string& out) {
      size_t e;
      while ((e = buffer.find("\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      out = buffer.substr(0, e);
      buffer.erase(0, e + 2);
      return true;
    }
    bool Exactly(size_t n, std::string& out) {
      while (buffer.size() < n) {
        if (!Fill()) return false;
      }
      out.append(buffer, 0, n);
      buffer.erase(0, n);
      return true;
    }
  };

  static std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
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
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  bool SendReply(Conn& c, const StreamReply& r) {
    const auto pause = [&](std::chrono::milliseconds d) {
      const auto until = std::chrono::steady_clock::now() + d;
      while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    };
    pause(r.headDelay);
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " Status\r\n";
    for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
    if (r.chunked) {
      head += "Transfer-Encoding: chunked\r\n\r\n";
    } else {
      head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    }
    if (!c.Write(head)) return false;
    const size_t limit = r.cutAfter ? std::min(*r.cutAfter, r.body.size()) : r.body.size();
    for (size_t off = 0; off < limit; off += r.step) {
      const size_t n = std::min(r.step, limit - off);
      if (r.chunked) {
        char size[32];
        snprintf(size, sizeof(size), "%zx\r\n", n);
        if (!c.Write(size) || !c.Write(r.body.data() + off, n) || !c.Write("\r\n")) return false;
      } else if (!c.Write(r.body.data() + off, n)) {
        return false;
      }
      if (off + n < limit) pause(r.stepDelay);
    }
    if (r.cutAfter) return false;  // close mid-answer
    if (r.chunked && !c.Write("0\r\n\r\n")) return false;
    return true;
  }

  void Serve(int fd) {
    Conn c{fd, {}};
    while (!stop_) {
      StreamRequest req;
      std::string line;
      if (!c.Line(line)) break;
      const size_t sp1 = line.find(' ');
      const size_t sp2 = line.rfind(' ');
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t contentLength = 0;
      while (true) {
        if (!c.Line(line)) return Done(fd);
        if (line.empty()) break;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = Lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (name == "content-length") contentLength = std::stoul(value);
        if (name == "transfer-encoding" && Lower(value) == "chunked") req.chunked = true;
        if (name == "expect" && Lower(value) == "100-continue") req.expectContinue = true;
        req.headers.emplace_back(std::move(name), std::move(value));
      }
      if (early_) {
        if (auto refusal = early_(req)) {
          ++requests_;
          {
            std::lock_guard<std::mutex> lock(mutex_);
            refused_.push_back(req);
          }
          SendReply(c, *refusal);
          // Lingering close: discard what the client still sends (bounded), so it reads the
          // refusal instead of a reset; the body was never parsed, the connection is not reused.
          shutdown(fd, SHUT_WR);
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          while (!stop_ && std::chrono::steady_clock::now() < until) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            c.buffer.clear();
            if (!c.Fill()) break;
          }
          break;
        }
      }
      if (req.expectContinue && answerContinue_) {
        if (!c.Write("HTTP/1.1 100 Continue\r\n\r\n")) break;
      }
      if ((req.chunked || contentLength > 0) && c.buffer.empty()) {
        const auto headersAt = std::chrono::steady_clock::now();
        if (!c.Fill()) break;
        req.bodyWait = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - headersAt);
      }
      bool ok = true;
      if (req.chunked) {
        while (true) {
          if (!c.Line(line)) {
            ok = false;
            break;
          }
          const size_t n = std::stoul(line, nullptr, 16);
          if (n == 0) {
            ok = c.Line(line);  // the empty line after the last chunk (no trailers)
            break;
          }
          if (!c.Exactly(n, req.body) || !c.Line(line)) {
            ok = false;
            break;
          }
        }
      } else {
        ok = c.Exactly(contentLength, req.body);
      }
      if (!ok) break;
      ++requests_;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        received_.push_back(req);
      }
      if (!SendReply(c, handler_(req))) break;
    }
    Done(fd);
  }

  void Done(int fd) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      openFds_.erase(fd);
    }
    close(fd);
  }

  Handler handler_;
  EarlyHandler early_;
  bool answerContinue_ = true;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::thread acceptThread_;
  mutable std::mutex mutex_;
  std::set<int> openFds_;
  std::vector<std::thread> threads_;
  std::vector<StreamRequest> received_;
  std::vector<StreamRequest> refused_;
};

}  // namespace gw::test
