#include "gw/common/Log.h"

#include <atomic>
#include <mutex>

#include "gw/common/SecretRegistry.h"

namespace gw {
namespace {
std::mutex g_sinkMutex;
std::shared_ptr<ILogSink> g_sink;  // guarded by g_sinkMutex; copied out before use
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
}  // namespace

const char* ToString(LogLevel level) {
  switch (level) {
    case LogLevel::Error: return "error";
    case LogLevel::Warning: return "warning";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
  }
  return "?";
}

bool ParseLogLevel(std::string_view text, LogLevel& out) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lower == "error") out = LogLevel::Error;
  else if (lower == "warning" || lower == "warn") out = LogLevel::Warning;
  else if (lower == "info") out = LogLevel::Info;
  else if (lower == "debug" || lower == "trace") out = LogLevel::Debug;
  else return false;
  return true;
}

void SetLogSink(std::shared_ptr<ILogSink> sink) {
  std::lock_guard<std::mutex> lock(g_sinkMutex);
  g_sink = std::move(sink);
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void Log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
  std::shared_ptr<ILogSink> sink;
  {
    std::lock_guard<std::mutex> lock(g_sinkMutex);
    sink = g_sink;
  }
  if (sink) sink->Write(level, SecretRegistry::Redact(message));
}

}  // namespace gw
