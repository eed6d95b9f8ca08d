#pragma once
// Logging for the core without any Orthanc type: the plugin installs a sink that forwards to
// Orthanc's log, the CLI one that writes to stderr, tests one that records lines.
// Every line passes through the SecretRegistry first, so a secret that slipped into a message is
// masked before it reaches any sink (defence in depth; code still must not log secrets).
#include <memory>
#include <string>
#include <string_view>

namespace gw {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3 };

const char* ToString(LogLevel level);
// Parses "error" | "warning" | "info" | "debug" (case-insensitive; "warn" accepted). False if unknown.
bool ParseLogLevel(std::string_view text, LogLevel& out);

class ILogSink {
 public:
  virtual ~ILogSink() = default;
  // Called from any thread; implementations must be thread safe.
  virtual void Write(LogLevel level, std::string_view message) = 0;
};

// Installs the process-wide sink (nullptr: discard). Thread safe.
void SetLogSink(std::shared_ptr<ILogSink> sink);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

// Masks registered secrets, then writes to the sink if `level` is enabled.
void Log(LogLevel level, std::string_view message);
inline void LogError(std::string_view m) { Log(LogLevel::Error, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::Warning, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::Info, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::Debug, m); }

}  // namespace gw
