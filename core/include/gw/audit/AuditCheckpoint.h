#pragma once
// Checkpoints: where the audit chain stood at a moment, written somewhere else than the audit file
// (Orthanc's log, and optionally a checkpoint file on another disk), so that records erased from
// the END of the file (which leaves a shorter, valid chain) are detectable: `audit verify` with a
// checkpoint whose seq is beyond the file's last record reports the truncation.
//
// One checkpoint is canonical JSON:
//   {"chain":<link of seq 1>,"file":<audit file path>,"kid":<key id, keyed chains only>,
//    "mac"|"hash":<link of the last record>,"seq":<last seq>,"time":<ISO 8601 UTC ms>}
// `chain` identifies the chain (a file moved aside and replaced by a new one has another), so the
// checkpoints of several files in one log are told apart. In a keyed chain the link is a MAC that
// only the key holder can compute: a forged checkpoint cannot match a forged file.
// In Orthanc's log a checkpoint is the line's text after kCheckpointMarker; a checkpoint file holds
// one per line, with the same marker (so both read the same way).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gw/common/Error.h"

namespace gw::audit {

extern const char* const kCheckpointMarker;  // "audit checkpoint "

struct Checkpoint {
  std::string chain;  // "" when given as seq:link (matches any chain)
  std::string file;
  uint64_t seq = 0;
  std::string link;   // mac or hash of the record `seq`
  bool keyed = false;
  std::string kid;
  std::string time;
  std::string origin;  // where it was read (file:line, or "--checkpoint"); not serialised
};

// The JSON text (without the marker).
std::string FormatCheckpoint(const Checkpoint& checkpoint);

// Parses "SEQ:LINK" (LINK 64 hex digits). AUD-013 when malformed.
Result<Checkpoint> ParseCheckpointArgument(std::string_view text);

// Every checkpoint in a text (Orthanc log lines, a checkpoint file): lines holding the marker
// followed by a JSON object. Other lines are skipped; a line with the marker but no valid
// checkpoint after it is an error (AUD-013, naming the line). `origin` names the source in the
// checkpoints and errors.
Result<std::vector<Checkpoint>> ParseCheckpoints(std::string_view text, const std::string& origin);
// As ParseCheckpoints for a file (AUD-013 when it cannot be read).
Result<std::vector<Checkpoint>> ReadCheckpointFile(const std::string& path);

}  // namespace gw::audit
