#pragma once
// Helpers shared by the Lua runtime tests: temporary script folders, JSON shortcuts, a recording
// log sink and a scripted fake IHttpClient.
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Log.h"
#include "gw/http/IHttpClient.h"
#include "gw/lua/ScriptEngine.h"

namespace gw::lua::test {

// A folder under the system temp directory, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gw-lua-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& Path() const { return path_; }
  std::string operator/(const std::string& relative) const { return path_ + "/" + relative; }

  // Writes `text` to `relative` (folders created), atomically (write + rename) so a watcher or a
  // concurrent reload never sees half a file.
  std::string Write(const std::string& relative, const std::string& text) const {
    const std::filesystem::path target = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(target.parent_path());
    const std::filesystem::path temporary = target.parent_path() / (".tmp-" + target.filename().string());
    {
      std::ofstream out(temporary, std::ios::binary);
      out << text;
    }
    std::filesystem::rename(temporary, target);
    return target.string();
  }

  void Remove(const std::string& relative) const { std::filesystem::remove(std::filesystem::path(path_) / relative); }

 private:
  std::string path_;
};

// A policy script whose decide(arg) runs `body` (Lua statements).
inline std::string Policy(const std::string& name, const std::string& body) {
  return "local M = { name = \"" + name + "\", version = \"1.0\", kind = \"policy\" }\n"
         "function M.decide(arg)\n" + body + "\nend\nreturn M\n";
}

inline rapidjson::Document Json(const char* text) {
  rapidjson::Document d;
  d.Parse(text);
  if (d.HasParseError()) throw std::runtime_error(std::string("bad test JSON: ") + text);
  return d;
}

inline std::string ToText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

inline EngineOptions OptionsFor(const TempDir& dir) {
  EngineOptions options;
  options.scriptDirs = {dir.Path()};
  options.defaultBudget = std::chrono::milliseconds(2000);
  options.maxStatesPerSnapshot = 4;
  return options;
}

// Calls script.fn with `arg` (JSON text); returns the result as JSON text or "ERR <code>".
inline std::string CallText(ScriptEngine& engine, std::string_view script, std::string_view fn, const char* arg = "{}",
                            std::chrono::milliseconds budget = std::chrono::milliseconds{0}) {
  const rapidjson::Document a = Json(arg);
  Result<rapidjson::Document> r = engine.Call(script, fn, a, budget);
  if (!r) return "ERR " + r.GetError().code;
  return ToText(r.Value());
}

// JSON equality regardless of object member order (Lua tables have no order).
inline bool JsonEq(const std::string& actual, const std::string& expected) {
  rapidjson::Document a;
  rapidjson::Document e;
  a.Parse(actual.c_str());
  e.Parse(expected.c_str());
  if (e.HasParseError()) throw std::runtime_error("bad expected JSON: " + expected);
  return !a.HasParseError() && a == e;
}

#define CHECK_JSON(actual, expected)          \
  do {                                        \
    const std::string gwActual = (actual);    \
    INFO("actual: " << gwActual);             \
    CHECK(::gw::lua::test::JsonEq(gwActual, expected)); \
  } while (false)

// Every idle state of the serving snapshot has an empty Lua stack.
inline void RequireBalanced(const ScriptEngine& engine) {
  const auto info = engine.DebugPoolInfo();
  for (int top : info.idleStackTops) REQUIRE(top == 0);
}

// Records log lines while installed; restores "no sink" afterwards.
class RecordingSink : public ILogSink {
 public:
  void Write(LogLevel level, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.emplace_back(std::string(ToString(level)) + " " + std::string(message));
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  size_t Count(const std::string& needle) {
    size_t n = 0;
    for (const auto& line : Lines()) n += line.find(needle) != std::string::npos;
    return n;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

class ScopedSink {
 public:
  ScopedSink() : sink_(std::make_shared<RecordingSink>()) {
    previous_ = GetLogLevel();
    SetLogLevel(LogLevel::Debug);
    SetLogSink(sink_);
  }
  ~ScopedSink() {
    SetLogSink(nullptr);
    SetLogLevel(previous_);
  }
  RecordingSink& operator*() { return *sink_; }
  RecordingSink* operator->() { return sink_.get(); }

 private:
  std::shared_ptr<RecordingSink> sink_;
  LogLevel previous_;
};

// IHttpClient double: records every request and answers with `respond` (default: 200 "ok").
class FakeHttpClient : public http::IHttpClient {
 public:
  std::function<Result<http::HttpResponse>(const http::HttpRequest&)> respond;

  Result<http::HttpResponse> Perform(const http::HttpRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
    }
    if (respond) return respond(request);
    http::HttpResponse response;
    response.status = 200;
    response.body = "ok";
    return response;
  }
  std::vector<http::HttpRequest> Requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  std::mutex mutex_;
  std::vector<http::HttpRequest> requests_;
};

// Runs `work` on a thread whose whole stack is exactly `bytes` (Debian's Orthanc serves HTTP on
// threads of 100 KiB) and joins it. The stack is mapped here, with a guard page below it: glibc
// would hand a thread asking for a small stack a cached larger one. Catch2 assertions are not
// thread safe: `work` records, the caller checks. Returns false if the thread could not be started.
inline bool RunOnSmallStack(size_t bytes, std::function<void()> work) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* mapping = ::mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mapping == MAP_FAILED) return false;
  ::mprotect(mapping, page, PROT_NONE);  // an overflow faults here instead of corrupting memory
  pthread_attr_t attr;
  bool ok = pthread_attr_init(&attr) == 0;
  ok = ok && pthread_attr_setstack(&attr, static_cast<char*>(mapping) + page, bytes) == 0;
  pthread_t thread;
  auto trampoline = [](void* argument) -> void* {
    (*static_cast<std::function<void()>*>(argument))();
    return nullptr;
  };
  ok = ok && pthread_create(&thread, &attr, trampoline, &work) == 0;
  pthread_attr_destroy(&attr);
  if (ok) pthread_join(thread, nullptr);
  ::munmap(mapping, bytes + page);
  return ok;
}

inline double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// An IdP that hangs: every request blocks until the test opens the gate (real-time capped, so a
// broken engine fails the test instead of hanging it).
class HangingHttp : public gw::http::IHttpClient {
 public:
  gw::Result<gw::http::HttpResponse> Perform(const gw::http::HttpRequest&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++inside_;
    changed_.notify_all();
    changed_.wait_for(lock, std::chrono::seconds(20), [&] { return open_; });
    --inside_;
    gw::http::HttpResponse response;
    response.status = 200;
    response.body = "late";
    return response;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Real-time bounded wait until `n` requests hang at once.
  bool WaitInside(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return inside_ >= n; });
  }
  int Inside() {
    std::lock_guard<std::mutex> lock(mutex_);
    return inside_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int inside_ = 0;
};

}  // namespace gw::lua::test
