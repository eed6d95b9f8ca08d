#pragma once
// The audit file format: one JSON object per line ("JSON lines"), each line chained to the one
// before it, so that `dicomweb-oauth audit verify` detects an edited, inserted, deleted or
// reordered line and a truncated last line.
//
// A record is canonical JSON (compact, object members sorted by name at every level, RapidJSON
// number and string formatting), with these members:
//   seq       1 for the first line of a file, +1 per line, continuing across restarts
//   time      ISO 8601 UTC with milliseconds (the event's time)
//   event     the event type ("proxy.request", ...)
//   server    the server concerned ("" when none)
//   snapshot  the version of the Lua script snapshot serving when the event was recorded
//   fields    the object returned by the audit rules
//   ruleError {rule, code} only when a rule failed (fields is then {})
//   prev      the `hash` of the previous line (kGenesisHash for seq 1)
//   hash      lower-case hex SHA-256 of this line's canonical JSON without the `hash` member
// Since `hash` covers every other byte of its line, and the next line's `prev` repeats it, a
// change anywhere breaks the chain at that line or the next one.
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "gw/common/Error.h"

namespace gw::audit {

// `prev` of the first record of a file: 64 zeros.
extern const char* const kGenesisHash;

// Where a chain stands: the last record's seq and hash (seq 0 and kGenesisHash for an empty file).
struct ChainPosition {
  uint64_t seq = 0;
  std::string hash = kGenesisHash;
};

// Compact JSON with members sorted by name (byte order) at every level.
std::string CanonicalJson(const rapidjson::Value& value);

// Sets seq = position.seq + 1, prev = position.hash and hash on `record` (an object without
// those members), returns its line (without the newline) and advances `position`.
std::string SealRecord(rapidjson::Document& record, ChainPosition& position);

// What CheckLine() found in a good line.
struct CheckedLine {
  ChainPosition position;  // its seq and hash
  std::string prev;
  std::string time;
};

// Checks one line on its own: canonical JSON object, seq a positive integer, prev and hash
// 64 hex digits, hash correct. Returns what the chain needs, or an error naming the problem
// (code AUD-008).
Result<CheckedLine> CheckLine(std::string_view line);

}  // namespace gw::audit
