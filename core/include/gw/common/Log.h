#pragma once
// Logging for the core without any Orthanc type: the plugin installs a sink that forwards to
// Orthanc's log, the CLI one that writes to stderr, tests one that records lines.
// Every line passes through the SecretRegistry first, so a secret that slipped into a message is
// masked before it reaches any sink (defence in depth; code still must not log secrets).
//
// A line is a LogEvent: a human message plus the fields an operator searches and correlates by
// (event name, error code, server, request id, Orthanc job id, trace id, duration, outcome). The
// process-wide LogFormat decides how an event becomes the text handed to the sink:
//   Text (default): the message, then the set fields as ` key=value` (what the log always showed);
//   Json: one JSON object on one line (docs/operations.md, "Logs").
// Plain Log(level, message) calls are events without fields. Fields and message must never carry
// a secret or a patient identifier (paths, queries, bodies and header values stay out of logs).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gw {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3 };

const char* ToString(LogLevel level);
// Parses "error" | "warning" | "info" | "debug" (case-insensitive; "warn" accepted). False if unknown.
bool ParseLogLevel(std::string_view text, LogLevel& out);

enum class LogFormat { Text, Json };
const char* ToString(LogFormat format);  // "text" | "json"
// Parses "text" | "json" (case-insensitive). False if unknown.
bool ParseLogFormat(std::string_view text, LogFormat& out);

// One structured log line. Empty strings and an unset duration are left out of the line.
struct LogEvent {
  LogLevel level = LogLevel::Info;
  std::string event;      // dotted name ("proxy.request", "client.request", "job.failed"); "log" if empty
  std::string message;    // human text
  std::string code;       // error code (PXY-003, TOK-001, ...) when the event is a failure
  std::string server;     // DicomWebOAuth.Servers name
  std::string requestId;  // the gateway's id of one operation (the parent id it sends upstream)
  std::string jobId;      // Orthanc job id, when known
  std::string traceId;    // W3C trace id (TraceContext.h)
  std::optional<int64_t> durationMs;
  std::string outcome;    // forwarded, failed, denied, allowed, ...
  std::optional<int64_t> status;  // HTTP status answered, when there is one
};

class ILogSink {
 public:
  virtual ~ILogSink() = default;
  // Called from any thread; implementations must be thread safe. `message` is the formatted line.
  virtual void Write(LogLevel level, std::string_view message) = 0;
};

// Installs the process-wide sink (nullptr: discard). Thread safe.
void SetLogSink(std::shared_ptr<ILogSink> sink);
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
bool LogEnabled(LogLevel level);

// The line `event` becomes in `format` (secrets not yet masked: Log() masks every field).
// `unixMillis`: the event's wall-clock time, written as RFC 3339 UTC in JSON lines (the text
// format leaves the time to the sink: Orthanc stamps its own lines).
std::string FormatLogEvent(const LogEvent& event, LogFormat format, int64_t unixMillis);

// Masks registered secrets in every field, then writes to the sink if the level is enabled.
void Log(const LogEvent& event);
// An event without fields.
void Log(LogLevel level, std::string_view message);
inline void LogError(std::string_view m) { Log(LogLevel::Error, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::Warning, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::Info, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::Debug, m); }

}  // namespace gw
