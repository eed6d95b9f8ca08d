#pragma once
// The audit file format: one JSON object per line ("JSON lines"), each line chained to the one
// before it, so that `dicomweb-oauth audit verify` detects an edited, inserted, deleted or
// reordered line and a truncated last line. docs/audit.md ("The chain, exactly") is the
// specification an auditor re-implements; this header and AuditChain.cpp follow it.
//
// A record is canonical JSON (compact, object members sorted by name at every level, RapidJSON
// number and string formatting), with these members:
//   seq       1 for the first line of a file, +1 per line, continuing across restarts
//   time      ISO 8601 UTC with milliseconds (the event's time)
//   event     the event type ("proxy.request", ...; "audit.key" for the writer's key records)
//   server    the server concerned ("" when none)
//   snapshot  the version of the Lua script snapshot serving when the event was recorded
//   fields    the object returned by the audit rules
//   ruleError {rule, code} only when a rule failed (fields is then {})
//   prev      the link of the previous line (kGenesisHash for seq 1)
// and the line's own link, in one of two forms:
//   keyed     kid = the chain key's id, mac = hex HMAC-SHA256(key, prev || U) where U is the
//             line's canonical JSON without `mac` (prev is the 64 ASCII hex digits). A key
//             rotation record also has closingMac = hex HMAC-SHA256(old key, prev || U') where
//             U' is the canonical JSON without `mac` and `closingMac`.
//   unkeyed   hash = hex SHA-256 of the line's canonical JSON without `hash` (the format of
//             files written before chain keys existed, and of gateways without Audit.ChainKey):
//             anyone able to write the file can rewrite such a chain and reseal it.
// Since the link covers every other byte of its line, and the next line's `prev` repeats it, a
// change anywhere breaks the chain at that line or the next one; with a key, nobody without it
// can compute a valid link.
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "gw/common/Error.h"

namespace gw::audit {

// `prev` of the first record of a file: 64 zeros.
extern const char* const kGenesisHash;
// Event type of the records the writer itself adds when a key starts to seal the chain.
extern const char* const kKeyEvent;

// A chain key: the secret, its id (written in every record as `kid`) and its fingerprint
// (16 hex digits of HMAC-SHA256(secret, "dicomweb-oauth audit chain key fingerprint v1"), which
// identifies the key without revealing anything about it).
struct ChainKey {
  std::string id;
  std::string secret;
  std::string fingerprint;
};
// `id` empty: "fp-" + the fingerprint.
ChainKey MakeChainKey(std::string secret, std::string id = {});
std::string KeyFingerprint(std::string_view secret);

// Where a chain stands: the last record's seq and link (seq 0 and kGenesisHash for an empty file),
// and for a keyed record, its key id.
struct ChainPosition {
  ChainPosition() = default;
  ChainPosition(uint64_t s, std::string link) : seq(s), hash(std::move(link)) {}
  uint64_t seq = 0;
  std::string hash = kGenesisHash;  // the link: `mac` of a keyed line, `hash` of an unkeyed one
  bool keyed = false;
  std::string kid;
};

// Compact JSON with members sorted by name (byte order) at every level.
std::string CanonicalJson(const rapidjson::Value& value);

// Unkeyed: sets seq = position.seq + 1, prev = position.hash and hash on `record` (an object
// without those members), returns its line (without the newline) and advances `position`.
std::string SealRecord(rapidjson::Document& record, ChainPosition& position);

// Keyed: sets seq, prev, kid = key.id and mac. With `closing` (a rotation record), also
// closingMac under the old key. Returns the line and advances `position`.
std::string SealKeyedRecord(rapidjson::Document& record, ChainPosition& position, const ChainKey& key,
                            const ChainKey* closing = nullptr);

// What CheckLine() found in a well-formed line.
struct CheckedLine {
  ChainPosition position;  // its seq, link, keyed and kid
  std::string prev;
  std::string time;
  std::string event;
  // Keyed lines: what the MACs cover (canonical JSON without `mac`; and without `closingMac` too).
  std::string macInput;
  std::string closingMac;    // "" unless present
  std::string closingInput;  // set when closingMac is present
  rapidjson::Document doc;   // the parsed record
};

// Checks one line on its own: canonical JSON object, seq a positive integer, prev and the link
// 64 hex digits, and for an unkeyed line its hash. The MAC of a keyed line needs the key:
// MacMatches(). Errors name the problem (code AUD-008).
Result<CheckedLine> CheckLine(std::string_view line);

// HMAC-SHA256 of prev || input under `key`, hex.
std::string ChainMac(const ChainKey& key, std::string_view prev, std::string_view input);
// True when the keyed line's `mac` is right under `key` (constant-time comparison).
bool MacMatches(const CheckedLine& line, const ChainKey& key);
bool ClosingMacMatches(const CheckedLine& line, const ChainKey& key);

}  // namespace gw::audit
