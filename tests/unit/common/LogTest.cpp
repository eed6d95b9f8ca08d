#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"

using namespace gw;

namespace {

struct RecordingSink : ILogSink {
  std::mutex mutex;
  std::vector<std::string> lines;
  void Write(LogLevel, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mutex);
    lines.emplace_back(message);
  }
};

// Installs a recording sink and restores the defaults (text, info, no sink, no secrets) after.
struct Recording {
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
  Recording() {
    SetLogSink(sink);
    SetLogLevel(LogLevel::Debug);
  }
  ~Recording() {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::Info);
    SetLogFormat(LogFormat::Text);
    SecretRegistry::Clear();
  }
};

LogEvent ProxyFailure() {
  LogEvent e;
  e.level = LogLevel::Warning;
  e.event = "proxy.request";
  e.message = "proxy: POST server 'cloud' failed after 12 ms: PXY-003 upstream unreachable";
  e.code = "PXY-003";
  e.server = "cloud";
  e.requestId = "00f067aa0ba902b7";
  e.jobId = "f1d3-job";
  e.traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  e.durationMs = 12;
  e.outcome = "failed";
  e.status = 502;
  return e;
}

rapidjson::Document Parse(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str(), line.size());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  return d;
}

}  // namespace

TEST_CASE("Log/LogFormat parses text and json only", "[log]") {
  LogFormat f = LogFormat::Text;
  CHECK(ParseLogFormat("JSON", f));
  CHECK(f == LogFormat::Json);
  CHECK(ParseLogFormat("text", f));
  CHECK(f == LogFormat::Text);
  CHECK_FALSE(ParseLogFormat("logfmt", f));
  CHECK_FALSE(ParseLogFormat("", f));
}

TEST_CASE("Log/a JSON line is one object with every field of the event", "[log]") {
  const std::string line = FormatLogEvent(ProxyFailure(), LogFormat::Json, 1764975784123);
  CHECK(line.find('\n') == std::string::npos);
  const auto d = Parse(line);
  CHECK(std::string(d["time"].GetString()) == "2025-12-05T23:03:04.123Z");
  CHECK(std::string(d["level"].GetString()) == "warning");
  CHECK(std::string(d["event"].GetString()) == "proxy.request");
  CHECK(std::string(d["code"].GetString()) == "PXY-003");
  CHECK(std::string(d["server"].GetString()) == "cloud");
  CHECK(std::string(d["requestId"].GetString()) == "00f067aa0ba902b7");
  CHECK(std::string(d["jobId"].GetString()) == "f1d3-job");
  CHECK(std::string(d["traceId"].GetString()) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(d["durationMs"].GetInt64() == 12);
  CHECK(std::string(d["outcome"].GetString()) == "failed");
  CHECK(d["status"].GetInt64() == 502);
  CHECK(std::string(d["message"].GetString()).find("PXY-003 upstream unreachable") != std::string::npos);
}

TEST_CASE("Log/a plain message is an event without fields in both formats", "[log]") {
  LogEvent e;
  e.message = "started: 2 server(s)";
  CHECK(FormatLogEvent(e, LogFormat::Text, 0) == "started: 2 server(s)");
  const auto d = Parse(FormatLogEvent(e, LogFormat::Json, 0));
  CHECK(std::string(d["event"].GetString()) == "log");
  CHECK(std::string(d["time"].GetString()) == "1970-01-01T00:00:00.000Z");
  CHECK_FALSE(d.HasMember("code"));
  CHECK_FALSE(d.HasMember("traceId"));
  CHECK_FALSE(d.HasMember("durationMs"));
}

TEST_CASE("Log/the text format keeps the message and appends the correlation ids", "[log]") {
  const std::string line = FormatLogEvent(ProxyFailure(), LogFormat::Text, 0);
  CHECK(line.rfind(ProxyFailure().message, 0) == 0);
  CHECK(line.find(" request=00f067aa0ba902b7") != std::string::npos);
  CHECK(line.find(" job=f1d3-job") != std::string::npos);
  CHECK(line.find(" trace=4bf92f3577b34da6a3ce929d0e0e4736") != std::string::npos);
}

TEST_CASE("Hardening: a JSON log line stays one valid line whatever a message holds", "[log]") {
  LogEvent e;
  e.message = std::string("a\nforged {\"level\":\"error\"}\r\t\x01 \"q\" \\ bad:\xff\xc3(") + "\xc3\xa9";
  e.server = "x\ny";
  const std::string line = FormatLogEvent(e, LogFormat::Json, 0);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  const auto d = Parse(line);
  const std::string message = d["message"].GetString();
  CHECK(message.find("a\nforged {\"level\":\"error\"}") == 0);
  CHECK(message.find("\xef\xbf\xbd") != std::string::npos);  // invalid bytes became U+FFFD
  CHECK(message.find("\xc3\xa9") != std::string::npos);      // valid UTF-8 kept
  CHECK(std::string(d["server"].GetString()) == "x\ny");
}

TEST_CASE("Log/secrets are masked in every field before the sink, in both formats", "[log]") {
  Recording rec;
  SecretRegistry::Add("s3cr3t-client-secret-value");
  for (LogFormat format : {LogFormat::Text, LogFormat::Json}) {
    SetLogFormat(format);
    LogEvent e = ProxyFailure();
    e.message = "oops s3cr3t-client-secret-value";
    e.server = "s3cr3t-client-secret-value";
    e.jobId = "s3cr3t-client-secret-value";
    e.traceId = "s3cr3t-client-secret-value";
    Log(e);
  }
  REQUIRE(rec.sink->lines.size() == 2);
  for (const auto& line : rec.sink->lines) {
    INFO(line);
    CHECK(line.find("s3cr3t") == std::string::npos);
    CHECK(line.find("***") != std::string::npos);
  }
  CHECK(rec.sink->lines[1].front() == '{');
}

TEST_CASE("Log/the level filters events and plain messages alike", "[log]") {
  Recording rec;
  SetLogLevel(LogLevel::Warning);
  SetLogFormat(LogFormat::Json);
  LogEvent debug = ProxyFailure();
  debug.level = LogLevel::Debug;
  Log(debug);
  LogInfo("not shown");
  LogWarning("shown");
  REQUIRE(rec.sink->lines.size() == 1);
  const auto d = Parse(rec.sink->lines[0]);
  CHECK(std::string(d["message"].GetString()) == "shown");
  CHECK(std::string(d["level"].GetString()) == "warning");
  CHECK_FALSE(LogEnabled(LogLevel::Info));
}
