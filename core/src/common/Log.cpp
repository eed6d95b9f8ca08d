#include "gw/common/Log.h"

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include "gw/common/SecretRegistry.h"

namespace gw {
namespace {
std::mutex g_sinkMutex;
std::shared_ptr<ILogSink> g_sink;  // guarded by g_sinkMutex; copied out before use
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::atomic<int> g_format{static_cast<int>(LogFormat::Text)};

std::string Lower(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return lower;
}

// Length of the valid UTF-8 sequence at s[i], 0 if invalid (overlongs, surrogates and code points
// above U+10FFFF are invalid): a JSON log line must stay valid UTF-8 whatever a message holds.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\\ufffd";  // invalid byte: replaced, never passed on
        ++i;
        continue;
      }
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  out += '"';
}

// A text-format value: kept on one line (a CR/LF in a field could forge a log line).
void AppendTextValue(std::string& out, std::string_view s) {
  for (char c : s) out += (c == '\r' || c == '\n') ? ' ' : c;
}

std::string Rfc3339(int64_t unixMillis) {
  const std::time_t seconds = static_cast<std::time_t>(unixMillis / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unixMillis % 1000));
  return out + ms;
}

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
  const std::string lower = Lower(text);
  if (lower == "error") out = LogLevel::Error;
  else if (lower == "warning" || lower == "warn") out = LogLevel::Warning;
  else if (lower == "info") out = LogLevel::Info;
  else if (lower == "debug" || lower == "trace") out = LogLevel::Debug;
  else return false;
  return true;
}

const char* ToString(LogFormat format) { return format == LogFormat::Json ? "json" : "text"; }

bool ParseLogFormat(std::string_view text, LogFormat& out) {
  const std::string lower = Lower(text);
  if (lower == "text") out = LogFormat::Text;
  else if (lower == "json") out = LogFormat::Json;
  else return false;
  return true;
}

void SetLogSink(std::shared_ptr<ILogSink> sink) {
  std::lock_guard<std::mutex> lock(g_sinkMutex);
  g_sink = std::move(sink);
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }
LogFormat GetLogFormat() { return static_cast<LogFormat>(g_format.load()); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

std::string FormatLogEvent(const LogEvent& e, LogFormat format, int64_t unixMillis) {
  std::string out;
  if (format == LogFormat::Text) {
    out = e.message;  // as the text format always showed it
    const auto field = [&](const char* key, std::string_view value) {
      if (value.empty()) return;
      out += ' ';
      out += key;
      out += '=';
      AppendTextValue(out, value);
    };
    // The message already names what the text format always showed (code, server, outcome):
    // only the correlation fields are appended.
    field("request", e.requestId);
    field("job", e.jobId);
    field("trace", e.traceId);
    return out;
  }
  out.reserve(160 + e.message.size());
  out += "{\"time\":";
  AppendJsonString(out, Rfc3339(unixMillis));
  out += ",\"level\":";
  AppendJsonString(out, ToString(e.level));
  out += ",\"event\":";
  AppendJsonString(out, e.event.empty() ? "log" : e.event);
  const auto field = [&](const char* key, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += key;
    out += "\":";
    AppendJsonString(out, value);
  };
  field("code", e.code);
  field("server", e.server);
  field("requestId", e.requestId);
  field("jobId", e.jobId);
  field("traceId", e.traceId);
  if (e.durationMs) out += ",\"durationMs\":" + std::to_string(*e.durationMs);
  field("outcome", e.outcome);
  if (e.status) out += ",\"status\":" + std::to_string(*e.status);
  field("message", e.message);
  out += '}';
  return out;
}

void Log(const LogEvent& event) {
  if (!LogEnabled(event.level)) return;
  std::shared_ptr<ILogSink> sink;
  {
    std::lock_guard<std::mutex> lock(g_sinkMutex);
    sink = g_sink;
  }
  if (!sink) return;
  // Every field is masked, not only the message: a server name or a code could be anything.
  LogEvent masked = event;
  for (std::string* f : {&masked.event, &masked.message, &masked.code, &masked.server, &masked.requestId,
                         &masked.jobId, &masked.traceId, &masked.outcome}) {
    if (!f->empty()) *f = SecretRegistry::Redact(*f);
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  sink->Write(event.level, FormatLogEvent(masked, GetLogFormat(), now));
}

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  LogEvent event;
  event.level = level;
  event.message = std::string(message);
  Log(event);
}

}  // namespace gw
