#pragma once
// One thing worth an audit record: what happened (type), when, for which server, and the facts
// about it as a JSON object. Built by the code where the event happens (plugin, Gateway, token
// engine), then handed to an IAuditSink. The facts may hold PHI (a QIDO query string names a
// patient): the audit rules decide what of it reaches the file.
//
// Event types (docs/audit.md lists their fields): config.loaded, script.published,
// script.refused, token.acquired, token.failed, proxy.request, client.request, job.resubmitted.
// Never put a token, a secret or a request body into `fields`.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace gw::audit {

struct AuditEvent {
  AuditEvent(std::string type, std::string server = {});
  AuditEvent(AuditEvent&&) = default;
  AuditEvent& operator=(AuditEvent&&) = default;

  std::string type;                              // e.g. "proxy.request"
  std::chrono::system_clock::time_point time;    // when it happened (set by the constructor)
  std::string server;                            // "" when the event concerns no server
  rapidjson::Document fields;                    // always an object
  // W3C trace id of the operation (TraceContext.h), "" when none: written by the gateway as the
  // record's `traceId` member, outside `fields`, so no rule can drop or alter it and the chain
  // seals it like every other member.
  std::string traceId;

  // Builders for `fields` (replace a member of the same name).
  AuditEvent& Set(std::string_view key, std::string_view value);
  AuditEvent& Set(std::string_view key, const char* value) { return Set(key, std::string_view(value)); }
  AuditEvent& Set(std::string_view key, int64_t value);
  AuditEvent& Set(std::string_view key, bool value);
  AuditEvent& Set(std::string_view key, const std::vector<std::string>& values);
  // Deep copy of any JSON value.
  AuditEvent& SetJson(std::string_view key, const rapidjson::Value& value);
  // A query string as an array of {"name": ..., "value": ...} objects, in request order.
  AuditEvent& SetQuery(std::string_view key, const std::vector<std::pair<std::string, std::string>>& query);
};

// "2026-11-22T17:03:04.123Z": UTC, millisecond precision, the format of every record's `time`.
std::string IsoTimeMs(std::chrono::system_clock::time_point t);

}  // namespace gw::audit
