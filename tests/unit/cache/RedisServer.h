#pragma once
// A real redis-server for the cache tests: started on a unix socket in a fresh temp dir (no TCP
// port, no persistence), stopped by PID. Stop() + Start() gives an empty server on the same socket.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gw/cache/RedisClient.h"

namespace gw::cache::testing {

class RedisServer {
 public:
  explicit RedisServer(std::string password = "") : password_(std::move(password)) {
    char pattern[] = "/tmp/gw-redis-test-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    Start();
  }
  ~RedisServer() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string Socket() const { return dir_ + "/redis.sock"; }
  std::string Url() const { return "unix://" + Socket(); }
  RedisEndpoint Endpoint() const {
    RedisEndpoint e;
    e.socketPath = Socket();
    e.password = password_;
    return e;
  }

  void Start() {
    std::vector<std::string> args = {"redis-server", "--port", "0", "--unixsocket", Socket(), "--unixsocketperm", "700",
                                     "--dir", dir_, "--save", "", "--appendonly", "no", "--logfile",
                                     dir_ + "/redis.log"};
    if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    // Ready when a PING answers (bounded: 10 s).
    RedisClientOptions o;
    o.minBackoff = std::chrono::milliseconds(1);
    o.maxBackoff = std::chrono::milliseconds(1);
    RedisClient probe(Endpoint(), o);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      auto r = probe.Command({"PING"}, std::chrono::milliseconds(500));
      if (r.Ok() && r.Value().IsStatus("PONG")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Stop();
    throw std::runtime_error("redis-server did not answer PING within 10 s (is redis-server installed?)");
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    std::error_code ec;
    std::filesystem::remove(Socket(), ec);
  }

  // A separate client for inspecting and tampering with what the code under test stored.
  RedisReply Run(const std::vector<std::string_view>& args) const {
    RedisClient c(Endpoint());
    auto r = c.Command(args, std::chrono::milliseconds(2000));
    if (!r.Ok()) throw std::runtime_error("test redis command failed: " + r.GetError().ToString());
    return r.Value();
  }

 private:
  std::string password_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace gw::cache::testing
